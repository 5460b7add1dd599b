// SPDX-License-Identifier: GPL-2.0-only
/*
 * The library: `import { boot } from 'hmm-test'`. A small facade over the
 * runner, the ported cases' libc and hmm_dmirror_cmd(), kept apart from the
 * model: boot a simulated machine with test_hmm loaded, get its test
 * process, call libc as C would (mmap, open, ...), issue device commands
 * and read what they did, then shut down and hear what leaked.
 *
 * Arguments are checked here and a wrong one throws HmmTestError with a
 * one-line message naming the call (`hmm-test: dmirrorCmd: ...`). Inside,
 * failures are C's: libc calls return -1 and set errno, commands return
 * 0 or -errno.
 */
import { Libc } from './selftests/hmm-tests/libc.js';
import { hmmDmirrorCmd, newHmmBuffer, type HmmDmirrorCmdResult } from './selftests/hmm-tests/common.js';
import { bootCase, shutdownCase, checkModuleParams, type BootedCase } from './runner.js';
import { parseMachine, parseModuleParams } from './cli/config.js';
import { UsageError } from './cli/args.js';
import { defaultMachine } from './kernel-model/machine.js';
import { PAGE_SIZE } from './kernel-model/page.js';
import { REQUESTS, errnoName, protName } from './scenario/names.js';
import { memoryMode } from './dmirror/test_hmm.js';

export { PROT_NONE, PROT_READ, PROT_WRITE, MAP_PRIVATE, MAP_SHARED, MAP_ANONYMOUS, MAP_HUGETLB } from './kernel-model/mm.js';
export { MADV_HUGEPAGE, MADV_NOHUGEPAGE } from './kernel-model/madvise.js';
export { O_RDWR, MAP_FAILED } from './selftests/hmm-tests/libc.js';
export { PAGE_SIZE } from './kernel-model/page.js';
export type { Libc } from './selftests/hmm-tests/libc.js';
export { parseScenario } from './scenario/parse.js';
export { runScenario, type ScenarioResult, type Check } from './scenario/run.js';

/** A wrong argument to the library: the message is one line, naming the call. */
export class HmmTestError extends Error {
  override name = 'HmmTestError';
}

export interface BootOptions {
  /** The simulated machine, as the `machine:` block of a --config file: { ram: '4G', spm: [...], transparent_hugepage, hugepages, physBits }. */
  machine?: Record<string, unknown>;
  /** test_hmm's parameters: { spm_addr_dev0, spm_addr_dev1, spm_type }; none means two DEVICE_PRIVATE devices. */
  module?: Record<string, unknown>;
  /** Random numbers and thread interleavings (default 1). */
  seed?: number;
}

/** What one device command did. */
export interface CmdResult {
  /** The TRACE line, as `hmm-test smoke --trace` prints it. */
  trace: string;
  /** 0 or -errno, and its name ('0', '-EFAULT'). */
  ret: number;
  errno: string;
  cpages: number;
  faults: number;
}

export interface CmdArgs {
  /** The user address the device works on, and how many pages. */
  addr: number;
  npages: number;
  /** Where READ puts, WRITE takes, SNAPSHOT writes the data (default: a buffer of the right size, see `mirror` in the result). */
  mirror?: number;
}

const check = (call: string, ok: boolean, what: string): void => {
  if (!ok) throw new HmmTestError(`hmm-test: ${call}: ${what}`);
};
const isCount = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;

/** A booted simulated machine with test_hmm loaded and one test process. */
export class HmmSystem {
  /** The test process's libc, as the ported cases call it (mmap, munmap, open, ioctl, loadInts, storeInts, fork, ...). */
  readonly libc: Libc;
  /** Every TRACE line so far. */
  readonly trace: string[] = [];
  private readonly c: BootedCase;
  private readonly generic: boolean;
  private down = false;
  private readonly cmd: (fd: number, request: number, buffer: ReturnType<typeof newHmmBuffer>, npages: number) => number;
  private last: HmmDmirrorCmdResult | null = null;

  /** Use boot(). */
  constructor(c: BootedCase, generic: boolean) {
    this.c = c;
    this.generic = generic;
    this.libc = new Libc();
    this.libc.attach(c.task);
    this.libc.trace = (l) => this.trace.push(l);
    this.cmd = hmmDmirrorCmd(this.libc, '6.12', (r) => { this.last = r; });
  }

