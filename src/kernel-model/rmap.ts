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
 *
 * rmap counts mappings, not rss: as in 6.12, the code that sets or clears a
 * page table entry (do_anonymous_page(), finish_fault(), copy_pte_range(),
 * zap_pte_range() ...) adds to the mm's counters (addMmCounter()); moving a
 * mapping to a migration or device entry and back leaves them alone.
 */
import { BUG_ON } from './bug.js';
import { EBUSY, EOPNOTSUPP } from './errno.js';
import type { Kernel } from './kernel.js';
import { Memmap, type Page, PAGE_SIZE, PG_anon, PG_anon_exclusive, PG_swapbacked, PG_dirty, PG_compound, PG_tail } from './page.js';
import { type VmAreaStruct, linearPageIndex, vmaLookup, VM_READ, VM_WRITE, VM_EXEC, VM_HUGETLB } from './mm.js';
import { pteIndex, ptePresent, pteWrite, pteDirty, isMigrationEntry, isWritableMigrationEntry,
  isReadableExclusiveMigrationEntry, isDevicePrivateEntry, isWritableDevicePrivateEntry, mkSwpEntry, type PteTable,
  SWP_MIGRATION_READ, SWP_MIGRATION_READ_EXCLUSIVE, SWP_MIGRATION_WRITE, SWP_DEVICE_READ, SWP_DEVICE_WRITE,
  SWP_MIG_DIRTY, _PAGE_PRESENT, _PAGE_RW, _PAGE_DIRTY, _PAGE_PROTNONE } from './pgtable.js';
import { getPage, putPage, trylockPage, lockPage, unlockPage, folioLockKey, testPageFlag, setPageFlag, folioMapcount, compoundHead, folioOrder, folioTestAnon,
  GUP_PIN_COUNTING_BIAS, folioMaybeDmaPinned } from './page_alloc.js';
import { rmapWalkFile } from './filemap.js';
import { isDevicePrivatePage, isDevicePublicPage } from './memremap.js';
import { mmuNotifierRangeInit, mmuNotifierInvalidateRangeStart, mmuNotifierInvalidateRangeEnd, MMU_NOTIFY_CLEAR,
  MMU_NOTIFY_EXCLUSIVE } from './mmu_notifier.js';
import type { MmStruct } from './mm.js';
import { pteMkdevmap, isDeviceExclusiveEntry, SWP_DEVICE_EXCLUSIVE_READ, SWP_DEVICE_EXCLUSIVE_WRITE, SWP_DEVICE_EXCLUSIVE } from './pgtable.js';
import { DEVICE_EXCLUSIVE_NO_EBUSY, DEVICE_EXCLUSIVE_KEEP_MAPCOUNT, PVMW_DEVICE_EXCLUSIVE_NOT_MIGRATION,
  HUGE_PMD_DEVICE_PRIVATE, TRY_TO_MIGRATE_DEVICE_EXCLUSIVE } from './changes.js';
import { setPmdMigrationEntry, removeMigrationPmd, isPmdMigrationEntryOf } from './huge_memory.js';
import { getUserPagesRemote, FOLL_GET, FOLL_WRITE, FOLL_SPLIT_PMD } from './gup.js';
import { mmapLockHeld } from './locking.js';

/**
 * struct anon_vma. `vmas` is its rb_root: every VMA linked to it through an
 * anon_vma_chain entry, i.e. every VMA that may map one of its pages (after
 * fork the child's VMAs are in the parent's anon_vmas too). `root` and
 * `parent` are as in C: a fork makes the child's own anon_vma a child of the
 * parent VMA's, in the same tree (root).
 */
export class AnonVma {
  readonly vmas = new Set<VmAreaStruct>();
  root: AnonVma = this;
  parent: AnonVma = this;
  /** refcount: 1 while the tree is in use, plus one per descendant anon_vma (they pin the root). */
  refcount = 1;
  /** num_children: anon_vmas whose parent this is (a root counts itself). */
  numChildren = 0;
  /** num_active_vmas: VMAs whose vma->anon_vma this is. */
  numActiveVmas = 0;
}

/** Link vma into av's tree (anon_vma_chain_assign() + anon_vma_interval_tree_insert(): newest first, as list_add()). */
function anonVmaChainLink(vma: VmAreaStruct, av: AnonVma): void {
  vma.anonVmaChain.unshift(av);
  av.vmas.add(vma);
}

