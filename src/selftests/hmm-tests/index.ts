// SPDX-License-Identifier: GPL-2.0-only
/*
 * hmm-tests: every case, registered in hmm-tests.c source order (6.12), so
 * that the harness numbers them as the real one does (within a fixture it
 * runs cases in registration order). The seed's migrate_ping_pong comes
 * last, where the seed appends it.
 */
import type { Harness } from '../../kselftest/harness.js';
import type { Libc } from './libc.js';
import { type VariantSpec, type HmmTestsBuild, defineFixtures } from './common.js';
import { anonCases } from './anon.js';
import { migrateCases } from './migrate.js';
import { mirrorCases } from './mirror.js';
import { forkCases } from './fork.js';
import { fileCases } from './file.js';
import { teardownCases } from './teardown.js';
import { hugeCases } from './huge.js';
import { exclusiveCases } from './exclusive.js';
import { gupCases } from './gup.js';

export { PRIVATE_VARIANT, COHERENT_VARIANT, GENERIC_VARIANT, PUBLIC_VARIANT, type VariantSpec, type HmmTestsBuild } from './common.js';

/** hmm-tests.c's TEST_F()s in source order (6.12), then the seed's. */
export const HMM_TESTS_CASES = [
  'open_close', 'anon_read', 'anon_read_prot', 'anon_write', 'anon_write_prot', 'anon_write_child',
  'anon_write_child_shared', 'anon_write_huge', 'anon_write_hugetlbfs', 'file_read', 'file_write', 'migrate',
  'migrate_file_private', 'migrate_fault', 'migrate_release', 'migrate_shared', 'migrate_mixed', 'migrate_multiple',
  'anon_read_multiple', 'anon_teardown', 'mixedmap', 'snapshot', 'compound', 'double_map', 'exclusive',
  'exclusive_mprotect', 'exclusive_cow', 'hmm_gup_test', 'hmm_cow_in_device', 'migrate_ping_pong',
] as const;

export function registerHmmTests(h: Harness, libc: Libc, variants: VariantSpec[], build: HmmTestsBuild): void {
  const env = defineFixtures(h, libc, variants, build);
  const cases: Record<string, () => void> = {
    ...anonCases(env), ...migrateCases(env), ...mirrorCases(env), ...forkCases(env), ...fileCases(env),
    ...teardownCases(env), ...hugeCases(env), ...exclusiveCases(env), ...gupCases(env),
  };
  for (const name of HMM_TESTS_CASES) {
    const register = cases[name];
    if (register === undefined) throw new Error(`hmm-tests: case ${name} is declared but has no port`);
    register();
  }
  const extra = Object.keys(cases).filter((c) => !(HMM_TESTS_CASES as readonly string[]).includes(c));
  if (extra.length) throw new Error(`hmm-tests: ${extra.join(', ')} ported but not in HMM_TESTS_CASES`);
}
