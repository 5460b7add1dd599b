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
import { IS_ERR, PTR_ERR, ECHILD, ENOENT } from '../../kernel-model/errno.js';
import { procMeminfo } from '../../kernel-model/hugetlb.js';
import { isHarnessSignal, AssertionAbort } from '../../kselftest/assert.js';
import { FatalSignal } from '../../kernel-model/bug.js';
import { userLoad, userStore } from '../../kernel-model/memory.js';
import { MAP_ANONYMOUS, MAP_PRIVATE, PROT_READ, PROT_WRITE } from '../../kernel-model/mm.js';
import { PAGE_SIZE, PMD_SIZE } from '../../kernel-model/page.js';

export const NULL = 0;
/** MAP_FAILED is (void *)-1. */
export const MAP_FAILED = -1;
export const sizeof_int = 4;
/* vm_util.h: the pagemap bits the cases test. */
export const PM_SWAP = 1n << 62n;
export const PM_PRESENT = 1n << 63n;
export const PAGEMAP_PRESENT = (ent: bigint): boolean => (ent & PM_PRESENT) !== 0n;
export const _SC_PAGE_SIZE = 30;
export const O_RDWR = 2;
export { O_RDONLY, O_TMPFILE, O_EXCL } from '../../kernel-model/fcntl.js';
export { WIFEXITED, WIFSIGNALED, WTERMSIG, SIGTERM } from '../../kernel-model/task.js';

/** What a child's exit(code) throws to leave its body (the process ends there). */
class ChildExit {
  constructor(readonly code: number) {}
}

/** A forked child not yet run: its task and its code (run lazily, see fork()). */
interface Child { task: Task; body: () => void; ran: boolean }

/**
 * Memory for the arrays loadInts()/loadBytes() return: bump allocation in
 * buffers kept from case to case, so a case does not pay the host for
 * fresh memory on every load (it costs more than the copy). Everything a
 * case loaded stays valid until the next case starts.
 */
class Arena {
  private readonly chunks: ArrayBuffer[] = [];
  private chunk = 0;
  private off = 0;
  /** Chunks start at 64 KiB and double up to 16 MiB, so a case that loads little costs little. */
  private static readonly MIN_CHUNK = 64 << 10;
  private static readonly MAX_CHUNK = 16 << 20;

  /** `bytes` of arena memory (8-byte aligned), contents undefined: the caller overwrites them. */
  bytes(bytes: number): Uint8Array {
    const need = Math.ceil(bytes / 8) * 8;
    while (this.chunk < this.chunks.length && this.off + need > this.chunks[this.chunk].byteLength) {
      this.chunk++;
      this.off = 0;
    }
    if (this.chunk === this.chunks.length) {
      const last = this.chunks.at(-1)?.byteLength ?? Arena.MIN_CHUNK / 2;
      this.chunks.push(new ArrayBuffer(Math.max(need, Math.min(Arena.MAX_CHUNK, 2 * last))));
    }
    const at = this.off;
    this.off += need;
    return new Uint8Array(this.chunks[this.chunk], at, bytes);
  }

  reset(): void {
    this.chunk = 0;
    this.off = 0;
  }
}

export class Libc {
  private task: Task | null = null;
  errno = 0;
  /** Called with every line a traced run writes (hmm_dmirror_cmd()'s TRACE lines). */
  trace: ((line: string) => void) | null = null;
  /** The process's stderr (fprintf(stderr, ...)): the runner points it at the harness's err stream. */
  stderr: (line: string) => void = () => {};
  private readonly mallocSizes = new Map<number, number>();
  private readonly pending = new Map<number, Child>();
  /** Where the values the process loads live (its registers and stack, in C): reused case after case. */
  private readonly arena = new Arena();
  private readonly storeBuf = new Int32Array(16384);

