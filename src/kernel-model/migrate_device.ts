// SPDX-License-Identifier: GPL-2.0-only
/*
 * Model of mm/migrate_device.c: migrate_vma_setup(), migrate_vma_pages(),
 * migrate_vma_finalize(), the API a driver uses to move anonymous pages
 * between system memory and its device memory.
 *
 * Follows 6.12, with the seed's DEVICE_GENERIC type added where seed 000
 * patch 07 adds it: a GENERIC page is CPU-mapped like system memory, so
 * migrate_vma_collect_pmd() selects it with MIGRATE_VMA_SELECT_SYSTEM (as the
 * seed's 5.14 code selected every present page; seed patch 05 has amdkfd
 * migrate GENERIC memory back with that flag); migrate_vma_check_page()
 * (via is_device_page()) and migrate_vma_pages()/migrate_vma_insert_page()
 * accept it as a destination, mapped by an ordinary present pte.
 *
 * Entries of src[]/dst[] are numbers: pfn * 64 + MIGRATE_PFN_* bits. Read
 * bits with `&` (the low bits survive ToInt32); set and clear them with
 * mpfnSet()/mpfnClear(), never `|`, which would cut the pfn to 32 bits.
 */
import { EINVAL, EAGAIN, EBUSY } from './errno.js';
import type { Kernel } from './kernel.js';
import { MEMBLOCK_PAGES, type MemBlock, Memmap, type Page, PAGE_SIZE, PG_anon, PG_lru, PG_dirty, PG_uptodate, PG_swapbacked, PG_compound } from './page.js';
import { type VmAreaStruct, VM_HUGETLB, VM_SPECIAL, VM_WRITE, vmaIsAnonymous, addMmCounter, MM_ANONPAGES } from './mm.js';
import { pteIndex, pmdAddrEnd, pteNone, ptePresent, pteWrite, isDevicePrivateEntry, isWritableDevicePrivateEntry,
  mkSwpEntry, SWP_DEVICE_READ, SWP_DEVICE_WRITE, _PAGE_PRESENT, _PAGE_RW, _PAGE_DIRTY, pteMkdevmap } from './pgtable.js';
import { getPage, getPageUnlessZero, putPage, trylockPage, unlockPage, testPageFlag, setPageFlag, clearPageFlag, pageRefCount,
  pageMapcount, isZoneDevicePage, lockPage, folioTestLarge, folioMapcount } from './page_alloc.js';
import { copyHighpage } from './highmem.js';
import { MEMORY_DEVICE_COHERENT, MEMORY_DEVICE_GENERIC, MEMORY_DEVICE_PRIVATE, MEMORY_DEVICE_PUBLIC, isDevicePrivatePage, pagePgmap,
  zoneDeviceRestRefcount } from './memremap.js';
import { folioAddNewAnonRmap, anonVmaPrepare, tryToMigrate, removeMigrationPtes, setMigrationEntry } from './rmap.js';
import { folioMapping, filemapReplaceEntry } from './filemap.js';
import { mmuNotifierRangeInit, mmuNotifierInvalidateRangeStart, mmuNotifierInvalidateRangeEnd, MMU_NOTIFY_MIGRATE,
  type MmuNotifierRange } from './mmu_notifier.js';
import { MIGRATE_VMA_PAGES_NO_INVALIDATE, MIGRATE_DEVICE_THP } from './changes.js';
import { migrateVmaCollectHugePmd, migrateVmaSplitFolio, migrateDevicePagesCompound } from './migrate_device_thp.js';
import { isHugeZeroPmd, splitHugePmd, splitFolio } from './huge_memory.js';

export const MIGRATE_PFN_VALID = 1 << 0;
export const MIGRATE_PFN_MIGRATE = 1 << 1;
export const MIGRATE_PFN_WRITE = 1 << 3;
/** MIGRATE_DEVICE_THP: the entry stands for a whole PMD-sized folio (or empty PMD); the next 511 entries are 0. */
export const MIGRATE_PFN_COMPOUND = 1 << 4;
const MIGRATE_PFN_FACTOR = 1 << 6; // MIGRATE_PFN_SHIFT 6

