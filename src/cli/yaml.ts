// SPDX-License-Identifier: GPL-2.0-only
/*
 * The yaml package, loaded on first use: most runs neither read a --config
 * nor write a --report, and loading it costs a fresh process tens of ms.
 */
import { createRequire } from 'node:module';

export const yaml = (): typeof import('yaml') => createRequire(import.meta.url)('yaml') as typeof import('yaml');
