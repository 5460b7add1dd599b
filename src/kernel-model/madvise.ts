// SPDX-License-Identifier: GPL-2.0-only
/*
 * Model of mm/madvise.c: madvise(2), for the advice the selftests give:
 * MADV_HUGEPAGE and MADV_NOHUGEPAGE (hugepage_madvise(), mm/khugepaged.c).
 * Other advice is refused with -EINVAL and a log line until it is modelled.
 */
import { EINVAL, ENOMEM, IS_ERR, PTR_ERR } from './errno.js';
import { PAGE_SIZE, isPageAligned } from './page.js';
import { type MmStruct, type VmAreaStruct, VM_HUGEPAGE, VM_NOHUGEPAGE, findVma, vmaModifyFlags } from './mm.js';

export const MADV_HUGEPAGE = 14;
export const MADV_NOHUGEPAGE = 15;

/** Model of hugepage_madvise(): the VMA flags the advice asks for. */
function hugepageMadvise(flags: number, advice: number): number {
  if (advice === MADV_HUGEPAGE) return (flags & ~VM_NOHUGEPAGE) | VM_HUGEPAGE;
  return (flags & ~VM_HUGEPAGE) | VM_NOHUGEPAGE;
}

/**
 * Model of madvise_update_vma(): unless nothing changes, [start, end) of the
 * VMA takes newFlags (vma_modify_flags(); no anon_vma_name in the model).
 */
function madviseUpdateVma(vma: VmAreaStruct, start: number, end: number, newFlags: number): number {
  if (vma.vmFlags === newFlags) return 0;
  const v = vmaModifyFlags(vma, start, end, newFlags);
  return IS_ERR(v) ? PTR_ERR(v) : 0;
}

/**
 * Model of do_madvise() and madvise_walk_vmas() (6.12): 0; -EINVAL for an
 * unknown advice, an unaligned start, a length that rounds up to 0 or a
 * range that wraps around the end of the address space; -ENOMEM when part
 * of the range is unmapped, the mapped parts being advised all the same.
 * There is no TASK_SIZE check: a range that runs past the top of user
 * space has an unmapped part, so it is -ENOMEM. lenIn is the C size_t: a
 * negative number stands for 2^64 + lenIn.
 */
export function doMadvise(mm: MmStruct, start: number, lenIn: number, advice: number): number {
  if (advice !== MADV_HUGEPAGE && advice !== MADV_NOHUGEPAGE) {
    mm.k.printk(`madvise: advice ${advice}: only MADV_HUGEPAGE and MADV_NOHUGEPAGE are modelled so far`);
    return -EINVAL;
  }
  if (!isPageAligned(start)) return -EINVAL;
  // size_t arithmetic in 64 bits, as C does it.
  const lenU = BigInt.asUintN(64, BigInt(lenIn));
  const len = BigInt.asUintN(64, (lenU + BigInt(PAGE_SIZE - 1)) & -BigInt(PAGE_SIZE)); // PAGE_ALIGN()
  if (lenU !== 0n && len === 0n) return -EINVAL; // a small "negative" length rounded up to 0
  const endU = BigInt(start) + len;
  if (endU >= 1n << 64n) return -EINVAL; // end < start
  if (len === 0n) return 0;
  // Past TASK_SIZE nothing is mapped, so the walk below stops with -ENOMEM there; a Number end is exact enough for that.
  const end = Number(endU);
  let unmappedError = 0;
  while (start < end) {
    const vma = findVma(mm, start);
    if (vma === null || vma.vmStart >= end) return -ENOMEM;
    if (start < vma.vmStart) {
      unmappedError = -ENOMEM;
      start = vma.vmStart;
    }
    const tmp = Math.min(vma.vmEnd, end);
    const err = madviseUpdateVma(vma, start, tmp, hugepageMadvise(vma.vmFlags, advice));
    if (err) return err;
    start = tmp;
  }
  return unmappedError;
}
