// SPDX-License-Identifier: GPL-2.0-only
/*
 * Tests of src/kernel-model/sched.ts (threads, preemption points, the
 * virtual clock) and src/kernel-model/locking.ts (mutex, rwsem, mmap_lock:
 * a lock held by a preempted thread is a bug the model reports).
 *
 *   stack thread:  point ... point ... point ...... join
 *   thread 101:      start,sleep 5us        munmap  (runs at the first point at or after its wake-up)
 */
import t from 'tap';
import { Kernel } from '../../src/kernel-model/kernel.js';
import { KernelBug } from '../../src/kernel-model/bug.js';
import { Task } from '../../src/kernel-model/task.js';
import { PAGE_SIZE } from '../../src/kernel-model/page.js';
import { MAP_ANONYMOUS, MAP_PRIVATE, PROT_READ, PROT_WRITE } from '../../src/kernel-model/mm.js';
import { type ThreadBlock, SCHED_SLICE_NS, STACK_THREAD } from '../../src/kernel-model/sched.js';
import { Mutex, RwSemaphore, mutexLock, mutexTrylock, mutexUnlock, downRead, upRead, downWrite, upWrite,
  mmapReadLock, mmapReadUnlock } from '../../src/kernel-model/locking.js';

/** A thread body that records what it did, sleeping `ns` first. */
function* sleeper(log: string[], ns: number, then: () => void = () => {}): Generator<ThreadBlock, string, undefined> {
  log.push('start');
  yield { nanosleep: ns };
  then();
  log.push('done');
  return 'retval';
}

t.test('without another thread a preemption point costs nothing: no clock, no draw', (t) => {
  const k = new Kernel();
  for (let i = 0; i < 100; i++) k.sched.point('p');
  t.equal(k.sched.now, 0);
  t.equal(k.sched.nrThreads, 0);
  // No draw either: a kernel that passed 100 points makes the same choices afterwards as a fresh one.
  const fresh = new Kernel(), task1 = new Task(k), task2 = new Task(fresh);
  k.sched.createThread(task1, sleeper([], 1e9));
  fresh.sched.createThread(task2, sleeper([], 1e9));
  k.sched.point('p');
  fresh.sched.point('p');
  t.equal(k.sched.now, fresh.sched.now);
  t.end();
});

t.test('a thread runs at the first preemption point at or after its wake-up, from one blocking call to the next', (t) => {
  const k = new Kernel();
  const task = new Task(k);
  const log: string[] = [];
  const th = k.sched.createThread(task, sleeper(log, 5000, () => log.push(`runs as ${k.sched.current}`)));
  t.equal(th.tid, task.pid + 1, 'a tid from the pid space');
  t.equal(task.mm.mmUsers, 2, 'the thread holds the shared mm (mmget)');
  t.same(log, [], 'created, not yet run');
  k.sched.point('first');
  t.same(log, ['start'], 'it started at the first point and went to sleep');
  t.ok(k.sched.now < SCHED_SLICE_NS, 'a point advances the clock by less than a slice');
  while (k.sched.now < th.wakeAt) {
    t.same(log, ['start']);
    k.sched.point('more');
  }
  t.same(log, ['start', `runs as ${th.tid}`, 'done'], 'woken at the first point past its wake-up; current is its tid');
  t.equal(k.sched.current, STACK_THREAD, 'the stack thread runs again');
  t.ok(th.dead);
  t.equal(th.retval, 'retval');
  t.equal(task.mm.mmUsers, 1, 'its mm reference dropped at its end');
  t.end();
});

t.test('points inside another thread\'s code do not preempt it', (t) => {
  const k = new Kernel();
  const task = new Task(k);
  const log: string[] = [];
  const other = k.sched.createThread(task, sleeper(log, 1e6));
  k.sched.createThread(task, (function* () {
    const before = k.sched.now;
    for (let i = 0; i < 10; i++) k.sched.point('nested');
    log.push(`nested points moved the clock by ${k.sched.now - before}`);
    yield { nanosleep: 0 };
  })());
  k.sched.point('p');
  t.same(log, ['start', 'nested points moved the clock by 0']);
  t.notOk(other.dead);
  t.end();
});

t.test('join lets the clock jump to the wake-up; nanosleep of the stack thread runs threads that wake meanwhile', (t) => {
  const k = new Kernel();
  const task = new Task(k);
  const log: string[] = [];
  const th = k.sched.createThread(task, sleeper(log, 1_000_000));
  k.sched.waitForExit(th);
  t.same(log, ['start', 'done']);
  t.equal(k.sched.now, 1_000_000, 'the clock is at the thread\'s wake-up');
  const a: string[] = [], b: string[] = [];
  k.sched.createThread(task, sleeper(a, 300));
  k.sched.createThread(task, sleeper(b, 100));
  k.sched.nanosleep(200);
  t.same([a, b], [['start'], ['start', 'done']], 'only the thread that woke within the sleep ran to its end');
  t.equal(k.sched.now, 1_000_200);
  k.sched.nanosleep(1000);
  t.same(a, ['start', 'done']);
  t.end();
});

