// SPDX-License-Identifier: GPL-2.0-only
/*
 * The slice of libc the selftest uses, over the simulated process: calls
 * return -1 and set errno on failure, as in C, so the ported cases read like
 * the original. Memory access by the process itself (the C code's `ptr[i]`)
 * goes through loadInts()/storeInts(), which touch user memory page by page
 * through the page tables and fault exactly as the loads and stores would.
 *
 * One Libc belongs to one run; the runner attaches the current case's task
 * to it. malloc() hands out anonymous mmap()s (what glibc does for large
 * blocks; here for every size), so buffers the driver copies into are real
 * user memory of the simulated process.
 */
import type { Task } from '../../kernel-model/task.js';
import { userLoad, userStore } from '../../kernel-model/memory.js';
import { MAP_ANONYMOUS, MAP_PRIVATE, PROT_READ, PROT_WRITE } from '../../kernel-model/mm.js';
import { PAGE_SIZE } from '../../kernel-model/page.js';

export const NULL = 0;
/** MAP_FAILED is (void *)-1. */
export const MAP_FAILED = -1;
export const sizeof_int = 4;
export const _SC_PAGE_SIZE = 30;
export const O_RDWR = 2;

export class Libc {
  private task: Task | null = null;
  errno = 0;
  /** Called with every line a traced run writes (hmm_dmirror_cmd()'s TRACE lines). */
  trace: ((line: string) => void) | null = null;
  /** The process's stderr (fprintf(stderr, ...)): the runner points it at the harness's err stream. */
  stderr: (line: string) => void = () => {};
  private readonly mallocSizes = new Map<number, number>();

  attach(task: Task | null): void {
    this.task = task;
    this.errno = 0;
    this.mallocSizes.clear();
  }

  get current(): Task {
    if (this.task === null) throw new Error('libc used outside a test case');
    return this.task;
  }

  private sys(ret: number): number {
    if (ret < 0) {
      this.errno = -ret;
      return -1;
    }
    return ret;
  }

  readonly sysconf = (name: number): number => (name === _SC_PAGE_SIZE ? PAGE_SIZE : -1);
  readonly open = (path: string, _flags: number, _mode = 0): number => this.sys(this.current.open(path));
  readonly close = (fd: number): number => this.sys(this.current.close(fd));
  readonly ioctl = (fd: number, request: number, arg: object): number => this.sys(this.current.ioctl(fd, request, arg));
  readonly mmap = (addr: number, len: number, prot: number, flags: number, _fd: number, _off: number): number => {
    const ret = this.current.mmap(addr, len, prot, flags);
    return ret < 0 ? (this.errno = -ret, MAP_FAILED) : ret;
  };
  readonly munmap = (addr: number, len: number): number => this.sys(this.current.munmap(addr, len));
  readonly mprotect = (addr: number, len: number, prot: number): number => this.sys(this.current.mprotect(addr, len, prot));

  /** malloc(): NULL (0) when the address space is exhausted. */
  readonly malloc = (size: number): number => {
    const p = this.current.mmap(0, Math.max(size, 1), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS);
    if (p < 0) return NULL;
    this.mallocSizes.set(p, size);
    return p;
  };
  readonly free = (p: number): void => {
    const size = this.mallocSizes.get(p);
    if (p === NULL || size === undefined) return;
    this.mallocSizes.delete(p);
    this.current.munmap(p, Math.max(size, 1));
  };

  /** `n` ints the process loads from `addr` (for (i...) x = ptr[i]). A bad address kills it, as in C. */
  readonly loadInts = (addr: number, n: number): Int32Array => {
    const out = new Int32Array(n);
    userLoad(this.current.mm, addr, new Uint8Array(out.buffer));
    return out;
  };
  /** The process stores f(i) to ptr[i] for i < n (for (i...) ptr[i] = f(i)). */
  readonly storeInts = (addr: number, n: number, f: (i: number) => number): void => {
    const v = new Int32Array(n);
    for (let i = 0; i < n; i++) v[i] = f(i);
    userStore(this.current.mm, addr, new Uint8Array(v.buffer));
  };
  /** `n` bytes the process loads from `addr`. */
  readonly loadBytes = (addr: number, n: number): Uint8Array => {
    const out = new Uint8Array(n);
    userLoad(this.current.mm, addr, out);
    return out;
  };
}