/** enum migrate_vma_direction (seed 001 patch 2; COHERENT from upstream). */
export const MIGRATE_VMA_SELECT_SYSTEM = 1 << 0;
export const MIGRATE_VMA_SELECT_DEVICE_PRIVATE = 1 << 1;
export const MIGRATE_VMA_SELECT_DEVICE_COHERENT = 1 << 2;
/** MIGRATE_DEVICE_THP: collect a whole PMD as one MIGRATE_PFN_COMPOUND entry where it can. */
export const MIGRATE_VMA_SELECT_COMPOUND = 1 << 3;

/** Model of migrate_pfn(). */
export const migratePfn = (pfn: number): number => pfn * MIGRATE_PFN_FACTOR + MIGRATE_PFN_VALID;
/** Model of migrate_pfn_to_page(): 0 (NULL) unless MIGRATE_PFN_VALID. */
export const migratePfnToPage = (m: number): Page => (m & MIGRATE_PFN_VALID) ? Math.floor(m / MIGRATE_PFN_FACTOR) : 0;
export const mpfnSet = (m: number, bit: number): number => (m & bit) ? m : m + bit;
export const mpfnClear = (m: number, bit: number): number => (m & bit) ? m - bit : m;

/** The pfn arrays of a MigrateVma before its user sets its own. */
const NO_PFNS = new Float64Array(0);

/** struct migrate_vma. */
export class MigrateVma {
  vma: VmAreaStruct | null = null;
  start = 0;
  end = 0;
  src: Float64Array = NO_PFNS;
  dst: Float64Array = NO_PFNS;
  npages = 0;
  cpages = 0;
  /** Owner of the device-private (or coherent) pages to select; passed to the MMU_NOTIFY_MIGRATE invalidation (seed 001 patch 3). */
  pgmapOwner: object | null = null;
  flags = 0;
  /** The device-private page a CPU fault is migrating, which the fault handler holds a reference to. */
  faultPage: Page = 0;
}

/** Model of migrate_vma_collect_skip(): [start, end) is not migrated. */
export function migrateVmaCollectSkip(m: MigrateVma, start: number, end: number): number {
  for (let addr = start; addr < end; addr += PAGE_SIZE) {
    m.dst[m.npages] = 0;
    m.src[m.npages++] = 0;
  }
  return 0;
}

/**
 * Model of migrate_vma_collect_pmd() for one pmd, [start, end). A huge PMD
 * is split first, as 6.12 does: the huge zero page by split_huge_pmd(), a
 * THP by split_folio() (locked and referenced; if that fails the range is
 * skipped). Then the ptes; a page still in a large folio (PTE-mapped THP)
 * is not migrated: 6.12 does not migrate large folios to device memory
 * (its PageTransCompound() test in the collect loop).
 */
