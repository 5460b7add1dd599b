// SPDX-License-Identifier: GPL-2.0-only
/*
 * Model of mm/madvise.c: madvise(2), for the advice the selftests give:
 * MADV_HUGEPAGE and MADV_NOHUGEPAGE (hugepage_madvise(), mm/khugepaged.c).
 * Other advice is refused with -EINVAL and a log line until it is modelled.
 */
import { EINVAL, ENOMEM } from './errno.js';
import { PAGE_SIZE, isPageAligned } from './page.js';
import { type MmStruct, type VmAreaStruct, VM_HUGEPAGE, VM_NOHUGEPAGE, TASK_SIZE, findVma, vmaLookup, splitVma,
  mergeAround } from './mm.js';

export const MADV_HUGEPAGE = 14;
export const MADV_NOHUGEPAGE = 15;

/** Model of hugepage_madvise(): the VMA flags the advice asks for. */
function hugepageMadvise(flags: number, advice: number): number {
  if (advice === MADV_HUGEPAGE) return (flags & ~VM_NOHUGEPAGE) | VM_HUGEPAGE;
  return (flags & ~VM_HUGEPAGE) | VM_NOHUGEPAGE;
}

/**
 * Model of madvise_update_vma(): [start, end) of the VMA takes newFlags,
 * split out of it and merged with its neighbours (vma_modify_flags()).
 */
function madviseUpdateVma(mm: MmStruct, vma: VmAreaStruct, start: number, end: number, newFlags: number): number {
  if (vma.vmFlags === newFlags) return 0;
  let err = splitVma(mm, start);
  if (err === 0) err = splitVma(mm, end);
  if (err) return err;
  vmaLookup(mm, start)!.vmFlags = newFlags;
  mergeAround(mm, start, end);
  return 0;
}

/**
 * Model of do_madvise() and madvise_walk_vmas(): 0, -EINVAL for a bad
 * start or advice, or -ENOMEM when part of the range is unmapped (the
 * mapped parts are still advised, as in C).
 */
export function doMadvise(mm: MmStruct, start: number, lenIn: number, advice: number): number {
  if (advice !== MADV_HUGEPAGE && advice !== MADV_NOHUGEPAGE) {
    mm.k.printk(`madvise: advice ${advice}: only MADV_HUGEPAGE and MADV_NOHUGEPAGE are modelled so far`);
    return -EINVAL;
  }
  if (!isPageAligned(start) || lenIn < 0) return -EINVAL;
  const len = Math.ceil(lenIn / PAGE_SIZE) * PAGE_SIZE;
  const end = start + len;
  if (end > TASK_SIZE) return -EINVAL;
  if (end === start) return 0;
  let unmappedError = 0;
  while (start < end) {
    const vma = findVma(mm, start);
    if (vma === null || vma.vmStart >= end) return -ENOMEM;
    if (start < vma.vmStart) {
      unmappedError = -ENOMEM;
      start = vma.vmStart;
    }
    const tmp = Math.min(vma.vmEnd, end);
    const err = madviseUpdateVma(mm, vma, start, tmp, hugepageMadvise(vma.vmFlags, advice));
    if (err) return err;
    start = tmp;
  }
  return unmappedError;
}
