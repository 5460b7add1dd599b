// SPDX-License-Identifier: GPL-2.0-only
/*
 * Model of mm/memory.c: page faults (handle_mm_fault() and the handlers it
 * dispatches to), unmapping (zap_pte_range()), and access to user memory,
 * both by the process itself (loads and stores through its page tables,
 * with the arch fault handler's checks: arch/x86/mm/fault.c) and by the
 * kernel (copy_to_user()/copy_from_user(), which fault the same way but fail
 * with a short copy instead of a signal).
 */
import { FatalSignal, KernelBug, SIGBUS, SIGSEGV } from './bug.js';
import type { Kernel } from './kernel.js';
import { type Page, PAGE_SIZE, PMD_SIZE, pageAlign } from './page.js';
import { type MmStruct, type VmAreaStruct, VM_READ, VM_WRITE, VM_HUGETLB, findVma, vmaIsAnonymous } from './mm.js';
import { pteIndex, pmdAddrEnd, pteNone, ptePresent, pteWrite, pteSpecial, pteAccessible, isDevicePrivateEntry, isMigrationEntry,
  _PAGE_PRESENT, _PAGE_RW, _PAGE_DIRTY, _PAGE_SPECIAL, PteTable } from './pgtable.js';
import { putPage, getPage, testPageFlag, setPageFlag, pageRefCount, folioTestLarge } from './page_alloc.js';
import { PG_anon, PG_anon_exclusive, PG_locked, PG_lru } from './page.js';
import { folioAddNewAnonRmap, folioRemoveRmapPte, anonVmaPrepare } from './rmap.js';
import { VM_FAULT_OOM, VM_FAULT_SIGBUS, VM_FAULT_SIGSEGV, pagePgmap } from './memremap.js';
import { copyHighpage, pageBytesRead, pageBytesWrite } from './highmem.js';
import { mmuNotifierRangeInit, mmuNotifierInvalidateRangeStart, mmuNotifierInvalidateRangeEnd, MMU_NOTIFY_CLEAR } from './mmu_notifier.js';
import { handleHugePmdFault, zapHugePmd, splitHugePmd, VM_FAULT_FALLBACK } from './huge_memory.js';
import { hugetlbFault, unmapHugepageRange } from './hugetlb.js';

export const FAULT_FLAG_WRITE = 0x01;
export const FAULT_FLAG_USER = 0x40;
export const FAULT_FLAG_REMOTE = 0x80;

/** struct vm_fault, what a pgmap's migrate_to_ram() gets. */
export interface VmFault {
  vma: VmAreaStruct;
  address: number;
  flags: number;
  /** The device-private page behind the faulting entry. */
  page: Page;
}

/**
 * Model of handle_mm_fault(): make the pte at addr usable for the access.
 * The caller (the arch fault handler, hmm_vma_fault(), gup) has checked the
 * VMA allows it. Returns vm_fault_t bits, 0 on success.
 */
export function handleMmFault(vma: VmAreaStruct, addr: number, flags: number): number {
  const mm = vma.vmMm;
  addr = pageAlign(addr);
  if (vma.vmFlags & VM_HUGETLB) return hugetlbFault(vma, addr, flags);
  let t = mm.pgtable.lookup(addr);
  if (t === undefined) {
    // No pte page: the pmd is empty or huge (create_huge_pmd(), wp_huge_pmd()).
    const ret = handleHugePmdFault(vma, addr, (flags & FAULT_FLAG_WRITE) !== 0);
    if (ret !== VM_FAULT_FALLBACK) return ret;
    t = mm.pgtable.alloc(addr);
  }
  const i = pteIndex(addr);
  const v = t.val[i];
  if (pteNone(v)) {
    if (!vmaIsAnonymous(vma)) return VM_FAULT_SIGBUS; // file faults: not modelled yet
    return doAnonymousPage(vma, t, i, addr, flags);
  }
  if (!ptePresent(v)) return doSwapPage(vma, t, i, addr, flags);
  if ((flags & FAULT_FLAG_WRITE) && !pteWrite(v)) return doWpPage(vma, t, i, addr);
  if (flags & FAULT_FLAG_WRITE) t.val[i] = v | _PAGE_DIRTY;
  return 0;
}

/** Model of do_anonymous_page(): a read maps the shared zero page, a write a new zeroed page. */
function doAnonymousPage(vma: VmAreaStruct, t: PteTable, i: number, addr: number, flags: number): number {
  const mm = vma.vmMm, k = mm.k;
  if (!(flags & FAULT_FLAG_WRITE)) {
    mm.pgtable.set(t, i, k.zeroPfn, _PAGE_PRESENT | _PAGE_SPECIAL);
    return 0;
  }
  anonVmaPrepare(vma);
  const page = k.pageAlloc.allocPage(); // vma_alloc_zeroed_movable_folio(): a new page reads as zeroes
  if (page === 0) return VM_FAULT_OOM;
  folioAddNewAnonRmap(k, page, vma, addr);
  setPageFlag(k, page, PG_lru); // folio_add_lru_vma()
  mm.pgtable.set(t, i, page, _PAGE_PRESENT | (vma.vmFlags & VM_WRITE ? _PAGE_RW | _PAGE_DIRTY : 0));
  return 0;
}