function migrateVmaCollectPtes(k: Kernel, m: MigrateVma, start: number, end: number): number {
  const vma = m.vma!, mm = vma.vmMm;
  let t = mm.pgtable.lookup(start);
  // Mainline's migrate_vma_collect_huge_pmd(): a huge or empty PMD is collected (or split) there.
  if (t === undefined && k.has(MIGRATE_DEVICE_THP)) {
    if (migrateVmaCollectHugePmd(k, m, start, end)) return 0;
    t = mm.pgtable.lookup(start);
  }
  const h = t === undefined ? mm.pgtable.lookupHuge(start) : undefined;
  if (h !== undefined) {
    if (isHugeZeroPmd(k, h)) {
      splitHugePmd(vma, start);
    } else {
      const head = h.pfn;
      getPage(k, head);
      if (!trylockPage(k, head)) {
        putPage(k, head);
        return migrateVmaCollectSkip(m, start, end);
      }
      const ret = splitFolio(k, head);
      unlockPage(k, head);
      putPage(k, head);
      if (ret) return migrateVmaCollectSkip(m, start, end);
    }
    t = mm.pgtable.lookup(start);
  }
  let unmapped = 0;
  for (let addr = start, p = pteIndex(start); addr < end; addr += PAGE_SIZE, p++) {
    let mpfn = 0;
    const n = m.npages++;
    m.dst[n] = 0;
    const v = t === undefined ? 0 : t.val[p];
    const pfn = t === undefined ? 0 : t.pfn[p];
    if (pteNone(v)) {
      if (vmaIsAnonymous(vma)) {
        mpfn = MIGRATE_PFN_MIGRATE;
        m.cpages++;
      }
      m.src[n] = mpfn;
      continue;
    }
    let page: Page, b: MemBlock;
    if (!ptePresent(v)) {
      // Only device-private entries migrate; other swap entries are left alone.
      if (!isDevicePrivateEntry(v)) { m.src[n] = 0; continue; }
      page = pfn;
      // The struct page, found once for all of this page's tests below (page->pgmap, flags, mapping).
      b = k.memmap.block(page);
      if (!(m.flags & MIGRATE_VMA_SELECT_DEVICE_PRIVATE) || b.pgmap!.owner !== m.pgmapOwner) { m.src[n] = 0; continue; }
      mpfn = migratePfn(page) + MIGRATE_PFN_MIGRATE;
      if (isWritableDevicePrivateEntry(v)) mpfn += MIGRATE_PFN_WRITE;
    } else {
      if (pfn === k.zeroPfn) {
        if (m.flags & MIGRATE_VMA_SELECT_SYSTEM) {
          mpfn = MIGRATE_PFN_MIGRATE;
          m.cpages++;
        }
        m.src[n] = mpfn;
        continue;
      }
      page = pfn;
      b = k.memmap.block(page);
      const type = b.pgmap?.type;
      // System RAM and (seed) GENERIC and PUBLIC pages are "system" for selection: the 2017 collector took every
      // present page (seed 004's public pages through 4.14's _vm_normal_page(..., true)).
      if ((type === undefined || type === MEMORY_DEVICE_GENERIC || type === MEMORY_DEVICE_PUBLIC) &&
          !(m.flags & MIGRATE_VMA_SELECT_SYSTEM)) { m.src[n] = 0; continue; }
      if (type === MEMORY_DEVICE_COHERENT &&
          (!(m.flags & MIGRATE_VMA_SELECT_DEVICE_COHERENT) || b.pgmap!.owner !== m.pgmapOwner)) { m.src[n] = 0; continue; }
      mpfn = migratePfn(page) + MIGRATE_PFN_MIGRATE + (pteWrite(v) ? MIGRATE_PFN_WRITE : 0);
    }
    const s = Memmap.slot(page);
    if ((b.flags[s] & PG_compound) && k.has(MIGRATE_DEVICE_THP)) {
      // migrate_vma_split_folio(): a PTE-mapped large folio is split, and the walk goes again from this pte.
      m.npages--;
      if (migrateVmaSplitFolio(k, page, m.faultPage)) return unmapped + migrateVmaCollectSkip(m, addr, end);
      addr -= PAGE_SIZE;
      p--;
      continue;
    }
    // As 6.12, which leaves THP for later: a page without a mapping, or in a large folio, is not migrated.
    if (b.mapping[s] === 0 || (b.flags[s] & PG_compound)) { m.src[n] = 0; continue; }
    getPage(k, page);
    if (!trylockPage(k, page)) {
      putPage(k, page);
      m.src[n] = 0;
      continue;
    }
    if (setMigrationEntry(k, vma, t!, p, page)) {
      // folio_try_share_anon_rmap_pte() refused a maybe-pinned exclusive page: the pte stays, the page is not migrated.
      unlockPage(k, page);
      putPage(k, page);
      m.src[n] = 0;
      continue;
    }
    m.cpages++;
    if (ptePresent(v)) unmapped++;
    m.src[n] = mpfn;
  }
  return unmapped;
}

