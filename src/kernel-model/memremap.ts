// SPDX-License-Identifier: GPL-2.0-only
/*
 * Model of mm/memremap.c and include/linux/memremap.h: struct dev_pagemap,
 * memremap_pages()/memunmap_pages() and the freeing of ZONE_DEVICE pages.
 *
 * Refcounts follow the seed (000 patch 02, "mm: remove extra ZONE_DEVICE
 * struct page refcount"): a free device page has refcount 0, the driver
 * sets 1 when it hands the page out (init_page_count(), later
 * zone_device_page_init()), and the last put_page() calls
 * free_zone_device_page(), which for PRIVATE and GENERIC pages (seed 000
 * patch 08) calls pgmap->ops->page_free(). Seed 004's PUBLIC pages (2017)
 * keep the rule of their time: free at 1, page_free() at 1
 * (zoneDeviceRestRefcount()).
 */
import { EINVAL, ENOMEM, ENXIO, ERR_PTR, type ErrPtr } from './errno.js';
import type { Kernel } from './kernel.js';
import { BUG_ON } from './bug.js';
import { MEMBLOCK_PAGES, Memmap, type Page, physToPfn, PG_anon, PG_anon_exclusive, PG_locked, PG_head } from './page.js';
import { IORESOURCE_SYSTEM_RAM, IORES_DESC_NONE, REGION_DISJOINT } from './resource.js';
import type { VmFault } from './memory.js';
import { Completion, complete, waitForCompletion } from './completion.js';
import { rmapWalk } from './rmap.js';
import { pteIndex, ptePresent, isDeviceExclusiveEntry, isDevicePrivateEntry, isMigrationEntry } from './pgtable.js';
import { GUP_PIN_COUNTING_BIAS } from './page_alloc.js';
import { ZONE_DEVICE_LARGE_FOLIOS, ZONE_DEVICE_ONE_BASED_REFCOUNT } from './changes.js';

/** enum memory_type. GENERIC is the seed's CPU-coherent type; COHERENT is what upstream merged. */
export const MEMORY_DEVICE_PRIVATE = 1;
export const MEMORY_DEVICE_COHERENT = 2;
export const MEMORY_DEVICE_FS_DAX = 3;
export const MEMORY_DEVICE_GENERIC = 4;
/**
 * Seed 004's MEMORY_DEVICE_PUBLIC (2017): CPU-coherent device memory mapped
 * by present pte_devmap() ptes, under the one-based ZONE_DEVICE refcount of
 * its time. The 2017 enum gave it 2 (after HOST and PRIVATE); the model's
 * numbers are its own.
 */
export const MEMORY_DEVICE_PUBLIC = 5;
export type MemoryType = 1 | 2 | 3 | 4 | 5;

/** vm_fault_t bits (include/linux/mm_types.h). */
export const VM_FAULT_OOM = 0x000001;
export const VM_FAULT_SIGBUS = 0x000002;
export const VM_FAULT_SIGSEGV = 0x000040;
export const VM_FAULT_NOPAGE = 0x000100;
export const VM_FAULT_LOCKED = 0x000200;
export const VM_FAULT_RETRY = 0x000400;
export const VM_FAULT_ERROR = VM_FAULT_OOM | VM_FAULT_SIGBUS | VM_FAULT_SIGSEGV;

export interface DevPagemapOps {
  /** Called once the page refcount reaches 0 (seed 000 patch 02). 6.12's name; ZONE_DEVICE_LARGE_FOLIOS calls folioFree. */
  pageFree?(page: Page): void;
  /** dev_pagemap_ops.folio_free() (ZONE_DEVICE_LARGE_FOLIOS): the whole folio, head pfn, at refcount 0. */
  folioFree?(folio: Page): void;
  /**
   * dev_pagemap_ops.folio_split() (ZONE_DEVICE_LARGE_FOLIOS): split_folio() of a device-private folio made `tail`
   * a folio of its own (head is the old head); tail 0 (NULL) once every tail is done.
   */
  folioSplit?(head: Page, tail: Page): void;
  /** Called from do_swap_page() when the CPU touches a device-private entry. */
  migrateToRam?(vmf: VmFault): number;
}

