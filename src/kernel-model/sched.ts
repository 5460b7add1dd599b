// SPDX-License-Identifier: GPL-2.0-only
/*
 * A deterministic scheduler for the threads of a process (customised for
 * testing; in Linux: kernel/sched/, the clone of a thread in kernel/fork.c,
 * nanosleep(2) and the futex a pthread_join() waits on).
 *
 * JavaScript runs one stack. The thread on it is the one that runs the
 * test's code: the test process's first thread (or a forked child's, while
 * its parent waits). Every other thread is a generator: its code runs from
 * one blocking call (a `yield`, e.g. nanosleep) to the next in one piece,
 * system calls included, and only when the scheduler starts it.
 *
 * The rule: the scheduler starts another thread only at a *preemption
 * point* of the stack thread, a call to Sched.point() placed where the
 * kernel, at that spot, holds no lock of the thread (no mmap_lock, no
 * driver mutex, no page lock): at system call entry and exit and where a
 * driver drops its locks between steps (dmirror_read() between
 * dmirror_do_read() and dmirror_fault(); dmirror_range_fault() and
 * dmirror_range_snapshot() before mmap_read_lock() and between
 * hmm_range_fault() and the mmu_interval_read_retry() check; README.md
 * has the table). Whatever the other thread does there
 * (an munmap(), with its mmap_write_lock() and mmu notifier callbacks) a
 * second CPU could have done at that moment on the real kernel, so every
 * interleaving the scheduler produces is one the kernel can produce. It does
 * not produce them all: a thread is never preempted halfway through its own
 * system call. locking.ts checks the rule: a thread that would have to sleep
 * on a lock the preempted thread holds is a KernelBug.
 *
 * Explore mode adds points where the stack thread holds sleeping locks (a
 * folio lock, mmap_lock for read) at a call of the C that may sleep there:
 * point(where, holds) names them. The time scheduler ignores these points
 * (no draw, no clock), so runs and smoke stay as they were. A thread that
 * would sleep on one of those locks cannot stop halfway through its system
 * call, so its step must not happen: sleepOn() tells the explorer, which
 * aborts the schedule and runs it again with that thread disabled at that
 * decision until the stack thread no longer holds the lock (explore.ts).
 *
 * Time is virtual, in nanoseconds. Each preemption point stands for the
 * work since the previous one and advances the clock by a slice drawn from
 * a seeded generator (uniform below SCHED_SLICE_NS); a sleeping thread
 * wakes at the first point at or after its wake-up time; a blocked stack
 * thread (pthread_join(), nanosleep()) lets the clock jump to the next
 * wake-up. The same seed gives the same interleaving.
 *
 * With no other thread a point is one comparison: it draws nothing and
 * moves no clock, so cases without threads run as before.
 */
import { KernelBug } from './bug.js';
import type { Kernel } from './kernel.js';
import type { Task } from './task.js';
import { Prng, deriveSeed } from './random.js';

/**
 * The clock advance of one preemption point is uniform in [0,
 * SCHED_SLICE_NS). The figure is not measured: with it, the READ of 1024
 * pages that anon_teardown races against takes about 20 us of virtual time,
 * inside the 0-32 us its thread sleeps, so both the READ-first and the
 * unmap-first outcomes are common, as on the reference machine (3 READs of
 * 10 succeeded there).
 */
export const SCHED_SLICE_NS = 1000;

/** Runs of other threads one preemption point may make before the model calls it a lockup (threads sleeping 0 ns in a loop). */
const SCHED_MAX_RUNS = 100000;

/**
 * What a thread's code yields: a blocking call, nanosleep(2) for this many
 * nanoseconds; or, with `preempt`, a preemption point of the thread between
 * two of its system calls (no sleep: the time scheduler goes on with it at
 * once, the explorer may switch away from it there, which costs a
 * preemption).
 */
export interface ThreadBlock {
  nanosleep: number;
  preempt?: boolean;
}

/** A preemption point of a thread's own code between two system calls (see ThreadBlock). */
export const THREAD_PREEMPT: ThreadBlock = { nanosleep: 0, preempt: true };

/**
 * A scheduling decision in explore mode: which thread runs next. `options`
 * are tids (STACK_THREAD for the stack thread); options[0] is the default,
 * the thread that ran last when it can go on and did not go to sleep (a
 * sleeping thread comes last: it lets the others go first). `preemptive`: switching away
 * from it (any option but 0) is a preemption, because it could go on and did
 * not stop by itself (a preemption point, not a sleep, a wait or its end).
 */
