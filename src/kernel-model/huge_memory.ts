// SPDX-License-Identifier: GPL-2.0-only
/*
 * Model of mm/huge_memory.c: transparent huge pages for anonymous memory.
 * A THP-eligible VMA (transparent_hugepage=always, or madvise and
 * MADV_HUGEPAGE) gets a 2 MiB folio mapped by one PMD on its first fault in
 * an aligned 2 MiB range, or the huge zero page on a read fault.
 *
 * Page tables: a huge PMD is a HugePmd in PageTable.huge (pgtable.ts);
 * split_huge_pmd() replaces it by a PteTable of 512 ptes mapping the same
 * folio. split_folio() turns the folio itself into 512 order-0 folios.
 *
 * Not modelled: khugepaged (collapse), the deferred split queue (a partly
 * unmapped THP stays whole until its last mapping goes, as it does in the
 * kernel until memory pressure), mTHP orders other than PMD, file and shmem
 * THP, PMD migration entries (the model's callers split first), the huge
 * zero page's refcounting (it is a reserved, permanent page here).
 */
import { BUG_ON } from './bug.js';
import { EAGAIN, EBUSY } from './errno.js';
import type { Kernel } from './kernel.js';
import { Memmap, type Page, PAGE_SIZE, PMD_SIZE, HPAGE_PMD_NR, HPAGE_PMD_ORDER, PG_anon, PG_anon_exclusive,
  PG_swapbacked, PG_dirty, PG_uptodate, PG_lru, PG_locked, PG_compound, PG_ORDER_SHIFT } from './page.js';
import { type MmStruct, type VmAreaStruct, VM_HUGEPAGE, VM_NOHUGEPAGE, VM_HUGETLB, VM_WRITE, VM_READ, VM_EXEC,
  vmaIsAnonymous, addMmCounter, MM_ANONPAGES } from './mm.js';
import { HugePmd, pmdIndex, isMigrationEntry, isWritableMigrationEntry, isReadableExclusiveMigrationEntry,
  SWP_MIGRATION_READ, SWP_MIGRATION_READ_EXCLUSIVE, SWP_MIGRATION_WRITE, SWP_MIG_DIRTY, _PAGE_PRESENT, _PAGE_RW, _PAGE_DIRTY, _PAGE_SPECIAL, _PAGE_PROTNONE, pteWrite, isDevicePrivateEntry,
  isWritableDevicePrivateEntry, mkSwpEntry, SWP_DEVICE_READ, SWP_DEVICE_WRITE } from './pgtable.js';
import { pagePgmap, isDevicePrivatePage } from './memremap.js';
import type { VmFault } from './memory.js';
import { putPage, getPage, compoundHead, folioMapcount, pageRefCount, testPageFlag, trylockPage, unlockPage,
  clearPageFlag } from './page_alloc.js';
import { folioAddNewAnonRmapPmd, folioRemoveRmapPmd, anonVmaPrepare, pageAnonVma, folioNeedsCowForDma, folioMoveAnonRmap,
  folioTryShareAnonRmapPte } from './rmap.js';
import { mmuNotifierRangeInit, mmuNotifierInvalidateRangeStart, mmuNotifierInvalidateRangeEnd, MMU_NOTIFY_CLEAR } from './mmu_notifier.js';

/** VM_FAULT_FALLBACK: the huge path could not serve the fault; handle it with ptes. */
export const VM_FAULT_FALLBACK = 0x800;

const haddrOf = (addr: number): number => addr - (addr % PMD_SIZE);

/**
 * Model of thp_vma_allowable_order(vma, ..., PMD_ORDER) for a fault at
 * addr (__thp_vma_allowable_orders() + thp_vma_suitable_order()): an
 * anonymous, non-hugetlb VMA without VM_NOHUGEPAGE, THP "always" or
 * "madvise" with VM_HUGEPAGE, and the aligned 2 MiB around addr inside it.
 */
