// SPDX-License-Identifier: GPL-2.0-only
/*
 * What scripts/test_hmm.sh does around the hmm-tests binary, for the
 * simulation: boot a kernel, load test_hmm with the module parameters, run
 * the cases, unload. Each case gets its own freshly booted Kernel (so cases
 * cannot leak into each other), its own process, and after the process has
 * exited and the module is unloaded, a check that every page came back.
 */
import { Harness, type RunResult, type CaseResult, type CaseFailure, type FailureKind } from './kselftest/harness.js';
import type { Provenance } from './kselftest/assert.js';
import { listTests } from './kselftest/options.js';
import { Kernel } from './kernel-model/kernel.js';
import type { KernelVersion } from './kernel-model/changes.js';
import { HostMemory } from './kernel-model/page_data.js';
import { HungTask, KernelBug, FatalSignal } from './kernel-model/bug.js';
import { type MachineConfig, defaultMachine, spmRanges, hex } from './kernel-model/machine.js';
import { Task } from './kernel-model/task.js';
import { gupTestInit } from './kernel-model/gup_test.js';
import { errname } from './kernel-model/errno.js';
import { type TestHmmParams, type TestHmm, hmmDmirrorInit, hmmDmirrorExit, memoryMode } from './dmirror/test_hmm.js';
import { Libc } from './selftests/hmm-tests/libc.js';
import { PRIVATE_VARIANT, COHERENT_VARIANT, GENERIC_VARIANT, PUBLIC_VARIANT, type VariantSpec,
  type HmmTestsBuild } from './selftests/hmm-tests/index.js';
import { type HmmTestsSuite, hmmTestsSuite } from './selftests/suites.js';
import { kernelProfile } from './kernel-model/changes.js';

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
  /** Called before each case's RUN line with its name, 0-based place in the plan and its own TEST_F_TIMEOUT (if any). */
  onCaseStart?: (name: string, index: number, timeoutS?: number) => void;
  /** Also write the scheduler's SCHED lines to err (with `trace`). */
  traceSched?: boolean;
  /** Stop after the first failed case. */
  bail?: boolean;
  /** Called with each device command's TRACE line, traced or not (the CLI keeps them for a case it stops). */
  onCommand?: (line: string) => void;
  /** Go on with a run begun elsewhere (see RunOptions.resume). */
  resume?: { next: number; prior: CaseResult[] };
  /** Run one shard of the plan (RunOptions.shard): the CLI's threads. */
  shard?: { count: number; index: number };
}

/** How many of a case's last device commands a failure shows. */
const TRACE_TAIL = 8;

/** ASSERT/EXPECT failures name their line in the suite's hmm-tests.c and errno values. */
function provenance(suite: HmmTestsSuite): Provenance {
  return {
    cFile: 'hmm-tests.c',
    table: suite.cLines,
    errnoName: (v) => { const n = errname(v); return n.startsWith('-E') ? n.slice(1) : undefined; },
  };
}

/**
 * The hmm-tests a run executes: the one its kernel profile names; the
 * seed's generic mode always runs the seed's program (the 6.12 suite's v5
 * build).
 */
export function suiteFor(params: TestHmmParams, kernel?: KernelVersion): HmmTestsSuite {
  if (memoryMode(params) === 'generic' || kernel === undefined) return hmmTestsSuite('6.12');
  return hmmTestsSuite(kernelProfile(kernel).suite);
}

/*
 * The failure kind of what a case threw, from the error's class: kernel
 * reports by their kind (KernelBug's 'BUG' and 'Oops', HungTask's hang),
 * a fatal signal to the test process.
 */
const KERNEL_REPORT_KINDS: Record<string, FailureKind> = { BUG: 'bug', Oops: 'oops' };

export function classifyFailure(e: unknown): FailureKind | undefined {
  if (e instanceof HungTask) return 'hang';
  if (e instanceof KernelBug) return KERNEL_REPORT_KINDS[e.kind] ?? 'bug';
  if (e instanceof FatalSignal) return 'signal';
  return undefined;
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
    if (e instanceof KernelBug) return { error: `the module oopsed while loading: ${e.summary}` };
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
    `${r.error}; ${memoryMode(params) === 'coherent' || memoryMode(params) === 'public' ? 'each address must start 256 MiB of the machine that is not System RAM, and the two ranges must not overlap' : 'each address must be the start of a special-purpose memory range, and the two must differ'}; ${ranges}`;
}

/**
 * The variants and the build of hmm-tests a configuration runs: 6.12's
 * program declares the private and coherent variants (the coherent ones
 * skip when devices 2 and 3 do not exist, as upstream); the seed's generic
 * mode runs the seed's program on its two GENERIC devices.
 */
function variantsFor(params: TestHmmParams): { variants: VariantSpec[]; build: HmmTestsBuild } {
  switch (memoryMode(params)) {
    case 'generic': return { variants: [GENERIC_VARIANT], build: 'v5' };
    // Seed 004's PUBLIC devices 2 and 3 take the coherent variant's place (the program is 6.12's).
    case 'public': return { variants: [PRIVATE_VARIANT, PUBLIC_VARIANT], build: '6.12' };
    default: return { variants: [PRIVATE_VARIANT, COHERENT_VARIANT], build: '6.12' };
  }
}

