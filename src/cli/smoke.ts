// SPDX-License-Identifier: GPL-2.0-only
/*
 * One `hmm-test smoke` run as the CLI drives it: the suite runs in a worker
 * thread (smoke-worker.ts) and this side prints what it sends, in order.
 * Being outside the suite lets this side do what the C harness's parent
 * process does and a synchronous run could not:
 *  - a per-test timeout (kselftest's TEST_TIMEOUT_DEFAULT, 30 s): a case
 *    past it is stopped ("Test terminated by timeout", with what it printed
 *    and its device commands so far) and the run goes on in a new worker;
 *  - SIGINT and SIGTERM: the results so far are written, marked incomplete,
 *    and the exit status is 128 + the signal's number, as a shell reports a
 *    program killed by it;
 *  - a stdout that fails (EPIPE, ENOSPC): the run ends with one line and
 *    the reports say why.
 * Without --bail the cases are shared out among threads, one per core (at
 * most MAX_JOBS; case i to thread i mod n): every case boots its own kernel
 * with the run's seed, so where it runs changes nothing, and this side
 * prints each case's lines only when every case before it has printed, so
 * the output is the one thread's, byte for byte.
 */
import { Worker, MessageChannel, receiveMessageOnPort, type MessagePort } from 'node:worker_threads';
import { writeFileSync } from 'node:fs';
import { availableParallelism, constants } from 'node:os';
import type { ChalkInstance } from 'chalk';
import { finishRun, runLine, timedOutCase, type CaseResult, type RunResult } from '../kselftest/harness.js';
import type { HarnessFilter } from '../kselftest/options.js';
import type { WorkerEvent, WorkerJob } from './smoke-worker.js';
import { type RunInfo, rerunCommand } from './run-info.js';
import { smokeReport } from './report.js';
import { junitXml } from './junit.js';
import { prettyCase, prettySummary, runningLine } from './pretty.js';
import { StdoutError, writeErr, writeOut } from './output.js';
import { UsageError } from './args.js';
import { MAX_JOBS, takePrestarted } from './smoke-prestart.js';

export interface SessionSettings {
  info: RunInfo;
  filters: HarnessFilter[];
  trace: boolean;
  traceSched: boolean;
  bail: boolean;
  pretty: boolean;
  /** Show a "running now" line (pretty format on a terminal). */
  live: boolean;
  chalkOut: ChalkInstance;
  chalkErr: ChalkInstance;
  reportPath?: string;
  junitPath?: string;
  /** Threads that run the cases (smokeJobs()). */
  jobs: number;
}


/** How many threads run the cases: HMM_TEST_JOBS (1 for one thread), else one per core, at most MAX_JOBS. */
export function smokeJobs(bail: boolean): number {
  if (bail) return 1; // the first failure must stop the cases after it, which another thread may have begun
  const text = process.env.HMM_TEST_JOBS;
  if (text !== undefined && text !== '') {
    if (!/^[1-9][0-9]?$/.test(text)) throw new UsageError(`HMM_TEST_JOBS="${text}" is not a thread count: give 1 to 99 (1: one thread), or leave it unset for one per core`);
    return Number(text);
  }
  return Math.max(1, Math.min(availableParallelism(), MAX_JOBS));
}

/** What ends a run early, for the reports and the exit status. */
interface Stop { why: string; exit: number }

