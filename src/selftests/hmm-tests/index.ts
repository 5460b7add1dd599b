// SPDX-License-Identifier: GPL-2.0-only
/*
 * hmm-tests, the cases in hmm-tests.c source order (within a fixture the
 * harness runs them in the order they are registered).
 */
import type { Harness } from '../../kselftest/harness.js';
import type { Libc } from './libc.js';
import { type VariantSpec, defineFixtures } from './common.js';
import { registerMigrateCases } from './migrate.js';
import { registerOpenClose, registerSnapshot } from './mirror.js';

export { PRIVATE_VARIANT, GENERIC_VARIANT, type VariantSpec } from './common.js';

export function registerHmmTests(h: Harness, libc: Libc, variants: VariantSpec[]): void {
  const env = defineFixtures(h, libc, variants);
  registerOpenClose(env);
  registerMigrateCases(env); // migrate, migrate_fault, migrate_multiple, migrate_ping_pong
  registerSnapshot(env);
}
