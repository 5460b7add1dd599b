// SPDX-License-Identifier: GPL-2.0-only
/*
 * Model of mm/madvise.c: madvise(2) as 6.12 built with the reference
 * kernel's configuration (/work/shared/reference/config.fragment: THP and
 * swap on, no KSM, no MEMORY_FAILURE, no anon VMA names).
 *
 * Modelled: MADV_DONTNEED, MADV_DONTNEED_LOCKED and MADV_FREE
 * (madvise_dontneed_free()), the advice that only sets VMA flags
 * (MADV_NORMAL, MADV_RANDOM, MADV_SEQUENTIAL, MADV_DONTDUMP, MADV_DODUMP,
 * MADV_HUGEPAGE, MADV_NOHUGEPAGE; MADV_DONTFORK, MADV_DOFORK,
 * MADV_WIPEONFORK, MADV_KEEPONFORK, which dup_mmap() obeys), and MADV_WILLNEED on anonymous and
 * shmem mappings (a swap-in walk that finds nothing: the model has no swap);
 * MADV_COLLAPSE of anonymous memory (khugepaged.ts).
 * Advice that 6.12 knows but the model does not serve (MADV_REMOVE,
 * MADV_COLD, MADV_PAGEOUT, MADV_POPULATE_*) is
 * refused with -EINVAL and a log line; advice that 6.12 built this way does
 * not know is -EINVAL, as madvise_behavior_valid() says.
 */
import { EAGAIN, EINVAL, ENOMEM, IS_ERR, PTR_ERR } from './errno.js';
import { type Page, PAGE_SIZE, PG_dirty, isPageAligned } from './page.js';
import { type MmStruct, type VmAreaStruct, VM_HUGEPAGE, VM_NOHUGEPAGE, VM_HUGETLB, VM_LOCKED, VM_PFNMAP, VM_SPECIAL,
  VM_RAND_READ, VM_SEQ_READ, VM_DONTDUMP, VM_DONTCOPY, VM_WIPEONFORK, VM_IO, VM_SHARED, findVma, vmaIsAnonymous, vmaModifyFlags } from './mm.js';
import { zapPageRangeSingle } from './memory.js';
import { folioMarkLazyfree, madviseFreeHugePmd, splitFolio } from './huge_memory.js';
import { HPAGE_SIZE } from './hugetlb.js';
import { madviseCollapse } from './khugepaged.js';
import { ShmemFile } from './shmem.js';
import { pmdAddrEnd, pteIndex, ptePresent, pteSpecial, _PAGE_DIRTY, type PteTable } from './pgtable.js';
import { compoundHead, folioMapcount, largeFolio, testPageFlag, isZoneDevicePage, trylockPage,
  unlockPage, getPage, putPage, folioEntireMapcount, pageMapcount, clearPageFlag } from './page_alloc.js';
import { mmuNotifierRangeInit, mmuNotifierInvalidateRangeStart, mmuNotifierInvalidateRangeEnd, MMU_NOTIFY_CLEAR } from './mmu_notifier.js';
import type { Kernel } from './kernel.js';

/* include/uapi/asm-generic/mman-common.h */
export const MADV_NORMAL = 0;
export const MADV_RANDOM = 1;
export const MADV_SEQUENTIAL = 2;
export const MADV_WILLNEED = 3;
export const MADV_DONTNEED = 4;
export const MADV_FREE = 8;
export const MADV_REMOVE = 9;
export const MADV_DONTFORK = 10;
export const MADV_DOFORK = 11;
export const MADV_MERGEABLE = 12;
export const MADV_UNMERGEABLE = 13;
export const MADV_HUGEPAGE = 14;
export const MADV_NOHUGEPAGE = 15;
export const MADV_DONTDUMP = 16;
export const MADV_DODUMP = 17;
export const MADV_WIPEONFORK = 18;
export const MADV_KEEPONFORK = 19;
export const MADV_COLD = 20;
export const MADV_PAGEOUT = 21;
export const MADV_POPULATE_READ = 22;
export const MADV_POPULATE_WRITE = 23;
export const MADV_DONTNEED_LOCKED = 24;
export const MADV_COLLAPSE = 25;
export const MADV_HWPOISON = 100;
export const MADV_SOFT_OFFLINE = 101;

/**
 * Model of madvise_behavior_valid() for the reference configuration:
 * without CONFIG_KSM MADV_(UN)MERGEABLE, without CONFIG_MEMORY_FAILURE
 * MADV_HWPOISON and MADV_SOFT_OFFLINE are unknown advice.
 */
