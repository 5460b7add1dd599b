// SPDX-License-Identifier: GPL-2.0-only
/*
 * A user process: its address space and its open files, and the system
 * calls the selftest makes. Syscalls return a value or a negative errno, as
 * the kernel entry points do (the selftest port's libc layer turns them into
 * -1 and errno). In Linux: struct task_struct, mm_struct, files_struct;
 * fork() (kernel/fork.c), exit() and kill() (kernel/exit.c, kernel/signal.c).
 *
 * Life of a task: created by `new Task(k)` (the test process) or
 * `parent.fork()`; running until `exit(code)` or a fatal `kill(sig)`; then
 * a zombie (exited, `exitStatus` set, still in k.tasks) until the parent's
 * wait reaps it with `releaseTask()`.
 */
import { EBADF, EINVAL, EMFILE, ENOENT, ENOTDIR, ESPIPE, ESRCH, type ErrPtr, IS_ERR } from './errno.js';
import type { Kernel } from './kernel.js';
import { File, chrdevOpen, getFile, fput, vfsLlseek } from './chrdev.js';
import { MmStruct, doMmap, doMunmap, doMprotect, vmaLookup, MAP_ANONYMOUS, MAP_NONBLOCK, MAP_POPULATE } from './mm.js';
import { mmPopulate } from './gup.js';
import { PAGE_SIZE } from './page.js';
import { ShmemFile, TMPFS_DIRS, shmemTmpfile, vfsRead, vfsWrite, doSysFtruncate } from './shmem.js';
import { FMODE_PREAD, FMODE_PWRITE, O_DIRECTORY, O_RDWR, O_TMPFILE, SEEK_MAX, openFmode } from './fcntl.js';
import { PagemapFile } from './task_mmu.js';
import { dupMm } from './fork.js';
import { doMadvise, madviseNeedMmapWrite } from './madvise.js';
import { doMremap } from './mremap.js';
import { mmapReadLock, mmapReadUnlock, mmapWriteLock, mmapWriteUnlock } from './locking.js';
import type { Thread, ThreadBody } from './sched.js';
import { syscallFrames } from './hung_task.js';
import { FatalSignal } from './bug.js';

/* Signal numbers (arch/x86/include/uapi/asm/signal.h) the model acts on. */
/** RLIMIT_NOFILE's soft limit as a process starts (INR_OPEN_CUR). */
export const RLIMIT_NOFILE_CUR = 1024;

export const SIGINT = 2;
export const SIGKILL = 9;
export const SIGTERM = 15;
export const SIGCHLD = 17;
export const SIGCONT = 18;
export const SIGSTOP = 19;
const SIGRTMAX = 64;
/** Signals whose default action is to do nothing (sig_kernel_ignore()). */
const SIG_KERNEL_IGNORE = [SIGCHLD, SIGCONT, 23 /* SIGURG */, 28 /* SIGWINCH */];
/** Signals whose default action stops the task (sig_kernel_stop()): not modelled. */
const SIG_KERNEL_STOP = [SIGSTOP, 20, 21, 22];

/* The wait status macros (glibc bits/waitstatus.h), for the status in Task.exitStatus. */
export const WIFEXITED = (status: number): boolean => (status & 0x7f) === 0;
export const WEXITSTATUS = (status: number): number => (status >> 8) & 0xff;
export const WIFSIGNALED = (status: number): boolean => ((status & 0x7f) + 1) >> 1 > 0;
export const WTERMSIG = (status: number): number => status & 0x7f;

export class Task {
  /** task->comm: the selftest binary's name; a forked child keeps its parent's. */
  comm: string;
  /** task->pid: from k.lastPid, first 100. */
  readonly pid: number;
  readonly mm: MmStruct;
  /** The file table (files_struct): fd -> struct file, shared references after fork. */
  readonly files = new Map<number, File>();
  /** task->real_parent; null for a test process created directly, and once the parent has exited (reparented to init). */
  parent: Task | null;
  readonly children: Task[] = [];
  exited = false;
  /**
   * task->exit_code once exited, in wait-status form: (code & 0xff) << 8
   * after exit(code), the signal number after a fatal signal (no core
   * dumps). null while running.
   */
  exitStatus: number | null = null;

  /** A new task with an empty address space, or the given one (fork). */
  constructor(readonly k: Kernel, mm?: MmStruct, parent: Task | null = null) {
    this.mm = mm ?? new MmStruct(k);
    this.parent = parent;
    this.comm = parent?.comm ?? 'hmm-tests';
    this.pid = ++k.lastPid;
    k.tasks.set(this.pid, this);
  }

