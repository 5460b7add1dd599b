// SPDX-License-Identifier: GPL-2.0-only
/*
 * Model of character devices and open files (fs/char_dev.c, struct file):
 * enough for a driver to register /dev nodes with file_operations and for a
 * task to open, ioctl and close them.
 */
import { BUG_ON } from './bug.js';
import type { Task } from './task.js';
import type { VmAreaStruct } from './mm.js';
import type { AddressSpace } from './filemap.js';

/** struct file_operations, the members test_hmm uses. `current` is the calling task. */
export interface FileOperations {
  open(cdev: CharDev, filp: File, current: Task): number;
  release(cdev: CharDev, filp: File, current: Task | null): number;
  /** The ioctl argument is the command structure itself (the model does not copy it through user memory). */
  unlockedIoctl(filp: File, cmd: number, arg: object, current: Task): number;
  /** ->mmap(): fill a new VMA of this file (call_mmap()); 0 or -errno. Without it, mmap() of the file is -ENODEV. */
  mmap?(filp: File, vma: VmAreaStruct): number;
}

/** struct cdev plus its /dev node. */
export interface CharDev {
  path: string;
  major: number;
  minor: number;
  fops: FileOperations;
  /** The driver's per-device data (container_of(cdev, ...) in C). */
  owner: object;
}

/** struct file. */
export class File {
  /** f_count: dup()/fork() share the file; release runs when it drops to 0. */
  count = 1;
  privateData: object | null = null;
  constructor(readonly cdev: CharDev) {}
  /** f_mapping: the page cache a mapping of the file reaches (none for a character device; tmpfs files have one). */
  get fMapping(): AddressSpace | null { return null; }
}

/** Model of get_file(): one more reference (dup(), fork()'s dup_fd(), a VMA's vm_file). */
export function getFile(filp: File): File {
  BUG_ON(filp.count <= 0, 'get_file', () => `f_count ${filp.count}: the file is already released`);
  filp.count++;
  return filp;
}

/**
 * Model of fput(): drop a reference; the last one runs the driver's
 * release() (__fput()), with `current` the task that dropped it.
 */
export function fput(filp: File, current: Task | null): void {
  BUG_ON(filp.count <= 0, 'fput', () => `f_count underflow on ${filp.cdev.path}`);
  if (--filp.count === 0) filp.cdev.fops.release(filp.cdev, filp, current);
}
