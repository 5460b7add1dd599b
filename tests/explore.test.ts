// SPDX-License-Identifier: GPL-2.0-only
/*
 * Tests of the systematic explorer (src/explore/) and `hmm-test explore`:
 * exact schedule counts for a space small enough to count by hand, the
 * sleep sets' pruning, a planted race found and replayed, a deadlock and a
 * livelock reported, the stale zero-page race that seed 001's patch 6/6
 * opens, anon_teardown's two READ outcomes, and bad input at the CLI.
 *
 *   main:    point p1 ...... point p2 ...... join
 *   thread:        step 1 | step 2          (| a preemption point of its own)
 */
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { ROOT } from './helpers.js';
import { Kernel } from '../src/kernel-model/kernel.js';
import { Task } from '../src/kernel-model/task.js';
import { HungTask } from '../src/kernel-model/bug.js';
import { THREAD_PREEMPT, type ThreadBlock } from '../src/kernel-model/sched.js';
import { Completion, complete, initCompletion, waitForCompletion } from '../src/kernel-model/completion.js';
import { explore, replay, parseScheduleId, scheduleId, ScheduleTooLong, type Target, type TargetResult } from '../src/explore/explore.js';
import { caseTarget, scenarioTarget } from '../src/explore/targets.js';
import { loadScenarios } from '../src/cli/run.js';
import { composeKernel } from '../src/kernel-model/changes.js';
import type { HmmRange } from '../src/kernel-model/hmm.js';

const OPTS = { maxPreemptions: 10, maxSchedules: 1e6, maxTimeMs: 600000, maxSteps: 1000 };

/** A program on a bare kernel: `body` returns its outcome lines; a hung task is a deadlock. */
function synthetic(name: string, body: (k: Kernel, task: Task) => string[]): Target {
  return {
    name,
    run(c): TargetResult {
      const k = new Kernel();
      k.sched.explorer = c;
      const task = new Task(k);
      try {
        const outcome = body(k, task);
        return { outcome, log: [], pass: !outcome.includes('bad'), problems: outcome.includes('bad') ? [{ kind: 'assertion', message: 'bad' }] : [] };
      } catch (e) {
        if (e instanceof HungTask) return { outcome: ['hung'], log: [], pass: false, problems: [{ kind: 'deadlock', message: e.where }] };
        if (e instanceof ScheduleTooLong) return { outcome: ['stopped'], log: [], pass: false, problems: [] };
        throw e;
      }
    },
  };
}

/** main passes m preemption points, the thread takes k steps (each touching the mm) with its own points between. */
function steps(m: number, k: number): Target {
  return synthetic(`${m}x${k}`, (kern, task) => {
    const order: string[] = [];
    function* body(): Generator<ThreadBlock, void, undefined> {
      for (let i = 1; i <= k; i++) {
        if (i > 1) yield THREAD_PREEMPT;
        kern.sched.access('mm');
        order.push(`t${i}`);
      }
    }
    const th = kern.sched.createThread(task, body());
    // main's steps say nothing of what they touch: a step after a point is kernel work, dependent on every other.
    for (let i = 1; i <= m; i++) {
      kern.sched.point(`p${i}`);
      order.push(`m${i}`);
    }
    kern.sched.waitForExit(th);
    return [order.join(' ')];
  });
}

/**
 * The count by hand: the thread's k steps go, in order, to the gaps after
 * main's points 1..m or to the join (gap m+1). Each run of steps in one gap
 * before the join costs a preemption to start, and one more to go back to
 * main unless the thread ended there; the join is free.
 */
function countByHand(m: number, k: number, bound: number): number {
  let n = 0;
  const place = (step: number, from: number, gaps: number[]) => {
    if (step > k) {
      let cost = 0;
      for (let g = 1; g <= m; g++) {
        const here = gaps.filter((x) => x === g).length;
        if (here > 0) cost += 1 + (gaps.lastIndexOf(g) === k - 1 ? 0 : 1);
      }
      if (cost <= bound) n++;
      return;
    }
    for (let g = from; g <= m + 1; g++) place(step + 1, g, [...gaps, g]);
  };
  place(1, 1, []);
  return n;
}