  /**
   * open(2) of a /dev node, of /proc/self/pagemap (task_mmu.ts), or of a
   * tmpfs directory with O_TMPFILE (an unlinked tmpfs file, shmem.ts;
   * `mode` is accepted and not modelled).
   */
  open(path: string, flags = O_RDWR, _mode = 0): number {
    this.k.current = this;
    if (TMPFS_DIRS.includes(path)) {
      const filp = shmemTmpfile(this.k, path, flags);
      return typeof filp === 'number' ? filp : this.installFd(filp);
    }
    if (path === '/proc/self/pagemap') return this.installFd(new PagemapFile(this.mm, openFmode(flags)));
    const cdev = this.k.chrdevs.get(path);
    if (cdev === undefined) return -ENOENT;
    if (flags & O_DIRECTORY) return -ENOTDIR; // O_DIRECTORY (O_TMPFILE has it): the path must be a directory
    const filp = new File(cdev);
    const ret = chrdevOpen(cdev, filp, flags, this);
    if (ret) return ret;
    return this.installFd(filp);
  }

  /**
   * get_unused_fd_flags() + fd_install(): the lowest free fd from 3 (0-2
   * are the standard streams), -EMFILE at RLIMIT_NOFILE's default soft
   * limit (alloc_fd()), the file dropped again.
   */
  private installFd(filp: File): number {
    let fd = 3;
    while (this.files.has(fd)) fd++;
    if (fd >= RLIMIT_NOFILE_CUR) {
      fput(filp, this);
      return -EMFILE;
    }
    this.files.set(fd, filp);
    return fd;
  }

  /** close(2): the driver's release() runs when the last reference goes (fput()). */
  close(fd: number): number {
    this.k.current = this;
    const filp = this.files.get(fd);
    if (filp === undefined) return -EBADF;
    this.files.delete(fd);
    // The last fput() runs ->release() from task_work on the way back to user mode.
    this.inKernel(['__fput', 'task_work_run', 'syscall_exit_to_user_mode', 'do_syscall_64', 'entry_SYSCALL_64_after_hwframe'],
      () => fput(filp, this));
    return 0;
  }

  /**
   * The way back to user mode (exit_to_user_mode_loop()): a SIGKILL the OOM
   * killer left pending for this task (oom_kill.ts) is delivered here, and
   * the process dies of it.
   */
  private exitToUserMode(): void {
    if (this.mm.oomVictim && !this.exited) throw new FatalSignal(SIGKILL, 0, 'killed by the OOM killer');
  }

  /** Run `call` as this task's system call (k.current set, as `current` is in the kernel), innermost frames of its way in first. */
  private inKernel<T>(frames: readonly string[], call: () => T): T {
    const k = this.k, saved = k.entry;
    k.entry = { task: { comm: this.comm, pid: this.pid, ppid: this.parent?.pid ?? 1 }, frames };
    try {
      return call();
    } finally {
      k.entry = saved;
    }
  }

  /**
   * ioctl(2). Entry and exit are preemption points (sched.ts): the driver
   * is entered, and left, holding no lock.
   */
  ioctl(fd: number, cmd: number, arg: object): number {
    this.k.current = this;
    const sched = this.k.sched;
    sched.point('ioctl entry');
    const filp = this.files.get(fd);
    if (filp === undefined) return -EBADF;
    const ret = this.inKernel(syscallFrames('ioctl'), () => filp.cdev.fops.unlockedIoctl(filp, cmd, arg, this));
    this.exitToUserMode();
    sched.point('ioctl exit');
    return ret;
  }

  /**
   * mmap(2): fd and offset for a file mapping (ignored with MAP_ANONYMOUS,
   * as in C); vm_mmap_pgoff() holds mmap_lock for write. doMmap() checks
   * the offset before the fd, as sys_mmap() and ksys_mmap_pgoff() do.
   */
  mmap(addr: number, len: number, prot: number, flags: number, fd = -1, offset = 0): number {
    const filp = flags & MAP_ANONYMOUS ? null : this.files.get(fd) ?? null;
    const ret = this.underMmapWriteLock('mmap', () => doMmap(this.mm, addr, len, prot, flags, filp, offset));
    // vm_mmap_pgoff(): do_mmap() set *populate for MAP_POPULATE without MAP_NONBLOCK; mm_populate() runs unlocked of
    // the write lock, under mmap_lock for read.
    if (ret > 0 && (flags & (MAP_POPULATE | MAP_NONBLOCK)) === MAP_POPULATE) {
      mmapReadLock(this.mm);
      try {
        const vma = vmaLookup(this.mm, ret);
        if (vma !== null) mmPopulate(this.mm, ret, Math.min(vma.vmEnd, ret + Math.ceil(len / PAGE_SIZE) * PAGE_SIZE) - ret);
      } finally {
        mmapReadUnlock(this.mm);
      }
    }
    return ret;
  }

