// SPDX-License-Identifier: GPL-2.0-only
/*
 * Kernel bugs and the reports they print. Inside the model an expected
 * failure is a return value; a broken invariant (BUG_ON, VM_BUG_ON_PAGE,
 * an oops such as touching the contents of a device-private page from the
 * CPU) is a KernelBug, thrown. It ends the test case that triggered it, as
 * a real oops kills the task. WARN_ON() does not throw: it is logged (see
 * Kernel.warn) and the caller goes on, as in C.
 *
 * Every report is printed by kernelReport(), in the shape of the 6.12
 * console: the first lines of show_fault_oops() (arch/x86/mm/fault.c), of
 * report_bug() (lib/bug.c) or of __warn() (kernel/panic.c), the "Oops:"
 * line of __die_header() and the task line of show_regs(), the RIP and a
 * Call Trace by C names (callTrace(), kallsyms.ts), the end marker; then
 * one line of the model's own, "model: ...", saying what broke. Offsets,
 * registers, Code: bytes and page-table dumps the model cannot know: the
 * offsets print as +0x0/0x0, the rest is left out.
 */
import { callTrace } from './kallsyms.js';

/** The kernel the model stands for (the reference run's uname -r). */
export const UTS_RELEASE = '6.12.117';
/** page_offset_base: the direct map without KASLR (tinyconfig has no RANDOMIZE_MEMORY), where page_address() points. */
export const PAGE_OFFSET = 0xffff888000000000n;

/** The task a report names (current): its pid and comm. */
export interface ReportTask {
  pid: number;
  comm: string;
}

/** A page fault in kernel mode: the address and whether it was a write (X86_PF_WRITE). */
export interface KernelFault {
  address: bigint;
  write: boolean;
}

/** What a report says, gathered when it happens; kernelReport() prints it. */
export interface KernelReport {
  kind: 'BUG' | 'Oops' | 'WARNING';
  /** The C function the check is in, as the site names it. */
  where: string;
  /** The model's explanation. */
  message: string;
  /** C call chain, innermost first, inlined functions folded; [0] is the RIP's function. */
  trace: string[];
  task: ReportTask | null;
  fault?: KernelFault;
  /** panic_on_warn turned a WARN into a panic. */
  panic?: boolean;
}

/**
 * Where 6.12 has the check a model site stands for (lib/bug.c's
 * __bug_table: file and line of each BUG_ON/WARN_ON), found by kind, the
 * C function and, where that function has several, the model's message.
 * VM_BUG_ON*() sites print as a CONFIG_DEBUG_VM kernel prints them (the
 * reference's tinyconfig kernel compiles them out). A site not here is a
 * check of the model's own, or one whose 6.12 report is not a BUG_ON
 * (bad_page()'s "BUG: Bad page state"): its first line is "BUG: " and
 * what broke.
 */
const BUG_TABLE: ReadonlyArray<[KernelReport['kind'], string, RegExp | null, string, number]> = [
  ['BUG', 'put_page', null, 'include/linux/mm.h', 1140],
  ['BUG', 'folio_unlock', null, 'mm/filemap.c', 1500],
  ['BUG', 'folio_move_anon_rmap', null, 'mm/rmap.c', 1220],
  ['BUG', 'page_make_device_exclusive_one', null, 'mm/rmap.c', 2431],
  ['BUG', 'split_huge_page_to_list_to_order', null, 'mm/huge_memory.c', 3471],
  ['BUG', 'follow_page_pte', null, 'mm/gup.c', 909],
  ['WARNING', 'dmirror_do_fault', /HMM_PFN_ERROR/, 'lib/test_hmm.c', 271],
  ['WARNING', 'dmirror_do_fault', /not valid/, 'lib/test_hmm.c', 272],
  ['WARNING', 'dmirror_do_fault', /no page/, 'lib/test_hmm.c', 275],
  ['WARNING', 'dmirror_do_fault', /read-only/, 'lib/test_hmm.c', 280],
  ['WARNING', 'dmirror_device_evict_chunk', null, 'lib/test_hmm.c', 206],
  ['WARNING', 'dmirror_migrate_alloc_and_copy', null, 'lib/test_hmm.c', 710],
  ['WARNING', 'dmirror_devmem_fault_alloc_and_copy', null, 'lib/test_hmm.c', 912],
  ['WARNING', 'memremap_pages', /migrate_to_ram/, 'mm/memremap.c', 312],
  ['WARNING', 'memremap_pages', /page_free/, 'mm/memremap.c', 316],
  ['WARNING', 'memremap_pages', /owner/, 'mm/memremap.c', 320],
  ['WARNING', 'pagemap_range', /Conflicting/, 'mm/memremap.c', 184],
  ['WARNING', 'pagemap_range', /attempted/, 'mm/memremap.c', 200],
  ['WARNING', 'mn_itree_invalidate', null, 'mm/mmu_notifier.c', 444],
  ['WARNING', 'try_grab_folio', null, 'mm/gup.c', 149],
  ['WARNING', 'follow_page_pte', null, 'mm/gup.c', 851],
  ['WARNING', 'try_grab_folio_fast', null, 'mm/gup.c', 539],
  ['WARNING', 'faultin_page', null, 'mm/gup.c', 1203],
  ['WARNING', 'unlink_anon_vmas', null, 'mm/rmap.c', 450],
  ['WARNING', 'zap_pte_range', null, 'mm/memory.c', 1642],
  ['WARNING', 'restore_exclusive_pte', null, 'mm/memory.c', 755],
  ['WARNING', 'zone_device_page_init', null, 'mm/memremap.c', 508],
  ['WARNING', 'free_zone_device_page', null, 'mm/memremap.c', 461],
  ['WARNING', 'verify_dma_pinned', /NOT dma-pinned/, 'mm/gup_test.c', 52],
  ['WARNING', 'verify_dma_pinned', /pinnable/, 'mm/gup_test.c', 58],
];