export function thpVmaAllowable(vma: VmAreaStruct, addr: number): boolean {
  const mode = vma.vmMm.k.transparentHugepage;
  if (mode === 'never' || !vmaIsAnonymous(vma) || (vma.vmFlags & (VM_HUGETLB | VM_NOHUGEPAGE))) return false;
  if (mode === 'madvise' && !(vma.vmFlags & VM_HUGEPAGE)) return false;
  const haddr = haddrOf(addr);
  return haddr >= vma.vmStart && haddr + PMD_SIZE <= vma.vmEnd;
}

/** Model of thp_vma_suitable_order(vma, addr, PMD_ORDER): the aligned 2 MiB around addr lies inside the VMA. */
export function thpVmaSuitable(vma: VmAreaStruct, addr: number): boolean {
  const haddr = haddrOf(addr);
  return haddr >= vma.vmStart && haddr + PMD_SIZE <= vma.vmEnd;
}

/** Model of is_huge_zero_pmd(). */
export const isHugeZeroPmd = (k: Kernel, h: HugePmd): boolean => h.pfn === k.hugeZeroPfn;

/**
 * Model of do_huge_pmd_anonymous_page(): a read fault maps the huge zero
 * page (transparent_hugepage/use_zero_page is on by default), a write
 * fault a new zeroed 2 MiB folio, writable and dirty in a writable VMA
 * (__do_huge_pmd_anonymous_page()). No order-9 block: VM_FAULT_FALLBACK,
 * and the fault is served by ptes.
 */
export function doHugePmdAnonymousPage(vma: VmAreaStruct, addr: number, write: boolean): number {
  const mm = vma.vmMm, k = mm.k, haddr = haddrOf(addr);
  anonVmaPrepare(vma);
  if (!write) {
    mm.pgtable.huge.set(pmdIndex(haddr), new HugePmd(k.hugeZeroPfn, _PAGE_PRESENT | _PAGE_SPECIAL));
    return 0;
  }
  const head = k.pageAlloc.allocFolio(HPAGE_PMD_ORDER);
  if (head === 0) return VM_FAULT_FALLBACK;
  folioAddNewAnonRmapPmd(k, head, vma, haddr);
  k.memmap.block(head).flags[Memmap.slot(head)] |= PG_lru; // folio_add_lru_vma()
  addMmCounter(mm, MM_ANONPAGES, HPAGE_PMD_NR);
  mm.pgtable.huge.set(pmdIndex(haddr), new HugePmd(head, _PAGE_PRESENT | (vma.vmFlags & VM_WRITE ? _PAGE_RW | _PAGE_DIRTY : 0)));
  return 0;
}

/**
 * Model of do_huge_pmd_wp_page(): a write to a read-only huge PMD. A
 * PageAnonExclusive folio is reused at once. Otherwise a folio nobody else
 * references (refcount 1, the PMD's) becomes this VMA's: it moves to the
 * VMA's anon_vma (folio_move_anon_rmap(); after fork, the child's own
 * rather than the parent's), is marked PageAnonExclusive and reused. The
 * huge zero page, or a folio somebody else holds, is split and the fault
 * falls back to ptes (6.12 never copies 2 MiB on COW). The kernel sleeps in
 * folio_lock() when the folio is locked; the model has nobody to wait for
 * and falls back.
 */
export function doHugePmdWpPage(vma: VmAreaStruct, addr: number, h: HugePmd): number {
  const k = vma.vmMm.k;
  if (!isHugeZeroPmd(k, h)) {
    const head = h.pfn;
    if (testPageFlag(k, head, PG_anon_exclusive)) return hugePmdReuse(h);
    if (pageRefCount(k, head) === 1 && !testPageFlag(k, head, PG_locked)) {
      folioMoveAnonRmap(k, head, vma);
      k.memmap.block(head).flags[Memmap.slot(head)] |= PG_anon_exclusive;
      return hugePmdReuse(h);
    }
  }
  splitHugePmd(vma, addr);
  return VM_FAULT_FALLBACK;
}

/** The "reuse:" label of do_huge_pmd_wp_page(): the PMD becomes dirty and writable in place. */
function hugePmdReuse(h: HugePmd): number {
  h.val |= _PAGE_RW | _PAGE_DIRTY;
  return 0;
}

