// SPDX-License-Identifier: GPL-2.0-only
/*
 * The suite on seed 004's DEVICE_PUBLIC devices (spm_type=public, `smoke
 * --public`): every case of the private and public variants passes, the
 * public variant's device commands are those of the coherent variant, and
 * breaking one PUBLIC mechanism fails exactly the cases that rely on it.
 */
import t from 'tap';
import { smoke, tracesByCase, COHERENT } from './helpers.js';
import { HMM_TESTS_CASES } from '../src/selftests/hmm-tests/index.js';

const PUBLIC = { ...COHERENT, spm_type: 'public' as const };
/** The cases that failed, as variant.case, once each. */
const failed = (r: ReturnType<typeof smoke>) => [...new Set(r.result.results.filter((c) => c.status === 'fail').map((c) => c.name.split('.').slice(1).join('.')))];

t.test('smoke --public: 60 cases, private and public variants, all pass', (t) => {
  const { result, out, err } = smoke({ params: PUBLIC });
  t.equal(result.exitCode, 0, err.join('\n'));
  t.equal(result.results.length, 2 * HMM_TESTS_CASES.length);
  t.same([...new Set(result.results.map((r) => r.name.split('.')[1].replace('hmm2_', 'hmm_')))], ['hmm_device_private', 'hmm_device_public']);
  t.ok(result.results.every((r) => r.status === 'pass'), result.results.filter((r) => r.status !== 'pass').map((r) => r.name).join(', '));
  t.same(out.slice(-1), ['# Totals: pass:60 fail:0 xfail:0 xpass:0 skip:0 error:0']);
  t.end();
});

t.test('the public variant issues the coherent variant\'s commands with the same results, case by case', (t) => {
  const coh = tracesByCase(smoke({ params: COHERENT, trace: true }).all);
  const pub = tracesByCase(smoke({ params: PUBLIC, trace: true }).all);
  let compared = 0;
  for (const [name, lines] of pub) {
    if (!name.includes('public')) continue;
    t.same(lines, coh.get(name.replace(/public/g, 'coherent')), name);
    compared++;
  }
  t.equal(compared, HMM_TESTS_CASES.length);
  t.end();
});

t.test('BROKEN: fork without seed 004\'s pte_devmap branch fails hmm_cow_in_device in the public variant only', (t) => {
  const r = smoke({ params: PUBLIC, onKernel: (k) => { k.inject.copyPteDevmap = () => 0; } });
  t.same(failed(r), ['hmm_device_public.hmm_cow_in_device']);
  t.ok(r.err.some((l) => l.includes('mapcount underflow')), 'the child\'s unmap underflows the mapcount');
  t.end();
});

t.test('BROKEN: PUBLIC pages freed at refcount 0 never come back: every public case that migrates fails', (t) => {
  const r = smoke({ params: PUBLIC, onKernel: (k) => { k.inject.zoneDeviceFreeRefcount = () => 0; } });
  const f = failed(r);
  t.ok(f.length > 0 && f.every((c) => c.includes('_public')), f.join(', '));
  for (const c of ['migrate', 'migrate_multiple', 'hmm_cow_in_device']) t.ok(f.includes(`hmm_device_public.${c}`), c);
  t.end();
});

t.test('BROKEN: a long-term pin left in PUBLIC memory fails hmm_gup_test in the public variant only', (t) => {
  const r = smoke({ params: PUBLIC, onKernel: (k) => { k.inject.checkAndMigrateMovablePages = () => 0; } });
  t.same(failed(r), ['hmm_device_public.hmm_gup_test']);
  t.ok(r.err.some((l) => /hmm_gup_test:Expected HMM_DMIRROR_PROT_WRITE \(2\) == m\[2\] \(66\)/.test(l)), 'page 2 is still COHERENT_LOCAL|WRITE');
  t.end();
});