/** Model of anon_vma_prepare(): a VMA gets its anon_vma on its first anonymous page. */
export function anonVmaPrepare(vma: VmAreaStruct): AnonVma {
  if (vma.anonVma === null) {
    const av = new AnonVma();
    av.numChildren++; // self-parent link for a new root
    av.numActiveVmas++;
    vma.anonVma = av;
    anonVmaChainLink(vma, av);
  }
  return vma.anonVma;
}

/**
 * Model of anon_vma_clone(): link dst into every anon_vma src is linked
 * into (split_vma(), dup_anon_vma() on merge, fork). When dst has no
 * anon_vma of its own yet, one of those with no VMA left and at most one
 * child is reused (never the root). Cannot fail here (no allocation).
 */
export function anonVmaClone(dst: VmAreaStruct, src: VmAreaStruct): void {
  for (let i = src.anonVmaChain.length - 1; i >= 0; i--) {
    const av = src.anonVmaChain[i];
    anonVmaChainLink(dst, av);
    if (dst.anonVma === null && src.anonVma !== null && av.numChildren < 2 && av.numActiveVmas === 0) dst.anonVma = av;
  }
  if (dst.anonVma !== null) dst.anonVma.numActiveVmas++;
}

/**
 * Model of anon_vma_fork(): the child's VMA (a copy of pvma, its anon_vma
 * dropped) is linked into every anon_vma of the parent's VMA, so rmap walks
 * of the pages they share reach the child's ptes too; then it gets its own
 * anon_vma, a child of pvma's, for the pages it will COW.
 */
export function anonVmaFork(vma: VmAreaStruct, pvma: VmAreaStruct): void {
  if (pvma.anonVma === null) return;
  vma.anonVma = null;
  vma.anonVmaChain = [];
  anonVmaClone(vma, pvma);
  if (vma.anonVma !== null) return;
  const av = new AnonVma();
  av.numActiveVmas++;
  av.root = pvma.anonVma.root;
  av.parent = pvma.anonVma;
  av.root.refcount++; // get_anon_vma(root): the root outlives its descendants
  vma.anonVma = av;
  anonVmaChainLink(vma, av);
  av.parent.numChildren++;
}

/** Model of put_anon_vma()/__put_anon_vma(): the last reference frees it (kfree), and drops the one it held on its root. */
function putAnonVma(k: Kernel, av: AnonVma): void {
  BUG_ON(av.refcount <= 0, 'put_anon_vma', () => 'anon_vma refcount underflow');
  if (--av.refcount > 0) return;
  k.kfree(av);
  if (av.root !== av && --av.root.refcount === 0) k.kfree(av.root);
}

/**
 * Model of unlink_anon_vmas() for each VMA: take it out of every anon_vma
 * it is linked into; an anon_vma whose tree becomes empty leaves its parent
 * and loses its reference (freed once no descendant pins it).
 */
export function unlinkAnonVmas(k: Kernel, vmas: VmAreaStruct[]): void {
  for (const v of vmas) {
    const empty: AnonVma[] = [];
    for (const av of v.anonVmaChain) {
      av.vmas.delete(v);
      if (av.vmas.size === 0) {
        av.parent.numChildren--;
        empty.push(av);
      }
    }
    if (v.anonVma !== null) v.anonVma.numActiveVmas--;
    v.anonVma = null;
    v.anonVmaChain = [];
    for (const av of empty) {
      k.warn(av.numChildren !== 0 || av.numActiveVmas !== 0, 'unlink_anon_vmas',
        `freeing an anon_vma with ${av.numChildren} children and ${av.numActiveVmas} active VMAs`);
      putAnonVma(k, av);
    }
  }
}

/**
 * Model of __folio_set_anon(folio, vma, addr, true) followed by
 * SetPageAnonExclusive() and __folio_set_swapbacked(), the part every "new
 * anon rmap" shares: the folio's mapping names the VMA's anon_vma (PG_anon
 * is PAGE_MAPPING_ANON), its index is addr's page offset in the VMA, and
 * its (head) page is exclusive.
 */
function __folioSetAnonExclusive(k: Kernel, folio: Page, vma: VmAreaStruct, addr: number): void {
  const b = k.memmap.block(folio), i = Memmap.slot(folio);
  b.mapping[i] = -k.kptr(vma.anonVma!);
  b.index[i] = linearPageIndex(vma, addr);
  b.flags[i] |= PG_anon | PG_anon_exclusive | PG_swapbacked;
}

