// SPDX-License-Identifier: GPL-2.0-only
/*
 * Model of kernel/hung_task.c: the detector of tasks blocked in
 * TASK_UNINTERRUPTIBLE for longer than hung_task_timeout_secs (120 s by
 * default). In the deterministic model a blocked task whose wait nothing
 * can end stays blocked for good, so the report is printed once, with the
 * clock at the timeout, and the wait ends in a HungTask instead of going on
 * forever: the case or command gets a HANG verdict.
 *
 * The report is check_hung_task()'s, then sched_show_task()'s: the task,
 * its state (D), and its call trace by C function names, innermost first,
 * between <TASK> and </TASK> (no offsets or addresses: the model has none),
 * then the model's own lines on why nothing ends the wait.
 */
import { HungTask, UTS_RELEASE } from './bug.js';
import type { Kernel } from './kernel.js';

/** CONFIG_DEFAULT_HUNG_TASK_TIMEOUT: /proc/sys/kernel/hung_task_timeout_secs. */
export const HUNG_TASK_TIMEOUT_SECS = 120;
export const HUNG_TASK_TIMEOUT_NS = HUNG_TASK_TIMEOUT_SECS * 1e9;

/** What the report says of the blocked task: in Linux, fields of its task_struct. */
export interface HungTaskWho {
  comm: string;
  pid: number;
  ppid: number;
}

/**
 * The task running in the kernel right now (`current`), with the frames of
 * its way in (its system call), outermost last, as the trace prints them.
 */
export interface KernelEntry {
  task: HungTaskWho;
  frames: readonly string[];
}

/** The frames of a 64-bit system call's way into the kernel, above its __x64_sys_NAME(). */
export const syscallFrames = (name: string): string[] => [`__x64_sys_${name}`, 'do_syscall_64', 'entry_SYSCALL_64_after_hwframe'];

/**
 * check_hung_task() + sched_show_task() for the current task, blocked in
 * `where` with the call chain `chain` (innermost first, the sleeping
 * primitives included): logs the report and throws HungTask.
 */
export function hungTask(k: Kernel, where: string, chain: readonly string[], detail: readonly string[]): never {
  const who = k.entry?.task ?? { comm: 'kworker/0:1', pid: 0, ppid: 2 };
  const frames = [...chain, ...(k.entry?.frames ?? [])];
  const tainted = k.warnings.length > 0 ? 'Tainted: G        W         ' : 'Not tainted';
  const lines = [
    `INFO: task ${who.comm}:${who.pid} blocked for more than ${HUNG_TASK_TIMEOUT_SECS} seconds.`,
    `      ${tainted} ${UTS_RELEASE} #1`,
    '"echo 0 > /proc/sys/kernel/hung_task_timeout_secs" disables this message.',
    `task:${who.comm.slice(0, 15).padEnd(15)} state:D stack:0     pid:${String(who.pid).padEnd(5)} tgid:${String(who.pid).padEnd(5)} ppid:${String(who.ppid).padEnd(6)} flags:0x00004002`,
    'Call Trace:',
    ' <TASK>',
    ...frames.map((f) => ` ${f}`),
    ' </TASK>',
    ...detail,
  ];
  for (const l of lines) k.printk(l);
  k.hung.push(lines.join('\n'));
  throw new HungTask(where, lines.join('\n'));
}