/**
 * The PMD part of __handle_mm_fault(): create_huge_pmd() on an empty pmd of
 * a THP-eligible VMA, wp_huge_pmd() or huge_pmd_set_accessed() on a huge
 * one. Returns VM_FAULT_FALLBACK when the fault must go on at pte level.
 */
export function handleHugePmdFault(vma: VmAreaStruct, addr: number, write: boolean): number {
  const h = vma.vmMm.pgtable.lookupHuge(addr);
  if (h === undefined) return thpVmaAllowable(vma, addr) ? doHugePmdAnonymousPage(vma, addr, write) : VM_FAULT_FALLBACK;
  // Only HUGE_PMD_DEVICE_PRIVATE (migrate_device.ts, MIGRATE_DEVICE_THP) installs such an entry.
  if (isDevicePrivateEntry(h.val)) return doHugePmdDevicePrivate(vma, addr, h, write);
  if (write && !pteWrite(h.val)) return doHugePmdWpPage(vma, addr, h);
  if (write) h.val |= _PAGE_DIRTY;
  return 0;
}

/**
 * Model of do_huge_pmd_device_private() (HUGE_PMD_DEVICE_PRIVATE, "mm/memory/fault:
 * add THP fault handling for zone device private pages"): a CPU access through a
 * PMD-level device-private entry asks the folio's pgmap to bring it back
 * (migrate_to_ram() with vmf->pte NULL, vmf->page the folio's head), holding a
 * reference. The C also holds the folio lock around the call (folio_trylock(),
 * 0 when it fails); the model's do_swap_page() does not lock the page either
 * (6.12 before "mm/migrate: Trylock device page in do_swap_page"), so the
 * collection locks it as for a PTE.
 */
function doHugePmdDevicePrivate(vma: VmAreaStruct, addr: number, h: HugePmd, write: boolean): number {
  const k = vma.vmMm.k, head = h.pfn;
  const vmf: VmFault = { vma, address: addr, flags: write ? 1 : 0, page: head, pte: false };
  getPage(k, head);
  const ret = pagePgmap(k, head)!.ops!.migrateToRam!(vmf);
  putPage(k, head);
  return ret;
}

/**
 * Model of zap_huge_pmd(): the whole huge PMD goes; an anon THP loses its
 * PMD mapping and the reference it held; the huge zero page is not counted.
 * A PMD device-private entry (HUGE_PMD_DEVICE_PRIVATE) is zapped the same
 * way: its folio loses the PMD mapping, the rss and the entry's reference.
 */
export function zapHugePmd(vma: VmAreaStruct, addr: number): void {
  const mm = vma.vmMm, k = mm.k, h = mm.pgtable.lookupHuge(addr)!;
  mm.pgtable.huge.delete(pmdIndex(addr));
  if (isHugeZeroPmd(k, h)) return;
  folioRemoveRmapPmd(k, h.pfn, vma);
  addMmCounter(mm, MM_ANONPAGES, -HPAGE_PMD_NR);
  putPage(k, h.pfn);
}

/**
 * Model of the split_huge_pmd() macro: __split_huge_pmd() only where the
 * pmd is huge (what zap, gup, migrate and COW call). No-op otherwise.
 */
export function splitHugePmd(vma: VmAreaStruct, addr: number): void {
  if (vma.vmMm.pgtable.lookupHuge(addr) === undefined || (vma.vmFlags & VM_HUGETLB)) return;
  __splitHugePmd(vma, addr);
}

/**
 * Model of __split_huge_pmd(): MMU_NOTIFY_CLEAR (no owner) over the whole
 * PMD-aligned 2 MiB around addr, sent before the pmd is looked at, so the
 * secondary MMUs forget that range whether or not a huge page is mapped
 * there; then split_huge_pmd_locked(), which splits only a huge pmd.
 */
