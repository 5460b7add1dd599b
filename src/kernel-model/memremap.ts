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
 * patch 08) calls pgmap->ops->page_free().
 */
import { EINVAL, ENOMEM, ENXIO, ERR_PTR, type ErrPtr } from './errno.js';
import type { Kernel } from './kernel.js';
import { BUG_ON } from './bug.js';
import { MEMBLOCK_PAGES, Memmap, type Page, physToPfn, PG_anon, PG_anon_exclusive, PG_locked } from './page.js';
import { IORESOURCE_SYSTEM_RAM, IORES_DESC_NONE, REGION_DISJOINT } from './resource.js';
import type { VmFault } from './memory.js';

/** enum memory_type. GENERIC is the seed's CPU-coherent type; COHERENT is what upstream merged. */
export const MEMORY_DEVICE_PRIVATE = 1;
export const MEMORY_DEVICE_COHERENT = 2;
export const MEMORY_DEVICE_FS_DAX = 3;
export const MEMORY_DEVICE_GENERIC = 4;
export type MemoryType = 1 | 2 | 3 | 4;

/** vm_fault_t bits (include/linux/mm_types.h). */
export const VM_FAULT_OOM = 0x000001;
export const VM_FAULT_SIGBUS = 0x000002;
export const VM_FAULT_SIGSEGV = 0x000040;
export const VM_FAULT_NOPAGE = 0x000100;
export const VM_FAULT_LOCKED = 0x000200;
export const VM_FAULT_RETRY = 0x000400;
export const VM_FAULT_ERROR = VM_FAULT_OOM | VM_FAULT_SIGBUS | VM_FAULT_SIGSEGV;

export interface DevPagemapOps {
  /** Called once the page refcount reaches 0 (seed 000 patch 02). */
  pageFree(page: Page): void;
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
  /** Set by memremap_pages() while mapped. */
  live?: boolean;
}

export const rangeLen = (r: { start: number; end: number }): number => r.end - r.start + 1;

/**
 * Model of memremap_pages(): create struct pages for the range and register
 * the pgmap. Returns the start address or an ERR_PTR, after the checks the
 * kernel makes (missing ops for PRIVATE/COHERENT, a conflicting pgmap, a
 * range that is System RAM).
 */
