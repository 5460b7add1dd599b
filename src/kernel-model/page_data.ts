// SPDX-License-Identifier: GPL-2.0-only
/*
 * The bytes of CPU-addressable pages (system RAM and generic/coherent device
 * memory), in pooled ArrayBuffers: slabs of 256 pages (1 MiB), handed out a
 * page-sized slot at a time and recycled through a free stack. A page gets a
 * slot the first time it is written; until then it reads as zeroes, like a
 * page from an init_on_alloc kernel. Device-private pages never get one: the
 * CPU cannot address them (see highmem.ts).
 */
import { PAGE_SIZE } from './page.js';

const SLAB_SHIFT = 8;
const SLAB_PAGES = 1 << SLAB_SHIFT;

export class PageDataPool {
  private readonly slabs: Uint8Array[] = [];
  private free = new Int32Array(1024);
  private nrFree = 0;
  /** Slots in use: the model's RAM footprint, in pages. */
  inUse = 0;

  /** A slot; zeroed unless the caller is about to overwrite all of it (copy_highpage()). */
  alloc(zero = true): number {
    let slot: number;
    if (this.nrFree > 0) {
      slot = this.free[--this.nrFree];
      if (zero) this.view(slot).fill(0);
    } else {
      // A new slab's memory is already zero.
      const base = this.slabs.length << SLAB_SHIFT;
      this.slabs.push(new Uint8Array(SLAB_PAGES * PAGE_SIZE));
      for (let i = SLAB_PAGES - 1; i >= 1; i--) this.push(base + i);
      slot = base;
    }
    this.inUse++;
    return slot;
  }

  release(slot: number): void {
    this.push(slot);
    this.inUse--;
  }

  private push(slot: number): void {
    if (this.nrFree === this.free.length) {
      const bigger = new Int32Array(this.free.length * 2);
      bigger.set(this.free);
      this.free = bigger;
    }
    this.free[this.nrFree++] = slot;
  }

  /** The page's 4096 bytes (a view: writes go to the page). */
  view(slot: number): Uint8Array {
    const off = (slot & (SLAB_PAGES - 1)) * PAGE_SIZE;
    return this.slabs[slot >>> SLAB_SHIFT].subarray(off, off + PAGE_SIZE);
  }

  get bytesReserved(): number { return this.slabs.length * SLAB_PAGES * PAGE_SIZE; }
}
