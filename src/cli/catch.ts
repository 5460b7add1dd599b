// SPDX-License-Identifier: GPL-2.0-only
/*
 * hmm-test catch: what a reviewer asks of a test suite — which of the
 * known patches (kernel-model/changes.ts: the historical and proposed ones
 * no profile carries) would it catch? The suite (its private and coherent
 * variants: `smoke --coherent`, every case of 6.12's hmm-tests.c) and the
 * scenario files run once on the plain kernel and once per patch; a case or
 * scenario catches a patch when its verdict (pass, fail, skip) differs.
 *
 * The matrix is computed by catchMatrix() from any runner, so its logic is
 * also tested with runners that return made-up verdicts (tests/patches.test.ts).
 */
import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type KernelVersion, composeKernel, kernelChanges, kernelProfiles } from '../kernel-model/changes.js';
import { runSmoke } from '../runner.js';
import { runScenario } from '../scenario/run.js';
import type { Scenario } from '../scenario/scenario.js';
import { HostMemory } from '../kernel-model/page_data.js';
import type { TestHmmParams } from '../dmirror/test_hmm.js';
import { loadScenarios } from './run.js';
import { UsageError } from './args.js';

/** Verdict by case or scenario name: pass, fail or skip. */
export type Verdicts = Map<string, string>;

export interface CatchHit {
  name: string;
  plain: string;
  patched: string;
}

export type CatchRow =
  | { patch: string; applicable: true; caught: CatchHit[] }
  | { patch: string; applicable: false; why: string };

/**
 * The matrix: for each patch, every name whose verdict with the patch
 * differs from the plain run's. `run` returns the verdicts of one run on
 * the kernel plus these patches, or why the patch does not apply.
 */
export function catchMatrix(patches: readonly string[], run: (patches: readonly string[]) => Verdicts | { error: string }): CatchRow[] {
  const plain = run([]);
  if ('error' in plain) throw new Error(`the plain kernel does not compose: ${plain.error}`);
  return patches.map((patch): CatchRow => {
    const v = run([patch]);
    if ('error' in v) return { patch, applicable: false, why: v.error };
    const caught: CatchHit[] = [];
    for (const [name, verdict] of plain) {
      const patched = v.get(name) ?? 'missing';
      if (patched !== verdict) caught.push({ name, plain: verdict, patched });
    }
    for (const [name, patched] of v) if (!plain.has(name)) caught.push({ name, plain: 'missing', patched });
    return { patch, applicable: true, caught };
  });
}

/** The patches of the registry: the changes no profile carries. */
export function registeredPatches(): string[] {
  return kernelChanges().filter((c) => !kernelProfiles().some((p) => p.changes.includes(c))).map((c) => c.name);
}

/** The SPM ranges of the default machine, as `smoke --coherent` gets them in the README. */
const COHERENT: TestHmmParams = { spm_addr_dev0: 0x100000000, spm_addr_dev1: 0x140000000, spm_type: 'coherent' };

/** One run of the suite's private and coherent variants: each case's status. */
export function suiteVerdicts(kernel: KernelVersion, hostMemory: HostMemory): Verdicts {
  const r = runSmoke({ params: COHERENT, out: () => {}, err: () => {}, kernel, hostMemory });
  return new Map(r.results.map((c) => [c.name, c.status]));
}

/**
 * One run of each scenario with the patches added to its own config's. A
 * scenario whose config already has a patch, or to whose kernel it does not
 * apply, keeps its plain verdict: the patch changes nothing there.
 */
export function scenarioVerdicts(scenarios: readonly Scenario[], patches: readonly string[], hostMemory: HostMemory,
  plain?: Verdicts): Verdicts {
  const out: Verdicts = new Map();
  for (const sc of scenarios) {
    const name = `scenario ${sc.file.replace(/^.*\//, '')}`;
    const all = [...sc.config.patches, ...patches];
    if (patches.length && (patches.some((p) => sc.config.patches.includes(p)) || 'error' in composeKernel(sc.config.kernel, all))) {
      out.set(name, plain?.get(name) ?? 'n/a');
      continue;
    }
    let failed = false;
    runScenario({ ...sc, config: { ...sc.config, patches: all } }, { line: () => {}, check: (c) => { if (!c.ok) failed = true; }, hostMemory });
    out.set(name, failed ? 'fail' : 'pass');
  }
  return out;
}

/** scenarios/*.yaml of the package. */
export function exampleScenarios(): string[] {
  const dir = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'scenarios');
  return readdirSync(dir).filter((f) => f.endsWith('.yaml')).sort().map((f) => join(dir, f));
}

export interface CatchOptions {
  kernel?: string;
  patch?: string[];
  say: (line: string) => void;
  /** A line as each run starts (stderr at the command line). */
  progress?: (line: string) => void;
}

/** The subcommand: compute and print the matrix. Returns the exit status (0; 2 comes as a UsageError). */
export function catchCommand(files: string[], opts: CatchOptions): number {
  const profile = opts.kernel ?? '6.12';
  const base = composeKernel(profile);
  if ('error' in base) throw new UsageError(`--kernel: ${base.error}`);
  const patches = opts.patch?.length ? opts.patch : registeredPatches();
  for (const p of patches) {
    if (!kernelChanges().some((c) => c.name === p)) {
      throw new UsageError(`--patch: unknown patch '${p}'; the patches are ${registeredPatches().join(', ')}`);
    }
  }
  const scenarios = loadScenarios(files.length ? files : exampleScenarios());
  const hostMemory = new HostMemory();
  let plainScenarios: Verdicts | undefined;
  const rows = catchMatrix(patches, (ps) => {
    const v = composeKernel(profile, ps);
    if ('error' in v) return v;
    opts.progress?.(`# running kernel ${v.label}`);
    const sv = scenarioVerdicts(scenarios, ps, hostMemory, plainScenarios);
    if (ps.length === 0) plainScenarios = sv;
    return new Map([...suiteVerdicts(v, hostMemory), ...sv]);
  });
  formatMatrix(rows, profile, scenarios.length).forEach((l) => opts.say(l));
  return 0;
}

/** The matrix as text: one block per patch, what catches it (plain verdict -> patched verdict). */
export function formatMatrix(rows: readonly CatchRow[], profile: string, nScenarios: number): string[] {
  const out = [`hmm-test catch: kernel ${profile}, the suite's private and coherent variants and ${nScenarios} scenario(s)`];
  const width = Math.max(...rows.map((r) => r.patch.length));
  for (const r of rows) {
    if (!r.applicable) {
      out.push(`${r.patch.padEnd(width)}  not applicable: ${r.why}`);
      continue;
    }
    const cases = r.caught.filter((h) => !h.name.startsWith('scenario ')).length;
    out.push(`${r.patch.padEnd(width)}  caught by ${r.caught.length ? `${cases} case(s) and ${r.caught.length - cases} scenario(s)` : 'nothing'}`);
    for (const h of r.caught) out.push(`${''.padEnd(width)}    ${h.name}  ${h.plain} -> ${h.patched}`);
  }
  return out;
}
