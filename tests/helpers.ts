// SPDX-License-Identifier: GPL-2.0-only
/* Shared bits of the project's tests: paths, running the smoke suite into arrays, a kernel with test_hmm loaded. */
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runSmoke, type SmokeOptions } from '../src/runner.js';
import type { RunResult } from '../src/kselftest/harness.js';
import { Kernel } from '../src/kernel-model/kernel.js';
import { Task } from '../src/kernel-model/task.js';
import { composeKernel, DEFAULT_KERNEL } from '../src/kernel-model/changes.js';
import { hmmDmirrorInit, type TestHmm, type TestHmmParams } from '../src/dmirror/test_hmm.js';
import * as U from '../src/dmirror/test_hmm_uapi.js';

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

/** A kernel of `profile` (with `patches`) booted, test_hmm loaded with `params`, and a task: where a driver unit test starts. */
export function bootDmirror(params: TestHmmParams = PRIVATE, profile: string = DEFAULT_KERNEL, patches: string[] = []): { k: Kernel; mod: TestHmm; task: Task } {
  const version = composeKernel(profile, patches);
  if ('error' in version) throw new Error(version.error);
  const k = new Kernel({ version });
  const { ret, mod } = hmmDmirrorInit(k, params);
  if (ret || !mod) throw new Error(`load failed ${ret}`);
  return { k, mod, task: new Task(k) };
}

/** One dmirror ioctl with a fresh command structure: its return and the structure after it. */
export function dmirrorCmd(task: Task, fd: number, req: number, fields: Partial<U.HmmDmirrorCmd>): { ret: number; c: U.HmmDmirrorCmd } {
  const c = { ...U.newHmmDmirrorCmd(), ...fields };
  return { ret: task.ioctl(fd, req, c), c };
}
