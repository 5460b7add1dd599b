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
import { Memmap, type Page, PAGE_SIZE, physToPfn, PG_buddy, PG_locked, PG_reserved, PG_lru, PG_anon, PG_anon_exclusive,
  PG_dirty, PG_uptodate, PG_swapbacked, PG_head, PG_tail, PG_compound, PG_ORDER_SHIFT, MEMBLOCK_PAGES } from './page.js';
import { freeZoneDevicePage, zoneDeviceFreeRefcount } from './memremap.js';
import { outOfMemory } from './oom_kill.js';
import type { MmStruct } from './mm.js';

const hex = (n: number) => `0x${n.toString(16)}`;

/** Model of totalram_pages(): the machine's System RAM, in pages. */
export function totalramPages(k: Kernel): number {
  let ram = 0;
  for (const e of k.machine.memoryMap) if (e.type === 'System RAM') ram += Math.floor(e.size / PAGE_SIZE);
  return ram;
}

/**
 * The fields struct folio keeps in its second struct page (_large_mapcount,
 * _entire_mapcount, _nr_pages_mapped) and the hugetlb page type, for one
 * large folio. One record per folio (per 2 MiB), never per page. Counts are
 * real counts here, not C's "minus one" encoding.
 */
export class LargeFolio {
  /** _entire_mapcount: PMD (or hugetlb) mappings of the whole folio. */
  entireMapcount = 0;
  /** _large_mapcount: every mapping of any part, PMD or PTE: folio_mapcount(). */
  largeMapcount = 0;
  /** _nr_pages_mapped without ENTIRELY_MAPPED: pages mapped by at least one PTE. */
  nrPagesMapped = 0;
  /** folio_test_hugetlb(): freed to the hugetlb pool (free_huge_folio()), not to the buddy allocator. */
  hugetlb = false;
  /** _pincount: FOLL_PIN pins of the folio (a large folio's pins are counted here, not by GUP_PIN_COUNTING_BIAS). */
  pincount = 0;
  constructor(readonly order: number) {}
}

export class PageAllocator {
  private readonly ranges: Array<{ next: number; end: number }> = [];
  private free = new Int32Array(4096);
  private nrFree = 0;
  /** Free blocks of 2^order pages by order (the buddy free_area[order] lists; no merging of order-0 pages back). */
  private readonly freeBlocks = new Map<number, number[]>();
  /** The large folios handed out or in the hugetlb pool, by head pfn. */
  readonly large = new Map<number, LargeFolio>();
  /** Pages handed out and not yet freed. */
  nrAllocated = 0;
  /** All allocations ever, for statistics. */
  totalAllocs = 0;
  /** Fault injection: fail allocations once this many more have succeeded (-1: never). */
  failAfter = -1;
  /**
   * The last failed allocation was injected (failAfter, Kernel.inject.shouldFailAllocPage): as
   * should_fail_alloc_page() in prepare_alloc_pages(), it failed before reclaim and the OOM killer.
   */
  lastFailInjected = false;

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
    if (this.failAfter === 0 || this.k.inject.shouldFailAllocPage?.(0)) return this.injectedFailure();
    this.lastFailInjected = false;
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

  private injectedFailure(): Page {
    this.lastFailInjected = true;
    return 0;
  }

  /** A block of 2^order pages aligned to its size, from the free lists or the bump pointer; 0 if none. */
  private takeBlock(order: number): number {
    const nr = 1 << order;
    const list = this.freeBlocks.get(order);
    if (list !== undefined && list.length > 0) return list.pop()!;
    for (const r of this.ranges) {
      const first = Math.ceil(r.next / nr) * nr;
      if (first + nr > r.end) continue;
      // The pages skipped to align the block are free order-0 pages.
      for (let p = r.next; p < first; p++) this.pushFree(p);
      r.next = first + nr;
      return first;
    }
    return 0;
  }

