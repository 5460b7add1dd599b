// SPDX-License-Identifier: GPL-2.0-only
/*
 * Model of mm/rmap.c for anonymous memory: from a page back to the ptes that
 * map it.
 *
 * In Linux: an anon folio's mapping points at an anon_vma, the anon_vma
 * lists the VMAs that may map it (through anon_vma_chain), and
 * folio->index is the page offset that gives the address in each VMA. Here:
 * page->mapping holds the AnonVma's object id and page->index the same
 * linear index; an AnonVma keeps a set of VMAs.
 */
import { BUG_ON } from './bug.js';
import type { Kernel } from './kernel.js';
import { Memmap, type Page, PAGE_SIZE, PG_anon, PG_anon_exclusive, PG_swapbacked, PG_dirty, PG_compound, PG_tail } from './page.js';
import { type VmAreaStruct, linearPageIndex } from './mm.js';
import { pteIndex, ptePresent, pteWrite, pteDirty, isMigrationEntry, isWritableMigrationEntry,
  isReadableExclusiveMigrationEntry, isDevicePrivateEntry, isWritableDevicePrivateEntry, mkSwpEntry, type PteTable,
  SWP_MIGRATION_READ, SWP_MIGRATION_READ_EXCLUSIVE, SWP_MIGRATION_WRITE, SWP_DEVICE_READ, SWP_DEVICE_WRITE,
  SWP_MIG_DIRTY, _PAGE_PRESENT, _PAGE_RW, _PAGE_DIRTY } from './pgtable.js';
import { getPage, putPage, compoundHead } from './page_alloc.js';
import { isDevicePrivatePage } from './memremap.js';
import { mmuNotifierRangeInit, mmuNotifierInvalidateRangeStart, mmuNotifierInvalidateRangeEnd, MMU_NOTIFY_CLEAR } from './mmu_notifier.js';

export class AnonVma {
  readonly vmas = new Set<VmAreaStruct>();
}

/** Model of anon_vma_prepare(): a VMA gets its anon_vma on its first anonymous page. */
export function anonVmaPrepare(vma: VmAreaStruct): AnonVma {
  if (vma.anonVma === null) {
    vma.anonVma = new AnonVma();
    vma.anonVma.vmas.add(vma);
  }
  return vma.anonVma;
}

/** Drop unmapped VMAs from their anon_vmas (unlink_anon_vmas()). */
export function unlinkAnonVmas(k: Kernel, vmas: VmAreaStruct[]): void {
  for (const v of vmas) {
    const av = v.anonVma;
    if (av === null) continue;
    av.vmas.delete(v);
    if (av.vmas.size === 0) k.kfree(av);
  }
}

/** Model of folio_add_new_anon_rmap(..., RMAP_EXCLUSIVE): a freshly allocated page gets its first mapping. */
export function folioAddNewAnonRmap(k: Kernel, page: Page, vma: VmAreaStruct, addr: number): void {
  const av = anonVmaPrepare(vma);
  const b = k.memmap.block(page), i = Memmap.slot(page);
  BUG_ON(b.mapcount[i] !== 0, 'folio_add_new_anon_rmap', () => `pfn 0x${page.toString(16)} is already mapped`);
  b.mapcount[i] = 1;
  b.mapping[i] = -k.kptr(av);
  b.index[i] = linearPageIndex(vma, addr);
  b.flags[i] |= PG_anon | PG_anon_exclusive | PG_swapbacked;
  vma.vmMm.rssAnon++;
}

/** Model of folio_add_anon_rmap_pte(): one more pte maps an existing anon page. */
export function folioAddAnonRmapPte(k: Kernel, page: Page, vma: VmAreaStruct, exclusive: boolean): void {
  const b = k.memmap.block(page), i = Memmap.slot(page);
  if (b.mapcount[i]++ === 0 && (b.flags[i] & PG_compound)) k.pageAlloc.large.get(compoundHead(k, page))!.nrPagesMapped++;
  if (b.flags[i] & PG_compound) k.pageAlloc.large.get(compoundHead(k, page))!.largeMapcount++;
  if (exclusive) b.flags[i] |= PG_anon_exclusive;
  vma.vmMm.rssAnon++;
}

