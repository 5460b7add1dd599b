// SPDX-License-Identifier: GPL-2.0-only
/*
 * `hmm-test smoke` shares the cases out among threads (src/cli/smoke.ts):
 * the output must be the one thread's, byte for byte, whatever the number
 * of threads, with TRACE lines, a seed other than the default, a case
 * stopped by its time limit, and a filtered plan. HMM_TEST_JOBS sets the
 * count (1: one thread). bench/same-output.sh compares whole runs against
 * another commit's.
 */
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { ROOT } from './helpers.js';

const HMM_TEST = join(ROOT, 'bin', 'hmm-test');
const env: NodeJS.ProcessEnv = { ...process.env };
delete env.NODE_OPTIONS;

function run(jobs: string, args: string[]) {
  const r = spawnSync(HMM_TEST, args, { encoding: 'utf8', env: { ...env, HMM_TEST_JOBS: jobs }, timeout: 180_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

t.test('the whole private suite with --trace and seed 7: three threads print what one does', (t) => {
  const args = ['smoke', '--trace', '--seed', '7', '--format', 'tap'];
  const one = run('1', args), three = run('3', args);
  t.equal(one.status, 0);
  t.match(one.stdout, /# PASSED: 60 \/ 60 tests passed\./);
  t.match(one.stderr, /^TRACE /m, 'the TRACE lines are there to compare');
  t.same(three, one);
  t.end();
});

t.test('cases stopped by --timeout, in a filtered plan: two and three threads print what one does', (t) => {
  const args = ['smoke', '--timeout', '0.001', '-t', 'migrate', '-t', 'open_close', '--format', 'tap'];
  const one = run('1', args);
  for (const two of [run('2', args), run('3', args)]) {
  t.equal(one.status, 1);
  t.match(one.stdout, /ok 4 hmm\.hmm_device_coherent\.migrate.*\n# FAILED: \d \/ 4 tests passed\./);
  t.equal((one.stdout.match(/^#  RUN /gm) ?? []).length, 4, 'every stopped case has its RUN line');
  // Whether a case beats a 1 ms limit, and what it prints first, depends on timing with one thread as with
  // two; the order, the numbering and a RUN line for each case do not.
  const shape = (o: string) => o.split('\n').filter((l) => /^(#  RUN|(not )?ok \d+ )/.test(l)).map((l) => l.replace(/^not ok/, 'ok').replace(/ # SKIP.*/, ''));
  t.same(shape(two.stdout), shape(one.stdout));
  t.equal(shape(two.stdout).length, 8);
  }
  t.end();
});

t.test('a bad HMM_TEST_JOBS is one line and exit 1, before the run', (t) => {
  for (const bad of ['0', 'two', '-1', '100']) {
    const r = run(bad, ['smoke']);
    t.equal(r.status, 1, bad);
    t.equal(r.stdout, '');
    t.match(r.stderr, /^hmm-test: HMM_TEST_JOBS="[^"]*" is not a thread count: give 1 to 99/);
    t.equal(r.stderr.trimEnd().split('\n').length, 1);
  }
  t.end();
});
