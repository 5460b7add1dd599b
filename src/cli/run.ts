// SPDX-License-Identifier: GPL-2.0-only
/*
 * hmm-test run FILE...: each scenario on a freshly booted simulated kernel
 * with test_hmm loaded as its config says. stdout carries the observation
 * lines (TRACE, DATA, SIGNAL, EXIT, REPORT, and MAP with --show pages) and
 * the expectations as TAP ok / not ok lines, numbered across the files,
 * the plan last. Every file is read and checked before anything runs: a
 * bad one is one line (file:line:column: what was found, what was
 * expected) and exit status 1, bad usage as for smoke (KSFT_FAIL).
 */
import { readFileSync } from 'node:fs';
import { parseScenario } from '../scenario/parse.js';
import { runScenario, type ScenarioResult, type Check } from '../scenario/run.js';
import { PAGE_LEGEND } from '../scenario/pagemap.js';
import { emitC } from '../scenario/emit_c.js';
import { ScenarioError, fmtPos, type Scenario } from '../scenario/scenario.js';
import { checkModuleParams } from '../runner.js';
import { HostMemory } from '../kernel-model/page_data.js';
import type { RunResult, CaseResult, FailureKind } from '../kselftest/harness.js';
import { UsageError, parseSeed } from './args.js';
import { writeOut } from './output.js';
import { composeKernel } from '../kernel-model/changes.js';

export interface RunCommandOptions {
  show?: string;
  trace?: boolean;
  seed?: string;
  report?: string;
  junit?: string;
  emitC?: boolean;
  /** --patch NAME..., added to every scenario's config.patches. */
  patch?: string[];
}

/** Read and check every file; the first bad one is a UsageError with its position. */
export function loadScenarios(files: string[], seed?: number, patches: readonly string[] = []): Scenario[] {
  if (files.length === 0) throw new UsageError('run needs at least one scenario file: hmm-test run scenarios/*.yaml');
  return files.map((f) => {
    let text: string;
    try {
      text = readFileSync(f, 'utf8');
    } catch (e) {
      throw new UsageError(`cannot read ${f}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}; give the path of a scenario file (YAML)`);
    }
    let sc: Scenario;
    try {
      sc = parseScenario(text, f);
    } catch (e) {
      if (e instanceof ScenarioError) throw new UsageError(e.message);
      throw e;
    }
    if (seed !== undefined) sc.config.seed = seed;
    if (patches.length) {
      const v = composeKernel(sc.config.kernel, [...sc.config.patches, ...patches]);
      if ('error' in v) throw new UsageError(`--patch: ${f}: ${v.error}`);
      sc.config.patches = [...sc.config.patches, ...patches];
    }
    const problem = checkModuleParams(sc.config.params, sc.config.machine);
    if (problem !== null) throw new UsageError(`${fmtPos(sc.config.pos)}: config.module: ${problem}`);
    return sc;
  });
}

/** The scenarios as the harness's RunResult, one case per scenario, so --report and --junit read them as they read smoke's. */
export function scenariosRunResult(results: ScenarioResult[]): RunResult {
  const cases: CaseResult[] = results.map((r) => {
    const failed = r.checks.filter((c) => !c.ok);
    return {
      name: `scenarios.${r.file.replace(/^.*\//, '').replace(/\.ya?ml$/, '').replace(/\./g, '_')}`,
      status: failed.length ? 'fail' : 'pass',
      messages: failed.map((c) => `${c.name}: ${c.detail ?? 'failed'}`),
      failures: failed.map((c) => ({ kind: scenarioFailureKind(c), message: `${c.name}: ${c.detail ?? 'failed'}` })),
      durationMs: r.durationMs,
    };
  });
  const fail = cases.filter((c) => c.status === 'fail').length;
  return { exitCode: fail ? 1 : 0, planned: cases.length, pass: cases.length - fail, fail, skip: 0, results: cases };
}

/** A failed check's kind: what the unload check finds is a leak or a report left behind; an expectation is an assertion. */
function scenarioFailureKind(c: Check): FailureKind {
  return /unload/.test(c.name) ? 'leak' : 'assertion';
}

export function tapLine(n: number, c: Check): string[] {
  const head = `${c.ok ? 'ok' : 'not ok'} ${n} - ${c.name}`;
  if (c.skip) return [`${head} # SKIP ${c.detail ?? ''}`];
  return c.ok || c.detail === null ? [head] : [head, `#   ${c.detail}`];
}

/** Run the scenarios, writing to `say`; returns the results and the exit status (0 every check passed, 1 one failed). */
export function runScenarios(scenarios: Scenario[], opts: { say: (l: string) => void; showPages?: boolean; trace?: boolean }): { results: ScenarioResult[]; exitCode: 0 | 1 } {
  const { say } = opts;
  const hostMemory = new HostMemory();
  let n = 0, failed = 0;
  say('TAP version 13');
  if (opts.showPages) PAGE_LEGEND.forEach((l) => say(`# ${l}`));
  const results: ScenarioResult[] = [];
  for (const sc of scenarios) {
    const cfg = sc.config, p = cfg.params;
    const mode = p.spm_addr_dev0 ? `${p.spm_type ?? 'generic'} devices` : 'private devices';
    say(`# scenario ${sc.file}: ${sc.name} (kernel ${[cfg.kernel, ...cfg.patches].join(' + ')}, ${mode}, THP ${cfg.machine.transparentHugepage ?? 'madvise'}, seed ${cfg.seed ?? 1})`);
    results.push(runScenario(sc, {
      line: say,
      check: (c) => {
        n++;
        if (!c.ok) failed++;
        tapLine(n, c).forEach(say);
      },
      showPages: opts.showPages,
      trace: opts.trace,
      hostMemory,
    }));
  }
  say(`1..${n}`);
  say(`# ${failed ? 'FAILED' : 'PASSED'}: ${n - failed} / ${n} checks passed in ${scenarios.length} scenario(s)`);
  return { results, exitCode: failed ? 1 : 0 };
}

/** The subcommand's action: parse the options, run, write the report files; sets the exit status. */
export function runCommand(files: string[], opts: RunCommandOptions, save: (file: string, what: string, text: () => string) => void,
  reports: { report: (r: RunResult, sc: ScenarioResult[]) => string; junit: (r: RunResult, sc: ScenarioResult[]) => string }): number {
  if (opts.show !== undefined && opts.show !== 'pages') throw new UsageError(`--show ${opts.show}: the only picture is pages (--show pages)`);
  const seed = opts.seed === undefined ? undefined : parseSeed(opts.seed);
  const scenarios = loadScenarios(files, seed, opts.patch ?? []);
  if (opts.emitC) {
    if (scenarios.length !== 1) throw new UsageError(`--emit-c writes one program: give one scenario file, not ${scenarios.length}`);
    if (opts.show || opts.report || opts.junit) throw new UsageError('--emit-c only writes the C program: leave out --show, --report and --junit');
    writeOut(emitC(scenarios[0]));
    return 0;
  }
  const { results, exitCode } = runScenarios(scenarios, { say: (l) => writeOut(`${l}\n`), showPages: opts.show === 'pages', trace: opts.trace });
  const rr = scenariosRunResult(results);
  if (opts.report) save(opts.report, 'report', () => reports.report(rr, results));
  if (opts.junit) save(opts.junit, 'JUnit XML', () => reports.junit(rr, results));
  return exitCode;
}
