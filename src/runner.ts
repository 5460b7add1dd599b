// SPDX-License-Identifier: GPL-2.0-only
/*
 * What scripts/test_hmm.sh does around the hmm-tests binary, for the
 * simulation: boot a kernel, load test_hmm with the module parameters, run
 * the cases, unload. Each case gets its own freshly booted Kernel (so cases
 * cannot leak into each other), its own process, and after the process has
 * exited and the module is unloaded, a check that every page came back.
 */
import { Harness, type RunResult, type CaseResult } from './kselftest/harness.js';
import { listTests } from './kselftest/options.js';
import { Kernel } from './kernel-model/kernel.js';
import type { KernelVersion } from './kernel-model/changes.js';
import { HostMemory } from './kernel-model/page_data.js';
import { KernelBug } from './kernel-model/bug.js';
import { type MachineConfig, defaultMachine, spmRanges, hex } from './kernel-model/machine.js';
import { Task } from './kernel-model/task.js';
import { gupTestInit } from './kernel-model/gup_test.js';
import { errname } from './kernel-model/errno.js';
import { type TestHmmParams, type TestHmm, hmmDmirrorInit, hmmDmirrorExit, memoryMode } from './dmirror/test_hmm.js';
import { Libc } from './selftests/hmm-tests/libc.js';
import { registerHmmTests, PRIVATE_VARIANT, COHERENT_VARIANT, GENERIC_VARIANT, type VariantSpec,
  type HmmTestsBuild } from './selftests/hmm-tests/index.js';

export interface SmokeOptions {
  params: TestHmmParams;
  machine?: MachineConfig;
  out: (line: string) => void;
  err: (line: string) => void;
  /** Write the TRACE line of every device command, and each RUN line, to err; and a SCHED line each time another thread runs. */
  trace?: boolean;
  /** Seeds each case's kernel: /dev/urandom and the scheduler's choices (kernel-model/sched.ts). Default DEFAULT_SEED. */
  seed?: number;
  filter?: (fixture: string, variant: string, test: string) => boolean;
  /** Called with each case's result as it finishes. */
  onCase?: (result: CaseResult) => void;
  /** The host memory the cases' kernels share (default: a new one per run); tests pass one to look at it afterwards. */
  hostMemory?: HostMemory;
  /** The kernel each case boots: a profile and patches (kernel-model/changes.ts). Default 6.12. */
  kernel?: KernelVersion;
  /** Called for each case after boot, module load and the test process's creation: tests use it to break or instrument the model. */
  onKernel?: (k: Kernel, mod: TestHmm, task: Task) => void;
}

/** modprobe test_hmm: the module or why it did not load (one line). */
function modprobeTestHmm(k: Kernel, params: TestHmmParams): { mod: TestHmm } | { error: string } {
  try {
    const { ret, mod } = hmmDmirrorInit(k, params);
    if (ret !== 0 || mod === null) {
      const why = k.warnings.at(-1) ?? k.log.at(-1) ?? '';
      return { error: `module init returned ${errname(ret)}${why ? ` (${why})` : ''}` };
    }
    return { mod };
  } catch (e) {
    if (e instanceof KernelBug) return { error: `the module oopsed while loading: ${e.message}` };
    throw e;
  }
}

/**
 * Check module parameters the way a user needs to hear about them: load the
 * module once on a scratch kernel of the same machine and explain a failure
 * in one line, with what would be right. Returns null when they are fine.
 */
export function checkModuleParams(params: TestHmmParams, machine: MachineConfig = defaultMachine()): string | null {
  const spm = spmRanges(machine).map((r) => `${hex(r.start)}-${hex(r.start + r.size - 1)}`).join(', ');
  const ranges = spm ? `this machine's special-purpose memory ranges are ${spm}` : 'this machine has no special-purpose memory';
  if (!!params.spm_addr_dev0 !== !!params.spm_addr_dev1) {
    return `spm_addr_dev0 and spm_addr_dev1 go together: give both (generic or coherent mode) or neither (private mode); ${ranges}`;
  }
  const k = new Kernel({ machine });
  const r = modprobeTestHmm(k, params);
  if ('mod' in r) {
    hmmDmirrorExit(r.mod);
    return null;
  }
  return `cannot load test_hmm with spm_addr_dev0=${hex(params.spm_addr_dev0)} spm_addr_dev1=${hex(params.spm_addr_dev1)}: ` +
    `${r.error}; ${memoryMode(params) === 'coherent' ? 'each address must start 256 MiB of the machine that is not System RAM, and the two ranges must not overlap' : 'each address must be the start of a special-purpose memory range, and the two must differ'}; ${ranges}`;
}