  /** read(2) at the file position, into user memory at buf. */
  read(fd: number, buf: number, count: number): number {
    this.k.current = this;
    const filp = this.files.get(fd);
    if (filp === undefined) return -EBADF;
    const pos = filp instanceof ShmemFile ? filp.fPos : 0;
    const ret = vfsRead(this.mm, filp, buf, count, pos);
    if (ret > 0 && filp instanceof ShmemFile) filp.fPos = pos + ret;
    return ret;
  }

  /** write(2) at the file position (the end with O_APPEND), from user memory at buf. */
  write(fd: number, buf: number, count: number): number {
    this.k.current = this;
    const filp = this.files.get(fd);
    if (filp === undefined) return -EBADF;
    const r = vfsWrite(this.mm, filp, buf, count, filp instanceof ShmemFile ? filp.fPos : 0);
    if (r.ret > 0 && filp instanceof ShmemFile) filp.fPos = r.pos;
    return r.ret;
  }

  /** pread64(2), model of ksys_pread64(): -EINVAL for a negative offset before the fd is looked at; -ESPIPE without FMODE_PREAD. */
  pread(fd: number, buf: number, count: number, offset: number): number {
    this.k.current = this;
    if (offset < 0) return -EINVAL;
    const filp = this.files.get(fd);
    if (filp === undefined) return -EBADF;
    if (!(filp.fMode & FMODE_PREAD)) return -ESPIPE;
    return vfsRead(this.mm, filp, buf, count, offset);
  }

  /** pwrite64(2), model of ksys_pwrite64(): as pread64(), with FMODE_PWRITE. */
  pwrite(fd: number, buf: number, count: number, offset: number): number {
    this.k.current = this;
    if (offset < 0) return -EINVAL;
    const filp = this.files.get(fd);
    if (filp === undefined) return -EBADF;
    if (!(filp.fMode & FMODE_PWRITE)) return -ESPIPE;
    return vfsWrite(this.mm, filp, buf, count, offset).ret;
  }

  /**
   * lseek(2), model of ksys_lseek(): -EINVAL for a whence past SEEK_MAX,
   * then vfs_llseek(): -ESPIPE unless the file has FMODE_LSEEK, else its
   * ->llseek() (a tmpfs file's shmem_file_llseek(), a driver's, e.g.
   * test_hmm's default_llseek()).
   */
  lseek(fd: number, offset: number, whence: number): number {
    this.k.current = this;
    const filp = this.files.get(fd);
    if (filp === undefined) return -EBADF;
    if (whence < 0 || whence > SEEK_MAX) return -EINVAL; // whence is unsigned in C
    return vfsLlseek(filp, offset, whence);
  }

  /** ftruncate(2), model of do_sys_ftruncate(): a negative length is -EINVAL before the fd is looked at. */
  ftruncate(fd: number, length: number): number {
    this.k.current = this;
    if (length < 0) return -EINVAL;
    const filp = this.files.get(fd);
    if (filp === undefined) return -EBADF;
    return doSysFtruncate(filp, length);
  }
  /** munmap(2): __vm_munmap() under mmap_lock for write; entry and exit are preemption points. */
  munmap(addr: number, len: number): number {
    return this.underMmapWriteLock('munmap', () => doMunmap(this.mm, addr, len));
  }
  /** mremap(2) (mremap.ts): under mmap_lock for write. */
  mremap(addr: number, oldLen: number, newLen: number, flags: number, newAddr = 0): number {
    return this.underMmapWriteLock('mremap', () => doMremap(this.mm, addr, oldLen, newLen, flags, newAddr));
  }
  /** mprotect(2): do_mprotect_pkey() under mmap_lock for write. */
  mprotect(addr: number, len: number, prot: number): number {
    return this.underMmapWriteLock('mprotect', () => doMprotect(this.mm, addr, len, prot));
  }
  /** madvise(2) (madvise.ts): mmap_lock for write, or for read for the advice madvise_need_mmap_write() lists. */
  madvise(addr: number, len: number, advice: number): number {
    if (madviseNeedMmapWrite(advice)) return this.underMmapWriteLock('madvise', () => doMadvise(this.mm, addr, len, advice));
    const sched = this.k.sched;
    sched.point('madvise entry');
    mmapReadLock(this.mm);
    let ret: number;
    try {
      ret = doMadvise(this.mm, addr, len, advice);
    } finally {
      mmapReadUnlock(this.mm);
    }
    sched.point('madvise exit');
    return ret;
  }

