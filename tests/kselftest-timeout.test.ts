// SPDX-License-Identifier: GPL-2.0-only
/*
 * TEST_F_TIMEOUT and printf() in the harness: a case's own timeout reaches
 * the beforeCase hook (the CLI's timer takes it unless --timeout was given,
 * src/cli/smoke.ts), a plain TEST_F has none; printf() lines go to stdout
 * between the RUN and OK lines, as the C child's stdout does.
 */
import t from 'tap';
import { Harness } from '../src/kselftest/harness.js';
import type { Metadata } from '../src/kselftest/assert.js';

t.test('TEST_F_TIMEOUT reaches beforeCase; printf goes to stdout', (t) => {
  const h = new Harness();
  const f = h.fixture<object, undefined>('fx', { create: () => ({}), setup: () => {}, teardown: () => {} });
  f.testF('plain', () => {});
  f.testF('slow', (_s: object, _v: undefined, m: Metadata) => { m.printf('\nHMM THP Migration Benchmark\nline two\n'); }, 120);
  const out: string[] = [];
  const seen: Array<[string, number | undefined]> = [];
  h.run({ out: (l) => out.push(l), err: () => {}, hooks: { beforeCase: (name, _num, timeoutS) => seen.push([name, timeoutS]) } });
  t.same(seen, [['fx.plain', undefined], ['fx.slow', 120]]);
  const run = out.indexOf('#  RUN           fx.slow ...');
  t.same(out.slice(run + 1, run + 4), ['', 'HMM THP Migration Benchmark', 'line two'], 'printed lines, in order, before the verdict');
  t.end();
});
