// SPDX-License-Identifier: GPL-2.0-only
/*
 * Tests of the kselftest harness port: TAP text, ordering, teardown rules,
 * ASSERT/EXPECT/SKIP semantics and the recovered "Expected ..." texts.
 */
import t from 'tap';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Harness, type RunOptions, type RunResult } from '../src/kselftest/harness.js';
import { formatValue, isHarnessSignal, Metadata } from '../src/kselftest/assert.js';
import { splitCall } from '../src/kselftest/callsite.js';

/* This file's TypeScript source, to find the line numbers the harness must report. */
const SELF_TS = fileURLToPath(new URL('../../tests/kselftest.test.ts', import.meta.url));
function lineOf(marker: string): number {
  const lines = readFileSync(SELF_TS, 'utf8').split('\n');
  const hits = lines.flatMap((l, i) => (l.includes(`// ${marker}`) ? [i + 1] : []));
  if (hits.length !== 1) throw new Error(`marker ${marker} found ${hits.length} times`);
  return hits[0];
}

interface Captured extends RunResult {
  out: string[];
  err: string[];
}

function runIt(h: Harness, extra: Partial<RunOptions> = {}): Captured {
  const out: string[] = [];
  const err: string[] = [];
  const res = h.run({ out: (l) => out.push(l), err: (l) => err.push(l), ...extra });
  return { ...res, out, err };
}

interface Self { fd: number }
interface Var { ret: number }
const plainFixture = {
  create: (): Self => ({ fd: -1 }),
  setup: (self: Self) => { self.fd = 3; },
  teardown: (self: Self) => { self.fd = -1; },
};

/* Two fixtures, declared interleaved, the first with two variants. */
function mixedHarness(): Harness {
  const h = new Harness();
  h.fixture<Self, Var>('fx', plainFixture);
  h.variant<Var>('fx', 'v1', { ret: 0 });
  h.fixture<Self, undefined>('gx', plainFixture);
  h.testF('fx', 'pass_case', (self: Self, _v: Var, m: Metadata) => {
    m.ASSERT_EQ(self.fd, 3);
  });
  h.testF('gx', 'only', (_s: Self, _v: undefined, m: Metadata) => {
    m.EXPECT_TRUE(1);
  });
  h.variant<Var>('fx', 'v2', { ret: -14 });
  h.testF('fx', 'fail_case', (_s: Self, variant: Var, m: Metadata) => {
    const ret = variant.ret;
    m.ASSERT_EQ(ret, 0); // MARK-ret-eq
  });
  h.testF('fx', 'skip_case', (_s: Self, _v: Var, m: Metadata) => {
    m.SKIP('not here');
  });
  return h;
}

t.test('whole TAP output: pass, fail, skip, kernel ordering', async (tt) => {
  const r = runIt(mixedHarness());
  const block = (n: number, name: string, verdict: string, tap: string) => [
    `#  RUN           ${name} ...`,
    `#          ${verdict}  ${name}`,
    tap.replace('%', `${n} ${name}`),
  ];
  tt.strictSame(r.out, [
    'TAP version 13',
    '1..7',
    '# Starting 7 tests from 3 test cases.',
    ...block(1, 'fx.v1.pass_case', '  OK', 'ok %'),
    ...block(2, 'fx.v1.fail_case', '  OK', 'ok %'),
    ...block(3, 'fx.v1.skip_case', '  OK', 'ok % # SKIP not here'),
    ...block(4, 'fx.v2.pass_case', '  OK', 'ok %'),
    ...block(5, 'fx.v2.fail_case', 'FAIL', 'not ok %'),
    ...block(6, 'fx.v2.skip_case', '  OK', 'ok % # SKIP not here'),
    ...block(7, 'gx.only', '  OK', 'ok %'),
    '# FAILED: 6 / 7 tests passed.',
    '# Totals: pass:4 fail:1 xfail:0 xpass:0 skip:2 error:0',
  ]);
  tt.strictSame(r.err, [
    '#      SKIP      not here',
    `# tests/kselftest.test.ts:${lineOf('MARK-ret-eq')}:fail_case:Expected ret (-14) == 0 (0)`,
    '# fail_case: Test terminated by assertion',
    '#      SKIP      not here',
  ]);
  tt.equal(r.exitCode, 1);
  tt.strictSame([r.pass, r.fail, r.skip], [4, 1, 2]);
  tt.strictSame(r.results.map((x) => `${x.name}:${x.status}`), [
    'fx.v1.pass_case:pass', 'fx.v1.fail_case:pass', 'fx.v1.skip_case:skip',
    'fx.v2.pass_case:pass', 'fx.v2.fail_case:fail', 'fx.v2.skip_case:skip', 'gx.only:pass',
  ]);
  tt.equal(r.results[2].reason, 'not here');
  tt.equal(r.results[4].messages.length, 2);
  tt.ok(r.results.every((x) => x.durationMs >= 0));
});

