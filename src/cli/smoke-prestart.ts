// SPDX-License-Identifier: GPL-2.0-only
/*
 * Threads for `hmm-test smoke` started before the command line is read
 * (issue 15): loading the model's modules takes a thread about as long as
 * the CLI's own loading takes the main thread, so a thread started first
 * loads while the main thread does, instead of after it. A started thread
 * waits for its job (WorkerJob) as its first message; one the run does not
 * take (bad usage, -l, an earlier exit) is unref()ed and keeps nothing
 * alive. This module imports nothing of the project: it must be cheap to
 * load.
 */
import { Worker } from 'node:worker_threads';
import { availableParallelism } from 'node:os';

/** Threads for one run: more than the two a case's work can use help little (tests/smoke-threads.test.ts). */
export const MAX_JOBS = 4;

const waiting: Worker[] = [];

/**
 * How many threads a `smoke` command line will want, as smokeJobs() will
 * decide (one with --bail, HMM_TEST_JOBS, else one per core, at most
 * MAX_JOBS); 0 for other commands and for a HMM_TEST_JOBS smokeJobs() will
 * refuse (the run then starts none early and reports it).
 */
export function prestartCount(argv: string[]): number {
  if (argv[0] !== 'smoke' || argv.includes('--bail')) return argv[0] === 'smoke' ? 1 : 0;
  const text = process.env.HMM_TEST_JOBS;
  if (text !== undefined && text !== '') return /^[1-9][0-9]?$/.test(text) ? Math.min(Number(text), MAX_JOBS) : 0;
  return Math.max(1, Math.min(availableParallelism(), MAX_JOBS));
}

/** Start `n` threads of smoke-worker.js that load the model and wait for a job. */
export function prestartWorkers(n: number): void {
  for (let i = 0; i < n; i++) {
    const w = new Worker(new URL('./smoke-worker.js', import.meta.url), { workerData: null });
    w.unref();
    // A thread that dies before it is taken is simply not taken; its replacement starts as usual.
    const gone = () => {
      const at = waiting.indexOf(w);
      if (at >= 0) waiting.splice(at, 1);
    };
    w.once('error', gone);
    w.once('exit', gone);
    waiting.push(w);
  }
}

/** A started thread for one lane, or undefined (none left): the caller posts the job to it and listens as to a new one. */
export function takePrestarted(): Worker | undefined {
  const w = waiting.shift();
  if (w === undefined) return undefined;
  w.removeAllListeners('error');
  w.removeAllListeners('exit');
  w.ref();
  return w;
}
