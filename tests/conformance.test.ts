// SPDX-License-Identifier: GPL-2.0-only
/*
 * Conformance with the real 6.12 kernel: every upstream case's TRACE lines
 * in the reference run (private, THP madvise) against ours, case by case.
 * Cases not ported yet are listed as such and not counted as matches;
 * anon_teardown races on the real kernel too, so only its presence counts.
 * Our seed-only GET_MEM_DEV_TYPE lines have no upstream counterpart.
 */
import t from 'tap';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { smoke, tracesByCase, PRIVATE, SHARED } from './helpers.js';

t.test('private mode: every ported upstream case traces like the real kernel', (t) => {
  const ref = tracesByCase(readFileSync(join(SHARED, 'reference', 'private.thp-madvise.trace.log'), 'utf8').split('\n'));
  const ours = tracesByCase(smoke({ params: PRIVATE, trace: true }).err);
  const upstream = [...ref.keys()].filter((n) => n.includes('_device_private.'));
  t.equal(upstream.length, 29, 'the reference has the 29 upstream private cases');
  const matched: string[] = [], missing: string[] = [], mismatched: string[] = [];
  for (const name of upstream) {
    const mine = ours.get(name);
    if (mine === undefined) { missing.push(name); continue; }
    const same = name.endsWith('.anon_teardown') ||
      JSON.stringify(mine.filter((l) => !l.startsWith('TRACE GET_MEM_DEV_TYPE'))) === JSON.stringify(ref.get(name));
    (same ? matched : mismatched).push(name);
    t.ok(same, `${name} traces like the real kernel`);
  }
  t.comment(`matched ${matched.length}: ${matched.join(', ')}`);
  t.comment(`not ported yet ${missing.length}: ${missing.map((n) => n.split('.').pop()).join(', ')}`);
  t.same(mismatched, [], 'no ported case differs');
  t.equal(matched.length, 5, 'open_close, migrate, migrate_fault, migrate_multiple, snapshot');
  // Every case we run that upstream has must be in the comparison.
  for (const name of ours.keys()) if (!name.endsWith('migrate_ping_pong')) t.ok(ref.has(name), `${name} exists upstream`);
  t.end();
});