/**
 * Model of folio_remove_rmap_pte(). In a large folio (6.12's scheme) the
 * page's own mapcount, the folio's _large_mapcount and, when the page's
 * last PTE goes, _nr_pages_mapped drop.
 */
export function folioRemoveRmapPte(k: Kernel, page: Page, vma: VmAreaStruct): void {
  const b = k.memmap.block(page), i = Memmap.slot(page);
  BUG_ON(b.mapcount[i] <= 0, 'folio_remove_rmap_pte', () => `mapcount underflow on pfn 0x${page.toString(16)}`);
  if (--b.mapcount[i] === 0 && (b.flags[i] & PG_compound)) k.pageAlloc.large.get(compoundHead(k, page))!.nrPagesMapped--;
  if (b.flags[i] & PG_compound) k.pageAlloc.large.get(compoundHead(k, page))!.largeMapcount--;
  vma.vmMm.rssAnon--;
}

/**
 * Model of folio_add_new_anon_rmap() for a PMD-mapped large folio
 * (RMAP_EXCLUSIVE): _entire_mapcount and _large_mapcount become 1, the
 * folio gets its anon_vma and index, only the head page is marked
 * PageAnonExclusive, MM_ANONPAGES grows by the folio's pages.
 */
export function folioAddNewAnonRmapPmd(k: Kernel, head: Page, vma: VmAreaStruct, haddr: number): void {
  const av = anonVmaPrepare(vma);
  const f = k.pageAlloc.large.get(head)!;
  BUG_ON(f.largeMapcount !== 0, 'folio_add_new_anon_rmap', () => `folio 0x${head.toString(16)} is already mapped`);
  f.entireMapcount = 1;
  f.largeMapcount = 1;
  const b = k.memmap.block(head), i = Memmap.slot(head);
  b.mapping[i] = -k.kptr(av);
  b.index[i] = linearPageIndex(vma, haddr);
  b.flags[i] |= PG_anon | PG_anon_exclusive | PG_swapbacked;
  vma.vmMm.rssAnon += 1 << f.order;
}

/** Model of folio_remove_rmap_pmd(). */
export function folioRemoveRmapPmd(k: Kernel, head: Page, vma: VmAreaStruct): void {
  const f = k.pageAlloc.large.get(head)!;
  BUG_ON(f.entireMapcount <= 0, 'folio_remove_rmap_pmd', () => `entire mapcount underflow on folio 0x${head.toString(16)}`);
  f.entireMapcount--;
  f.largeMapcount--;
  vma.vmMm.rssAnon -= 1 << f.order;
}

/** The AnonVma a page's mapping names, or null for a page that is not anon. */
export function pageAnonVma(k: Kernel, page: Page): AnonVma | null {
  const b = k.memmap.block(page), i = Memmap.slot(page);
  // folio_anon_vma(): a tail page of a large folio has the head's mapping.
  if (b.flags[i] & PG_tail) return pageAnonVma(k, compoundHead(k, page));
  if (!(b.flags[i] & PG_anon) || b.mapping[i] === 0) return null;
  return k.kobj<AnonVma>(-b.mapping[i]);
}

/**
 * Model of rmap_walk_anon(): call fn(vma, addr) for every VMA of the page's
 * anon_vma whose range holds the page's index.
 */
export function rmapWalk(k: Kernel, page: Page, fn: (vma: VmAreaStruct, addr: number) => void): void {
  const av = pageAnonVma(k, page);
  if (av === null) return;
  // page_to_pgoff(): a page of a large folio is at the folio's index plus its offset.
  const head = compoundHead(k, page);
  const index = k.memmap.block(head).index[Memmap.slot(head)] + (page - head);
  // Callbacks change ptes, never the anon_vma's VMA set, so it is walked in place.
  for (const vma of av.vmas) {
    const addr = vma.vmStart + (index - vma.vmPgoff) * PAGE_SIZE;
    if (addr >= vma.vmStart && addr < vma.vmEnd) fn(vma, addr);
  }
}