/**
 * Model of migrate_vma_collect(): walk the range under an MMU_NOTIFY_MIGRATE
 * invalidation that carries pgmap_owner (seed 001), filling src[].
 */
function migrateVmaCollect(k: Kernel, m: MigrateVma): void {
  const mm = m.vma!.vmMm;
  const range = mmuNotifierRangeInit(MMU_NOTIFY_MIGRATE, 0, mm, m.start, m.end, m.pgmapOwner);
  mmuNotifierInvalidateRangeStart(range);
  for (let a = m.start; a < m.end; a = pmdAddrEnd(a, m.end)) migrateVmaCollectPtes(k, m, a, pmdAddrEnd(a, m.end));
  mmuNotifierInvalidateRangeEnd(range);
  m.end = m.start + m.npages * PAGE_SIZE;
}

/**
 * Model of migrate_vma_check_page(): is any reference left that is not the
 * collector's, a mapping's, the page cache's, or the fault's? b/s: page's
 * struct page, as the caller found it.
 */
function migrateVmaCheckPage(k: Kernel, b: MemBlock, s: number, page: Page, faultPage: Page): boolean {
  let extra = 1 + (page === faultPage ? 1 : 0);
  if (b.pgmap !== null) extra++; // is_zone_device_page()
  // folio_mapping() != NULL: a page-cache page (mapping set, not anon).
  if (!(b.flags[s] & PG_anon) && b.mapping[s] !== 0) extra++;
  const mapcount = (b.flags[s] & PG_compound) ? pageMapcount(k, page) : b.mapcount[s];
  return b.refcount[s] - extra <= mapcount;
}

/** Model of folio_isolate_lru(): take the page off the LRU, with a reference. */
function folioIsolateLru(k: Kernel, page: Page): boolean {
  if (!testPageFlag(k, page, PG_lru)) return false;
  clearPageFlag(k, page, PG_lru);
  getPage(k, page);
  return true;
}

/**
 * try_to_migrate() of a whole large folio (MIGRATE_DEVICE_THP): every page of
 * it still mapped (a PMD maps the head) gets its migration entries.
 */
function tryToMigrateFolio(k: Kernel, head: Page): void {
  const f = k.pageAlloc.large.get(head)!, nr = 1 << f.order;
  if (f.entireMapcount > 0) tryToMigrate(k, head);
  for (let j = 0; j < nr && f.largeMapcount > 0; j++) if (k.memmap.block(head + j).mapcount[Memmap.slot(head + j)] > 0) tryToMigrate(k, head + j);
}

/**
 * remove_migration_ptes(src, dst) for folios: a large source (MIGRATE_DEVICE_THP)
 * has its PMD migration entry and every page's PTE migration entries turned
 * into mappings of the same page of dst; otherwise 6.12's one page.
 */
function removeMigrationPtesFolio(k: Kernel, src: Page, dst: Page): void {
  if (!k.has(MIGRATE_DEVICE_THP) || !folioTestLarge(k, src)) return removeMigrationPtes(k, src, dst);
  const nr = 1 << k.pageAlloc.large.get(src)!.order;
  for (let j = 0; j < nr; j++) removeMigrationPtes(k, src + j, dst + j);
}

