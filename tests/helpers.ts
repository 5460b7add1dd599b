// SPDX-License-Identifier: GPL-2.0-only
/* Shared bits of the project's tests: paths, and running the smoke suite into arrays. */
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runSmoke, type SmokeOptions } from '../src/runner.js';
import type { RunResult } from '../src/kselftest/harness.js';

/** The repository root (tests run compiled, from dist/tests/). */
export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
/** ../shared beside the checkout: the seeds and the real kernel's reference logs. */
export const SHARED = join(ROOT, '..', 'shared');

export const PRIVATE = { spm_addr_dev0: 0, spm_addr_dev1: 0 };
export const GENERIC = { spm_addr_dev0: 0x100000000, spm_addr_dev1: 0x140000000 };
/** 6.12's coherent devices on the reference run's addresses (256 MiB each, inside the default machine's first SPM range). */
export const COHERENT = { spm_addr_dev0: 0x100000000, spm_addr_dev1: 0x110000000, spm_type: 'coherent' as const };

/** `all`: stdout and stderr in the order written, as `2>&1` shows them. */
export interface Captured { result: RunResult; out: string[]; err: string[]; all: string[] }

export function smoke(opts: Partial<SmokeOptions> & Pick<SmokeOptions, 'params'>): Captured {
  const out: string[] = [], err: string[] = [], all: string[] = [];
  const result = runSmoke({ out: (l) => (out.push(l), all.push(l)), err: (l) => (err.push(l), all.push(l)), ...opts });
  return { result, out, err, all };
}

/** TRACE lines per case from a log where each case starts with "#  RUN           <name> ...". */
export function tracesByCase(lines: string[]): Map<string, string[]> {
  const m = new Map<string, string[]>();
  let cur: string[] | null = null;
  for (const l of lines) {
    const run = /^#  RUN {11}(\S+) \.\.\.$/.exec(l);
    if (run) {
      cur = [];
      m.set(run[1], cur);
    } else if (cur && l.startsWith('TRACE ')) {
      cur.push(l);
    }
  }
  return m;
}