t.test('exit_group kills sleeping threads without resuming them and drops their mm references', (t) => {
  const k = new Kernel();
  const task = new Task(k);
  const log: string[] = [];
  const th = k.sched.createThread(task, sleeper(log, 1e9));
  k.sched.point('p');
  t.equal(task.mm.mmUsers, 2);
  task.exit(0);
  t.same(log, ['start'], 'the rest of its code never ran');
  t.ok(th.dead);
  t.equal(k.sched.nrThreads, 0);
  t.equal(task.mm.mmUsers, 0, 'the last reference went and the mm was torn down');
  t.end();
});

t.test('the same seed gives the same schedule; other seeds another', (t) => {
  const schedule = (seed: number): string => {
    const k = new Kernel({ seed });
    const task = new Task(k);
    k.sched.createThread(task, sleeper([], 1e9));
    const clock: number[] = [];
    for (let i = 0; i < 20; i++) {
      k.sched.point('p');
      clock.push(k.sched.now);
    }
    return `${clock.join(',')} urandom ${k.urandom.u32()}`;
  };
  t.equal(schedule(7), schedule(7));
  t.not(schedule(7), schedule(8));
  t.not(schedule(1), schedule(2));
  t.end();
});

t.test('a thread that keeps waking without the clock moving is a soft lockup, not a hang', (t) => {
  const k = new Kernel();
  const task = new Task(k);
  k.sched.createThread(task, (function* () { for (;;) yield { nanosleep: 0 }; })());
  t.throws(() => k.sched.point('p'), /soft lockup/);
  t.end();
});

t.test('a thread started at a point runs its system calls whole: munmap from a thread', (t) => {
  const k = new Kernel();
  const task = new Task(k);
  const addr = task.mmap(0, 4 * PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS);
  let ret = 1;
  k.sched.createThread(task, (function* () {
    yield { nanosleep: 0 };
    ret = task.munmap(addr, 4 * PAGE_SIZE);
  })());
  k.sched.point('p');
  t.equal(ret, 0);
  t.equal(task.mm.vmas.length, 0, 'the mapping is gone');
  t.equal(task.mm.mmapLock.writer, -1, 'mmap_lock released');
  t.end();
});

t.test('mutex: a preempted holder, recursion and a foreign unlock are bugs; trylock fails on a held mutex', (t) => {
  const k = new Kernel();
  const task = new Task(k);
  const m = new Mutex('dmirror->mutex');
  mutexLock(k, m);
  t.throws(() => mutexLock(k, m), /possible recursive locking: the test process's thread already holds dmirror->mutex/);
  let tried: boolean | null = null;
  k.sched.createThread(task, (function* () {
    tried = mutexTrylock(k, m);
    yield { nanosleep: 0 };
    mutexLock(k, m);
  })());
  // A preemption point placed, wrongly, inside the critical section.
  const e = (() => { try { k.sched.point('inside'); } catch (x) { return x; } return null; })();
  t.equal(tried, false, 'trylock of a held mutex fails');
  t.ok(e instanceof KernelBug);
  t.match((e as Error).message, /BUG: thread \d+ would sleep on dmirror->mutex, held by the test process's thread, which was preempted inside its critical section/);
  mutexUnlock(k, m);
  t.throws(() => mutexUnlock(k, m), /releases dmirror->mutex, owned by nobody/);
  t.end();
});

t.test('rwsem: readers share, a writer excludes; mmap_lock held for read across a point stops a thread\'s munmap', (t) => {
  const k = new Kernel();
  const task = new Task(k);
  const sem = new RwSemaphore('sem');
  downRead(k, sem);
  k.sched.createThread(task, (function* () {
    downRead(k, sem);
    upRead(k, sem);
    yield { nanosleep: 0 };
  })());
  t.doesNotThrow(() => k.sched.point('p'), 'a second reader is fine');
  t.throws(() => downWrite(k, sem), /already holds sem/);
  upRead(k, sem);
  downWrite(k, sem);
  t.throws(() => downRead(k, sem), /possible recursive locking/);
  upWrite(k, sem);
  t.throws(() => upWrite(k, sem), /does not hold for write/);

  const addr = task.mmap(0, PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS);
  mmapReadLock(task.mm);
  k.sched.createThread(task, (function* () {
    yield { nanosleep: 0 };
    task.munmap(addr, PAGE_SIZE);
  })());
  t.throws(() => k.sched.point('inside mmap_read_lock'), /BUG: thread \d+ would sleep on mmap_lock/);
  mmapReadUnlock(task.mm);
  t.end();
});
