// SPDX-License-Identifier: GPL-2.0-only
/*
 * Model of the page allocator (mm/page_alloc.c) and the struct page
 * reference helpers (include/linux/mm.h, mm/swap.c): alloc_page(),
 * __free_page(), get_page(), put_page(), lock_page().
 *
 * Every page handed out is counted; a page given back while still mapped,
 * locked or referenced is reported like the kernel's "Bad page state".
 * Pages come from a bump pointer over the RAM ranges and a LIFO of freed
 * pfns, so a run touches few memmap blocks.
 */
import { BUG_ON, KernelBug } from './bug.js';
import type { Kernel } from './kernel.js';
import { Memmap, type Page, physToPfn, PG_buddy, PG_locked, PG_reserved, PG_lru, PG_anon, PG_anon_exclusive,
  PG_dirty, PG_uptodate, PG_swapbacked } from './page.js';
import { freeZoneDevicePage } from './memremap.js';

const hex = (n: number) => `0x${n.toString(16)}`;

export class PageAllocator {
  private readonly ranges: Array<{ next: number; end: number }> = [];
  private free = new Int32Array(4096);
  private nrFree = 0;
  /** Pages handed out and not yet freed. */
  nrAllocated = 0;
  /** All allocations ever, for statistics. */
  totalAllocs = 0;
  /** Fault injection: fail allocations once this many more have succeeded (-1: never). */
  failAfter = -1;

  constructor(private readonly k: Kernel, ram: Array<[number, number]>, imageStart: number, imageEnd: number) {
    for (const [s, e] of ram) {
      const first = physToPfn(s + 4095), last = physToPfn(e);
      // Skip pfn 0 (NULL) and the kernel image.
      if (first < imageStart && last > imageEnd) {
        this.ranges.push({ next: Math.max(first, 1), end: imageStart });
        this.ranges.push({ next: imageEnd, end: last });
      } else {
        this.ranges.push({ next: Math.max(first, 1), end: last });
      }
    }
  }

  /** Model of alloc_page(): a page with refcount 1, or NULL (0) when memory is exhausted. */
  allocPage(): Page {
    if (this.failAfter === 0) return 0;
    if (this.failAfter > 0) this.failAfter--;
    let pfn = 0;
    if (this.nrFree > 0) {
      pfn = this.free[--this.nrFree];
    } else {
      for (const r of this.ranges) {
        if (r.next < r.end) { pfn = r.next++; break; }
      }
      if (pfn === 0) return 0;
    }
    const b = this.k.memmap.block(pfn), i = Memmap.slot(pfn);
    b.flags[i] = 0;
    b.refcount[i] = 1;
    b.mapcount[i] = 0;
    b.mapping[i] = 0;
    b.index[i] = 0;
    b.zdd[i] = 0;
    this.nrAllocated++;
    this.totalAllocs++;
    return pfn;
  }

  /** Model of free_unref_page()/__free_pages() at refcount zero: checks the page is really unused (free_page_is_bad()). */
  freePage(pfn: Page): void {
    const b = this.k.memmap.block(pfn), i = Memmap.slot(pfn);
    const bad = badPageReason(b.flags[i], b.refcount[i], b.mapcount[i], b.mapping[i]);
    if (bad) throw new KernelBug('BUG', 'free_page_is_bad', `Bad page state: pfn ${hex(pfn)} ${bad}`);
    if (b.dataSlot[i] >= 0) {
      this.k.pageData.release(b.dataSlot[i]);
      b.dataSlot[i] = -1;
    }
    b.flags[i] = PG_buddy;
    b.zdd[i] = 0;
    if (this.nrFree === this.free.length) {
      const bigger = new Int32Array(this.free.length * 2);
      bigger.set(this.free);
      this.free = bigger;
    }
    this.free[this.nrFree++] = pfn;
    this.nrAllocated--;
  }
}

function badPageReason(flags: number, ref: number, map: number, mapping: number): string {
  if (flags & PG_buddy) return 'double free (already on the free list)';
  if (flags & PG_reserved) return 'PG_reserved set';
  if (ref !== 0) return `nonzero _refcount ${ref}`;
  if (map !== 0) return `nonzero mapcount ${map}`;
  if (flags & PG_locked) return 'PG_locked set';
  if (flags & PG_lru) return 'PG_lru set';
  if (mapping !== 0 && !(flags & PG_anon)) return 'non-NULL mapping';
  return '';
}

