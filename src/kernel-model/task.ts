// SPDX-License-Identifier: GPL-2.0-only
/*
 * A user process: its address space and its open files, and the system
 * calls the selftest makes. Syscalls return a value or a negative errno, as
 * the kernel entry points do (the selftest port's libc layer turns them into
 * -1 and errno). In Linux: struct task_struct, mm_struct, files_struct.
 */
import { EBADF, ENOENT } from './errno.js';
import type { Kernel } from './kernel.js';
import { File } from './chrdev.js';
import { MmStruct, doMmap, doMunmap, doMprotect } from './mm.js';
import { doMadvise } from './madvise.js';

let nextPid = 100;

export class Task {
  readonly pid = nextPid++;
  readonly mm: MmStruct;
  readonly files = new Map<number, File>();
  exited = false;

  constructor(readonly k: Kernel) {
    this.mm = new MmStruct(k);
  }

  /** open(2) of a /dev node. */
  open(path: string): number {
    const cdev = this.k.chrdevs.get(path);
    if (cdev === undefined) return -ENOENT;
    const filp = new File(cdev);
    const ret = cdev.fops.open(cdev, filp, this);
    if (ret) return ret;
    let fd = 3;
    while (this.files.has(fd)) fd++;
    this.files.set(fd, filp);
    return fd;
  }

  /** close(2): the driver's release() runs when the last reference goes (fput()). */
  close(fd: number): number {
    const filp = this.files.get(fd);
    if (filp === undefined) return -EBADF;
    this.files.delete(fd);
    if (--filp.count === 0) filp.cdev.fops.release(filp.cdev, filp, this);
    return 0;
  }

  /** ioctl(2). */
  ioctl(fd: number, cmd: number, arg: object): number {
    const filp = this.files.get(fd);
    if (filp === undefined) return -EBADF;
    return filp.cdev.fops.unlockedIoctl(filp, cmd, arg, this);
  }

  mmap(addr: number, len: number, prot: number, flags: number): number {
    return doMmap(this.mm, addr, len, prot, flags);
  }
  munmap(addr: number, len: number): number {
    return doMunmap(this.mm, addr, len);
  }
  mprotect(addr: number, len: number, prot: number): number {
    return doMprotect(this.mm, addr, len, prot);
  }
  /** madvise(2): MADV_HUGEPAGE/MADV_NOHUGEPAGE (madvise.ts). */
  madvise(addr: number, len: number, advice: number): number {
    return doMadvise(this.mm, addr, len, advice);
  }

  /**
   * do_exit(): the address space goes first (exit_mm(), the last mmput()
   * tears it down: mirrors see one MMU_NOTIFY_UNMAP), then the files
   * (exit_files()), as in kernel/exit.c.
   */
  exit(): void {
    if (this.exited) return;
    this.exited = true;
    this.mm.mmput();
    for (const fd of [...this.files.keys()]) this.close(fd);
  }
}
