// SPDX-License-Identifier: GPL-2.0-only
/*
 * The command line as a kernel developer and a CI job meet it (issue 14):
 * failures that name their hmm-tests.c line, reports that identify their
 * run, terminal conventions (through a pseudo-terminal, `script` from
 * util-linux), timeouts, --bail, signals, failing stdout, packaging. Each
 * runs bin/hmm-test as a process, with -r to keep it short.
 */
import t from 'tap';
import { spawn, spawnSync, execFileSync, type SpawnSyncOptions } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync, symlinkSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { XMLParser } from 'fast-xml-parser';
import { ROOT, SHARED } from './helpers.js';
import { junitSchemaErrors } from './junit-schema.js';

const HMM_TEST = join(ROOT, 'bin', 'hmm-test');
const baseEnv: NodeJS.ProcessEnv = { ...process.env };
delete baseEnv.NODE_OPTIONS;
delete baseEnv.NO_COLOR;
delete baseEnv.FORCE_COLOR;
const dir = mkdtempSync(join(tmpdir(), 'hmm-test-cli-'));
const file = (name: string, text: string) => (writeFileSync(join(dir, name), text), join(dir, name));
const THP_ALWAYS = file('thp.yaml', 'machine:\n  transparent_hugepage: always\n');

const run = (args: string[], env: NodeJS.ProcessEnv = {}, opts: SpawnSyncOptions = {}) =>
  spawnSync(HMM_TEST, args, { encoding: 'utf8', env: { ...baseEnv, ...env }, timeout: 120_000, ...opts }) as { status: number | null; stdout: string; stderr: string };
/** Through a pseudo-terminal: stdout and stderr are a terminal, as in a developer's shell. */
const onTty = (cmd: string, env: NodeJS.ProcessEnv = {}) =>
  spawnSync('script', ['-qec', cmd, '/dev/null'], { encoding: 'utf8', env: { ...baseEnv, TERM: 'xterm-256color', ...env }, timeout: 120_000 });
