// SPDX-License-Identifier: GPL-2.0-only
/*
 * The hmm-tests programs a kernel profile can name as its suite
 * (KernelProfile.suite, kernel-model/changes.ts): each is one version of
 * tools/testing/selftests/mm/hmm-tests.c, ported, with the table of its
 * assertions' C lines. The runner asks the profile, never the version.
 */
import type { Harness } from '../kselftest/harness.js';
import type { COriginTable } from '../kselftest/c_origin.js';
import type { Libc } from './hmm-tests/libc.js';
import type { VariantSpec, HmmTestsBuild } from './hmm-tests/common.js';
import { registerHmmTests, HMM_TESTS_CASES } from './hmm-tests/index.js';
import { HMM_TESTS_C_LINES } from './hmm-tests/c_lines.js';
import { registerHmmTestsMainline, HMM_TESTS_MAINLINE_CASES } from './hmm-tests-mainline/index.js';
import { HMM_TESTS_MAINLINE_C_LINES } from './hmm-tests-mainline/c_lines.js';

export interface HmmTestsSuite {
  /** The name a profile gives (its `suite`). */
  readonly name: string;
  /** Which hmm-tests.c it is, for people. */
  readonly source: string;
  readonly cases: readonly string[];
  readonly cLines: COriginTable;
  register(h: Harness, libc: Libc, variants: VariantSpec[], build: HmmTestsBuild): void;
}

export const HMM_TESTS_SUITES: Record<string, HmmTestsSuite> = {
  '6.12': {
    name: '6.12', source: 'hmm-tests.c of Linux 6.12 (Debian linux-source-6.12)', cases: HMM_TESTS_CASES,
    cLines: HMM_TESTS_C_LINES, register: registerHmmTests,
  },
  mainline: {
    name: 'mainline', source: 'hmm-tests.c of torvalds/linux as stored (blob 0eaed89c, mid-2026)',
    cases: HMM_TESTS_MAINLINE_CASES, cLines: HMM_TESTS_MAINLINE_C_LINES, register: registerHmmTestsMainline,
  },
};

/** The suite of that name; an unknown name is a bug in the profile table. */
export function hmmTestsSuite(name: string): HmmTestsSuite {
  const s = HMM_TESTS_SUITES[name];
  if (s === undefined) throw new Error(`kernel profile names hmm-tests suite '${name}', which does not exist`);
  return s;
}
