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
import { declaredSmoke, checkModuleParams } from '../runner.js';
import { composeKernel, DEFAULT_KERNEL, type KernelVersion } from '../kernel-model/changes.js';
import { memoryMode, type TestHmmParams } from '../dmirror/test_hmm.js';
import { defaultMachine, hex } from '../kernel-model/machine.js';
import { UsageError, paramsFromArgs, parseSeed } from './args.js';
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
  /** spm_addr_dev0 spm_addr_dev1, as `smoke` takes them: none (private devices) or two */
  spm?: string[];
  coherent?: boolean;
  public?: boolean;
  say: (line: string) => void;
  progress?: (line: string) => void;
}

function count(text: string | undefined, what: string, dflt: number, min: number, max: number): number {
  if (text === undefined) return dflt;
  if (!/^\d{1,9}$/.test(text) || Number(text) < min || Number(text) > max) throw new UsageError(`${what} "${text}" is not a count: give an integer from ${min} to ${max}`);
  return Number(text);
}

/** What the command line must say for a variant's devices (hmm_device_KIND). */
function devicesArgs(kind: string): string {
  if (kind === 'private') return 'no SPM address';
  if (kind === 'generic') return 'two SPM addresses (hmm-test explore CASE <spm_addr_dev0> <spm_addr_dev1>)';
  return `--${kind} and two SPM addresses (hmm-test explore CASE --${kind} <spm_addr_dev0> <spm_addr_dev1>)`;
}

/** The module parameters from the addresses and --coherent/--public, checked as `smoke` checks them. */
function moduleParams(o: ExploreCommandOptions): TestHmmParams {
  const spm = o.spm ?? [];
  if (spm.length !== 0 && spm.length !== 2) throw new UsageError(`explore takes no address (private devices) or two (spm_addr_dev0 spm_addr_dev1), not ${spm.length}`);
  if (o.coherent && o.public) throw new UsageError('--coherent and --public both choose what devices 2 and 3 are: give one');
  const flag = o.public ? '--public' : '--coherent';
  if ((o.coherent || o.public) && spm.length === 0) {
    throw new UsageError(`${flag} needs the two SPM addresses the ${flag.slice(2)} devices use: hmm-test explore CASE ${flag} <spm_addr_dev0> <spm_addr_dev1>`);
  }
  const params = paramsFromArgs(spm[0], spm[1], o.public ? 'public' : o.coherent ? 'coherent' : 'generic');
  const machine = defaultMachine(), limit = 2 ** machine.physBits;
  for (const [n, a] of [['spm_addr_dev0', params.spm_addr_dev0], ['spm_addr_dev1', params.spm_addr_dev1]] as const) {
    if (a >= limit) throw new UsageError(`${n}=${hex(a)} is beyond the machine's ${machine.physBits} physical address bits (below ${hex(limit)}); give an address inside it`);
  }
  const problem = checkModuleParams(params, machine);
  if (problem !== null) throw new UsageError(problem);
  return params;
}

/**
 * The case a name means: fixture.variant.test, or a test name in the
 * variant of the devices the command line gives (hmm_device_private
 * without addresses, _coherent with --coherent, _public with --public,
 * _generic with two addresses alone).
 */
function resolveCase(name: string, params: TestHmmParams, kernel: KernelVersion): string {
  const declared = declaredSmoke(params, kernel);
  const full = declared.flatMap((f) => f.variants.flatMap((v) => f.tests.map((t) => `${f.fixture}.${v}.${t}`)));
  const kind = memoryMode(params);
  const m = /^[^.]+\.[^.]+_device_([a-z]+)\.([^.]+)$/.exec(name);
  // 6.12's program declares its coherent variant with private devices too, where every case of it skips.
  if (full.includes(name) && (m === null || m[1] === 'private' || m[1] === kind)) return name;
  if (m !== null && declared.some((f) => f.tests.includes(m[2]))) {
    throw new UsageError(`${name} is not a case of the ${kind} devices the command line gives: its ${m[1]} devices need ${devicesArgs(m[1])}`);
  }
  const hit = full.find((n) => n.endsWith(`_device_${kind}.${name}`));
  if (hit !== undefined) return hit;
  const tests = [...new Set(declared.flatMap((f) => f.tests))];
  throw new UsageError(`unknown case "${name}": give a scenario file (.yaml) or a case of the suite (${tests.slice(0, 6).join(', ')}, ...; hmm-test smoke -l lists them), e.g. anon_teardown`);
}

function makeTarget(what: string, o: ExploreCommandOptions): Target {
  if (/\.ya?ml$/.test(what) || existsSync(what)) {
    if ((o.spm ?? []).length || o.coherent || o.public) {
      throw new UsageError(`${what} is a scenario: its devices are its config's module: { spm_addr_dev0, spm_addr_dev1, spm_type }; SPM addresses, --coherent and --public are for a case`);
    }
    if (o.kernel !== undefined) throw new UsageError('--kernel is for a case; a scenario names its kernel in config.kernel');
    const [sc] = loadScenarios([what], o.seed === undefined ? undefined : parseSeed(o.seed), o.patch);
    return scenarioTarget(sc);
  }
  const kernel = composeKernel(o.kernel ?? DEFAULT_KERNEL, o.patch);
  if ('error' in kernel) throw new UsageError(`${o.patch.length ? '--patch' : '--kernel'}: ${kernel.error}`);
  const params = moduleParams(o);
  return caseTarget({ name: resolveCase(what, params, kernel), params, kernel, seed: o.seed === undefined ? undefined : parseSeed(o.seed) });
}

/** The command line that explores the same program again (for a schedule's replay command). */
function sameProgram(what: string, o: ExploreCommandOptions): string {
  const args = [what];
  if (o.coherent) args.push('--coherent');
  if (o.public) args.push('--public');
  args.push(...o.spm ?? []);
  if (o.kernel !== undefined) args.push('--kernel', o.kernel);
  for (const p of o.patch) args.push('--patch', p);
  if (o.seed !== undefined) args.push('--seed', o.seed);
  return args.join(' ');
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
      if (e instanceof BadScheduleId) throw new UsageError(`--schedule ${o.schedule} does not fit ${sameProgram(what, o)}: ${e.message}; give an ID that hmm-test explore printed for it`);
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
  printReport(rep, sameProgram(what, o), opts.maxPreemptions, say);
  return rep.outcomes.some((x) => !x.pass) ? 1 : 0;
}

function printReport(rep: ExploreReport, program: string, maxPreemptions: number, say: (l: string) => void): void {
  const replayCmd = (id: string) => `hmm-test explore ${program} --schedule ${id}`;
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