t.test('explore mode of the scheduler: the options at each decision, the default first, and which switches are preemptions', (t) => {
  const k = new Kernel(), task = new Task(k);
  const seen: string[] = [];
  k.sched.explorer = {
    choose: (d) => { seen.push(`${d.where}: ${d.options.join(',')}${d.preemptive ? ' P' : ''}`); return seen.length <= 2 ? 1 : 0; },
    access: () => {}, noProgress: () => {}, blocked: () => {},
  };
  function* body(): Generator<ThreadBlock, void, undefined> {
    yield { nanosleep: 5 };
    yield THREAD_PREEMPT;
  }
  const th = k.sched.createThread(task, body());
  k.sched.point('p1');
  k.sched.waitForExit(th);
  t.same(seen, [
    'p1: 0,101 P', // the stack thread at a point: going on is free, switching (chosen) is a preemption
    'p1: 0,101', // the thread went to sleep: the stack thread first, no switch costs anything; the thread goes on
    'p1: 101,0 P', // it stopped at a point of its own: going on (chosen) is free, the stack thread a preemption
    'p1: 0', // it ended: a decision with one option is still one
    'pthread_join: 0', // the join finds it dead
  ]);
  t.end();
});

t.test('schedule counts: 2 points x 2 steps by hand, and larger spaces against the count by hand', (t) => {
  // (1,1) 1, (1,2) 3, (1,join) 2, (2,2) 1, (2,join) 2, (join,join) 0 preemptions.
  for (const [b, n] of [[0, 1], [1, 3], [2, 5], [3, 6], [4, 6]]) {
    t.equal(explore(steps(2, 2), { ...OPTS, maxPreemptions: b, por: false }).schedules, n, `2x2, bound ${b}: ${n} schedules`);
  }
  for (const [m, k] of [[3, 2], [2, 3], [4, 3]]) {
    for (let b = 0; b <= 4; b++) {
      const r = explore(steps(m, k), { ...OPTS, maxPreemptions: b, por: false });
      t.equal(r.schedules, countByHand(m, k, b), `${m}x${k}, bound ${b}`);
      t.equal(new Set(r.outcomes.map((o) => o.key)).size, r.outcomes.length);
      t.equal(r.outcomes.reduce((s, o) => s + o.count, 0), r.schedules, 'every schedule in one outcome');
    }
  }
  // Break-it of the footprints: were main's kernel steps taken as touching nothing, the sleep sets would cut these.
  const r = explore(steps(3, 2), { ...OPTS, maxPreemptions: 4 });
  t.equal(r.schedules, countByHand(3, 2, 4), 'steps that all touch the mm: the sleep sets prune nothing');
  t.equal(r.pruned, 0);
  t.equal(r.outcomes.length, r.schedules, 'each interleaving of conflicting steps is its own outcome');
  t.equal(r.hit, null);
  t.end();
});

t.test('sleep sets lose no outcome: a thread that sleeps (a free switch) before its kernel step, as anon_teardown\'s', (t) => {
  // Break-it of the footprints: were main's kernel steps (which report no access themselves) taken as touching
  // nothing, the thread's step after its sleep would stay asleep past them and its other places would be cut.
  const prog = synthetic('sleeper', (k, task) => {
    const order: string[] = [];
    function* body(): Generator<ThreadBlock, void, undefined> {
      k.sched.access('urandom');
      yield { nanosleep: 1000 };
      k.sched.access('mm');
      order.push('t');
    }
    const th = k.sched.createThread(task, body());
    for (let i = 1; i <= 3; i++) { k.sched.point(`p${i}`); order.push(`m${i}`); }
    k.sched.waitForExit(th);
    return [order.join(' ')];
  });
  for (const b of [1, 2]) {
    const all = explore(prog, { ...OPTS, maxPreemptions: b, por: false });
    const por = explore(prog, { ...OPTS, maxPreemptions: b });
    t.same(por.outcomes.map((o) => o.key).sort(), all.outcomes.map((o) => o.key).sort(), `bound ${b}: the same outcomes with and without reduction`);
    t.ok(por.schedules <= all.schedules);
  }
  t.end();
});

