// SPDX-License-Identifier: GPL-2.0-only
/*
 * Tests of explore mode's points with sleeping locks held (Sched.point(where,
 * holds)) and of threads blocked on them (explore.ts: a blocked step is not
 * run; the schedule runs again with the thread disabled until the main
 * thread released the lock), on a program small enough to list by hand:
 *
 *   main:    lock_page(F) .. point "held" (holds F) .. unlock_page(F) .. point "after" .. join
 *   thread:  step 1 (no lock) | step 2: lock_page(F), unlock_page(F)
 *
 * and on scenarios/make-device-exclusive-ebusy.yaml: -EBUSY with the patch
 * in some schedule, in none without, and the pinned schedule of `run`.
 */
import t from 'tap';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { ROOT } from './helpers.js';
import { Kernel } from '../src/kernel-model/kernel.js';
import { Task } from '../src/kernel-model/task.js';
import { HungTask, KernelBug } from '../src/kernel-model/bug.js';
import { THREAD_PREEMPT, type ThreadBlock } from '../src/kernel-model/sched.js';
import { lockPage, unlockPage, folioLockKey } from '../src/kernel-model/page_alloc.js';
import { Mutex, mutexLock, mutexUnlock } from '../src/kernel-model/locking.js';
import { explore, replay, parseScheduleId, type Controller, type Target, type TargetResult } from '../src/explore/explore.js';
import { scenarioTarget } from '../src/explore/targets.js';
import { loadScenarios } from '../src/cli/run.js';
import { runScenario } from '../src/scenario/run.js';

const OPTS = { maxPreemptions: 10, maxSchedules: 1e6, maxTimeMs: 600000, maxSteps: 1000 };

/** The program above; `wrap` may stand between the scheduler and the explorer (a broken explorer). */
function program(wrap: (c: Controller) => Controller = (c) => c): Target {
  return {
    name: 'folio-lock',
    run(c): TargetResult {
      const k = new Kernel();
      k.sched.explorer = wrap(c);
      const task = new Task(k), folio = k.pageAlloc.allocPage(), order: string[] = [];
      function* body(): Generator<ThreadBlock, void, undefined> {
        k.sched.access('mm');
        order.push('t1');
        yield THREAD_PREEMPT;
        k.sched.access('mm');
        lockPage(k, folio); // lock_page(): sleeps while main holds it
        order.push('t2');
        unlockPage(k, folio);
      }
      try {
        const th = k.sched.createThread(task, body());
        lockPage(k, folio);
        k.sched.point('held', () => [folioLockKey(folio)]);
        order.push('unlock');
        unlockPage(k, folio);
        k.sched.point('after');
        k.sched.waitForExit(th);
      } catch (e) {
        if (e instanceof KernelBug || e instanceof HungTask) return { outcome: [...order, `bug ${e.where}`], log: [], pass: false, problems: [{ kind: 'bug', message: e.message }] };
        throw e;
      }
      return { outcome: [order.join(' ')], log: [], pass: true, problems: [] };
    },
  };
}

t.test('a thread blocked on a folio lock main holds at its point runs after the unlock, in every schedule', (t) => {
  const r = explore(program(), OPTS);
  const seen = r.outcomes.map((o) => o.lines.join(' ')).sort();
  // t1 anywhere; t2 only after main's unlock: the blocked step never ran while the folio was locked.
  t.same(seen, ['t1 unlock t2', 'unlock t1 t2'], 'both orders of t1, and t2 always after the unlock');
  t.ok(r.outcomes.every((o) => o.pass), 'no bug: nobody slept on a lock held by a preempted thread');
  t.ok(r.blockedReruns > 0, `a run was done again with the thread disabled (${r.blockedReruns})`);
  // Each ID replays: the replay never reaches the block (the disabled option is never in an ID).
  for (const o of r.outcomes) {
    for (const id of o.ids) t.same(replay(program(), parseScheduleId(id) as number[], 1000).result.outcome, o.lines, `${id} replays`);
  }
  t.end();
});

/** The controller with what the scheduler tells it at each decision changed by `f`. */
function told(f: (d: Parameters<Controller['choose']>[0]) => Parameters<Controller['choose']>[0]): (c: Controller) => Controller {
  return (c) => ({
    choose: (d) => c.choose(f(d)), access: (w) => c.access(w), noProgress: (w, x) => c.noProgress(w, x),
    blocked: (tid, lock) => c.blocked(tid, lock), note: null,
  });
}

t.test('break-it: an explorer that never re-enables the blocked thread, or runs it while the lock is held, is caught', (t) => {
  // Never re-enabled: the explorer hears the folio is held for good, so at pthread_join nothing can run.
  const ever = new Set<string>();
  const forever = explore(program(told((d) => { d.holds.forEach((h) => ever.add(h)); return { ...d, holds: [...ever] }; })), OPTS);
  t.ok(forever.outcomes.some((o) => !o.pass && /bug futex_wait/.test(o.lines.join(' '))), 'a schedule where the thread never runs again: it can never exit');
  // Run while held: the explorer hears nothing is held, so it does not disable the thread, which blocks again at once.
  t.throws(() => explore(program(told((d) => ({ ...d, holds: [] }))), OPTS), /blocked again on folio .* though disabled there/);
  t.end();
});

