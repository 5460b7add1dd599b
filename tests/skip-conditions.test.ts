// SPDX-License-Identifier: GPL-2.0-only
/*
 * The huge-page and gup cases skip where upstream's do, with upstream's
 * reason: no free huge page (hugepages=0) makes anon_write_hugetlbfs skip
 * and compound return early (a pass, as in the C); a kernel without
 * CONFIG_GUP_TEST (no /sys/kernel/debug/gup_test) makes hmm_gup_test skip.
 */
import t from 'tap';
import { smoke, PRIVATE } from './helpers.js';
import { defaultMachine } from '../src/kernel-model/machine.js';
import { GUP_TEST_PATH } from '../src/kernel-model/gup_test.js';

const only = (names: string[]) => (_f: string, v: string, c: string) => v === 'hmm_device_private' && names.includes(c);

t.test('hugepages=0: anon_write_hugetlbfs skips, compound returns without a check', (t) => {
  const { result } = smoke({ params: PRIVATE, machine: { ...defaultMachine(), nrHugepages: 0 },
    filter: only(['anon_write_hugetlbfs', 'compound']) });
  const by = new Map(result.results.map((r) => [r.name.split('.')[2], r]));
  t.equal(by.get('anon_write_hugetlbfs')?.status, 'skip');
  t.equal(by.get('anon_write_hugetlbfs')?.reason, 'Huge page could not be allocated');
  t.equal(by.get('compound')?.status, 'pass');
  t.end();
});

t.test('no gup_test device: hmm_gup_test skips', (t) => {
  const { result } = smoke({ params: PRIVATE, filter: only(['hmm_gup_test']),
    onKernel: (k) => { k.chrdevs.delete(GUP_TEST_PATH); } });
  t.equal(result.results.length, 1);
  t.equal(result.results[0].status, 'skip');
  t.equal(result.results[0].reason, 'Skipping test, could not find gup_test driver');
  t.end();
});