  /** open("/dev/hmm_dmirrorN", O_RDWR): the fd, or -1 with libc.errno set. */
  openDevice(n: number): number {
    check('openDevice', Number.isInteger(n) && n >= 0 && n <= 3, `device ${String(n)}: give 0 to 3 (/dev/hmm_dmirror0..3)`);
    this.alive('openDevice');
    return this.libc.open(`/dev/hmm_dmirror${n}`, 2, 0);
  }

  /**
   * A device command through hmm_dmirror_cmd(): `request` by its name
   * (READ, WRITE, MIGRATE_TO_DEV, MIGRATE_TO_SYS, SNAPSHOT, EXCLUSIVE,
   * CHECK_EXCLUSIVE, RELEASE, or the seed's V5_*).
   */
  dmirrorCmd(fd: number, request: string, args: CmdArgs): CmdResult & { mirror: number } {
    const req = REQUESTS.get(request);
    check('dmirrorCmd', req !== undefined, `request ${JSON.stringify(request)}: give one of ${[...REQUESTS.keys()].join(', ')}`);
    check('dmirrorCmd', Number.isInteger(fd), `fd ${String(fd)} is not a file descriptor`);
    check('dmirrorCmd', args !== null && typeof args === 'object' && isCount(args.addr) && isCount(args.npages),
      'args: give { addr, npages } as non-negative integers');
    check('dmirrorCmd', args.mirror === undefined || isCount(args.mirror), 'args.mirror: give a user address');
    this.alive('dmirrorCmd');
    const buffer = newHmmBuffer();
    buffer.ptr = args.addr;
    buffer.size = args.npages * PAGE_SIZE;
    const size = req!.mirror === 'pages' ? buffer.size : req!.mirror === 'bytes' ? args.npages : 0;
    buffer.mirror = args.mirror ?? (size ? this.libc.malloc(size) : 0);
    this.last = null;
    this.cmd(fd, req!.request, buffer, args.npages);
    const r = this.last as HmmDmirrorCmdResult | null;
    if (r === null) throw new HmmTestError('hmm-test: dmirrorCmd: the command did not complete');
    return { trace: this.trace.at(-1)!, ret: r.ret, errno: errnoName(r.ret), cpages: r.cmd.cpages, faults: r.cmd.faults, mirror: buffer.mirror };
  }

  /** The SNAPSHOT bytes at `mirror` (npages of them) by their HMM_DMIRROR_PROT_* names. */
  snapshotNames(mirror: number, npages: number): string[] {
    check('snapshotNames', isCount(mirror) && isCount(npages), 'give the mirror address and the page count');
    return [...this.libc.loadBytes(mirror, npages)].map((b) => protName(b, this.generic));
  }

  /** Kernel log lines and WARNs so far. */
  get dmesg(): readonly string[] {
    return this.c.k.log;
  }

  /**
   * The process exits, test_hmm is unloaded, the machine powers off.
   * Returns what went wrong (leaked pages, WARNs), one line each; [] is clean.
   */
  shutdown(): string[] {
    this.alive('shutdown');
    this.down = true;
    const problems = shutdownCase(this.c, this.libc);
    this.libc.attach(null);
    return problems;
  }

  private alive(call: string): void {
    check(call, !this.down, 'the system was shut down');
  }
}

/** Boot a simulated machine, load test_hmm with its parameters, create the test process. */
export function boot(opts: BootOptions = {}): HmmSystem {
  check('boot', opts !== null && typeof opts === 'object', 'give an options object { machine, module, seed }');
  for (const k of Object.keys(opts)) check('boot', ['machine', 'module', 'seed'].includes(k), `unknown option '${k}': the options are machine, module, seed`);
  check('boot', opts.seed === undefined || (Number.isInteger(opts.seed) && opts.seed >= 0 && opts.seed <= 0xffffffff), 'seed: give an integer from 0 to 4294967295');
  let machine, params;
  try {
    machine = opts.machine === undefined ? defaultMachine() : parseMachine('machine', opts.machine);
    params = opts.module === undefined ? { spm_addr_dev0: 0, spm_addr_dev1: 0 } : parseModuleParams('module', opts.module);
  } catch (e) {
    if (e instanceof UsageError) throw new HmmTestError(`hmm-test: boot: ${e.message}`);
    throw e;
  }
  const problem = checkModuleParams(params, machine);
  if (problem !== null) throw new HmmTestError(`hmm-test: boot: ${problem}`);
  return new HmmSystem(bootCase({ machine, params, seed: opts.seed }), memoryMode(params) === 'generic');
}