/** struct dev_pagemap with one range (nr_range = 1, as test_hmm uses it). */
export interface DevPagemap {
  type: MemoryType;
  /** Physical range, inclusive end, as struct range. */
  range: { start: number; end: number };
  ops: DevPagemapOps | null;
  /** Identifies the driver that owns the pages (migrate_vma.pgmap_owner, hmm_range.dev_private_owner). */
  owner: object | null;
  /** Set by memremap_pages() while mapped; cleared by memunmap_pages()'s percpu_ref_kill(). */
  live?: boolean;
  /**
   * pgmap->ref (a percpu_ref, in the model always in atomic mode): the
   * initial reference memremap_pages() takes, plus one per page in use
   * (zone_device_page_init() to the page's free). Set by memremap_pages().
   */
  ref?: number;
  /** pgmap->done: completed when ref drops to zero after the kill. Set by memremap_pages(). */
  done?: Completion;
}

export const rangeLen = (r: { start: number; end: number }): number => r.end - r.start + 1;

/**
 * Model of memremap_pages(): create struct pages for the range and register
 * the pgmap. Returns the start address or an ERR_PTR, after the checks the
 * kernel makes (missing ops for PRIVATE/COHERENT, a conflicting pgmap, a
 * range that is System RAM).
 */
export function memremapPages(k: Kernel, pgmap: DevPagemap): ErrPtr<number> {
  // ZONE_DEVICE_LARGE_FOLIOS renamed page_free to folio_free.
  const large = k.has(ZONE_DEVICE_LARGE_FOLIOS);
  const noFree = large ? !pgmap.ops?.folioFree : !pgmap.ops?.pageFree, freeName = large ? 'folio_free' : 'page_free';
  switch (pgmap.type) {
    case MEMORY_DEVICE_PRIVATE:
      if (k.warn(!pgmap.ops?.migrateToRam, 'memremap_pages', 'Missing migrate_to_ram method')) return ERR_PTR(-EINVAL);
      if (k.warn(noFree, 'memremap_pages', `Missing ${freeName} method`)) return ERR_PTR(-EINVAL);
      if (k.warn(!pgmap.owner, 'memremap_pages', 'Missing owner')) return ERR_PTR(-EINVAL);
      break;
    case MEMORY_DEVICE_COHERENT:
      if (k.warn(noFree, 'memremap_pages', `Missing ${freeName} method`)) return ERR_PTR(-EINVAL);
      if (k.warn(!pgmap.owner, 'memremap_pages', 'Missing owner')) return ERR_PTR(-EINVAL);
      break;
    case MEMORY_DEVICE_PUBLIC:
      // Seed 004, memremap.h: "For MEMORY_DEVICE_CACHE_COHERENT only the page_free() callback matter".
      if (k.warn(!pgmap.ops?.pageFree, 'memremap_pages', 'Missing page_free method')) return ERR_PTR(-EINVAL);
      break;
    default:
      break;
  }
  const { start, end } = pgmap.range;
  // pagemap_range(): a pfn may belong to one pgmap only.
  const conflict = k.pgmaps.find((p) => p.range.start <= end && start <= p.range.end);
  if (k.warn(conflict !== undefined, 'pagemap_range',
    `Conflicting mapping in same section [mem 0x${start.toString(16)}-0x${end.toString(16)}]`)) return ERR_PTR(-ENOMEM);
  // pagemap_range(): device memory must not be System RAM.
  if (k.iomem.regionIntersects(start, rangeLen(pgmap.range), IORESOURCE_SYSTEM_RAM, IORES_DESC_NONE) !== REGION_DISJOINT) {
    k.warn(true, 'pagemap_range', `attempted on System RAM region [mem 0x${start.toString(16)}-0x${end.toString(16)}]`);
    return ERR_PTR(-ENXIO);
  }
  if (start % (2 * 1024 * 1024) !== 0 || (end + 1) % (2 * 1024 * 1024) !== 0) {
    // Sub-section granularity is 2 MiB (SUBSECTION_SHIFT 21).
    k.warn(true, 'memremap_pages', `range [mem 0x${start.toString(16)}-0x${end.toString(16)}] is not subsection aligned`);
    return ERR_PTR(-EINVAL);
  }
  // memmap_init_zone_device(): the pages start with refcount 0 (typed arrays start zeroed); 2017's
  // ZONE_DEVICE pages started at 1, the reference a free page keeps (zoneDeviceRestRefcount()).
  k.memmap.addRange(physToPfn(start), physToPfn(end + 1), pgmap);
  if (zoneDeviceRestRefcount(pgmap) !== 0) {
    for (let pfn = physToPfn(start), last = physToPfn(end + 1); pfn < last; pfn += MEMBLOCK_PAGES) {
      k.memmap.block(pfn).refcount.fill(zoneDeviceRestRefcount(pgmap), Memmap.slot(pfn), Math.min(MEMBLOCK_PAGES, Memmap.slot(pfn) + last - pfn));
    }
  }
  pgmap.ref = 1; // percpu_ref_init(): the initial reference, dropped by memunmap_pages()
  pgmap.done = new Completion();
  pgmap.live = true;
  k.pgmaps.push(pgmap);
  return start;
}