export function __splitHugePmd(vma: VmAreaStruct, addr: number): void {
  const mm = vma.vmMm, haddr = haddrOf(addr);
  const range = mmuNotifierRangeInit(MMU_NOTIFY_CLEAR, 0, mm, haddr, haddr + PMD_SIZE);
  mmuNotifierInvalidateRangeStart(range);
  const h = mm.pgtable.lookupHuge(haddr);
  if (h !== undefined && !(vma.vmFlags & VM_HUGETLB)) splitHugePmdLocked(vma, haddr, h);
  mmuNotifierInvalidateRangeEnd(range);
}

/**
 * Model of __split_huge_pmd_locked(), not freezing: the huge PMD at haddr
 * becomes a page of 512 ptes mapping the same folio. Each pte keeps the
 * PMD's write and dirty bits, each page gets a PTE mapcount and the folio a
 * reference per pte (folio_ref_add(HPAGE_PMD_NR - 1) plus the PMD's), every
 * page becomes PageAnonExclusive if the head was, then the PMD mapping is
 * removed (folio_remove_rmap_pmd()). The huge zero page becomes 512 ptes of
 * the zero page (__split_huge_zero_page_pmd()).
 */
function splitHugePmdLocked(vma: VmAreaStruct, haddr: number, h: HugePmd): void {
  const mm = vma.vmMm, k = mm.k;
  mm.pgtable.huge.delete(pmdIndex(haddr));
  const t = mm.pgtable.alloc(haddr);
  if (isMigrationEntry(h.val)) {
    // A PMD migration entry (split_huge_pmd_address(..., freeze) in migrate_vma_split_unmapped_folio()):
    // 512 PTE migration entries of the same kind; migration entries hold no reference or mapcount.
    for (let i = 0; i < HPAGE_PMD_NR; i++) mm.pgtable.set(t, i, h.pfn + i, h.val);
    return;
  }
  if (isHugeZeroPmd(k, h)) {
    for (let i = 0; i < HPAGE_PMD_NR; i++) mm.pgtable.set(t, i, k.zeroPfn, _PAGE_PRESENT | _PAGE_SPECIAL);
    return;
  }
  const head = h.pfn, b = k.memmap.block(head), s = Memmap.slot(head);
  const f = k.pageAlloc.large.get(head)!;
  const exclusive = (b.flags[s] & PG_anon_exclusive) !== 0;
  let val: number;
  if (isDevicePrivateEntry(h.val)) {
    // HUGE_PMD_DEVICE_PRIVATE ("implement device-private THP splitting"): 512 PTE device-private entries of the same kind.
    val = mkSwpEntry(isWritableDevicePrivateEntry(h.val) ? SWP_DEVICE_WRITE : SWP_DEVICE_READ);
  } else {
    val = h.val & (_PAGE_PRESENT | _PAGE_RW | _PAGE_DIRTY | _PAGE_PROTNONE);
    if (h.val & _PAGE_DIRTY) b.flags[s] |= PG_dirty;
  }
  b.refcount[s] += HPAGE_PMD_NR - 1;
  for (let i = 0; i < HPAGE_PMD_NR; i++) {
    if (b.mapcount[s + i]++ === 0) f.nrPagesMapped++;
    if (exclusive) b.flags[s + i] |= PG_anon_exclusive;
    mm.pgtable.set(t, i, head + i, val);
  }
  f.largeMapcount += HPAGE_PMD_NR;
  folioRemoveRmapPmd(k, head, vma); // rss unchanged: the same pages, mapped by ptes now
}

/**
 * Model of split_huge_pmd_address(): __split_huge_pmd() if mm_find_pmd()
 * finds a pmd, i.e. the pud above addr is present. The model keeps no pud
 * level: a pud is present when some pmd entry under it (a pte page or a
 * huge PMD) is, which is when something in that 1 GiB was ever faulted.
 */
export function splitHugePmdAddress(vma: VmAreaStruct, addr: number): void {
  if (!vma.vmMm.pgtable.pudPresent(addr)) return;
  __splitHugePmd(vma, addr);
}

