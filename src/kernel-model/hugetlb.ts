// SPDX-License-Identifier: GPL-2.0-only
/*
 * Model of mm/hugetlb.c (and the parts of fs/hugetlbfs/inode.c that
 * mmap(MAP_HUGETLB) goes through) for the default 2 MiB hstate and private
 * mappings.
 *
 * The pool is carved out of RAM at boot, as the hugepages=N boot parameter
 * does (memblock), so pool pages never count in PageAllocator.nrAllocated;
 * the reference run fills it with `echo 16 > nr_hugepages` instead, from the
 * buddy allocator. Pool folios are order-9 large folios with the hugetlb
 * mark; a private mapping's page is an anon folio mapped by one huge pte
 * (a HugePmd in PageTable.huge).
 *
 * Reservations: mmap() reserves one pool page per huge page of the mapping
 * (hugetlb_reserve_pages(); -ENOMEM when the pool cannot cover it, as with
 * nr_overcommit_hugepages = 0), a fault consumes the reservation of its
 * index, unmapping returns the unconsumed ones (hugetlb_vm_op_close()).
 *
 * Not modelled: shared mappings, surplus/overcommit pages, changing the
 * pool at run time, cgroups, subpools, gigantic pages, PMD sharing.
 */
import { ENOMEM } from './errno.js';
import type { Kernel } from './kernel.js';
import { Memmap, type Page, PAGE_SIZE, PMD_SIZE, HPAGE_PMD_ORDER, HPAGE_PMD_NR, PG_anon, PG_anon_exclusive,
  PG_head, PG_ORDER_SHIFT } from './page.js';
import { type VmAreaStruct, VM_READ, VM_WRITE, VM_EXEC, linearPageIndex } from './mm.js';
import { HugePmd, pmdIndex, pmdAddrEnd, pteWrite, _PAGE_PRESENT, _PAGE_RW, _PAGE_DIRTY, _PAGE_PROTNONE } from './pgtable.js';
import { putPage, folioMapcount, testPageFlag, totalramPages } from './page_alloc.js';
import { hugetlbAddNewAnonRmap, hugetlbRemoveRmap } from './rmap.js';
import { copyHighpage } from './highmem.js';
import { FAULT_FLAG_WRITE } from './memory.js';
import { VM_FAULT_SIGBUS, VM_FAULT_SIGSEGV } from './memremap.js';
import { mmuNotifierRangeInit, mmuNotifierInvalidateRangeStart, mmuNotifierInvalidateRangeEnd,
  MMU_NOTIFY_PROTECTION_VMA, MMU_NOTIFY_CLEAR } from './mmu_notifier.js';

/** huge_page_size(default_hstate): 2 MiB. */
export const HPAGE_SIZE = PMD_SIZE;

/** The reservation map of a private mapping (struct resv_map, HPAGE_RESV_OWNER): huge page indexes whose reservation was consumed. */
export class ResvMap {
  readonly consumed = new Set<number>();
}

/** vm_ops of a hugetlbfs mapping (hugetlb_vm_ops), with its reservation map (null: VM_NORESERVE). */
export interface HugetlbVmOps {
  name: string;
  resv: ResvMap | null;
}

/** struct hstate for 2 MiB pages: the pool and its counters. */
export class Hstate {
  /** nr_huge_pages. */
  nrHugePages = 0;
  /** free_huge_pages: in the pool, not in use. */
  freeHugePages = 0;
  /** resv_huge_pages: promised to mappings, not faulted yet (part of the free ones). */
  resvHugePages = 0;
  /** Folios with HPageRestoreReserve (folio_set_hugetlb_restore_reserve()): freeing one gives a reservation back. */
  readonly restoreReserve = new Set<Page>();
  private readonly freeList: Page[] = [];

  /** Model of hugetlb_hstate_alloc_pages() at boot: n pages from memblock, fewer if RAM runs out. */
  constructor(private readonly k: Kernel, n: number) {
    for (let i = 0; i < n; i++) {
      const head = k.pageAlloc.bootmemAllocFolio(HPAGE_PMD_ORDER);
      if (head === 0) break;
      k.pageAlloc.large.get(head)!.hugetlb = true;
      this.freeList.push(head);
    }
    this.nrHugePages = this.freeHugePages = this.freeList.length;
  }

  /** Model of dequeue_hugetlb_folio_nodemask(): a free pool folio with refcount 1, or 0. */
  dequeue(): Page {
    const head = this.freeList.pop();
    if (head === undefined) return 0;
    this.freeHugePages--;
    this.k.memmap.block(head).refcount[Memmap.slot(head)] = 1;
    return head;
  }