export interface SchedDecision {
  readonly options: readonly number[];
  readonly preemptive: boolean;
  readonly where: string;
  /** Lock keys (lockKey()) the stack thread holds at this decision: a thread sleeping on one of them is blocked. */
  readonly holds: readonly string[];
}

/**
 * Thrown out of a thread's step that would sleep on a lock the preempted
 * stack thread holds (explore mode): the schedule is abandoned where it is
 * and the explorer runs it again with the thread disabled (sleepOn()).
 */
export class ThreadBlocked extends Error {
  constructor(readonly tid: number, readonly lock: string) {
    super(`thread ${tid} would sleep on ${lock}, held by the preempted stack thread`);
  }
}

/**
 * The systematic explorer's side of the scheduler (src/explore/): it picks
 * the thread at each decision, hears of each step's accesses to shared state
 * (for partial-order reduction) and of retry loops that gave up. With an
 * explorer, time no longer decides: every live thread may run at every
 * decision (a sleep only says the thread lets others go first).
 */
export interface SchedExplorer {
  /** The index in d.options of the thread to run. */
  choose(d: SchedDecision): number;
  /** The running step touched shared state `what` ('mm': anything of the kernel reached by a system call or a user access; 'urandom'). */
  access(what: string): void;
  /** A retry loop at `where` stopped at its bound without succeeding: no progress (livelock). */
  noProgress(where: string, detail: string): void;
  /** Thread `tid`'s step would sleep on `lock`, which the stack thread holds at the current decision; the caller throws ThreadBlocked. */
  blocked(tid: number, lock: string): void;
}

/** A thread's code: runs to its next blocking call on each next(); returns the thread's exit value. */
export type ThreadBody = Iterator<ThreadBlock, unknown, undefined>;

/** The tid (in Sched.current and lock owners) of the thread on the JS stack. */
export const STACK_THREAD = 0;

/** A thread the scheduler runs (a task_struct of CLONE_THREAD, sharing its process's mm and files). */
export class Thread {
  /** Sleeping until `wakeAt` (the clock value), runnable once the clock reaches it; dead after its code returned. */
  dead = false;
  wakeAt: number;
  /** What its code returned (the pthread's exit value), once dead. */
  retval: unknown = undefined;
  /** It stopped last at a preemption point (THREAD_PREEMPT), not at a sleep. */
  preempted = false;
  constructor(readonly tid: number, readonly task: Task, readonly body: ThreadBody, now: number) {
    this.wakeAt = now;
  }
}

export class Sched {
  /** The virtual clock (ns since boot). */
  now = 0;
  /** The running thread's tid: STACK_THREAD, or a Thread's while its code runs. */
  current = STACK_THREAD;
  /** Threads created and not dead, in creation order. */
  private readonly threads: Thread[] = [];
  private readonly slices: Prng;
  /** Called with a line for each thread run (when, where, which): --trace shows them, tests record them. */
  trace: ((line: string) => void) | null = null;
  /** Where the stack thread was when a thread last ran (the preemption point's name, or the blocking call's). */
  private where = '';
  /** Threads ever created (the explorer refuses a program that makes none). */
  threadsCreated = 0;
  /** Explore mode (src/explore/): the explorer chooses every switch; null in normal runs. */
  explorer: SchedExplorer | null = null;
  /** The lock keys the stack thread holds at the point it is stopped at (explore mode). */
  private stackHolds: readonly string[] = [];
  /** Keys of mutexes and rw_semaphores, numbered in the order first asked for: the same in every run of one program. */
  private readonly lockKeys = new WeakMap<object, string>();
  private nrLockKeys = 0;

  constructor(private readonly k: Kernel, seed: number) {
    this.slices = new Prng(deriveSeed(seed, 1));
  }

  /** Threads alive (created, not dead). */
  get nrThreads(): number {
    return this.threads.length;
  }

  /**
   * A preemption point of the stack thread, named after where it is. Without
   * `holds` the caller holds no lock (see the file comment). With it, the
   * caller holds the sleeping locks whose keys holds() returns, at a call of
   * the C that may sleep: a point for the explorer only. Free with no other
   * thread; a no-op inside another thread's code, which is never preempted.
   */
  point(where: string, holds?: () => readonly string[]): void {
    if (this.threads.length === 0 || this.current !== STACK_THREAD) return;
    if (this.explorer !== null) {
      this.now += SCHED_SLICE_NS / 2;
      this.stackHolds = holds === undefined ? [] : holds();
      try {
        this.explore(where, () => true, false);
      } finally {
        this.stackHolds = [];
      }
      return;
    }
    // The time scheduler keeps to the points without locks (its runs stay what they were).
    if (holds !== undefined) return;
    this.now += this.slices.u32() % SCHED_SLICE_NS;
    this.where = where;
    this.runWoken();
  }