/** Model of migrate_device_unmap(): returns how many src entries still migrate. */
export function migrateDeviceUnmap(k: Kernel, src: Float64Array, npages: number, faultPage: Page): number {
  let restore = 0, unmapped = 0;
  for (let i = 0; i < npages; i++) {
    const page = migratePfnToPage(src[i]);
    if (page === 0) {
      if (src[i] & MIGRATE_PFN_MIGRATE) unmapped++;
      continue;
    }
    const b = k.memmap.block(page), s = Memmap.slot(page);
    const zoneDevice = b.pgmap !== null;
    const large = (b.flags[s] & PG_compound) !== 0 && k.has(MIGRATE_DEVICE_THP);
    if (large) src[i] = mpfnSet(src[i], MIGRATE_PFN_COMPOUND);
    if (!zoneDevice) {
      if (!folioIsolateLru(k, page)) {
        src[i] = mpfnClear(src[i], MIGRATE_PFN_MIGRATE);
        restore++;
        continue;
      }
      putPage(k, page); // the reference migrate_vma_collect() took
    }
    if (large) tryToMigrateFolio(k, page);
    else if (pageMapcount(k, page) > 0) tryToMigrate(k, page);
    if ((large ? folioMapcount(k, page) : pageMapcount(k, page)) > 0 || !migrateVmaCheckPage(k, b, s, page, faultPage)) {
      // folio_get() + folio_putback_lru() for a system page: back on the LRU, still holding the isolation reference.
      if (!zoneDevice) setPageFlag(k, page, PG_lru);
      src[i] = mpfnClear(src[i], MIGRATE_PFN_MIGRATE);
      restore++;
      continue;
    }
    unmapped++;
  }
  for (let i = 0; i < npages && restore; i++) {
    const page = migratePfnToPage(src[i]);
    if (page === 0 || (src[i] & MIGRATE_PFN_MIGRATE)) continue;
    removeMigrationPtesFolio(k, page, page);
    src[i] = 0;
    unlockPage(k, page);
    putPage(k, page);
    restore--;
  }
  return unmapped;
}

/**
 * Model of migrate_device_range(): collect the device pages of
 * [startPfn, startPfn + npages) that are in use (a reference taken, the
 * page locked) and unmap them, for a driver evicting its memory. Free pages
 * (refcount 0) and pages somebody else holds locked are left out.
 */
export function migrateDeviceRange(k: Kernel, src: Float64Array, startPfn: number, npages: number): number {
  for (let i = 0, pfn = startPfn; i < npages; i++, pfn++) {
    // A block without a page in use has only free pages: skip it whole.
    if (Memmap.slot(pfn) === 0 && npages - i >= MEMBLOCK_PAGES && !k.memmap.devBlockInUse(pfn)) {
      src.fill(0, i, i + MEMBLOCK_PAGES);
      i += MEMBLOCK_PAGES - 1;
      pfn += MEMBLOCK_PAGES - 1;
      continue;
    }
    const b = k.memmap.block(pfn);
    // A free page keeps its rest refcount (1 for seed 004's PUBLIC memory, 0 otherwise).
    if (b.refcount[Memmap.slot(pfn)] <= zoneDeviceRestRefcount(b.pgmap!) || !getPageUnlessZero(k, pfn)) {
      src[i] = 0;
      continue;
    }
    if (!trylockPage(k, pfn)) {
      src[i] = 0;
      putPage(k, pfn);
      continue;
    }
    src[i] = migratePfn(pfn) + MIGRATE_PFN_MIGRATE;
  }
  migrateDeviceUnmap(k, src, npages, 0);
  return 0;
}

/**
 * Model of migrate_vma_setup(): 0, or -EINVAL for a range the API refuses.
 * On return src[] says, page by page, what may migrate (MIGRATE_PFN_MIGRATE),
 * those pages are locked and unmapped (migration entries in their ptes) and
 * cpages counts them.
 */
export function migrateVmaSetup(k: Kernel, args: MigrateVma): number {
  const nrPages = Math.floor((args.end - args.start) / PAGE_SIZE);
  args.start -= args.start % PAGE_SIZE;
  args.end -= args.end % PAGE_SIZE;
  const vma = args.vma;
  if (vma === null || (vma.vmFlags & VM_HUGETLB) || (vma.vmFlags & VM_SPECIAL)) return -EINVAL;
  if (nrPages <= 0) return -EINVAL;
  if (args.start < vma.vmStart || args.start >= vma.vmEnd) return -EINVAL;
  if (args.end <= vma.vmStart || args.end > vma.vmEnd) return -EINVAL;
  if (args.src.length < nrPages || args.dst.length < nrPages) return -EINVAL;
  if (args.faultPage !== 0 && !isDevicePrivatePage(k, args.faultPage)) return -EINVAL;
  args.src.fill(0, 0, nrPages);
  args.cpages = 0;
  args.npages = 0;
  migrateVmaCollect(k, args);
  if (args.cpages) args.cpages = migrateDeviceUnmap(k, args.src, args.npages, args.faultPage);
  return 0;
}

