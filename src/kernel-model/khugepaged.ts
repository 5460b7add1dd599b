// SPDX-License-Identifier: GPL-2.0-only
/*
 * Model of the MADV_COLLAPSE half of mm/khugepaged.c (6.12):
 * madvise_collapse() over the PMD-aligned ranges of an anonymous VMA,
 * each through hpage_collapse_scan_pmd() and collapse_huge_page(): the 4K
 * pages (and pte_none or zero-page entries, which MADV_COLLAPSE accepts
 * without limit) are copied into a new PMD-sized folio, mapped by one huge
 * PMD. The scan results and their errnos are the C's
 * (madvise_collapse_errno()).
 *
 * Not modelled (refused with -EINVAL and a log line): the khugepaged
 * thread; shmem/file collapse (hpage_collapse_scan_file()); swap-ins of
 * non-present entries (__collapse_huge_page_swapin(): device-private,
 * migration, device-exclusive entries in the range); PTE-mapped large
 * folios (collapse_pte_mapped_thp() and copying from a large folio).
 */
import { EAGAIN, EINVAL, ENOMEM } from './errno.js';
import { PAGE_SIZE, PMD_SIZE, HPAGE_PMD_NR, HPAGE_PMD_ORDER, Memmap, PG_lru, PG_locked } from './page.js';
import { type VmAreaStruct, VM_NOHUGEPAGE, VM_HUGETLB, VM_WRITE, VM_SPECIAL, vmaIsAnonymous, addMmCounter, MM_ANONPAGES } from './mm.js';
import { HugePmd, pmdIndex, pteWrite, pteSpecial, ptePresent, _PAGE_PRESENT, _PAGE_RW, _PAGE_DIRTY } from './pgtable.js';
import { pageRefCount, folioMapcount, testPageFlag, folioTestAnon, putPage, largeFolio } from './page_alloc.js';
import { folioAddNewAnonRmapPmd, folioRemoveRmapPte } from './rmap.js';
import { copyHighpage } from './highmem.js';
import { isDevicePage } from './memremap.js';
import { mmuNotifierRangeInit, mmuNotifierInvalidateRangeStart, mmuNotifierInvalidateRangeEnd, MMU_NOTIFY_CLEAR } from './mmu_notifier.js';

/* enum scan_result, the members the model reaches. */
export const SCAN_FAIL = 0;
export const SCAN_SUCCEED = 1;
export const SCAN_PMD_NULL = 2;
export const SCAN_PMD_NONE = 3;
export const SCAN_PMD_MAPPED = 4;
export const SCAN_PAGE_RO = 7;
export const SCAN_PAGE_NULL = 10;
export const SCAN_PAGE_LOCK = 12;
export const SCAN_PAGE_ANON = 13;
export const SCAN_PAGE_COMPOUND = 14;
export const SCAN_PAGE_LRU = 15;
export const SCAN_PAGE_COUNT = 18;
export const SCAN_ALLOC_HUGE_PAGE_FAIL = 21;
/** The model's own: something it does not collapse (logged), reported as an error madvise_collapse() does not continue past. */
const SCAN_NOT_MODELLED = -1;

/** Model of madvise_collapse_errno(). */
function madviseCollapseErrno(r: number): number {
  switch (r) {
    case SCAN_ALLOC_HUGE_PAGE_FAIL: return -ENOMEM;
    case SCAN_PAGE_COUNT: case SCAN_PAGE_LOCK: case SCAN_PAGE_LRU: return -EAGAIN;
    default: return -EINVAL;
  }
}

/**
 * Model of thp_vma_allowable_order(vma, vm_flags, 0, PMD_ORDER) as
 * madvise_collapse() asks it (not in a fault, sysfs not enforced: the THP
 * mode does not matter): an anonymous VMA without VM_NOHUGEPAGE that has
 * an anon_vma and holds at least one aligned PMD.
 */
function collapseAllowed(vma: VmAreaStruct): boolean {
  if (!vmaIsAnonymous(vma) || (vma.vmFlags & (VM_NOHUGEPAGE | VM_HUGETLB | VM_SPECIAL))) return false;
  // thp_vma_suitable_order() at vm_end - PMD_SIZE: some aligned 2 MiB lies inside the VMA.
  if (Math.floor((vma.vmEnd - PMD_SIZE) / PMD_SIZE) * PMD_SIZE < vma.vmStart) return false;
  return vma.anonVma !== null;
}

/**
 * Model of hpage_collapse_scan_pmd() for MADV_COLLAPSE: what the 512 ptes
 * at addr hold decides whether collapse_huge_page() may run.
 */
