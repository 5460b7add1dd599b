// SPDX-License-Identifier: GPL-2.0-only
/*
 * The hmm-test command line. `hmm-test smoke` loads the simulated test_hmm
 * with no parameters (both devices private), runs every case and unloads;
 * `hmm-test smoke <spm_addr_dev0> <spm_addr_dev1>` does the same with the
 * seed's DEVICE_GENERIC devices on those special-purpose memory ranges.
 * Output is kselftest TAP on stdout; the exit status is the harness's.
 * Every bad input is one line on stderr and exit status 2.
 */
import { Command, CommanderError } from 'commander';
import chalk from 'chalk';
import { readFileSync, writeFileSync } from 'node:fs';
import { loadConfig, type HmmTestConfig } from './config.js';
import { smokeReport, scenarioReport } from './report.js';
import { runCommand } from './run.js';
import { catchCommand } from './catch.js';
import { diffLogs } from '../scenario/diff.js';
import { junitXml } from './junit.js';
import { prettyCase, prettySummary } from './pretty.js';
import { defaultMachine } from '../kernel-model/machine.js';
import { UsageError, parseAddress, parseSeed } from './args.js';
import { DEFAULT_SEED } from '../kernel-model/random.js';
import { runSmoke, checkModuleParams, listSmoke } from '../runner.js';
import { parseHarnessArgs, testEnabled, HARNESS_USAGE, type HarnessArgs } from '../kselftest/options.js';
import type { TestHmmParams } from '../dmirror/test_hmm.js';
import { composeKernel, describeKernels, kernelProfiles, DEFAULT_KERNEL } from '../kernel-model/changes.js';

const EXIT_USAGE = 2;
/** KSFT_SKIP: what the harness exits with after -h or -l. */
const KSFT_SKIP = 4;

/** Commander's collector for a repeatable --patch. */
function collectPatch(name: string, prev: string[]): string[] {
  return [...prev, name];
}

function fail(msg: string): never {
  process.stderr.write(`${chalk.red('hmm-test:')} ${msg}\n`);
  process.exit(EXIT_USAGE);
}