/** The harness with every case registered for this configuration, and the libc the cases use. */
function buildSuite(params: TestHmmParams, err: (line: string) => void, kernel?: KernelVersion): { h: Harness; libc: Libc; suite: HmmTestsSuite } {
  const h = new Harness();
  const libc = new Libc();
  libc.stderr = err;
  const { variants, build } = variantsFor(params);
  const suite = suiteFor(params, kernel);
  suite.register(h, libc, variants, build);
  return { h, libc, suite };
}

/** The -l listing for this configuration (the C harness prints it on stderr). */
export function listSmoke(params: TestHmmParams, kernel?: KernelVersion): string[] {
  return listTests(buildSuite(params, () => {}, kernel).h);
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
 * unloaded, and every page must be back. Returns the problems by kind
 * (leaks, WARNs, an oops or a hung task at exit or unload), one line each;
 * powers the kernel off.
 */
export function shutdownCaseFailures(c: BootedCase, libc: Libc): CaseFailure[] {
  const { k, mod, task } = c;
  const problems: CaseFailure[] = [];
  if (k.hung.length > 0) {
    // A task blocked for good: it cannot exit, so neither its files nor test_hmm can go; the kernel stays as it is.
    problems.push({ kind: 'hang', message: 'HANG: the test process and test_hmm left as they are: a task is blocked in the kernel for good (hung task report above)' });
    k.poweroff();
    return problems;
  }
  try {
    libc.reapOrphans();
    task.exit();
    // What the driver's unload finds (pages not back in its free lists): leaks.
    for (const m of hmmDmirrorExit(mod)) problems.push({ kind: 'leak', message: m });
  } catch (e) {
    if (!(e instanceof KernelBug || e instanceof HungTask)) throw e;
    problems.push({ kind: classifyFailure(e) ?? 'bug', message: e.message });
    if (e instanceof HungTask) {
      // rmmod blocked in module_exit: the module stays, its pages with it; nothing more to check.
      k.poweroff();
      return problems;
    }
  }
  if (k.pageAlloc.nrAllocated !== 0) {
    problems.push({ kind: 'leak', message: `BUG: ${k.pageAlloc.nrAllocated} system page(s) still allocated after the process exited and test_hmm was unloaded (leaked)` });
  }
  if (k.vmallocd.size !== 0) {
    problems.push({ kind: 'leak', message: `BUG: ${k.vmallocd.size} vmalloc()ed buffer(s) never vfree()d after the process exited and test_hmm was unloaded (leaked)` });
  }
  for (const w of k.warnings) if (!problems.some((p) => p.message === w)) problems.push({ kind: 'warn', message: w });
  k.poweroff();
  return problems;
}

/** shutdownCaseFailures(), the problems as one line each. */
export function shutdownCase(c: BootedCase, libc: Libc): string[] {
  return shutdownCaseFailures(c, libc).map((p) => p.message);
}

/** The fixtures, variants and tests declared for this configuration (what the harness filters can name). */
export function declaredSmoke(params: TestHmmParams, kernel?: KernelVersion): Array<{ fixture: string; variants: string[]; tests: string[] }> {
  return buildSuite(params, () => {}, kernel).h.declared();
}

/** Run the smoke suite (test_hmm.sh smoke [spm0 spm1]) and return the harness's result. */
export function runSmoke(opts: SmokeOptions): RunResult {
  const machine = opts.machine ?? defaultMachine();
  const { h, libc, suite } = buildSuite(opts.params, opts.err, opts.kernel);
  // One machine, rebooted for each case: its host memory is reused (kernel-model/page_data.ts).
  const hostMemory = opts.hostMemory ?? new HostMemory();
  return h.run({
    out: opts.out,
    err: opts.err,
    filter: opts.filter,
    provenance: provenance(suite),
    classify: classifyFailure,
    bail: opts.bail,
    resume: opts.resume,
    shard: opts.shard,
    hooks: {
      beforeCase: (name, num, timeoutS) => opts.onCaseStart?.(name, num - 1, timeoutS),
      afterCase: (_name, result) => opts.onCase?.(result),
    },
    caseContext: (name) => {
      let c: BootedCase | null = null;
      const commands: string[] = [];
      return {
        enter() {
          c = bootCase({ machine, params: opts.params, seed: opts.seed, hostMemory, version: opts.kernel,
            schedTrace: opts.trace && opts.traceSched ? opts.err : null });
          opts.onKernel?.(c.k, c.mod, c.task);
          libc.attach(c.task);
          // Every command is kept for the failure report; --trace also prints it as it happens.
          libc.trace = (line) => {
            if (commands.length === TRACE_TAIL) commands.shift();
            commands.push(line);
            opts.onCommand?.(line);
            if (opts.trace) opts.err(line);
          };
        },
        exit() {
          const problems = c === null ? [] : shutdownCaseFailures(c, libc);
          libc.attach(null);
          libc.trace = null;
          return problems;
        },
        // With --trace the commands are in the stream already.
        notes: () => (opts.trace || commands.length === 0 ? [] : ['last device commands:', ...commands.map((c) => `  ${c}`)]),
      };
    },
  });
}

