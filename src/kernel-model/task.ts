// SPDX-License-Identifier: GPL-2.0-only
/*
 * A user process: its address space and its open files, and the system
 * calls the selftest makes. Syscalls return a value or a negative errno, as
 * the kernel entry points do (the selftest port's libc layer turns them into
 * -1 and errno). In Linux: struct task_struct, mm_struct, files_struct.
 */
import { EBADF, EINVAL, ENOENT, ESPIPE } from './errno.js';
import type { Kernel } from './kernel.js';
import { File } from './chrdev.js';
import { MmStruct, doMmap, doMunmap, doMprotect, MAP_ANONYMOUS } from './mm.js';
import { ShmemFile, TMPFS_DIRS, shmemTmpfile, vfsRead, vfsWrite, doSysFtruncate } from './shmem.js';
import { O_RDWR, O_TMPFILE, SEEK_CUR, SEEK_END, SEEK_SET } from './fcntl.js';

let nextPid = 100;

export class Task {
  readonly pid = nextPid++;
  readonly mm: MmStruct;
  readonly files = new Map<number, File>();
  exited = false;

  constructor(readonly k: Kernel) {
    this.mm = new MmStruct(k);
  }

  /**
   * open(2) of a /dev node, or of a tmpfs directory with O_TMPFILE (an
   * unlinked tmpfs file, shmem.ts; `mode` is accepted and not modelled).
   */
  open(path: string, flags = O_RDWR, _mode = 0): number {
    if (TMPFS_DIRS.includes(path)) {
      const filp = shmemTmpfile(this.k, path, flags);
      return typeof filp === 'number' ? filp : this.installFd(filp);
    }
    if (flags & O_TMPFILE) return -ENOENT;
    const cdev = this.k.chrdevs.get(path);
    if (cdev === undefined) return -ENOENT;
    const filp = new File(cdev);
    const ret = cdev.fops.open(cdev, filp, this);
    if (ret) return ret;
    return this.installFd(filp);
  }

  /** get_unused_fd_flags() + fd_install(): the lowest free fd from 3. */
  private installFd(filp: File): number {
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

  /** mmap(2): fd and offset for a file mapping (ignored with MAP_ANONYMOUS, as in C). */
  mmap(addr: number, len: number, prot: number, flags: number, fd = -1, offset = 0): number {
    let filp: File | null = null;
    if (!(flags & MAP_ANONYMOUS)) {
      filp = this.files.get(fd) ?? null;
      if (filp === null) return -EBADF;
    }
    return doMmap(this.mm, addr, len, prot, flags, filp, offset);
  }

  /** read(2) at the file position, into user memory at buf. */
  read(fd: number, buf: number, count: number): number {
    const filp = this.files.get(fd);
    if (filp === undefined) return -EBADF;
    const pos = filp instanceof ShmemFile ? filp.fPos : 0;
    const ret = vfsRead(this.mm, filp, buf, count, pos);
    if (ret > 0 && filp instanceof ShmemFile) filp.fPos = pos + ret;
    return ret;
  }

  /** write(2) at the file position (the end with O_APPEND), from user memory at buf. */
  write(fd: number, buf: number, count: number): number {
    const filp = this.files.get(fd);
    if (filp === undefined) return -EBADF;
    const r = vfsWrite(this.mm, filp, buf, count, filp instanceof ShmemFile ? filp.fPos : 0);
    if (r.ret > 0 && filp instanceof ShmemFile) filp.fPos = r.pos;
    return r.ret;
  }

  /** pread64(2): read at offset, the file position unchanged. */
  pread(fd: number, buf: number, count: number, offset: number): number {
    const filp = this.files.get(fd);
    if (filp === undefined) return -EBADF;
    if (offset < 0) return -EINVAL;
    return vfsRead(this.mm, filp, buf, count, offset);
  }

  /** pwrite64(2): write at offset, the file position unchanged. */
  pwrite(fd: number, buf: number, count: number, offset: number): number {
    const filp = this.files.get(fd);
    if (filp === undefined) return -EBADF;
    if (offset < 0) return -EINVAL;
    return vfsWrite(this.mm, filp, buf, count, offset).ret;
  }

  /** lseek(2) (generic_file_llseek() for tmpfs files; a char device without llseek: -ESPIPE). */
  lseek(fd: number, offset: number, whence: number): number {
    const filp = this.files.get(fd);
    if (filp === undefined) return -EBADF;
    if (!(filp instanceof ShmemFile)) return -ESPIPE;
    const base = whence === SEEK_SET ? 0 : whence === SEEK_CUR ? filp.fPos : whence === SEEK_END ? filp.inode.iSize : NaN;
    if (Number.isNaN(base) || base + offset < 0) return -EINVAL;
    filp.fPos = base + offset;
    return filp.fPos;
  }

  /** ftruncate(2). */
  ftruncate(fd: number, length: number): number {
    const filp = this.files.get(fd);
    if (filp === undefined) return -EBADF;
    return doSysFtruncate(filp, length);
  }
  munmap(addr: number, len: number): number {
    return doMunmap(this.mm, addr, len);
  }
  mprotect(addr: number, len: number, prot: number): number {
    return doMprotect(this.mm, addr, len, prot);
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