/**
 * Model of memunmap_pages() (6.12): kill the pgmap reference
 * (percpu_ref_kill(): new zone_device_page_init() calls fail, the initial
 * reference goes), wait until the last page holding one has been freed
 * (wait_for_completion(&pgmap->done), completed by
 * dev_pagemap_percpu_release() at zero), then remove the struct pages. A
 * page still referenced by something that will never let go makes the wait
 * a hung task (completion.ts): the struct pages stay, and the report says
 * which pages are held and by what. `callers` are the C functions above,
 * innermost first, for the report's call trace.
 *
 * 6.12 drops one more reference per page here for types whose free pages
 * hold one (FS_DAX, P2PDMA); every type the model creates holds the
 * reference only while a page is in use (free_zone_device_folio() puts it
 * for PRIVATE and COHERENT; the model's GENERIC pages follow COHERENT, see
 * freeZoneDevicePage()).
 */
export function memunmapPages(k: Kernel, pgmap: DevPagemap, callers: readonly string[] = []): void {
  pgmap.live = false; // percpu_ref_kill(): percpu_ref_tryget_live() fails from now on
  putDevPagemap(pgmap); // ... and drops the initial reference
  waitForCompletion(k, pgmap.done!, ['memunmap_pages', ...callers], () => pgmapBusyReport(k, pgmap));
  k.memmap.removeRange(physToPfn(pgmap.range.start), physToPfn(pgmap.range.end + 1)); // pageunmap_range()
  k.pgmaps.splice(k.pgmaps.indexOf(pgmap), 1);
}

/** Model of put_dev_pagemap() (percpu_ref_put()): at zero, dev_pagemap_percpu_release() completes pgmap->done. */
function putDevPagemap(pgmap: DevPagemap): void {
  pgmap.ref = pgmap.ref! - 1;
  if (pgmap.ref === 0) complete(pgmap.done!);
}

/**
 * What holds the pages of a pgmap that is waited for: for the hung-task
 * report, the pages still referenced and, for each reference, what the
 * model finds holding it (a pte, a device-private, device-exclusive or
 * migration entry through the page's rmap, a GUP pin) or "nothing found"
 * (a reference no entry or pin accounts for: leaked).
 */