/**
 * Replace the pte at t[i] that maps `page` (present, or a device-private
 * entry) with a migration entry, and drop that mapping's rmap and
 * reference: the step migrate_vma_collect_pmd() and try_to_migrate_one()
 * share. An exclusive anon page stops being exclusive while unmapped
 * (folio_try_share_anon_rmap_pte(); no GUP pins are modelled yet, so it
 * cannot fail) and the entry remembers it (readable-exclusive). Returns
 * whether the entry is writable.
 */
export function setMigrationEntry(k: Kernel, vma: VmAreaStruct, t: PteTable, i: number, page: Page): boolean {
  const v = t.val[i];
  const b = k.memmap.block(page), s = Memmap.slot(page);
  const present = ptePresent(v);
  const writable = present ? pteWrite(v) : isWritableDevicePrivateEntry(v);
  const anonExclusive = (b.flags[s] & PG_anon) !== 0 && (b.flags[s] & PG_anon_exclusive) !== 0;
  if (anonExclusive) b.flags[s] &= ~PG_anon_exclusive;
  const dirty = present && pteDirty(v);
  if (dirty) b.flags[s] |= PG_dirty;
  const type = writable ? SWP_MIGRATION_WRITE : anonExclusive ? SWP_MIGRATION_READ_EXCLUSIVE : SWP_MIGRATION_READ;
  vma.vmMm.pgtable.set(t, i, page, mkSwpEntry(type) | (dirty ? SWP_MIG_DIRTY : 0));
  folioRemoveRmapPte(k, page, vma);
  putPage(k, page);
  return writable;
}

/**
 * Model of try_to_migrate(): every pte that still maps the page (present or
 * device-private) becomes a migration entry (try_to_migrate_one()), under an
 * MMU_NOTIFY_CLEAR invalidation.
 */
export function tryToMigrate(k: Kernel, page: Page): void {
  rmapWalk(k, page, (vma, addr) => {
    const mm = vma.vmMm;
    const t = mm.pgtable.lookup(addr);
    if (t === undefined) return;
    const i = pteIndex(addr), v = t.val[i];
    if (t.pfn[i] !== page || !(ptePresent(v) || isDevicePrivateEntry(v))) return;
    const range = mmuNotifierRangeInit(MMU_NOTIFY_CLEAR, 0, mm, addr, addr + PAGE_SIZE);
    mmuNotifierInvalidateRangeStart(range);
    setMigrationEntry(k, vma, t, i, page);
    mmuNotifierInvalidateRangeEnd(range);
  });
}

/**
 * Model of remove_migration_ptes(src, dst): every migration entry that names
 * src becomes a mapping of dst (a device-private entry when dst is device
 * private, a present pte otherwise), keeping write and dirty. dst == src
 * restores a page whose migration failed.
 */
export function removeMigrationPtes(k: Kernel, src: Page, dst: Page): void {
  rmapWalk(k, dst, (vma, addr) => {
    const mm = vma.vmMm;
    const t = mm.pgtable.lookup(addr);
    if (t === undefined) return;
    const i = pteIndex(addr);
    const v = t.val[i];
    if (!isMigrationEntry(v) || t.pfn[i] !== src) return;
    const write = isWritableMigrationEntry(v);
    const exclusive = write || isReadableExclusiveMigrationEntry(v);
    getPage(k, dst);
    let nv: number;
    if (isDevicePrivatePage(k, dst)) nv = mkSwpEntry(write ? SWP_DEVICE_WRITE : SWP_DEVICE_READ);
    else nv = _PAGE_PRESENT | (write ? _PAGE_RW : 0) | ((v & SWP_MIG_DIRTY) ? _PAGE_DIRTY : 0);
    folioAddAnonRmapPte(k, dst, vma, exclusive);
    mm.pgtable.set(t, i, dst, nv);
  });
}
