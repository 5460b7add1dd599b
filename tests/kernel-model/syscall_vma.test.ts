// SPDX-License-Identifier: GPL-2.0-only
/*
 * munmap(2), mprotect(2) and madvise(2)'s argument checks, one row per
 * rule of 6.12 (the C function and condition), each on a fresh task with
 * one 4-page private anonymous mapping at X:
 *
 *   X: 0 1 2 3 . . .     pages 0-3 mapped, then nothing
 *
 * Lengths are the C size_t: a negative number stands for 2^64 + n.
 */
import t from 'tap';
import { Kernel } from '../../src/kernel-model/kernel.js';
import { Task } from '../../src/kernel-model/task.js';
import { EINVAL, ENOMEM, errname } from '../../src/kernel-model/errno.js';
import { PAGE_SIZE } from '../../src/kernel-model/page.js';
import { MAP_ANONYMOUS, MAP_FIXED, MAP_PRIVATE, PROT_EXEC, PROT_GROWSDOWN, PROT_GROWSUP, PROT_READ, PROT_SEM, PROT_WRITE,
  TASK_SIZE, VM_WRITE, vmaLookup } from '../../src/kernel-model/mm.js';
import { MADV_DONTNEED, MADV_HUGEPAGE } from '../../src/kernel-model/madvise.js';

const P = PAGE_SIZE, RW = PROT_READ | PROT_WRITE;
const X = 0x10000000;

function task(): Task {
  const tk = new Task(new Kernel());
  if (tk.mmap(X, 4 * P, RW, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED) !== X) throw new Error('mmap');
  return tk;
}

type Row = [rule: string, call: (tk: Task) => number, expect: number];
const rows: Row[] = [
  // mm/vma.c do_vmi_munmap()
  ['do_vmi_munmap(): offset_in_page(start) -> -EINVAL', (tk) => tk.munmap(X + 1, P), -EINVAL],
  ['do_vmi_munmap(): start > TASK_SIZE -> -EINVAL', (tk) => tk.munmap(TASK_SIZE + P, P), -EINVAL],
  ['do_vmi_munmap(): len > TASK_SIZE - start -> -EINVAL', (tk) => tk.munmap(X, TASK_SIZE), -EINVAL],
  ['do_vmi_munmap(): a "negative" len is > TASK_SIZE - start -> -EINVAL', (tk) => tk.munmap(X, -P), -EINVAL],
  ['do_vmi_munmap(): end == start (len 0) -> -EINVAL', (tk) => tk.munmap(X, 0), -EINVAL],
  ['do_vmi_munmap(): nothing mapped in the range -> 0', (tk) => tk.munmap(X + 8 * P, P), 0],
  ['do_vmi_munmap(): an unaligned length is rounded up', (tk) => tk.munmap(X, 1), 0],
  // mm/mprotect.c do_mprotect_pkey()
  ['do_mprotect_pkey(): PROT_GROWSDOWN | PROT_GROWSUP -> -EINVAL', (tk) => tk.mprotect(X, P, PROT_READ | PROT_GROWSDOWN | PROT_GROWSUP), -EINVAL],
  ['do_mprotect_pkey(): start & ~PAGE_MASK -> -EINVAL', (tk) => tk.mprotect(X + 1, P, PROT_READ), -EINVAL],
  ['do_mprotect_pkey(): !len -> 0, even over nothing', (tk) => tk.mprotect(X + 8 * P, 0, PROT_READ), 0],
  ['do_mprotect_pkey(): end <= start (a "negative" len) -> -ENOMEM', (tk) => tk.mprotect(X, -P, PROT_READ), -ENOMEM],
  ['do_mprotect_pkey(): the wrap is checked before prot', (tk) => tk.mprotect(X, -P, 0x80), -ENOMEM],
  ['arch_validate_prot(): a bit outside READ|WRITE|EXEC|SEM -> -EINVAL', (tk) => tk.mprotect(X, P, PROT_READ | 0x10), -EINVAL],
  ['arch_validate_prot(): PROT_SEM is valid', (tk) => tk.mprotect(X, P, PROT_READ | PROT_SEM), 0],
  ['do_mprotect_pkey(): no VMA in [start, end) -> -ENOMEM', (tk) => tk.mprotect(X + 8 * P, P, PROT_READ), -ENOMEM],
  ['do_mprotect_pkey(): the first VMA starts after start -> -ENOMEM', (tk) => tk.mprotect(X - P, 2 * P, PROT_READ), -ENOMEM],
  ['do_mprotect_pkey(): PROT_GROWSDOWN on a VMA without VM_GROWSDOWN -> -EINVAL', (tk) => tk.mprotect(X, P, PROT_READ | PROT_GROWSDOWN), -EINVAL],
  ['do_mprotect_pkey(): PROT_GROWSUP on a VMA without VM_GROWSUP -> -EINVAL', (tk) => tk.mprotect(X, P, PROT_READ | PROT_GROWSUP), -EINVAL],
  ['do_mprotect_pkey(): a hole after the first VMA -> -ENOMEM, the part before changed', (tk) => {
    const ret = tk.mprotect(X, 8 * P, PROT_READ);
    return vmaLookup(tk.mm, X)!.vmFlags & VM_WRITE ? 1 : ret; // 1: the mapped part kept its write access
  }, -ENOMEM],
  ['do_mprotect_pkey(): PROT_EXEC is fine on anonymous memory (VM_MAYEXEC)', (tk) => tk.mprotect(X, P, PROT_READ | PROT_EXEC), 0],
  // mm/madvise.c do_madvise()
  ['do_madvise(): madvise_behavior_valid() -> -EINVAL (MADV_MERGEABLE without CONFIG_KSM)', (tk) => tk.madvise(X, P, 12), -EINVAL],
  ['do_madvise(): !PAGE_ALIGNED(start) -> -EINVAL', (tk) => tk.madvise(X + 1, P, MADV_DONTNEED), -EINVAL],
  ['do_madvise(): len_in && !len (rounded up from a small "negative") -> -EINVAL', (tk) => tk.madvise(X, -1, MADV_DONTNEED), -EINVAL],
  ['do_madvise(): end < start -> -EINVAL', (tk) => tk.madvise(X, P - X, MADV_DONTNEED), -EINVAL],
  ['do_madvise(): end == start -> 0', (tk) => tk.madvise(X, 0, MADV_HUGEPAGE), 0],
  ['madvise_walk_vmas(): an unmapped part -> -ENOMEM', (tk) => tk.madvise(X, 8 * P, MADV_DONTNEED), -ENOMEM],
  ['madvise_walk_vmas(): nothing mapped -> -ENOMEM', (tk) => tk.madvise(X + 8 * P, P, MADV_DONTNEED), -ENOMEM],
];

for (const [rule, call, expect] of rows) {
  t.test(rule, async (t) => {
    const got = call(task());
    t.equal(got, expect, `${errname(expect)} (got ${errname(got)})`);
  });
}
