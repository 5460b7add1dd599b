// SPDX-License-Identifier: GPL-2.0-only
/*
 * What identifies a run, for the reports that keep it (--report YAML,
 * --junit <properties>) and for the commands that rerun a case: the tool's
 * version, the kernel profile modelled, the memory mode and types, the
 * seed, the harness filters, the configuration and the command line.
 */
import { createRequire } from 'node:module';
import { type TestHmmParams, memoryMode } from '../dmirror/test_hmm.js';
import type { MachineConfig } from '../kernel-model/machine.js';
import { DEFAULT_SEED } from '../kernel-model/random.js';
import { DEFAULT_KERNEL } from '../kernel-model/changes.js';
import type { HarnessFilter } from '../kselftest/options.js';

/** The package's version (package.json, which ships with it). */
export function toolVersion(): string {
  try {
    return (createRequire(import.meta.url)('../../../package.json') as { version: string }).version;
  } catch {
    return 'unknown';
  }
}


export type MemoryMode = 'private' | 'generic' | 'coherent' | 'public';

export const MEMORY_TYPES: Record<MemoryMode, string> = {
  private: 'DEVICE_PRIVATE',
  generic: 'DEVICE_GENERIC',
  coherent: 'DEVICE_PRIVATE + DEVICE_COHERENT',
  public: 'DEVICE_PRIVATE + DEVICE_PUBLIC',
};

export interface RunInfo {
  tool: string;
  version: string;
  /** What the reports call the kernel: the profile and its patches ("7.2", "6.12 + patch"). */
  kernel: string;
  /** --kernel (or the config's kernel:), the profile the cases boot. */
  kernelName: string;
  /** The patches on top of it, in the order given. */
  patches: string[];
  /** The kernel came from the --config file (a rerun with the same --config gets it). */
  kernelFromConfig: boolean;
  /** The --patch options as given (the config file's patches come back with --config). */
  patchArgs: string[];
  mode: MemoryMode;
  memoryType: string;
  seed: number;
  /** The harness filters in the order given, as typed ("-r hmm.hmm_device_private.migrate"). */
  filters: string[];
  /** --config FILE, when one was given. */
  configFile: string | null;
  /** The module parameters came from the --config file (not from the command line). */
  paramsFromConfig: boolean;
  params: TestHmmParams;
  machine: MachineConfig;
  /** The command line as typed, after the program name. */
  argv: string[];
  /** When the run started (ISO 8601). */
  started: string;
  /** --timeout in seconds (0: none). */
  timeoutS: number;
  /** --timeout was given: it replaces a case's own TEST_F_TIMEOUT too (as run_kselftest.sh --override-timeout). */
  timeoutOverride?: boolean;
  bail: boolean;
}

type RunInfoGiven = Omit<RunInfo, 'tool' | 'version' | 'kernel' | 'mode' | 'memoryType' | 'started' | 'seed' | 'filters' | 'kernelName' | 'patches' | 'kernelFromConfig' | 'patchArgs'>
  & { seed?: number; filters: HarnessFilter[]; kernelName?: string; patches?: string[]; kernelFromConfig?: boolean; patchArgs?: string[] };

export function runInfo(o: RunInfoGiven): RunInfo {
  const mode = memoryMode(o.params) as MemoryMode;
  const kernelName = o.kernelName ?? DEFAULT_KERNEL, patches = o.patches ?? [];
  return {
    ...o,
    kernelName,
    patches,
    kernelFromConfig: o.kernelFromConfig ?? false,
    patchArgs: o.patchArgs ?? [],
    tool: 'hmm-test',
    version: toolVersion(),
    kernel: [kernelName, ...patches].join(' + '),
    mode,
    memoryType: MEMORY_TYPES[mode],
    seed: o.seed ?? DEFAULT_SEED,
    filters: o.filters.map((f) => `-${f.opt} ${f.name}`),
    started: new Date().toISOString(),
  };
}

/** A word as a POSIX shell reads it back. */
export function shellWord(w: string): string {
  return /^[\w@%+=:,./-]+$/.test(w) ? w : `'${w.replace(/'/g, `'\\''`)}'`;
}

/** The command that reruns one case of this run, with its trace: same mode, machine and seed. */
export function rerunCommand(info: RunInfo, name: string): string {
  const words = ['hmm-test', 'smoke'];
  if (info.configFile !== null) words.push('--config', info.configFile);
  if (!info.paramsFromConfig && info.mode !== 'private') {
    if (info.mode === 'coherent') words.push('--coherent');
    if (info.mode === 'public') words.push('--public');
    words.push(`0x${info.params.spm_addr_dev0.toString(16)}`, `0x${info.params.spm_addr_dev1.toString(16)}`);
  }
  if (info.kernelName !== DEFAULT_KERNEL && !info.kernelFromConfig) words.push('--kernel', info.kernelName);
  for (const p of info.patchArgs) words.push('--patch', p);
  if (info.seed !== DEFAULT_SEED) words.push('--seed', String(info.seed));
  words.push('-r', name, '--trace');
  return words.map(shellWord).join(' ');
}
