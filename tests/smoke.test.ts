// SPDX-License-Identifier: GPL-2.0-only
/*
 * End to end: the smoke suite in private, generic and coherent mode, its TAP
 * output, and the generic mode's trace (conformance.test.ts compares the
 * private and coherent traces with the real kernel's).
 */
import t from 'tap';
import { smoke, tracesByCase, PRIVATE, GENERIC, COHERENT } from './helpers.js';
import { HMM_TESTS_CASES } from '../src/selftests/hmm-tests/index.js';
import { HostMemory } from '../src/kernel-model/page_data.js';

const HMM2 = new Set(['migrate_mixed', 'snapshot', 'double_map']);
/** The harness's order: fixture hmm then hmm2, variant by variant, cases in source order. */
function expectedNames(variants: string[], cases: readonly string[]): string[] {
  const names: string[] = [];
  for (const v of variants) for (const c of cases) if (!HMM2.has(c)) names.push(`hmm.${v}.${c}`);
  for (const v of variants) for (const c of cases) if (HMM2.has(c)) names.push(`hmm2.${v.replace('hmm_', 'hmm2_')}.${c}`);
  return names;
}

for (const [mode, params, variants, skipped] of [
  ['private', PRIVATE, ['hmm_device_private', 'hmm_device_coherent'], 'hmm_device_coherent'],
  ['generic', GENERIC, ['hmm_device_generic'], null],
  ['coherent', COHERENT, ['hmm_device_private', 'hmm_device_coherent'], null],
] as const) {
  t.test(`smoke in ${mode} mode: every case of every variant, in the harness's order`, (t) => {
    const hostMemory = new HostMemory();
    const { result, out, err } = smoke({ params, hostMemory });
    t.equal(HMM_TESTS_CASES.length, 30, "upstream's 29 cases and the seed's migrate_ping_pong");
    const names = expectedNames([...variants], HMM_TESTS_CASES);
    t.equal(result.exitCode, 0, err.join('\n'));
    t.same(result.results.map((r) => r.name), names);
    for (const r of result.results) {
      const skip = skipped !== null && r.name.includes(skipped.replace('hmm_', ''));
      t.equal(r.status, skip ? 'skip' : 'pass', r.name);
      if (skip) t.equal(r.reason, 'DEVICE_COHERENT not available');
    }
    const n = names.length, nskip = result.skip;
    t.same(out.slice(0, 3), ['TAP version 13', `1..${n}`, `# Starting ${n} tests from ${variants.length * 2} test cases.`]);
    names.forEach((name, i) => {
      t.ok(out.includes(`#  RUN           ${name} ...`), `RUN line for ${name}`);
      t.ok(out.includes(`#            OK  ${name}`), `OK line for ${name}`);
      t.ok(out.some((l) => l === `ok ${i + 1} ${name}` || l.startsWith(`ok ${i + 1} ${name} # SKIP `)), `result line for ${name}`);
    });
    t.same(out.slice(-2), [`# PASSED: ${n} / ${n} tests passed.`, `# Totals: pass:${n - nskip} fail:0 xfail:0 xpass:0 skip:${nskip} error:0`]);
    t.equal(hostMemory.pages.inUse, 0, 'every page slot the kernels took is back in the host memory');
    t.ok(hostMemory.pages.bytesReserved > 0, 'the cases shared one host memory');
    t.end();
  });
}

t.test('generic mode: GET_MEM_DEV_TYPE says GENERIC and the seed migrates back explicitly', (t) => {
  const { all } = smoke({ params: GENERIC, trace: true });
  const ours = tracesByCase(all);
  t.same(ours.get('hmm.hmm_device_generic.migrate_ping_pong'), [
    'TRACE GET_MEM_DEV_TYPE npages=1 ret=0 cpages=0 faults=0',
    'TRACE MIGRATE_TO_DEV npages=1024 ret=0 cpages=1024 faults=0',
    'TRACE MIGRATE_TO_SYS npages=1024 ret=0 cpages=0 faults=0',
  ]);
  const mm = ours.get('hmm.hmm_device_generic.migrate_multiple')!;
  t.equal(mm[0], 'TRACE GET_MEM_DEV_TYPE npages=1 ret=0 cpages=0 faults=0');
  t.equal(mm.filter((l) => l.startsWith('TRACE MIGRATE_TO_SYS')).length, 10);
  t.end();
});