  /**
   * Model of folio_alloc(gfp, order) for order > 0 (__alloc_pages() then
   * prep_compound_page()): a large folio of 2^order naturally aligned pages,
   * head refcount 1, tails 0, every page counted in nrAllocated; NULL (0)
   * when no block is left. Orders up to 9 (a 2 MiB memmap block).
   */
  allocFolio(order: number): Page {
    BUG_ON(order < 1 || (1 << order) > MEMBLOCK_PAGES, 'folio_alloc', () => `order ${order} is not modelled`);
    if (this.failAfter === 0 || this.k.inject.shouldFailAllocPage?.(order)) return this.injectedFailure();
    this.lastFailInjected = false;
    if (this.failAfter > 0) this.failAfter--;
    const head = this.takeBlock(order);
    if (head === 0) return 0;
    this.prepCompoundPage(head, order);
    this.k.memmap.block(head).refcount[Memmap.slot(head)] = 1;
    this.nrAllocated += 1 << order;
    this.totalAllocs++;
    return head;
  }

  /**
   * Carve a 2^order block out of RAM before the page allocator hands any of
   * it out, never counted in nrAllocated (the memblock allocation behind
   * the hugepages= boot parameter: alloc_bootmem_huge_page()). The block
   * is prepared as a large folio with refcount 0.
   */
  bootmemAllocFolio(order: number): Page {
    const nr = 1 << order;
    for (let j = this.ranges.length - 1; j >= 0; j--) {
      const r = this.ranges[j];
      const head = Math.floor((r.end - nr) / nr) * nr;
      if (head < r.next) continue;
      // The tail above the block stays with the allocator as free pages.
      for (let p = head + nr; p < r.end; p++) this.pushFree(p);
      r.end = head;
      this.prepCompoundPage(head, order);
      return head;
    }
    return 0;
  }

  /** Model of prep_compound_page() for a block the caller owns (a device folio: zone_device_folio_init()). */
  prepCompoundFolio(head: Page, order: number): void {
    this.prepCompoundPage(head, order);
  }

  /**
   * Model of folio_reset_order() with clear_compound_head() of every tail: the
   * folio's pages become order-0 pages (their other flags kept), its record goes.
   */
  folioResetOrder(head: Page): void {
    const f = this.large.get(head);
    if (f === undefined) return;
    const b = this.k.memmap.block(head), s = Memmap.slot(head), nr = 1 << f.order;
    for (let i = 0; i < nr; i++) b.flags[s + i] &= ~(PG_compound | (0x1f << PG_ORDER_SHIFT));
    this.large.delete(head);
  }

  /** Model of prep_compound_page(): head and tail flags with the order, a fresh folio record. */
  private prepCompoundPage(head: Page, order: number): void {
    const b = this.k.memmap.block(head), s = Memmap.slot(head), nr = 1 << order;
    const ord = order << PG_ORDER_SHIFT;
    for (let i = 0; i < nr; i++) {
      b.flags[s + i] = (i === 0 ? PG_head : PG_tail) | ord;
      b.refcount[s + i] = 0;
      b.mapcount[s + i] = 0;
      b.mapping[s + i] = 0;
      b.index[s + i] = 0;
      b.zdd[s + i] = 0;
    }
    this.large.set(head, new LargeFolio(order));
  }

  /**
   * Model of __free_pages() of a large folio at refcount zero
   * (free_pages_prepare() checks every page, then the block goes back
   * whole). keep: the block stays a prepared folio, off the allocator (a
   * hugetlb pool page); otherwise it returns to the free lists.
   */
  freeFolio(head: Page): void {
    const f = this.large.get(head);
    BUG_ON(f === undefined, 'free_pages_prepare', () => `pfn ${hex(head)} is not the head of a large folio`);
    const b = this.k.memmap.block(head), s = Memmap.slot(head), nr = 1 << f!.order;
    if (f!.entireMapcount !== 0 || f!.largeMapcount !== 0 || f!.nrPagesMapped !== 0) {
      throw new KernelBug('BUG', 'free_page_is_bad', `Bad page state: pfn ${hex(head)} nonzero entire_mapcount ${f!.entireMapcount}, large_mapcount ${f!.largeMapcount}, nr_pages_mapped ${f!.nrPagesMapped}`);
    }
    for (let i = 0; i < nr; i++) {
      const bad = badPageReason(b.flags[s + i] & ~PG_compound, b.refcount[s + i], b.mapcount[s + i], b.mapping[s + i]);
      if (bad) throw new KernelBug('BUG', 'free_page_is_bad', `Bad page state: pfn ${hex(head + i)} ${bad}`);
      this.k.pageData.drop(b.dataSlot, s + i);
    }
    if (f!.hugetlb) return;
    for (let i = 0; i < nr; i++) { b.flags[s + i] = PG_buddy; b.zdd[s + i] = 0; }
    this.large.delete(head);
    let list = this.freeBlocks.get(f!.order);
    if (list === undefined) this.freeBlocks.set(f!.order, list = []);
    list.push(head);
    this.nrAllocated -= nr;
  }

