// SPDX-License-Identifier: GPL-2.0-only
/*
 * Model of the page cache (mm/filemap.c, include/linux/pagemap.h) and of the
 * file side of rmap (mm/rmap.c:rmap_walk_file(), mm/memory.c:
 * unmap_mapping_range()).
 *
 * In Linux: struct address_space holds the cached folios of one inode in an
 * xarray (i_pages), indexed by page offset, and the VMAs that map the file in
 * an interval tree (i_mmap). A cached folio's ->mapping points at the
 * address_space (low bit clear, unlike anon) and ->index is its offset; the
 * cache holds one reference on it.
 *
 * Here: i_pages is sparse, one Uint32Array of 512 pfns per 512 offsets that
 * ever held a page (no object per page); i_mmap is a Set of VMAs, walked in
 * full (a test process has a handful). page->mapping holds the
 * AddressSpace's object id (Kernel.kptr), without PG_anon.
 */
import { BUG_ON, KernelBug } from './bug.js';
import type { Kernel } from './kernel.js';
import { Memmap, type Page, PAGE_SIZE, PG_anon, PG_lru, PG_uptodate, PG_dirty, PG_swapbacked } from './page.js';
import type { MmStruct, VmAreaStruct } from './mm.js';
import { getPage, putPage, pageMapcount, folioTestAnon } from './page_alloc.js';
import { pteIndex, pmdAddrEnd } from './pgtable.js';
import { mmuNotifierRangeInit, mmuNotifierInvalidateRangeStart, mmuNotifierInvalidateRangeEnd,
  MMU_NOTIFY_CLEAR } from './mmu_notifier.js';
import { zapPageRange, copyFromUser } from './memory.js';
import { memcpyToPage } from './highmem.js';
import { EFAULT, ENOMEM } from './errno.js';

const CHUNK_SHIFT = 9;
const CHUNK = 1 << CHUNK_SHIFT;

/** struct address_space_operations, the members the model's writers use (shmem_aops). */
export interface AddressSpaceOperations {
  /** ->write_begin(): the locked page, with a reference, that will take bytes at index; 0 on failure (-ENOMEM). */
  writeBegin(mapping: AddressSpace, index: number): Page;
  /** ->write_end(): copied bytes went into the page at offset; unlocks and drops the reference. */
  writeEnd(mapping: AddressSpace, pos: number, copied: number, page: Page): number;
}

/** struct address_space. */
export class AddressSpace {
  /** i_pages: chunk number -> pfns of offsets [chunk*512, chunk*512+512), 0 where none. */
  readonly iPages = new Map<number, Uint32Array>();
  /** nrpages. */
  nrpages = 0;
  /** i_mmap: every VMA (shared or private) that maps this file. */
  iMmap = new Set<VmAreaStruct>();
  /** The id page->mapping holds for pages of this mapping. */
  readonly id: number;
  /** mapping->host: the inode (a ShmemInode). */
  constructor(readonly k: Kernel, public aOps: AddressSpaceOperations, readonly host: object) {
    this.id = -k.kptr(this);
  }
}

/** Model of filemap_get_entry()/xa_load() without a reference: the page cached at index, 0 if none. */
export function filemapGetEntry(mapping: AddressSpace, index: number): Page {
  const c = mapping.iPages.get(Math.floor(index / CHUNK));
  return c === undefined ? 0 : c[index % CHUNK];
}

/**
 * Model of filemap_add_folio(): a new, locked page enters the cache at
 * index; the cache takes a reference, the page gets mapping/index, and goes
 * on the LRU (folio_add_lru()).
 */
export function filemapAddFolio(k: Kernel, mapping: AddressSpace, page: Page, index: number): void {
  const key = Math.floor(index / CHUNK);
  let c = mapping.iPages.get(key);
  if (c === undefined) {
    c = new Uint32Array(CHUNK);
    mapping.iPages.set(key, c);
  }
  BUG_ON(c[index % CHUNK] !== 0, 'filemap_add_folio', () => `index ${index} is already cached`);
  const b = k.memmap.block(page), i = Memmap.slot(page);
  BUG_ON((b.flags[i] & PG_anon) !== 0 || b.mapping[i] !== 0, 'filemap_add_folio',
    () => `pfn 0x${page.toString(16)} already has a mapping`);
  getPage(k, page);
  b.mapping[i] = mapping.id;
  b.index[i] = index;
  b.flags[i] |= PG_lru;
  c[index % CHUNK] = page;
  mapping.nrpages++;
}