/**
 * Model of vma_adjust_trans_huge() as __split_vma() calls it
 * (split_huge_pmd_if_needed() at the split address): when addr is not
 * 2 MiB-aligned and the VMA covers the whole aligned 2 MiB around it, that
 * range goes through split_huge_pmd_address(): invalidated for the
 * secondary MMUs, and a huge PMD there split, so that none crosses the new
 * VMA boundary. (The check at vma->vm_start never fires; the merge paths'
 * calls reduce to the same check at the address where the boundary moves,
 * which is where the model splits.) k.inject.vmaAdjustTransHuge replaces it.
 */
export function vmaAdjustTransHuge(vma: VmAreaStruct, addr: number): void {
  const inj = vma.vmMm.k.inject.vmaAdjustTransHuge;
  if (inj !== undefined) return inj(vma, addr);
  if (addr % PMD_SIZE === 0) return;
  const haddr = haddrOf(addr);
  if (haddr >= vma.vmStart && haddr + PMD_SIZE <= vma.vmEnd) splitHugePmdAddress(vma, addr);
}

/**
 * Model of folio_mark_lazyfree() (mm/swap.c, lru_lazyfree_fn()): a
 * swap-backed anon folio on the LRU loses PG_swapbacked, so reclaim would
 * drop it instead of swapping it out, as long as no pte maps it dirty by
 * then. The model has no reclaim: the folio keeps its data, and a later
 * write dirties its pte again, which is what reclaim would look at.
 */
export function folioMarkLazyfree(k: Kernel, folio: Page): void {
  const b = k.memmap.block(folio), s = Memmap.slot(folio);
  if (!(b.flags[s] & PG_anon) || !(b.flags[s] & PG_swapbacked) || !(b.flags[s] & PG_lru)) return;
  b.flags[s] &= ~PG_swapbacked;
}

/**
 * Model of madvise_free_huge_pmd() for [addr, next) under one huge PMD:
 * true when it dealt with the PMD. The huge zero page, a folio that looks
 * shared (folio_likely_mapped_shared(): after fork the other process may
 * still want it) or a locked one are left alone (false; the caller then
 * finds no pte page). A range covering part of the PMD splits the folio
 * (split_folio(), which maps it by ptes) and returns false, so the ptes
 * are walked; the whole PMD makes the folio clean and lazyfree
 * (folio_mark_lazyfree()) and the PMD clean.
 */
export function madviseFreeHugePmd(vma: VmAreaStruct, addr: number, next: number): boolean {
  const k = vma.vmMm.k, h = vma.vmMm.pgtable.lookupHuge(addr)!;
  // !pmd_present(): a PMD device-private entry (HUGE_PMD_DEVICE_PRIVATE) is left alone, as device-private ptes are.
  if (isHugeZeroPmd(k, h) || isDevicePrivateEntry(h.val)) return false;
  const folio = h.pfn, f = k.pageAlloc.large.get(folio)!;
  if (f.largeMapcount > 1 && (f.entireMapcount > 0 || k.memmap.block(folio).mapcount[Memmap.slot(folio)] > 1)) return false;
  if (!trylockPage(k, folio)) return false;
  if (next - addr !== PMD_SIZE) {
    getPage(k, folio);
    splitFolio(k, folio);
    unlockPage(k, folio);
    putPage(k, folio);
    return false;
  }
  clearPageFlag(k, folio, PG_dirty);
  unlockPage(k, folio);
  h.val &= ~_PAGE_DIRTY; // pmd_mkold(), pmd_mkclean()
  (k.inject.folioMarkLazyfree ?? folioMarkLazyfree)(k, folio);
  return true;
}

/**
 * Model of change_huge_pmd() for a private anonymous mapping: the PMD
 * takes the VMA's new protection as change_pte_range() does for ptes;
 * write comes back at once for an exclusive anon folio
 * (can_change_pmd_writable()), never for the huge zero page.
 */
