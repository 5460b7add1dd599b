// SPDX-License-Identifier: GPL-2.0-only
import type { COriginTable } from '../../kselftest/c_origin.js';
export const HMM_TESTS_MAINLINE_C_LINES: COriginTable = {};
