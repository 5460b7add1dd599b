// SPDX-License-Identifier: GPL-2.0-only
/*
 * Sleeping locks (kernel/locking/mutex.c, kernel/locking/rwsem.c) and the
 * mmap_lock wrappers (include/linux/mmap_lock.h), customised for the
 * model's scheduler (sched.ts).
 *
 * Only one thread runs at a time and a thread started at a preemption point
 * runs to its next blocking call in one piece, so no thread can ever wait
 * for a lock here. A lock found held therefore means one of two bugs, both
 * thrown as a KernelBug: the holder is the running thread itself (a
 * self-deadlock, as lockdep would report), or the holder is a thread that
 * was preempted inside its critical section, i.e. a preemption point sits
 * where the kernel holds that lock. This is what keeps the scheduler's
 * interleavings ones the real kernel can produce. The one exception is
 * explore mode's points with locks held (sched.ts: point(where, holds)):
 * a thread that finds such a lock held by the preempted stack thread is
 * blocked, and the explorer does not let its step happen (Sched.sleepOn()).
 *
 * Owners are tids as Sched.current gives them. Taking and releasing costs a
 * comparison; callers take them per command or per 64-page range, never per
 * page.
 */
import { KernelBug } from './bug.js';
import type { Kernel } from './kernel.js';
import type { MmStruct } from './mm.js';
import { STACK_THREAD } from './sched.js';

const NO_OWNER = -1;

const who = (tid: number): string => (tid === STACK_THREAD ? 'the test process\'s thread' : `thread ${tid}`);

/** A lock found held: the running thread would sleep, which the model cannot do (see the file comment). */
function wouldSleep(k: Kernel, fn: string, lockObj: Mutex | RwSemaphore, holder: number): never {
  const me = k.sched.current, lock = lockObj.name;
  if (holder === me) throw new KernelBug('BUG', fn, `possible recursive locking: ${who(me)} already holds ${lock}`);
  k.sched.sleepOn(k.sched.lockKey(lockObj));
  throw new KernelBug('BUG', fn, `${who(me)} would sleep on ${lock}, held by ${who(holder)}, which was preempted ` +
    'inside its critical section: a preemption point where the kernel holds that lock');
}

/** struct mutex: the owner's tid, or none. */
export class Mutex {
  owner = NO_OWNER;
  constructor(readonly name: string) {}
}

/** Model of mutex_lock(). */
export function mutexLock(k: Kernel, m: Mutex): void {
  if (m.owner !== NO_OWNER) wouldSleep(k, 'mutex_lock', m, m.owner);
  m.owner = k.sched.current;
}

/** Model of mutex_trylock(): true when taken, false when held (by anyone). */
export function mutexTrylock(k: Kernel, m: Mutex): boolean {
  if (m.owner !== NO_OWNER) return false;
  m.owner = k.sched.current;
  return true;
}

/** Model of mutex_unlock(): only the owner may release it (DEBUG_MUTEXES). */
export function mutexUnlock(k: Kernel, m: Mutex): void {
  if (m.owner !== k.sched.current) {
    throw new KernelBug('BUG', 'mutex_unlock', `${who(k.sched.current)} releases ${m.name}, owned by ${m.owner === NO_OWNER ? 'nobody' : who(m.owner)}`);
  }
  m.owner = NO_OWNER;
}

/** struct rw_semaphore: the writer's tid, or the readers' tids. */
export class RwSemaphore {
  writer = NO_OWNER;
  readonly readers: number[] = [];
  constructor(readonly name: string) {}
}

/** Model of down_read(): a writer, or a reader of this same thread (a recursive read can deadlock behind a waiting writer), is a bug. */
export function downRead(k: Kernel, sem: RwSemaphore): void {
  if (sem.writer !== NO_OWNER) wouldSleep(k, 'down_read', sem, sem.writer);
  if (sem.readers.includes(k.sched.current)) wouldSleep(k, 'down_read', sem, k.sched.current);
  sem.readers.push(k.sched.current);
}

/** Model of up_read(). */
export function upRead(k: Kernel, sem: RwSemaphore): void {
  const i = sem.readers.indexOf(k.sched.current);
  if (i < 0) throw new KernelBug('BUG', 'up_read', `${who(k.sched.current)} releases ${sem.name} it does not hold for read`);
  sem.readers.splice(i, 1);
}

/** Model of down_write(). */
export function downWrite(k: Kernel, sem: RwSemaphore): void {
  if (sem.writer !== NO_OWNER) wouldSleep(k, 'down_write', sem, sem.writer);
  if (sem.readers.length > 0) wouldSleep(k, 'down_write', sem, sem.readers.includes(k.sched.current) ? k.sched.current : sem.readers[0]);
  sem.writer = k.sched.current;
}

/** Model of up_write(). */
export function upWrite(k: Kernel, sem: RwSemaphore): void {
  if (sem.writer !== k.sched.current) throw new KernelBug('BUG', 'up_write', `${who(k.sched.current)} releases ${sem.name} it does not hold for write`);
  sem.writer = NO_OWNER;
}

/** Model of mmap_read_lock(). */
export const mmapReadLock = (mm: MmStruct): void => downRead(mm.k, mm.mmapLock);
/** Model of mmap_read_unlock(). */
export const mmapReadUnlock = (mm: MmStruct): void => upRead(mm.k, mm.mmapLock);
/** Model of mmap_write_lock() (and mmap_write_lock_killable(): no signal arrives while the model runs a call). */
export const mmapWriteLock = (mm: MmStruct): void => downWrite(mm.k, mm.mmapLock);
/** Model of mmap_write_unlock(). */
export const mmapWriteUnlock = (mm: MmStruct): void => upWrite(mm.k, mm.mmapLock);

/**
 * The mm's mmap_lock as a preemption point's holds list it (Sched.point()):
 * its key when the stack thread holds it (for read or write), else nothing.
 */
export function mmapLockHeld(mm: MmStruct): string[] {
  const sem = mm.mmapLock;
  return sem.writer === STACK_THREAD || sem.readers.includes(STACK_THREAD) ? [mm.k.sched.lockKey(sem)] : [];
}
