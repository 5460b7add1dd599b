// SPDX-License-Identifier: GPL-2.0-only
/*
 * The THP half of mm/migrate_device.c, from Balbir Singh's "mm: support
 * device-private THP" series (MIGRATE_DEVICE_THP, "mm/migrate_device:
 * implement THP migration of zone device pages", "... handle partially
 * mapped folios during collection", "... add THP splitting during
 * migration"): migrate_vma_collect_huge_pmd(), migrate_vma_split_folio(),
 * migrate_vma_insert_huge_pmd_page(), migrate_vma_split_unmapped_folio()
 * and the MIGRATE_PFN_COMPOUND entries of __migrate_device_pages(). Kept
 * apart from migrate_device.ts so 6.12's path there reads as one piece;
 * migrate_device.ts calls in here only where k.has(MIGRATE_DEVICE_THP).
 *
 * A MIGRATE_PFN_COMPOUND entry stands for the 512 pages of one PMD: src[i]
 * has the folio's head (or no page, for an empty or huge zero PMD) and the
 * 511 entries after it are 0. While it migrates, the PMD holds a PMD
 * migration entry (huge_memory.ts: setPmdMigrationEntry()).
 *
 * Not modelled: the kernel's lock of the fault folio across the fault
 * (do_swap_page() takes it from 6.15 on, "mm/migrate: Trylock device page
 * in do_swap_page"; the model's fault paths do not, so collection locks
 * the fault folio like any other).
 */
import type { Kernel } from './kernel.js';
import { EAGAIN, EBUSY } from './errno.js';
import { type Page, PAGE_SIZE, PMD_SIZE, HPAGE_PMD_NR, Memmap, PG_locked, PG_compound, PG_ORDER_SHIFT, PG_uptodate, PG_lru } from './page.js';
import { VM_WRITE, vmaIsAnonymous, addMmCounter, MM_ANONPAGES } from './mm.js';
import { HugePmd, pmdIndex, ptePresent, pteWrite, isDevicePrivateEntry, isWritableDevicePrivateEntry, mkSwpEntry,
  SWP_DEVICE_READ, SWP_DEVICE_WRITE, _PAGE_PRESENT, _PAGE_RW, _PAGE_DIRTY } from './pgtable.js';
import { getPage, putPage, trylockPage, unlockPage, compoundHead, folioOrder, setPageFlag, isZoneDevicePage } from './page_alloc.js';
import { MEMORY_DEVICE_COHERENT, MEMORY_DEVICE_PRIVATE, isDevicePrivatePage, pagePgmap } from './memremap.js';
import { isHugeZeroPmd, splitFolio, splitHugePmdAddress, setPmdMigrationEntry, thpVmaSuitable } from './huge_memory.js';
import { anonVmaPrepare, folioAddNewAnonRmapPmd } from './rmap.js';
import { type MigrateVma, migratePfn, migratePfnToPage, mpfnClear, mpfnSet, MIGRATE_PFN_MIGRATE, MIGRATE_PFN_WRITE,
  MIGRATE_PFN_COMPOUND, MIGRATE_VMA_SELECT_COMPOUND, MIGRATE_VMA_SELECT_SYSTEM, MIGRATE_VMA_SELECT_DEVICE_PRIVATE,
  migrateVmaCollectSkip, migrateVmaInsertPage, folioMigrateMapping, folioMigrateFlags } from './migrate_device.js';

const aligned = (start: number, end: number): boolean => start % PMD_SIZE === 0 && end % PMD_SIZE === 0;

/**
 * Model of migrate_vma_collect_hole() (mainline): with MIGRATE_VMA_SELECT_COMPOUND
 * a whole empty PMD is one compound entry, the rest holes; otherwise one
 * entry per page. Only anonymous memory is populated.
 */
