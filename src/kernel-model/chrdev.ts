// SPDX-License-Identifier: GPL-2.0-only
/*
 * Model of character devices and open files (fs/char_dev.c, struct file):
 * enough for a driver to register /dev nodes with file_operations and for a
 * task to open, ioctl and close them.
 */
import type { Task } from './task.js';

/** struct file_operations, the members test_hmm uses. `current` is the calling task. */
export interface FileOperations {
  open(cdev: CharDev, filp: File, current: Task): number;
  release(cdev: CharDev, filp: File, current: Task | null): number;
  /** The ioctl argument is the command structure itself (the model does not copy it through user memory). */
  unlockedIoctl(filp: File, cmd: number, arg: object, current: Task): number;
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
}
