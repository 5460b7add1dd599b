// SPDX-License-Identifier: GPL-2.0-only
/* The harness's -h -l -t -T -v -V -f -F -r, as kselftest_harness.h 6.12 reads them. */
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { Harness } from '../src/kselftest/harness.js';
import { parseHarnessArgs, testEnabled, listTests, type HarnessFilter } from '../src/kselftest/options.js';
import { ROOT } from './helpers.js';

const f = (...pairs: Array<[HarnessFilter['opt'], string]>): HarnessFilter[] => pairs.map(([opt, name]) => ({ opt, name }));

t.test('test_enabled(): first matching filter wins, exclusions alone keep the rest', (t) => {
  t.equal(testEnabled([], 'hmm', 'private', 'migrate'), true);
  t.equal(testEnabled(f(['T', 'migrate']), 'hmm', 'private', 'migrate'), false);
  t.equal(testEnabled(f(['T', 'migrate']), 'hmm', 'private', 'snapshot'), true);
  t.equal(testEnabled(f(['t', 'migrate']), 'hmm', 'private', 'snapshot'), false);
  // The usage text's example: all of variant 'bla' but not test 'foo'.
  t.equal(testEnabled(f(['T', 'foo'], ['v', 'bla']), 'x', 'bla', 'foo'), false);
  t.equal(testEnabled(f(['T', 'foo'], ['v', 'bla']), 'x', 'bla', 'bar'), true);
  t.equal(testEnabled(f(['v', 'bla'], ['T', 'foo']), 'x', 'bla', 'foo'), true, 'order matters');
  t.equal(testEnabled(f(['F', 'hmm2'], ['f', 'hmm']), 'hmm2', 'v', 'c'), false);
  t.equal(testEnabled(f(['r', 'hmm.private.migrate']), 'hmm', 'private', 'migrate'), true);
  t.equal(testEnabled(f(['r', 'hmm.private.migrate']), 'hmm', 'private', 'migrate_fault'), false);
  t.equal(testEnabled(f(['r', 'hmm.migrate']), 'hmm', '', 'migrate'), true, 'no variant: fixture.test');
  t.end();
});

t.test('getopt: bundled and separate names, the rest passed through, errors', (t) => {
  t.same(parseHarnessArgs(['0x1', '-tmigrate', '-T', 'snapshot', '--trace', '0x2', '-l']),
    { help: false, list: true, filters: f(['t', 'migrate'], ['T', 'snapshot']), rest: ['0x1', '--trace', '0x2'] });
  t.same(parseHarnessArgs(['-h']), { help: true, list: false, filters: [], rest: [] });
  t.match(parseHarnessArgs(['-t']), { error: /needs a name/ });
  t.match(parseHarnessArgs(['-lx']), { error: /unknown option -x/ });
  t.end();
});

t.test('-l lists fixtures, variants and tests in the C columns', (t) => {
  const h = new Harness();
  const a = h.fixture('a', { create: () => ({}), setup() {}, teardown() {} });
  a.variant('one', {}).variant('two', {}).variant('three', {});
  a.testF('x', () => {}).testF('y', () => {});
  h.fixture('b', { create: () => ({}), setup() {}, teardown() {} }).testF('z', () => {});
  t.same(listTests(h), [
    '# FIXTURE            VARIANT                   TEST',
    'a                    one                       x',
    '                     two                       y',
    '                     three                     ',
    '-'.repeat(80),
    'b                                              z',
  ]);
  t.end();
});

t.test('hmm-test smoke with harness options', (t) => {
  const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: '1' };
  delete env.NODE_OPTIONS;
  const run = (args: string[]) => spawnSync(join(ROOT, 'bin/hmm-test'), ['smoke', ...args], { encoding: 'utf8', env });
  const l = run(['-l']);
  t.equal(l.status, 4, '-l exits with KSFT_SKIP');
  t.match(l.stderr, /^hmm {18}hmm_device_private {8}open_close$/m);
  const sel = run(['-t', 'migrate', '-r', 'hmm2.hmm2_device_private.snapshot']);
  t.equal(sel.status, 0);
  t.match(sel.stdout, /^1\.\.3$/m);
  t.match(sel.stdout, /^ok 1 hmm\.hmm_device_private\.migrate$/m);
  t.match(sel.stdout, /^ok 2 hmm\.hmm_device_coherent\.migrate # SKIP DEVICE_COHERENT not available$/m);
  t.match(sel.stdout, /^ok 3 hmm2\.hmm2_device_private\.snapshot$/m);
  // test_enabled(): the first option that names the case decides, so -T before -t excludes.
  const gen = run(['0x100000000', '-V', 'hmm2_device_generic', '0x140000000', '-T', 'migrate_fault', '-t', 'migrate', '-t', 'migrate_fault']);
  t.equal(gen.status, 0, gen.stderr);
  t.match(gen.stdout, /^# PASSED: 1 \/ 1 tests passed\.$/m);
  const coh = run(['--coherent', '0x100000000', '0x110000000', '-F', 'hmm', '-T', 'snapshot']);
  t.equal(coh.status, 0, coh.stderr);
  t.match(coh.stdout, /^# PASSED: 4 \/ 4 tests passed\.$/m, 'hmm2 private and coherent: migrate_mixed and double_map');
  t.equal(run(['-h']).status, 4);
  const bad = run(['-q']);
  // test_harness_argv_check() prints its usage and returns KSFT_FAIL for an unknown option.
  t.equal(bad.status, 1);
  t.equal(bad.stderr.trimEnd().split('\n').length, 1);
  t.end();
});
