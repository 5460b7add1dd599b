// SPDX-License-Identifier: GPL-2.0-only
/*
 * struct page, stored compactly.
 *
 * In Linux: struct page lives in the vmemmap array and a `struct page *` is
 * an address in it. Here: a page is named by its pfn (a plain number, the
 * `Page` type) and its fields live in typed arrays, one MemBlock per 512
 * pfns (2 MiB, a memory subsection), created the first time a pfn in it is
 * used. pfn 0 is never handed out (the first page of physical memory is
 * reserved on x86 too), so 0 doubles as NULL.
 *
 * Per page: refcount 4 B, mapcount 4 B, flags 2 B, data slot 4 B,
 * zone_device_data 8 B, mapping 4 B, index 8 B = 34 bytes; per block, the
 * count of its device pages in use (pgmapRef).
 */
import { BUG_ON } from './bug.js';
import type { DevPagemap } from './memremap.js';

export const PAGE_SHIFT = 12;
export const PAGE_SIZE = 4096;
export const PMD_SHIFT = 21;
export const PMD_SIZE = 1 << PMD_SHIFT;
export const PUD_SHIFT = 30;
export const PUD_SIZE = 2 ** PUD_SHIFT;
export const PTRS_PER_PTE = 512;

/** A struct page pointer: the pfn, 0 for NULL. */
export type Page = number;
export const NULL_PAGE: Page = 0;

/** page_to_phys()/PFN_PHYS() and PHYS_PFN() on addresses above 4 GiB (no 32-bit shifts). */
export const pfnToPhys = (pfn: number): number => pfn * PAGE_SIZE;
export const physToPfn = (phys: number): number => Math.floor(phys / PAGE_SIZE);
/** addr & PAGE_MASK, for user addresses up to 2^47. */
export const pageAlign = (addr: number): number => addr - (addr % PAGE_SIZE);
export const isPageAligned = (addr: number): boolean => addr % PAGE_SIZE === 0;

/* Page flags (include/linux/page-flags.h), the ones the model uses. */
export const PG_locked = 1 << 0;
export const PG_uptodate = 1 << 1;
export const PG_dirty = 1 << 2;
export const PG_lru = 1 << 3;
export const PG_reserved = 1 << 4;
/** folio_test_anon(): in C the low bit of page->mapping. */
export const PG_anon = 1 << 5;
export const PG_anon_exclusive = 1 << 6;
export const PG_swapbacked = 1 << 7;
/** On the page allocator's free list (PageBuddy). */
export const PG_buddy = 1 << 8;
/** First page of a large folio (PG_head). */
export const PG_head = 1 << 9;
/** Any other page of a large folio (in C: compound_head with bit 0 set). */
export const PG_tail = 1 << 10;
/** Bits 11..15 of every page of a large folio hold the folio's order (folio_order(), _flags_1 in C). */
export const PG_ORDER_SHIFT = 11;
/** PageTransCompound()/folio_test_large() on one page's flags. */
export const PG_compound = PG_head | PG_tail;

/** HPAGE_PMD_ORDER/HPAGE_PMD_NR: a PMD maps 2 MiB, order 9 (x86_64). */
export const HPAGE_PMD_ORDER = 9;
export const HPAGE_PMD_NR = 1 << HPAGE_PMD_ORDER;

export const MEMBLOCK_SHIFT = 9;
export const MEMBLOCK_PAGES = 1 << MEMBLOCK_SHIFT;
const MEMBLOCK_MASK = MEMBLOCK_PAGES - 1;

/** Bytes of one MemBlock's fields, laid out 8-byte fields first in one ArrayBuffer. */
export const MEMBLOCK_BYTES = MEMBLOCK_PAGES * (8 + 8 + 4 + 4 + 4 + 4 + 2);

/**
 * Where MemBlocks get their buffers: the host memory keeps those of
 * removed blocks (zeroed) for the next block, across the kernels of a run
 * (page_data.ts's HostMemory), so struct pages cost no host allocation
 * once a run has had as many.
 */
export interface MemBlockBuffers {
  takeBlockBuffer(): ArrayBuffer;
  /** Take back a block no kernel uses any more, and the page contents its pages still hold. */
  giveBlock(b: MemBlock): void;
}