export function changeHugePmd(vma: VmAreaStruct, h: HugePmd): void {
  const k = vma.vmMm.k, flags = vma.vmFlags;
  if (isDevicePrivateEntry(h.val)) {
    // is_swap_pmd() (HUGE_PMD_DEVICE_PRIVATE): a writable entry becomes readable when write goes; nothing else changes.
    if (!(flags & VM_WRITE) && isWritableDevicePrivateEntry(h.val)) h.val = mkSwpEntry(SWP_DEVICE_READ);
    return;
  }
  let nv = h.val & ~(_PAGE_RW | _PAGE_PROTNONE);
  if ((flags & (VM_READ | VM_WRITE | VM_EXEC)) === 0) nv |= _PAGE_PROTNONE;
  else if ((flags & VM_WRITE) && !isHugeZeroPmd(k, h) && testPageFlag(k, h.pfn, PG_anon_exclusive)) nv |= _PAGE_RW;
  h.val = nv;
}

/**
 * Model of split_folio() (split_huge_page_to_list_to_order() to order 0)
 * for an anonymous THP the caller holds locked and referenced. -EBUSY
 * without an anon_vma, -EAGAIN when a reference other than its mappings'
 * and the caller's is held (can_split_folio()). Otherwise the folio is
 * unmapped (unmap_folio(): its PMD mappings split, under MMU_NOTIFY_CLEAR),
 * becomes 512 order-0 folios (__split_huge_page()) that keep their data,
 * flags, anon_vma and index, and is mapped again (remap_page()). Each new
 * folio's refcount is its mapcount; the caller's reference stays on the
 * head, which alone stays locked. Pages no pte maps any more are freed.
 */
export function splitFolio(k: Kernel, page: Page): number {
  const head = compoundHead(k, page);
  const f = k.pageAlloc.large.get(head);
  if (f === undefined) return 0;
  BUG_ON(!testPageFlag(k, head, PG_locked), 'split_huge_page_to_list_to_order', () => `folio 0x${head.toString(16)} is not locked`);
  BUG_ON(f.hugetlb, 'split_huge_page_to_list_to_order', () => `folio 0x${head.toString(16)} is a hugetlb folio`);
  const av = pageAnonVma(k, head);
  if (av === null) return -EBUSY;
  if (folioMapcount(k, head) !== pageRefCount(k, head) - 1) return -EAGAIN;
  const b = k.memmap.block(head), s = Memmap.slot(head), nr = 1 << f.order;
  const index = b.index[s];
  // unmap_folio(): every VMA that maps the folio by a PMD splits it (TTU_SPLIT_HUGE_PMD).
  for (const vma of av.vmas) {
    const addr = vma.vmStart + (index - vma.vmPgoff) * PAGE_SIZE;
    const start = Math.max(addr, vma.vmStart), end = Math.min(addr + nr * PAGE_SIZE, vma.vmEnd);
    if (start >= end) continue;
    const h = vma.vmMm.pgtable.lookupHuge(addr);
    if (addr === start && h !== undefined && h.pfn === head) splitHugePmd(vma, addr);
    else notifyClear(vma.vmMm, start, end);
  }
  // __split_huge_page(): the head's flags and mapping go to every page.
  const keep = b.flags[s] & (PG_anon | PG_swapbacked | PG_dirty | PG_uptodate | PG_lru);
  const mapping = b.mapping[s];
  b.refcount[s] = b.mapcount[s] + 1;
  for (let i = 0; i < nr; i++) {
    b.flags[s + i] = (b.flags[s + i] & ~(PG_compound | (0x1f << PG_ORDER_SHIFT))) | keep;
    b.mapping[s + i] = mapping;
    b.index[s + i] = index + i;
    if (i > 0) b.refcount[s + i] = b.mapcount[s + i];
  }
  b.flags[s] |= PG_locked;
  k.pageAlloc.large.delete(head);
  // ZONE_DEVICE_LARGE_FOLIOS: the driver splits what it keeps per folio (zone_device_private_split_cb()).
  if (isDevicePrivatePage(k, head)) folioSplitCallbacks(k, head, nr);
  // The tails no pte maps any more lose their last reference.
  for (let i = 1; i < nr; i++) {
    if (b.refcount[s + i] === 0) {
      b.refcount[s + i] = 1;
      putPage(k, head + i);
    }
  }
  return 0;
}