t.test('bounds: a run that stops at --max-schedules or at the preemption bound says so', (t) => {
  const r = explore(steps(4, 3), { ...OPTS, maxPreemptions: 1, por: false });
  t.ok(r.beyondBound > 0, 'schedules with 2 preemptions left for a higher bound');
  t.equal(r.completeBound, 1);
  const s = explore(steps(4, 3), { ...OPTS, maxSchedules: 7, por: false });
  t.equal(s.schedules, 7);
  t.equal(s.hit, '--max-schedules 7');
  t.end();
});

t.test('sleep sets: two threads whose steps touch nothing shared run in one order only', (t) => {
  const prog = (touch: boolean) => synthetic('two', (k, task) => {
    const seen: string[] = [];
    function* body(name: string): Generator<ThreadBlock, void, undefined> {
      if (touch) k.sched.access('mm');
      seen.push(name);
    }
    const a = k.sched.createThread(task, body('a')), b = k.sched.createThread(task, body('b'));
    k.sched.waitForExit(a);
    k.sched.waitForExit(b);
    return [touch ? seen.join(' ') : 'done'];
  });
  const plain = explore(prog(false), { ...OPTS, por: false });
  t.equal(plain.schedules, 3, 'without reduction: a b, a then main then b, b a');
  const por = explore(prog(false), OPTS);
  t.same([por.schedules, por.pruned, por.outcomes.length], [1, 2, 1], 'with it: one schedule, the two reorderings cut');
  // a and b now conflict with each other and with main's step between the joins, which counts as kernel work.
  const dep = explore(prog(true), OPTS);
  t.same([dep.schedules, dep.pruned], [3, 0], 'steps that touch the mm are dependent: nothing is cut');
  t.same([...new Set(dep.outcomes.map((o) => o.lines[0]))].sort(), ['a b', 'b a']);
  t.end();
});

/** A lost update: read, a preemption point, write back; `atomic` puts no point in between (as a lock would). */
const counter = (atomic: boolean) => synthetic(atomic ? 'atomic' : 'racy', (k, task) => {
  let shared = 0;
  function* body(): Generator<ThreadBlock, void, undefined> {
    k.sched.access('mm');
    shared++;
  }
  const th = k.sched.createThread(task, body());
  k.sched.access('mm');
  const v = shared;
  if (!atomic) k.sched.point('between load and store');
  shared = v + 1;
  k.sched.point('after');
  k.sched.waitForExit(th);
  return [shared === 2 ? 'shared=2' : 'bad'];
});

t.test('a planted race (a lost update) is found, and its schedule replays to the same outcome', (t) => {
  const r = explore(counter(false), OPTS);
  const bad = r.outcomes.find((o) => !o.pass);
  t.ok(bad, 'the lost update is found');
  t.equal(bad!.preemptions, 1, 'with one preemption');
  t.equal(explore(counter(false), { ...OPTS, maxPreemptions: 0 }).outcomes.every((o) => o.pass), true, 'not without preemptions');
  const again = replay(counter(false), parseScheduleId(bad!.id) as number[], 1000);
  t.same(again.result.outcome, ['bad'], `--schedule ${bad!.id} replays it`);
  t.equal(again.id, bad!.id);
  t.ok(explore(counter(true), OPTS).outcomes.every((o) => o.pass), 'with no point in the critical section every schedule passes');
  t.end();
});

t.test('schedule IDs: written and read back; ones that do not fit the program are errors', (t) => {
  t.equal(scheduleId([0, 0, 1, 0, 2]), '2.1-4.2');
  t.equal(scheduleId([0, 0]), '0');
  t.same(parseScheduleId('2.1-4.2'), [0, 0, 1, 0, 2]);
  t.same(parseScheduleId('0'), []);
  for (const bad of ['', 'x', '1.0', '4.1-2.1', '1.1-1.2', '-1.1']) t.ok('error' in (parseScheduleId(bad) as object), `"${bad}" is refused`);
  t.throws(() => replay(counter(false), [0, 0, 0, 0, 0, 0, 0, 0, 0, 1], 1000), /program makes \d+ decisions/);
  t.throws(() => replay(counter(false), [7], 1000), /has 2 options/);
  t.end();
});