/** 512 struct pages, their fields in one ArrayBuffer (one allocation per block). */
export class MemBlock {
  /** page->zone_device_data, a KPtr (see Kernel.kptr). */
  readonly zdd: Float64Array;
  /** page->index: for anon pages the virtual page number it was first mapped at. */
  readonly index: Float64Array;
  /** page->_refcount. ZONE_DEVICE pages are 0 while free (seed 000 patch 02). */
  readonly refcount: Int32Array;
  /** page_mapcount(): how many page table entries map the page (C stores this minus one). */
  readonly mapcount: Int32Array;
  /** Which PageDataPool slot holds the contents; -1: none yet (reads as zeroes). */
  readonly dataSlot: Int32Array;
  /** page->mapping: an object id in the kernel's table (an AnonVma), 0 for NULL. */
  readonly mapping: Int32Array;
  readonly flags: Uint16Array;
  /**
   * ZONE_DEVICE blocks: how many of the block's pages hold a reference on
   * their dev_pagemap (6.12: zone_device_page_init() takes one on
   * pgmap->ref, free_zone_device_folio() drops it with put_dev_pagemap()
   * for PRIVATE and COHERENT pages; the model frees the seed's GENERIC
   * pages the same way, memremap.ts).
   * A device page's refcount leaves 0 only through zone_device_page_init(),
   * so a block at 0 has only free pages: whole-range scans skip it.
   */
  pgmapRef = 0;
  /** `buf` is MEMBLOCK_BYTES of zeroes. */
  constructor(readonly basePfn: number, readonly pgmap: DevPagemap | null, readonly buf: ArrayBuffer = new ArrayBuffer(MEMBLOCK_BYTES)) {
    const n = MEMBLOCK_PAGES;
    this.zdd = new Float64Array(buf, 0, n);
    this.index = new Float64Array(buf, 8 * n, n);
    this.refcount = new Int32Array(buf, 16 * n, n);
    this.mapcount = new Int32Array(buf, 20 * n, n);
    this.dataSlot = new Int32Array(buf, 24 * n, n).fill(-1);
    this.mapping = new Int32Array(buf, 28 * n, n);
    this.flags = new Uint16Array(buf, 32 * n, n);
  }
}

/**
 * The vmemmap, sparse. Ranges of pfns that have struct pages are declared
 * (system RAM at boot, device memory by memremap_pages()); the MemBlocks of
 * a range are created the first time one of their pfns is used, so a
 * machine with gigabytes of RAM costs only what the run touches.
 */
export class Memmap {
  private readonly blocks = new Map<number, MemBlock>();
  private readonly ranges: Array<{ start: number; end: number; pgmap: DevPagemap | null }> = [];
  /**
   * The four blocks found last (first pfn, block), replaced in turn:
   * per-page loops walk consecutive pfns, and a migration alternates
   * between the source's, the destination's and the backing pages' blocks.
   */
  private base0 = -2 * MEMBLOCK_PAGES;
  private base1 = -2 * MEMBLOCK_PAGES;
  private base2 = -2 * MEMBLOCK_PAGES;
  private base3 = -2 * MEMBLOCK_PAGES;
  private blk0: MemBlock | null = null;
  private blk1: MemBlock | null = null;
  private blk2: MemBlock | null = null;
  private blk3: MemBlock | null = null;
  private victim = 0;
  /** Behind them, a direct-mapped cache of blocks by key, before the Map. */
  private readonly cacheKeys = new Float64Array(16).fill(-1);
  private readonly cacheBlocks: Array<MemBlock | null> = new Array<MemBlock | null>(16).fill(null);

  constructor(private readonly buffers: MemBlockBuffers | null = null) {}

  /** Declare struct pages for [startPfn, endPfn) (sparse_add_section(), memmap_init_zone_device()). */
  addRange(startPfn: number, endPfn: number, pgmap: DevPagemap | null): void {
    BUG_ON(startPfn % MEMBLOCK_PAGES !== 0 || endPfn % MEMBLOCK_PAGES !== 0, 'sparse_add_section',
      () => `range [0x${startPfn.toString(16)}, 0x${endPfn.toString(16)}) is not 2 MiB aligned`);
    BUG_ON(this.ranges.some((r) => r.start < endPfn && startPfn < r.end), 'sparse_add_section',
      () => `pfns [0x${startPfn.toString(16)}, 0x${endPfn.toString(16)}) already have a memmap`);
    this.ranges.push({ start: startPfn, end: endPfn, pgmap });
    this.ranges.sort((a, b) => a.start - b.start);
  }

  /** Drop the struct pages of a removed range (sparse_remove_section()). */
  removeRange(startPfn: number, endPfn: number): void {
    const i = this.ranges.findIndex((r) => r.start === startPfn && r.end === endPfn);
    BUG_ON(i < 0, 'sparse_remove_section', () => `no memmap range at pfn 0x${startPfn.toString(16)}`);
    this.ranges.splice(i, 1);
    for (let b = startPfn; b < endPfn; b += MEMBLOCK_PAGES) this.dropBlock(b / MEMBLOCK_PAGES);
    this.forgetCached();
  }

  private forgetCached(): void {
    this.base0 = this.base1 = this.base2 = this.base3 = -2 * MEMBLOCK_PAGES;
    this.blk0 = this.blk1 = this.blk2 = this.blk3 = null;
    this.cacheKeys.fill(-1);
    this.cacheBlocks.fill(null);
  }

  /** Give every block's buffer back (the machine powers off): no pfn may be looked up afterwards. */
  release(): void {
    for (const key of [...this.blocks.keys()]) this.dropBlock(key);
    this.ranges.length = 0;
    this.forgetCached();
  }