/** dev_pagemap_ops.folio_split(head, tail) for every new folio of a split device-private folio, then (head, NULL). */
function folioSplitCallbacks(k: Kernel, head: Page, nr: number): void {
  const ops = pagePgmap(k, head)!.ops!;
  if (ops.folioSplit === undefined) return;
  for (let i = 1; i < nr; i++) ops.folioSplit(head, head + i);
  ops.folioSplit(head, 0);
}

function notifyClear(mm: MmStruct, start: number, end: number): void {
  const range = mmuNotifierRangeInit(MMU_NOTIFY_CLEAR, 0, mm, start, end);
  mmuNotifierInvalidateRangeStart(range);
  mmuNotifierInvalidateRangeEnd(range);
}

/**
 * Model of copy_huge_pmd() for fork (copy_page_range() -> copy_pmd_range()),
 * for a private anonymous VMA: the child gets the same huge PMD. The huge
 * zero page is shared as is. An anon THP is shared read-only: the folio
 * gains a reference and a PMD mapping, stops being PageAnonExclusive
 * (folio_try_dup_anon_rmap_pmd()), and the parent's PMD is write-protected
 * (pmdp_set_wrprotect()); a later write goes through do_huge_pmd_wp_page(),
 * which splits and copies at pte level. The caller (fork) invalidates the
 * parent's range (MMU_NOTIFY_PROTECTION_PAGE) around the copy as
 * copy_page_range() does. Returns 0, or -EAGAIN after splitting a PMD whose
 * exclusive folio may be DMA-pinned (folio_try_dup_anon_rmap_pmd() fails;
 * the caller then copies the ptes, and copy_present_page() the pinned ones).
 */
export function copyHugePmd(dstVma: VmAreaStruct, srcVma: VmAreaStruct, addr: number): number {
  const src = srcVma.vmMm, dst = dstVma.vmMm, k = src.k;
  const h = src.pgtable.lookupHuge(addr);
  if (h === undefined) return 0;
  const idx = pmdIndex(addr);
  if (isHugeZeroPmd(k, h)) {
    dst.pgtable.huge.set(idx, new HugePmd(h.pfn, h.val));
    return 0;
  }
  const head = h.pfn, f = k.pageAlloc.large.get(head)!, b = k.memmap.block(head), s = Memmap.slot(head);
  if (isDevicePrivateEntry(h.val)) return copyHugePmdDevicePrivate(dst, h, idx, head, f, b, s);
  if ((b.flags[s] & PG_anon_exclusive) && folioNeedsCowForDma(srcVma, head)) {
    splitHugePmd(srcVma, addr);
    return -EAGAIN;
  }
  getPage(k, head);
  b.flags[s] &= ~PG_anon_exclusive;
  f.entireMapcount++;
  f.largeMapcount++;
  addMmCounter(dst, MM_ANONPAGES, HPAGE_PMD_NR);
  h.val &= ~_PAGE_RW;
  dst.pgtable.huge.set(idx, new HugePmd(head, h.val));
  return 0;
}

/**
 * copy_huge_pmd() for a PMD device-private entry (HUGE_PMD_DEVICE_PRIVATE):
 * a writable entry becomes readable in the parent, the child gets the same
 * readable entry, the folio a reference and a PMD mapping, and is no longer
 * PageAnonExclusive (folio_try_dup_anon_rmap_pmd() cannot fail for a device
 * folio: it cannot be pinned).
 */
function copyHugePmdDevicePrivate(dst: MmStruct, h: HugePmd, idx: number, head: Page,
  f: { entireMapcount: number; largeMapcount: number }, b: { flags: Uint16Array }, s: number): number {
  const k = dst.k;
  if (isWritableDevicePrivateEntry(h.val)) h.val = mkSwpEntry(SWP_DEVICE_READ);
  getPage(k, head);
  b.flags[s] &= ~PG_anon_exclusive;
  f.entireMapcount++;
  f.largeMapcount++;
  addMmCounter(dst, MM_ANONPAGES, HPAGE_PMD_NR);
  dst.pgtable.huge.set(idx, new HugePmd(head, h.val));
  return 0;
}