/**
 * Model of do_wp_page(): a write to a present read-only pte in a writable
 * VMA. An anon page that is exclusive, or that nobody else references
 * (wp_can_reuse_anon_folio(): refcount 1 and the lock free), becomes
 * exclusive and is reused in place (wp_page_reuse()); the zero page or a
 * shared page is copied (wp_page_copy()), which invalidates the old
 * translation (MMU_NOTIFY_CLEAR).
 */
function doWpPage(vma: VmAreaStruct, t: PteTable, i: number, addr: number): number {
  const mm = vma.vmMm, k = mm.k;
  if (!(vma.vmFlags & VM_WRITE)) return VM_FAULT_SIGSEGV;
  const old = t.pfn[i], v = t.val[i];
  if (!pteSpecial(v) && testPageFlag(k, old, PG_anon) &&
      (testPageFlag(k, old, PG_anon_exclusive) ||
       (pageRefCount(k, old) === 1 && !testPageFlag(k, old, PG_locked) && !folioTestLarge(k, old)))) {
    setPageFlag(k, old, PG_anon_exclusive);
    t.val[i] = v | _PAGE_RW | _PAGE_DIRTY;
    return 0;
  }
  const page = k.pageAlloc.allocPage();
  if (page === 0) return VM_FAULT_OOM;
  if (!pteSpecial(v)) copyHighpage(k, page, old);
  const range = mmuNotifierRangeInit(MMU_NOTIFY_CLEAR, 0, mm, addr, addr + PAGE_SIZE);
  mmuNotifierInvalidateRangeStart(range);
  folioAddNewAnonRmap(k, page, vma, addr);
  setPageFlag(k, page, PG_lru);
  mm.pgtable.set(t, i, page, _PAGE_PRESENT | _PAGE_RW | _PAGE_DIRTY);
  if (!pteSpecial(v)) {
    folioRemoveRmapPte(k, old, vma);
    putPage(k, old);
  }
  mmuNotifierInvalidateRangeEnd(range);
  return 0;
}

/**
 * Model of do_swap_page() for the swap entries the model has: a
 * device-private entry asks its pgmap to bring the page back
 * (migrate_to_ram(), holding a reference as 6.12 does); a migration entry
 * would make the task wait for the migration to finish, and with one thread
 * nobody else can finish it: reported as a hang.
 */
function doSwapPage(vma: VmAreaStruct, t: PteTable, i: number, addr: number, flags: number): number {
  const k = vma.vmMm.k, v = t.val[i], pfn = t.pfn[i];
  if (isMigrationEntry(v)) {
    throw new KernelBug('BUG', 'migration_entry_wait',
      `task would sleep forever on the migration entry for pfn 0x${pfn.toString(16)} at 0x${addr.toString(16)}`);
  }
  if (isDevicePrivateEntry(v)) {
    const pgmap = pagePgmap(k, pfn)!;
    const vmf: VmFault = { vma, address: addr, flags, page: pfn };
    getPage(k, pfn);
    const ret = pgmap.ops!.migrateToRam!(vmf);
    putPage(k, pfn);
    return ret;
  }
  return VM_FAULT_SIGBUS;
}

/**
 * Model of zap_pte_range() over [start, end) of one VMA: every page mapped
 * there loses this mapping and its reference; the zero page is not counted;
 * a migration entry holds no reference of its own.
 */
export function zapPageRange(vma: VmAreaStruct, start: number, end: number): void {
  const mm = vma.vmMm, k = mm.k;
  if (vma.vmFlags & VM_HUGETLB) return unmapHugepageRange(vma, start, end);
  for (let a = start; a < end; a = pmdAddrEnd(a, end)) {
    let t = mm.pgtable.lookup(a);
    if (t === undefined) {
      // zap_pmd_range(): a huge PMD goes whole, or is split when only part of it is zapped.
      if (mm.pgtable.lookupHuge(a) === undefined) continue;
      if (pmdAddrEnd(a, end) - a === PMD_SIZE) { zapHugePmd(vma, a); continue; }
      splitHugePmd(vma, a);
      t = mm.pgtable.lookup(a)!;
    }
    const stop = pmdAddrEnd(a, end);
    for (let x = a, i = pteIndex(a); x < stop; x += PAGE_SIZE, i++) {
      const v = t.val[i];
      if (v === 0) continue;
      const pfn = t.pfn[i];
      if (ptePresent(v)) {
        if (!pteSpecial(v)) {
          folioRemoveRmapPte(k, pfn, vma);
          putPage(k, pfn);
        }
      } else if (isDevicePrivateEntry(v)) {
        k.warn(!testPageFlag(k, pfn, PG_anon), 'zap_pte_range', `device-private pfn 0x${pfn.toString(16)} is not anon`);
        folioRemoveRmapPte(k, pfn, vma);
        putPage(k, pfn);
      }
      mm.pgtable.set(t, i, 0, 0);
    }
  }
}