/**
 * Model of migrate_vma_insert_page(): a page for an address that had none
 * (or the zero page). Anonymous VMAs only; a device-private page goes in as
 * a device-private entry, anything else (system, GENERIC, COHERENT) as a
 * present pte.
 */
export function migrateVmaInsertPage(k: Kernel, m: MigrateVma, addr: number, page: Page, i: number): void {
  const vma = m.vma!, mm = vma.vmMm;
  const abort = () => { m.src[i] = mpfnClear(m.src[i], MIGRATE_PFN_MIGRATE); };
  if (!vmaIsAnonymous(vma)) return abort();
  const type = pagePgmap(k, page)?.type;
  let val: number;
  if (type === MEMORY_DEVICE_PRIVATE) {
    val = mkSwpEntry(vma.vmFlags & VM_WRITE ? SWP_DEVICE_WRITE : SWP_DEVICE_READ);
  } else {
    if (type !== undefined && type !== MEMORY_DEVICE_COHERENT && type !== MEMORY_DEVICE_GENERIC && type !== MEMORY_DEVICE_PUBLIC) {
      k.warn(true, 'migrate_vma_insert_page', 'Unsupported ZONE_DEVICE page type.');
      return abort();
    }
    val = _PAGE_PRESENT | (vma.vmFlags & VM_WRITE ? _PAGE_RW | _PAGE_DIRTY : 0);
    if (type === MEMORY_DEVICE_PUBLIC) val = pteMkdevmap(val); // 4.14's migrate_vma_insert_page(): pte_mkdevmap()
  }
  anonVmaPrepare(vma);
  setPageFlag(k, page, PG_uptodate);
  // Mainline collects a huge zero PMD as a hole (MIGRATE_DEVICE_THP): it is split here, any other huge PMD refuses.
  const huge = mm.pgtable.lookup(addr) === undefined ? mm.pgtable.lookupHuge(addr) : undefined;
  if (huge !== undefined) {
    if (!isHugeZeroPmd(k, huge)) return abort();
    splitHugePmd(vma, addr);
  }
  const t = mm.pgtable.alloc(addr), p = pteIndex(addr), orig = t.val[p];
  if (ptePresent(orig)) {
    if (t.pfn[p] !== k.zeroPfn) return abort();
  } else if (!pteNone(orig)) {
    return abort();
  }
  addMmCounter(mm, MM_ANONPAGES, 1);
  folioAddNewAnonRmap(k, page, vma, addr);
  if (type === undefined) setPageFlag(k, page, PG_lru);
  getPage(k, page);
  mm.pgtable.set(t, p, page, val);
  m.src[i] = MIGRATE_PFN_MIGRATE;
}

/**
 * Model of folio_migrate_mapping(): only the expected references may be
 * held (folio_expected_refs(): the caller's, plus the page cache's for a
 * file page), then the new page takes over the old one's mapping and index.
 * A page-cache page is also replaced in i_pages, the cache's reference and
 * the dirty bit moving with it (__folio_migrate_mapping()).
 */