/** Model of folio_add_new_anon_rmap(..., RMAP_EXCLUSIVE): a freshly allocated page gets its first mapping. */
export function folioAddNewAnonRmap(k: Kernel, page: Page, vma: VmAreaStruct, addr: number): void {
  anonVmaPrepare(vma);
  const b = k.memmap.block(page), i = Memmap.slot(page);
  BUG_ON(b.mapcount[i] !== 0, 'folio_add_new_anon_rmap', () => `pfn 0x${page.toString(16)} is already mapped`);
  b.mapcount[i] = 1;
  __folioSetAnonExclusive(k, page, vma, addr);
}

/** Model of folio_add_anon_rmap_pte(): one more pte maps an existing anon page. */
export function folioAddAnonRmapPte(k: Kernel, page: Page, vma: VmAreaStruct, exclusive: boolean): void {
  const b = k.memmap.block(page), i = Memmap.slot(page);
  if (b.flags[i] & PG_compound) {
    const f = k.pageAlloc.large.get(compoundHead(k, page))!;
    if (b.mapcount[i] === 0) f.nrPagesMapped++;
    f.largeMapcount++;
  }
  b.mapcount[i]++;
  if (exclusive) b.flags[i] |= PG_anon_exclusive;
}

/** Model of folio_add_file_rmap_pte(): one more pte maps a page-cache page. */
export function folioAddFileRmapPte(k: Kernel, page: Page, _vma: VmAreaStruct): void {
  k.memmap.block(page).mapcount[Memmap.slot(page)]++;
}

export { GUP_PIN_COUNTING_BIAS };

/**
 * Model of folio_needs_cow_for_dma() (include/linux/mm.h): only in an mm
 * some pin_user_pages*() has pinned (MMF_HAS_PINNED, MmStruct.hasPinned),
 * folio_maybe_dma_pinned(). Elsewhere a refcount at the pin bias is taken
 * for plain references, and fork shares the page.
 */
export function folioNeedsCowForDma(vma: VmAreaStruct, page: Page): boolean {
  if (!vma.vmMm.hasPinned) return false;
  return folioMaybeDmaPinned(vma.vmMm.k, page);
}

/**
 * Model of folio_try_dup_anon_rmap_pte() (include/linux/rmap.h), at fork:
 * one more pte (the child's) maps the page, which stops being exclusive.
 * -EBUSY when an exclusive page may be DMA-pinned in the parent's mm
 * (folio_needs_cow_for_dma(src_vma, ...): the caller must copy it
 * instead); a device-private page cannot be pinned, so never for it.
 */
export function folioTryDupAnonRmapPte(k: Kernel, page: Page, srcVma: VmAreaStruct): number {
  const b = k.memmap.block(page), i = Memmap.slot(page);
  const maybePinned = !isDevicePrivatePage(k, page) && folioNeedsCowForDma(srcVma, page);
  if (maybePinned && (b.flags[i] & PG_anon_exclusive)) return -EBUSY;
  b.flags[i] &= ~PG_anon_exclusive;
  b.mapcount[i]++;
  // A page of a large folio: the folio's _large_mapcount counts the new pte too (the page was mapped already).
  if (b.flags[i] & PG_compound) k.pageAlloc.large.get(compoundHead(k, page))!.largeMapcount++;
  return 0;
}

/**
 * Model of folio_move_anon_rmap(): a page do_wp_page() reuses becomes the
 * writer's alone, so it moves to that VMA's own anon_vma (after fork, the
 * child's rather than the parent's).
 */
export function folioMoveAnonRmap(k: Kernel, page: Page, vma: VmAreaStruct): void {
  const b = k.memmap.block(page), i = Memmap.slot(page);
  BUG_ON(vma.anonVma === null, 'folio_move_anon_rmap', () => 'VMA has no anon_vma');
  b.mapping[i] = -k.kptr(vma.anonVma!);
}

/**
 * Model of folio_remove_rmap_pte(). In a large folio (6.12's scheme) the
 * page's own mapcount, the folio's _large_mapcount and, when the page's
 * last PTE goes, _nr_pages_mapped drop.
 */
export function folioRemoveRmapPte(k: Kernel, page: Page, _vma: VmAreaStruct): void {
  const b = k.memmap.block(page), i = Memmap.slot(page);
  BUG_ON(b.mapcount[i] <= 0, 'folio_remove_rmap_pte', () => `mapcount underflow on pfn 0x${page.toString(16)}`);
  b.mapcount[i]--;
  if (b.flags[i] & PG_compound) {
    const f = k.pageAlloc.large.get(compoundHead(k, page))!;
    if (b.mapcount[i] === 0) f.nrPagesMapped--;
    f.largeMapcount--;
  }
}

