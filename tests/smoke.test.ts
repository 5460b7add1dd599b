// SPDX-License-Identifier: GPL-2.0-only
/*
 * End to end: the smoke suite in private and generic mode, its TAP output,
 * and the generic mode's trace (conformance.test.ts compares the private
 * trace with the real kernel's).
 */
import t from 'tap';
import { smoke, tracesByCase, PRIVATE, GENERIC } from './helpers.js';

const CASES = ['hmm.%s.open_close', 'hmm.%s.migrate', 'hmm.%s.migrate_fault', 'hmm.%s.migrate_multiple',
  'hmm.%s.migrate_ping_pong', 'hmm2.%s2.snapshot'];

for (const [mode, params, variant] of [['private', PRIVATE, 'hmm_device_private'], ['generic', GENERIC, 'hmm_device_generic']] as const) {
  t.test(`smoke in ${mode} mode passes every case`, (t) => {
    const { result, out, err } = smoke({ params });
    const names = CASES.map((c) => c.replace('%s2', variant.replace('hmm_', 'hmm2_')).replace('%s', variant));
    t.equal(result.exitCode, 0, err.join('\n'));
    t.same(result.results.map((r) => [r.name, r.status]), names.map((n) => [n, 'pass']));
    t.same(out.slice(0, 3), ['TAP version 13', '1..6', '# Starting 6 tests from 2 test cases.']);
    names.forEach((n, i) => {
      t.ok(out.includes(`#  RUN           ${n} ...`), `RUN line for ${n}`);
      t.ok(out.includes(`#            OK  ${n}`), `OK line for ${n}`);
      t.ok(out.includes(`ok ${i + 1} ${n}`), `result line for ${n}`);
    });
    t.same(out.slice(-2), ['# PASSED: 6 / 6 tests passed.', '# Totals: pass:6 fail:0 xfail:0 xpass:0 skip:0 error:0']);
    t.end();
  });
}

t.test('generic mode: GET_MEM_DEV_TYPE says GENERIC and the seed migrates back explicitly', (t) => {
  const { err } = smoke({ params: GENERIC, trace: true });
  const ours = tracesByCase(err);
  t.same(ours.get('hmm.hmm_device_generic.migrate_ping_pong'), [
    'TRACE MIGRATE_TO_DEV npages=1024 ret=0 cpages=1024 faults=0',
    'TRACE MIGRATE_TO_SYS npages=1024 ret=0 cpages=0 faults=0',
  ]);
  const mm = ours.get('hmm.hmm_device_generic.migrate_multiple')!;
  t.equal(mm[0], 'TRACE GET_MEM_DEV_TYPE npages=1 ret=0 cpages=0 faults=0');
  t.equal(mm.filter((l) => l.startsWith('TRACE MIGRATE_TO_SYS')).length, 10);
  t.end();
});
