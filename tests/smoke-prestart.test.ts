// SPDX-License-Identifier: GPL-2.0-only
/*
 * Threads started before the command line is read (src/cli/smoke-prestart.ts):
 * as many as smokeJobs() will use, none for other commands or a bad
 * HMM_TEST_JOBS, and a started thread that gets its job as a message prints
 * what the suite prints in this thread. tests/smoke-threads.test.ts runs
 * bin/hmm-test, which takes them, against one thread's output.
 */
import t from 'tap';
import { MessageChannel } from 'node:worker_threads';
import { availableParallelism } from 'node:os';
import { prestartCount, prestartWorkers, takePrestarted, MAX_JOBS } from '../src/cli/smoke-prestart.js';
import type { WorkerEvent, WorkerJob } from '../src/cli/smoke-worker.js';
import { runSmoke } from '../src/runner.js';
import { defaultMachine } from '../src/kernel-model/machine.js';
import { DEFAULT_KERNEL } from '../src/kernel-model/changes.js';

t.test('how many threads start early: what smokeJobs() will ask for', (t) => {
  const saved = process.env.HMM_TEST_JOBS;
  t.teardown(() => {
    if (saved === undefined) delete process.env.HMM_TEST_JOBS;
    else process.env.HMM_TEST_JOBS = saved;
  });
  delete process.env.HMM_TEST_JOBS;
  t.equal(prestartCount(['smoke']), Math.max(1, Math.min(availableParallelism(), MAX_JOBS)), 'one per core, at most MAX_JOBS');
  t.equal(prestartCount(['smoke', '--bail']), 1, '--bail runs on one thread');
  t.equal(prestartCount(['fuzz']), 0, 'other commands start none');
  t.equal(prestartCount([]), 0);
  process.env.HMM_TEST_JOBS = '3';
  t.equal(prestartCount(['smoke']), 3);
  process.env.HMM_TEST_JOBS = '99';
  t.equal(prestartCount(['smoke']), MAX_JOBS, 'more than MAX_JOBS: the rest start when the run does');
  process.env.HMM_TEST_JOBS = 'x';
  t.equal(prestartCount(['smoke']), 0, 'a count smokeJobs() refuses: none, the run reports it');
  t.end();
});

t.test('a started thread takes its job as a message and prints what a run in this thread prints', async (t) => {
  prestartWorkers(1);
  const w = takePrestarted();
  t.ok(w, 'the thread is there to take');
  t.equal(takePrestarted(), undefined, 'taken once: the next lane starts its own');
  const channel = new MessageChannel();
  const job: WorkerJob = {
    params: { spm_addr_dev0: 0, spm_addr_dev1: 0 }, machine: defaultMachine(), filters: [{ opt: 't', name: 'open_close' }],
    trace: true, traceSched: false, seed: 7, bail: false, kernelName: DEFAULT_KERNEL, patches: [], port: channel.port1,
  };
  const lines: string[] = [];
  const done = new Promise<void>((resolve) => {
    channel.port2.on('message', (ev: WorkerEvent) => {
      if (ev.e === 'out' || ev.e === 'err') lines.push(ev.l);
      if (ev.e === 'done' || ev.e === 'crash') resolve();
    });
  });
  w!.postMessage(job, [channel.port1]);
  await done;
  channel.port2.close();
  await w!.terminate();
  const here: string[] = [];
  runSmoke({ params: job.params, machine: job.machine, filter: (_f, _v, c) => c === 'open_close', trace: true, seed: 7,
    out: (l) => here.push(l), err: (l) => here.push(l) });
  t.match(lines.join('\n'), /ok 1 hmm\.hmm_device_private\.open_close/);
  t.same(lines, here);
});