/** Replace the page cached at index (the xas_store() of __folio_migrate_mapping()). */
export function filemapReplaceEntry(mapping: AddressSpace, index: number, page: Page): void {
  const c = mapping.iPages.get(Math.floor(index / CHUNK));
  BUG_ON(c === undefined || c[index % CHUNK] === 0, 'xas_store', () => `index ${index} is not cached`);
  c![index % CHUNK] = page;
}

/** The AddressSpace of a page-cache page, or null (anon, or not in a cache). Model of folio_mapping() without swap. */
export function folioMapping(k: Kernel, page: Page): AddressSpace | null {
  const b = k.memmap.block(page), i = Memmap.slot(page);
  if ((b.flags[i] & PG_anon) || b.mapping[i] === 0) return null;
  return k.kobj<AddressSpace>(-b.mapping[i]);
}

/**
 * Model of filemap_remove_folio(): the page leaves the cache, loses its
 * mapping, and the cache's reference is dropped (filemap_free_folio()). A
 * page that is still mapped here is the kernel's "BUG: Bad page cache"
 * (filemap_unaccount_folio(), VM_BUG_ON_FOLIO under CONFIG_DEBUG_VM).
 */
export function filemapRemoveFolio(k: Kernel, mapping: AddressSpace, page: Page): void {
  const b = k.memmap.block(page), i = Memmap.slot(page);
  const index = b.index[i];
  if (pageMapcount(k, page) > 0) {
    throw new KernelBug('BUG', 'filemap_unaccount_folio',
      `Bad page cache: pfn 0x${page.toString(16)} index ${index} is still mapped ${pageMapcount(k, page)} time(s)`);
  }
  const c = mapping.iPages.get(Math.floor(index / CHUNK))!;
  c[index % CHUNK] = 0;
  mapping.nrpages--;
  b.mapping[i] = 0;
  b.flags[i] &= ~(PG_dirty | PG_uptodate | PG_swapbacked);
  putPage(k, page);
}

/** Call fn(index, page) for every cached page with start <= index < end, in no particular order. */
export function filemapForEach(mapping: AddressSpace, start: number, end: number, fn: (index: number, page: Page) => void): void {
  for (const [key, c] of mapping.iPages) {
    const base = key * CHUNK;
    if (base + CHUNK <= start || base >= end) continue;
    for (let j = Math.max(0, start - base); j < CHUNK && base + j < end; j++) {
      if (c[j] !== 0) fn(base + j, c[j]);
    }
  }
}

/** Drop the empty chunks of i_pages (the xarray frees its nodes). */
export function filemapShrink(mapping: AddressSpace): void {
  for (const [key, c] of mapping.iPages) if (!c.some((p) => p !== 0)) mapping.iPages.delete(key);
}

/** The user address where vma maps file offset index, or -1. */
function vmaAddressOf(vma: VmAreaStruct, index: number): number {
  const addr = vma.vmStart + (index - vma.vmPgoff) * PAGE_SIZE;
  return addr >= vma.vmStart && addr < vma.vmEnd ? addr : -1;
}

/**
 * Model of rmap_walk_file(): fn(vma, addr) for every VMA in the page's
 * mapping's i_mmap whose range covers the page's index. A private VMA is
 * visited too; the callback finds whether its pte still maps this page or
 * a COWed copy.
 */
export function rmapWalkFile(k: Kernel, page: Page, fn: (vma: VmAreaStruct, addr: number) => void): void {
  const mapping = folioMapping(k, page);
  if (mapping === null) return;
  const index = k.memmap.block(page).index[Memmap.slot(page)];
  for (const vma of mapping.iMmap) {
    const addr = vmaAddressOf(vma, index);
    if (addr >= 0) fn(vma, addr);
  }
}