export function runSmokeSession(s: SessionSettings): Promise<number> {
  return new Promise((resolve) => {
    const results: CaseResult[] = [];
    let planned = 0;
    let current: { name: string; index: number; t0: number; messages: string[]; commands: string[]; lane: Lane; ran: boolean; limitS: number } | undefined;
    /** One thread running a shard of the plan (case i goes to lane i mod jobs). */
    interface Lane { shard: number; worker: Worker | null; port: MessagePort | null; done: boolean }
    const lanes: Lane[] = [];
    const jobs = s.jobs;
    /** The plan index whose lines print now; a later case's events wait in `later` until it is the one. */
    let cursor = 0;
    const later = new Map<number, WorkerEvent[]>();
    let timer: NodeJS.Timeout | undefined;
    let liveShown = false;
    let over = false;

    const out = (l: string) => {
      if (liveShown) (writeOut('\r\x1b[2K'), liveShown = false);
      writeOut(`${l}\n`);
    };
    const err = (l: string) => {
      if (liveShown) (writeOut('\r\x1b[2K'), liveShown = false);
      writeErr(`${l}\n`);
    };

    const stopLane = (lane: Lane) => {
      if (lane.port) lane.port.removeAllListeners('message');
      if (lane.worker) {
        lane.worker.removeAllListeners();
        void lane.worker.terminate();
      }
      lane.worker = null;
      lane.port = null;
    };
    const stopWorkers = () => {
      clearTimeout(timer);
      lanes.forEach(stopLane);
    };

    /** Handle every event the threads have sent so far, without waiting. */
    const drain = () => {
      for (const lane of lanes) {
        for (let m = lane.port && receiveMessageOnPort(lane.port); m && !over; m = lane.port && receiveMessageOnPort(lane.port)) route(m.message as WorkerEvent, lane);
      }
    };

    /** An event in plan order: now if its case is the one printing (or it comes before any case), else when that case's turn comes. */
    const route = (ev: WorkerEvent, lane: Lane) => {
      if (over) return;
      if (ev.e === 'done' && jobs > 1) {
        lane.done = true;
        return allDone();
      }
      if (jobs === 1 || ev.e === 'crash' || ev.i <= cursor) return handle(ev, lane);
      const q = later.get(ev.i);
      if (q) q.push(ev);
      else later.set(ev.i, [ev]);
    };
    /** A case's time limit: its own TEST_F_TIMEOUT replaces the default, unless --timeout was given. */
    const caseLimitS = (ownS: number | undefined) => (ownS !== undefined && !s.info.timeoutOverride ? ownS : s.info.timeoutS);
    /** The case at `cursor` is over: the next one's waiting events print. */
    const advance = () => {
      cursor++;
      const q = later.get(cursor);
      later.delete(cursor);
      const lane = lanes[cursor % jobs];
      const verdict = q?.find((ev) => ev.e === 'case');
      const start = q?.find((ev) => ev.e === 'start');
      const limit = (start?.e === 'start' ? caseLimitS(start.timeoutS) : s.info.timeoutS) * 1000;
      if (q && verdict?.e === 'case' && limit > 0 && verdict.r.durationMs > limit) {
        // It ran past its limit while an earlier case was printing: stopped at the limit, as if it had been the one printing.
        handle(q.find((ev) => ev.e === 'start')!, lane);
        clearTimeout(timer);
        if (current) return timedOut(current, limit, false);
      }
      if (q) for (const ev of q) if (!over) handle(ev, lane);
      allDone();
    };
    const allDone = () => {
      if (over || jobs === 1 || cursor < planned || !lanes.every((l) => l.done)) return;
      try {
        finish(finishRun(tally(), s.pretty ? () => {} : out), null);
      } catch (e) {
        if (!(e instanceof StdoutError)) throw e;
        handle({ e: 'crash', message: e.message, i: cursor }, lanes[0]);
      }
    };

    const showCase = (r: CaseResult) => {
      if (s.pretty) for (const l of prettyCase(r, s.chalkOut)) out(l);
    };

    const handle = (ev: WorkerEvent, lane: Lane) => {
      if (over) return;
      try {
        switch (ev.e) {
          case 'out': {
            const plan = /^1\.\.(\d+)$/.exec(ev.l);
            if (plan) planned = Number(plan[1]);
            if (current && !current.ran && ev.l === runLine(current.name)) current.ran = true;
            if (!s.pretty) out(ev.l);
            break;
          }
          case 'err':
            current?.messages.push(ev.l);
            if (!s.pretty || /^(TRACE|SCHED) /.test(ev.l)) err(ev.l);
            break;
          case 'start':
            const limitS = caseLimitS(ev.timeoutS);
            current = { name: ev.name, index: ev.index, t0: ev.t, messages: [], commands: [], lane, ran: false, limitS };
            armTimer(ev.t, limitS);
            if (s.live) {
              writeOut(`\r\x1b[2K${runningLine(ev.name, ev.index, planned, s.chalkOut)}`);
              liveShown = true;
            }
            break;
          case 'cmd':
            if (current && current.commands.push(ev.l) > 8) current.commands.shift();
            break;
          case 'case':
            clearTimeout(timer);
            current = undefined;
            results.push(ev.r);
            showCase(ev.r);
            if (jobs > 1) advance();
            break;
          case 'done':
            finish(ev.result, null);
            break;
          case 'crash':
            err(`${s.chalkErr.red('hmm-test:')} the run itself failed: ${ev.message}`);
            finish(tally(), { why: `the run failed: ${ev.message}`, exit: 1 });
            break;
        }
      } catch (e) {
        if (!(e instanceof StdoutError)) throw e;
        const when = planned ? `after ${results.length} of ${planned} tests` : 'before its first test';
        const why = `stdout: ${e.code}: the run stopped ${when}`;
        writeErr(`${s.chalkErr.red('hmm-test:')} cannot write to stdout (${e.code}${e.code === 'EPIPE' ? ': the reader went away' : ''}); the run stopped ${when}\n`);
        // A C program writing into a closed pipe dies of SIGPIPE: the shell sees 128 + 13.
        finish(tally(), { why, exit: e.code === 'EPIPE' ? 128 + constants.signals.SIGPIPE : 1 }, true);
      }
    };

    const tally = (): RunResult => {
      const r: RunResult = { exitCode: 0, planned, pass: 0, fail: 0, skip: 0, results: [...results] };
      for (const x of results) r[x.status]++;
      r.exitCode = r.fail ? 1 : 0;
      return r;
    };

    /** The time limit of the case that prints now, counted from when its thread began it. */
    const armTimer = (t0: number, limitS: number) => {
      clearTimeout(timer);
      if (limitS > 0) timer = setTimeout(onTimeout, Math.max(0, limitS * 1000 - (Date.now() - t0)));
    };

    const onTimeout = () => {
      const stuck = current;
      drain();
      if (over || !stuck || current !== stuck) return;
      if (jobs === 1) stopWorkers();
      else (clearTimeout(timer), stopLane(stuck.lane));
      timedOut(stuck, Date.now() - stuck.t0, true);
    };

    /** The verdict of the printing case, stopped at its time limit; `restart`: its thread was stopped, a new one goes on. */
    const timedOut = (stuck: NonNullable<typeof current>, ms: number, restart: boolean) => {
      const t = timedOutCase(stuck.name, stuck.index + 1, stuck.messages, ms, stuck.limitS, s.trace ? [] : stuck.commands);
      try {
        if (!s.pretty) {
          // Stopped before its thread printed the RUN line, which the C parent prints before it forks.
          if (!stuck.ran) out(runLine(stuck.name));
          t.err.forEach(err);
          t.out.forEach(out);
        }
        current = undefined;
        results.push(t.result);
        showCase(t.result);
        const next = stuck.index + 1;
        if (next < planned && s.bail) {
          const r = tally();
          r.bailedOut = true;
          r.exitCode = 1;
          if (!s.pretty) out(`Bail out! ${stuck.name} failed (--bail): ${planned - next} of ${planned} tests not run`);
          finish(r, null);
        } else if (jobs > 1) {
          // The stuck thread's shard goes on in a new thread; the other threads never stopped.
          if (restart) start(stuck.lane, { next, prior: [] });
          advance();
        } else if (next < planned) {
          start(lanes[0], { next, prior: [...results] });
        } else {
          finish(finishRun(tally(), s.pretty ? () => {} : out), null);
        }
      } catch (e) {
        if (!(e instanceof StdoutError)) throw e;
        handle({ e: 'crash', message: e.message, i: cursor }, stuck.lane);
      }
    };

    const onSignal = (sig: 'SIGINT' | 'SIGTERM') => {
      drain();
      if (over) return;
      stopWorkers();
      const why = `interrupted by ${sig}${current ? ` during ${current.name}` : ''} after ${results.length} of ${planned} tests`;
      try {
        if (!s.pretty) out(`Bail out! ${why}`);
      } catch { /* stdout gone too: the reports still say it */ }
      finish(tally(), { why, exit: 128 + constants.signals[sig] });
    };
    const onInt = () => onSignal('SIGINT'), onTerm = () => onSignal('SIGTERM');
    process.on('SIGINT', onInt);
    process.on('SIGTERM', onTerm);

    function finish(result: RunResult, stop: Stop | null, quiet = false) {
      if (over) return;
      over = true;
      stopWorkers();
      process.off('SIGINT', onInt);
      process.off('SIGTERM', onTerm);
      let exit = stop?.exit ?? result.exitCode;
      const rerun = (name: string) => rerunCommand(s.info, name);
      try {
        if (!quiet && s.pretty) for (const l of prettySummary(result, s.chalkOut, rerun, stop?.why ?? null)) out(l);
      } catch (e) {
        if (!(e instanceof StdoutError)) throw e;
        exit = e.code === 'EPIPE' ? 128 + constants.signals.SIGPIPE : 1;
      }
      if (!s.pretty) for (const r of result.results) if (r.status === 'fail') err(`# rerun: ${rerun(r.name)}`);
      const save = (file: string | undefined, what: string, text: () => string) => {
        if (file === undefined) return;
        try {
          writeFileSync(file, text());
        } catch (e) {
          err(`${s.chalkErr.red('hmm-test:')} cannot write the ${what} to ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
          if (exit === 0) exit = 1;
        }
      };
      save(s.reportPath, 'report', () => smokeReport(s.info, result, stop?.why ?? null));
      save(s.junitPath, 'JUnit XML', () => junitXml(s.info, result, stop?.why ?? (result.bailedOut ? 'stopped at the first failure (--bail)' : null)));
      resolve(exit);
    }

    function start(lane: Lane, resume?: WorkerJob['resume']) {
      const channel = new MessageChannel();
      const port = channel.port2;
      const job: WorkerJob = {
        params: s.info.params, machine: s.info.machine, filters: s.filters, trace: s.trace, traceSched: s.traceSched,
        seed: s.info.seed, bail: s.bail, kernelName: s.info.kernelName, patches: s.info.patches, resume, port: channel.port1,
        shard: jobs > 1 ? { count: jobs, index: lane.shard } : undefined,
      };
      // A thread started with the process (smoke-prestart.ts) has loaded the model already: it gets the job as a message.
      let worker = takePrestarted();
      if (worker) worker.postMessage(job, [channel.port1]);
      else worker = new Worker(new URL('./smoke-worker.js', import.meta.url), { workerData: job, transferList: [channel.port1] });
      lane.worker = worker;
      lane.port = port;
      lane.done = false;
      port.on('message', (m: WorkerEvent) => route(m, lane));
      worker.on('error', (e) => {
        drain();
        handle({ e: 'crash', message: e instanceof Error ? `${e.name}: ${e.message}` : String(e), i: cursor }, lane);
      });
      worker.on('exit', (code) => {
        drain();
        if (!over && !lane.done) handle({ e: 'crash', message: `the suite's thread exited (${code}) before the run ended`, i: cursor }, lane);
      });
    }

    for (let shard = 0; shard < jobs; shard++) {
      const lane: Lane = { shard, worker: null, port: null, done: false };
      lanes.push(lane);
      start(lane);
    }
  });
}