function pgmapBusyReport(k: Kernel, pgmap: DevPagemap): string[] {
  const first = physToPfn(pgmap.range.start), last = physToPfn(pgmap.range.end + 1);
  const kinds = new Map<string, number>(), pages: string[] = [];
  let busy = 0, refs = 0;
  for (let base = first - Memmap.slot(first); base < last; base += MEMBLOCK_PAGES) {
    if (!k.memmap.devBlockInUse(base)) continue;
    const b = k.memmap.block(base);
    const rest = zoneDeviceRestRefcount(pgmap);
    for (let i = Math.max(first - base, 0), n = Math.min(last - base, MEMBLOCK_PAGES); i < n; i++) {
      if (b.refcount[i] <= rest) continue;
      busy++;
      refs += b.refcount[i] - rest;
      const held = pageReferenceHolders(k, base + i, b.refcount[i] - rest);
      for (const h of held) kinds.set(h.what, (kinds.get(h.what) ?? 0) + h.refs);
      if (pages.length < 8) pages.push(`  pfn 0x${(base + i).toString(16)} refcount ${b.refcount[i]}: ${held.map((h) => h.where).join(', ')}`);
    }
  }
  const by = [...kinds].map(([what, n]) => `${n} ${what}`).join(', ');
  return [
    `memunmap_pages: ${busy} of ${last - first} device pages of [mem 0x${pgmap.range.start.toString(16)}-0x${pgmap.range.end.toString(16)}] ` +
      `still referenced (${refs} references: ${by}); pgmap->ref is ${pgmap.ref}`,
    ...pages,
    ...(busy > pages.length ? [`  ... and ${busy - pages.length} more`] : []),
  ];
}

/** The holders of a device page's `refcount` references, as far as the model can name them. */
function pageReferenceHolders(k: Kernel, page: Page, refcount: number): Array<{ what: string; where: string; refs: number }> {
  const held: Array<{ what: string; where: string; refs: number }> = [];
  rmapWalk(k, page, (vma, addr) => {
    const t = vma.vmMm.pgtable.lookup(addr), i = pteIndex(addr);
    if (t === undefined || t.pfn[i] !== page) return;
    const v = t.val[i];
    const what = ptePresent(v) ? 'by a pte' : isDeviceExclusiveEntry(v) ? 'by a device-exclusive entry'
      : isDevicePrivateEntry(v) ? 'by a device-private entry' : isMigrationEntry(v) ? 'by a migration entry' : null;
    if (what !== null) held.push({ what, where: `${what.slice(3)} at 0x${addr.toString(16)}`, refs: 1 });
  });
  let rest = refcount - held.length;
  const pins = Math.floor(rest / GUP_PIN_COUNTING_BIAS);
  if (pins > 0) {
    held.push({ what: 'by a GUP pin', where: `${pins} pin(s)`, refs: pins * GUP_PIN_COUNTING_BIAS });
    rest -= pins * GUP_PIN_COUNTING_BIAS;
  }
  if (rest > 0) held.push({ what: 'held by nothing that maps or pins the page (leaked)', where: `${rest} reference(s) nothing accounts for`, refs: rest });
  return held;
}

/** page->pgmap. */
export function pagePgmap(k: Kernel, page: Page): DevPagemap | null {
  return k.memmap.block(page).pgmap;
}

/** Model of is_device_private_page(). */
export function isDevicePrivatePage(k: Kernel, page: Page): boolean {
  return k.memmap.block(page).pgmap?.type === MEMORY_DEVICE_PRIVATE;
}
/** Model of is_device_coherent_page(). */
export function isDeviceCoherentPage(k: Kernel, page: Page): boolean {
  return k.memmap.block(page).pgmap?.type === MEMORY_DEVICE_COHERENT;
}
/** Model of seed 004's is_device_public_page(). */
export function isDevicePublicPage(k: Kernel, page: Page): boolean {
  return k.memmap.block(page).pgmap?.type === MEMORY_DEVICE_PUBLIC;
}

/**
 * The references a free page of this pgmap keeps. 0 since seed 000 patch 02
 * ("mm: remove extra ZONE_DEVICE struct page refcount"); 1 for seed 004's
 * PUBLIC memory, under the rule of 2017 ("ZONE_DEVICE pages never reach 0
 * refcount unless there is a refcount bug", memremap.h): the memmap starts
 * each page at 1, the driver takes a reference to hand it out, and
 * page_free() runs when put_page() brings it back to 1.
 */
