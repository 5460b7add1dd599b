// SPDX-License-Identifier: GPL-2.0-only
/*
 * hmm-test explore CASE|SCENARIO: every interleaving of the program's
 * threads up to --max-preemptions (src/explore/explore.ts), or with
 * --schedule ID one schedule replayed with its full trace. The report: the
 * space explored and its bounds, schedules a second, each distinct outcome
 * with its count and a schedule that reaches it, each distinct line with
 * the same, the bad schedules, and a kselftest-style totals line. Exit
 * status 1 when a schedule failed (an oops, BUG, WARN, deadlock, livelock,
 * leak or a failed expectation) or on bad usage.
 */
import { existsSync } from 'node:fs';
import { explore, replay, parseScheduleId, BadScheduleId, type ExploreReport, type Target, type Outcome } from '../explore/explore.js';
import { caseTarget, scenarioTarget, NoThreads } from '../explore/targets.js';
import { declaredSmoke } from '../runner.js';
import { composeKernel, DEFAULT_KERNEL } from '../kernel-model/changes.js';
import type { TestHmmParams } from '../dmirror/test_hmm.js';
import { UsageError, parseSeed } from './args.js';
import { loadScenarios } from './run.js';

export interface ExploreCommandOptions {
  maxPreemptions?: string;
  maxSchedules?: string;
  maxTime?: string;
  maxSteps?: string;
  schedule?: string;
  patch: string[];
  kernel?: string;
  seed?: string;
  say: (line: string) => void;
  progress?: (line: string) => void;
}

const PRIVATE: TestHmmParams = { spm_addr_dev0: 0, spm_addr_dev1: 0 };

function count(text: string | undefined, what: string, dflt: number, min: number, max: number): number {
  if (text === undefined) return dflt;
  if (!/^\d{1,9}$/.test(text) || Number(text) < min || Number(text) > max) throw new UsageError(`${what} "${text}" is not a count: give an integer from ${min} to ${max}`);
  return Number(text);
}

/** The case a name means: a test name (the private variant) or fixture.variant.test. */
function resolveCase(name: string): string {
  const declared = declaredSmoke(PRIVATE);
  const full = declared.flatMap((f) => f.variants.flatMap((v) => f.tests.map((t) => `${f.fixture}.${v}.${t}`)));
  if (full.includes(name)) return name;
  const hit = full.find((n) => n.endsWith(`.hmm_device_private.${name}`));
  if (hit !== undefined) return hit;
  const tests = [...new Set(declared.flatMap((f) => f.tests))];
  throw new UsageError(`unknown case "${name}": give a scenario file (.yaml) or a case of the suite (${tests.slice(0, 6).join(', ')}, ...; hmm-test smoke -l lists them), e.g. anon_teardown`);
}

function makeTarget(what: string, o: ExploreCommandOptions): Target {
  if (/\.ya?ml$/.test(what) || existsSync(what)) {
    const [sc] = loadScenarios([what], o.seed === undefined ? undefined : parseSeed(o.seed), o.patch);
    if (o.kernel !== undefined) throw new UsageError('--kernel is for a case; a scenario names its kernel in config.kernel');
    return scenarioTarget(sc);
  }
  const kernel = composeKernel(o.kernel ?? DEFAULT_KERNEL, o.patch);
  if ('error' in kernel) throw new UsageError(`${o.patch.length ? '--patch' : '--kernel'}: ${kernel.error}`);
  return caseTarget({ name: resolveCase(what), params: PRIVATE, kernel, seed: o.seed === undefined ? undefined : parseSeed(o.seed) });
}

/** Equal neighbours as one line with a count. */
function collapse(lines: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < lines.length;) {
    let j = i;
    while (j < lines.length && lines[j] === lines[i]) j++;
    out.push(j - i > 1 ? `${lines[i]}  (x${j - i})` : lines[i]);
    i = j;
  }
  return out;
}

