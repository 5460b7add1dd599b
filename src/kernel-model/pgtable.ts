// SPDX-License-Identifier: GPL-2.0-only
/*
 * Page tables, sparse. In Linux: pgd/p4d/pud/pmd/pte levels, and non-present
 * ptes that hold a swap entry (include/linux/swapops.h): device-private
 * entries, migration entries, device-exclusive entries. Here: one PteTable
 * (512 entries, the pte page under one pmd) per 2 MiB of address space that
 * has ever had an entry, in a Map keyed by the pmd index. A 1 TiB mapping
 * with three touched pages costs one or three PteTables, not 2^28 entries.
 *
 * An entry is a pfn (Uint32Array) and a byte of bits (Uint8Array):
 *   present:     _PAGE_PRESENT | _PAGE_RW? | _PAGE_DIRTY? | _PAGE_SPECIAL? | _PAGE_PROTNONE? | _PAGE_DEVMAP?
 *   swap entry:  type << 1 (bit 0 clear), plus SWP_MIG_DIRTY for migration
 *   none:        0
 */
import { PMD_SIZE, PUD_SIZE, PTRS_PER_PTE, PAGE_SIZE } from './page.js';

export const _PAGE_PRESENT = 0x01;
export const _PAGE_RW = 0x02;
export const _PAGE_DIRTY = 0x04;
/** pte_special(): no struct page to refcount (the zero page, pfn maps). */
export const _PAGE_SPECIAL = 0x08;
/** A PROT_NONE pte: still pte_present() for the kernel, but the CPU may not use it (x86 _PAGE_PROTNONE). */
export const _PAGE_PROTNONE = 0x10;
/** pte_devmap(): the pfn is ZONE_DEVICE memory (x86 _PAGE_DEVMAP); only set together with _PAGE_SPECIAL. */
export const _PAGE_DEVMAP = 0x20;

/* Swap entry types (include/linux/swap.h SWP_DEVICE_* / SWP_MIGRATION_*). */
export const SWP_DEVICE_WRITE = 1;
export const SWP_DEVICE_READ = 2;
export const SWP_DEVICE_EXCLUSIVE_WRITE = 3;
export const SWP_DEVICE_EXCLUSIVE_READ = 4;
/**
 * 6.15's one SWP_DEVICE_EXCLUSIVE type (SINGLE_SWP_DEVICE_EXCLUSIVE): the
 * entries make_device_exclusive() writes come from writable ptes, so the
 * model keeps the writable type's number for it.
 */
export const SWP_DEVICE_EXCLUSIVE = SWP_DEVICE_EXCLUSIVE_WRITE;
export const SWP_MIGRATION_READ = 5;
export const SWP_MIGRATION_READ_EXCLUSIVE = 6;
export const SWP_MIGRATION_WRITE = 7;
/** The migration entry remembers that the pte it replaced was dirty. */
export const SWP_MIG_DIRTY = 0x10;

export const pteNone = (v: number): boolean => v === 0;
export const ptePresent = (v: number): boolean => (v & _PAGE_PRESENT) !== 0;
export const pteWrite = (v: number): boolean => (v & (_PAGE_PRESENT | _PAGE_RW)) === (_PAGE_PRESENT | _PAGE_RW);
export const pteSpecial = (v: number): boolean => (v & (_PAGE_PRESENT | _PAGE_SPECIAL)) === (_PAGE_PRESENT | _PAGE_SPECIAL);
export const pteDirty = (v: number): boolean => (v & (_PAGE_PRESENT | _PAGE_DIRTY)) === (_PAGE_PRESENT | _PAGE_DIRTY);
export const pteProtnone = (v: number): boolean => (v & (_PAGE_PRESENT | _PAGE_PROTNONE)) === (_PAGE_PRESENT | _PAGE_PROTNONE);
export const pteDevmap = (v: number): boolean => (v & (_PAGE_PRESENT | _PAGE_DEVMAP)) === (_PAGE_PRESENT | _PAGE_DEVMAP);
/** x86 pte_mkdevmap(): _PAGE_SPECIAL | _PAGE_DEVMAP, so vm_normal_page() gives no page for it. */
export const pteMkdevmap = (v: number): number => v | _PAGE_SPECIAL | _PAGE_DEVMAP;
/** Present and usable by the CPU for a load (and a store when write). */
export const pteAccessible = (v: number, write: boolean): boolean =>
  (v & (_PAGE_PRESENT | _PAGE_PROTNONE | (write ? _PAGE_RW : 0))) === (_PAGE_PRESENT | (write ? _PAGE_RW : 0));
/** The swap type of a non-present, non-none entry. */
export const swpType = (v: number): number => (v & _PAGE_PRESENT) ? 0 : (v >> 1) & 7;
export const isDevicePrivateEntry = (v: number): boolean => { const t = swpType(v); return t === SWP_DEVICE_WRITE || t === SWP_DEVICE_READ; };
export const isWritableDevicePrivateEntry = (v: number): boolean => swpType(v) === SWP_DEVICE_WRITE;
export const isMigrationEntry = (v: number): boolean => swpType(v) >= SWP_MIGRATION_READ;
export const isWritableMigrationEntry = (v: number): boolean => swpType(v) === SWP_MIGRATION_WRITE;
export const isReadableExclusiveMigrationEntry = (v: number): boolean => swpType(v) === SWP_MIGRATION_READ_EXCLUSIVE;
export const isDeviceExclusiveEntry = (v: number): boolean => { const t = swpType(v); return t === SWP_DEVICE_EXCLUSIVE_WRITE || t === SWP_DEVICE_EXCLUSIVE_READ; };
export const isWritableDeviceExclusiveEntry = (v: number): boolean => swpType(v) === SWP_DEVICE_EXCLUSIVE_WRITE;
export const mkSwpEntry = (type: number): number => type << 1;