function migrateVmaCollectHole(m: MigrateVma, start: number, end: number): boolean {
  if (!vmaIsAnonymous(m.vma!)) {
    migrateVmaCollectSkip(m, start, end);
    return true;
  }
  if ((m.flags & MIGRATE_VMA_SELECT_COMPOUND) && aligned(start, end)) {
    m.src[m.npages] = MIGRATE_PFN_MIGRATE + MIGRATE_PFN_COMPOUND;
    m.dst[m.npages++] = 0;
    m.cpages++;
    migrateVmaCollectSkip(m, start + PAGE_SIZE, end);
    return true;
  }
  for (let a = start; a < end; a += PAGE_SIZE) {
    m.src[m.npages] = MIGRATE_PFN_MIGRATE;
    m.dst[m.npages++] = 0;
    m.cpages++;
  }
  return true;
}

/**
 * Model of migrate_vma_collect_huge_pmd() (with the pmd_none() hole of
 * walk_page_range()) for [start, end) under a pmd with no pte page: true
 * when it collected the range, false when the pte walk must go on (the
 * folio was split to ptes). A THP (MIGRATE_VMA_SELECT_SYSTEM) or a PMD
 * device-private entry of the owner (MIGRATE_VMA_SELECT_DEVICE_PRIVATE),
 * locked and referenced, becomes one compound entry with a PMD migration
 * entry when the caller asked for MIGRATE_VMA_SELECT_COMPOUND and the range
 * is the whole PMD; otherwise (or when the folio may be pinned) it is split
 * (split_folio()). The huge zero PMD counts as a hole.
 */
export function migrateVmaCollectHugePmd(k: Kernel, m: MigrateVma, start: number, end: number): boolean {
  const vma = m.vma!, h = vma.vmMm.pgtable.lookupHuge(start);
  if (h === undefined) return migrateVmaCollectHole(m, start, end);
  let write = 0;
  if (ptePresent(h.val)) {
    if (!(m.flags & MIGRATE_VMA_SELECT_SYSTEM)) return migrateVmaCollectSkip(m, start, end) === 0;
    if (isHugeZeroPmd(k, h)) return migrateVmaCollectHole(m, start, end);
    if (pteWrite(h.val)) write = MIGRATE_PFN_WRITE;
  } else {
    if (!isDevicePrivateEntry(h.val) || !(m.flags & MIGRATE_VMA_SELECT_DEVICE_PRIVATE) ||
        pagePgmap(k, h.pfn)!.owner !== m.pgmapOwner) return migrateVmaCollectSkip(m, start, end) === 0;
    if (isWritableDevicePrivateEntry(h.val)) write = MIGRATE_PFN_WRITE;
  }
  const folio = h.pfn;
  getPage(k, folio);
  if (!trylockPage(k, folio)) {
    putPage(k, folio);
    return migrateVmaCollectSkip(m, start, end) === 0;
  }
  if ((m.flags & MIGRATE_VMA_SELECT_COMPOUND) && aligned(start, end) && setPmdMigrationEntry(k, vma, h) === 0) {
    m.src[m.npages] = migratePfn(folio) + write + MIGRATE_PFN_MIGRATE + MIGRATE_PFN_COMPOUND;
    m.dst[m.npages++] = 0;
    m.cpages++;
    migrateVmaCollectSkip(m, start + PAGE_SIZE, end);
    return true;
  }
  // fallback: split the folio and collect its ptes.
  const ret = splitFolio(k, folio);
  unlockPage(k, folio);
  putPage(k, folio);
  if (ret) return migrateVmaCollectSkip(m, start, end) === 0;
  if (vma.vmMm.pgtable.lookup(start) === undefined && vma.vmMm.pgtable.lookupHuge(start) === undefined) {
    return migrateVmaCollectHole(m, start, end);
  }
  return false;
}

/**
 * Model of migrate_vma_split_folio(): a large folio met at pte level
 * ("handle partially mapped folios during collection") is split before
 * the walk goes on. 0, or an error (the rest of the pmd is skipped). The
 * fault's own reference (on the fault folio) is the split's caller
 * reference, as in C, and moves to the fault page once it is a folio of
 * its own. The model's fault paths hold no folio lock (see the file
 * comment), so the folio is locked here for the split and unlocked after.
 */