/**
 * Model of folio_add_new_anon_rmap() for a PMD-mapped large folio
 * (RMAP_EXCLUSIVE): _entire_mapcount and _large_mapcount become 1, the
 * folio gets its anon_vma and index, only the head page is marked
 * PageAnonExclusive.
 */
export function folioAddNewAnonRmapPmd(k: Kernel, head: Page, vma: VmAreaStruct, haddr: number): void {
  anonVmaPrepare(vma);
  const f = k.pageAlloc.large.get(head)!;
  BUG_ON(f.largeMapcount !== 0, 'folio_add_new_anon_rmap', () => `folio 0x${head.toString(16)} is already mapped`);
  f.entireMapcount = 1;
  f.largeMapcount = 1;
  __folioSetAnonExclusive(k, head, vma, haddr);
}

/**
 * Model of hugetlb_add_new_anon_rmap(): the first mapping of a private
 * hugetlb folio, by one huge pte. Its pages count in mm.hugetlbUsage
 * (hugetlb_count_add(), the caller's), not MM_ANONPAGES.
 */
export function hugetlbAddNewAnonRmap(k: Kernel, head: Page, vma: VmAreaStruct, haddr: number): void {
  anonVmaPrepare(vma);
  const f = k.pageAlloc.large.get(head)!;
  f.entireMapcount = 1;
  f.largeMapcount = 1;
  __folioSetAnonExclusive(k, head, vma, haddr);
}

/** Model of hugetlb_remove_rmap() (include/linux/rmap.h). */
export function hugetlbRemoveRmap(k: Kernel, head: Page): void {
  const f = k.pageAlloc.large.get(head)!;
  f.entireMapcount--;
  f.largeMapcount--;
}

