// SPDX-License-Identifier: GPL-2.0-only
/*
 * hmm-test fuzz: a fixed-seed batch is deterministic and clean in private
 * and coherent mode; the known 6.12 dmirror_do_read() oops is classified
 * as such; broken mechanisms (a copy_page that copies nothing, an
 * MADV_DONTNEED that zaps nothing, a lost page reference) are caught and
 * minimised to short scenarios that still fail when replayed.
 */
import t, { type Test } from 'tap';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from './helpers.js';
import { fuzz, runFuzzScenario, type FuzzMode } from '../src/scenario/fuzz.js';
import { parseScenario } from '../src/scenario/parse.js';
import { runScenario } from '../src/scenario/run.js';
import type { BootedCase } from '../src/runner.js';

const PRIVATE: FuzzMode = { kind: 'private' };
const COHERENT: FuzzMode = { kind: 'coherent', spm0: 0x100000000, spm1: 0x140000000 };

/** A saved scenario replayed as `hmm-test run` does (no invariant hook): its failed checks. */
function replay(yaml: string, onKernel?: (c: BootedCase) => void): string[] {
  const failed: string[] = [];
  runScenario(parseScenario(yaml, 'min.yaml'), { line: () => {}, check: (c) => { if (!c.ok && !c.skip) failed.push(c.name); }, onKernel });
  return failed;
}

for (const [name, mode] of [['private', PRIVATE], ['coherent', COHERENT]] as const) {
  t.test(`a fixed-seed batch in ${name} mode completes, clean and deterministic`, (t) => {
    const a = fuzz(7, 12, mode), b = fuzz(7, 12, mode);
    const summary = (s: typeof a) => ({ ...s, actionMs: 0 });
    t.same(summary(a), summary(b), 'the same seed gives the same summary');
    t.equal(a.scenarios, 12);
    t.equal(a.passed + a.known, 12, 'every scenario passed or hit known 6.12 behaviour');
    t.same(a.failures.filter((f) => !f.known), [], 'no model failure');
    t.ok(a.actions >= 12 * 10 - 12 * 2, `${a.actions} actions ran`);
    t.not(JSON.stringify(fuzz(8, 12, mode)), JSON.stringify(a), 'another seed, other scenarios');
    t.end();
  });
}

t.test('the 6.12 dmirror_do_read() oops is known 6.12 behaviour, not a model failure', (t) => {
  const text = readFileSync(join(ROOT, 'scenarios/dmirror-do-read-oops-mprotect.yaml'), 'utf8').replace(/, expect: \{ report: \{ oops: dmirror_do_read \} \} \}/, ' }');
  const o = runFuzzScenario(text, 'x.yaml');
  t.equal(o.kind, 'report oops dmirror_do_read');
  t.equal(o.known, true);
  t.end();
});

/** A batch on a broken model: its failures, each checked to be minimised and to replay. */
function caught(t: Test, what: string, brk: (c: BootedCase) => void, kind: RegExp, count = 30): void {
  const s = fuzz(3, count, PRIVATE, { onKernel: brk });
  const model = s.failures.filter((f) => !f.known);
  t.ok(model.length > 0, `${what}: the fuzzer reports model failures (${model.length} of ${count})`);
  const f = model[0];
  t.match(f.kind, kind, `${what}: ${f.kind}: ${f.detail}`);
  t.ok(f.steps <= 8, `${what}: minimised to ${f.steps} actions`);
  t.ok(replay(f.yaml, brk).length > 0, `${what}: the minimised scenario fails when replayed with hmm-test run`);
  t.same(replay(f.yaml), [], `${what}: and passes on the unbroken model`);
  t.equal(runFuzzScenario(f.yaml, 'min.yaml', brk).kind, f.kind, `${what}: the same failure recurs`);
}

t.test('break it: broken mechanisms are caught and minimised', (t) => {
  caught(t, 'copy_page copies nothing', (c) => { c.k.arch.copyPage = () => {}; }, /^invariant data$/);
  caught(t, 'MADV_DONTNEED zaps nothing', (c) => { c.k.inject.zapPageRangeSingle = () => {}; }, /^invariant data$/);
  t.end();
});