/**
 * The variants and the build of hmm-tests a configuration runs: 6.12's
 * program declares the private and coherent variants (the coherent ones
 * skip when devices 2 and 3 do not exist, as upstream); the seed's generic
 * mode runs the seed's program on its two GENERIC devices.
 */
function variantsFor(params: TestHmmParams): { variants: VariantSpec[]; build: HmmTestsBuild } {
  return memoryMode(params) === 'generic'
    ? { variants: [GENERIC_VARIANT], build: 'v5' }
    : { variants: [PRIVATE_VARIANT, COHERENT_VARIANT], build: '6.12' };
}

/** The harness with every case registered for this configuration, and the libc the cases use. */
function buildSuite(params: TestHmmParams, err: (line: string) => void): { h: Harness; libc: Libc } {
  const h = new Harness();
  const libc = new Libc();
  libc.stderr = err;
  const { variants, build } = variantsFor(params);
  registerHmmTests(h, libc, variants, build);
  return { h, libc };
}

/** The -l listing for this configuration (the C harness prints it on stderr). */
export function listSmoke(params: TestHmmParams): string[] {
  return listTests(buildSuite(params, () => {}).h);
}

/** A freshly booted kernel with test_hmm loaded and the test process created: what every case and scenario runs on. */
export interface BootedCase {
  k: Kernel;
  mod: TestHmm;
  task: Task;
}

export interface BootOptions {
  machine: MachineConfig;
  params: TestHmmParams;
  seed?: number;
  hostMemory?: HostMemory;
  /** The kernel: a profile and patches (kernel-model/changes.ts). Default 6.12. */
  version?: KernelVersion;
  /** Where the scheduler writes its SCHED lines (--trace), or null. */
  schedTrace?: ((line: string) => void) | null;
}

/** Boot, CONFIG_GUP_TEST, modprobe test_hmm, create the process. A module that does not load throws (checkModuleParams() explains it first). */
export function bootCase(o: BootOptions): BootedCase {
  const k = new Kernel({ machine: o.machine, seed: o.seed, hostMemory: o.hostMemory, version: o.version });
  if (o.schedTrace) k.sched.trace = o.schedTrace;
  gupTestInit(k); // CONFIG_GUP_TEST: /sys/kernel/debug/gup_test, as on the reference machine
  const r = modprobeTestHmm(k, o.params);
  if ('error' in r) throw new Error(`modprobe test_hmm: ${r.error}`);
  return { k, mod: r.mod, task: new Task(k) };
}

/**
 * The end of a case: the process and its orphans exit, test_hmm is
 * unloaded, and every page must be back. Returns the problems (leaks,
 * WARNs, an oops at exit or unload), one line each; powers the kernel off.
 */
export function shutdownCase(c: BootedCase, libc: Libc): string[] {
  const { k, mod, task } = c;
  const problems: string[] = [];
  try {
    libc.reapOrphans();
    task.exit();
    problems.push(...hmmDmirrorExit(mod));
  } catch (e) {
    if (!(e instanceof KernelBug)) throw e;
    problems.push(e.message);
  }
  if (k.pageAlloc.nrAllocated !== 0) {
    problems.push(`BUG: ${k.pageAlloc.nrAllocated} system page(s) still allocated after the process exited and test_hmm was unloaded (leaked)`);
  }
  if (k.vmallocd.size !== 0) {
    problems.push(`BUG: ${k.vmallocd.size} vmalloc()ed buffer(s) never vfree()d after the process exited and test_hmm was unloaded (leaked)`);
  }
  for (const w of k.warnings) if (!problems.includes(w)) problems.push(w);
  k.poweroff();
  return problems;
}

/** Run the smoke suite (test_hmm.sh smoke [spm0 spm1]) and return the harness's result. */
export function runSmoke(opts: SmokeOptions): RunResult {
  const machine = opts.machine ?? defaultMachine();
  const { h, libc } = buildSuite(opts.params, opts.err);
  // One machine, rebooted for each case: its host memory is reused (kernel-model/page_data.ts).
  const hostMemory = opts.hostMemory ?? new HostMemory();
  return h.run({
    out: opts.out,
    err: opts.err,
    filter: opts.filter,
    hooks: { afterCase: (_name, result) => opts.onCase?.(result) },
    caseContext: (name) => {
      let c: BootedCase | null = null;
      return {
        enter() {
          if (opts.trace) opts.err(`#  RUN           ${name} ...`);
          c = bootCase({ machine, params: opts.params, seed: opts.seed, hostMemory, version: opts.kernel, schedTrace: opts.trace ? opts.err : null });
          opts.onKernel?.(c.k, c.mod, c.task);
          libc.attach(c.task);
          libc.trace = opts.trace ? opts.err : null;
        },
        exit() {
          const problems = c === null ? [] : shutdownCase(c, libc);
          libc.attach(null);
          return problems;
        },
      };
    },
  });
}

