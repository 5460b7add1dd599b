// SPDX-License-Identifier: GPL-2.0-only
/*
 * The device page table of a mirror: dmirror->pt, an xarray in C mapping a
 * virtual page number to a tagged struct page pointer. Here chunks of 512
 * entries in a Map (sparse, like the CPU page tables), each entry
 * pfn * 4 + tag, 0 for empty.
 */
import type { Page } from '../kernel-model/page.js';

export const DPT_XA_TAG_ATOMIC = 1;
export const DPT_XA_TAG_WRITE = 3;

const CHUNK = 512;

/** xa_untag_pointer(): the page of an entry, 0 for none. */
export const xaUntagPointer = (entry: number): Page => Math.floor(entry / 4);
/** xa_pointer_tag(): the tag of an entry (0 for none). */
export const xaPointerTag = (entry: number): number => entry % 4;

export class DevicePageTable {
  private readonly chunks = new Map<number, Float64Array>();
  /** The chunk the last access found: the driver walks consecutive indices. */
  private lastKey = -1;
  private lastChunk: Float64Array | undefined = undefined;

  private chunk(key: number): Float64Array | undefined {
    if (key === this.lastKey) return this.lastChunk;
    const c = this.chunks.get(key);
    if (c !== undefined) {
      this.lastKey = key;
      this.lastChunk = c;
    }
    return c;
  }

  /** xa_store(pt, index, xa_tag_pointer(page, tag)). */
  store(index: number, page: Page, tag: number): void {
    const key = Math.floor(index / CHUNK);
    let c = this.chunk(key);
    if (c === undefined) {
      c = new Float64Array(CHUNK);
      this.chunks.set(key, c);
    }
    c[index % CHUNK] = page * 4 + tag;
  }

  /** xa_load(): the tagged entry, 0 if none (read it with xaUntagPointer() and xaPointerTag()). */
  load(index: number): number {
    const c = this.chunk(Math.floor(index / CHUNK));
    return c === undefined ? 0 : c[index % CHUNK];
  }

  /** xa_erase(). */
  erase(index: number): void {
    const c = this.chunk(Math.floor(index / CHUNK));
    if (c !== undefined) c[index % CHUNK] = 0;
  }

  /** xa_for_each_range(pt, ..., first, last) erasing: both ends inclusive, as in C. */
  eraseRange(first: number, last: number): void {
    for (const [key, c] of this.chunks) {
      const base = key * CHUNK;
      if (base > last || base + CHUNK - 1 < first) continue;
      const lo = Math.max(first, base) - base, hi = Math.min(last, base + CHUNK - 1) - base;
      c.fill(0, lo, hi + 1);
    }
  }

  /** xa_for_each(): every entry, by index (the debug check's walk: O(chunks in use)). */
  forEach(fn: (index: number, entry: number) => void): void {
    for (const [key, c] of this.chunks) {
      for (let i = 0; i < CHUNK; i++) if (c[i] !== 0) fn(key * CHUNK + i, c[i]);
    }
  }

  /** xa_destroy(). */
  destroy(): void {
    this.chunks.clear();
    this.lastKey = -1;
    this.lastChunk = undefined;
  }
}
