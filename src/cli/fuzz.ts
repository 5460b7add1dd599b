// SPDX-License-Identifier: GPL-2.0-only
/*
 * `hmm-test fuzz`: a batch of random scenarios (src/scenario/fuzz.ts) on
 * the model, each failure minimised and saved as a scenario file that
 * `hmm-test run` replays; or, with --emit-c, the batch as scenario files
 * and C programs for a real kernel, not run.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fuzz, generate, scenarioText, failureLine, type FuzzMode } from '../scenario/fuzz.js';
import { parseScenario } from '../scenario/parse.js';
import { emitC } from '../scenario/emit_c.js';
import { UsageError } from './args.js';

export interface FuzzCommandOptions {
  seed: number;
  count: number;
  mode: FuzzMode;
  out: string;
  emitC: boolean;
  /** Walk the device free lists after each scenario's last action. */
  deep?: boolean;
  say: (l: string) => void;
}

function outDir(dir: string): void {
  try {
    mkdirSync(dir, { recursive: true });
  } catch (e) {
    throw new UsageError(`cannot create the --out directory ${dir}: ${(e as Error).message}; give a writable directory`);
  }
}

/** The exit status: 1 when a model failure was found, 0 otherwise (known 6.12 behaviour is not a failure). */
export function fuzzCommand(o: FuzzCommandOptions): number {
  const tag = o.mode.kind === 'private' ? 'private' : o.mode.kind;
  if (o.emitC) {
    outDir(o.out);
    for (let i = 0; i < o.count; i++) {
      const base = join(o.out, `fuzz-${o.seed}-${i}`);
      const text = scenarioText(generate(o.seed, i, o.mode), o.mode, `fuzz seed ${o.seed} #${i}`);
      writeFileSync(`${base}.yaml`, text);
      writeFileSync(`${base}.c`, emitC(parseScenario(text, `${base}.yaml`)));
    }
    o.say(`wrote ${o.count} scenarios and their C programs to ${o.out}/fuzz-${o.seed}-*.{yaml,c}`);
    return 0;
  }
  const t0 = performance.now();
  const s = fuzz(o.seed, o.count, o.mode, { deep: o.deep });
  const ms = performance.now() - t0;
  let model = 0;
  if (s.failures.length) outDir(o.out);
  for (const f of s.failures) {
    const file = join(o.out, `fuzz-${o.seed}-${f.index}.yaml`);
    writeFileSync(file, f.yaml);
    if (!f.known) model++;
    o.say(failureLine(f, file));
  }
  o.say(`fuzz seed ${o.seed} ${tag}: ${s.scenarios} scenarios, ${s.actions} actions: ${s.passed} passed, ` +
    `${s.known} known 6.12 behaviour, ${model} model failure(s) (${Math.round(s.actions / (ms / 1000))} actions/s)`);
  return model ? 1 : 0;
}
