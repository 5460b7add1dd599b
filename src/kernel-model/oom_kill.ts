// SPDX-License-Identifier: GPL-2.0-only
/*
 * Model of mm/oom_kill.c: the OOM killer, for a system-wide out-of-memory.
 *
 * In 6.12 the killer runs inside the page allocator
 * (__alloc_pages_may_oom() -> out_of_memory()) when an allocation that may
 * reclaim and is not __GFP_NORETRY finds no page: it picks the task with
 * the highest oom_badness() (its rss, page tables and swap entries), marks
 * it an OOM victim and sends it SIGKILL. The victim dies on its way back to
 * user mode; its own allocations fail from then on (an OOM victim does not
 * loop in the allocator). pagefault_out_of_memory() (a VM_FAULT_OOM
 * reaching the user fault handler) then only finds the signal pending and
 * returns, so the task dies instead of faulting again.
 *
 * Here the allocations that may invoke the killer go through
 * allocPageVma() (page_alloc.ts: alloc_page_vma() with
 * GFP_HIGHUSER_MOVABLE). A victim other than the task the allocation is
 * for is killed at once (its exit gives its memory back, what the
 * oom_reaper and the victim's exit do); the allocating task's own mm is
 * marked (mm.oomVictim: MMF_OOM_VICTIM with SIGKILL pending) and it dies
 * where it next returns to user mode: after the fault in the user fault
 * handler (memory.ts) or at the end of its system call (task.ts).
 */
import { KernelBug } from './bug.js';
import type { Kernel } from './kernel.js';
import type { MmStruct } from './mm.js';
import type { Task } from './task.js';
import { PAGE_SIZE } from './page.js';

const SIGKILL = 9;
const K = (pages: number): number => pages * (PAGE_SIZE / 1024);

/** Model of oom_badness() with oom_score_adj 0: rss + swap entries (none here) + page-table pages. */
function oomBadness(mm: MmStruct): number {
  return mm.rssAnon + mm.rssFile + mm.pgtable.tables.size;
}

/**
 * Model of out_of_memory() for the allocation of `mm`'s task (null: a
 * kernel allocation for no process): select_bad_process(), then
 * oom_kill_process(). True when a victim was killed or is still on its way
 * out (oom_evaluate_task() waits for it rather than kill a second task);
 * with no killable task at all the kernel panics.
 */
export function outOfMemory(k: Kernel, mm: MmStruct | null): boolean {
  let victim: Task | null = null, best = -1;
  for (const task of k.tasks.values()) {
    if (task.exited) continue;
    if (task.mm.oomVictim) return true;
    const points = oomBadness(task.mm);
    if (points > best) {
      best = points;
      victim = task;
    }
  }
  if (victim === null) {
    k.printk('Out of memory and no killable processes...');
    throw new KernelBug('BUG', 'out_of_memory', 'Kernel panic - not syncing: System is deadlocked on memory');
  }
  oomKillProcess(k, victim, victim.mm === mm);
  return true;
}

/** Model of oom_kill_process() / __oom_kill_process(): the report, SIGKILL, the mm marked a victim. */
function oomKillProcess(k: Kernel, victim: Task, allocating: boolean): void {
  const mm = victim.mm;
  let totalVm = 0;
  for (const vma of mm.vmas) totalVm += (vma.vmEnd - vma.vmStart) / PAGE_SIZE;
  k.printk(`Out of memory: Killed process ${victim.pid} (${victim.comm}) total-vm:${K(totalVm)}kB, anon-rss:${K(mm.rssAnon)}kB, ` +
    `file-rss:${K(mm.rssFile)}kB, shmem-rss:0kB, UID:0 pgtables:${K(mm.pgtable.tables.size)}kB oom_score_adj:0`);
  mm.oomVictim = true;
  // The allocating task dies on its way back to user mode; any other victim right away.
  if (!allocating) victim.kill(SIGKILL);
}

/**
 * Model of pagefault_out_of_memory(): a VM_FAULT_OOM reached the user fault
 * handler. True when the faulting task has SIGKILL pending (it dies on its
 * way back to user mode); otherwise the kernel warns and the fault is
 * retried. The model's allocations outside allocPageVma() (shmem, hugetlb)
 * do not run the killer themselves, so it runs here on their behalf, unless
 * the failure was injected (fail_page_alloc never reaches the killer).
 */
export function pagefaultOutOfMemory(k: Kernel, mm: MmStruct): boolean {
  if (!mm.oomVictim && !k.pageAlloc.lastFailInjected) outOfMemory(k, mm);
  if (mm.oomVictim) return true;
  k.printk('Huh VM_FAULT_OOM leaked out to the #PF handler. Retrying PF');
  return false;
}
