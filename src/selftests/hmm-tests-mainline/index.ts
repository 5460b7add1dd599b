// SPDX-License-Identifier: GPL-2.0-only
/*
 * hmm-tests of the newest stored tools/testing/selftests/mm/hmm-tests.c
 * (torvalds/linux, ../shared/upstream/README.md 1.1): its 38 TEST_F and
 * TEST_F_TIMEOUT in source order, then the seed's migrate_ping_pong, as the
 * 6.12 suite appends it. Cases whose bodies that file did not change are
 * 6.12's ports (../hmm-tests/); changed.ts, thp.ts, remap.ts and
 * benchmark.ts hold the rest. The fixtures and helpers are 6.12's: that
 * part of the C is unchanged but for HUGETLB_SETUP_DEFAULT_PAGES(1), which
 * reserves a huge page when the pool has none free (the model's pool is
 * the machine's, 16 pages by default, and is not resized: a machine with
 * hugepages 0 makes the hugetlb cases skip "Not enough huge pages").
 */
import type { Harness } from '../../kselftest/harness.js';
import type { Libc } from '../hmm-tests/libc.js';
import { type VariantSpec, type HmmTestsBuild, defineFixtures } from '../hmm-tests/common.js';
import { anonCases } from '../hmm-tests/anon.js';
import { migrateCases } from '../hmm-tests/migrate.js';
import { mirrorCases } from '../hmm-tests/mirror.js';
import { forkCases } from '../hmm-tests/fork.js';
import { fileCases } from '../hmm-tests/file.js';
import { teardownCases } from '../hmm-tests/teardown.js';
import { exclusiveCases } from '../hmm-tests/exclusive.js';
import { gupCases } from '../hmm-tests/gup.js';
import { changedCases } from './changed.js';
import { thpCases } from './thp.js';
import { remapCases } from './remap.js';
import { benchmarkCases } from './benchmark.js';

/** The newest hmm-tests.c's TEST_F()s in source order, then the seed's. */
export const HMM_TESTS_MAINLINE_CASES = [
  'open_close', 'anon_read', 'anon_read_prot', 'anon_write', 'anon_write_prot', 'anon_write_child',
  'anon_write_child_shared', 'anon_write_huge', 'anon_write_hugetlbfs', 'file_read', 'file_write', 'migrate',
  'migrate_file_private', 'migrate_fault', 'migrate_release', 'migrate_shared', 'migrate_mixed', 'migrate_multiple',
  'anon_read_multiple', 'anon_teardown', 'mixedmap', 'snapshot', 'compound', 'double_map', 'exclusive',
  'exclusive_mprotect', 'exclusive_cow', 'hmm_gup_test', 'hmm_cow_in_device', 'migrate_anon_huge_empty',
  'migrate_anon_huge_zero', 'migrate_anon_huge_free', 'migrate_anon_huge_fault', 'migrate_partial_unmap_fault',
  'migrate_remap_fault', 'migrate_anon_huge_err', 'migrate_anon_huge_zero_err', 'benchmark_thp_migration',
  'migrate_ping_pong',
] as const;

/** The cases this file ports itself: the rest are 6.12's, unchanged in the newest C. */
export const MAINLINE_OWN_CASES = ['anon_write_child', 'anon_write_huge', 'anon_write_hugetlbfs', 'compound',
  'hmm_cow_in_device', 'migrate_anon_huge_empty', 'migrate_anon_huge_zero', 'migrate_anon_huge_free',
  'migrate_anon_huge_fault', 'migrate_partial_unmap_fault', 'migrate_remap_fault', 'migrate_anon_huge_err',
  'migrate_anon_huge_zero_err', 'benchmark_thp_migration'] as const;

export function registerHmmTestsMainline(h: Harness, libc: Libc, variants: VariantSpec[], build: HmmTestsBuild): void {
  const env = defineFixtures(h, libc, variants, build);
  const shared: Record<string, () => void> = {
    ...anonCases(env), ...migrateCases(env), ...mirrorCases(env), ...forkCases(env), ...fileCases(env),
    ...teardownCases(env), ...exclusiveCases(env), ...gupCases(env),
  };
  const own: Record<string, () => void> = { ...changedCases(env), ...thpCases(env), ...remapCases(env), ...benchmarkCases(env) };
  const extra = Object.keys(own).filter((c) => !(MAINLINE_OWN_CASES as readonly string[]).includes(c));
  if (extra.length) throw new Error(`hmm-tests (mainline): ${extra.join(', ')} ported but not in MAINLINE_OWN_CASES`);
  for (const name of HMM_TESTS_MAINLINE_CASES) {
    const register = own[name] ?? shared[name];
    if (register === undefined) throw new Error(`hmm-tests (mainline): case ${name} is declared but has no port`);
    register();
  }
}