function hpageCollapseScanPmd(vma: VmAreaStruct, addr: number): number {
  const mm = vma.vmMm, k = mm.k;
  if (mm.pgtable.lookupHuge(addr) !== undefined) return SCAN_PMD_MAPPED; // find_pmd_or_thp_or_none()
  const t = mm.pgtable.lookup(addr);
  if (t === undefined) return SCAN_PMD_NONE;
  let writable = false;
  for (let i = 0; i < HPAGE_PMD_NR; i++) {
    const v = t.val[i];
    if (v === 0) continue;
    if (!ptePresent(v)) {
      k.printk(`madvise: MADV_COLLAPSE of a range with a swap entry (0x${(addr + i * PAGE_SIZE).toString(16)}) is not modelled`);
      return SCAN_NOT_MODELLED;
    }
    if (pteSpecial(v) && t.pfn[i] === k.zeroPfn) continue; // pte_none_or_zero()
    if (pteWrite(v)) writable = true;
    const page = t.pfn[i];
    if (pteSpecial(v) || isDevicePage(k, page)) return SCAN_PAGE_NULL;
    if (!folioTestAnon(k, page)) return SCAN_PAGE_ANON;
    if (largeFolio(k, page) !== undefined) {
      k.printk('madvise: MADV_COLLAPSE of a PTE-mapped large folio is not modelled');
      return SCAN_NOT_MODELLED;
    }
    if (!testPageFlag(k, page, PG_lru)) return SCAN_PAGE_LRU;
    if (testPageFlag(k, page, PG_locked)) return SCAN_PAGE_LOCK;
    // is_refcount_suitable(): no reference but the mappings' (a GUP pin, a driver's reference: try later).
    if (pageRefCount(k, page) !== folioMapcount(k, page)) return SCAN_PAGE_COUNT;
  }
  return writable ? collapseHugePage(vma, addr) : SCAN_PAGE_RO;
}

/**
 * Model of collapse_huge_page(): a new PMD-sized folio, MMU_NOTIFY_CLEAR
 * over the 2 MiB, the ptes cleared (pmdp_collapse_flush()), each page copied
 * in and freed (__collapse_huge_page_copy_succeeded(): a none or zero-page
 * entry adds to rss, a page's mapping moves to the new folio), then one
 * writable, dirty huge PMD (the VMA is writable, or the scan found no
 * writable pte and never got here).
 */
function collapseHugePage(vma: VmAreaStruct, addr: number): number {
  const mm = vma.vmMm, k = mm.k;
  const head = k.pageAlloc.allocFolio(HPAGE_PMD_ORDER);
  if (head === 0) return SCAN_ALLOC_HUGE_PAGE_FAIL;
  const range = mmuNotifierRangeInit(MMU_NOTIFY_CLEAR, 0, mm, addr, addr + PMD_SIZE);
  mmuNotifierInvalidateRangeStart(range);
  const t = mm.pgtable.lookup(addr)!;
  for (let i = 0; i < HPAGE_PMD_NR; i++) {
    const v = t.val[i], page = t.pfn[i];
    if (v !== 0 && !(pteSpecial(v) && page === k.zeroPfn)) {
      copyHighpage(k, head + i, page);
      folioRemoveRmapPte(k, page, vma);
      putPage(k, page);
    } else {
      addMmCounter(mm, MM_ANONPAGES, 1);
    }
    mm.pgtable.set(t, i, 0, 0);
  }
  mm.pgtable.freeIfEmpty(addr);
  folioAddNewAnonRmapPmd(k, head, vma, addr);
  k.memmap.block(head).flags[Memmap.slot(head)] |= PG_lru; // folio_add_lru_vma()
  mm.pgtable.huge.set(pmdIndex(addr), new HugePmd(head, _PAGE_PRESENT | _PAGE_DIRTY | (vma.vmFlags & VM_WRITE ? _PAGE_RW : 0)));
  mmuNotifierInvalidateRangeEnd(range);
  return SCAN_SUCCEED;
}

/**
 * Model of madvise_collapse(): every PMD-aligned 2 MiB of [start, end) in
 * the VMA is collapsed or already a huge PMD, or the errno of the last
 * thing that failed. The results the C continues past (a read-only range,
 * a page with extra references, one off the LRU ...) are remembered; any
 * other ends the walk.
 */
export function madviseCollapse(vma: VmAreaStruct, start: number, end: number): number {
  if (!collapseAllowed(vma)) return -EINVAL;
  const hstart = Math.ceil(start / PMD_SIZE) * PMD_SIZE, hend = Math.floor(end / PMD_SIZE) * PMD_SIZE;
  let thps = 0, lastFail = SCAN_FAIL;
  for (let addr = hstart; addr < hend; addr += PMD_SIZE) {
    const result = hpageCollapseScanPmd(vma, addr);
    if (result === SCAN_SUCCEED || result === SCAN_PMD_MAPPED) {
      thps++;
      continue;
    }
    lastFail = result;
    const carryOn = result === SCAN_PMD_NULL || result === SCAN_PAGE_RO || result === SCAN_PAGE_NULL ||
      result === SCAN_PAGE_COUNT || result === SCAN_PAGE_LOCK || result === SCAN_PAGE_COMPOUND || result === SCAN_PAGE_LRU;
    if (!carryOn) break;
  }
  return thps === (hend - hstart) / PMD_SIZE ? 0 : madviseCollapseErrno(lastFail);
}