  /** The key of a mutex or rw_semaphore in SchedDecision.holds and sleepOn(): its name and a number stable within a run. */
  lockKey(lock: { readonly name: string }): string {
    let key = this.lockKeys.get(lock);
    if (key === undefined) this.lockKeys.set(lock, key = `${lock.name}#${this.nrLockKeys++}`);
    return key;
  }

  /**
   * The running thread would sleep on the lock `key`, found held. In explore
   * mode, when a thread other than the stack thread finds it held by the
   * preempted stack thread, that thread is blocked: its step cannot happen
   * (it runs in one piece), so the explorer abandons the schedule and
   * throws ThreadBlocked. Otherwise it returns, and the caller reports the
   * KernelBug (a recursive lock, or a holder preempted where no point says it
   * holds the lock).
   */
  sleepOn(key: string): void {
    if (this.explorer === null || this.current === STACK_THREAD || !this.stackHolds.includes(key)) return;
    this.explorer.blocked(this.current, key);
    throw new ThreadBlocked(this.current, key);
  }

  /** Shared state the running code touches, for the explorer's partial-order reduction (see SchedExplorer.access). */
  access(what: string): void {
    this.explorer?.access(what);
  }

  /** A retry loop gave up at its bound (the C's timeout): the explorer calls the schedule a livelock. */
  noProgress(where: string, detail: string): void {
    this.explorer?.noProgress(where, detail);
  }

  /**
   * Explore mode: decisions until the explorer picks the stack thread,
   * which it may only when `ready()` (false while it is blocked). `voluntary`:
   * the stack thread stopped by itself (nanosleep), so switching from it is
   * free. False when no thread can run and the stack thread is not ready:
   * every thread is blocked for good (a deadlock).
   */
  private explore(where: string, ready: () => boolean, voluntary: boolean): boolean {
    const x = this.explorer!;
    let last: Thread | null = null;
    let lastPreempted = !voluntary;
    for (;;) {
      const options: number[] = [];
      const stackReady = ready();
      const lastAlive: boolean = last === null ? stackReady : !last.dead;
      const lastTid = last === null ? STACK_THREAD : last.tid;
      // The default goes on with the thread that ran, unless it went to sleep: then the others go first.
      if (lastAlive && lastPreempted) options.push(lastTid);
      if (stackReady && last !== null) options.push(STACK_THREAD);
      for (const th of this.threads) if (th !== last) options.push(th.tid);
      if (lastAlive && !lastPreempted) options.push(lastTid);
      if (options.length === 0) return false;
      // A decision with one option is still one: the explorer counts each step apart (its accesses, the step bound).
      const i: number = x.choose({ options, preemptive: lastAlive && lastPreempted && options.length > 1, where, holds: this.stackHolds });
      // Every option is a thread blocked on a lock of the stack thread, which is not ready: nothing can run.
      if (i < 0) return false;
      const tid: number = options[i];
      if (tid === STACK_THREAD) {
        // Its step goes on in the kernel (a point is inside a system call), where nothing tells the explorer what it touches.
        x.access('mm');
        return true;
      }
      const th: Thread = this.threads.find((t) => t.tid === tid)!;
      this.where = where;
      this.run(th);
      last = th;
      lastPreempted = th.preempted;
    }
  }

  /**
   * Model of clone(CLONE_VM | CLONE_THREAD | ...) and wake_up_new_task():
   * a thread of `task`, runnable at once, holding a reference on the shared
   * mm (copy_mm() with CLONE_VM: mmget()). It first runs at the caller's
   * next preemption point or blocking call.
   */
  createThread(task: Task, body: ThreadBody): Thread {
    task.mm.mmUsers++;
    this.threadsCreated++;
    const th = new Thread(++this.k.lastPid, task, body, this.now);
    this.threads.push(th);
    return th;
  }

  /**
   * The stack thread blocks until `th` is dead (futex_wait() on the tid
   * word that CLONE_CHILD_CLEARTID clears at the thread's exit, as
   * pthread_join() does): every thread runs as it wakes, the clock jumping
   * from one wake-up to the next.
   */
  waitForExit(th: Thread): void {
    this.where = 'pthread_join';
    if (this.explorer !== null) {
      if (!this.explore('pthread_join', () => th.dead, false)) throw new KernelBug('BUG', 'futex_wait', `thread ${th.tid} is not dead and not scheduled: it can never exit`);
      return;
    }
    while (!th.dead) {
      const next = this.earliest();
      if (next === null) throw new KernelBug('BUG', 'futex_wait', `thread ${th.tid} is not dead and not scheduled: it can never exit`);
      if (next.wakeAt > this.now) this.now = next.wakeAt;
      this.runWoken();
    }
  }