export function memremapPages(k: Kernel, pgmap: DevPagemap): ErrPtr<number> {
  switch (pgmap.type) {
    case MEMORY_DEVICE_PRIVATE:
      if (k.warn(!pgmap.ops?.migrateToRam, 'memremap_pages', 'Missing migrate_to_ram method')) return ERR_PTR(-EINVAL);
      if (k.warn(!pgmap.ops?.pageFree, 'memremap_pages', 'Missing page_free method')) return ERR_PTR(-EINVAL);
      if (k.warn(!pgmap.owner, 'memremap_pages', 'Missing owner')) return ERR_PTR(-EINVAL);
      break;
    case MEMORY_DEVICE_COHERENT:
      if (k.warn(!pgmap.ops?.pageFree, 'memremap_pages', 'Missing page_free method')) return ERR_PTR(-EINVAL);
      if (k.warn(!pgmap.owner, 'memremap_pages', 'Missing owner')) return ERR_PTR(-EINVAL);
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
  // memmap_init_zone_device(): the pages start with refcount 0 (typed arrays start zeroed).
  k.memmap.addRange(physToPfn(start), physToPfn(end + 1), pgmap);
  pgmap.live = true;
  k.pgmaps.push(pgmap);
  return start;
}

/**
 * Model of memunmap_pages(). The kernel waits here until every page of the
 * pgmap is free; a page still referenced would hang it. The model reports
 * such pages (a WARN naming them) and returns how many there were.
 */
export function memunmapPages(k: Kernel, pgmap: DevPagemap): number {
  const first = physToPfn(pgmap.range.start), last = physToPfn(pgmap.range.end + 1);
  let busy = 0, firstBusy = 0;
  // Block by block: a block without a page in use holds only free pages (refcount 0).
  for (let base = first - Memmap.slot(first); base < last; base += MEMBLOCK_PAGES) {
    if (!k.memmap.devBlockInUse(base)) continue;
    const b = k.memmap.block(base);
    for (let i = Math.max(first - base, 0), n = Math.min(last - base, MEMBLOCK_PAGES); i < n; i++) {
      if (b.refcount[i] !== 0 && busy++ === 0) firstBusy = base + i;
    }
  }
  k.warn(busy > 0, 'memunmap_pages',
    `${busy} device page(s) still in use (first pfn 0x${firstBusy.toString(16)}): the pgmap reference never drops`);
  k.memmap.removeRange(first, last);
  pgmap.live = false;
  k.pgmaps.splice(k.pgmaps.indexOf(pgmap), 1);
  return busy;
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
/** The seed's is_device_generic_page() (000 patch 06). */
export function isDeviceGenericPage(k: Kernel, page: Page): boolean {
  return k.memmap.block(page).pgmap?.type === MEMORY_DEVICE_GENERIC;
}
/**
 * Model of the seed's is_device_page() (000 patch 06): a ZONE_DEVICE page that
 * migrate_vma_* may move, PRIVATE or GENERIC (and upstream's COHERENT).
 */
export function isDevicePage(k: Kernel, page: Page): boolean {
  const t = k.memmap.block(page).pgmap?.type;
  return t === MEMORY_DEVICE_PRIVATE || t === MEMORY_DEVICE_GENERIC || t === MEMORY_DEVICE_COHERENT;
}

/**
 * Model of zone_device_page_init() (the seed open-codes it in the driver as
 * init_page_count() + lock_page()): hand a free device page out with
 * refcount 1, locked. A page that is not free is a driver bug.
 */
export function zoneDevicePageInit(k: Kernel, page: Page): void {
  const b = k.memmap.block(page), i = Memmap.slot(page);
  if (!b.pgmap?.live) k.warn(true, 'zone_device_page_init', `pfn 0x${page.toString(16)}: pgmap is not live`);
  if (b.refcount[i] !== 0) k.warn(true, 'zone_device_page_init', `pfn 0x${page.toString(16)} handed out with refcount ${b.refcount[i]}`);
  b.refcount[i] = 1;
  b.flags[i] |= PG_locked;
  b.pgmapRef++; // percpu_ref_tryget_live(&pgmap->ref)
}

/**
 * Model of free_zone_device_page() (seed 000 patches 02 and 08; 6.12's
 * free_zone_device_folio()): the refcount reached 0. PRIVATE, GENERIC and
 * COHERENT pages lose their stale anon mapping and go back to the driver.
 */
export function freeZoneDevicePage(k: Kernel, page: Page): void {
  const b = k.memmap.block(page), i = Memmap.slot(page);
  const pgmap = b.pgmap!;
  switch (pgmap.type) {
    case MEMORY_DEVICE_FS_DAX:
      return;
    case MEMORY_DEVICE_PRIVATE:
    case MEMORY_DEVICE_GENERIC:
    case MEMORY_DEVICE_COHERENT:
      if (k.warn(!pgmap.ops?.pageFree, 'free_zone_device_page', 'no page_free method')) return;
      if ((b.flags[i] & PG_locked) !== 0) k.warn(true, 'free_zone_device_page', `pfn 0x${page.toString(16)} freed while locked`);
      if (b.mapcount[i] !== 0) k.warn(true, 'free_zone_device_page', `pfn 0x${page.toString(16)} freed while mapped`);
      b.flags[i] &= ~(PG_anon | PG_anon_exclusive);
      b.mapping[i] = 0;
      pgmap.ops!.pageFree(page);
      BUG_ON(b.pgmapRef <= 0, 'put_dev_pagemap', () => `pfn 0x${page.toString(16)}: the pgmap reference count of its block underflows`);
      b.pgmapRef--; // put_dev_pagemap()
      return;
  }
}
