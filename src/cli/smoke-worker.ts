// SPDX-License-Identifier: GPL-2.0-only
/*
 * The smoke suite in a worker thread, so that the CLI's main thread stays
 * free to stop a case that runs past its time limit (it ends the worker and
 * goes on in a new one), and to write the reports when SIGINT or SIGTERM
 * comes in the middle of a case. Every line and event goes to the main
 * thread through one MessagePort, in order; the main thread can drain it
 * synchronously before it ends the worker.
 */
import { workerData, type MessagePort } from 'node:worker_threads';
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
  port: MessagePort;
}

export type WorkerEvent =
  | { e: 'out'; l: string }
  | { e: 'err'; l: string }
  | { e: 'start'; name: string; index: number; timeoutS?: number }
  | { e: 'case'; r: CaseResult }
  | { e: 'cmd'; l: string }
  | { e: 'done'; result: RunResult }
  | { e: 'crash'; message: string };

const job = workerData as WorkerJob;
const post = (ev: WorkerEvent) => job.port.postMessage(ev);
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
    onCaseStart: (name, index, timeoutS) => post({ e: 'start', name, index, timeoutS }),
    onCase: (r) => post({ e: 'case', r }),
    onCommand: (l) => post({ e: 'cmd', l }),
    trace: job.trace,
    traceSched: job.traceSched,
    seed: job.seed,
    bail: job.bail,
    resume: job.resume,
  });
  post({ e: 'done', result });
} catch (e) {
  post({ e: 'crash', message: e instanceof Error ? `${e.name}: ${e.message}` : String(e) });
}
