// SPDX-License-Identifier: GPL-2.0-only
/*
 * Threads for the selftest: pthread_create()/pthread_join() over the
 * model's scheduler (kernel-model/sched.ts), and hmm-tests.c's own
 * hmm_random() and hmm_nanosleep().
 *
 * A thread's start routine is a generator function: it runs from one
 * blocking call to the next in one piece, and each blocking call is a
 * `yield*`, so the C line `hmm_nanosleep(n);` reads
 * `yield* hmm_nanosleep(n);`. The process's first thread is the ordinary
 * code of the case; other threads run at its preemption points (system
 * calls, the driver's unlocked windows) and while it waits in
 * pthread_join(). errno is per thread, as in C.
 */
import type { Thread, ThreadBlock } from '../../kernel-model/sched.js';
import { ESRCH } from '../../kernel-model/errno.js';
import type { Libc } from './libc.js';

/** pthread_t: the thread pthread_create() stored. */
export interface pthread_t {
  thread: Thread | null;
}
export const newPthread = (): pthread_t => ({ thread: null });

/** A start routine: void *(*)(void *), as a generator that yields at its blocking calls. */
export type StartRoutine<A> = (arg: A) => Generator<ThreadBlock, unknown, undefined>;

export interface Pthreads {
  pthread_create<A>(thread: pthread_t, attr: null, start_routine: StartRoutine<A>, arg: A): number;
  pthread_join(thread: pthread_t, retval: { value: unknown } | null): number;
  /** hmm-tests.c's hmm_random(): 4 bytes read from /dev/urandom. */
  hmm_random(): number;
  /** hmm-tests.c's hmm_nanosleep(n): nanosleep() for n ns; a blocking call, so `yield*` it in a thread. */
  hmm_nanosleep(n: number): Generator<ThreadBlock, void, undefined>;
}

/** The thread's code with its own errno: saved and restored around each run, since the process's libc has one. */
function* withOwnErrno(libc: Libc, body: Generator<ThreadBlock, unknown, undefined>): Generator<ThreadBlock, unknown, undefined> {
  let errno = 0;
  for (;;) {
    const outer = libc.errno;
    libc.errno = errno;
    let r: IteratorResult<ThreadBlock, unknown>;
    try {
      r = body.next();
    } finally {
      errno = libc.errno;
      libc.errno = outer;
    }
    if (r.done) return r.value;
    yield r.value;
  }
}

export function pthreads(libc: Libc): Pthreads {
  return {
    /** pthread_create(3): 0, or an error number (it does not set errno). Default attributes only. */
    pthread_create(thread, attr, start_routine, arg) {
      if (attr !== null) throw new Error('pthread_create: attributes are not modelled; pass NULL');
      thread.thread = libc.current.cloneThread(withOwnErrno(libc, start_routine(arg)));
      return 0;
    },

    /** pthread_join(3): waits for the thread's end and stores what its start routine returned; ESRCH for a thread already joined. */
    pthread_join(thread, retval) {
      const th = thread.thread;
      if (th === null) return ESRCH;
      libc.current.k.sched.waitForExit(th);
      if (retval !== null) retval.value = th.retval;
      thread.thread = null;
      return 0;
    },

    hmm_random() {
      libc.current.k.sched.access('urandom');
      return libc.current.k.urandom.u32();
    },

    *hmm_nanosleep(n) {
      yield { nanosleep: n };
    },
  };
}