export function folioMigrateMapping(k: Kernel, newpage: Page, page: Page, extraCount: number): number {
  const ob = k.memmap.block(page), os = Memmap.slot(page);
  const mapping = (ob.flags[os] & PG_anon) || ob.mapping[os] === 0 ? null : folioMapping(k, page);
  // A PUBLIC page also holds the reference every free ZONE_DEVICE page kept in 2017 (seed 004's
  // migrate_vma_check_page() hunk counts the same one: "Page from ZONE_DEVICE have one extra reference").
  const rest = ob.pgmap !== null ? zoneDeviceRestRefcount(ob.pgmap) : 0;
  if (ob.refcount[os] !== 1 + rest + extraCount + (mapping !== null ? 1 : 0)) return -EAGAIN;
  const nb = k.memmap.block(newpage), ns = Memmap.slot(newpage);
  nb.index[ns] = ob.index[os];
  nb.mapping[ns] = ob.mapping[os];
  nb.flags[ns] |= ob.flags[os] & (PG_anon | PG_swapbacked);
  if (mapping === null) return 0;
  getPage(k, newpage); // the cache's reference
  if (ob.flags[os] & PG_dirty) {
    ob.flags[os] &= ~PG_dirty;
    nb.flags[ns] |= PG_dirty;
  }
  filemapReplaceEntry(mapping, ob.index[os], newpage);
  ob.refcount[os]--; // folio_ref_unfreeze(folio, expected_count - nr)
  ob.mapping[os] = 0; // the old folio is freed without a mapping (free_folio -> folio->mapping = NULL)
  return 0;
}

/** Model of folio_migrate_flags(), the flags the model keeps. */
export function folioMigrateFlags(k: Kernel, newpage: Page, page: Page): void {
  const of = k.memmap.block(page).flags[Memmap.slot(page)];
  setPageFlag(k, newpage, of & (PG_dirty | PG_uptodate));
}

/** Model of __migrate_device_pages(). */
function migrateDevicePagesCommon(k: Kernel, src: Float64Array, dst: Float64Array, npages: number, m: MigrateVma | null): void {
  let range: MmuNotifierRange | null = null;
  const thp = k.has(MIGRATE_DEVICE_THP);
  const notify = (addr: number) => {
    if (range !== null || k.has(MIGRATE_VMA_PAGES_NO_INVALIDATE)) return;
    range = mmuNotifierRangeInit(MMU_NOTIFY_MIGRATE, 0, m!.vma!.vmMm, addr, m!.end, m!.pgmapOwner);
    mmuNotifierInvalidateRangeStart(range);
  };
  for (let i = 0; i < npages; i++) {
    if (thp && (src[i] & MIGRATE_PFN_COMPOUND)) {
      i += migrateDevicePagesCompound(k, src, dst, i, npages, m, notify) - 1;
      continue;
    }
    const newpage = migratePfnToPage(dst[i]), page = migratePfnToPage(src[i]);
    if (newpage === 0) {
      src[i] = mpfnClear(src[i], MIGRATE_PFN_MIGRATE);
      continue;
    }
    if (page === 0) {
      if (!(src[i] & MIGRATE_PFN_MIGRATE)) continue;
      const addr = m!.start + i * PAGE_SIZE;
      // Seed 001 patch 6/6 (dropped) skipped this second invalidation of the secondary MMUs.
      if (range === null && !k.has(MIGRATE_VMA_PAGES_NO_INVALIDATE)) {
        range = mmuNotifierRangeInit(MMU_NOTIFY_MIGRATE, 0, m!.vma!.vmMm, addr, m!.end, m!.pgmapOwner);
        mmuNotifierInvalidateRangeStart(range);
      }
      migrateVmaInsertPage(k, m!, addr, newpage, i);
      continue;
    }
    const ntype = pagePgmap(k, newpage)?.type;
    // Only anonymous memory moves to device memory (seed 000 patch 07 adds GENERIC): a page with an
    // address_space (a shmem or file page; no swap cache in the model) keeps its place.
    // Seed 004 accepts PUBLIC destinations for any page; the model keeps 6.12's anonymous-only rule for them (README).
    if (ntype === MEMORY_DEVICE_PRIVATE || ntype === MEMORY_DEVICE_GENERIC || ntype === MEMORY_DEVICE_COHERENT ||
        ntype === MEMORY_DEVICE_PUBLIC) {
      if (folioMapping(k, page) !== null && !testPageFlag(k, page, PG_anon)) { src[i] = mpfnClear(src[i], MIGRATE_PFN_MIGRATE); continue; }
    } else if (ntype !== undefined) {
      src[i] = mpfnClear(src[i], MIGRATE_PFN_MIGRATE);
      continue;
    }
    const extra = m !== null && m.faultPage === page ? 1 : 0;
    if (folioMigrateMapping(k, newpage, page, extra) !== 0) src[i] = mpfnClear(src[i], MIGRATE_PFN_MIGRATE);
    else folioMigrateFlags(k, newpage, page);
  }
  if (range !== null) mmuNotifierInvalidateRangeEnd(range as MmuNotifierRange);
}

