// SPDX-License-Identifier: GPL-2.0-only
/*
 * anon_teardown under the deterministic scheduler (kernel-model/sched.ts):
 * a seed fixes the interleaving, seeds differ in it, every interleaving the
 * seeds produce passes the case's own assertions in every mode, and
 * breaking the scheduler's rule or the mirror's invalidation fails it.
 */
import t from 'tap';
import { smoke, PRIVATE, GENERIC, COHERENT } from './helpers.js';
import { MMU_NOTIFY_UNMAP } from '../src/kernel-model/mmu_notifier.js';
import type { SmokeOptions } from '../src/runner.js';

type Params = SmokeOptions['params'];

/** Only anon_teardown, in the variant of the mode that has devices (coherent mode: the coherent variant). */
const only = (variant: string) => (_f: string, v: string, c: string) => c === 'anon_teardown' && v === variant;

/** When the thread's munmap ran, relative to the READ beside it. */
type When = 'before' | 'during' | 'after';

interface Iteration { where: string; when: When; read: string }

/**
 * One run's iterations from its trace: each thread runs twice (at the clone,
 * to draw its delay and sleep; then to unmap), and each iteration issues one
 * READ. The second SCHED line of a tid names the preemption point where the
 * unmap ran.
 */
function iterations(err: string[]): Iteration[] {
  const out: Iteration[] = [];
  const runs = new Map<string, number>();
  let pending: { where: string; when: When } | null = null;
  for (const l of err) {
    const s = /^SCHED t=\d+ns tid=(\d+) runs at (.*)$/.exec(l);
    if (s) {
      const n = (runs.get(s[1]) ?? 0) + 1;
      runs.set(s[1], n);
      if (n !== 2) continue;
      const where = s[2];
      const when: When = where === 'clone exit' || where === 'ioctl entry' ? 'before'
        : where === 'ioctl exit' || where === 'pthread_join' ? 'after' : 'during';
      // pthread_join comes after the READ's TRACE line; every other point is met before the ioctl returns and prints it.
      if (where === 'pthread_join') out[out.length - 1] = { ...out[out.length - 1], where, when };
      else pending = { where, when };
      continue;
    }
    if (l.startsWith('TRACE READ ')) {
      out.push({ where: pending?.where ?? '', when: pending?.when ?? 'after', read: l.replace(/^TRACE READ npages=\d+ /, '') });
      pending = null;
    }
  }
  return out;
}

/** The READ and SCHED lines of a run, and its verdict. */
function run(params: Params, variant: string, seed: number, onKernel?: SmokeOptions['onKernel']) {
  const r = smoke({ params, seed, trace: true, traceSched: true, filter: only(variant), onKernel });
  return { ...r, lines: r.err.filter((l) => l.startsWith('TRACE ') || l.startsWith('SCHED ')), failed: r.result.exitCode !== 0 };
}

t.test('the same seed gives the same interleaving, command by command', (t) => {
  const a = run(PRIVATE, 'hmm_device_private', 42), b = run(PRIVATE, 'hmm_device_private', 42);
  t.equal(a.lines.filter((l) => l.startsWith('TRACE READ')).length, 10, 'ten READs (NTIMES)');
  t.equal(a.lines.filter((l) => l.startsWith('SCHED')).length, 20, 'each thread runs twice: at its clone and to unmap');
  t.same(b.lines, a.lines);
  t.end();
});

t.test('different seeds give different interleavings', (t) => {
  const traces = new Set<string>();
  for (let seed = 1; seed <= 8; seed++) traces.add(run(PRIVATE, 'hmm_device_private', seed).lines.join('\n'));
  t.equal(traces.size, 8, 'eight seeds, eight interleavings');
  t.end();
});

