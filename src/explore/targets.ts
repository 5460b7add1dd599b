// SPDX-License-Identifier: GPL-2.0-only
/*
 * What the explorer runs: one case of the suite, or a scenario file, each
 * schedule on a freshly booted kernel (runner.ts's bootCase(), as `smoke`
 * and `run` boot them) whose scheduler the explorer drives.
 *
 * The outcome of a run is what it observed with the schedule-dependent
 * noise taken out: for a case, its device commands' TRACE lines and
 * verdict; for a scenario, its observation lines per thread (the process's
 * in order, then each thread's, since how the threads' lines interleave is
 * the schedule itself), plus each expectation that failed. SCHED lines and
 * the clock are never part of it.
 */
import { runSmoke } from '../runner.js';
import type { TestHmm, TestHmmParams } from '../dmirror/test_hmm.js';
import type { KernelVersion } from '../kernel-model/changes.js';
import { HostMemory } from '../kernel-model/page_data.js';
import { HungTask, KernelBug } from '../kernel-model/bug.js';
import type { Kernel } from '../kernel-model/kernel.js';
import { ThreadBlocked } from '../kernel-model/sched.js';
import { runScenario } from '../scenario/run.js';
import type { Scenario } from '../scenario/scenario.js';
import { ScheduleTooLong, type BadKind, type Target, type TargetResult } from './explore.js';
import type { BootedCase } from '../runner.js';

/** A program that started no thread has nothing to interleave. */
export class NoThreads extends Error {}

/** In explore mode a hung task is a wait no thread could ever end: every thread blocked, a deadlock. */
const kindOf = (k: string): BadKind => (k === 'hang' ? 'deadlock' : k as BadKind);

export interface CaseTargetOptions {
  /** fixture.variant.test */
  name: string;
  params: TestHmmParams;
  kernel: KernelVersion;
  seed?: number;
  /** Called with each schedule's kernel and module once booted (tests break or watch the model through it). */
  onKernel?: (k: Kernel, mod: TestHmm) => void;
}

/** One case of the suite. */
export function caseTarget(o: CaseTargetOptions): Target {
  const [fixture, variant, test] = o.name.split('.');
  const hostMemory = new HostMemory();
  return {
    name: o.name,
    run(c, trace) {
      let kernel: Kernel | null = null;
      const outcome: string[] = [], log: string[] = [];
      if (trace) c.note = (l) => log.push(l);
      const r = runSmoke({
        params: o.params, kernel: o.kernel, seed: o.seed, hostMemory,
        out: () => {}, err: (l) => { if (trace) log.push(l); },
        trace, traceSched: trace,
        filter: (f, v, t) => f === fixture && v === variant && t === test,
        onKernel: (k, mod) => { kernel = k; k.sched.explorer = c; o.onKernel?.(k, mod); },
        onCommand: (l) => outcome.push(l),
      });
      if ((kernel as Kernel | null)?.sched.threadsCreated === 0) throw new NoThreads(`${o.name} starts no thread: nothing to interleave (explore a case that runs threads, e.g. anon_teardown, or a scenario with a thread: action)`);
      const cr = r.results[0];
      const problems = cr.failures.map((f) => ({ kind: kindOf(f.kind), message: f.message.split('\n')[0] }));
      outcome.push(`verdict ${cr.status}${problems.length ? ` (${problems.map((p) => p.message).join('; ')})` : ''}`);
      return { outcome, log, pass: cr.status !== 'fail', problems };
    },
  };
}

/** The observation lines of a scenario, the process's first, then each thread's (its `NAME: ` prefix kept). */
function perThread(lines: string[], threadNames: string[]): string[] {
  const mine = (l: string) => threadNames.find((n) => l.startsWith(`${n}: `)) ?? '';
  const out = lines.filter((l) => mine(l) === '');
  for (const n of threadNames) out.push(...lines.filter((l) => mine(l) === n));
  return out;
}

function threadNamesOf(sc: Scenario): string[] {
  const names: string[] = [];
  const walk = (steps: Scenario['steps']) => {
    for (const s of steps) {
      if (s.kind === 'thread') { names.push(s.name); walk(s.steps); }
      if (s.kind === 'fork') walk(s.steps);
    }
  };
  walk(sc.steps);
  return names;
}

/** A scenario file. */
export function scenarioTarget(sc: Scenario, onKernel?: (c: BootedCase) => void): Target {
  const hostMemory = new HostMemory();
  const names = threadNamesOf(sc);
  if (names.length === 0) throw new NoThreads(`${sc.file} starts no thread: nothing to interleave (add a thread: action, see the README's scenario reference)`);
  return {
    name: sc.file,
    run(c, trace): TargetResult {
      const lines: string[] = [], log: string[] = [];
      if (trace) c.note = (l) => log.push(l);
      const problems: TargetResult['problems'] = [];
      let kernel: Kernel | null = null;
      let failed = false;
      try {
        runScenario(sc, {
          line: (l) => { if (!l.startsWith('SCHED ')) lines.push(l); log.push(l); },
          check: (ch) => {
            const text = `${ch.ok ? 'ok' : 'not ok'} ${ch.name}${ch.detail ? ` # ${ch.detail}` : ''}`;
            log.push(text);
            if (ch.ok || ch.skip) return;
            failed = true;
            lines.push(`not ok ${ch.name}${ch.detail ? `: ${ch.detail}` : ''}`);
            if (!/ report | unload: /.test(ch.name)) problems.push({ kind: 'assertion', message: `${ch.name}: ${ch.detail ?? 'failed'}` });
          },
          hostMemory, trace, unpinned: true,
          onKernel: (b) => { kernel = b.k; b.k.sched.explorer = c; onKernel?.(b); },
        });
      } catch (e) {
        if (e instanceof ScheduleTooLong || e instanceof ThreadBlocked) {
          // The explorer stopped a schedule that would not end (its livelock problem says so), or abandoned it for a
          // blocked thread (it runs it again); the kernel stays as it is.
          (kernel as Kernel | null)?.poweroff();
          return { outcome: perThread(lines, names), log, pass: false, problems };
        }
        if (!(e instanceof HungTask || e instanceof KernelBug)) throw e;
        // A task blocked for good (or a BUG outside an action): the run ends there, as the process cannot exit.
        const first = e.message.split('\n')[0];
        lines.push(`REPORT ${e instanceof HungTask ? 'hang' : 'bug'} ${e.where}: ${first}`);
        log.push(...e.message.split('\n'));
        problems.push({ kind: e instanceof HungTask ? 'deadlock' : 'bug', message: first });
        failed = true;
        (kernel as Kernel | null)?.poweroff();
      }
      for (const l of lines) {
        const m = /^(?:\S+: )?REPORT (oops|bug|warn) /.exec(l);
        if (m) problems.push({ kind: m[1] as BadKind, message: l });
        if (l.startsWith('UNLOAD ')) problems.push({ kind: /WARNING/.test(l) ? 'warn' : /HANG/.test(l) ? 'deadlock' : 'leak', message: l });
      }
      return { outcome: perThread(lines, names), log, pass: !failed, problems };
    },
  };
}