/** The ptes under one pmd. */
export class PteTable {
  readonly pfn = new Uint32Array(PTRS_PER_PTE);
  readonly val = new Uint8Array(PTRS_PER_PTE);
  /** Entries that are not none; the table is freed when this drops to 0 (free_pte_range()). */
  used = 0;
}

export const pmdIndex = (addr: number): number => Math.floor(addr / PMD_SIZE);
export const pteIndex = (addr: number): number => Math.floor(addr / PAGE_SIZE) % PTRS_PER_PTE;
export const pmdAddrEnd = (addr: number, end: number): number => Math.min((pmdIndex(addr) + 1) * PMD_SIZE, end);

/**
 * A huge entry at PMD level: pmd_trans_huge() (a THP or the huge zero
 * page) or, in a hugetlb VMA, the huge pte of a 2 MiB hugetlb page. val
 * uses the pte bits (_PAGE_PRESENT, _PAGE_RW, _PAGE_DIRTY, _PAGE_SPECIAL for
 * the huge zero page, _PAGE_PROTNONE); pfn is the first page mapped.
 */
export class HugePmd {
  constructor(public pfn: number, public val: number) {}
}

export class PageTable {
  readonly tables = new Map<number, PteTable>();
  /**
   * Huge PMD entries by pmd index, kept apart so that the 4 KiB paths pay
   * nothing for them: a pmd index is in at most one of `tables` and
   * `huge` (a pmd either points to a pte page or maps 2 MiB itself).
   */
  readonly huge = new Map<number, HugePmd>();
  /** The table the last lookup found (per-page loops stay in one table 511 times out of 512). */
  private lastKey = -1;
  private lastTable: PteTable | undefined = undefined;

  /** The huge entry covering addr (pmd_trans_huge()/huge_pte_offset()), or undefined. */
  lookupHuge(addr: number): HugePmd | undefined {
    return this.huge.get(pmdIndex(addr));
  }

  /** pte_offset_map() without allocation: the table covering addr, or undefined (pmd_none). */
  lookup(addr: number): PteTable | undefined {
    const key = pmdIndex(addr);
    if (key === this.lastKey) return this.lastTable;
    const t = this.tables.get(key);
    if (t !== undefined) {
      this.lastKey = key;
      this.lastTable = t;
    }
    return t;
  }

  /** pte_alloc(): the table covering addr, created if needed. */
  alloc(addr: number): PteTable {
    let t = this.lookup(addr);
    if (t === undefined) {
      t = new PteTable();
      this.tables.set(pmdIndex(addr), t);
    }
    return t;
  }

  /** set_pte_at(): keeps PteTable.used right. */
  set(t: PteTable, i: number, pfn: number, val: number): void {
    if (t.val[i] === 0 && val !== 0) t.used++;
    else if (t.val[i] !== 0 && val === 0) t.used--;
    t.pfn[i] = pfn;
    t.val[i] = val;
  }

  /**
   * pud_present() for the pud above addr: the model has no pud level, so a
   * pud is present while some pmd entry under it (a pte page or a huge PMD)
   * is. Only VMA splits ask (split_huge_pmd_address()): at most 512
   * lookups, or a walk of the entries when there are fewer.
   */
  pudPresent(addr: number): boolean {
    const per = PUD_SIZE / PMD_SIZE, pud = Math.floor(addr / PUD_SIZE);
    if (this.tables.size + this.huge.size < per) {
      for (const key of this.tables.keys()) if (Math.floor(key / per) === pud) return true;
      for (const key of this.huge.keys()) if (Math.floor(key / per) === pud) return true;
      return false;
    }
    for (let i = pud * per; i < (pud + 1) * per; i++) if (this.tables.has(i) || this.huge.has(i)) return true;
    return false;
  }

  /**
   * The pmd entry at oldAddr moves to newAddr as it is (mremap's
   * move_normal_pmd() and move_huge_pmd()): a pte page with every entry in
   * it, or a huge entry with whatever it holds. The new pmd must be none.
   */
  movePmd(oldAddr: number, newAddr: number): void {
    const from = pmdIndex(oldAddr), to = pmdIndex(newAddr);
    const t = this.tables.get(from), h = this.huge.get(from);
    if (t !== undefined) {
      this.tables.delete(from);
      this.tables.set(to, t);
    }
    if (h !== undefined) {
      this.huge.delete(from);
      this.huge.set(to, h);
    }
    this.lastKey = -1;
    this.lastTable = undefined;
  }

  /** free_pgtables() for one pmd: drop an empty table. */
  freeIfEmpty(addr: number): void {
    const key = pmdIndex(addr);
    const t = this.tables.get(key);
    if (t !== undefined && t.used === 0) {
      this.tables.delete(key);
      if (key === this.lastKey) this.lastKey = -1;
    }
  }

  /** Drop every table (exit_mmap()). */
  clear(): void {
    this.tables.clear();
    this.lastKey = -1;
    this.lastTable = undefined;
  }
}