export function zoneDeviceRestRefcount(pgmap: DevPagemap): number {
  return pgmap.type === MEMORY_DEVICE_PUBLIC ? 1 : 0;
}

/**
 * The refcount at which put_page() hands a page of this pgmap to
 * free_zone_device_page(): its rest refcount, or 1 for every type under
 * the one-based patch (ZONE_DEVICE_ONE_BASED_REFCOUNT, whose drivers still
 * hand pages out at 1: the mismatch that patch shows). PUBLIC is one-based
 * either way. `k.inject.zoneDeviceFreeRefcount` may replace it.
 */
export function zoneDeviceFreeRefcount(k: Kernel, pgmap: DevPagemap): number {
  if (k.inject.zoneDeviceFreeRefcount !== undefined) return k.inject.zoneDeviceFreeRefcount(k, pgmap);
  return k.has(ZONE_DEVICE_ONE_BASED_REFCOUNT) ? 1 : zoneDeviceRestRefcount(pgmap);
}

/** The seed's is_device_generic_page() (000 patch 06). */
export function isDeviceGenericPage(k: Kernel, page: Page): boolean {
  return k.memmap.block(page).pgmap?.type === MEMORY_DEVICE_GENERIC;
}
/**
 * Model of the seed's is_device_page() (000 patch 06): a ZONE_DEVICE page that
 * migrate_vma_* may move, PRIVATE or GENERIC (and upstream's COHERENT, and
 * seed 004's PUBLIC, gone before the seed's helper was written).
 */
export function isDevicePage(k: Kernel, page: Page): boolean {
  const t = k.memmap.block(page).pgmap?.type;
  return t === MEMORY_DEVICE_PRIVATE || t === MEMORY_DEVICE_GENERIC || t === MEMORY_DEVICE_COHERENT || t === MEMORY_DEVICE_PUBLIC;
}

/**
 * Model of zone_device_page_init() (the seed open-codes it in the driver as
 * init_page_count() + lock_page()): hand a free device page out with
 * refcount 1, locked. A page that is not free is a driver bug. A PUBLIC
 * page rests at 1 and goes out at 2: the get_page() + lock_page() a 2017
 * driver did on a free page.
 */
export function zoneDevicePageInit(k: Kernel, page: Page): void {
  const b = k.memmap.block(page), i = Memmap.slot(page);
  if (!b.pgmap?.live) k.warn(true, 'zone_device_page_init', `pfn 0x${page.toString(16)}: pgmap is not live`);
  const rest = b.pgmap === null ? 0 : zoneDeviceRestRefcount(b.pgmap);
  if (b.refcount[i] !== rest) k.warn(true, 'zone_device_page_init', `pfn 0x${page.toString(16)} handed out with refcount ${b.refcount[i]}`);
  b.refcount[i] = rest + 1;
  b.flags[i] |= PG_locked;
  b.pgmapRef++; // percpu_ref_tryget_live(&pgmap->ref)
  b.pgmap!.ref!++;
}

/**
 * Model of zone_device_folio_init(folio, pgmap, order) (ZONE_DEVICE_LARGE_FOLIOS):
 * zone_device_page_init() for a folio of 2^order free device pages, made
 * compound (prep_compound_page()) when order > 0; pgmap->ref is taken once
 * per page (percpu_ref_tryget_many()), and given back per page when it is freed.
 */
export function zoneDeviceFolioInit(k: Kernel, folio: Page, pgmap: DevPagemap, order: number): void {
  const b = k.memmap.block(folio), i = Memmap.slot(folio), nr = 1 << order;
  if (!pgmap.live) k.warn(true, 'zone_device_folio_init', `pfn 0x${folio.toString(16)}: pgmap is not live`);
  if (b.refcount[i] !== 0) k.warn(true, 'zone_device_folio_init', `pfn 0x${folio.toString(16)} handed out with refcount ${b.refcount[i]}`);
  if (order > 0) k.pageAlloc.prepCompoundFolio(folio, order);
  b.refcount[i] = 1;
  b.flags[i] |= PG_locked;
  b.pgmapRef += nr;
  pgmap.ref! += nr;
}