/* ---- PMD migration entries (HUGE_PMD_DEVICE_PRIVATE: "mm/rmap: extend rmap and migration support device-private entries") ---- */

/**
 * Model of set_pmd_migration_entry(): the huge PMD h at haddr (a present THP
 * or a PMD device-private entry) becomes a PMD migration entry for the same
 * folio; the PMD mapping and its reference go (the migration entry holds
 * neither; rss still counts it). An exclusive anon folio is made shareable
 * first (folio_try_share_anon_rmap_pmd(): -EBUSY, PMD left as it was, when
 * the folio may be DMA-pinned). Only migrate_vma_collect_huge_pmd() and
 * try_to_migrate() make them, with the folio locked, and
 * remove_migration_pmd() turns them back before the lock is dropped: no other
 * path ever meets one.
 */
export function setPmdMigrationEntry(k: Kernel, vma: VmAreaStruct, h: HugePmd): number {
  const folio = h.pfn, b = k.memmap.block(folio), s = Memmap.slot(folio);
  const present = (h.val & _PAGE_PRESENT) !== 0;
  const anonExclusive = (b.flags[s] & PG_anon) !== 0 && (b.flags[s] & PG_anon_exclusive) !== 0;
  if (anonExclusive && folioTryShareAnonRmapPte(k, folio)) return -EBUSY;
  const dirty = present && (h.val & _PAGE_DIRTY) !== 0;
  if (dirty) b.flags[s] |= PG_dirty;
  const write = present ? pteWrite(h.val) : isWritableDevicePrivateEntry(h.val);
  const type = write ? SWP_MIGRATION_WRITE : anonExclusive ? SWP_MIGRATION_READ_EXCLUSIVE : SWP_MIGRATION_READ;
  h.val = mkSwpEntry(type) | (dirty ? SWP_MIG_DIRTY : 0);
  folioRemoveRmapPmd(k, folio, vma);
  putPage(k, folio);
  return 0;
}

/**
 * Model of remove_migration_pmd(): the PMD migration entry h becomes a
 * mapping of the large folio dst (the source again when migration failed):
 * a PMD device-private entry for a device-private folio, else a present PMD
 * with the VMA's protection, writable when the entry was, dirty when it
 * was. The folio gains a reference and a PMD mapping, exclusive unless the
 * entry was a plain readable one.
 */
export function removeMigrationPmd(k: Kernel, vma: VmAreaStruct, h: HugePmd, dst: Page): void {
  const v = h.val, write = isWritableMigrationEntry(v);
  const exclusive = write || isReadableExclusiveMigrationEntry(v);
  getPage(k, dst);
  let nv: number;
  if (isDevicePrivatePage(k, dst)) {
    nv = mkSwpEntry(write ? SWP_DEVICE_WRITE : SWP_DEVICE_READ);
  } else {
    nv = _PAGE_PRESENT | (write ? _PAGE_RW : 0) | ((v & SWP_MIG_DIRTY) ? _PAGE_DIRTY : 0);
    if (!(vma.vmFlags & (VM_READ | VM_WRITE | VM_EXEC))) nv |= _PAGE_PROTNONE;
  }
  const f = k.pageAlloc.large.get(dst)!, b = k.memmap.block(dst), s = Memmap.slot(dst);
  f.entireMapcount++; // folio_add_anon_rmap_pmd()
  f.largeMapcount++;
  if (exclusive) b.flags[s] |= PG_anon_exclusive;
  h.pfn = dst;
  h.val = nv;
}

/** Whether h is a PMD migration entry for the folio at head (is_pmd_migration_entry() && the entry's pfn). */
export const isPmdMigrationEntryOf = (h: HugePmd | undefined, head: Page): boolean =>
  h !== undefined && isMigrationEntry(h.val) && h.pfn === head;