/**
 * Model of unmap_mapping_range(mapping, holebegin, holelen, even_cows) as
 * unmap_mapping_pages(): for every VMA of i_mmap that maps offsets
 * [first, last], zap those ptes (zap_page_range_single(): one
 * MMU_NOTIFY_CLEAR per VMA). Private VMAs lose their COWed anon pages there
 * too only with evenCows (truncation); otherwise only ptes of cache pages go.
 * last = Infinity: to the end of the file.
 */
export function unmapMappingPages(mapping: AddressSpace, first: number, last: number, evenCows: boolean): void {
  for (const vma of mapping.iMmap) {
    const vlast = vma.vmPgoff + (vma.vmEnd - vma.vmStart) / PAGE_SIZE - 1;
    const f = Math.max(first, vma.vmPgoff), l = Math.min(last, vlast);
    if (f > l) continue;
    const start = vma.vmStart + (f - vma.vmPgoff) * PAGE_SIZE, end = vma.vmStart + (l + 1 - vma.vmPgoff) * PAGE_SIZE;
    unmapMappingRangeVma(vma, start, end, evenCows);
  }
}

/** Model of unmap_mapping_range_vma() -> zap_page_range_single() with zap_details. */
function unmapMappingRangeVma(vma: VmAreaStruct, start: number, end: number, evenCows: boolean): void {
  const mm = vma.vmMm, k = mm.k;
  const range = mmuNotifierRangeInit(MMU_NOTIFY_CLEAR, 0, mm, start, end);
  mmuNotifierInvalidateRangeStart(range);
  if (evenCows) {
    zapPageRange(vma, start, end);
  } else {
    // zap_present_ptes()/zap_nonpresent_ptes() keep anon folios when the caller keeps COWs (should_zap_folio()).
    for (let a = start; a < end; a = pmdAddrEnd(a, end)) {
      const t = mm.pgtable.lookup(a);
      if (t === undefined) continue;
      const stop = pmdAddrEnd(a, end);
      for (let x = a, i = pteIndex(a); x < stop; x += PAGE_SIZE, i++) {
        if (t.val[i] === 0 || t.pfn[i] === k.zeroPfn || folioTestAnon(k, t.pfn[i])) continue;
        zapPageRange(vma, x, x + PAGE_SIZE);
      }
    }
  }
  mmuNotifierInvalidateRangeEnd(range);
  for (let a = start; a < end; a = pmdAddrEnd(a, end)) mm.pgtable.freeIfEmpty(a);
}

/**
 * Model of unmap_mapping_folio(): every pte that maps this one cache page
 * goes (truncate_cleanup_folio() calls it for a page still mapped).
 */
export function unmapMappingFolio(k: Kernel, page: Page): void {
  const mapping = folioMapping(k, page);
  if (mapping === null) return;
  const index = k.memmap.block(page).index[Memmap.slot(page)];
  unmapMappingPages(mapping, index, index, false);
}

/**
 * Model of generic_perform_write(): count bytes from user memory at buf go
 * into the file at pos, a page at a time, through ->write_begin() and
 * ->write_end(). The user bytes are faulted in and copied before the page
 * is locked (fault_in_iov_iter_readable(), then the atomic copy), so a
 * buffer that is a mapping of the same file does not deadlock. Returns the
 * bytes written, or -EFAULT/-ENOMEM when none were.
 */
export function genericPerformWrite(mm: MmStruct, mapping: AddressSpace, pos: number, buf: number, count: number): number {
  const k = mapping.k;
  const scratch = new Uint8Array(Math.min(count, PAGE_SIZE));
  let written = 0, status = 0;
  while (written < count) {
    const offset = pos % PAGE_SIZE;
    let bytes = Math.min(PAGE_SIZE - offset, count - written);
    const missed = copyFromUser(mm, scratch.subarray(0, bytes), buf + written);
    if (missed === bytes) { status = -EFAULT; break; }
    bytes -= missed;
    const page = mapping.aOps.writeBegin(mapping, Math.floor(pos / PAGE_SIZE));
    if (page === 0) { status = -ENOMEM; break; }
    memcpyToPage(k, page, offset, scratch, 0, bytes);
    mapping.aOps.writeEnd(mapping, pos, bytes, page);
    pos += bytes;
    written += bytes;
    if (missed) break;
  }
  return written ? written : status;
}