  /**
   * The running thread sleeps uninterruptibly (TASK_UNINTERRUPTIBLE, as
   * wait_for_completion() does) until `cond()` holds, at most `timeoutNs`
   * of virtual time: every other thread runs as it wakes, the clock jumping
   * from one wake-up to the next, since any of them might do what the
   * sleeper waits for. True once `cond()` holds; false when the time ran
   * out or no thread is left that could run, the clock then standing at
   * the deadline (what the hung-task detector measures). Another thread's
   * code cannot sleep here: it runs in one piece (see the file comment), so
   * for it nothing else can run and the answer is `cond()` at once.
   */
  sleepUntil(where: string, cond: () => boolean, timeoutNs: number): boolean {
    const deadline = this.now + timeoutNs;
    if (this.current !== STACK_THREAD) return cond();
    this.where = where;
    if (this.explorer !== null) {
      // Nothing to wait for in time: the sleeper wakes when another thread made cond() true, or never.
      if (this.explore(where, cond, false)) return true;
      this.now = deadline;
      return false;
    }
    while (!cond()) {
      const next = this.earliest();
      if (next === null || next.wakeAt > deadline) {
        this.now = deadline;
        return false;
      }
      if (next.wakeAt > this.now) this.now = next.wakeAt;
      this.runWoken();
    }
    return true;
  }

  /** Model of nanosleep(2) by the stack thread: the other threads run as they wake in the meantime. */
  nanosleep(ns: number): void {
    const until = this.now + Math.max(0, ns);
    this.where = 'nanosleep';
    if (this.explorer !== null) {
      if (this.threads.length > 0) this.explore('nanosleep', () => true, true);
      this.now = until;
      return;
    }
    for (let next = this.earliest(); next !== null && next.wakeAt <= until; next = this.earliest()) {
      if (next.wakeAt > this.now) this.now = next.wakeAt;
      this.runWoken();
    }
    this.now = until;
  }

  /**
   * Model of zap_other_threads() at exit_group(): the process's other
   * threads die where they sleep (their code is not resumed) and drop their
   * mm reference.
   */
  exitGroup(task: Task): void {
    for (const th of [...this.threads]) {
      if (th.task !== task) continue;
      th.body.return?.(undefined);
      this.reap(th, undefined);
    }
  }

  /** The thread to wake first (ties: the older thread), or null when none is alive. */
  private earliest(): Thread | null {
    let best: Thread | null = null;
    for (const th of this.threads) if (best === null || th.wakeAt < best.wakeAt) best = th;
    return best;
  }

  /** Run every thread whose wake-up time has come, oldest wake-up first, until none is left. */
  private runWoken(): void {
    let runs = 0;
    for (let next = this.earliest(); next !== null && next.wakeAt <= this.now; next = this.earliest()) {
      if (++runs > SCHED_MAX_RUNS) {
        throw new KernelBug('BUG', 'schedule', `soft lockup: thread ${next.tid} keeps waking without the clock moving`);
      }
      this.run(next);
    }
  }

  /** Run `th` from where it blocked to its next blocking call or its end. */
  private run(th: Thread): void {
    this.trace?.(`SCHED t=${this.now}ns tid=${th.tid} runs at ${this.where}`);
    this.current = th.tid;
    let r: IteratorResult<ThreadBlock, unknown>;
    try {
      r = th.body.next();
      // A thread's own preemption point: the time scheduler goes on with it at once; only the explorer switches there.
      if (this.explorer === null) while (!r.done && r.value.preempt) r = th.body.next();
    } catch (e) {
      this.reap(th, undefined);
      throw e;
    } finally {
      this.current = STACK_THREAD;
    }
    if (r.done) this.reap(th, r.value);
    else {
      th.wakeAt = this.now + Math.max(0, r.value.nanosleep);
      th.preempted = r.value.preempt === true;
    }
  }

  /** The thread is dead: out of the run queue, its mm reference dropped (exit_mm()). */
  private reap(th: Thread, retval: unknown): void {
    const i = this.threads.indexOf(th);
    if (i < 0) return;
    this.threads.splice(i, 1);
    th.dead = true;
    th.retval = retval;
    th.task.mm.mmput();
  }
}
