// SPDX-License-Identifier: GPL-2.0-only
/*
 * Model of kernel/sched/completion.c and include/linux/completion.h: struct
 * completion, complete(), complete_all(), wait_for_completion().
 *
 * A waiter sleeps in the deterministic scheduler (sched.ts:
 * Sched.sleepUntil()): every other thread runs as it wakes, since one of
 * them may be the one to call complete(). A wait that nothing can end (no
 * thread left that could run, or none that did within the hung-task
 * timeout of virtual time) is a hung task: hung_task.ts reports it as the
 * kernel's detector does and the waiter never returns (HungTask). The
 * check is the same for every completion; nothing here knows who waits.
 */
import type { Kernel } from './kernel.js';
import { hungTask, HUNG_TASK_TIMEOUT_NS } from './hung_task.js';

/** struct completion: `done` counts complete() calls not yet consumed by a waiter; complete_all() makes it UINT_MAX. */
export class Completion {
  done = 0;
}

const UINT_MAX = 0xffffffff;

/** Model of init_completion() / reinit_completion(). */
export function initCompletion(x: Completion): void {
  x.done = 0;
}

/** Model of complete(): one waiter may go (the count saturates at UINT_MAX, as complete_all() leaves it). */
export function complete(x: Completion): void {
  if (x.done !== UINT_MAX) x.done++;
}

/** Model of complete_all(): every waiter, present and future, may go. */
export function completeAll(x: Completion): void {
  x.done = UINT_MAX;
}

/** Model of completion_done(). */
export function completionDone(x: Completion): boolean {
  return x.done !== 0;
}

/**
 * Model of wait_for_completion(): sleep uninterruptibly until `x` is
 * completed, then consume one completion (complete_all()'s stays). The
 * caller names itself and its callers, innermost first, as C function
 * names (the frames a stack dump would show above wait_for_completion());
 * `detail` adds what the model knows about why nothing completes it, for
 * the hung-task report.
 */
export function waitForCompletion(k: Kernel, x: Completion, callers: readonly string[], detail?: () => string[]): void {
  if (k.inject.waitForCompletion) return k.inject.waitForCompletion(k, x);
  if (x.done === 0 && !k.sched.sleepUntil('wait_for_completion', () => x.done !== 0, HUNG_TASK_TIMEOUT_NS)) {
    hungTask(k, callers[0] ?? 'wait_for_completion', ['__schedule', 'schedule', 'schedule_timeout', '__wait_for_common', 'wait_for_completion', ...callers], detail?.() ?? []);
  }
  if (x.done !== UINT_MAX) x.done--;
}
