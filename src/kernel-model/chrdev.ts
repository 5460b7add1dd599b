// SPDX-License-Identifier: GPL-2.0-only
/*
 * Model of character devices and open files (fs/char_dev.c, struct file):
 * enough for a driver to register /dev nodes with file_operations and for a
 * task to open, ioctl, lseek and close them; the VFS's side of opening and
 * seeking (fs/open.c do_dentry_open(), fs/read_write.c vfs_llseek(),
 * default_llseek()).
 */
import { BUG_ON } from './bug.js';
import { EINVAL, ENXIO, ESPIPE } from './errno.js';
import { FMODE_LSEEK, FMODE_PREAD, FMODE_PWRITE, SEEK_CUR, SEEK_DATA, SEEK_END, SEEK_HOLE, openFmode } from './fcntl.js';
import type { Task } from './task.js';
import type { MmStruct, VmAreaStruct } from './mm.js';
import type { AddressSpace } from './filemap.js';

/** struct file_operations, the members test_hmm uses. `current` is the calling task. */
export interface FileOperations {
  open(cdev: CharDev, filp: File, current: Task): number;
  release(cdev: CharDev, filp: File, current: Task | null): number;
  /** The ioctl argument is the command structure itself (the model does not copy it through user memory). */
  unlockedIoctl(filp: File, cmd: number, arg: object, current: Task): number;
  /** ->mmap(): fill a new VMA of this file (call_mmap()); 0 or -errno. Without it, mmap() of the file is -ENODEV. */
  mmap?(filp: File, vma: VmAreaStruct): number;
  /** ->llseek(): the new position or -errno. Without it the file cannot be seeked (-ESPIPE). */
  llseek?(filp: File, offset: number, whence: number): number;
  /** ->read(): bytes copied to user memory at buf from position pos, or -errno (a procfs file's; tmpfs reads through its read_iter). */
  read?(filp: File, mm: MmStruct, buf: number, count: number, pos: number): number;
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
  /** f_mode: FMODE_READ/FMODE_WRITE from the open flags; FMODE_LSEEK while vfs_llseek() may call ->llseek. */
  fMode = 0;
  /** f_pos: the file position read(), write() and lseek() use. */
  fPos = 0;
  constructor(readonly cdev: CharDev) {}
  /** f_mapping: the page cache a mapping of the file reaches (none for a character device; tmpfs files have one). */
  get fMapping(): AddressSpace | null { return null; }
  /** i_size_read(file_inode(file)): a device node's inode has size 0. */
  get iSize(): number { return 0; }
}

/**
 * Model of do_dentry_open() for a /dev node, whose ->open is chrdev_open():
 * f_mode gets the access mode and FMODE_LSEEK, chrdev_open() replaces
 * def_chr_fops by the driver's file_operations (replace_fops(); here the
 * File reads them from its cdev) and calls the driver's ->open(); after
 * it, FMODE_LSEEK is dropped when those file_operations have no ->llseek
 * (def_chr_fops' noop_llseek is gone by then). 0 or the driver's -errno.
 */
export function chrdevOpen(cdev: CharDev, filp: File, flags: number, current: Task): number {
  filp.fMode = openFmode(flags) | FMODE_LSEEK | FMODE_PREAD | FMODE_PWRITE;
  const ret = cdev.fops.open(cdev, filp, current);
  if (ret) return ret;
  if ((filp.fMode & FMODE_LSEEK) && cdev.fops.llseek === undefined) filp.fMode &= ~FMODE_LSEEK;
  return 0;
}

/** Model of nonseekable_open(), a driver's ->open() or part of it: the file cannot be seeked. */
export function nonseekableOpen(filp: File): number {
  filp.fMode &= ~(FMODE_LSEEK | FMODE_PREAD | FMODE_PWRITE);
  return 0;
}

/**
 * Model of default_llseek() (fs/read_write.c): SEEK_SET, SEEK_CUR and
 * SEEK_END (from i_size) move f_pos; SEEK_DATA finds data at any offset
 * below i_size and SEEK_HOLE the "hole" at i_size, -ENXIO from i_size on;
 * a negative result is -EINVAL and leaves f_pos alone (no
 * FMODE_UNSIGNED_OFFSET in the model). vfs_llseek() has checked whence.
 */
export function defaultLlseek(file: File, offset: number, whence: number): number {
  switch (whence) {
    case SEEK_END:
      offset += file.iSize;
      break;
    case SEEK_CUR:
      if (offset === 0) return file.fPos;
      offset += file.fPos;
      break;
    case SEEK_DATA:
      if (offset >= file.iSize) return -ENXIO;
      break;
    case SEEK_HOLE:
      if (offset >= file.iSize) return -ENXIO;
      offset = file.iSize;
      break;
  }
  if (offset < 0) return -EINVAL;
  file.fPos = offset;
  return offset;
}

/** Model of vfs_llseek(): -ESPIPE for a file without FMODE_LSEEK, else its ->llseek(). */
export function vfsLlseek(file: File, offset: number, whence: number): number {
  if (!(file.fMode & FMODE_LSEEK)) return -ESPIPE;
  return file.cdev.fops.llseek!(file, offset, whence);
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
