// SPDX-License-Identifier: GPL-2.0-only
/*
 * The smoke suite in a worker thread, so that the CLI's main thread stays
 * free to stop a case that runs past its time limit (it ends the worker and
 * goes on in a new one), and to write the reports when SIGINT or SIGTERM
 * comes in the middle of a case. Every line and event goes to the main
 * thread through one MessagePort, in order; the main thread can drain it
 * synchronously before it ends the worker. A thread may be started before
 * its job is known (smoke-prestart.ts): it then loads and waits for it.
 */
import { workerData, parentPort, type MessagePort } from 'node:worker_threads';
import { runSmoke } from '../runner.js';
import { composeKernel } from '../kernel-model/changes.js';
import { testEnabled, type HarnessFilter } from '../kselftest/options.js';
import type { CaseResult, RunResult } from '../kselftest/harness.js';
import type { TestHmmParams } from '../dmirror/test_hmm.js';
import type { MachineConfig } from '../kernel-model/machine.js';

export interface WorkerJob {
  params: TestHmmParams;
  machine: MachineConfig;
  filters: HarnessFilter[];
  trace: boolean;
  traceSched: boolean;
  seed?: number;
  bail: boolean;
  /** The kernel the cases boot (composeKernel() here: a KernelVersion does not cross threads). */
  kernelName: string;
  patches: string[];
  resume?: { next: number; prior: CaseResult[] };
  /** The plan cases this thread runs (RunOptions.shard); absent: all, closing lines included. */
  shard?: { count: number; index: number };
  port: MessagePort;
}

/**
 * What the thread sends. `i` is the plan index (0-based) of the case the
 * thread runs, or last ran (-1 before its first): with several threads the
 * main thread puts the lines back in plan order by it. `t` is when the case
 * started (Date.now(), one clock for all threads), for its time limit.
 */
export type WorkerEvent = { i: number } & (
  | { e: 'out'; l: string }
  | { e: 'err'; l: string }
  | { e: 'start'; name: string; index: number; t: number; timeoutS?: number }
  | { e: 'case'; r: CaseResult }
  | { e: 'cmd'; l: string }
  | { e: 'done'; result: RunResult }
  | { e: 'crash'; message: string });

/** A WorkerEvent without its plan index, which post() adds. */
type Untagged = WorkerEvent extends infer E ? E extends WorkerEvent ? Omit<E, 'i'> : never : never;

/** Run one job, sending every event through its port. */
function runJob(job: WorkerJob): void {
  let at = job.resume ? job.resume.next - 1 : -1;
  const post = (ev: Untagged) => job.port.postMessage({ ...ev, i: at });
  try {
    const kernel = composeKernel(job.kernelName, job.patches);
    if ('error' in kernel) throw new Error(kernel.error);
    const result = runSmoke({
      kernel,
      params: job.params,
      machine: job.machine,
      filter: (f, v, t) => testEnabled(job.filters, f, v, t),
      out: (l) => post({ e: 'out', l }),
      err: (l) => post({ e: 'err', l }),
      onCaseStart: (name, index, timeoutS) => post({ e: 'start', name, index: (at = index), t: Date.now(), timeoutS }),
      onCase: (r) => post({ e: 'case', r }),
      onCommand: (l) => post({ e: 'cmd', l }),
      trace: job.trace,
      traceSched: job.traceSched,
      seed: job.seed,
      bail: job.bail,
      resume: job.resume,
      shard: job.shard,
    });
    post({ e: 'done', result });
  } catch (e) {
    post({ e: 'crash', message: e instanceof Error ? `${e.name}: ${e.message}` : String(e) });
  }
}

// Started with its job, or started early (smoke-prestart.ts) and given it as the first message.
if (workerData != null) runJob(workerData as WorkerJob);
else parentPort!.once('message', (job: WorkerJob) => runJob(job));