t.test('a deadlock: a completion re-initialised after its complete() (a lost wake-up) waits for good', (t) => {
  const prog = synthetic('lost wake-up', (k, task) => {
    const x = new Completion();
    function* body(): Generator<ThreadBlock, void, undefined> {
      k.sched.access('mm');
      complete(x);
    }
    k.sched.createThread(task, body());
    k.sched.point('before reinit_completion');
    initCompletion(x);
    waitForCompletion(k, x, ['test_waiter']);
    return ['woken'];
  });
  const r = explore(prog, OPTS);
  const dead = r.outcomes.find((o) => o.problems.some((p) => p.kind === 'deadlock'));
  t.ok(dead, 'the schedule where complete() runs before the re-init blocks for good');
  t.ok(r.outcomes.some((o) => o.pass), 'the others wake');
  t.same(replay(prog, parseScheduleId(dead!.id) as number[], 1000).result.outcome, ['hung']);
  t.end();
});

t.test('a deadlock in the model: RELEASE after EXCLUSIVE on coherent devices, when the thread\'s load runs first', (t) => {
  const [sc] = loadScenarios([join(ROOT, 'tests/fixtures/explore/release-after-exclusive-deadlock.yaml')]);
  const r = explore(scenarioTarget(sc), OPTS);
  const dead = r.outcomes.find((o) => o.problems.some((p) => p.kind === 'deadlock'));
  t.ok(dead, 'found');
  t.ok(r.outcomes.some((o) => o.pass), 'the load after EXCLUSIVE restores the entry: RELEASE returns');
  t.match(dead!.lines.join('\n'), /REPORT hang memunmap_pages: INFO: task hmm-tests:\d+ blocked for more than 120 seconds/);
  t.end();
});

t.test('a livelock: a thread that never ends is stopped at --max-steps; a retry loop that never succeeds is reported', (t) => {
  const spin = synthetic('spin', (k, task) => {
    function* body(): Generator<ThreadBlock, void, undefined> {
      for (;;) { k.sched.access('mm'); yield THREAD_PREEMPT; }
    }
    k.sched.waitForExit(k.sched.createThread(task, body()));
    return ['ended'];
  });
  const r = explore(spin, { ...OPTS, maxPreemptions: 0, maxSteps: 50 });
  t.equal(r.schedules, 1);
  t.match(r.outcomes[0].problems[0], { kind: 'livelock', message: /no progress within 50 scheduling decisions/ });

  // Break-it: every walk of hmm_range_fault() sees its range invalidated, so dmirror_range_fault() retries until its bound.
  const [sc] = loadScenarios([join(ROOT, 'scenarios/stale-zero-page-second-device.yaml')]);
  const target = scenarioTarget(sc, (c) => { c.k.inject.hmmWalkStart = (range: HmmRange) => { range.notifier.invalidateSeq += 2; }; });
  const l = explore(target, { ...OPTS, maxPreemptions: 0 });
  t.match(l.outcomes[0].problems[0], { kind: 'livelock', message: /dmirror_range_fault\(\): 1000 tries/ });
  t.end();
});

t.test('seed 001 patch 6/6: the stale zero-page mirror is found with the patch, never without, and replays', (t) => {
  const file = join(ROOT, 'scenarios/stale-zero-page-second-device.yaml');
  const plain = explore(scenarioTarget(loadScenarios([file])[0]), OPTS);
  t.ok(plain.outcomes.every((o) => o.pass), `plain 6.12: ${plain.schedules} schedules, none bad`);
  t.equal(plain.hit, null);
  const patched = scenarioTarget(loadScenarios([file], undefined, ['migrate_vma_pages-no-invalidate'])[0]);
  const r = explore(patched, OPTS);
  const bad = r.outcomes.filter((o) => !o.pass);
  t.equal(bad.length, 1, 'one bad outcome');
  t.match(bad[0].lines.join('\n'), /DATA READ buf pages=0 != index\+9: page 0 int 0 is 0, expected 9/);
  const again = replay(patched, parseScheduleId(bad[0].id) as number[], 1000);
  t.same(again.result.outcome, bad[0].lines, 'its schedule replays to the same outcome');
  t.match(again.result.log.join('\n'), /SCHED t=\d+ns tid=\d+ runs at dmirror_migrate_to_device: after migrate_vma_setup/, 'the trace shows where the thread ran');
  t.end();
});