  /**
   * Model of free_huge_folio(): the folio is checked like any freed page and
   * goes back to the pool; with HPageRestoreReserve its reservation too.
   */
  freeHugeFolio(head: Page): void {
    if (this.restoreReserve.delete(head)) this.resvHugePages++;
    this.k.pageAlloc.freeFolio(head);
    const b = this.k.memmap.block(head), s = Memmap.slot(head);
    b.flags[s] = PG_head | (HPAGE_PMD_ORDER << PG_ORDER_SHIFT);
    this.freeList.push(head);
    this.freeHugePages++;
  }
}

const vmOps = (vma: VmAreaStruct): HugetlbVmOps => vma.vmOps as HugetlbVmOps;
const hugeIndex = (vma: VmAreaStruct, addr: number): number => Math.floor(linearPageIndex(vma, addr) / HPAGE_PMD_NR);

/**
 * Model of hugetlbfs_file_mmap() -> hugetlb_reserve_pages() for a private
 * mapping: reserve a pool page for every huge page of the VMA, or -ENOMEM
 * (hugetlb_acct_memory(): free pages not already reserved must cover it).
 * MAP_NORESERVE reserves nothing.
 */
export function hugetlbReservePages(vma: VmAreaStruct, noreserve: boolean): number {
  const h = vma.vmMm.k.hugetlb;
  const ops: HugetlbVmOps = { name: 'hugetlb_vm_ops', resv: null };
  vma.vmOps = ops;
  if (noreserve) return 0;
  const chg = (vma.vmEnd - vma.vmStart) / HPAGE_SIZE;
  if (h.resvHugePages + chg > h.freeHugePages) return -ENOMEM;
  h.resvHugePages += chg;
  ops.resv = new ResvMap();
  return 0;
}

/** Model of hugetlb_vm_op_close(): the VMA's unconsumed reservations go back. */
export function hugetlbVmOpClose(vma: VmAreaStruct): void {
  const resv = vmOps(vma).resv;
  if (resv === null) return;
  const first = hugeIndex(vma, vma.vmStart), last = hugeIndex(vma, vma.vmEnd);
  let unused = 0;
  for (let idx = first; idx < last; idx++) if (!resv.consumed.has(idx)) unused++;
  vma.vmMm.k.hugetlb.resvHugePages -= unused;
}

/**
 * Model of alloc_hugetlb_folio(): the page the VMA reserved for this index
 * (consuming the reservation), or, once it was consumed or without one, a
 * free page nobody reserved; 0 when there is none.
 */
function allocHugetlbFolio(vma: VmAreaStruct, haddr: number): Page {
  const h = vma.vmMm.k.hugetlb, resv = vmOps(vma).resv, idx = hugeIndex(vma, haddr);
  if (resv !== null && !resv.consumed.has(idx)) {
    resv.consumed.add(idx);
    h.resvHugePages--;
    return h.dequeue();
  }
  if (h.freeHugePages - h.resvHugePages <= 0) return 0;
  return h.dequeue();
}

/**
 * Model of hugetlb_wp() for a private mapping: a folio mapped once is
 * reused (made exclusive and writable); otherwise (after fork) the task
 * gets its own copy from the pool, or SIGBUS when there is none.
 */
function hugetlbWp(vma: VmAreaStruct, haddr: number, hp: HugePmd): number {
  const mm = vma.vmMm, k = mm.k;
  if (!(vma.vmFlags & VM_WRITE)) return VM_FAULT_SIGSEGV;
  const old = hp.pfn;
  if (folioMapcount(k, old) === 1 && (k.memmap.block(old).flags[Memmap.slot(old)] & PG_anon)) {
    k.memmap.block(old).flags[Memmap.slot(old)] |= PG_anon_exclusive;
    hp.val |= _PAGE_RW | _PAGE_DIRTY;
    return 0;
  }
  const page = allocHugetlbFolio(vma, haddr);
  if (page === 0) return VM_FAULT_SIGBUS;
  for (let i = 0; i < HPAGE_PMD_NR; i++) copyHighpage(k, page + i, old + i);
  const range = mmuNotifierRangeInit(MMU_NOTIFY_CLEAR, 0, mm, haddr, haddr + HPAGE_SIZE);
  mmuNotifierInvalidateRangeStart(range);
  hugetlbAddNewAnonRmap(k, page, vma, haddr);
  hugetlbRemoveRmap(k, old);
  putPage(k, old);
  hp.pfn = page;
  hp.val = _PAGE_PRESENT | _PAGE_RW | _PAGE_DIRTY;
  mmuNotifierInvalidateRangeEnd(range);
  return 0;
}

/**
 * Model of hugetlb_fault(): an empty huge pte gets a zeroed pool page
 * (hugetlb_no_page(); a private mapping maps it read-only, then a write
 * fault makes it writable through hugetlb_wp()); no page left:
 * VM_FAULT_SIGBUS (alloc_hugetlb_folio() fails with -ENOSPC). A write to a
 * read-only huge pte goes to hugetlb_wp().
 */