  /** A system call that changes the VMAs: a preemption point, the call under mmap_write_lock(), a preemption point. */
  private underMmapWriteLock(name: string, call: () => number): number {
    this.k.current = this;
    const sched = this.k.sched;
    sched.point(`${name} entry`);
    mmapWriteLock(this.mm);
    let ret: number;
    try {
      ret = call();
    } finally {
      mmapWriteUnlock(this.mm);
    }
    sched.point(`${name} exit`);
    return ret;
  }

  /**
   * clone(2) of a thread, as pthread_create() makes it (CLONE_VM |
   * CLONE_FILES | CLONE_THREAD ...): a thread of this process sharing its
   * mm and files, running `body` (sched.ts: createThread()). Returning to
   * user space is a preemption point, where the new thread may start.
   */
  cloneThread(body: ThreadBody): Thread {
    this.k.sched.point('clone entry');
    const th = this.k.sched.createThread(this, body);
    this.k.sched.point('clone exit');
    return th;
  }

  /**
   * fork(2), model of copy_process() without threads: the child gets a copy
   * of the address space (dup_mm(): private pages shared copy-on-write,
   * device-private entries made read-only in both) and the same open files
   * (dup_fd(): one more reference each, so the child's exit does not release
   * the parent's files). Returns the child, or ERR_PTR(-ENOMEM) with
   * nothing left behind.
   */
  fork(): ErrPtr<Task> {
    this.k.current = this;
    const mm = dupMm(this.k, this.mm);
    if (IS_ERR(mm)) return mm;
    const child = new Task(this.k, mm, this);
    for (const [fd, filp] of this.files) child.files.set(fd, getFile(filp));
    this.children.push(child);
    return child;
  }

  /** exit(2) (exit_group): do_exit((code & 0xff) << 8). */
  exit(code = 0): void {
    this.doExit((code & 0xff) << 8);
  }

  /**
   * Model of do_exit(): the address space goes first (exit_mm(), the last
   * mmput() tears it down: mirrors see one MMU_NOTIFY_UNMAP, shared pages
   * lose this mapping's reference), then the files (exit_files(), fput()
   * of each), then the children are reparented (exit_notify()), as in
   * kernel/exit.c. The task stays a zombie with its status.
   */
  private doExit(status: number): void {
    this.k.current = this;
    if (this.exited) return;
    this.exited = true;
    this.exitStatus = status;
    this.k.sched.exitGroup(this);
    this.mm.mmput();
    for (const fd of [...this.files.keys()]) this.close(fd);
    // forget_original_parent(): the children go to the child reaper (init, which the model does not run), so an
    // exited task holds no child and no child holds it: a chain of forks keeps only the tasks still there.
    for (const c of this.children) c.parent = null;
    this.children.length = 0;
  }

  /**
   * kill(2) of this task, model of the default actions (no handlers):
   * 0 only checks the task exists; SIGCHLD, SIGCONT, SIGURG, SIGWINCH are
   * ignored; every other signal terminates it as get_signal() ->
   * do_group_exit(sig) would on its way back to user mode, which, with one
   * thread, is at once. A zombie takes signals and ignores them (0); a
   * reaped task is gone (-ESRCH). Stop signals are not modelled (-EINVAL).
   */
  kill(sig: number): number {
    if (!Number.isInteger(sig) || sig < 0 || sig > SIGRTMAX) return -EINVAL;
    if (!this.k.tasks.has(this.pid)) return -ESRCH;
    if (sig === 0 || this.exited || SIG_KERNEL_IGNORE.includes(sig)) return 0;
    if (SIG_KERNEL_STOP.includes(sig)) {
      this.k.printk(`kill: signal ${sig} stops a task: job control is not modelled`);
      return -EINVAL;
    }
    this.doExit(sig);
    return 0;
  }

  /** Model of release_task(): the parent's wait has read exitStatus; the pid goes away. */
  releaseTask(): void {
    if (!this.exited) return;
    this.k.tasks.delete(this.pid);
    const siblings = this.parent?.children;
    if (siblings !== undefined && siblings.includes(this)) siblings.splice(siblings.indexOf(this), 1);
  }
}

/** Model of find_task_by_vpid(): the task with that pid (zombies included), or null. */
export function findTaskByVpid(k: Kernel, pid: number): Task | null {
  return k.tasks.get(pid) ?? null;
}