t.test('over many seeds every interleaving passes the case\'s assertions, and each outcome shows up', (t) => {
  const seen = new Map<string, number>();
  const whereSeen = new Set<string>();
  let iters = 0;
  for (let seed = 1; seed <= 30; seed++) {
    const r = run(PRIVATE, 'hmm_device_private', seed);
    t.notOk(r.failed, `seed ${seed} passes`);
    for (const it of iterations(r.err)) {
      iters++;
      whereSeen.add(it.where);
      const key = `${it.when} ${it.read}`;
      seen.set(key, (seen.get(key) ?? 0) + 1);
      // What each placement of the munmap must give, whatever the seed.
      if (it.when === 'before') t.equal(it.read, 'ret=-14 cpages=0 faults=0', `seed ${seed}: unmapped before the READ: -EFAULT`);
      if (it.when === 'after') t.equal(it.read, 'ret=0 cpages=1024 faults=1', `seed ${seed}: unmapped after the READ: all read`);
    }
  }
  t.equal(iters, 300);
  t.comment([...seen].map(([k, v]) => `${k}: ${v}`).join('; '));
  t.ok(seen.get('after ret=0 cpages=1024 faults=1'), 'READ before the unmap: success');
  t.ok(seen.get('before ret=-14 cpages=0 faults=0'), 'unmap before the READ: -EFAULT');
  t.ok(seen.get('during ret=-14 cpages=0 faults=0'), 'unmap while the driver faults the range: -EFAULT');
  t.ok(seen.get('during ret=0 cpages=1024 faults=1'), 'unmap after the driver read the pages, before the ioctl returned: success');
  for (const p of ['dmirror_range_fault', 'dmirror_range_fault: hmm_range_fault done', 'dmirror_read: before dmirror_do_read',
    'dmirror_read: after dmirror_do_read']) t.ok(whereSeen.has(p), `the unmap ran at "${p}"`);
  t.end();
});

t.test('coherent and generic mode: every seed passes', (t) => {
  for (const [params, variant] of [[COHERENT, 'hmm_device_coherent'], [GENERIC, 'hmm_device_generic']] as const) {
    const outcomes = new Set<string>();
    for (let seed = 1; seed <= 10; seed++) {
      const r = run(params, variant, seed);
      t.notOk(r.failed, `${variant} seed ${seed} passes`);
      for (const it of iterations(r.err)) outcomes.add(it.read);
    }
    t.same([...outcomes].sort(), ['ret=-14 cpages=0 faults=0', 'ret=0 cpages=1024 faults=1'], `${variant}: both outcomes`);
  }
  t.end();
});

t.test('break it: a preemption point inside hmm_range_fault(), where mmap_lock is held, is caught', (t) => {
  let failed = 0;
  for (let seed = 1; seed <= 5; seed++) {
    const r = run(PRIVATE, 'hmm_device_private', seed, (k) => { k.inject.hmmWalkStart = () => k.sched.point('inside hmm_range_fault'); });
    if (r.failed) failed++;
    if (r.failed) {
      t.ok(r.err.some((l) => /BUG: thread \d+ would sleep on mmap_lock, held by the test process's thread, which was preempted inside its critical section/.test(l)),
        `seed ${seed}: the thread's munmap meets the held mmap_lock`);
    }
  }
  t.ok(failed >= 4, `the case fails (${failed} of 5 seeds)`);
  t.end();
});

t.test('break it: a munmap that does not invalidate the mirror makes the device read freed pages', (t) => {
  // The UNMAP range is moved past every interval notifier, so dmirror_interval_invalidate() is never called.
  const noInvalidate: SmokeOptions['onKernel'] = (_k, _mod, task) => {
    task.mm.notifierLog = (range) => { if (range.event === MMU_NOTIFY_UNMAP) range.start = range.end = 2 ** 47; };
  };
  const failedSeeds: number[] = [];
  for (let seed = 1; seed <= 12; seed++) {
    const r = run(PRIVATE, 'hmm_device_private', seed, noInvalidate);
    if (!r.failed) continue;
    failedSeeds.push(seed);
    t.ok(r.err.some((l) => /hmm-tests\.c:\d+:anon_teardown:Expected ptr\[i\] \(\d+\) == i \+ c \(\d+\)$/.test(l)), `seed ${seed}: the data check fails`);
  }
  t.ok(failedSeeds.length > 0, `some interleavings catch it (seeds ${failedSeeds.join(', ')})`);
  t.end();
});