/** The file:line of a report's check in 6.12, if the table knows it. */
export function bugSite(kind: KernelReport['kind'], where: string, message: string): string | null {
  const e = BUG_TABLE.find(([k, w, re]) => k === kind && w === where && (re === null || re.test(message)));
  return e === undefined ? null : `${e[3]}:${e[4]}`;
}

const hex16 = (v: bigint): string => v.toString(16).padStart(16, '0');
const sym = (fn: string): string => `${fn}+0x0/0x0`;

/** The lines a report prints: the one function every printer of kernel reports (runner, harness, CLI) uses. */
export function kernelReport(r: KernelReport): string[] {
  const rip = r.trace[0] ?? r.where;
  const site = bugSite(r.kind === 'WARNING' || r.panic ? 'WARNING' : r.kind, r.where, r.message);
  const lines: string[] = [];
  if (r.kind === 'WARNING' || r.panic) {
    const pid = r.task?.pid ?? 0;
    lines.push(`WARNING: CPU: 0 PID: ${pid} at ${site !== null ? `${site} ` : ''}${sym(rip)}`);
  } else if (r.fault !== undefined) {
    const f = r.fault;
    lines.push(f.address < 4096n ? `BUG: kernel NULL pointer dereference, address: ${hex16(f.address)}`
      : `BUG: unable to handle page fault for address: ${hex16(f.address)}`);
    lines.push(`#PF: supervisor ${f.write ? 'write' : 'read'} access in kernel mode`);
    lines.push(`#PF: error_code(0x000${f.write ? 2 : 0}) - not-present page`);
    lines.push(`Oops: Oops: 000${f.write ? 2 : 0} [#1] SMP`);
  } else if (r.kind === 'BUG' && site !== null) {
    lines.push(`kernel BUG at ${site}!`, 'Oops: invalid opcode: 0000 [#1] SMP');
  } else {
    lines.push(`BUG: ${r.message}`);
  }
  if (r.task !== null) lines.push(`CPU: 0 UID: 0 PID: ${r.task.pid} Comm: ${r.task.comm} Not tainted ${UTS_RELEASE} #1`);
  lines.push(`RIP: 0010:${sym(rip)}`, 'Call Trace:', ' <TASK>', ...r.trace.slice(1).map((f) => ` ${sym(f)}`), ' </TASK>');
  if (r.panic) lines.push('Kernel panic - not syncing: kernel: panic_on_warn set ...');
  lines.push('---[ end trace 0000000000000000 ]---');
  if (lines[0] !== `BUG: ${r.message}`) lines.push(`model: ${r.where}(): ${r.message}`);
  return lines;
}

export class KernelBug extends Error implements KernelReport {
  readonly kind: 'BUG' | 'Oops';
  readonly where: string;
  /** The model's explanation (the Error's message is the whole report). */
  readonly detail: string;
  readonly trace: string[];
  readonly task: ReportTask | null;
  readonly fault?: KernelFault;
  readonly panic?: boolean;

  /**
   * `where`: the C function the check lives in; `opts.task`: current, when
   * the site knows it (Kernel.currentTask()); `opts.fault`: the address of
   * an oops in kernel mode.
   */
  constructor(kind: 'BUG' | 'Oops', where: string, message: string,
    opts: { task?: ReportTask | null; fault?: KernelFault; panic?: boolean } = {}) {
    super(message);
    this.name = 'KernelBug';
    this.kind = kind;
    this.where = where;
    this.detail = message;
    this.trace = callTrace();
    this.task = opts.task ?? null;
    if (opts.fault !== undefined) this.fault = opts.fault;
    if (opts.panic) this.panic = true;
    this.message = this.report().join('\n');
  }

  /** The report's lines (kernelReport()). */
  report(): string[] {
    return kernelReport({ kind: this.kind, where: this.where, message: this.detail, trace: this.trace, task: this.task,
      fault: this.fault, panic: this.panic });
  }

  /** One line for one-line contexts (a CLI error): the report's first line and the model's explanation. */
  get summary(): string {
    const first = this.report()[0];
    return first === `BUG: ${this.detail}` ? first : `${first} (${this.where}(): ${this.detail})`;
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