  attach(task: Task | null): void {
    this.task = task;
    this.arena.reset();
    this.errno = 0;
    this.mallocSizes.clear();
    this.pending.clear();
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
  readonly open = (path: string, flags: number, mode = 0): number => this.sys(this.current.open(path, flags, mode));
  readonly read = (fd: number, buf: number, count: number): number => this.sys(this.current.read(fd, buf, count));
  readonly write = (fd: number, buf: number, count: number): number => this.sys(this.current.write(fd, buf, count));
  readonly pread = (fd: number, buf: number, count: number, off: number): number => this.sys(this.current.pread(fd, buf, count, off));
  readonly pwrite = (fd: number, buf: number, count: number, off: number): number => this.sys(this.current.pwrite(fd, buf, count, off));
  readonly ftruncate = (fd: number, length: number): number => this.sys(this.current.ftruncate(fd, length));
  readonly madvise = (addr: number, len: number, advice: number): number => this.sys(this.current.madvise(addr, len, advice));
  readonly close = (fd: number): number => this.sys(this.current.close(fd));
  readonly ioctl = (fd: number, request: number, arg: object): number => this.sys(this.current.ioctl(fd, request, arg));
  readonly mmap = (addr: number, len: number, prot: number, flags: number, fd: number, off: number): number => {
    const ret = this.current.mmap(addr, len, prot, flags, fd, off);
    return ret < 0 ? (this.errno = -ret, MAP_FAILED) : ret;
  };
  readonly munmap = (addr: number, len: number): number => this.sys(this.current.munmap(addr, len));
  /** mremap(2): the new address, or MAP_FAILED and errno. */
  readonly mremap = (addr: number, oldLen: number, newLen: number, flags: number, newAddr = 0): number => {
    const ret = this.current.mremap(addr, oldLen, newLen, flags, newAddr);
    return ret < 0 ? (this.errno = -ret, MAP_FAILED) : ret;
  };
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
    const bytes = this.arena.bytes(n * 4);
    userLoad(this.current.mm, addr, bytes);
    return new Int32Array(bytes.buffer, bytes.byteOffset, n);
  };
  /** The process stores f(i) to ptr[i] for i < n (for (i...) ptr[i] = f(i)), 64 KiB at a time. */
  readonly storeInts = (addr: number, n: number, f: (i: number) => number): void => {
    const v = this.storeBuf, bytes = new Uint8Array(v.buffer);
    for (let base = 0; base < n; base += v.length) {
      const m = Math.min(v.length, n - base);
      for (let i = 0; i < m; i++) v[i] = f(base + i);
      userStore(this.current.mm, addr + base * 4, m === v.length ? bytes : bytes.subarray(0, m * 4));
    }
  };
  /** memset(p, c, n): the process stores the byte c n times from p. */
  readonly memset = (p: number, c: number, n: number): void => {
    const chunk = new Uint8Array(Math.min(n, 1 << 16)).fill(c & 0xff);
    for (let off = 0; off < n; off += chunk.length) userStore(this.current.mm, p + off, chunk.subarray(0, Math.min(chunk.length, n - off)));
  };
  /**
   * pagemap_get_entry() of vm_util.c: the 64-bit entry of the page at addr,
   * pread() from an open /proc/self/pagemap at (addr / page size) * 8; a
   * failed read is the C's ksft_exit_fail_msg(): the case fails.
   */
  readonly pagemap_get_entry = (fd: number, addr: number): bigint => {
    const buf = this.malloc(8);
    const n = this.pread(fd, buf, 8, Math.floor(addr / PAGE_SIZE) * 8);
    const bytes = this.loadBytes(buf, 8);
    this.free(buf);
    if (n !== 8) throw new Error(`pagemap_get_entry: read of /proc/self/pagemap failed (${n === -1 ? `errno ${this.errno}` : n})`);
    return new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true);
  };

  /** `n` bytes the process loads from `addr`. */
  readonly loadBytes = (addr: number, n: number): Uint8Array => {
    const out = this.arena.bytes(n);
    userLoad(this.current.mm, addr, out);
    return out;
  };

  /**
   * file_read_ulong(file, tag) of the mm selftests (vm_util.c): the number
   * after `tag` in a /proc file, -1 when absent. /proc/meminfo is the one
   * the cases read.
   */
  readonly file_read_ulong = (file: string, tag: string): number => {
    if (file !== '/proc/meminfo') return -1;
    const line = procMeminfo(this.current.k).split('\n').find((l) => l.startsWith(tag));
    return line === undefined ? -1 : parseInt(line.slice(tag.length), 10);
  };

  /**
   * read_pmd_pagesize() of vm_util.c: /sys/kernel/mm/transparent_hugepage/hpage_pmd_size,
   * which the kernel fills with HPAGE_PMD_SIZE (2 MiB on x86-64 with 4 KiB pages).
   */
  readonly read_pmd_pagesize = (): number => PMD_SIZE;
  /** default_huge_page_size() of vm_util.c: Hugepagesize of /proc/meminfo in bytes, 0 when absent. */
  readonly default_huge_page_size = (): number => Math.max(this.file_read_ulong('/proc/meminfo', 'Hugepagesize:'), 0) * 1024;
  /** hugetlb_free_default_pages() of hugepage_settings.c: HugePages_Free of /proc/meminfo, 0 when absent. */
  readonly hugetlb_free_default_pages = (): number => Math.max(this.file_read_ulong('/proc/meminfo', 'HugePages_Free:'), 0);

  /**
   * fork(): the child is a copy of the process (Task.fork()) that runs
   * `child` as its code; the call returns its pid to the parent. The child
   * runs when the parent waits for it (a schedule the real kernel can
   * produce too: the parent does not look at the child before waiting); a
   * child killed before that never runs. -1 and errno when fork fails.
   */
  readonly fork = (child: () => void): number => {
    const c = this.current.fork();
    if (IS_ERR(c)) {
      this.errno = -PTR_ERR(c);
      return -1;
    }
    this.pending.set(c.pid, { task: c, body: child, ran: false });
    return c.pid;
  };

  /**
   * exit(3) inside a child's code: ends the child with that status. A failed
   * ASSERT in the child ends it with KSFT_FAIL and, unlike C where the child
   * has its own copy of the test's metadata, fails the case as well.
   */
  readonly exit = (code: number): never => {
    throw new ChildExit(code);
  };

  /**
   * A process spinning on the CPU (`while (1) {}`). The model runs one
   * process at a time, so a spinning process would never give the CPU back:
   * reaching this means nothing can end it any more, and the run would hang
   * where the real kernel's would spin forever. It says so instead.
   */
  readonly spin = (): never => {
    throw new Error(`process ${this.current.pid} spins forever: nothing is left to end it (a run on the real kernel would hang here)`);
  };

  /** kill(2). */
  readonly kill = (pid: number, sig: number): number => {
    const c = this.pending.get(pid);
    if (c === undefined) return this.sys(-ENOENT);
    return this.sys(c.task.kill(sig));
  };

  /** waitpid(2) for a child of fork(): runs it if it has not run, then reaps it; status.value gets the wait status. */
  readonly waitpid = (pid: number, status: { value: number }, _options: number): number => {
    const c = this.pending.get(pid);
    if (c === undefined) return this.sys(-ECHILD);
    if (!c.task.exited && !c.ran) this.runChild(c);
    if (!c.task.exited) c.task.exit(0);
    status.value = c.task.exitStatus!;
    c.task.releaseTask();
    this.pending.delete(pid);
    return pid;
  };

  private runChild(c: Child): void {
    const parent = this.task, sizes = new Map(this.mallocSizes);
    c.ran = true;
    this.task = c.task;
    let code = 0;
    try {
      c.body();
    } catch (e) {
      if (e instanceof ChildExit) code = e.code;
      else if (e instanceof AssertionAbort) code = 1;
      else if (isHarnessSignal(e)) code = 4;
      else if (e instanceof FatalSignal) code = -e.signal; // killed by the signal (e.g. the OOM killer's SIGKILL)
      else throw e;
    } finally {
      this.task = parent;
      this.mallocSizes.clear();
      for (const [k, v] of sizes) this.mallocSizes.set(k, v);
    }
    if (code < 0) c.task.kill(-code);
    else c.task.exit(code);
  }

  /** Children forked and not waited for: killed and reaped when the case's process exits (their parent goes away). */
  reapOrphans(): void {
    for (const c of this.pending.values()) {
      if (!c.task.exited) c.task.kill(9);
      c.task.releaseTask();
    }
    this.pending.clear();
  }
}