/* ---- struct page helpers (include/linux/mm.h, page_ref.h, pagemap.h) ---- */

export function pageRefCount(k: Kernel, page: Page): number {
  return k.memmap.block(page).refcount[Memmap.slot(page)];
}
export function pageMapcount(k: Kernel, page: Page): number {
  return k.memmap.block(page).mapcount[Memmap.slot(page)];
}
/**
 * Model of folio_mapcount(): how many page table entries map any page of
 * the folio. Every folio is order-0 so far, so it is the page's mapcount;
 * callers that mean the folio use this, so large folios follow.
 */
export function folioMapcount(k: Kernel, folio: Page): number {
  return pageMapcount(k, folio);
}
export function testPageFlag(k: Kernel, page: Page, flag: number): boolean {
  return (k.memmap.block(page).flags[Memmap.slot(page)] & flag) !== 0;
}
export function setPageFlag(k: Kernel, page: Page, flag: number): void {
  k.memmap.block(page).flags[Memmap.slot(page)] |= flag;
}
export function clearPageFlag(k: Kernel, page: Page, flag: number): void {
  k.memmap.block(page).flags[Memmap.slot(page)] &= ~flag;
}

/** Model of get_page()/folio_get(): taking a reference on a free page is a kernel bug. */
export function getPage(k: Kernel, page: Page): void {
  const b = k.memmap.block(page), i = Memmap.slot(page);
  BUG_ON(b.refcount[i] <= 0, 'get_page', () => `pfn ${hex(page)} has refcount ${b.refcount[i]} (VM_BUG_ON_PAGE(page_ref_zero_or_close_to_overflow))`);
  b.refcount[i]++;
}

/** Model of get_page_unless_zero(). */
export function getPageUnlessZero(k: Kernel, page: Page): boolean {
  const b = k.memmap.block(page), i = Memmap.slot(page);
  if (b.refcount[i] === 0) return false;
  b.refcount[i]++;
  return true;
}

/**
 * Model of put_page()/folio_put(): the last reference frees the page, to the
 * page allocator or, for ZONE_DEVICE pages, through free_zone_device_page()
 * to the driver's page_free (mm/swap.c:__folio_put(), seed 000 patch 02).
 */
export function putPage(k: Kernel, page: Page): void {
  const b = k.memmap.block(page), i = Memmap.slot(page);
  if (b.flags[i] & PG_reserved) return; // the zero page is not refcounted here
  BUG_ON(b.refcount[i] <= 0, 'put_page', () => `refcount underflow on pfn ${hex(page)}`);
  if (--b.refcount[i] > 0) return;
  if (b.pgmap !== null) {
    freeZoneDevicePage(k, page);
    return;
  }
  // __folio_put(): an anon folio's mapping is cleared when it is freed.
  b.mapping[i] = 0;
  b.flags[i] &= ~(PG_anon | PG_anon_exclusive | PG_dirty | PG_uptodate | PG_swapbacked | PG_lru);
  k.pageAlloc.freePage(page);
}

/** Model of set_page_count()/init_page_count(). */
export function setPageCount(k: Kernel, page: Page, v: number): void {
  k.memmap.block(page).refcount[Memmap.slot(page)] = v;
}

/** Model of trylock_page()/folio_trylock(). */
export function trylockPage(k: Kernel, page: Page): boolean {
  const b = k.memmap.block(page), i = Memmap.slot(page);
  if (b.flags[i] & PG_locked) return false;
  b.flags[i] |= PG_locked;
  return true;
}

/**
 * Model of lock_page(). The model runs one thread at a time, so a page that
 * is already locked would never be unlocked: that is a deadlock, reported.
 */
export function lockPage(k: Kernel, page: Page): void {
  BUG_ON(!trylockPage(k, page), 'lock_page', () => `pfn ${hex(page)} is already locked: this would sleep forever`);
}

/** Model of unlock_page()/folio_unlock(). */
export function unlockPage(k: Kernel, page: Page): void {
  const b = k.memmap.block(page), i = Memmap.slot(page);
  BUG_ON(!(b.flags[i] & PG_locked), 'folio_unlock', () => `pfn ${hex(page)} is not locked (VM_BUG_ON_FOLIO(!folio_test_locked(folio)))`);
  b.flags[i] &= ~PG_locked;
}

/** Model of is_zone_device_page(). */
export function isZoneDevicePage(k: Kernel, page: Page): boolean {
  return k.memmap.block(page).pgmap !== null;
}