export function migrateVmaSplitFolio(k: Kernel, page: Page, faultPage: Page): number {
  const folio = compoundHead(k, page), faultFolio = faultPage !== 0 ? compoundHead(k, faultPage) : 0;
  if (folio !== faultFolio) getPage(k, folio);
  if (!trylockPage(k, folio)) { // folio_lock(): in the model nobody could release it
    if (folio !== faultFolio) putPage(k, folio);
    return -EAGAIN;
  }
  const ret = splitFolio(k, folio);
  unlockPage(k, folio);
  if (folio !== faultFolio) {
    putPage(k, folio);
  } else if (ret === 0 && faultPage !== folio) {
    getPage(k, faultPage);
    putPage(k, folio);
  }
  return ret;
}

/**
 * Model of migrate_vma_insert_huge_pmd_page(): a compound destination for
 * an empty (or huge zero) PMD, mapped by one PMD: a PMD device-private
 * entry for a device-private folio, else a present PMD (COHERENT or system
 * memory), writable and dirty in a writable VMA. On failure the compound
 * entry's pages stay unmigrated.
 */
function migrateVmaInsertHugePmdPage(k: Kernel, m: MigrateVma, addr: number, folio: Page, i: number, npages: number): void {
  const vma = m.vma!, mm = vma.vmMm;
  const abort = () => { for (let j = i; j < Math.min(i + HPAGE_PMD_NR, npages); j++) m.src[j] = mpfnClear(m.src[j], MIGRATE_PFN_MIGRATE); };
  if (!vmaIsAnonymous(vma) || !thpVmaSuitable(vma, addr)) return abort();
  anonVmaPrepare(vma);
  setPageFlag(k, folio, PG_uptodate);
  const type = pagePgmap(k, folio)?.type;
  let val: number;
  if (type === MEMORY_DEVICE_PRIVATE) val = mkSwpEntry(vma.vmFlags & VM_WRITE ? SWP_DEVICE_WRITE : SWP_DEVICE_READ);
  else if (type !== undefined && type !== MEMORY_DEVICE_COHERENT) return abort();
  else val = _PAGE_PRESENT | (vma.vmFlags & VM_WRITE ? _PAGE_RW | _PAGE_DIRTY : 0);
  const old = mm.pgtable.lookupHuge(addr);
  if (mm.pgtable.lookup(addr) !== undefined || (old !== undefined && !isHugeZeroPmd(k, old))) return abort();
  addMmCounter(mm, MM_ANONPAGES, HPAGE_PMD_NR);
  folioAddNewAnonRmapPmd(k, folio, vma, addr);
  if (!isZoneDevicePage(k, folio)) setPageFlag(k, folio, PG_lru);
  getPage(k, folio);
  mm.pgtable.huge.set(pmdIndex(addr), new HugePmd(folio, val));
}

/**
 * Model of migrate_vma_split_unmapped_folio() with folio_split_unmapped():
 * the destination of a compound source is not compound, so the source's
 * PMD migration entry becomes 512 PTE migration entries
 * (split_huge_pmd_address(..., freeze)) and the locked, unmapped folio 512
 * locked order-0 folios holding one reference each (the head keeps the
 * caller's), a device-private one split in the driver too (folio_split);
 * src[] then names each page. 0 on success.
 */
function migrateVmaSplitUnmappedFolio(k: Kernel, m: MigrateVma, idx: number, addr: number, folio: Page): number {
  splitHugePmdAddress(m.vma!, addr);
  const f = k.pageAlloc.large.get(folio);
  if (f === undefined) return -EBUSY; // not a large folio any more
  const b = k.memmap.block(folio), s = Memmap.slot(folio), nr = 1 << f.order;
  const keep = b.flags[s] & ~(PG_compound | (0x1f << PG_ORDER_SHIFT));
  for (let i = 0; i < nr; i++) {
    b.flags[s + i] = keep | PG_locked;
    b.mapping[s + i] = b.mapping[s];
    b.index[s + i] = b.index[s] + i;
    if (i > 0) b.refcount[s + i] = 1;
  }
  k.pageAlloc.large.delete(folio);
  if (isDevicePrivatePage(k, folio)) {
    const ops = pagePgmap(k, folio)!.ops!;
    for (let i = 1; i < nr && ops.folioSplit; i++) ops.folioSplit(folio, folio + i);
    ops.folioSplit?.(folio, 0);
  }
  const flags = m.src[idx] % 64 - MIGRATE_PFN_COMPOUND;
  m.src[idx] = migratePfn(folio) - 1 + flags; // migrate_pfn() | flags: flags carry MIGRATE_PFN_VALID already
  for (let i = 1; i < nr && idx + i < m.npages; i++) m.src[idx + i] = migratePfn(folio + i) - 1 + flags;
  return 0;
}

