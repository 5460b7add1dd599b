// SPDX-License-Identifier: GPL-2.0-only
/*
 * Model of mm/rmap.c: from a page back to the ptes that map it. Anonymous
 * memory here; a page-cache page is walked through its mapping's i_mmap
 * (rmapWalkFile() in filemap.ts).
 *
 * In Linux: an anon folio's mapping points at an anon_vma, the anon_vma
 * lists the VMAs that may map it (through anon_vma_chain), and
 * folio->index is the page offset that gives the address in each VMA. Here:
 * page->mapping holds the AnonVma's object id and page->index the same
 * linear index; an AnonVma keeps a set of VMAs.
 */
import { BUG_ON } from './bug.js';
import type { Kernel } from './kernel.js';
import { Memmap, type Page, PAGE_SIZE, PG_anon, PG_anon_exclusive, PG_swapbacked, PG_dirty } from './page.js';
import { type VmAreaStruct, linearPageIndex } from './mm.js';
import { pteIndex, ptePresent, pteWrite, pteDirty, isMigrationEntry, isWritableMigrationEntry,
  isReadableExclusiveMigrationEntry, isDevicePrivateEntry, isWritableDevicePrivateEntry, mkSwpEntry, type PteTable,
  SWP_MIGRATION_READ, SWP_MIGRATION_READ_EXCLUSIVE, SWP_MIGRATION_WRITE, SWP_DEVICE_READ, SWP_DEVICE_WRITE,
  SWP_MIG_DIRTY, _PAGE_PRESENT, _PAGE_RW, _PAGE_DIRTY } from './pgtable.js';
import { getPage, putPage, testPageFlag } from './page_alloc.js';
import { rmapWalkFile } from './filemap.js';
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
  b.mapcount[i]++;
  if (exclusive) b.flags[i] |= PG_anon_exclusive;
  vma.vmMm.rssAnon++;
}

/** Model of folio_add_file_rmap_pte(): one more pte maps a page-cache page (MM_SHMEMPAGES/MM_FILEPAGES). */
export function folioAddFileRmapPte(k: Kernel, page: Page, vma: VmAreaStruct): void {
  k.memmap.block(page).mapcount[Memmap.slot(page)]++;
  vma.vmMm.rssFile++;
}

/** Model of folio_remove_rmap_pte(). */
export function folioRemoveRmapPte(k: Kernel, page: Page, vma: VmAreaStruct): void {
  const b = k.memmap.block(page), i = Memmap.slot(page);
  BUG_ON(b.mapcount[i] <= 0, 'folio_remove_rmap_pte', () => `mapcount underflow on pfn 0x${page.toString(16)}`);
  b.mapcount[i]--;
  if (b.flags[i] & PG_anon) vma.vmMm.rssAnon--;
  else vma.vmMm.rssFile--;
}

/**
 * The AnonVma a page's mapping names, or null for a page that is not anon.
 * An unmapped page can outlive its anon_vma (a device page somebody still
 * holds after the process exited): anon_vmas are SLAB_TYPESAFE_BY_RCU, so a
 * walk through the stale pointer finds no mapping of the page, which is
 * what null gives. A mapped page with a freed anon_vma is a kernel bug.
 */
export function pageAnonVma(k: Kernel, page: Page): AnonVma | null {
  const b = k.memmap.block(page), i = Memmap.slot(page);
  if (!(b.flags[i] & PG_anon) || b.mapping[i] === 0) return null;
  if (b.mapcount[i] <= 0 && !k.kalive(-b.mapping[i])) return null;
  return k.kobj<AnonVma>(-b.mapping[i]);
}

/**
 * Model of rmap_walk(): rmap_walk_anon() calls fn(vma, addr) for every VMA
 * of the page's anon_vma whose range holds the page's index; a page-cache
 * page goes through rmap_walk_file() (filemap.ts) instead.
 */
export function rmapWalk(k: Kernel, page: Page, fn: (vma: VmAreaStruct, addr: number) => void): void {
  const av = pageAnonVma(k, page);
  if (av === null) {
    rmapWalkFile(k, page, fn);
    return;
  }
  const index = k.memmap.block(page).index[Memmap.slot(page)];
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
    if (testPageFlag(k, dst, PG_anon)) folioAddAnonRmapPte(k, dst, vma, exclusive);
    else folioAddFileRmapPte(k, dst, vma);
    mm.pgtable.set(t, i, dst, nv);
  });
}
