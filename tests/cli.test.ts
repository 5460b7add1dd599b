// SPDX-License-Identifier: GPL-2.0-only
/* The command line as a user meets it: exit codes, TAP on stdout, one-line errors, the script. */
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { ROOT } from './helpers.js';
import { parseAddress } from '../src/cli/args.js';

// The child runs as a user would run it: without the test runner's loaders in NODE_OPTIONS.
const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: '1' };
delete env.NODE_OPTIONS;
const run = (cmd: string, args: string[]) => spawnSync(join(ROOT, cmd), args, { encoding: 'utf8', env });

t.test('parseAddress accepts what modprobe accepts', (t) => {
  t.equal(parseAddress('x', '0x100000000'), 0x100000000);
  t.equal(parseAddress('x', '4294967296'), 0x100000000);
  t.equal(parseAddress('x', '040000000000'), 0x100000000);
  t.equal(parseAddress('x', '0'), 0);
  for (const bad of ['', 'zz', '0x', '-1', '0x1g', '09', '1e9']) t.throws(() => parseAddress('x', bad), { name: 'UsageError' }, bad);
  t.end();
});

t.test('hmm-test smoke: TAP on stdout, exit 0', (t) => {
  for (const args of [['smoke'], ['smoke', '0x100000000', '0x140000000']]) {
    const r = run('bin/hmm-test', args);
    t.equal(r.status, 0, r.stderr);
    t.equal(r.stdout.split('\n')[0], 'TAP version 13');
    t.match(r.stdout, /# PASSED: (\d+) \/ \1 tests passed\./);
  }
  t.end();
});

// Exit 1 for bad usage: kselftest_harness.h's test_harness_argv_check() returns KSFT_FAIL after an unknown option.
t.test('bad input: one line on stderr, exit 1, no stack trace', (t) => {
  for (const args of [[], ['bogus'], ['smoke', '0x100000000'], ['smoke', 'zz', '0x1'], ['smoke', '1', '2', '3'],
    ['smoke', '0x100000000', '0x100000000'], ['smoke', '0x1', '0x2'], ['smoke', '--nope'], ['smoke', '--seed', 'x'],
    ['smoke', '--seed', '4294967296']]) {
    const r = run('bin/hmm-test', args);
    t.equal(r.status, 1, `exit status for ${args.join(' ')}`);
    t.equal(r.stdout, '', 'nothing on stdout');
    const lines = r.stderr.trimEnd().split('\n');
    t.equal(lines.length, 1, `one line for ${args.join(' ')}: ${r.stderr}`);
    t.match(lines[0], /^hmm-test: /);
    t.notMatch(r.stderr, /\n\s+at /, 'no stack trace');
  }
  t.end();
});

t.test('--seed picks the interleaving of anon_teardown: the same seed repeats its trace', (t) => {
  const args = (seed: string) => ['smoke', '--format', 'tap', '--trace', '--trace-sched', '--seed', seed, '-r', 'hmm.hmm_device_private.anon_teardown'];
  const lines = (stderr: string) => stderr.split('\n').filter((l) => /^(TRACE|SCHED) /.test(l));
  const a = run('bin/hmm-test', args('5')), b = run('bin/hmm-test', args('5')), c = run('bin/hmm-test', args('6'));
  for (const r of [a, b, c]) t.equal(r.status, 0, r.stderr);
  t.equal(lines(a.stderr).filter((l) => l.startsWith('TRACE READ')).length, 10);
  t.ok(lines(a.stderr).some((l) => /^SCHED t=\d+ns tid=\d+ runs at /.test(l)), 'SCHED lines say where a thread ran');
  t.same(lines(b.stderr), lines(a.stderr));
  t.not(lines(c.stderr).join('\n'), lines(a.stderr).join('\n'));
  t.end();
});

t.test('scripts/test_hmm.sh mirrors the kernel script', (t) => {
  const ok = run('scripts/test_hmm.sh', ['smoke']);
  t.equal(ok.status, 0);
  t.match(ok.stdout, /^Running smoke test\. Note, this test provides basic coverage\.\nTAP version 13/);
  t.equal(run('scripts/test_hmm.sh', ['smoke', '0x100000000', '0x140000000']).status, 0);
  const usage = run('scripts/test_hmm.sh', []);
  t.equal(usage.status, 0);
  t.match(usage.stdout, /\.\/test_hmm\.sh smoke <spm_addr_dev0> <spm_addr_dev1>/);
  t.match(usage.stdout, /\.\/test_hmm\.sh smoke <spm_addr_dev0> <spm_addr_dev1> spm_type=public/);
  const one = run('scripts/test_hmm.sh', ['smoke', '0x100000000']);
  t.equal(one.status, 1);
  t.match(one.stderr, /Missing module parameters/);
  t.equal(run('scripts/test_hmm.sh', ['other']).status, 1);
  t.end();
});

t.test('--report writes YAML that reads back with the configuration, cases and totals', async (t) => {
  const { mkdtempSync, readFileSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { parse } = await import('yaml');
  const file = join(mkdtempSync(join(tmpdir(), 'hmm-test-')), 'report.yaml');
  const r = run('bin/hmm-test', ['smoke', '0x100000000', '0x140000000', '--report', file, '-t', 'snapshot']);
  t.equal(r.status, 0, r.stderr);
  const rep = parse(readFileSync(file, 'utf8'));
  t.same(rep.configuration.parameters, { spm_addr_dev0: '0x100000000', spm_addr_dev1: '0x140000000', spm_type: 'generic' });
  t.equal(rep.configuration.memoryType, 'DEVICE_GENERIC');
  t.ok(rep.configuration.machine.memoryMap.some((e: { type: string }) => e.type === 'Soft Reserved'));
  t.same(rep.cases.map((c: { name: string; status: string }) => [c.name, c.status]), [['hmm2.hmm2_device_generic.snapshot', 'pass']]);
  t.same(rep.totals, { planned: 1, run: 1, pass: 1, fail: 0, skip: 0, exitCode: 0 });
  const bad = run('bin/hmm-test', ['smoke', '--report', '/nonexistent/dir/r.yaml', '-r', 'hmm.hmm_device_private.open_close']);
  t.equal(bad.status, 1);
  t.match(bad.stderr, /^hmm-test: cannot write --report \/nonexistent\/dir\/r\.yaml: .*; give a writable file path\n$/);
  t.equal(bad.stdout, '', 'checked before the run starts');
  t.end();
});