export function madviseBehaviorValid(behavior: number): boolean {
  return (behavior >= MADV_NORMAL && behavior <= MADV_DONTNEED) ||
    (behavior >= MADV_FREE && behavior <= MADV_COLLAPSE && behavior !== MADV_MERGEABLE && behavior !== MADV_UNMERGEABLE);
}

/** Valid advice the model does not serve: refused with -EINVAL and a log line rather than served wrongly. */
const NOT_MODELLED = new Map<number, string>([
  [MADV_REMOVE, 'MADV_REMOVE'], [MADV_COLD, 'MADV_COLD'],
  [MADV_PAGEOUT, 'MADV_PAGEOUT'], [MADV_POPULATE_READ, 'MADV_POPULATE_READ'],
  [MADV_POPULATE_WRITE, 'MADV_POPULATE_WRITE'],
]);

/** Model of madvise_need_mmap_write(): the advice that only reads the VMAs takes mmap_lock for read. */
export function madviseNeedMmapWrite(behavior: number): boolean {
  return !(behavior === MADV_REMOVE || behavior === MADV_WILLNEED || behavior === MADV_DONTNEED ||
    behavior === MADV_DONTNEED_LOCKED || behavior === MADV_COLD || behavior === MADV_PAGEOUT || behavior === MADV_FREE ||
    behavior === MADV_POPULATE_READ || behavior === MADV_POPULATE_WRITE || behavior === MADV_COLLAPSE);
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
 * Model of madvise_dontneed_free_valid_vma(): VM_PFNMAP (and VM_LOCKED,
 * unless MADV_DONTNEED_LOCKED) is refused; on hugetlb only the DONTNEED
 * advice, from a huge page boundary, and the end is rounded down to one so
 * that a caller unaware of huge pages does not lose a partly covered one.
 * Returns the end to use, or -1 for -EINVAL.
 */
function madviseDontneedFreeValidVma(vma: VmAreaStruct, start: number, end: number, behavior: number): number {
  if (!(vma.vmFlags & VM_HUGETLB)) {
    const forbidden = VM_PFNMAP | (behavior !== MADV_DONTNEED_LOCKED ? VM_LOCKED : 0);
    return vma.vmFlags & forbidden ? -1 : end;
  }
  if (behavior !== MADV_DONTNEED && behavior !== MADV_DONTNEED_LOCKED) return -1;
  if (start % HPAGE_SIZE !== 0) return -1;
  return end - (end % HPAGE_SIZE);
}

/**
 * Model of madvise_dontneed_free(): MADV_DONTNEED(_LOCKED) zaps the range
 * (madvise_dontneed_single_vma() is zap_page_range_single()), MADV_FREE
 * marks its pages lazily freeable (madvise_free_single_vma()). No
 * userfaultfd in the model, so the lock is never dropped on the way.
 */
function madviseDontneedFree(vma: VmAreaStruct, start: number, end: number, behavior: number): number {
  end = madviseDontneedFreeValidVma(vma, start, end, behavior);
  if (end < 0) return -EINVAL;
  if (start === end) return 0;
  if (behavior === MADV_FREE) return madviseFreeSingleVma(vma, start, end);
  (vma.vmMm.k.inject.zapPageRangeSingle ?? zapPageRangeSingle)(vma, start, end - start);
  return 0;
}

/**
 * Model of madvise_free_single_vma(): anonymous VMAs only (-EINVAL
 * otherwise: shared anonymous memory is shmem, so it is refused too); one
 * MMU_NOTIFY_CLEAR over the range, so mirrors forget it, around the walk.
 */
function madviseFreeSingleVma(vma: VmAreaStruct, start: number, end: number): number {
  if (!vmaIsAnonymous(vma)) return -EINVAL;
  const mm = vma.vmMm;
  start = Math.max(vma.vmStart, start);
  end = Math.min(vma.vmEnd, end);
  if (start >= end) return -EINVAL;
  const range = mmuNotifierRangeInit(MMU_NOTIFY_CLEAR, 0, mm, start, end);
  mmuNotifierInvalidateRangeStart(range);
  for (let a = start; a < end; a = pmdAddrEnd(a, end)) madviseFreePteRange(vma, a, pmdAddrEnd(a, end));
  mmuNotifierInvalidateRangeEnd(range);
  return 0;
}

/**
 * Model of madvise_free_pte_range() over [addr, next) under one pmd. A
 * huge PMD goes to madvise_free_huge_pmd(); if that splits the folio (the
 * range covers part of it) the ptes that now map it are walked. Entries
 * that are not present are left alone: the model has no swap, and
 * device-private, device-exclusive and migration entries are non-swap
 * entries, which 6.12 skips. The zero page (no vm_normal_folio()) and
 * ZONE_DEVICE folios (COHERENT, GENERIC) are skipped. A large folio the
 * range covers only partly is split first (split_folio()), unless it looks
 * shared or is locked. Then a dirty folio mapped only here is cleaned,
 * the ptes lose their dirty bit, and the folio becomes lazyfree.
 */
function madviseFreePteRange(vma: VmAreaStruct, addr: number, next: number): void {
  const mm = vma.vmMm, k = mm.k;
  if (mm.pgtable.lookupHuge(addr) !== undefined && madviseFreeHugePmd(vma, addr, next)) return;
  const t = mm.pgtable.lookup(addr);
  if (t === undefined) return; // pte_offset_map_lock() finds no pte page (or a huge PMD the split left alone)
  for (let x = addr, i = pteIndex(addr); x < next;) {
    let nr = 1;
    const v = t.val[i], page = t.pfn[i];
    if (!ptePresent(v) || pteSpecial(v) || isZoneDevicePage(k, page)) { x += PAGE_SIZE; i++; continue; }
    const f = largeFolio(k, page);
    if (f !== undefined) {
      nr = madviseFolioPteBatch(k, t, i, next - x);
      if (nr < 1 << f.order) {
        if (folioLikelyMappedShared(k, page)) { x += nr * PAGE_SIZE; i += nr; continue; }
        const head = compoundHead(k, page);
        if (!trylockPage(k, head)) { x += nr * PAGE_SIZE; i += nr; continue; }
        getPage(k, head);
        const err = splitFolio(k, head);
        unlockPage(k, head);
        putPage(k, head);
        if (err) { x += nr * PAGE_SIZE; i += nr; } // else look at the same pte again, a small folio now
        continue;
      }
    }
    const folio = compoundHead(k, page);
    let dirty = false;
    for (let j = 0; j < nr; j++) dirty ||= (t.val[i + j] & _PAGE_DIRTY) !== 0;
    if (testPageFlag(k, folio, PG_dirty)) {
      // No swap cache in the model: only the dirty flag, and only for a folio this pte range maps alone.
      if (!trylockPage(k, folio)) { x += nr * PAGE_SIZE; i += nr; continue; }
      if (folioMapcount(k, folio) !== nr) { unlockPage(k, folio); x += nr * PAGE_SIZE; i += nr; continue; }
      clearPageFlag(k, folio, PG_dirty); // folio_clear_dirty()
      unlockPage(k, folio);
    }
    if (dirty) for (let j = 0; j < nr; j++) t.val[i + j] &= ~_PAGE_DIRTY; // clear_young_dirty_ptes()
    (k.inject.folioMarkLazyfree ?? folioMarkLazyfree)(k, folio);
    x += nr * PAGE_SIZE;
    i += nr;
  }
}

/**
 * Model of madvise_folio_pte_batch() (folio_pte_batch() ignoring dirty):
 * how many ptes from t[i], at most max bytes' worth, map consecutive pages
 * of the same large folio with the same protection.
 */
function madviseFolioPteBatch(k: Kernel, t: PteTable, i: number, max: number): number {
  const page = t.pfn[i], f = largeFolio(k, page)!, head = compoundHead(k, page);
  const limit = Math.min(max / PAGE_SIZE, head + (1 << f.order) - page, 512 - i);
  const want = t.val[i] & ~_PAGE_DIRTY;
  let nr = 1;
  while (nr < limit && t.pfn[i + nr] === page + nr && (t.val[i + nr] & ~_PAGE_DIRTY) === want) nr++;
  return nr;
}

/**
 * Model of folio_likely_mapped_shared(): a small folio mapped more than
 * once; a large one mapped more than once whose first page is mapped
 * more than once or that is mapped whole somewhere.
 */
export function folioLikelyMappedShared(k: Kernel, page: Page): boolean {
  const folio = compoundHead(k, page), mapcount = folioMapcount(k, folio);
  if (largeFolio(k, folio) === undefined) return mapcount > 1;
  if (mapcount <= 1) return false;
  return folioEntireMapcount(k, folio) > 0 || pageMapcount(k, folio) > 1;
}

/**
 * Model of madvise_vma_behavior() for one VMA's part [start, end): the
 * modelled advice, each as 6.12 serves it. -ENOMEM from a VMA split or
 * merge becomes -EAGAIN, as there.
 */
function madviseVmaBehavior(vma: VmAreaStruct, start: number, end: number, behavior: number): number {
  let newFlags = vma.vmFlags;
  switch (behavior) {
    case MADV_WILLNEED: return madviseWillneed(vma);
    case MADV_COLLAPSE: return madviseCollapse(vma, start, end);
    case MADV_FREE:
    case MADV_DONTNEED:
    case MADV_DONTNEED_LOCKED:
      return madviseDontneedFree(vma, start, end, behavior);
    case MADV_NORMAL: newFlags &= ~(VM_RAND_READ | VM_SEQ_READ); break;
    case MADV_SEQUENTIAL: newFlags = (newFlags & ~VM_RAND_READ) | VM_SEQ_READ; break;
    case MADV_RANDOM: newFlags = (newFlags & ~VM_SEQ_READ) | VM_RAND_READ; break;
    case MADV_DONTFORK: newFlags |= VM_DONTCOPY; break;
    case MADV_DOFORK:
      if (vma.vmFlags & VM_IO) return -EINVAL;
      newFlags &= ~VM_DONTCOPY;
      break;
    case MADV_WIPEONFORK:
      // Anonymous memory only; a MAP_HUGETLB mapping is a hugetlbfs file in 6.12 (its vm_file).
      if (vma.vmFile !== null || (vma.vmFlags & (VM_SHARED | VM_HUGETLB))) return -EINVAL;
      newFlags |= VM_WIPEONFORK;
      break;
    case MADV_KEEPONFORK: newFlags &= ~VM_WIPEONFORK; break; // no VM_DROPPABLE VMAs in the model
    case MADV_DONTDUMP: newFlags |= VM_DONTDUMP; break;
    case MADV_DODUMP:
      if (!(vma.vmFlags & VM_HUGETLB) && (newFlags & VM_SPECIAL)) return -EINVAL;
      newFlags &= ~VM_DONTDUMP;
      break;
    case MADV_HUGEPAGE: newFlags = (newFlags & ~VM_NOHUGEPAGE) | VM_HUGEPAGE; break; // hugepage_madvise()
    case MADV_NOHUGEPAGE: newFlags = (newFlags & ~VM_HUGEPAGE) | VM_NOHUGEPAGE; break;
    default: throw new Error(`madvise: advice ${behavior} reached madvise_vma_behavior() unmodelled`);
  }
  const err = madviseUpdateVma(vma, start, end, newFlags);
  return err === -ENOMEM ? -EAGAIN : err;
}

/**
 * Model of madvise_willneed() with CONFIG_SWAP: anonymous and shmem
 * mappings get a swap-in walk, which finds nothing to read in a model
 * without swap; 0. Other files (a driver's VM_MIXEDMAP mapping) would go
 * to vfs_fadvise(): not modelled, refused.
 */
function madviseWillneed(vma: VmAreaStruct): number {
  if (vma.vmFile === null || vma.vmFile instanceof ShmemFile) return 0;
  vma.vmMm.k.printk('madvise: MADV_WILLNEED on a mapping of a device file (vfs_fadvise()) is not modelled');
  return -EINVAL;
}

/**
 * Model of do_madvise() and madvise_walk_vmas() (6.12): 0; -EINVAL for an
 * unknown advice, an unaligned start, a length that rounds up to 0 or a
 * range that wraps around the end of the address space; -ENOMEM when part
 * of the range is unmapped, the mapped parts being advised all the same;
 * the first VMA's error ends the walk, the VMAs before it advised. There
 * is no TASK_SIZE check: a range that runs past the top of user space has
 * an unmapped part, so it is -ENOMEM. lenIn is the C size_t: a negative
 * number stands for 2^64 + lenIn. The caller holds mmap_lock as
 * madviseNeedMmapWrite() says.
 */
export function doMadvise(mm: MmStruct, start: number, lenIn: number, advice: number): number {
  if (!madviseBehaviorValid(advice)) return -EINVAL;
  if (!isPageAligned(start)) return -EINVAL;
  // size_t arithmetic in 64 bits, as C does it.
  const lenU = BigInt.asUintN(64, BigInt(lenIn));
  const len = BigInt.asUintN(64, (lenU + BigInt(PAGE_SIZE - 1)) & -BigInt(PAGE_SIZE)); // PAGE_ALIGN()
  if (lenU !== 0n && len === 0n) return -EINVAL; // a small "negative" length rounded up to 0
  const endU = BigInt(start) + len;
  if (endU >= 1n << 64n) return -EINVAL; // end < start
  if (len === 0n) return 0;
  const name = NOT_MODELLED.get(advice);
  if (name !== undefined) {
    mm.k.printk(`madvise: ${name} (${advice}) is not modelled`);
    return -EINVAL;
  }
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
    const err = madviseVmaBehavior(vma, start, tmp, advice);
    if (err) return err;
    start = tmp;
  }
  return unmappedError;
}