  /** Every block of struct pages created so far (a whole-memmap check such as hmm-test fuzz's invariants). */
  createdBlocks(): IterableIterator<MemBlock> {
    return this.blocks.values();
  }

  /**
   * The blocks created so far among the pfns [startPfn, endPfn), by pfn: a
   * check over a 1 GiB device chunk looks at the few blocks in use, not at
   * 512 keys of blocks never created.
   */
  createdBlocksIn(startPfn: number, endPfn: number): MemBlock[] {
    const out: MemBlock[] = [];
    const first = Math.floor(startPfn / MEMBLOCK_PAGES), end = Math.ceil(endPfn / MEMBLOCK_PAGES);
    if (end - first <= this.blocks.size) {
      for (let key = first; key < end; key++) {
        const b = this.blocks.get(key);
        if (b !== undefined) out.push(b);
      }
      return out;
    }
    for (const [key, b] of this.blocks) if (key >= first && key < end) out.push(b);
    return out.sort((a, b) => a.basePfn - b.basePfn);
  }

  private dropBlock(key: number): void {
    const b = this.blocks.get(key);
    if (b === undefined) return;
    this.blocks.delete(key);
    this.buffers?.giveBlock(b);
  }

  private rangeOf(pfn: number) {
    for (const r of this.ranges) if (pfn >= r.start && pfn < r.end) return r;
    return undefined;
  }

  /** pfn_valid(). */
  valid(pfn: number): boolean {
    return pfn !== 0 && (this.blocks.has(Math.floor(pfn / MEMBLOCK_PAGES)) || this.rangeOf(pfn) !== undefined);
  }

  /** The block holding pfn; a pfn without a struct page is a kernel bug (pfn_to_page() on a hole). */
  block(pfn: number): MemBlock {
    // Hit tests without a division: this is the hottest lookup of the model.
    let d = pfn - this.base0;
    if (d >= 0 && d < MEMBLOCK_PAGES) return this.blk0!;
    d = pfn - this.base1;
    if (d >= 0 && d < MEMBLOCK_PAGES) return this.blk1!;
    d = pfn - this.base2;
    if (d >= 0 && d < MEMBLOCK_PAGES) return this.blk2!;
    d = pfn - this.base3;
    if (d >= 0 && d < MEMBLOCK_PAGES) return this.blk3!;
    return this.blockMiss(pfn);
  }

  private blockMiss(pfn: number): MemBlock {
    const key = Math.floor(pfn / MEMBLOCK_PAGES), c = key & 15;
    let b = this.cacheKeys[c] === key ? this.cacheBlocks[c]! : this.blocks.get(key);
    if (b === undefined) {
      const r = this.rangeOf(pfn);
      BUG_ON(r === undefined || pfn === 0, 'pfn_to_page', () => `no struct page for pfn 0x${pfn.toString(16)}`);
      b = new MemBlock(key * MEMBLOCK_PAGES, r!.pgmap, this.buffers?.takeBlockBuffer());
      this.blocks.set(key, b);
    }
    this.cacheKeys[c] = key;
    this.cacheBlocks[c] = b;
    switch (this.victim) {
      case 0: this.base0 = b.basePfn; this.blk0 = b; break;
      case 1: this.base1 = b.basePfn; this.blk1 = b; break;
      case 2: this.base2 = b.basePfn; this.blk2 = b; break;
      default: this.base3 = b.basePfn; this.blk3 = b;
    }
    this.victim = (this.victim + 1) & 3;
    return b;
  }

  /**
   * Whether the ZONE_DEVICE block holding pfn has a page in use (MemBlock.pgmapRef):
   * whole-range scans of device memory (memunmap_pages(), migrate_device_range())
   * skip a block without one, as they would find every page free.
   */
  devBlockInUse(pfn: number): boolean {
    const b = this.blocks.get(Math.floor(pfn / MEMBLOCK_PAGES));
    return b !== undefined && b.pgmapRef !== 0;
  }

  /** The block of pfn if it was created, without creating it (whole-state checks, debug_vm.ts). */
  createdBlock(pfn: number): MemBlock | undefined {
    return this.blocks.get(Math.floor(pfn / MEMBLOCK_PAGES));
  }

  /** Whether any page of the device pfns [startPfn, startPfn + npages) is in use (MemBlock.pgmapRef). */
  devRangeInUse(startPfn: number, npages: number): boolean {
    for (let base = startPfn - Memmap.slot(startPfn); base < startPfn + npages; base += MEMBLOCK_PAGES) {
      if (this.devBlockInUse(base)) return true;
    }
    return false;
  }

  /** Index of pfn inside its block. */
  static slot(pfn: number): number { return pfn & MEMBLOCK_MASK; }

  /** Blocks created so far, for the metadata-per-page measurement. */
  get nrBlocks(): number { return this.blocks.size; }
}