/**
 * The large-folio half of free_zone_device_folio() (ZONE_DEVICE_LARGE_FOLIOS):
 * every page of the folio loses its anon state, folio_free() gets the head,
 * and pgmap->ref drops once per page (percpu_ref_put_many()). The model then
 * dissolves the compound (zone_device_folio_init() prepares it again when
 * the driver hands it out).
 */
function freeZoneDeviceLargeFolio(k: Kernel, folio: Page, pgmap: DevPagemap): void {
  const b = k.memmap.block(folio), s = Memmap.slot(folio), f = k.pageAlloc.large.get(folio)!, nr = 1 << f.order;
  if ((b.flags[s] & PG_locked) !== 0) k.warn(true, 'free_zone_device_folio', `folio 0x${folio.toString(16)} freed while locked`);
  if (f.largeMapcount !== 0 || f.entireMapcount !== 0) k.warn(true, 'free_zone_device_folio', `folio 0x${folio.toString(16)} freed while mapped`);
  for (let j = 0; j < nr; j++) {
    b.flags[s + j] &= ~(PG_anon | PG_anon_exclusive);
    b.mapping[s + j] = 0;
  }
  pgmap.ops!.folioFree!(folio);
  k.pageAlloc.folioResetOrder(folio);
  BUG_ON(b.pgmapRef < nr, 'put_dev_pagemap', () => `folio 0x${folio.toString(16)}: the pgmap reference count of its block underflows`);
  b.pgmapRef -= nr;
  for (let j = 0; j < nr; j++) putDevPagemap(pgmap);
}

/**
 * Model of free_zone_device_page() (seed 000 patches 02 and 08; 6.12's
 * free_zone_device_folio()): the refcount reached 0. PRIVATE, GENERIC and
 * COHERENT pages lose their stale anon mapping and go back to the driver;
 * so do PUBLIC pages, at refcount 1 (2017's
 * put_zone_device_private_or_public_page(): page->mapping = NULL, then
 * page_free()).
 */
export function freeZoneDevicePage(k: Kernel, page: Page): void {
  const b = k.memmap.block(page), i = Memmap.slot(page);
  const pgmap = b.pgmap!;
  if (k.has(ZONE_DEVICE_LARGE_FOLIOS) && pgmap.type !== MEMORY_DEVICE_FS_DAX) {
    if (k.warn(!pgmap.ops?.folioFree, 'free_zone_device_folio', 'no folio_free method')) return;
    if (b.flags[i] & PG_head) return freeZoneDeviceLargeFolio(k, page, pgmap);
  }
  switch (pgmap.type) {
    case MEMORY_DEVICE_FS_DAX:
      return;
    case MEMORY_DEVICE_PRIVATE:
    case MEMORY_DEVICE_GENERIC:
    case MEMORY_DEVICE_COHERENT:
    case MEMORY_DEVICE_PUBLIC:
      if (!k.has(ZONE_DEVICE_LARGE_FOLIOS) && k.warn(!pgmap.ops?.pageFree, 'free_zone_device_page', 'no page_free method')) return;
      if ((b.flags[i] & PG_locked) !== 0) k.warn(true, 'free_zone_device_page', `pfn 0x${page.toString(16)} freed while locked`);
      if (b.mapcount[i] !== 0) k.warn(true, 'free_zone_device_page', `pfn 0x${page.toString(16)} freed while mapped`);
      b.flags[i] &= ~(PG_anon | PG_anon_exclusive);
      b.mapping[i] = 0;
      if (k.has(ZONE_DEVICE_LARGE_FOLIOS)) pgmap.ops!.folioFree!(page);
      else pgmap.ops!.pageFree!(page);
      BUG_ON(b.pgmapRef <= 0, 'put_dev_pagemap', () => `pfn 0x${page.toString(16)}: the pgmap reference count of its block underflows`);
      b.pgmapRef--;
      putDevPagemap(pgmap);
      return;
  }
}
