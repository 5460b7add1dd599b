// SPDX-License-Identifier: GPL-2.0-only
/*
 * The hmm-test command line. `hmm-test smoke` loads the simulated test_hmm
 * with no parameters (both devices private), runs every case and unloads;
 * `hmm-test smoke <spm_addr_dev0> <spm_addr_dev1>` does the same with the
 * seed's DEVICE_GENERIC devices on those special-purpose memory ranges,
 * `--coherent` with 6.12's DEVICE_COHERENT ones. One function per
 * subcommand; each returns its exit status.
 *
 * Exit status, as kselftest's: 0 (KSFT_PASS) every case passed or skipped,
 * 1 (KSFT_FAIL) a case failed, and also bad usage (the C harness's
 * test_harness_argv_check() returns KSFT_FAIL after its usage), 4
 * (KSFT_SKIP) after -h or -l; 128 + N when signal N (SIGINT, SIGTERM)
 * ended the run, 141 when stdout's reader went away (as a SIGPIPE death).
 */
import { Command, CommanderError, Option } from 'commander';
import { existsSync, statSync, accessSync, constants as fsConstants, realpathSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { isatty } from 'node:tty';
import { loadConfig, readConfigFile, type HmmTestConfig } from './config.js';
import { defaultMachine, hex } from '../kernel-model/machine.js';
import { scenarioReport } from './report.js';
import { runCommand } from './run.js';
import { fuzzCommand } from './fuzz.js';
import { catchCommand } from './catch.js';
import { exploreCommand } from './explore.js';
import { diffLogs } from '../scenario/diff.js';
import { junitDocument } from './junit.js';
import { UsageError, paramsFromArgs, parseSeed } from './args.js';
import { DEFAULT_SEED } from '../kernel-model/random.js';
import { checkModuleParams, listSmoke, declaredSmoke } from '../runner.js';
import { parseHarnessArgs, HARNESS_USAGE, type HarnessArgs } from '../kselftest/options.js';
import { KSFT_FAIL, KSFT_SKIP } from '../kselftest/assert.js';
import { composeKernel, describeKernels, kernelProfiles, DEFAULT_KERNEL } from '../kernel-model/changes.js';
import { checkFilters } from './filters.js';
import { runInfo, toolVersion } from './run-info.js';
import { runSmokeSession, smokeJobs } from './smoke.js';
import { chalkFor, writeErr, writeOut, StdoutError } from './output.js';

/** Bad usage: KSFT_FAIL, as the C harness after an unknown option. */
const EXIT_USAGE = KSFT_FAIL;
/** kselftest's TEST_TIMEOUT_DEFAULT (seconds); hmm-tests.c sets no TEST_F_TIMEOUT. */
const TEST_TIMEOUT_DEFAULT = 30;

/** Commander's collector for a repeatable --patch. */
function collectPatch(name: string, prev: string[]): string[] {
  return [...prev, name];
}

/** What `smoke --help` and `smoke -h` show after the options. */
const SMOKE_HELP_AFTER = `\nThe kselftest harness's options also work here:\n${HARNESS_USAGE.slice(1).join('\n')}\n\n` +
  'Exit status: 0 pass (skips count as passed), 1 a case failed or bad usage, 4 after -h or -l,\n' +
  '128+N ended by signal N (SIGINT 130, SIGTERM 143), 141 stdout closed (EPIPE).\n';

/** Colour for the error prefix: --no-color anywhere on the line, NO_COLOR, FORCE_COLOR, a terminal. */
let noColorFlag = false;

function errorLine(msg: string): void {
  writeErr(`${chalkFor(2, noColorFlag ? { color: false } : {}).red('hmm-test:')} ${msg}\n`);
}

interface SmokeOpts {
  coherent?: boolean; public?: boolean; trace?: boolean; traceSched?: boolean; seed?: string; report?: string; junit?: string;
  format?: string; config?: string; timeout?: string; bail?: boolean; color?: boolean; kernel?: string; patch: string[];
}

/** The --timeout value: seconds, 0 for none. */
function parseTimeout(text: string): number {
  const v = Number(text);
  if (!/^\d+(\.\d+)?$/.test(text.trim()) || !Number.isFinite(v) || v > 86400) {
    throw new UsageError(`--timeout "${text}" is not a time: give seconds from 0 (no limit) to 86400, e.g. --timeout ${TEST_TIMEOUT_DEFAULT}`);
  }
  return v;
}

/**
 * --report and --junit checked before the run: each a path that can be
 * written (its directory exists and is writable; the file, if there, is not
 * a directory and is writable), and not both the same file.
 */
function checkOutputPaths(paths: Array<[string, string | undefined]>): void {
  const seen = new Map<string, string>();
  for (const [opt, p] of paths) {
    if (p === undefined) continue;
    if (p.trim() === '') throw new UsageError(`${opt} "": give the path of the file to write`);
    const abs = resolve(p);
    const dir = dirname(abs);
    if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new UsageError(`cannot write ${opt} ${p}: ${dir} is not a directory; give a writable file path`);
    try {
      if (existsSync(abs)) {
        if (statSync(abs).isDirectory()) throw new UsageError(`cannot write ${opt} ${p}: it is a directory; give a file path`);
        accessSync(abs, fsConstants.W_OK);
      } else {
        accessSync(dir, fsConstants.W_OK);
      }
    } catch (e) {
      if (e instanceof UsageError) throw e;
      throw new UsageError(`cannot write ${opt} ${p}: ${(e as NodeJS.ErrnoException).code}; give a writable file path`);
    }
    const key = existsSync(abs) ? realpathSync(abs) : abs;
    const other = seen.get(key);
    if (other) throw new UsageError(`${other} and ${opt} both name ${p}: one would overwrite the other; give two files`);
    seen.set(key, opt);
  }
}

/** `hmm-test smoke`: the whole suite, or what the harness filters select. */
function smokeCommand(program: Command, harness: () => HarnessArgs, argv: string[], done: (code: number | Promise<number>) => void): void {
  program
    .command('smoke')
    .description('run every case: private devices; generic (seed DEVICE_GENERIC) devices when two SPM addresses are given; ' +
      'with --coherent, 6.12\'s private and coherent devices; with --public, private and seed 004\'s DEVICE_PUBLIC devices')
    .argument('[spm_addr_dev0]', 'start of a special-purpose memory range for the device memory (hex, decimal or octal)')
    .argument('[spm_addr_dev1]', 'the other SPM range; both or neither')
    .option('--coherent', 'the SPM addresses make 6.12\'s DEVICE_COHERENT devices 2 and 3 (module parameter spm_type=coherent) instead of the seed\'s GENERIC devices 0 and 1')
    .option('--public', 'the SPM addresses make seed 004\'s (2017) DEVICE_PUBLIC devices 2 and 3 (module parameter spm_type=public); devices 0 and 1 stay private')
    .option('--trace', 'write a TRACE line for every device command to stderr, as the reference\'s traced hmm-tests does')
    .option('--trace-sched', 'with --trace, also a SCHED line each time another simulated thread runs')
    .option('--seed <n>', `seed of the simulated kernel's random numbers and thread interleavings (0..4294967295, default ${DEFAULT_SEED}): the same seed gives the same run`)
    .option('--timeout <s>', `fail a case still running after <s> seconds, as kselftest's harness does (default ${TEST_TIMEOUT_DEFAULT}; 0: no limit)`)
    .option('--bail', 'stop after the first failed case ("Bail out!" in TAP)')
    .option('--report <file>', 'write the run (version, kernel, mode, seed, filters, configuration, command line), every case and the totals as YAML to <file>')
    .option('--junit <file>', 'write the results as JUnit XML to <file> (for CI test reports)')
    .addOption(new Option('--format <format>', 'tap (kselftest TAP) or pretty (a line per case); default: pretty on a terminal, tap otherwise').choices(['tap', 'pretty']))
    .option('--no-color', 'no colour (so does a non-empty NO_COLOR; FORCE_COLOR=1..3 forces it); never changes the format')
    .option('--config <file>', 'a YAML file describing the simulated machine and the module parameters')
    .option('--patch <name>', 'apply a patch (hmm-test kernels lists them) on top of the kernel; repeat for more, after the config file\'s patches', collectPatch, [])
    .option('--kernel <name>', `the kernel the cases boot: ${kernelProfiles().map((p) => p.name).join(' or ')} (default ${DEFAULT_KERNEL}; hmm-test kernels lists what each has)`)
    .addHelpText('after', SMOKE_HELP_AFTER)
    .action((spm0: string | undefined, spm1: string | undefined, opts: SmokeOpts) => {
      if ((spm0 === undefined) !== (spm1 === undefined)) {
        throw new UsageError('smoke takes no address (private devices) or two (spm_addr_dev0 spm_addr_dev1, generic devices), not one');
      }
      let config: HmmTestConfig = { machine: defaultMachine(), params: null };
      if (opts.config !== undefined) config = loadConfig(readConfigFile(opts.config), opts.config);
      if (opts.coherent && opts.public) throw new UsageError('--coherent and --public both choose what devices 2 and 3 are: give one');
      const flag = opts.public ? '--public' : '--coherent';
      if (config.params !== null && (spm0 !== undefined || opts.coherent || opts.public)) {
        throw new UsageError(`${opts.config} sets the module parameters already: give the SPM addresses and ${flag} there (spm_type: ${flag.slice(2)}) or on the command line, not both`);
      }
      if ((opts.coherent || opts.public) && spm0 === undefined && config.params === null) {
        throw new UsageError(`${flag} needs the two SPM addresses the ${flag.slice(2)} devices use: hmm-test smoke ${flag} <spm_addr_dev0> <spm_addr_dev1>`);
      }
      const params = config.params ?? paramsFromArgs(spm0, spm1, opts.public ? 'public' : opts.coherent ? 'coherent' : 'generic');
      const machine = config.machine;
      if (opts.kernel !== undefined && config.kernel !== undefined && opts.kernel !== config.kernel) {
        throw new UsageError(`--kernel ${opts.kernel} and ${opts.config}'s kernel: ${config.kernel} disagree: give the kernel in one place`);
      }
      const kernel = composeKernel(opts.kernel ?? config.kernel ?? DEFAULT_KERNEL, [...config.patches ?? [], ...opts.patch]);
      if ('error' in kernel) throw new UsageError(`${opts.patch.length ? '--patch' : config.patches?.length ? `${opts.config}: patches` : '--kernel'}: ${kernel.error}`);
      const limit = 2 ** machine.physBits;
      for (const [n, a] of [['spm_addr_dev0', params.spm_addr_dev0], ['spm_addr_dev1', params.spm_addr_dev1]] as const) {
        if (a >= limit) throw new UsageError(`${n}=${hex(a)} is beyond the machine's ${machine.physBits} physical address bits (below ${hex(limit)}); give an address inside it or raise machine.physBits in --config`);
      }
      const seed = opts.seed === undefined ? undefined : parseSeed(opts.seed);
      const timeoutS = opts.timeout === undefined ? TEST_TIMEOUT_DEFAULT : parseTimeout(opts.timeout);
      const problem = checkModuleParams(params, machine);
      if (problem !== null) throw new UsageError(problem);
      const h = harness();
      if (h.list) {
        for (const l of listSmoke(params, kernel)) writeErr(`${l}\n`);
        return done(KSFT_SKIP);
      }
      const bad = checkFilters(h.filters, declaredSmoke(params, kernel));
      if (bad !== null) throw new UsageError(bad);
      if (opts.traceSched && !opts.trace) throw new UsageError('--trace-sched adds SCHED lines to --trace: give both');
      checkOutputPaths([['--report', opts.report], ['--junit', opts.junit]]);
      const pretty = (opts.format ?? (isatty(1) ? 'pretty' : 'tap')) === 'pretty';
      const info = runInfo({
        params, machine, seed, filters: h.filters, configFile: opts.config ?? null, paramsFromConfig: config.params !== null,
        kernelName: kernel.profile, patches: [...kernel.patches], kernelFromConfig: opts.kernel === undefined && config.kernel !== undefined,
        patchArgs: opts.patch,
        argv, timeoutS, timeoutOverride: opts.timeout !== undefined, bail: !!opts.bail,
      });
      const color = { color: opts.color };
      done(runSmokeSession({
        info, filters: h.filters, trace: !!opts.trace, traceSched: !!opts.traceSched, bail: !!opts.bail,
        pretty, live: pretty && isatty(1), chalkOut: chalkFor(1, color), chalkErr: chalkFor(2, color),
        reportPath: opts.report, junitPath: opts.junit, jobs: smokeJobs(!!opts.bail),
      }));
    });
}

/** Run the command line; resolves to the exit status (the caller sets process.exitCode). */
export async function run(argv: string[]): Promise<number> {
  noColorFlag = argv.includes('--no-color');
  let code: number | Promise<number> | undefined;
  const program = new Command();
  program
    .name('hmm-test')
    .description('The Linux HMM selftest (hmm-tests) against a simulated test_hmm driver and kernel')
    .version(toolVersion(), '--version', 'print the version')
    .exitOverride()
    .configureOutput({ writeOut: (s) => writeOut(s), writeErr: () => {} })
    .showSuggestionAfterError(true);

  program
    .command('kernels')
    .description('list the kernel profiles (--kernel) and the upstream changes each has, with their sources, and the patches')
    .action(() => {
      for (const l of describeKernels()) writeOut(`${l}\n`);
    });

  program
    .command('run')
    .description('run scenario files (YAML, see the README): each on a freshly booted kernel with test_hmm loaded as its config says; ' +
      'observation lines and TAP ok/not ok lines for its expectations on stdout')
    .argument('<file...>', 'scenario files')
    .option('--show <what>', 'pages: after each action, a map of every buffer (one character a page) and of each mirror')
    .option('--trace', 'also a SCHED line when another thread runs')
    .option('--seed <n>', 'seed of the random numbers and thread interleavings, for every file (overrides config.seed)')
    .option('--report <file>', 'write every scenario and check as YAML to <file>')
    .option('--junit <file>', 'write the results as JUnit XML to <file>, one test case per scenario')
    .option('--patch <name>', 'apply a patch (hmm-test kernels lists them) on top of every scenario\'s kernel and its config\'s patches; repeat for more', collectPatch, [])
    .option('--emit-c', 'write, instead of running it, the scenario as a C program for a real kernel with test_hmm loaded (gcc -static -pthread)')
    .action((files: string[], opts: { show?: string; trace?: boolean; seed?: string; report?: string; junit?: string; emitC?: boolean; patch: string[] }) => {
      const save = (file: string, what: string, text: () => string) => {
        try {
          writeFileSync(file, text());
        } catch (e) {
          throw new UsageError(`cannot write the ${what} to ${file}: ${(e as Error).message}; give a writable file path`);
        }
      };
      const started = new Date().toISOString();
      code = runCommand(files, opts, save, {
        report: scenarioReport,
        junit: (r, sc) => junitDocument('hmm-test scenarios', 'hmm-test', {
          'hmm-test.version': toolVersion(),
          'kernel.profile': [...new Set(sc.map((x) => [x.kernel, ...x.patches].join(' + ')))].join(', '),
          'command.line': ['hmm-test', ...argv].join(' '),
        }, started, r),
      });
    });

  program
    .command('fuzz')
    .description('run random scenarios on the model with invariants checked after every action; each failure minimised to a scenario file in --out')
    .argument('[spm_addr...]', 'spm_addr_dev0 spm_addr_dev1: two SPM addresses for generic devices (coherent with --coherent); none: private devices')
    .option('--seed <n>', 'seed of the generator', String(DEFAULT_SEED))
    .option('--count <k>', 'how many scenarios', '100')
    .option('--coherent', '6.12\'s DEVICE_COHERENT devices on the two SPM addresses')
    .option('--out <dir>', 'where the minimised failures go', 'fuzz-failures')
    .option('--emit-c', 'write the batch as scenario files and C programs for a real kernel to --out instead of running it')
    .option('--deep', 'also walk every device free list after each scenario\'s last action (O(free device pages))')
    .action((addrs: string[], opts: { seed: string; count: string; coherent?: boolean; out: string; emitC?: boolean; deep?: boolean }) => {
      if (addrs.length !== 0 && addrs.length !== 2) throw new UsageError(`fuzz takes no address (private devices) or two (spm_addr_dev0 spm_addr_dev1), not ${addrs.length}`);
      if (opts.coherent && addrs.length === 0) throw new UsageError('--coherent needs the two SPM addresses: hmm-test fuzz --coherent 0x100000000 0x140000000');
      if (!/^[1-9][0-9]{0,6}$/.test(opts.count)) throw new UsageError(`--count "${opts.count}" is not a count: give an integer from 1 to 9999999`);
      const params = paramsFromArgs(addrs[0], addrs[1], opts.coherent === true ? 'coherent' : 'generic');
      const problem = checkModuleParams(params, defaultMachine());
      if (problem !== null) throw new UsageError(problem);
      const mode = addrs.length === 0 ? { kind: 'private' as const }
        : { kind: opts.coherent ? 'coherent' as const : 'generic' as const, spm0: params.spm_addr_dev0, spm1: params.spm_addr_dev1 };
      code = fuzzCommand({ seed: parseSeed(opts.seed), count: Number(opts.count), mode, out: opts.out, emitC: opts.emitC === true, deep: opts.deep === true, say: (l) => writeOut(`${l}\n`) });
    });

  program
    .command('catch')
    .description('run the suite (private and coherent variants) and the scenarios on the plain kernel and once per patch, ' +
      'and print which case or scenario catches which patch (its verdict differs)')
    .argument('[file...]', 'scenario files (default: the examples in scenarios/)')
    .option('--kernel <name>', `the kernel the patches go on (default ${DEFAULT_KERNEL})`)
    .option('--patch <name>', 'only this patch (repeat for more; default: every patch hmm-test kernels lists)', collectPatch, [])
    .action((files: string[], opts: { kernel?: string; patch: string[] }) => {
      code = catchCommand(files, { ...opts, say: (l) => writeOut(`${l}\n`), progress: (l) => writeErr(`${l}\n`) });
    });

  program
    .command('explore')
    .description('run every interleaving of the threads of a case (e.g. anon_teardown) or a scenario file at the model\'s preemption points, ' +
      'up to a bound on preemptions, each on a fresh kernel; report the distinct outcomes with a replayable schedule each')
    .argument('<case|scenario>', 'a case of the suite (in the variant of the devices given, or fixture.variant.test) or a scenario file with threads (its config names its devices)')
    .argument('[spm_addr...]', 'spm_addr_dev0 spm_addr_dev1 for a case, as smoke takes them: none, private devices; two, generic devices (coherent with --coherent, public with --public)')
    .option('--coherent', 'the SPM addresses make 6.12\'s DEVICE_COHERENT devices 2 and 3: explore the case\'s hmm_device_coherent variant')
    .option('--public', 'the SPM addresses make seed 004\'s DEVICE_PUBLIC devices 2 and 3: explore the case\'s hmm_device_public variant')
    .option('--max-preemptions <n>', 'explore schedules with up to n preemptions (CHESS iterative context bounding)', '2')
    .option('--max-schedules <n>', 'stop after n schedules', '100000')
    .option('--max-time <s>', 'stop after s seconds', '600')
    .option('--max-steps <n>', 'scheduling decisions one schedule may take before it is a livelock', '10000')
    .option('--schedule <id>', 'replay this schedule (an ID the report printed) with its full trace')
    .option('--patch <name>', 'apply a patch (hmm-test kernels lists them); repeat for more', collectPatch, [])
    .option('--kernel <name>', `the kernel profile for a case (default ${DEFAULT_KERNEL})`)
    .option('--seed <n>', 'seed of the random numbers (/dev/urandom)')
    .action((what: string, spm: string[], opts: { maxPreemptions: string; maxSchedules: string; maxTime: string; maxSteps: string; schedule?: string;
      patch: string[]; kernel?: string; seed?: string; coherent?: boolean; public?: boolean }) => {
      code = exploreCommand(what, { ...opts, spm, say: (l) => writeOut(`${l}\n`), progress: isatty(2) ? (l) => writeErr(`${l}\n`) : undefined });
    });

  program
    .command('diff')
    .description("line up two observation logs (the model's hmm-test run, a real kernel's --emit-c program) and show the first difference of each scenario")
    .argument('<a>', 'a log')
    .argument('<b>', 'another log')
    .action((a: string, b: string) => {
      const read = (f: string) => {
        try {
          return readFileSync(f, 'utf8');
        } catch (e) {
          throw new UsageError(`cannot read ${f}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}; give the path of an observation log`);
        }
      };
      const r = diffLogs(read(a), read(b), a, b);
      for (const l of r.lines) writeOut(`${l}\n`);
      code = r.same ? 0 : 1;
    });

  // The harness's getopt options (-t name, -l, ...) are read in order before commander sees the rest.
  let harness: HarnessArgs = { help: false, list: false, filters: [], rest: argv.slice(1) };
  smokeCommand(program, () => harness, argv, (c) => { code = c; });

  try {
    if (argv[0] === 'smoke') {
      const parsed = parseHarnessArgs(argv.slice(1));
      if ('error' in parsed) {
        errorLine(`${parsed.error}; try 'hmm-test smoke -h'`);
        return EXIT_USAGE;
      }
      harness = parsed;
      if (harness.help) {
        // ./hmm-tests -h prints its usage and returns KSFT_SKIP; here the usage is the tool's options and the harness's.
        writeErr(program.commands.find((c) => c.name() === 'smoke')!.helpInformation() + SMOKE_HELP_AFTER);
        return KSFT_SKIP;
      }
      argv = ['smoke', ...harness.rest];
    }
    if (argv.length === 0) {
      errorLine("missing command: run 'hmm-test smoke' (private devices) or 'hmm-test smoke <spm_addr_dev0> <spm_addr_dev1>' (generic devices); 'hmm-test --help' lists the options");
      return EXIT_USAGE;
    }
    program.parse(argv, { from: 'user' });
    return await (code ?? 0);
  } catch (e) {
    if (e instanceof UsageError) {
      errorLine(e.message);
      return EXIT_USAGE;
    }
    if (e instanceof StdoutError) {
      errorLine(`${e.message}`);
      return e.code === 'EPIPE' ? 141 : 1;
    }
    if (e instanceof CommanderError) {
      if (e.code === 'commander.helpDisplayed' || e.code === 'commander.version' || e.code === 'commander.help') return 0;
      errorLine(`${e.message.replace(/^error: /, '').replace(/\.$/, '').replace(/\n/g, ' ')}; try 'hmm-test ${argv[0] === 'smoke' ? 'smoke ' : ''}--help'`);
      return EXIT_USAGE;
    }
    throw e;
  }
}

export function main(argv: string[]): void {
  run(argv).then((c) => { process.exitCode = c; }, (e) => {
    errorLine(`internal error: ${e instanceof Error ? e.message : String(e)}`);
    process.exitCode = 1;
  });
}