  /** Model of free_unref_page()/__free_pages() at refcount zero: checks the page is really unused (free_page_is_bad()). */
  freePage(pfn: Page): void {
    const b = this.k.memmap.block(pfn), i = Memmap.slot(pfn);
    const bad = badPageReason(b.flags[i], b.refcount[i], b.mapcount[i], b.mapping[i]);
    if (bad) throw new KernelBug('BUG', 'free_page_is_bad', `Bad page state: pfn ${hex(pfn)} ${bad}`);
    this.k.pageData.drop(b.dataSlot, i);
    b.flags[i] = PG_buddy;
    b.zdd[i] = 0;
    this.pushFree(pfn);
    this.nrAllocated--;
  }

  private pushFree(pfn: number): void {
    if (this.nrFree === this.free.length) {
      const bigger = new Int32Array(this.free.length * 2);
      bigger.set(this.free);
      this.free = bigger;
    }
    this.free[this.nrFree++] = pfn;
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
/** Model of page_mapcount() (6.12): the page's PTE mappings plus, in a large folio, the folio's PMD mappings. */
export function pageMapcount(k: Kernel, page: Page): number {
  const b = k.memmap.block(page), i = Memmap.slot(page);
  if (!(b.flags[i] & PG_compound)) return b.mapcount[i];
  return b.mapcount[i] + k.pageAlloc.large.get(compoundHead(k, page))!.entireMapcount;
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
  if (b.flags[i] & PG_tail) return getPage(k, compoundHead(k, page));
  BUG_ON(b.refcount[i] <= 0, 'get_page', () => `pfn ${hex(page)} has refcount ${b.refcount[i]} (VM_BUG_ON_PAGE(page_ref_zero_or_close_to_overflow))`);
  b.refcount[i]++;
}

/** Model of get_page_unless_zero(). */
export function getPageUnlessZero(k: Kernel, page: Page): boolean {
  const b = k.memmap.block(page), i = Memmap.slot(page);
  if (b.flags[i] & PG_tail) return getPageUnlessZero(k, compoundHead(k, page));
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
  if (b.flags[i] & (PG_reserved | PG_tail)) {
    if (b.flags[i] & PG_reserved) return; // the zero pages are not refcounted here
    return putPage(k, compoundHead(k, page)); // folio_put(page_folio(page))
  }
  BUG_ON(b.refcount[i] <= 0, 'put_page', () => `refcount underflow on pfn ${hex(page)}`);
  const left = --b.refcount[i];
  if (b.pgmap !== null) {
    // Before seed 000 patch 02, put_devmap_managed_page() freed a device page at refcount 1 (and seed 004's PUBLIC pages).
    if (left === zoneDeviceFreeRefcount(k, b.pgmap)) freeZoneDevicePage(k, page);
    return;
  }
  if (left > 0) return;
  // __folio_put(): an anon folio's mapping is cleared when it is freed.
  b.mapping[i] = 0;
  b.flags[i] &= ~(PG_anon | PG_anon_exclusive | PG_dirty | PG_uptodate | PG_swapbacked | PG_lru);
  if (b.flags[i] & PG_head) {
    // free_huge_folio() for hugetlb (back to the pool), else the large folio goes back whole.
    if (k.pageAlloc.large.get(page)!.hugetlb) k.hugetlb.freeHugeFolio(page);
    else k.pageAlloc.freeFolio(page);
    return;
  }
  k.pageAlloc.freePage(page);
}

/* ---- large folios (include/linux/mm.h, page-flags.h) ---- */

/** Model of compound_head()/page_folio(): the head pfn of page's folio (page itself for an order-0 page). */
export function compoundHead(k: Kernel, page: Page): Page {
  const f = k.memmap.block(page).flags[Memmap.slot(page)];
  if (!(f & PG_tail)) return page;
  const nr = 1 << (f >> PG_ORDER_SHIFT);
  return page - (page % nr);
}

/** Model of folio_order() of page_folio(page): 0 for an order-0 page. */
export function folioOrder(k: Kernel, page: Page): number {
  const f = k.memmap.block(page).flags[Memmap.slot(page)];
  return (f & PG_compound) ? f >> PG_ORDER_SHIFT : 0;
}

/** Model of folio_test_large(page_folio(page)) / PageTransCompound(). */
export function folioTestLarge(k: Kernel, page: Page): boolean {
  return (k.memmap.block(page).flags[Memmap.slot(page)] & PG_compound) !== 0;
}

/** The struct folio fields of page's large folio (its second struct page in C); undefined for order 0. */
export function largeFolio(k: Kernel, page: Page): LargeFolio | undefined {
  return folioTestLarge(k, page) ? k.pageAlloc.large.get(compoundHead(k, page)) : undefined;
}

/** Model of folio_mapcount(page_folio(page)): every page table entry that maps any part of the folio. */
export function folioMapcount(k: Kernel, page: Page): number {
  const f = largeFolio(k, page);
  return f === undefined ? pageMapcount(k, page) : f.largeMapcount;
}

/** Model of folio_test_anon(page_folio(page)) / PageAnon(): a tail page's PG_anon is its head's. */
export function folioTestAnon(k: Kernel, page: Page): boolean {
  return testPageFlag(k, compoundHead(k, page), PG_anon);
}

/** Model of folio_entire_mapcount(): PMD mappings of the folio. */
export function folioEntireMapcount(k: Kernel, page: Page): number {
  return largeFolio(k, page)?.entireMapcount ?? 0;
}

/** Model of folio_ref_count(page_folio(page)). */
export function folioRefCount(k: Kernel, page: Page): number {
  return pageRefCount(k, compoundHead(k, page));
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

/** The key of a folio's lock in a preemption point's holds (Sched.point()): its pfn, stable within a run. */
export const folioLockKey = (page: Page): string => `folio ${hex(page)}`;

/**
 * Model of lock_page(). The model runs one thread at a time, so a page that
 * is already locked would never be unlocked: that is a deadlock, reported;
 * unless, in explore mode, the preempted stack thread holds it at its point
 * (Sched.sleepOn(): the running thread is blocked).
 */
export function lockPage(k: Kernel, page: Page): void {
  if (trylockPage(k, page)) return;
  k.sched.sleepOn(folioLockKey(page));
  BUG_ON(true, 'lock_page', () => `pfn ${hex(page)} is already locked: this would sleep forever`);
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

/** GUP_PIN_COUNTING_BIAS (include/linux/mm.h): one FOLL_PIN of a small folio counts this much in its refcount. */
export const GUP_PIN_COUNTING_BIAS = 1 << 10;

/**
 * Model of folio_maybe_dma_pinned(page_folio(page)): a large folio's pins
 * are its _pincount (its refcount counts every pte that maps it, so the bias
 * says nothing there); a small folio's refcount only gets this high by a pin.
 */
export function folioMaybeDmaPinned(k: Kernel, page: Page): boolean {
  const f = largeFolio(k, page);
  if (f !== undefined) return f.pincount > 0;
  return pageRefCount(k, page) >= GUP_PIN_COUNTING_BIAS;
}

/**
 * Model of alloc_page_vma(GFP_HIGHUSER_MOVABLE, vma, addr) for a page of
 * `mm` (mm/mempolicy.c; no NUMA policy here). When no page is left the
 * allocator runs the OOM killer (__alloc_pages_may_oom() ->
 * out_of_memory(), oom_kill.ts) and tries again, since the victim's exit
 * may have given pages back; an OOM victim's own allocation fails (NULL),
 * and so does an injected failure (fail_page_alloc fails the allocation
 * before reclaim, without the killer).
 */
export function allocPageVma(k: Kernel, mm: MmStruct): Page {
  const page = k.pageAlloc.allocPage();
  if (page !== 0 || mm.oomVictim || k.pageAlloc.lastFailInjected) return page;
  outOfMemory(k, mm);
  return mm.oomVictim ? 0 : k.pageAlloc.allocPage();
}
