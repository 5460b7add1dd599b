// SPDX-License-Identifier: GPL-2.0-only
/*
 * Conformance with the real 6.12 kernel: every upstream case's TRACE lines
 * in the reference runs (private and coherent, THP madvise) against ours,
 * case by case. A case not ported would be listed as such and not counted
 * as a match (none is left); anon_teardown races on the real kernel too, so only its verdict
 * counts there. Verdicts (ok / not ok / skip) are compared for every case.
 */
import t from 'tap';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { smoke, tracesByCase, PRIVATE, COHERENT, SHARED } from './helpers.js';

/** The verdict of each case in a TAP log: pass, fail or skip. */
function verdicts(lines: string[]): Map<string, string> {
  const m = new Map<string, string>();
  for (const l of lines) {
    const r = /^(not )?ok \d+ (\S+)( # SKIP)?/.exec(l);
    if (r) m.set(r[2], r[1] ? 'fail' : r[3] ? 'skip' : 'pass');
  }
  return m;
}

for (const [mode, params, total] of [['private', PRIVATE, 58], ['coherent', COHERENT, 58]] as const) {
  t.test(`${mode} mode: every ported upstream case traces like the real kernel`, (t) => {
    const refLines = readFileSync(join(SHARED, 'reference', `${mode}.thp-madvise.trace.log`), 'utf8').split('\n');
    const ref = tracesByCase(refLines);
    const refVerdicts = verdicts(refLines);
    const run = smoke({ params, trace: true });
    const ours = tracesByCase(run.all);
    const ourVerdicts = new Map(run.result.results.map((r) => [r.name, r.status]));
    const upstream = [...refVerdicts.keys()];
    t.equal(upstream.length, total, `the reference has ${total} upstream tests`);
    const matched: string[] = [], missing: string[] = [], mismatched: string[] = [];
    for (const name of upstream) {
      const mine = ours.get(name);
      if (mine === undefined || !ourVerdicts.has(name)) { missing.push(name); continue; }
      t.equal(ourVerdicts.get(name), refVerdicts.get(name), `${name}: the real kernel's verdict`);
      const same = name.endsWith('.anon_teardown') || JSON.stringify(mine) === JSON.stringify(ref.get(name) ?? []);
      (same ? matched : mismatched).push(name);
      t.ok(same, `${name} traces like the real kernel`);
    }
    t.comment(`${mode}: matched ${matched.length} of ${upstream.length}`);
    t.comment(`${mode}: not ported yet ${missing.length}: ${[...new Set(missing.map((n) => n.split('.').pop()))].join(', ')}`);
    t.same(mismatched, [], 'no ported case differs');
    t.same(missing, [], 'every upstream case is ported');
    t.equal(matched.length, total, 'every upstream test traces like the real kernel');
    // Every case we run that upstream has must be in the comparison.
    for (const name of ours.keys()) if (!name.endsWith('migrate_ping_pong')) t.ok(refVerdicts.has(name), `${name} exists upstream`);
    t.end();
  });
}
