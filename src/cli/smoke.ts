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
 */
import { Worker, MessageChannel, receiveMessageOnPort, type MessagePort } from 'node:worker_threads';
import { writeFileSync } from 'node:fs';
import { constants } from 'node:os';
import type { ChalkInstance } from 'chalk';
import { finishRun, timedOutCase, type CaseResult, type RunResult } from '../kselftest/harness.js';
import type { HarnessFilter } from '../kselftest/options.js';
import type { WorkerEvent, WorkerJob } from './smoke-worker.js';
import { type RunInfo, rerunCommand } from './run-info.js';
import { smokeReport } from './report.js';
import { junitXml } from './junit.js';
import { prettyCase, prettySummary, runningLine } from './pretty.js';
import { StdoutError, writeErr, writeOut } from './output.js';

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
}

/** What ends a run early, for the reports and the exit status. */
interface Stop { why: string; exit: number }

export function runSmokeSession(s: SessionSettings): Promise<number> {
  return new Promise((resolve) => {
    const results: CaseResult[] = [];
    let planned = 0;
    let current: { name: string; index: number; t0: number; messages: string[]; commands: string[]; limitS: number } | undefined;
    let worker: Worker | null = null, port: MessagePort | null = null;
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

    const stopWorker = () => {
      clearTimeout(timer);
      if (port) port.removeAllListeners('message');
      if (worker) {
        worker.removeAllListeners();
        void worker.terminate();
      }
      worker = null;
      port = null;
    };

    /** Handle every event the worker has sent so far, without waiting. */
    const drain = () => {
      for (let m = port && receiveMessageOnPort(port); m && !over; m = port && receiveMessageOnPort(port)) handle(m.message as WorkerEvent);
    };

    const showCase = (r: CaseResult) => {
      if (s.pretty) for (const l of prettyCase(r, s.chalkOut)) out(l);
    };

    const handle = (ev: WorkerEvent) => {
      if (over) return;
      try {
        switch (ev.e) {
          case 'out': {
            const plan = /^1\.\.(\d+)$/.exec(ev.l);
            if (plan) planned = Number(plan[1]);
            if (!s.pretty) out(ev.l);
            break;
          }
          case 'err':
            current?.messages.push(ev.l);
            if (!s.pretty || /^(TRACE|SCHED) /.test(ev.l)) err(ev.l);
            break;
          case 'start':
            // A case's own TEST_F_TIMEOUT replaces the default, unless --timeout was given.
            const limitS = ev.timeoutS !== undefined && !s.info.timeoutOverride ? ev.timeoutS : s.info.timeoutS;
            current = { name: ev.name, index: ev.index, t0: Date.now(), messages: [], commands: [], limitS };
            armTimer(limitS);
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

    const armTimer = (limitS: number) => {
      clearTimeout(timer);
      if (limitS > 0) timer = setTimeout(onTimeout, limitS * 1000);
    };

    const onTimeout = () => {
      const stuck = current;
      drain();
      if (over || !stuck || current !== stuck) return;
      stopWorker();
      const t = timedOutCase(stuck.name, stuck.index + 1, stuck.messages, Date.now() - stuck.t0, stuck.limitS, s.trace ? [] : stuck.commands);
      try {
        if (!s.pretty) {
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
        } else if (next < planned) {
          start({ next, prior: [...results] });
        } else {
          finish(finishRun(tally(), s.pretty ? () => {} : out), null);
        }
      } catch (e) {
        if (!(e instanceof StdoutError)) throw e;
        handle({ e: 'crash', message: e.message });
      }
    };

    const onSignal = (sig: 'SIGINT' | 'SIGTERM') => {
      drain();
      if (over) return;
      stopWorker();
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
      stopWorker();
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

    function start(resume?: WorkerJob['resume']) {
      const channel = new MessageChannel();
      port = channel.port2;
      const job: WorkerJob = {
        params: s.info.params, machine: s.info.machine, filters: s.filters, trace: s.trace, traceSched: s.traceSched,
        seed: s.info.seed, bail: s.bail, kernelName: s.info.kernelName, patches: s.info.patches, resume, port: channel.port1,
      };
      worker = new Worker(new URL('./smoke-worker.js', import.meta.url), { workerData: job, transferList: [channel.port1] });
      port.on('message', (m: WorkerEvent) => handle(m));
      worker.on('error', (e) => {
        drain();
        handle({ e: 'crash', message: e instanceof Error ? `${e.name}: ${e.message}` : String(e) });
      });
      worker.on('exit', (code) => {
        drain();
        if (!over) handle({ e: 'crash', message: `the suite's thread exited (${code}) before the run ended` });
      });
    }

    start();
  });
}