t.test('a mutex held at a point blocks a thread the same way; a recursive lock stays a KernelBug', (t) => {
  const prog: Target = {
    name: 'mutex',
    run(c): TargetResult {
      const k = new Kernel();
      k.sched.explorer = c;
      const task = new Task(k), m = new Mutex('test->mutex'), order: string[] = [];
      function* body(): Generator<ThreadBlock, void, undefined> {
        k.sched.access('mm');
        mutexLock(k, m);
        order.push('t');
        mutexUnlock(k, m);
      }
      const th = k.sched.createThread(task, body());
      mutexLock(k, m);
      k.sched.point('held', () => [k.sched.lockKey(m)]);
      order.push('unlock');
      mutexUnlock(k, m);
      k.sched.point('after');
      k.sched.waitForExit(th);
      return { outcome: [order.join(' ')], log: [], pass: true, problems: [] };
    },
  };
  const r = explore(prog, OPTS);
  t.same(r.outcomes.map((o) => o.lines.join(' ')), ['unlock t'], 'the thread takes the mutex only after main dropped it');
  const k = new Kernel(), m = new Mutex('test->mutex');
  mutexLock(k, m);
  t.throws(() => mutexLock(k, m), /possible recursive locking/, 'recursive: a KernelBug, explorer or not');
  t.end();
});

t.test('make-device-exclusive-ebusy.yaml: -EBUSY in some schedule with the patch, in none without (the second EXCLUSIVE waits)', (t) => {
  const file = join(ROOT, 'scenarios/make-device-exclusive-ebusy.yaml');
  const ret = (o: { lines: string[] }) => o.lines.filter((l) => l.startsWith('t: TRACE EXCLUSIVE')).map((l) => /ret=(\S+)/.exec(l)![1]);
  const plain = explore(scenarioTarget(loadScenarios([file])[0]), OPTS);
  t.same([...new Set(plain.outcomes.flatMap(ret))], ['0'], 'plain 7.2: the thread\'s EXCLUSIVE returns 0 in every schedule');
  t.ok(plain.outcomes.every((o) => o.pass));
  t.ok(plain.blockedCut + plain.blockedReruns > 0, 'the thread was blocked on the folio lock somewhere');
  const patched = explore(scenarioTarget(loadScenarios([file], undefined, ['make_device_exclusive-ebusy'])[0]), OPTS);
  t.same([...new Set(patched.outcomes.flatMap(ret))].sort(), ['-16', '0'], 'with the patch: 0 or -EBUSY');
  const ebusy = patched.outcomes.find((o) => ret(o).includes('-16'))!;
  t.same(ebusy.ids, ['4.1'], 'one schedule: the thread runs while main holds the folio in make_device_exclusive()');
  t.end();
});

t.test('a pinned schedule (config.schedule): run replays it, a blocked choice waits, a misfit is a failed check, a bad ID a parse error', (t) => {
  const file = join(ROOT, 'scenarios/make-device-exclusive-ebusy.yaml');
  const failed = (patches: string[], edit?: (sc: ReturnType<typeof loadScenarios>[0]) => void) => {
    const sc = loadScenarios([file], undefined, patches)[0];
    edit?.(sc);
    const bad: string[] = [];
    runScenario(sc, { line: () => {}, check: (c) => { if (!c.ok) bad.push(`${c.name}: ${c.detail}`); } });
    return bad;
  };
  t.same(failed([]), [], 'plain: the pinned choice of the blocked thread waits, and its EXCLUSIVE returns 0');
  t.match(failed(['make_device_exclusive-ebusy']).join('\n'), /EXCLUSIVE ret 0: got -EBUSY, expected 0/, 'patched: -EBUSY');
  t.match(failed([], (sc) => { sc.config.schedule = { id: '40.1', choices: parseScheduleId('40.1') as number[] }; }).join('\n'),
    /config.schedule 40.1: it chooses up to decision 40, but the program makes 8 decisions/);
  t.match(failed([], (sc) => { sc.config.schedule = { id: '4.7', choices: parseScheduleId('4.7') as number[] }; }).join('\n'),
    /config.schedule 4.7: decision 4 .* has 2 options/);
  for (const [id, what] of [['"4.x"', '"4.x"'], ['4.1', '4.1']]) {
    const f = join(mkdtempSync(join(tmpdir(), 'pin-')), 'pin.yaml');
    writeFileSync(f, `name: x\nconfig:\n  kernel: "7.2"\n  schedule: ${id}\nsteps:\n  - open: 0\n`);
    const r = spawnSync(process.execPath, [join(ROOT, 'dist/src/cli/hmm-test.js'), 'run', f], { encoding: 'utf8' });
    t.equal(r.status, 1, `schedule: ${id} is refused`);
    t.match(r.stderr, new RegExp(`config.schedule.*${what.replace(/[."]/g, '\\$&')}.*a schedule ID hmm-test explore printed`));
    t.equal(r.stderr.trim().split('\n').length, 1, 'one line');
  }
  t.end();
});