t.test('anon_teardown: READ returns 0 in some schedules and -EFAULT in others, each with a schedule that replays it', (t) => {
  const kernel = composeKernel('6.12', []);
  if ('error' in kernel) throw new Error(kernel.error);
  const target = caseTarget({ name: 'hmm.hmm_device_private.anon_teardown', params: { spm_addr_dev0: 0, spm_addr_dev1: 0 }, kernel });
  const r = explore(target, { ...OPTS, maxPreemptions: 1, maxSchedules: 8 });
  t.equal(r.hit, '--max-schedules 8');
  const ok = r.lines.find((l) => /^TRACE READ npages=1024 ret=0 cpages=1024 faults=1$/.test(l.line));
  const efault = r.lines.find((l) => /^TRACE READ npages=1024 ret=-14 /.test(l.line));
  t.ok(ok && efault, 'both outcomes of a READ');
  t.ok(r.outcomes.every((o) => o.pass), 'every schedule passes: the case checks a READ only when it succeeded');
  const again = replay(target, parseScheduleId(efault!.id) as number[], 10000);
  t.ok(again.result.outcome.includes(efault!.line), `--schedule ${efault!.id} replays the -EFAULT`);
  t.end();
});

t.test('hmm-test explore at the command line: the report, replay, exit status, one-line errors', (t) => {
  const run = (...args: string[]) => spawnSync(join(ROOT, 'bin/hmm-test'), ['explore', ...args], { encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' } });
  const file = join(ROOT, 'scenarios/stale-zero-page-second-device.yaml');
  const plain = run(file);
  t.equal(plain.status, 0, plain.stderr);
  t.match(plain.stdout, /# space: \d+ with 0 preemption\(s\), \d+ with 1 preemption\(s\), \d+ with 2 preemption\(s\); \d+ schedules/);
  t.match(plain.stdout, /schedules\/s/);
  t.match(plain.stdout, /^ok 1 explore /m);
  const patched = run(file, '--patch', 'migrate_vma_pages-no-invalidate');
  t.equal(patched.status, 1, 'a bad schedule: exit 1');
  const id = /^# {3}(\S+)/m.exec(patched.stdout.slice(patched.stdout.indexOf('# bad:')))![1];
  const rep = run(file, '--patch', 'migrate_vma_pages-no-invalidate', '--schedule', id);
  t.equal(rep.status, 1);
  t.match(rep.stdout, /DECISION \d+ at dmirror_migrate_to_device: after migrate_vma_setup: threads main tid=\d+; option 1 runs \(a preemption\)/);
  t.match(rep.stdout, /^not ok 1 .* schedule /m);
  for (const [args, msg] of [
    [['nosuch_case'], /unknown case "nosuch_case": give a scenario file/],
    [['open_close'], /open_close starts no thread: nothing to interleave/],
    [[join(ROOT, 'scenarios/migrate-read-back.yaml')], /starts no thread: nothing to interleave/],
    [[file, '--schedule', 'bogus'], /--schedule "bogus" is not a schedule ID/],
    [[file, '--schedule', '9999.1'], /does not fit .*: the schedule has choices up to decision 9999/],
    [[file, '--max-preemptions', 'x'], /--max-preemptions "x" is not a count/],
    [[file, '--patch', 'nope'], /--patch: /],
  ] as Array<[string[], RegExp]>) {
    const r = run(...args);
    t.equal(r.status, 1, args.join(' '));
    t.match(r.stderr, msg);
    t.equal(r.stderr.trim().split('\n').length, 1, 'one line');
    t.notMatch(r.stderr, /\n\s+at /, 'no stack trace');
  }
  t.end();
});