export function hugetlbFault(vma: VmAreaStruct, addr: number, flags: number): number {
  const mm = vma.vmMm, k = mm.k, haddr = addr - (addr % HPAGE_SIZE);
  const write = (flags & FAULT_FLAG_WRITE) !== 0;
  let hp = mm.pgtable.lookupHuge(haddr);
  if (hp === undefined) {
    const page = allocHugetlbFolio(vma, haddr);
    if (page === 0) return VM_FAULT_SIGBUS;
    hugetlbAddNewAnonRmap(k, page, vma, haddr);
    hp = new HugePmd(page, _PAGE_PRESENT);
    mm.pgtable.huge.set(pmdIndex(haddr), hp);
    mm.hugetlbUsage += HPAGE_PMD_NR;
  }
  if (write && !pteWrite(hp.val)) return hugetlbWp(vma, haddr, hp);
  if (write) hp.val |= _PAGE_DIRTY;
  return 0;
}

/**
 * Model of __unmap_hugepage_range() over [start, end) of a hugetlb VMA
 * (huge page aligned: split_vma() and MADV_DONTNEED refuse anything
 * else): each huge pte goes, its folio loses the mapping and the
 * reference, and returns to the pool when that was the last one. The last
 * unmap of an anon folio in a VMA that owns a reservation map restores
 * the reservation of its index (HPageRestoreReserve, and
 * vma_add_reservation(), which for a private mapping deletes the
 * "consumed" region): after MADV_DONTNEED the re-fault finds its page
 * reserved again. munmap() and exit then return it in
 * hugetlb_vm_op_close() like any unconsumed one.
 */
export function unmapHugepageRange(vma: VmAreaStruct, start: number, end: number): void {
  const mm = vma.vmMm, k = mm.k, resv = vmOps(vma).resv;
  for (let a = start; a < end; a = pmdAddrEnd(a, end)) {
    const hp = mm.pgtable.lookupHuge(a);
    if (hp === undefined) continue;
    mm.pgtable.huge.delete(pmdIndex(a));
    hugetlbRemoveRmap(k, hp.pfn);
    if (resv !== null && folioMapcount(k, hp.pfn) === 0 && testPageFlag(k, hp.pfn, PG_anon)) {
      k.hugetlb.restoreReserve.add(hp.pfn);
      resv.consumed.delete(hugeIndex(vma, a));
    }
    mm.hugetlbUsage -= HPAGE_PMD_NR;
    putPage(k, hp.pfn);
  }
}

/**
 * Model of hugetlb_change_protection(): every huge pte takes the VMA's new
 * protection, under one MMU_NOTIFY_PROTECTION_VMA over the range. A private
 * mapping's huge ptes never get write back here (no MM_CP_TRY_CHANGE_WRITABLE
 * for hugetlb): the next write goes through hugetlb_wp().
 */
export function hugetlbChangeProtection(vma: VmAreaStruct, start: number, end: number): void {
  const mm = vma.vmMm;
  const none = (vma.vmFlags & (VM_READ | VM_WRITE | VM_EXEC)) === 0;
  const range = mmuNotifierRangeInit(MMU_NOTIFY_PROTECTION_VMA, 0, mm, start, end);
  mmuNotifierInvalidateRangeStart(range);
  for (let a = start; a < end; a = pmdAddrEnd(a, end)) {
    const hp = mm.pgtable.lookupHuge(a);
    if (hp === undefined) continue;
    hp.val = (hp.val & ~(_PAGE_RW | _PAGE_PROTNONE)) | (none ? _PAGE_PROTNONE : 0);
  }
  mmuNotifierInvalidateRangeEnd(range);
}

/**
 * /proc/meminfo as the selftest reads it (meminfo_proc_show() and
 * hugetlb_report_meminfo()), the lines the model can fill: total and free
 * RAM, and the default hstate's counters, including "Hugepagesize:".
 */
export function procMeminfo(k: Kernel): string {
  const kb = (pages: number) => String(pages * (PAGE_SIZE / 1024)).padStart(8);
  const num = (n: number) => String(n).padStart(5);
  const h = k.hugetlb;
  const ram = totalramPages(k);
  const free = ram - k.pageAlloc.nrAllocated - h.nrHugePages * HPAGE_PMD_NR;
  return `MemTotal:       ${kb(ram)} kB\n` +
    `MemFree:        ${kb(free)} kB\n` +
    `HugePages_Total:   ${num(h.nrHugePages)}\n` +
    `HugePages_Free:    ${num(h.freeHugePages)}\n` +
    `HugePages_Rsvd:    ${num(h.resvHugePages)}\n` +
    `HugePages_Surp:    ${num(0)}\n` +
    `Hugepagesize:   ${String(HPAGE_SIZE / 1024).padStart(8)} kB\n` +
    `Hugetlb:        ${String(h.nrHugePages * HPAGE_SIZE / 1024).padStart(8)} kB\n`;
}