/**
 * The MIGRATE_PFN_COMPOUND entry src[i] in __migrate_device_pages(): an
 * empty PMD gets the compound destination by one PMD, or (a destination of
 * small pages) page by page; a THP or device-private folio moves whole to a
 * compound destination, or is split first and moves page by page. Returns
 * how many entries it dealt with; `notify` starts the second
 * MMU_NOTIFY_MIGRATE invalidation (for entries without a source page).
 */
export function migrateDevicePagesCompound(k: Kernel, src: Float64Array, dst: Float64Array, i: number, npages: number,
  m: MigrateVma | null, notify: (addr: number) => void): number {
  const newpage = migratePfnToPage(dst[i]), page = migratePfnToPage(src[i]);
  if (newpage === 0) {
    src[i] = mpfnClear(src[i], MIGRATE_PFN_MIGRATE);
    return 1;
  }
  const dstCompound = (dst[i] & MIGRATE_PFN_COMPOUND) !== 0;
  if (page === 0) {
    if (!(src[i] & MIGRATE_PFN_MIGRATE)) return 1;
    const addr = m!.start + i * PAGE_SIZE;
    notify(addr);
    if (dstCompound) {
      migrateVmaInsertHugePmdPage(k, m!, addr, newpage, i, npages);
      return 1;
    }
    src[i] = mpfnClear(src[i], MIGRATE_PFN_COMPOUND);
    const nr = Math.min(HPAGE_PMD_NR, npages - i);
    for (let j = 0; j < nr; j++) {
      src[i + j] = mpfnSet(src[i + j], MIGRATE_PFN_MIGRATE);
      if (migratePfnToPage(dst[i + j]) === 0) src[i + j] = mpfnClear(src[i + j], MIGRATE_PFN_MIGRATE);
      else migrateVmaInsertPage(k, m!, addr + j * PAGE_SIZE, migratePfnToPage(dst[i + j]), i + j);
    }
    return nr;
  }
  let nr = 1;
  if ((src[i] & MIGRATE_PFN_MIGRATE) && !dstCompound) {
    if (m === null) {
      src[i] = mpfnClear(mpfnClear(src[i], MIGRATE_PFN_MIGRATE), MIGRATE_PFN_COMPOUND);
      return 1;
    }
    nr = 1 << folioOrder(k, page);
    if (migrateVmaSplitUnmappedFolio(k, m, i, m.start + i * PAGE_SIZE, page)) {
      src[i] = mpfnClear(mpfnClear(src[i], MIGRATE_PFN_MIGRATE), MIGRATE_PFN_COMPOUND);
      return 1;
    }
  }
  const ntype = pagePgmap(k, newpage)?.type;
  if (ntype !== undefined && ntype !== MEMORY_DEVICE_PRIVATE && ntype !== MEMORY_DEVICE_COHERENT) {
    src[i] = mpfnClear(src[i], MIGRATE_PFN_MIGRATE);
    return nr;
  }
  const extra = m !== null && m.faultPage === page ? 1 : 0;
  for (let j = 0; j < nr && i + j < npages; j++) {
    const s = migratePfnToPage(src[i + j]), d = migratePfnToPage(dst[i + j]);
    if (s === 0 || d === 0 || folioMigrateMapping(k, d, s, j === 0 ? extra : 0) !== 0) src[i + j] = mpfnClear(src[i + j], MIGRATE_PFN_MIGRATE);
    else folioMigrateFlags(k, d, s);
  }
  return nr;
}