/** Model of folio_remove_rmap_pmd(). */
export function folioRemoveRmapPmd(k: Kernel, head: Page, _vma: VmAreaStruct): void {
  const f = k.pageAlloc.large.get(head)!;
  BUG_ON(f.entireMapcount <= 0, 'folio_remove_rmap_pmd', () => `entire mapcount underflow on folio 0x${head.toString(16)}`);
  f.entireMapcount--;
  f.largeMapcount--;
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
  // folio_anon_vma(): a tail page of a large folio has the head's mapping.
  if (b.flags[i] & PG_tail) return pageAnonVma(k, compoundHead(k, page));
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
 * Model of folio_try_share_anon_rmap_pte() (include/linux/rmap.h,
 * __folio_try_share_anon_rmap()): an exclusive anon page that is about to
 * be unmapped stops being PageAnonExclusive, unless its folio may be
 * DMA-pinned (folio_maybe_dma_pinned()): then -EBUSY, and the caller must
 * put the pte back and leave the page alone. A device-private page cannot
 * be pinned, so it always succeeds. 0 or -EBUSY.
 */
export function folioTryShareAnonRmapPte(k: Kernel, page: Page): number {
  const b = k.memmap.block(page), s = Memmap.slot(page);
  if (!isDevicePrivatePage(k, page) && folioMaybeDmaPinned(k, page)) return -EBUSY;
  b.flags[s] &= ~PG_anon_exclusive;
  return 0;
}

/**
 * try_to_migrate_one() at a PMD (HUGE_PMD_DEVICE_PRIVATE): a huge PMD that
 * maps page's folio, present or device-private, becomes a PMD migration
 * entry (set_pmd_migration_entry()) under MMU_NOTIFY_CLEAR of its 2 MiB.
 * True when that was refused (the walk stops, as try_to_migrate_one()
 * returns false).
 */
function tryToMigratePmd(k: Kernel, vma: VmAreaStruct, addr: number, page: Page): boolean {
  const mm = vma.vmMm, h = mm.pgtable.lookupHuge(addr), head = compoundHead(k, page);
  if (h === undefined || h.pfn !== head || !(ptePresent(h.val) || isDevicePrivateEntry(h.val)) || (vma.vmFlags & VM_HUGETLB)) return false;
  const haddr = addr - (addr % (PAGE_SIZE * 512));
  const range = mmuNotifierRangeInit(MMU_NOTIFY_CLEAR, 0, mm, haddr, haddr + PAGE_SIZE * 512);
  mmuNotifierInvalidateRangeStart(range);
  const ret = setPmdMigrationEntry(k, vma, h);
  mmuNotifierInvalidateRangeEnd(range);
  return ret !== 0;
}

/**
 * Replace the pte at t[i] that maps `page` (present, or a device-private
 * entry) with a migration entry, and drop that mapping's rmap and
 * reference: the step migrate_vma_collect_pmd() (mm/migrate_device.c) and
 * try_to_migrate_one() (mm/rmap.c) share. An exclusive anon page is first
 * made shareable (folio_try_share_anon_rmap_pte()); when that refuses (the
 * folio may be DMA-pinned) the pte is left as it was (the kernel clears it
 * and sets it back) and the result is -EBUSY: both callers then leave the
 * page where it is. Otherwise the entry remembers whether the page was
 * exclusive (readable-exclusive) and a dirty pte marks the folio dirty;
 * 0. rss is not touched: the migration entry still counts.
 */
export function setMigrationEntry(k: Kernel, vma: VmAreaStruct, t: PteTable, i: number, page: Page): number {
  const v = t.val[i];
  const b = k.memmap.block(page), s = Memmap.slot(page);
  const present = ptePresent(v);
  const writable = present ? pteWrite(v) : isWritableDevicePrivateEntry(v);
  // folio_test_anon(): a small folio's own flag, a tail page's through its head.
  const anonExclusive = (b.flags[s] & PG_anon_exclusive) !== 0 && ((b.flags[s] & PG_tail) ? folioTestAnon(k, page) : (b.flags[s] & PG_anon) !== 0);
  if (anonExclusive && folioTryShareAnonRmapPte(k, page)) return -EBUSY;
  const dirty = present && pteDirty(v);
  if (dirty) b.flags[s] |= PG_dirty;
  const type = writable ? SWP_MIGRATION_WRITE : anonExclusive ? SWP_MIGRATION_READ_EXCLUSIVE : SWP_MIGRATION_READ;
  vma.vmMm.pgtable.set(t, i, page, mkSwpEntry(type) | (dirty ? SWP_MIG_DIRTY : 0));
  folioRemoveRmapPte(k, page, vma);
  putPage(k, page);
  return 0;
}

/**
 * Model of try_to_migrate(): every pte that still maps the page (present or
 * device-private) becomes a migration entry (try_to_migrate_one()), under an
 * MMU_NOTIFY_CLEAR invalidation. A dirty pte marks the folio dirty before
 * anything else, as try_to_migrate_one() does. A page that may be
 * DMA-pinned and is exclusive stays mapped, and the walk ends there
 * (try_to_migrate_one() returns false): the caller finds it still mapped.
 * 6.12's check_pte() hands device-exclusive entries to the walk too, but
 * an order-0 page under one has no mapcount there (folio_mapped() is false
 * and the caller does not walk); with TRY_TO_MIGRATE_DEVICE_EXCLUSIVE
 * (6.15) try_to_migrate_one() migrates them like a device-private entry.
 */
export function tryToMigrate(k: Kernel, page: Page): void {
  let done = false;
  const exclusiveToo = k.has(TRY_TO_MIGRATE_DEVICE_EXCLUSIVE);
  rmapWalk(k, page, (vma, addr) => {
    if (done) return;
    const mm = vma.vmMm;
    const t = mm.pgtable.lookup(addr);
    if (t === undefined) {
      if (k.has(HUGE_PMD_DEVICE_PRIVATE)) done = tryToMigratePmd(k, vma, addr, page);
      return;
    }
    const i = pteIndex(addr), v = t.val[i];
    if (t.pfn[i] !== page || !(ptePresent(v) || isDevicePrivateEntry(v) || (exclusiveToo && isDeviceExclusiveEntry(v)))) return;
    const range = mmuNotifierRangeInit(MMU_NOTIFY_CLEAR, 0, mm, addr, addr + PAGE_SIZE);
    mmuNotifierInvalidateRangeStart(range);
    if (ptePresent(v) && pteDirty(v)) setPageFlag(k, page, PG_dirty); // folio_mark_dirty()
    if (setMigrationEntry(k, vma, t, i, page)) done = true;
    mmuNotifierInvalidateRangeEnd(range);
  });
}

/** struct make_exclusive_args. */
interface MakeExclusiveArgs {
  mm: MmStruct;
  address: number;
  owner: object | null;
  valid: boolean;
}

/**
 * Model of page_make_device_exclusive_one(): in one VMA, every present pte
 * that maps a page of the folio (page_vma_mapped_walk() over the folio's
 * range from address) becomes a device-exclusive entry for that subpage
 * (writable if the pte was), under an MMU_NOTIFY_EXCLUSIVE invalidation of
 * the folio's range carrying the owner, so the requesting driver can tell
 * it from a revocation. Each pte's folio reference stays with its entry;
 * its mapcount goes. False, ending the walk, at a pte of the folio that is
 * not present (e.g. already exclusive). A PMD-mapped folio here is the
 * kernel's VM_BUG_ON_FOLIO(!pvmw.pte): callers split it first
 * (FOLL_SPLIT_PMD).
 */
function pageMakeDeviceExclusiveOne(k: Kernel, folio: Page, vma: VmAreaStruct, address: number, args: MakeExclusiveArgs): boolean {
  const mm = vma.vmMm;
  const nr = 1 << folioOrder(k, folio);
  const end = Math.min(vma.vmEnd, address + nr * PAGE_SIZE);
  const range = mmuNotifierRangeInit(MMU_NOTIFY_EXCLUSIVE, 0, mm, address, end, args.owner);
  mmuNotifierInvalidateRangeStart(range);
  let ret = true;
  for (let a = Math.max(address, vma.vmStart); a < end; a += PAGE_SIZE) {
    const h = mm.pgtable.lookupHuge(a);
    BUG_ON(h !== undefined && h.pfn === folio, 'page_make_device_exclusive_one',
      () => `folio 0x${folio.toString(16)} is PMD-mapped at 0x${a.toString(16)} (VM_BUG_ON_FOLIO(!pvmw.pte))`);
    const t = mm.pgtable.lookup(a), i = pteIndex(a);
    if (t === undefined) continue;
    // check_pte(): a present pte, or a device-private/exclusive entry, whose pfn is this subpage.
    const page = folio + (a - address) / PAGE_SIZE, v = t.val[i];
    if (t.pfn[i] !== page || !(ptePresent(v) || isDevicePrivateEntry(v) || isDeviceExclusiveEntry(v))) continue;
    if (!ptePresent(v)) {
      ret = false;
      break;
    }
    if (pteDirty(v)) k.memmap.block(folio).flags[Memmap.slot(folio)] |= PG_dirty; // folio_mark_dirty()
    const write = pteWrite(v);
    if (args.mm === mm && args.address === a && write) args.valid = true;
    mm.pgtable.set(t, i, page, mkSwpEntry(write ? SWP_DEVICE_EXCLUSIVE_WRITE : SWP_DEVICE_EXCLUSIVE_READ));
    folioRemoveRmapPte(k, page, vma); // rss is left alone: the entry still counts (zap_pte_range() drops it)
  }
  mmuNotifierInvalidateRangeEnd(range);
  return ret;
}

/**
 * Model of folio_make_device_exclusive(): replace every pte mapping the
 * (locked, anon) folio with a device-exclusive entry. True only when the
 * walk reached the expected mm and address with a writable pte and nothing
 * maps the folio any more (folio_mapcount(): a large folio still mapped
 * by its other ptes fails here).
 */
export function folioMakeDeviceExclusive(k: Kernel, folio: Page, mm: MmStruct, address: number, owner: object | null): boolean {
  const args: MakeExclusiveArgs = { mm, address, owner, valid: false };
  if (!testPageFlag(k, folio, PG_anon)) return false;
  let stop = false;
  rmapWalk(k, folio, (vma, addr) => {
    if (stop) return;
    // rmap_one returning false, or rwc.done (folio_not_mapped()), ends the walk.
    if (!pageMakeDeviceExclusiveOne(k, folio, vma, addr, args) || folioMapcount(k, folio) === 0) stop = true;
  });
  return args.valid && folioMapcount(k, folio) === 0;
}

/**
 * Model of make_device_exclusive_range(): get the pages of [start, end)
 * for writing (faulting them in, breaking COW, splitting a THP's PMD with
 * FOLL_SPLIT_PMD) and make each folio exclusive to the device. Returns the
 * number of pages gup found, or -errno; pages[i] is the page made
 * exclusive, locked and with a reference the caller drops (unlock_page() +
 * put_page()) once the device is programmed, or 0 (NULL) where it could
 * not be done. A tail page of a large folio is always NULL: only the head
 * page's slot names the folio, whose every pte becomes exclusive, so a
 * range over a THP comes back with holes (and test_hmm answers -EBUSY, as
 * 6.12 does with THP "always").
 */
export function makeDeviceExclusiveRange(mm: MmStruct, start: number, end: number, pages: Float64Array, owner: object | null): number {
  const k = mm.k;
  const npages = getUserPagesRemote(mm, start, Math.floor((end - start) / PAGE_SIZE), FOLL_GET | FOLL_WRITE | FOLL_SPLIT_PMD, pages);
  if (npages < 0) return npages;
  for (let i = 0, a = start; i < npages; i++, a += PAGE_SIZE) {
    const page = pages[i], folio = compoundHead(k, page);
    if (testPageFlag(k, page, PG_tail) || !trylockPage(k, folio)) {
      putPage(k, folio);
      pages[i] = 0;
      continue;
    }
    // Explore only: the rmap walk may sleep (anon_vma_lock_read(), the notifiers' mutexes) with this folio and the
    // step's earlier ones locked (the caller unlocks them), and mmap_lock held for read if the caller took it.
    k.sched.point('make_device_exclusive_range: folio locked', () => {
      const held = mmapLockHeld(mm);
      for (let j = 0; j <= i; j++) if (pages[j] !== 0) held.push(folioLockKey(pages[j]));
      return held;
    });
    if (!folioMakeDeviceExclusive(k, folio, mm, a, owner)) {
      unlockPage(k, folio);
      putPage(k, folio);
      pages[i] = 0;
    }
  }
  return npages;
}

/** The most times make_device_exclusive() goes round its retry before the model calls it a livelock. */
const MAKE_DEVICE_EXCLUSIVE_MAX_RETRIES = 1000;

/**
 * Model of make_device_exclusive() (MAKE_DEVICE_EXCLUSIVE, 6.15): the page
 * at addr, faulted in for writing (FOLL_SPLIT_PMD splits a THP's PMD, so
 * a THP is worked on one PTE at a time), becomes a device-exclusive entry.
 * The folio is locked, and only the one PTE is looked at (folio_walk): a
 * writable PTE of an anon page is its only mapping. Notifiers hear
 * MMU_NOTIFY_EXCLUSIVE with the caller's owner over that one page.
 * Returns the page, its folio locked and referenced for the caller to
 * unlock and put, or -errno: -EOPNOTSUPP for a non-anon or hugetlb folio;
 * before DEVICE_EXCLUSIVE_NO_EBUSY, -EBUSY when the folio is locked or the
 * PTE changed after GUP (after it: the lock is waited for and GUP retried).
 */
export function makeDeviceExclusive(mm: MmStruct, addr: number, owner: object | null): number {
  const k = mm.k;
  addr = Math.floor(addr / PAGE_SIZE) * PAGE_SIZE;
  const pages = new Float64Array(1);
  for (let tries = 0; ; tries++) {
    BUG_ON(tries > MAKE_DEVICE_EXCLUSIVE_MAX_RETRIES, 'make_device_exclusive',
      () => `livelock: the PTE at 0x${addr.toString(16)} never stays a writable mapping of the page GUP returned`);
    // get_user_page_vma_remote()
    const got = getUserPagesRemote(mm, addr, 1, FOLL_GET | FOLL_WRITE | FOLL_SPLIT_PMD, pages);
    if (got < 0) return got;
    const vma = vmaLookup(mm, addr);
    const page = pages[0], folio = compoundHead(k, page);
    if (!folioTestAnon(k, folio) || vma === null || (vma.vmFlags & VM_HUGETLB)) {
      putPage(k, folio);
      return -EOPNOTSUPP;
    }
    if (k.has(DEVICE_EXCLUSIVE_NO_EBUSY)) {
      // folio_lock_killable(). In explore mode a thread that finds the folio locked by the preempted main thread
      // waits (sched.ts: sleepOn()) and later runs its EXCLUSIVE from the start: the same as waiting here,
      // because after the lock this code looks at the pte again and retries GUP when it changed.
      lockPage(k, folio);
    } else if (!trylockPage(k, folio)) {
      putPage(k, folio);
      return -EBUSY;
    }
    // Explore only: mmu_notifier_invalidate_range_start() may sleep (blockable: the notifiers take mutexes), with
    // the folio locked, and mmap_lock held for read if the caller took it.
    k.sched.point('make_device_exclusive: folio locked', () => [...mmapLockHeld(mm), folioLockKey(folio)]);
    const range = mmuNotifierRangeInit(MMU_NOTIFY_EXCLUSIVE, 0, mm, addr, addr + PAGE_SIZE, owner);
    mmuNotifierInvalidateRangeStart(range);
    // folio_walk_start(): the same page, mapped by a writable pte (not a PMD).
    const t = mm.pgtable.lookupHuge(addr) === undefined ? mm.pgtable.lookup(addr) : undefined, i = pteIndex(addr);
    if (t === undefined || t.pfn[i] !== page || !pteWrite(t.val[i])) {
      mmuNotifierInvalidateRangeEnd(range);
      unlockPage(k, folio);
      putPage(k, folio);
      if (k.has(DEVICE_EXCLUSIVE_NO_EBUSY)) continue;
      return -EBUSY;
    }
    if (pteDirty(t.val[i])) setPageFlag(k, folio, PG_dirty); // folio_mark_dirty()
    mm.pgtable.set(t, i, page, mkSwpEntry(SWP_DEVICE_EXCLUSIVE));
    // The entry keeps the pte's reference and rss; before DEVICE_EXCLUSIVE_KEEP_MAPCOUNT not its mapcount.
    if (!k.has(DEVICE_EXCLUSIVE_KEEP_MAPCOUNT)) folioRemoveRmapPte(k, page, vma);
    mmuNotifierInvalidateRangeEnd(range);
    return page;
  }
}

/**
 * Model of remove_migration_ptes(src, dst): every migration entry that names
 * src becomes a mapping of dst (a device-private entry when dst is device
 * private, a present pte otherwise), keeping write and dirty. dst == src
 * restores a page whose migration failed.
 *
 * As in 6.12, the walk (page_vma_mapped_walk() with PVMW_MIGRATION, whose
 * check_pte() accepts migration *and* device-exclusive entries) also
 * finds a device-exclusive entry of src, and remove_migration_pte() treats
 * it as a migration entry that is neither writable, dirty nor readable:
 * it maps the page read-only (RMAP_EXCLUSIVE) with a new reference, while
 * the reference the exclusive entry held is never dropped. This is what
 * happens when migrate_device_range() evicts a COHERENT page that is
 * mapped only by an exclusive entry: folio_migrate_mapping() refuses it
 * (the entry's reference is not expected), migrate_device_finalize()
 * "restores" it here, and the page keeps one reference too many forever,
 * so memunmap_pages() never finishes (a RELEASE after EXCLUSIVE hangs).
 * PVMW_DEVICE_EXCLUSIVE_NOT_MIGRATION (6.15) matches migration entries only.
 */
export function removeMigrationPtes(k: Kernel, src: Page, dst: Page): void {
  // What dst is decides every new entry alike: asked once, not for each mapping the walk finds.
  const dstPrivate = isDevicePrivatePage(k, dst), dstPublic = !dstPrivate && isDevicePublicPage(k, dst);
  const dstAnon = testPageFlag(k, dst, PG_anon), exclNotMigration = k.has(PVMW_DEVICE_EXCLUSIVE_NOT_MIGRATION);
  rmapWalk(k, dst, (vma, addr) => {
    const mm = vma.vmMm;
    const t = mm.pgtable.lookup(addr);
    if (t === undefined) {
      // A PMD migration entry (only HUGE_PMD_DEVICE_PRIVATE makes one): remove_migration_pmd().
      const h = mm.pgtable.lookupHuge(addr);
      if (isPmdMigrationEntryOf(h, src)) removeMigrationPmd(k, vma, h!, dst);
      return;
    }
    const i = pteIndex(addr);
    const v = t.val[i];
    const excl = !exclNotMigration && isDeviceExclusiveEntry(v);
    if (!(isMigrationEntry(v) || excl) || t.pfn[i] !== src) return;
    const write = isWritableMigrationEntry(v);
    // RMAP_EXCLUSIVE unless the entry is a readable migration entry (!is_readable_migration_entry()).
    const exclusive = write || isReadableExclusiveMigrationEntry(v) || excl;
    getPage(k, dst);
    let nv: number;
    if (dstPrivate) {
      nv = mkSwpEntry(write ? SWP_DEVICE_WRITE : SWP_DEVICE_READ);
    } else {
      nv = _PAGE_PRESENT | (write ? _PAGE_RW : 0) | ((v & SWP_MIG_DIRTY) ? _PAGE_DIRTY : 0);
      // mk_pte(new, vma->vm_page_prot): a VMA made PROT_NONE while the page was unmapped maps it back PROT_NONE.
      if (!(vma.vmFlags & (VM_READ | VM_WRITE | VM_EXEC))) nv |= _PAGE_PROTNONE;
      // Seed 004's remove_migration_pte() hunk: a PUBLIC page goes back as pte_mkdevmap().
      if (dstPublic) nv = pteMkdevmap(nv);
    }
    if (dstAnon) folioAddAnonRmapPte(k, dst, vma, exclusive);
    else folioAddFileRmapPte(k, dst, vma);
    mm.pgtable.set(t, i, dst, nv);
  });
}