const SGR = /\u001b\[[0-9;]*m/;
const EXCLUSIVE = ['exclusive', 'exclusive_mprotect', 'exclusive_cow'];

t.test('a THP=always failure: the real kernel\'s line, then the TypeScript place, errno name, device commands, rerun; reports of the run', (t) => {
  const report = join(dir, 'thp.yaml.out'), junit = join(dir, 'thp.xml');
  const args = ['smoke', '--config', THP_ALWAYS, '--seed', '7', ...EXCLUSIVE.flatMap((c) => ['-r', `hmm.hmm_device_private.${c}`]), '--report', report, '--junit', junit];
  const r = run(args);
  t.equal(r.status, 1, 'KSFT_FAIL');
  const real = readFileSync(join(SHARED, 'reference', 'private.tap.log'), 'utf8').split('\n').filter((l) => /:Expected /.test(l));
  t.equal(real.length, 3);
  const ours = r.stderr.split('\n').filter((l) => /:Expected /.test(l));
  // The real __FILE__ is the path gcc was given; the rest of the line is the same.
  t.same(ours, real.map((l) => l.replace(/^# \S*\/hmm-tests\.c:/, '# hmm-tests.c:')), 'hmm-tests.c lines and messages as on the real kernel');
  t.match(r.stderr, /# hmm-tests\.c:1817:exclusive:Expected ret \(-16\) == 0 \(0\)\n#   at src\/selftests\/hmm-tests\/exclusive\.ts:\d+; ret = -16 \(EBUSY\)\n#   last device commands:\n#     TRACE EXCLUSIVE npages=1024 ret=-16 cpages=0 faults=0\n# exclusive: Test terminated by assertion\n/);
  t.ok(existsSync(join(ROOT, /at (src\/selftests\/hmm-tests\/exclusive\.ts):/.exec(r.stderr)![1])), 'the TypeScript location is a path from the package root');
  t.match(r.stderr, /# rerun: hmm-test smoke --config \S+thp\.yaml --seed 7 -r hmm\.hmm_device_private\.exclusive --trace\n/);
  t.equal(r.stdout.split('\n').filter((l) => /^(not )?ok /.test(l)).join('|'),
    'not ok 1 hmm.hmm_device_private.exclusive|not ok 2 hmm.hmm_device_private.exclusive_mprotect|not ok 3 hmm.hmm_device_private.exclusive_cow', 'stdout stays TAP');

  const rep = parse(readFileSync(report, 'utf8'));
  t.match(rep.run, {
    tool: 'hmm-test', version: JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).version, kernel: '6.12', seed: 7, complete: true,
    filters: EXCLUSIVE.map((c) => `-r hmm.hmm_device_private.${c}`), argv: args, timeoutS: 30,
  });
  t.match(rep.run.commandLine, /^hmm-test smoke --config \S+ --seed 7 -r /);
  t.match(rep.configuration, { mode: 'private', memoryType: 'DEVICE_PRIVATE', configFile: THP_ALWAYS, machine: { transparentHugepage: 'always' } });
  t.same(rep.cases[0].failures, [{ kind: 'assertion', message: 'hmm-tests.c:1817:exclusive:Expected ret (-16) == 0 (0)' }]);

  const xml = readFileSync(junit, 'utf8');
  t.same(junitSchemaErrors(xml), [], 'valid by the Jenkins xunit schema');
  const doc = new XMLParser({ ignoreAttributes: false, attributeNamePrefix: '' }).parse(xml);
  const suite = doc.testsuites.testsuite;
  t.equal(suite.name, 'hmm-tests.private.hmm.hmm_device_private');
  const props = Object.fromEntries(suite.properties.property.map((p: { name: string; value: string }) => [p.name, p.value]));
  t.match(props, { 'kernel.profile': '6.12', mode: 'private', 'memory.type': 'DEVICE_PRIVATE', seed: '7', config: THP_ALWAYS, 'machine.transparent_hugepage': 'always' });
  t.match(props['command.line'], /^hmm-test smoke --config /);
  t.equal(suite.testcase[0].failure.type, 'AssertionFailure');
  t.end();
});

t.test('JUnit suite names differ by mode', (t) => {
  const names = (args: string[]) => {
    const junit = join(dir, `${args.length}.xml`);
    t.equal(run([...args, '-t', 'open_close', '--junit', junit]).status, 0);
    const xml = readFileSync(junit, 'utf8');
    t.same(junitSchemaErrors(xml), []);
    return [...xml.matchAll(/<testsuite name="([^"]+)"/g)].map((m) => m[1]);
  };
  const priv = names(['smoke']), coh = names(['smoke', '--coherent', '0x100000000', '0x110000000']);
  t.same(priv, ['hmm-tests.private.hmm.hmm_device_private', 'hmm-tests.private.hmm.hmm_device_coherent']);
  t.same(coh, ['hmm-tests.coherent.hmm.hmm_device_private', 'hmm-tests.coherent.hmm.hmm_device_coherent']);
  t.end();
});

t.test('--trace with 2>&1 is the reference trace log, line for line', (t) => {
  const r = spawnSync('bash', ['-c', `"${HMM_TEST}" smoke --trace --config "${THP_ALWAYS}" -T migrate_ping_pong 2>&1`], { encoding: 'utf8', env: baseEnv, timeout: 120_000 });
  t.equal(r.status, 1);
  const region = (lines: string[]) => lines.slice(lines.indexOf('TAP version 13'), lines.findIndex((l) => l.startsWith('# Totals')) + 1);
  let teardown = false;
  const same = (l: string) => {
    const m = /^#  RUN +(\S+)/.exec(l);
    if (m) teardown = m[1].endsWith('.anon_teardown');
    // anon_teardown races on the real kernel too: its READs are not compared.
    return !(teardown && l.startsWith('TRACE ')) && !/^\[\s*\d+\.\d+\]/.test(l) && !/^#   (at |last device|failure kinds)/.test(l);
  };
  // The trace copy of hmm-tests.c (trace.sed) has other line numbers: compare the messages.
  const msg = (l: string) => l.replace(/^# \S+?\.c:\d+:/, '# FILE:');
  const ref = region(readFileSync(join(SHARED, 'reference', 'private.trace.log'), 'utf8').split('\n')).filter(same).map(msg);
  const ours = region(r.stdout.split('\n')).filter(same).map(msg);
  t.equal(ours.filter((l) => l.startsWith('#  RUN')).length, 58, 'each RUN line once');
  t.notOk(ours.some((l) => l.startsWith('SCHED ')), 'no scheduler lines unless --trace-sched');
  t.same(ours, ref);
  t.end();
});

t.test('terminal: pretty format, a running line, colour only where wanted', (t) => {
  const cmd = (extra = '') => `"${HMM_TEST}" smoke -r hmm.hmm_device_private.open_close ${extra}`;
  const plain = onTty(cmd());
  t.equal(plain.status, 0);
  t.match(plain.stdout, /\u001b\[2K\S* hmm\.hmm_device_private\.open_close .*\(1\/1\)/, 'a running line, overwritten');
  t.match(plain.stdout, SGR, 'colour on a terminal');
  t.notMatch(plain.stdout, /TAP version/, 'pretty on a terminal');
  for (const [what, out] of [['NO_COLOR=1', onTty(cmd(), { NO_COLOR: '1' })], ['--no-color', onTty(cmd('--no-color'))]] as const) {
    t.equal(out.status, 0);
    t.notMatch(out.stdout, SGR, `${what}: no colour`);
    t.match(out.stdout, /✓ hmm\.hmm_device_private\.open_close \(\d+ ms\)/, `${what}: still the pretty format`);
  }
  const bad = onTty(`"${HMM_TEST}" smoke -t nope`);
  t.match(bad.stdout, SGR, 'the error prefix is red on a terminal');
  t.notMatch(onTty(`"${HMM_TEST}" smoke -t nope`, { NO_COLOR: '1' }).stdout, SGR, 'NO_COLOR covers the error prefix');
  const forced = run(['smoke', '--format', 'pretty', '-r', 'hmm.hmm_device_private.open_close'], { FORCE_COLOR: '1' });
  t.match(forced.stdout, SGR, 'FORCE_COLOR colours a pipe');
  t.match(run(['smoke', '-r', 'hmm.hmm_device_private.open_close'], { FORCE_COLOR: '1' }).stdout, /^TAP version 13\n/, 'FORCE_COLOR does not change the format');
  t.end();
});

t.test('smoke -h shows the tool\'s options and the harness\'s; --version', (t) => {
  const h = run(['smoke', '-h']);
  t.equal(h.status, 4, 'KSFT_SKIP, as ./hmm-tests -h');
  for (const o of ['--coherent', '--trace', '--junit', '--report', '--config', '--seed', '--timeout', '--bail', '--no-color', '-t name', '-r name']) t.match(h.stderr, o);
  const v = run(['--version']);
  t.equal(v.status, 0);
  t.equal(v.stdout, `${JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).version}\n`);
  t.end();
});

t.test('--timeout fails a case that runs past it, with its verdict, and the run goes on', (t) => {
  const report = join(dir, 'timeout.yaml');
  // Two cases that do real work: a case that finishes inside the limit passes, as kselftest's would, and one that
  // only skips (the coherent variant here) can, now that the threads have the model loaded before their first job.
  const r = run(['smoke', '--timeout', '0.001', '-r', 'hmm.hmm_device_private.migrate', '-r', 'hmm.hmm_device_private.migrate_multiple', '--report', report]);
  t.equal(r.status, 1);
  t.match(r.stderr, /# migrate: Test terminated by timeout\n/);
  const verdicts = r.stdout.split('\n').filter((l) => /^(not )?ok /.test(l));
  t.same(verdicts.map((l) => l.replace(/ hmm\..*/, '')), ['not ok 1', 'not ok 2'], 'every case gets its verdict, in order');
  t.match(r.stdout, /# Totals: pass:0 fail:2 /);
  t.same(parse(readFileSync(report, 'utf8')).cases.map((c: { failures: Array<{ kind: string }> }) => c.failures[0].kind), ['timeout', 'timeout']);
  t.match(run(['smoke', '--timeout', 'soon']).stderr, /^hmm-test: --timeout "soon" is not a time/);
  t.end();
});

t.test('--bail stops at the first failure', (t) => {
  const r = run(['smoke', '--config', THP_ALWAYS, '--bail', '-r', 'hmm.hmm_device_private.exclusive', '-r', 'hmm.hmm_device_private.hmm_cow_in_device']);
  t.equal(r.status, 1);
  t.match(r.stdout, /not ok 1 hmm\.hmm_device_private\.exclusive\nBail out! hmm\.hmm_device_private\.exclusive failed \(--bail\): 1 of 2 tests not run\n$/);
  t.end();
});

for (const [sig, code] of [['SIGINT', 130], ['SIGTERM', 143]] as const) {
  t.test(`${sig} in the middle of a run: the results so far are written, marked incomplete`, async (t) => {
    const report = join(dir, `${sig}.yaml`), junit = join(dir, `${sig}.xml`);
    const child = spawn(HMM_TEST, ['smoke', '--report', report, '--junit', junit], { env: baseEnv });
    let out = '';
    const status = await new Promise<number | null>((resolve) => {
      child.stdout.on('data', (d) => {
        out += d;
        // At least three: with the cases on several threads one chunk of stdout can hold several cases.
        if ((out.match(/^#  RUN/gm) ?? []).length >= 3 && !child.killed) child.kill(sig);
      });
      child.on('exit', (c) => resolve(c));
    });
    t.equal(status, code, `128 + ${sig}`);
    t.match(out, new RegExp(`\\nBail out! interrupted by ${sig} `));
    const rep = parse(readFileSync(report, 'utf8'));
    t.equal(rep.run.complete, false);
    t.match(rep.run.incomplete, sig);
    t.ok(rep.cases.length >= 2 && rep.cases.length < 60, `the cases that ran (${rep.cases.length})`);
    t.match(readFileSync(junit, 'utf8'), new RegExp(`<property name="incomplete" value="interrupted by ${sig}`));
  });
}

t.test('bad input, the rest of it: one line each, non-zero, before the run', (t) => {
  const deep = file('deep.yaml', `machine: ${'['.repeat(5000)}${']'.repeat(5000)}\n`);
  const big = file('big.yaml', `# ${'x'.repeat(100_000)}\n`);
  const cfg = (name: string, text: string) => ['smoke', '--config', file(name, text)];
  const fifo = join(dir, 'fifo');
  execFileSync('mkfifo', [fifo]);
  const cases: Array<[string[], RegExp]> = [
    [['smoke', '--config', fifo], /is not a regular file \(a FIFO\)/],
    [['smoke', '--config', '/dev/zero'], /is not a regular file \(a character device\)/],
    [['smoke', '--config', big], /more than a configuration needs/],
    [['smoke', '--config', deep], /nested too deeply to be a configuration/],
    [cfg('pb.yaml', 'machine:\n  physBits: 1e400\n'), /machine\.physBits Infinity: give a whole number/],
    [cfg('h1.yaml', 'machine:\n  hugepages: ""\n'), /machine\.hugepages "": give a whole number/],
    [cfg('h2.yaml', 'machine:\n  hugepages: []\n'), /machine\.hugepages \[\]: give a whole number/],
    [cfg('h3.yaml', 'machine:\n  hugepages: false\n'), /machine\.hugepages false: give a whole number/],
    [cfg('h4.yaml', 'machine:\n  hugepages: 4000\n'), /more than half of machine\.ram/],
    [cfg('s0.yaml', 'machine:\n  spm:\n    - { start: 0x100000000, size: "0" }\n'), /size: "0" is not a size/],
    [cfg('co.yaml', 'module:\n  spm_type: coherent\n'), /spm_type "coherent" needs spm_addr_dev0 and spm_addr_dev1/],
    [['smoke', '--coherent', '0', '0'], /0 is no device memory address/],
    [['smoke', '--public'], /--public needs the two SPM addresses the public devices use: hmm-test smoke --public/],
    [['smoke', '--public', '--coherent', '0x100000000', '0x110000000'], /--coherent and --public both choose what devices 2 and 3 are: give one/],
    [['smoke', '--public', '0x100000000', '0x100000000'], /cannot load test_hmm .*each address must start 256 MiB/],
    [['smoke', '--coherent', '0x10000000000', '0x10010000000'], /beyond the machine's 40 physical address bits/],
    [['smoke', '--report', ''], /--report "": give the path/],
    [['smoke', '--report', join(dir, 'same'), '--junit', join(dir, 'same')], /--report and --junit both name/],
    [['smoke', '--junit', '/nonexistent/x.xml'], /cannot write --junit \/nonexistent\/x\.xml/],
    [['smoke', '-t', 'exclusiv'], /-t exclusiv: no test of that name in this mode; did you mean exclusive/],
    [['smoke', '-v', 'hmm_device_privat'], /did you mean hmm_device_private/],
    [['smoke', '-x'], /unknown option '-x'/],
    [['smoke', '--nope'], /unknown option '--nope'/],
  ];
  for (const [args, want] of cases) {
    const r = run(args, {}, { timeout: 30_000 });
    t.equal(r.status, 1, `${args.join(' ')}: exit 1`);
    t.equal(r.stdout, '', `${args.join(' ')}: nothing ran`);
    t.match(r.stderr, want, args.join(' '));
    t.equal(r.stderr.trimEnd().split('\n').length, 1, `${args.join(' ')}: one line`);
  }
  t.end();
});

t.test('stdout that fails ends the run with one line and the right status', (t) => {
  const full = spawnSync('bash', ['-c', `"${HMM_TEST}" smoke -r hmm.hmm_device_private.open_close > /dev/full`], { encoding: 'utf8', env: baseEnv });
  t.equal(full.status, 1);
  t.match(full.stderr, /^hmm-test: cannot write to stdout \(ENOSPC\); the run stopped before its first test\n$/);
  const piped = spawnSync('bash', ['-c', `"${HMM_TEST}" smoke | head -1; exit \${PIPESTATUS[0]}`], { encoding: 'utf8', env: baseEnv });
  t.equal(piped.stdout, 'TAP version 13\n');
  t.equal(piped.status, 141, 'as a death by SIGPIPE, not 0');
  t.match(piped.stderr, /^hmm-test: cannot write to stdout \(EPIPE: the reader went away\); the run stopped /);
  t.end();
});

t.test('packaging: what the package ships resolves; test_hmm.sh through a symlink; a fresh clone says what to do', (t) => {
  const pack = JSON.parse(execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: ROOT, encoding: 'utf8', env: baseEnv }))[0];
  const files = new Set<string>(pack.files.map((f: { path: string }) => f.path));
  for (const f of ['bin/hmm-test', 'scripts/test_hmm.sh', 'README.md', 'src/selftests/hmm-tests/exclusive.ts', 'src/kernel-model/README.md']) t.ok(files.has(f), `ships ${f}`);
  // Every source a shipped source map names is shipped too, so a stack or a failure location resolves.
  const missing = [...files].filter((f) => f.endsWith('.js.map')).flatMap((m) => {
    const map = JSON.parse(readFileSync(join(ROOT, m), 'utf8')) as { sources: string[] };
    return map.sources.map((s) => join(m, '..', s)).filter((s) => !files.has(s));
  });
  t.same(missing, [], 'source maps resolve inside the package');
  // The paths the README names are in the package, or said to be the repository's only.
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const named = [...readme.matchAll(/`((?:src|scripts|bin|tests|bench)\/[\w./-]*)`/g)].map((m) => m[1].replace(/\/$/, ''));
  for (const p of named) {
    const inPackage = [...files].some((f) => f === p || f.startsWith(`${p}/`));
    t.ok(inPackage || /^(tests|bench)/.test(p), `README names ${p}: shipped, or under tests/ or bench/ (the repository's, as the README says)`);
  }
  t.match(readme, /tests\/ and bench\/ .*repository/, 'the README says which paths only the repository has');
  t.equal(JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).bin['test_hmm.sh'], 'scripts/test_hmm.sh', 'test_hmm.sh is installed');
  const link = join(dir, 'test_hmm.sh');
  symlinkSync(join(ROOT, 'scripts', 'test_hmm.sh'), link);
  const viaLink = spawnSync(link, ['smoke', '0x100000000'], { encoding: 'utf8', env: baseEnv });
  t.equal(viaLink.status, 1);
  t.match(viaLink.stderr, /Missing module parameters/);
  // Through the link the script still finds bin/hmm-test: its one-line error about the addresses comes back.
  const viaLinkRun = spawnSync(link, ['smoke', '0x1', '0x2'], { encoding: 'utf8', env: baseEnv });
  t.equal(viaLinkRun.status, 1);
  t.match(viaLinkRun.stderr, /^hmm-test: cannot load test_hmm with spm_addr_dev0=0x1 /m, 'hmm-test ran through the link');
  const clone = join(dir, 'clone');
  execFileSync('git', ['clone', '-q', ROOT, clone]);
  const fresh = spawnSync(join(clone, 'bin', 'hmm-test'), ['smoke'], { encoding: 'utf8', env: baseEnv });
  t.equal(fresh.status, 1);
  t.match(fresh.stderr, /^hmm-test: not built yet: run 'npm install'/);
  t.end();
});