/**
 * Resolve a user address for one access, faulting as needed. A user-mode
 * access that cannot be satisfied kills the process with SIGSEGV/SIGBUS
 * (do_user_addr_fault()); a kernel uaccess returns 0 instead (the exception
 * table fixup that makes copy_to_user() come up short).
 */
export function faultInUserPage(mm: MmStruct, addr: number, write: boolean, user: boolean): Page {
  for (let tries = 0; tries < 8; tries++) {
    const t = mm.pgtable.lookup(addr);
    if (t !== undefined) {
      const i = pteIndex(addr), v = t.val[i];
      if (pteAccessible(v, write)) {
        if (write) t.val[i] = v | _PAGE_DIRTY;
        return t.pfn[i];
      }
    } else {
      // A huge PMD (THP or hugetlb) maps the address directly.
      const h = mm.pgtable.lookupHuge(addr);
      if (h !== undefined && pteAccessible(h.val, write)) {
        if (write) h.val |= _PAGE_DIRTY;
        return h.pfn + pteIndex(addr);
      }
    }
    const vma = findVma(mm, addr);
    if (vma === null || vma.vmStart > addr) {
      if (user) throw new FatalSignal(SIGSEGV, addr, 'no mapping (SEGV_MAPERR)');
      return 0;
    }
    if (!(vma.vmFlags & (write ? VM_WRITE : VM_READ))) {
      if (user) throw new FatalSignal(SIGSEGV, addr, `${write ? 'write' : 'read'} not permitted (SEGV_ACCERR)`);
      return 0;
    }
    const ret = handleMmFault(vma, addr, (write ? FAULT_FLAG_WRITE : 0) | (user ? FAULT_FLAG_USER : 0));
    if (ret & (VM_FAULT_SIGBUS | VM_FAULT_OOM)) {
      if (user) throw new FatalSignal(SIGBUS, addr, ret & VM_FAULT_OOM ? 'out of memory' : 'fault returned VM_FAULT_SIGBUS');
      return 0;
    }
    if (ret & VM_FAULT_SIGSEGV) {
      if (user) throw new FatalSignal(SIGSEGV, addr, 'fault returned VM_FAULT_SIGSEGV');
      return 0;
    }
  }
  throw new KernelBug('BUG', 'handle_mm_fault', `fault at 0x${addr.toString(16)} does not resolve (livelock)`);
}

/**
 * Copy between a kernel/JS buffer and user memory, page by page, through
 * the page tables. Returns the bytes NOT copied (0 on success), like
 * copy_to_user(); with user=true a failure is a fatal signal instead.
 */
function userCopy(mm: MmStruct, addr: number, buf: Uint8Array, write: boolean, user: boolean): number {
  const k: Kernel = mm.k;
  let done = 0;
  const len = buf.length;
  while (done < len) {
    const a = addr + done, off = a % PAGE_SIZE, n = Math.min(PAGE_SIZE - off, len - done);
    const pfn = faultInUserPage(mm, a, write, user);
    if (pfn === 0) return len - done;
    if (write) {
      pageBytesWrite(k, pfn, user ? 'user store' : 'copy_to_user').set(buf.subarray(done, done + n), off);
    } else {
      const src = pageBytesRead(k, pfn, user ? 'user load' : 'copy_from_user');
      if (src === null) buf.fill(0, done, done + n);
      else buf.set(src.subarray(off, off + n), done);
    }
    done += n;
  }
  return 0;
}

/** Model of copy_to_user(): bytes not copied. */
export const copyToUser = (mm: MmStruct, to: number, from: Uint8Array): number => userCopy(mm, to, from, true, false);
/** Model of copy_from_user(): bytes not copied. */
export const copyFromUser = (mm: MmStruct, to: Uint8Array, from: number): number => userCopy(mm, from, to, false, false);
/** The process loading len bytes at addr (may kill it with a signal). */
export const userLoad = (mm: MmStruct, addr: number, into: Uint8Array): void => { userCopy(mm, addr, into, false, true); };
/** The process storing bytes at addr (may kill it with a signal). */
export const userStore = (mm: MmStruct, addr: number, from: Uint8Array): void => { userCopy(mm, addr, from, true, true); };