t.test('lines match the format of the real 6.12 binary', async (tt) => {
  const h = new Harness();
  h.fixture('hmm2', { create: () => ({}), setup: (_s, _v, m: Metadata) => m.SKIP('DEVICE_COHERENT not available'), teardown: () => {} });
  h.variant('hmm2', 'hmm2_device_coherent', {});
  h.testF('hmm2', 'double_map', () => {});
  const r = runIt(h);
  tt.strictSame(r.out.slice(3), [
    '#  RUN           hmm2.hmm2_device_coherent.double_map ...',
    '#            OK  hmm2.hmm2_device_coherent.double_map',
    'ok 1 hmm2.hmm2_device_coherent.double_map # SKIP DEVICE_COHERENT not available',
    '# PASSED: 1 / 1 tests passed.',
    '# Totals: pass:0 fail:0 xfail:0 xpass:0 skip:1 error:0',
  ]);
  tt.strictSame(r.err, ['#      SKIP      DEVICE_COHERENT not available']);
  tt.equal(r.exitCode, 0);
});

/* A fixture that records the order of setup/body/teardown calls. */
function tracing(log: string[], setup: (m: Metadata) => void = () => {}, teardown: (m: Metadata) => void = () => {}) {
  return {
    create: () => ({}),
    setup: (_s: object, _v: unknown, m: Metadata) => { log.push(`setup:${m.name}`); setup(m); },
    teardown: (_s: object, _v: unknown, m: Metadata) => { log.push(`teardown:${m.name}`); teardown(m); },
  };
}

t.test('teardown after an ASSERT failure in the body runs exactly once', async (tt) => {
  const log: string[] = [];
  const h = new Harness();
  h.fixture('f', tracing(log, undefined, (m) => m.ASSERT_EQ(1, 2)));
  h.testF('f', 'a', (_s, _v, m: Metadata) => {
    log.push('body:a');
    m.ASSERT_NE(0, 0);
    log.push('after-assert');
  });
  const r = runIt(h);
  tt.strictSame(log, ['setup:a', 'body:a', 'teardown:a']);
  tt.equal(r.out[4], '#          FAIL  f.a');
  tt.equal(r.out[5], 'not ok 1 f.a');
  tt.equal(r.err.filter((l) => l.endsWith('Test terminated by assertion')).length, 1);
  tt.equal(r.err.length, 3, 'body ASSERT, teardown ASSERT, one termination line');
});

