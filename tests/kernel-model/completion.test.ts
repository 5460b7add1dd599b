// SPDX-License-Identifier: GPL-2.0-only
/*
 * Tests of src/kernel-model/completion.ts (kernel/sched/completion.c) and
 * src/kernel-model/hung_task.ts (kernel/hung_task.c): a wait ends when
 * somebody completes, another thread may be that somebody, and a wait
 * nothing can end is a hung task, reported as the kernel's detector does,
 * never a pass.
 *
 *   stack thread:  wait_for_completion ........................ returns
 *   thread:           sleep 3 ms, complete()  (runs while the stack thread sleeps)
 */
import t from 'tap';
import { Kernel } from '../../src/kernel-model/kernel.js';
import { HungTask } from '../../src/kernel-model/bug.js';
import { Task } from '../../src/kernel-model/task.js';
import { Completion, complete, completeAll, completionDone, waitForCompletion } from '../../src/kernel-model/completion.js';
import { HUNG_TASK_TIMEOUT_NS } from '../../src/kernel-model/hung_task.js';
import type { ThreadBlock } from '../../src/kernel-model/sched.js';

t.test('complete() before the wait: it returns at once and consumes one completion; complete_all() stays', (t) => {
  const k = new Kernel(), x = new Completion();
  complete(x);
  complete(x);
  waitForCompletion(k, x, ['caller']);
  t.ok(completionDone(x), 'one of two left');
  waitForCompletion(k, x, ['caller']);
  t.notOk(completionDone(x), 'both consumed');
  completeAll(x);
  for (let i = 0; i < 3; i++) waitForCompletion(k, x, ['caller']);
  t.ok(completionDone(x), 'complete_all() lets every waiter go');
  t.equal(k.sched.now, 0, 'no time passed');
  t.end();
});

t.test('another thread completes while the stack thread sleeps: the wait returns when it does', (t) => {
  const k = new Kernel(), task = new Task(k), x = new Completion();
  function* completer(): Generator<ThreadBlock, void, undefined> {
    yield { nanosleep: 3e6 };
    complete(x);
  }
  k.sched.createThread(task, completer());
  waitForCompletion(k, x, ['caller']);
  t.equal(k.sched.now, 3e6, 'the clock jumped to the completer\'s wake-up');
  t.equal(k.hung.length, 0, 'no hang');
  t.end();
});

t.test('nothing can complete it: a hung task, with the detector\'s report, after 120 s of virtual time', (t) => {
  const k = new Kernel(), task = new Task(k), x = new Completion();
  k.entry = { task: { comm: task.comm, pid: task.pid, ppid: 1 }, frames: ['__x64_sys_ioctl', 'do_syscall_64'] };
  const e = (() => { try { waitForCompletion(k, x, ['waiter_fn', 'its_caller'], () => ['why: nobody']); } catch (err) { return err; } })();
  t.ok(e instanceof HungTask, 'a HungTask, not a return');
  t.equal((e as HungTask).kind, 'HANG');
  t.equal((e as HungTask).where, 'waiter_fn');
  t.same((e as HungTask).report.split('\n'), [
    `INFO: task hmm-tests:${task.pid} blocked for more than 120 seconds.`,
    '      Not tainted 6.12.117 #1',
    '"echo 0 > /proc/sys/kernel/hung_task_timeout_secs" disables this message.',
    `task:hmm-tests       state:D stack:0     pid:${task.pid}   tgid:${task.pid}   ppid:1      flags:0x00004002`,
    'Call Trace:',
    ' <TASK>',
    ' __schedule', ' schedule', ' schedule_timeout', ' __wait_for_common', ' wait_for_completion',
    ' waiter_fn', ' its_caller', ' __x64_sys_ioctl', ' do_syscall_64',
    ' </TASK>',
    'why: nobody',
  ]);
  t.equal(k.sched.now, HUNG_TASK_TIMEOUT_NS);
  t.ok(k.log.includes(`INFO: task hmm-tests:${task.pid} blocked for more than 120 seconds.`), 'in the kernel log');
  t.same(k.hung, [(e as HungTask).report]);
  t.end();
});

t.test('a thread that keeps running but never completes: still a hang, once the timeout has passed', (t) => {
  const k = new Kernel(), task = new Task(k), x = new Completion();
  let runs = 0;
  function* spinner(): Generator<ThreadBlock, void, undefined> {
    for (;;) { runs++; yield { nanosleep: 1e9 }; }
  }
  k.sched.createThread(task, spinner());
  t.throws(() => waitForCompletion(k, x, ['waiter_fn']), { name: 'HungTask' });
  t.equal(k.sched.now, HUNG_TASK_TIMEOUT_NS, 'the clock at the timeout');
  t.ok(runs >= 120, `the thread ran meanwhile (${runs} times), as it could have completed`);
  t.end();
});

t.test('break it: a wait_for_completion() that returns at once is not a hang; the tests above would see it', (t) => {
  const k = new Kernel(), x = new Completion();
  k.inject.waitForCompletion = () => {};
  t.doesNotThrow(() => waitForCompletion(k, x, ['waiter_fn']));
  t.equal(k.hung.length, 0, 'no report: the hang test above would fail on this');
  t.end();
});