export function main(argv: string[]): void {
  // A reader that goes away (hmm-test smoke | head) ends the run quietly, as a C program dies of SIGPIPE.
  process.stdout.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code === 'EPIPE') process.exit(0);
    throw e;
  });
  const program = new Command();
  program
    .name('hmm-test')
    .description('The Linux HMM selftest (hmm-tests) against a simulated test_hmm driver and kernel')
    .exitOverride()
    .configureOutput({ writeErr: () => {} })
    .showSuggestionAfterError(false);

  program
    .command('smoke')
    .description('run every case: private devices; generic (seed DEVICE_GENERIC) devices when two SPM addresses are given; ' +
      'with --coherent, 6.12\'s private and coherent devices')
    .argument('[spm_addr_dev0]', 'start of a special-purpose memory range for the device memory (hex, decimal or octal)')
    .argument('[spm_addr_dev1]', 'the other SPM range; both or neither')
    .option('--coherent', 'the SPM addresses make 6.12\'s DEVICE_COHERENT devices 2 and 3 (module parameter spm_type=coherent) instead of the seed\'s GENERIC devices 0 and 1')
    .option('--trace', 'write a TRACE line for every device command (and each RUN line) to stderr, and a SCHED line when another thread runs')
    .option('--seed <n>', `seed of the simulated kernel's random numbers and thread interleavings (0..4294967295, default ${DEFAULT_SEED}): the same seed gives the same run`)
    .option('--report <file>', 'write the configuration, every case and the totals as YAML to <file>')
    .option('--junit <file>', 'write the results as JUnit XML to <file> (for CI test reports)')
    .option('--format <format>', 'tap (kselftest TAP, the default when stdout is not a terminal) or pretty')
    .option('--config <file>', 'a YAML file describing the simulated machine and the module parameters')
    .option('--patch <name>', 'apply a patch (hmm-test kernels lists them) on top of the kernel; repeat for more, after the config file\'s patches', collectPatch, [])
    .option('--kernel <name>', `the kernel the cases boot: ${kernelProfiles().map((p) => p.name).join(' or ')} (default ${DEFAULT_KERNEL}; hmm-test kernels lists what each has)`)
    .addHelpText('after', `\nThe kselftest harness's options also work here:\n${HARNESS_USAGE.slice(1).join('\n')}`)
    .action((spm0: string | undefined, spm1: string | undefined, opts: { coherent?: boolean; trace?: boolean; seed?: string; report?: string; junit?: string; format?: string; config?: string; kernel?: string; patch: string[] }) => {
      if ((spm0 === undefined) !== (spm1 === undefined)) {
        throw new UsageError('smoke takes no address (private devices) or two (spm_addr_dev0 spm_addr_dev1, generic devices), not one');
      }
      let config: HmmTestConfig = { machine: defaultMachine(), params: null };
      if (opts.config !== undefined) {
        let text: string;
        try {
          text = readFileSync(opts.config, 'utf8');
        } catch (e) {
          throw new UsageError(`cannot read ${opts.config}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}; give the path of a YAML file`);
        }
        config = loadConfig(text, opts.config);
      }
      if (config.params !== null && (spm0 !== undefined || opts.coherent)) {
        throw new UsageError(`${opts.config} sets the module parameters already: give the SPM addresses and --coherent there (spm_type: coherent) or on the command line, not both`);
      }
      if (opts.coherent && spm0 === undefined && config.params === null) {
        throw new UsageError('--coherent needs the two SPM addresses the coherent devices use: hmm-test smoke --coherent <spm_addr_dev0> <spm_addr_dev1>');
      }
      const params: TestHmmParams = config.params ?? {
        spm_addr_dev0: spm0 === undefined ? 0 : parseAddress('spm_addr_dev0', spm0),
        spm_addr_dev1: spm1 === undefined ? 0 : parseAddress('spm_addr_dev1', spm1),
        spm_type: opts.coherent ? 'coherent' : 'generic',
      };
      const machine = config.machine;
      if (opts.kernel !== undefined && config.kernel !== undefined && opts.kernel !== config.kernel) {
        throw new UsageError(`--kernel ${opts.kernel} and ${opts.config}'s kernel: ${config.kernel} disagree: give the kernel in one place`);
      }
      const kernel = composeKernel(opts.kernel ?? config.kernel ?? DEFAULT_KERNEL, [...config.patches ?? [], ...opts.patch]);
      if ('error' in kernel) throw new UsageError(`${opts.patch.length ? '--patch' : config.patches?.length ? `${opts.config}: patches` : '--kernel'}: ${kernel.error}`);
      const seed = opts.seed === undefined ? undefined : parseSeed(opts.seed);
      const problem = checkModuleParams(params, machine);
      if (problem !== null) throw new UsageError(problem);
      if (harness.list) {
        for (const l of listSmoke(params)) process.stderr.write(`${l}\n`);
        process.exitCode = KSFT_SKIP;
        return;
      }
      const format = opts.format ?? (process.stdout.isTTY && !process.env.NO_COLOR ? 'pretty' : 'tap');
      if (format !== 'tap' && format !== 'pretty') throw new UsageError(`--format ${format}: say tap or pretty`);
      const pretty = format === 'pretty';
      const say = (l: string) => process.stdout.write(`${l}\n`);
      const result = runSmoke({
        params,
        machine,
        filter: (f, v, t) => testEnabled(harness.filters, f, v, t),
        // In pretty mode the TAP lines give way to one line per case; the messages show under it.
        out: pretty ? () => {} : say,
        err: pretty ? (l) => { if (l.startsWith('TRACE ')) process.stderr.write(`${l}\n`); } : (l) => process.stderr.write(`${l}\n`),
        onCase: pretty ? (r) => prettyCase(r).forEach(say) : undefined,
        trace: opts.trace,
        seed,
        kernel,
      });
      if (pretty) say(prettySummary(result));
      const save = (file: string, what: string, text: () => string) => {
        try {
          writeFileSync(file, text());
        } catch (e) {
          throw new UsageError(`cannot write the ${what} to ${file}: ${(e as Error).message}; give a writable file path`);
        }
      };
      if (opts.report) save(opts.report, 'report', () => smokeReport(params, machine, result, kernel.profile, kernel.patches));
      if (opts.junit) save(opts.junit, 'JUnit XML', () => junitXml('hmm-tests', result, { kernel: kernel.label }));
      process.exitCode = result.exitCode;
    });

  program
    .command('kernels')
    .description('list the kernel profiles (--kernel) and the upstream changes each has, with their sources, and the patches')
    .action(() => {
      for (const l of describeKernels()) process.stdout.write(`${l}\n`);
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
      process.exitCode = runCommand(files, opts, save, { report: scenarioReport, junit: (r, sc) => junitXml('hmm-test scenarios', r,
        { kernel: [...new Set(sc.map((s) => [s.kernel, ...s.patches].join(' + ')))].join(', ') }) });
    });

  program
    .command('catch')
    .description('run the suite (private and coherent variants) and the scenarios on the plain kernel and once per patch, ' +
      'and print which case or scenario catches which patch (its verdict differs)')
    .argument('[file...]', 'scenario files (default: the examples in scenarios/)')
    .option('--kernel <name>', `the kernel the patches go on (default ${DEFAULT_KERNEL})`)
    .option('--patch <name>', 'only this patch (repeat for more; default: every patch hmm-test kernels lists)', collectPatch, [])
    .action((files: string[], opts: { kernel?: string; patch: string[] }) => {
      process.exitCode = catchCommand(files, { ...opts, say: (l) => process.stdout.write(`${l}\n`), progress: (l) => process.stderr.write(`${l}\n`) });
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
      for (const l of r.lines) process.stdout.write(`${l}\n`);
      process.exitCode = r.same ? 0 : 1;
    });

  // The harness's getopt options (-t name, -l, ...) are read in order before commander sees the rest.
  let harness: HarnessArgs = { help: false, list: false, filters: [], rest: argv };
  if (argv[0] === 'smoke') {
    const parsed = parseHarnessArgs(argv.slice(1));
    if ('error' in parsed) fail(`${parsed.error}; try 'hmm-test smoke -h'`);
    harness = parsed;
    if (harness.help) {
      for (const l of HARNESS_USAGE) process.stderr.write(`${l}\n`);
      process.exit(KSFT_SKIP);
    }
    argv = ['smoke', ...harness.rest];
  }
  if (argv.length === 0) fail("missing command: run 'hmm-test smoke' (private devices) or 'hmm-test smoke <spm_addr_dev0> <spm_addr_dev1>' (generic devices)");
  try {
    program.parse(argv, { from: 'user' });
  } catch (e) {
    if (e instanceof UsageError) fail(e.message);
    if (e instanceof CommanderError) {
      if (e.code === 'commander.helpDisplayed' || e.code === 'commander.version' || e.code === 'commander.help') process.exit(0);
      if (e.code === 'commander.executeSubCommandAsync') process.exit(0);
      fail(`${e.message.replace(/^error: /, '').replace(/\.$/, '')}; try 'hmm-test --help'`);
    }
    throw e;
  }
}