export function exploreCommand(what: string, o: ExploreCommandOptions): number {
  const maxSteps = count(o.maxSteps, '--max-steps', 10000, 10, 1e7);
  let target: Target;
  try {
    target = makeTarget(what, o);
  } catch (e) {
    if (e instanceof NoThreads) throw new UsageError(e.message);
    throw e;
  }
  const say = o.say;
  if (o.schedule !== undefined) {
    const choices = parseScheduleId(o.schedule);
    if ('error' in choices) throw new UsageError(choices.error);
    let r: ReturnType<typeof replay>;
    try {
      r = replay(target, choices, maxSteps);
    } catch (e) {
      if (e instanceof BadScheduleId) throw new UsageError(`--schedule ${o.schedule} does not fit ${what}: ${e.message}; give an ID that hmm-test explore printed for it`);
      if (e instanceof NoThreads) throw new UsageError(e.message);
      throw e;
    }
    for (const l of r.result.log) say(l);
    say(`# schedule ${r.id}: ${r.preemptions} preemption(s), ${r.decisions} decisions`);
    for (const l of r.result.outcome) say(`# outcome: ${l}`);
    for (const p of r.result.problems) say(`# ${p.kind}: ${p.message}`);
    say(r.result.pass ? `ok 1 ${target.name} schedule ${r.id}` : `not ok 1 ${target.name} schedule ${r.id}`);
    return r.result.pass ? 0 : 1;
  }
  const opts = {
    maxPreemptions: count(o.maxPreemptions, '--max-preemptions', 2, 0, 1000),
    maxSchedules: count(o.maxSchedules, '--max-schedules', 100000, 1, 1e9),
    maxTimeMs: count(o.maxTime, '--max-time', 600, 1, 1e6) * 1000,
    maxSteps,
    onSchedule: o.progress ? (n: number) => { if (n % 500 === 0) o.progress!(`# ${n} schedules ...`); } : undefined,
  };
  let rep: ExploreReport;
  try {
    rep = explore(target, opts);
  } catch (e) {
    if (e instanceof NoThreads) throw new UsageError(e.message);
    throw e;
  }
  printReport(rep, what, opts.maxPreemptions, say);
  return rep.outcomes.some((x) => !x.pass) ? 1 : 0;
}

function printReport(rep: ExploreReport, what: string, maxPreemptions: number, say: (l: string) => void): void {
  const replayCmd = (id: string) => `hmm-test explore ${what} --schedule ${id}`;
  say(`# explore ${rep.target}: every schedule with at most ${maxPreemptions} preemption(s)`);
  say(`# space: ${rep.byPreemptions.map((n, b) => `${n} with ${b} preemption(s)`).join(', ')}; ${rep.schedules} schedules, ` +
    `${rep.pruned} more cut as reorderings of ones run (sleep sets), up to ${rep.maxDecisions} decisions each`);
  if (rep.blockedReruns || rep.blockedCut) {
    say(`# blocked threads: ${rep.blockedReruns} run(s) done again with a thread waiting for a lock main held at its point, ` +
      `${rep.blockedCut} branch(es) cut that chose a thread blocked there`);
  }
  const s = rep.ms / 1000;
  say(`# ${rep.schedules + rep.pruned} runs in ${s.toFixed(1)} s: ${((rep.schedules + rep.pruned) / Math.max(s, 1e-3)).toFixed(1)} schedules/s`);
  if (rep.hit !== null) say(`# bound hit: ${rep.hit} stopped the run; complete up to ${rep.completeBound < 0 ? 'no bound' : `${rep.completeBound} preemption(s)`}`);
  else if (rep.beyondBound > 0) say(`# bound hit: --max-preemptions ${maxPreemptions}; ${rep.beyondBound} schedule prefix(es) with one more preemption not run`);
  else say(`# the whole space: no schedule needs more than ${rep.completeBound < 0 ? 0 : rep.byPreemptions.length - 1} preemption(s)`);
  const sorted = [...rep.outcomes].sort((a, b) => b.count - a.count);
  sorted.forEach((oc, i) => printOutcome(oc, i + 1, replayCmd, say));
  // The lines some schedules have and others not: what the schedule decides (e.g. a READ's return value).
  const varying = rep.lines.filter((l) => l.count < rep.schedules && !l.line.startsWith('verdict '));
  say(varying.length ? '# lines not every schedule has, in how many schedules each appears:' : '# every schedule has the same lines');
  for (const l of varying) say(`#   ${l.count} x ${l.line}  (${replayCmd(l.id)})`);
  const bad = sorted.filter((x) => !x.pass);
  if (bad.length === 0) say('# bad schedules: none');
  for (const oc of bad) {
    const kinds = [...new Set(oc.problems.map((p) => p.kind))].join(', ');
    say(`# bad: ${oc.count} schedule(s) ${kinds}: ${oc.problems[0]?.message ?? 'a failed expectation'}`);
    say(`#   ${oc.ids.join(' ')}${oc.count > oc.ids.length ? ` and ${oc.count - oc.ids.length} more` : ''}`);
  }
  const failed = bad.reduce((n, x) => n + x.count, 0);
  say(`${failed === 0 ? 'ok' : 'not ok'} 1 explore ${rep.target}`);
  say(`# Totals: schedules:${rep.schedules} outcomes:${rep.outcomes.length} pass:${rep.schedules - failed} fail:${failed} pruned:${rep.pruned}`);
}

function printOutcome(oc: Outcome, n: number, replayCmd: (id: string) => string, say: (l: string) => void): void {
  const verdict = oc.pass ? 'pass' : `FAIL (${[...new Set(oc.problems.map((p) => p.kind))].join(', ')})`;
  say(`outcome ${n}: ${oc.count} schedule(s), ${verdict}; e.g. ${replayCmd(oc.id)} (${oc.preemptions} preemption(s))`);
  for (const l of collapse(oc.lines)) say(`  ${l}`);
}