/** Model of migrate_vma_pages(): move struct page state to the driver's pages. */
export function migrateVmaPages(k: Kernel, m: MigrateVma): void {
  migrateDevicePagesCommon(k, m.src, m.dst, m.npages, m);
}

/** Model of migrate_device_pages(), for migrate_device_range() users. */
export function migrateDevicePages(k: Kernel, src: Float64Array, dst: Float64Array, npages: number): void {
  migrateDevicePagesCommon(k, src, dst, npages, null);
}

/**
 * Model of migrate_device_finalize(): point the ptes at the new pages (or
 * back at the old ones where migration failed), unlock everything and drop
 * the migration references, freeing the pages that were moved away from.
 */
export function migrateDeviceFinalize(k: Kernel, src: Float64Array, dst: Float64Array, npages: number): void {
  for (let i = 0; i < npages; i++) {
    const newpage = migratePfnToPage(dst[i]), page = migratePfnToPage(src[i]);
    if (page === 0) {
      if (newpage !== 0) {
        unlockPage(k, newpage);
        putPage(k, newpage);
      }
      continue;
    }
    let d = newpage;
    if (!(src[i] & MIGRATE_PFN_MIGRATE) || d === 0) {
      if (d !== 0) {
        unlockPage(k, d);
        putPage(k, d);
      }
      d = page;
    }
    if (!isZoneDevicePage(k, d)) setPageFlag(k, d, PG_lru); // folio_add_lru()
    removeMigrationPtesFolio(k, page, d);
    unlockPage(k, page);
    putPage(k, page);
    if (d !== page) {
      unlockPage(k, d);
      putPage(k, d);
    }
  }
}

/** Model of migrate_vma_finalize(). */
export function migrateVmaFinalize(k: Kernel, m: MigrateVma): void {
  migrateDeviceFinalize(k, m.src, m.dst, m.npages);
}

/**
 * Model of migrate_device_coherent_folio(): move one device-coherent page
 * to a new system page wherever it is mapped, without a VMA (gup's
 * FOLL_LONGTERM path). The caller holds a reference, which this consumes.
 * 0, or -EBUSY when the page could not be unmapped or copied.
 */
export function migrateDeviceCoherentFolio(k: Kernel, page: Page): number {
  lockPage(k, page);
  const src = new Float64Array(1), dst = new Float64Array(1);
  src[0] = migratePfn(page) + MIGRATE_PFN_MIGRATE;
  migrateDeviceUnmap(k, src, 1, 0);
  if (!(src[0] & MIGRATE_PFN_MIGRATE)) return -EBUSY;
  const dpage = k.pageAlloc.allocPage();
  if (dpage !== 0) {
    lockPage(k, dpage);
    dst[0] = migratePfn(dpage);
  }
  migrateDevicePages(k, src, dst, 1);
  if (src[0] & MIGRATE_PFN_MIGRATE) copyHighpage(k, dpage, page); // folio_copy()
  migrateDeviceFinalize(k, src, dst, 1);
  return (src[0] & MIGRATE_PFN_MIGRATE) ? 0 : -EBUSY;
}
