// SPDX-License-Identifier: GPL-2.0-only
/*
 * The bytes of CPU-addressable pages (system RAM and generic/coherent device
 * memory) and of vmalloc() buffers, in pooled ArrayBuffers: slabs of 256
 * pages (1 MiB), handed out a page-sized slot at a time and recycled
 * through a free stack. A page gets a slot the first time it is written;
 * until then it reads as zeroes, like a page from an init_on_alloc kernel.
 * Device-private pages never get one: the CPU cannot address them (see
 * highmem.ts).
 *
 * Copies of whole pages are deferred (copy-on-write of the model's storage,
 * not of anything the kernel sees): copying a page makes the destination
 * share the source's slot, which counts its sharers (refs), and the first
 * write to either side gives the writer a private copy (unshare()). So a
 * migration that copies a page and frees the source moves the slot instead
 * of 4 KiB. Every write to page contents goes through highmem.ts, which
 * unshares; a view of a slot must never be kept across calls into the model.
 *
 * HostMemory is what the simulator borrows from the host for a machine: the
 * page slabs and the vmalloc() areas. A runner that boots one kernel per
 * case passes the same HostMemory to each, like one machine rebooted: the
 * memory the host already gave (and the host OS already faulted in) is
 * reused instead of asked for again, which costs about as much as the copy
 * itself. Nothing of a kernel's state lives there: a slot or area is only
 * reused after the kernel that had it freed it.
 */
import { BUG_ON } from './bug.js';
import { MEMBLOCK_BYTES, type MemBlock, type MemBlockBuffers, PAGE_SIZE } from './page.js';

const SLAB_SHIFT = 8;
const SLAB_PAGES = 1 << SLAB_SHIFT;
/** Sharers a slot may have (the counts are 16-bit); past that, a copy is made at once. */
export const MAX_SHARERS = 0xffff;

export class PageDataPool {
  private readonly slabs: Uint8Array[] = [];
  private free = new Int32Array(1024);
  private nrFree = 0;
  /** Sharers of each slot: the pages (and vmalloc pages) whose contents it holds; 0 while free. */
  private refs = new Uint16Array(SLAB_PAGES * 16);
  /** Slots in use: the model's RAM footprint, in pages. */
  inUse = 0;

  /** A slot with one sharer; zeroed unless the caller is about to overwrite all of it. */
  alloc(zero = true): number {
    let slot: number;
    if (this.nrFree > 0) {
      slot = this.free[--this.nrFree];
      if (zero) this.view(slot).fill(0);
    } else {
      // A new slab's memory is already zero.
      const base = this.slabs.length << SLAB_SHIFT;
      this.slabs.push(new Uint8Array(SLAB_PAGES * PAGE_SIZE));
      if (this.refs.length < base + SLAB_PAGES) {
        const bigger = new Uint16Array(this.refs.length * 2);
        bigger.set(this.refs);
        this.refs = bigger;
      }
      for (let i = SLAB_PAGES - 1; i >= 1; i--) this.push(base + i);
      slot = base;
    }
    this.refs[slot] = 1;
    this.inUse++;
    return slot;
  }

  /**
   * One more sharer of a slot in use (a deferred page copy): the slot, or
   * a new slot holding a copy of its bytes once the count is at its limit.
   */
  share(slot: number): number {
    BUG_ON(this.refs[slot] === 0, 'page_data', () => `sharing free slot ${slot}`);
    if (this.refs[slot] === MAX_SHARERS) {
      const copy = this.alloc(false);
      this.view(copy).set(this.view(slot));
      return copy;
    }
    this.refs[slot]++;
    return slot;
  }

  /** Whether more than one page holds this slot: a write needs unshare() first. */
  shared(slot: number): boolean {
    return this.refs[slot] > 1;
  }

  /**
   * A slot of the caller's own for a shared one: a fresh slot, with the
   * shared bytes copied in unless the caller overwrites all of it; the
   * caller's share of the old slot is dropped.
   */
  unshare(slot: number, keep: boolean): number {
    const mine = this.alloc(false);
    if (keep) this.view(mine).set(this.view(slot));
    this.release(slot);
    return mine;
  }

  /** A holder's slots[i] lets go of its slot, if any, and reads as zeroes again (-1). */
  drop(slots: Int32Array, i: number): void {
    if (slots[i] < 0) return;
    this.release(slots[i]);
    slots[i] = -1;
  }

  /** Drop one sharer; the last one frees the slot. */
  release(slot: number): void {
    BUG_ON(this.refs[slot] === 0, 'page_data', () => `releasing free slot ${slot}`);
    if (--this.refs[slot] !== 0) return;
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

  /** The slot's 4096 bytes (a view: writes go to the slot, so only to a slot not shared). */
  view(slot: number): Uint8Array {
    const off = (slot & (SLAB_PAGES - 1)) * PAGE_SIZE;
    return this.slabs[slot >>> SLAB_SHIFT].subarray(off, off + PAGE_SIZE);
  }

  get bytesReserved(): number { return this.slabs.length * SLAB_PAGES * PAGE_SIZE; }
}

/**
 * The memory behind a vmalloc() area: one data slot per page (-1 until
 * written, reading as zeroes), so whole pages move in and out by sharing
 * slots. `size` is what was asked for; the last page may be partly used.
 */
export class VmArea {
  readonly slots: Int32Array;
  constructor(readonly size: number) {
    this.slots = new Int32Array(Math.ceil(size / PAGE_SIZE)).fill(-1);
  }
}

export class HostMemory implements MemBlockBuffers {
  readonly pages = new PageDataPool();
  /** Buffers of struct pages no kernel uses any more, zeroed (page.ts's MemBlock). */
  private readonly blockBuffers: ArrayBuffer[] = [];

  takeBlockBuffer(): ArrayBuffer {
    return this.blockBuffers.pop() ?? new ArrayBuffer(MEMBLOCK_BYTES);
  }

  giveBlock(b: MemBlock): void {
    // A device page keeps its contents while free, as device memory does; they go with the block.
    for (let i = 0; i < b.dataSlot.length; i++) this.pages.drop(b.dataSlot, i);
    new Uint8Array(b.buf).fill(0);
    this.blockBuffers.push(b.buf);
  }
  /** Areas vfree() gave back (their slots released), by size, for the next vmalloc() of that size. */
  private readonly areas = new Map<number, VmArea[]>();

  /** An area of `size` bytes with no slots; null when the host cannot back it. */
  takeArea(size: number): VmArea | null {
    const a = this.areas.get(size)?.pop();
    if (a !== undefined) return a;
    try {
      return new VmArea(size);
    } catch (e) {
      if (e instanceof RangeError) return null;
      throw e;
    }
  }

  /** Give an area back: its slots are released. */
  giveArea(a: VmArea): void {
    for (let i = 0; i < a.slots.length; i++) this.pages.drop(a.slots, i);
    let list = this.areas.get(a.size);
    if (list === undefined) this.areas.set(a.size, list = []);
    list.push(a);
  }
}