t.test('setup that fails or skips runs neither body nor teardown', async (tt) => {
  const log: string[] = [];
  const h = new Harness();
  h.fixture('f', tracing(log, (m) => {
    if (m.name === 'assert') m.ASSERT_TRUE(0);
    if (m.name === 'expect') m.EXPECT_FALSE(true);
    if (m.name === 'skip') m.SKIP('no device');
  }));
  for (const n of ['assert', 'expect', 'skip', 'fine']) h.testF('f', n, () => { log.push(`body:${n}`); });
  const r = runIt(h);
  tt.strictSame(log, ['setup:assert', 'setup:expect', 'setup:skip', 'setup:fine', 'body:fine', 'teardown:fine']);
  tt.strictSame(r.out.filter((l) => /^(not )?ok /.test(l)), [
    'not ok 1 f.assert', 'not ok 2 f.expect', 'ok 3 f.skip # SKIP no device', 'ok 4 f.fine',
  ]);
  tt.match(r.err[0], /^# tests\/kselftest\.test\.ts:\d+:assert:Expected 0 \(0\) != 0 \(0\)$/);
  tt.equal(r.err[1], '# assert: Test terminated by assertion');
  tt.match(r.err[2], /:expect:Expected 0 \(0\) == true \(1\)$/);
  tt.equal(r.err[3], '# expect: Test failed');
});

t.test('SKIP in the body still tears down; EXPECT failure is lost to a later SKIP, as in C', async (tt) => {
  const log: string[] = [];
  const h = new Harness();
  h.fixture('f', tracing(log));
  h.testF('f', 's', (_s, _v, m: Metadata) => {
    m.EXPECT_EQ(1, 2);
    m.SKIP('later');
  });
  const r = runIt(h);
  tt.strictSame(log, ['setup:s', 'teardown:s']);
  tt.equal(r.out[5], 'ok 1 f.s # SKIP later');
  tt.equal(r.exitCode, 0);
});

t.test('EXPECT_* logs, continues and fails the case', async (tt) => {
  let reached = false;
  const h = new Harness();
  h.fixture('f', plainFixture);
  h.testF('f', 'e', (_s, _v, m: Metadata) => {
    const pages = 3;
    m.EXPECT_EQ(pages, 4); // MARK-expect
    m.EXPECT_GE(1n, 2n);
    reached = true;
  });
  const r = runIt(h);
  tt.ok(reached, 'body ran past the failed EXPECTs');
  tt.strictSame(r.err, [
    `# tests/kselftest.test.ts:${lineOf('MARK-expect')}:e:Expected pages (3) == 4 (4)`,
    `# tests/kselftest.test.ts:${lineOf('MARK-expect') + 1}:e:Expected 1n (1) >= 2n (2)`,
    '# e: Test failed',
  ]);
  tt.equal(r.out[5], 'not ok 1 f.e');
  tt.equal(r.exitCode, 1);
  tt.strictSame([r.pass, r.fail, r.skip], [0, 1, 0]);
  tt.equal(r.out.at(-2), '# FAILED: 0 / 1 tests passed.');
});

t.test('an unexpected exception fails only its own case, teardown still runs', async (tt) => {
  const log: string[] = [];
  const h = new Harness();
  h.fixture('f', tracing(log));
  h.testF('f', 'before', () => {});
  h.testF('f', 'boom', () => {
    throw new Error('BUG: kernel NULL pointer dereference\nCall Trace: dmirror_fault');
  });
  h.testF('f', 'segv', () => {
    throw Object.assign(new RangeError('bad address'), { signal: 11 });
  });
  h.testF('f', 'after', () => {});
  const r = runIt(h);
  tt.strictSame(r.out.filter((l) => /^(not )?ok /.test(l)), ['ok 1 f.before', 'not ok 2 f.boom', 'not ok 3 f.segv', 'ok 4 f.after']);
  tt.strictSame(r.err, [
    '# BUG: kernel NULL pointer dereference',
    '# Call Trace: dmirror_fault',
    '# boom: Test terminated unexpectedly by exception',
    '# RangeError: bad address',
    '# segv: Test terminated unexpectedly by signal 11',
  ]);
  tt.equal(log.filter((l) => l.startsWith('teardown:')).length, 4);
  tt.equal(r.exitCode, 1);
});

t.test('a test body returning a Promise fails', async (tt) => {
  const h = new Harness();
  h.fixture('f', plainFixture);
  h.testF('f', 'async', (async () => {}) as () => void);
  const r = runIt(h);
  tt.equal(r.out[5], 'not ok 1 f.async');
  tt.match(r.err[0], /asynchronous test function/);
});

t.test('argument texts survive nesting, strings and line breaks', async (tt) => {
  const h = new Harness();
  h.fixture('f', plainFixture);
  const f = (a: number, b: number) => a + b;
  h.testF('f', 'nest', (_s, _v, m: Metadata) => {
    m.EXPECT_EQ(f(1, 2), // MARK-nest
      ['a,b', ')'].length /* a comment, with comma */);
    m.EXPECT_NULL({ x: 1 });
    m.EXPECT_LT(-1, -2);
    m.ASSERT_EQ(true, null);
  });
  const r = runIt(h);
  const line = lineOf('MARK-nest');
  tt.strictSame(r.err, [
    `# tests/kselftest.test.ts:${line}:nest:Expected f(1, 2) (3) == ['a,b', ')'].length (2)`,
    `# tests/kselftest.test.ts:${line + 2}:nest:Expected NULL (0) == { x: 1 } (<Object>)`,
    `# tests/kselftest.test.ts:${line + 3}:nest:Expected -1 (-1) < -2 (-2)`,
    `# tests/kselftest.test.ts:${line + 4}:nest:Expected true (1) == null (0)`,
    '# nest: Test terminated by assertion',
  ]);
});

t.test('source text unavailable: values are still printed, nothing throws', async (tt) => {
  const m = new Metadata('f', 'v', 'evald', () => {});
  const body = new Function('m', 'm.EXPECT_EQ(5, 6);') as (m: Metadata) => void;
  body(m);
  tt.equal(m.messages.length, 1);
  tt.match(m.messages[0], /^# [^:]*:\d+:evald:Expected \? \(5\) == \? \(6\)$/);
  tt.equal(m.exitCode, 1);
  tt.equal(m.fullName, 'f.v.evald');
});

t.test('ASSERT throws a harness signal that is not an Error', async (tt) => {
  const m = new Metadata('f', '', 'c');
  let caught: unknown;
  try {
    m.ASSERT_GT(1, 1);
  } catch (e) {
    caught = e;
  }
  tt.ok(isHarnessSignal(caught));
  tt.notOk(caught instanceof Error);
  tt.ok(m.aborted);
  tt.equal(m.fullName, 'f.c');
  m.ASSERT_GE(2, 1); // passing checks leave no trace
  tt.equal(m.messages.length, 1);
});

t.test('formatValue prints like %jd', async (tt) => {
  tt.equal(formatValue(-14), '-14');
  tt.equal(formatValue(-0), '0');
  tt.equal(formatValue(2 ** 64), '18446744073709551616');
  tt.equal(formatValue(-(2n ** 63n)), '-9223372036854775808');
  tt.equal(formatValue(true), '1');
  tt.equal(formatValue(undefined), '0');
});

t.test('splitCall', async (tt) => {
  tt.strictSame(splitCall('X(a, b)', 1), ['a', 'b']);
  tt.strictSame(splitCall('X (  a +\n  1 ,`x${1},y`, )', 1), ['a + 1', '`x${1},y`']);
  tt.strictSame(splitCall('X(a, "\\",", b)', 1), ['a', '"\\","', 'b']);
  tt.equal(splitCall('X(a, b', 1), undefined);
  tt.equal(splitCall('X a', 1), undefined);
});

t.test('filter, case count and a clean exit code', async (tt) => {
  const h = mixedHarness();
  const r = runIt(h, { filter: (f, v, c) => f === 'gx' || (v === 'v2' && c === 'pass_case') });
  tt.strictSame(r.out.slice(0, 3), ['TAP version 13', '1..2', '# Starting 2 tests from 2 test cases.']);
  tt.strictSame(r.out.filter((l) => /^ok /.test(l)), ['ok 1 fx.v2.pass_case', 'ok 2 gx.only']);
  tt.equal(r.out.at(-2), '# PASSED: 2 / 2 tests passed.');
  tt.equal(r.out.at(-1), '# Totals: pass:2 fail:0 xfail:0 xpass:0 skip:0 error:0');
  tt.equal(r.exitCode, 0);
});

t.test('caseContext wraps each case; leaks reported by exit() fail it', async (tt) => {
  const log: string[] = [];
  const h = new Harness();
  h.fixture('f', tracing(log));
  h.testF('f', 'clean', () => { log.push('body'); });
  h.testF('f', 'leaky', () => { log.push('body'); });
  h.testF('f', 'nostart', () => { log.push('body'); });
  const r = runIt(h, {
    caseContext: (name) => ({
      enter: () => {
        if (name === 'f.nostart') throw new Error('module load failed');
        log.push(`enter:${name}`);
      },
      exit: () => {
        log.push(`exit:${name}`);
        return name === 'f.leaky' ? ['test_hmm: 2 pages leaked'] : [];
      },
    }),
    hooks: {
      beforeCase: (name) => log.push(`before:${name}`),
      afterCase: (name, res) => log.push(`after:${name}:${res.status}`),
    },
  });
  tt.strictSame(log, [
    'before:f.clean', 'enter:f.clean', 'setup:clean', 'body', 'teardown:clean', 'exit:f.clean', 'after:f.clean:pass',
    'before:f.leaky', 'enter:f.leaky', 'setup:leaky', 'body', 'teardown:leaky', 'exit:f.leaky', 'after:f.leaky:fail',
    'before:f.nostart', 'after:f.nostart:fail',
  ]);
  tt.strictSame(r.err, [
    '# test_hmm: 2 pages leaked',
    '# leaky: Test failed',
    '# module load failed',
    '# nostart: Test terminated unexpectedly by exception',
  ]);
  tt.equal(r.exitCode, 1);
});

t.test('registration errors', async (tt) => {
  const h = new Harness();
  tt.throws(() => h.variant('nope', 'v', {}), /not declared/);
  const fx = h.fixture('f', plainFixture);
  tt.throws(() => h.fixture('f', plainFixture), /twice/);
  fx.variant('v', undefined).testF('c', () => {});
  tt.throws(() => fx.testF('c', () => {}), /twice/);
  tt.throws(() => fx.variant('v', undefined), /twice/);
});

t.test('file:line comes from the .ts source with or without Node source-map support', async (tt) => {
  // Under tap, Node maps stacks itself; switching that off exercises the
  // harness's own lookup through dist/**/*.js.map.
  for (const enabled of [true, false]) {
    const m = new Metadata('f', '', 'maps');
    process.setSourceMapsEnabled(enabled);
    try {
      const ret = -14;
      m.EXPECT_EQ(ret, 0); // MARK-maps
    } finally {
      process.setSourceMapsEnabled(true);
    }
    tt.strictSame(m.messages, [`# tests/kselftest.test.ts:${lineOf('MARK-maps')}:maps:Expected ret (-14) == 0 (0)`], `maps ${enabled}`);
  }
});

t.test('bail stops after the first failure with Bail out!; resume goes on from a case with the earlier results counted', async (tt) => {
  const bailed = runIt(mixedHarness(), { bail: true });
  tt.equal(bailed.out.at(-1), `Bail out! ${bailed.results.at(-1)!.name} failed (--bail): ${bailed.planned - bailed.results.length} of ${bailed.planned} tests not run`);
  tt.equal(bailed.results.filter((r) => r.status === 'fail').length, 1);
  tt.ok(bailed.bailedOut);
  tt.equal(bailed.exitCode, 1);
  const whole = runIt(mixedHarness());
  const resumed = runIt(mixedHarness(), { resume: { next: 2, prior: whole.results.slice(0, 2) } });
  tt.notOk(resumed.out.includes('TAP version 13'), 'no second header');
  tt.same(resumed.results.map((r) => [r.name, r.status]), whole.results.map((r) => [r.name, r.status]));
  tt.same(resumed.out.slice(-2), whole.out.slice(-2), 'the totals count the earlier cases');
  tt.match(resumed.out.find((l) => /^(not )?ok /.test(l)), / 3 /, 'numbering goes on');
});

t.test('provenance: the C line and texts of the ported assertion, the .ts place and errno names after it; kinds from classify', async (tt) => {
  const h = new Harness();
  h.fixture('f', { create: () => ({}), setup() {}, teardown() {} });
  // The table is found by the ported cases' spelling: the Metadata argument is `t`.
  h.testF('f', 'c', (_s: object, _v: unknown, t: Metadata) => {
    const ret = -16;
    t.ASSERT_EQ(ret, 0);
  });
  h.testF('f', 'boom', () => { throw Object.assign(new Error('kernel BUG at x'), { kind: 'BUG' }); });
  const r = runIt(h, {
    provenance: { cFile: 'x.c', table: { c: [{ line: 99, args: ['ret', '0'] }] }, errnoName: (v) => (v === -16 ? 'EBUSY' : undefined) },
    classify: (e) => ((e as { kind?: string }).kind === 'BUG' ? 'bug' : undefined),
  });
  tt.equal(r.err[0], '# x.c:99:c:Expected ret (-16) == 0 (0)');
  tt.match(r.err[1], /^#   at tests\/kselftest\.test\.ts:\d+; ret = -16 \(EBUSY\)$/);
  tt.same(r.results.map((x) => x.failures.map((f) => f.kind)), [['assertion'], ['bug']]);
  tt.ok(r.err.includes('#   failure kinds: bug'));
  // A table that does not know the call: the .ts place stands in for the C one.
  const plain = runIt(h, { provenance: { cFile: 'x.c', table: {} } });
  tt.match(plain.err[0], /^# tests\/kselftest\.test\.ts:\d+:c:Expected ret \(-16\) == 0 \(0\)$/);
});
