// SPDX-License-Identifier: GPL-2.0-only
/*
 * Kernel bugs. Inside the model an expected failure is a return value; a
 * broken invariant (BUG_ON, VM_BUG_ON_PAGE, an oops such as touching the
 * contents of a device-private page from the CPU) is a KernelBug, thrown.
 * It ends the test case that triggered it, as a real oops kills the task.
 * WARN_ON() does not throw: it is logged (see Kernel.warn) and the caller
 * goes on, as in C.
 */
export class KernelBug extends Error {
  constructor(public readonly kind: 'BUG' | 'Oops', public readonly where: string, message: string) {
    super(`${kind === 'BUG' ? 'kernel BUG' : 'Oops'} in ${where}(): ${message}`);
    this.name = 'KernelBug';
  }
}

/**
 * BUG_ON(): `where` is the C function the check lives in. The message is a
 * function so that the hot paths that check invariants on every page do not
 * build a string that is only needed when the check fires.
 */
export function BUG_ON(cond: boolean, where: string, what: () => string): void {
  if (cond) throw new KernelBug('BUG', where, what());
}

/**
 * The process received a fatal signal (SIGSEGV, SIGBUS) from a user access:
 * the test process dies, as the selftest's child would.
 */
export class FatalSignal extends Error {
  /** The signal number; the harness reports "terminated unexpectedly by signal N" from it. */
  constructor(public readonly signal: number, public readonly addr: number, why: string) {
    super(`${signal === SIGSEGV ? 'SIGSEGV' : signal === SIGBUS ? 'SIGBUS' : `signal ${signal}`} at 0x${addr.toString(16)}: ${why}`);
    this.name = 'FatalSignal';
  }
}
export const SIGBUS = 7;
export const SIGSEGV = 11;
export const SIGKILL = 9;

/**
 * A task blocked for good: it waits (wait_for_completion(), ...) for
 * something that nothing left in the model can do. The kernel's hung-task
 * detector (kernel/hung_task.c) would print `report` after 120 s; the model
 * prints it at once, since no clock tick can change the outcome, and the
 * case or command that blocked gets a HANG verdict (see hung_task.ts). The
 * task never returns to user mode: the harness runs no teardown after it
 * and the runner leaves the kernel as it is (no exit, no unload).
 */
export class HungTask extends Error {
  readonly kind = 'HANG';
  constructor(public readonly where: string, public readonly report: string) {
    super(report);
    this.name = 'HungTask';
  }
}
