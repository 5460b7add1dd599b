// SPDX-License-Identifier: GPL-2.0-only
/*
 * Model of mm/memory.c: page faults (handle_mm_fault() and the handlers it
 * dispatches to), unmapping (zap_pte_range()), and access to user memory,
 * both by the process itself (loads and stores through its page tables,
 * with the arch fault handler's checks: arch/x86/mm/fault.c) and by the
 * kernel (copy_to_user()/copy_from_user(), which fault the same way but fail
 * with a short copy instead of a signal).
 */
import { FatalSignal, KernelBug, SIGBUS, SIGKILL, SIGSEGV, BUG_ON } from './bug.js';
import { pagefaultOutOfMemory } from './oom_kill.js';
import type { Kernel } from './kernel.js';
import { RESTORE_EXCLUSIVE_PTE_WRITABLE, DEVICE_EXCLUSIVE_KEEP_MAPCOUNT, REMOVE_DEVICE_EXCLUSIVE_CLEAR } from './changes.js';
import { type Page, PAGE_SIZE, PMD_SIZE, pageAlign, Memmap, PG_anon, PG_anon_exclusive, PG_locked, PG_lru, PG_dirty, PG_uptodate } from './page.js';
import { type MmStruct, type VmAreaStruct, VM_READ, VM_WRITE, VM_EXEC, VM_HUGETLB, VM_SHARED, VM_MAYSHARE, VM_MAYWRITE, VM_PFNMAP, VM_MIXEDMAP,
  findVma, vmaIsAnonymous, linearPageIndex, addMmCounter, mmCounter, mmCounterFile, MM_ANONPAGES } from './mm.js';
import { pteIndex, pmdAddrEnd, pteNone, ptePresent, pteWrite, pteSpecial, pteDevmap, pteMkdevmap, pteDirty, pteAccessible, isDevicePrivateEntry, isMigrationEntry,
  _PAGE_PRESENT, _PAGE_RW, _PAGE_DIRTY, _PAGE_SPECIAL, PteTable, swpType, mkSwpEntry, isWritableDevicePrivateEntry,
  isDeviceExclusiveEntry, isWritableDeviceExclusiveEntry, _PAGE_PROTNONE, SWP_MIGRATION_READ, SWP_DEVICE_READ, SWP_MIG_DIRTY } from './pgtable.js';
import { putPage, getPage, testPageFlag, setPageFlag, pageRefCount, lockPage, unlockPage, getPageUnlessZero,
  trylockPage, folioTestLarge, folioTestAnon, compoundHead, largeFolio, allocPageVma } from './page_alloc.js';
import { folioAddNewAnonRmap, folioRemoveRmapPte, anonVmaPrepare, folioAddFileRmapPte, folioMoveAnonRmap, folioAddAnonRmapPte,
  folioTryDupAnonRmapPte } from './rmap.js';
import { VM_FAULT_OOM, VM_FAULT_SIGBUS, VM_FAULT_SIGSEGV, VM_FAULT_ERROR, VM_FAULT_LOCKED, VM_FAULT_NOPAGE,
  pagePgmap, isDevicePublicPage } from './memremap.js';
import { copyHighpage, pageBytesRead, pageBytesWrite, vmCopy, vmCopyPage } from './highmem.js';
import { VmArea } from './page_data.js';
import { type MmuNotifierRange, mmuNotifierRangeInit, mmuNotifierInvalidateRangeStart, mmuNotifierInvalidateRangeEnd,
  MMU_NOTIFY_CLEAR, MMU_NOTIFY_PROTECTION_PAGE, MMU_NOTIFY_EXCLUSIVE } from './mmu_notifier.js';
import { EAGAIN, EBUSY, EFAULT, ENOENT, ENOMEM } from './errno.js';
import { handleHugePmdFault, zapHugePmd, splitHugePmd, copyHugePmd, VM_FAULT_FALLBACK } from './huge_memory.js';
import { hugetlbFault, unmapHugepageRange } from './hugetlb.js';

export const FAULT_FLAG_WRITE = 0x01;
export const FAULT_FLAG_USER = 0x40;
export const FAULT_FLAG_REMOTE = 0x80;

/** struct vm_fault, what a pgmap's migrate_to_ram() gets. */
export interface VmFault {
  vma: VmAreaStruct;
  address: number;
  flags: number;
  /** The device-private page behind the faulting entry; for ->fault(), the page it returns. */
  page: Page;
  /**
   * vmf->pte != NULL: the fault came through a PTE (do_swap_page()); false through a PMD-level device-private
   * entry (do_huge_pmd_device_private(), HUGE_PMD_DEVICE_PRIVATE). Unset: a PTE.
   */
  pte?: boolean;
  /** The file offset of address (linear_page_index()), for ->fault(). */
  pgoff?: number;
  /** The new anon page a private write fault copies into (do_cow_fault()). */
  cowPage?: Page;
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
    if (!vmaIsAnonymous(vma)) return doFault(vma, t, i, addr, flags);
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
  const page = allocPageVma(k, mm); // vma_alloc_zeroed_movable_folio(): a new page reads as zeroes
  if (page === 0) return VM_FAULT_OOM;
  addMmCounter(mm, MM_ANONPAGES, 1);
  folioAddNewAnonRmap(k, page, vma, addr);
  setPageFlag(k, page, PG_lru); // folio_add_lru_vma()
  mm.pgtable.set(t, i, page, _PAGE_PRESENT | (vma.vmFlags & VM_WRITE ? _PAGE_RW | _PAGE_DIRTY : 0));
  return 0;
}

/**
 * Model of vm_normal_page() for a present pte (pfn, v): the page to
 * refcount and rmap, or 0 for a special pte (the zero page, a pfn map, a
 * pte_devmap() pte: 6.12 returns NULL for those too). With
 * `withPublicDevice` a seed 004 PUBLIC page under a devmap pte is a page:
 * the merged version of the patch (v4.14, mm/memory.c) split the function
 * into _vm_normal_page(vma, addr, pte, with_public_device) for the callers
 * that must see it (zap, the write fault); every other caller keeps NULL
 * and handles the devmap pte itself where the seed adds a hunk (fork).
 */
export function vmNormalPage(k: Kernel, v: number, pfn: Page, withPublicDevice: boolean): Page {
  if (!pteSpecial(v)) return pfn;
  return withPublicDevice && pteDevmap(v) && isDevicePublicPage(k, pfn) ? pfn : 0;
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
  // A PUBLIC page is a page here (with_public_device); it holds its own data, so the copy reads it.
  const oldPage = vmNormalPage(k, v, old, true);
  // A shared mapping writes its page in place (wp_page_shared(): no page_mkwrite for shmem).
  if ((vma.vmFlags & (VM_SHARED | VM_MAYSHARE)) && oldPage !== 0) {
    t.val[i] = v | _PAGE_RW | _PAGE_DIRTY;
    setPageFlag(k, old, PG_dirty);
    return 0;
  }
  if (oldPage !== 0 && folioTestAnon(k, old) &&
      (testPageFlag(k, old, PG_anon_exclusive) || wpCanReuseAnonFolio(k, old, vma))) {
    setPageFlag(k, old, PG_anon_exclusive);
    t.val[i] = v | _PAGE_RW | _PAGE_DIRTY;
    return 0;
  }
  const page = allocPageVma(k, mm); // wp_page_copy(): vma_alloc_folio()
  if (page === 0) return VM_FAULT_OOM;
  if (oldPage !== 0) copyHighpage(k, page, old);
  const range = mmuNotifierRangeInit(MMU_NOTIFY_CLEAR, 0, mm, addr, addr + PAGE_SIZE);
  mmuNotifierInvalidateRangeStart(range);
  // wp_page_copy(): an anon page replaces an anon page (no change); it is one more anon page after the zero page, and
  // one file page fewer after a file page.
  if (oldPage === 0) {
    addMmCounter(mm, MM_ANONPAGES, 1);
  } else if (!folioTestAnon(k, old)) {
    addMmCounter(mm, mmCounterFile(k, old), -1);
    addMmCounter(mm, MM_ANONPAGES, 1);
  }
  folioAddNewAnonRmap(k, page, vma, addr);
  setPageFlag(k, page, PG_lru);
  mm.pgtable.set(t, i, page, _PAGE_PRESENT | _PAGE_RW | _PAGE_DIRTY);
  if (oldPage !== 0) {
    folioRemoveRmapPte(k, old, vma);
    putPage(k, old);
  }
  mmuNotifierInvalidateRangeEnd(range);
  return 0;
}

/**
 * Model of wp_can_reuse_anon_folio() for a small folio: nobody but this
 * mapping holds a reference (after fork the other process's mapping holds
 * one, so both sides copy until one of them has let go) and the page lock
 * is free; the page then moves to this VMA's anon_vma.
 */
function wpCanReuseAnonFolio(k: Kernel, page: Page, vma: VmAreaStruct): boolean {
  // A page of a large folio is not reused on this rule (6.12 looks at the whole folio's counts).
  if (folioTestLarge(k, page)) return false;
  if (pageRefCount(k, page) !== 1 || testPageFlag(k, page, PG_locked)) return false;
  folioMoveAnonRmap(k, page, vma);
  return true;
}

/**
 * Model of restore_exclusive_pte(): the device-exclusive entry at t[i]
 * becomes a present pte again, with the VMA's protection (a private
 * mapping's ptes start read-only; a writable entry comes back dirty and,
 * in a writable VMA, writable). The entry's page reference becomes the
 * pte's; the mapping is counted again (rmap); rss counted the entry all
 * along and is left alone.
 */
export function restoreExclusivePte(vma: VmAreaStruct, page: Page, addr: number, t: PteTable, i: number): void {
  const mm = vma.vmMm, k = mm.k, v = t.val[i];
  let pte = _PAGE_PRESENT;
  if (!(vma.vmFlags & (VM_READ | VM_WRITE | VM_EXEC))) pte |= _PAGE_PROTNONE;
  else if (k.has(RESTORE_EXCLUSIVE_PTE_WRITABLE)) pte |= restoredWriteBits(vma, page);
  else if (isWritableDeviceExclusiveEntry(v)) pte |= _PAGE_DIRTY | (vma.vmFlags & VM_WRITE ? _PAGE_RW : 0);
  // DEVICE_EXCLUSIVE_KEEP_MAPCOUNT: the entry was counted as a mapping all along.
  if (k.has(DEVICE_EXCLUSIVE_KEEP_MAPCOUNT)) {
    if (!folioTestAnon(k, page)) k.warn(true, 'restore_exclusive_pte', `device-exclusive entry at 0x${addr.toString(16)} maps a page that is not anon`);
  } else if (folioTestAnon(k, page)) {
    folioAddAnonRmapPte(k, page, vma, false); // RMAP_NONE
  } else {
    k.warn(true, 'restore_exclusive_pte', `device-exclusive entry at 0x${addr.toString(16)} maps a page that is not anon`);
  }
  // Seed 004's PUBLIC pages are mapped by devmap ptes wherever they are mapped (the entry type is younger than they are).
  if (isDevicePublicPage(k, page)) pte = pteMkdevmap(pte);
  mm.pgtable.set(t, i, page, pte);
}

/**
 * The write and dirty bits restore_exclusive_pte() gives a restored pte
 * with RESTORE_EXCLUSIVE_PTE_WRITABLE: writable when the VMA is and
 * can_change_pte_writable() allows it (in a private mapping, an exclusive
 * anon page), dirty when the folio is.
 */
function restoredWriteBits(vma: VmAreaStruct, page: Page): number {
  const k = vma.vmMm.k;
  if (!(vma.vmFlags & VM_WRITE)) return 0;
  // can_change_pte_writable() for a present, accessible pte of a private mapping (device-exclusive pages are anon).
  if (!(vma.vmFlags & VM_SHARED) && !(folioTestAnon(k, page) && testPageFlag(k, page, PG_anon_exclusive))) return 0;
  return _PAGE_RW | (testPageFlag(k, compoundHead(k, page), PG_dirty) ? _PAGE_DIRTY : 0);
}

/**
 * Model of try_restore_exclusive_pte(): restore the device-exclusive entry
 * at t[i] (of vma, at addr) if its page can be locked without sleeping; 0,
 * or -EBUSY when the page is locked (copy_nonpresent_pte() then retries
 * after the lock holder is done).
 */
export function tryRestoreExclusivePte(t: PteTable, i: number, vma: VmAreaStruct, addr: number): number {
  const k = vma.vmMm.k, page = t.pfn[i], folio = compoundHead(k, page);
  if (!trylockPage(k, folio)) return -EBUSY;
  (k.inject.restoreExclusivePte ?? restoreExclusivePte)(vma, page, addr, t, i);
  unlockPage(k, folio);
  return 0;
}

/**
 * Model of remove_device_exclusive_entry(): a CPU fault on a
 * device-exclusive entry revokes the device's exclusive access. Interval
 * notifiers hear MMU_NOTIFY_EXCLUSIVE with no owner, so the owning driver
 * drops its atomic mapping too.
 */
function removeDeviceExclusiveEntry(vma: VmAreaStruct, t: PteTable, i: number, addr: number): number {
  const mm = vma.vmMm, k = mm.k, page = t.pfn[i], orig = t.val[i], folio = compoundHead(k, page);
  if (!getPageUnlessZero(k, folio)) return 0;
  lockPage(k, folio); // folio_lock_or_retry(): a folio left locked would make the task sleep forever
  // REMOVE_DEVICE_EXCLUSIVE_CLEAR: from 6.15 MMU_NOTIFY_EXCLUSIVE only announces a new entry.
  const event = k.has(REMOVE_DEVICE_EXCLUSIVE_CLEAR) ? MMU_NOTIFY_CLEAR : MMU_NOTIFY_EXCLUSIVE;
  const range = mmuNotifierRangeInit(event, 0, mm, addr, addr + PAGE_SIZE, null);
  mmuNotifierInvalidateRangeStart(range);
  if (t.val[i] === orig && t.pfn[i] === page) (k.inject.restoreExclusivePte ?? restoreExclusivePte)(vma, page, addr, t, i);
  unlockPage(k, folio);
  putPage(k, folio);
  mmuNotifierInvalidateRangeEnd(range);
  return 0;
}

/**
 * Model of do_swap_page() for the swap entries the model has: a
 * device-exclusive entry is restored (remove_device_exclusive_entry()); a
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
  if (isDeviceExclusiveEntry(v)) return removeDeviceExclusiveEntry(vma, t, i, addr);
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
 * a migration entry holds no reference of its own; a device-exclusive
 * entry holds a reference but no mapcount. Each of them, migration entries
 * included, comes off the mm's rss (zap_present_folio_ptes(),
 * zap_nonpresent_ptes()).
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
        if (vmNormalPage(k, v, pfn, true) !== 0) { // 4.14's zap_pte_range(): _vm_normal_page(..., true)
          if (pteDirty(v) && !folioTestAnon(k, pfn)) setPageFlag(k, pfn, PG_dirty); // folio_mark_dirty()
          addMmCounter(mm, mmCounter(k, pfn), -1);
          folioRemoveRmapPte(k, pfn, vma);
          putPage(k, pfn);
        }
      } else if (isDevicePrivateEntry(v)) {
        // folio_test_anon(page_folio(page)): a page of a large device folio (a split PMD entry) is anon through its head.
        if (!folioTestAnon(k, pfn)) k.warn(true, 'zap_pte_range', `device-private pfn 0x${pfn.toString(16)} is not anon`);
        addMmCounter(mm, mmCounter(k, pfn), -1);
        folioRemoveRmapPte(k, pfn, vma);
        putPage(k, pfn);
      } else if (isDeviceExclusiveEntry(v)) {
        // Its reference and rss stayed with the entry; its mapcount too with DEVICE_EXCLUSIVE_KEEP_MAPCOUNT.
        if (!folioTestAnon(k, pfn)) k.warn(true, 'zap_pte_range', `device-exclusive pfn 0x${pfn.toString(16)} is not anon`);
        addMmCounter(mm, mmCounter(k, pfn), -1);
        if (k.has(DEVICE_EXCLUSIVE_KEEP_MAPCOUNT)) folioRemoveRmapPte(k, pfn, vma);
        putPage(k, pfn);
      } else if (isMigrationEntry(v)) {
        addMmCounter(mm, mmCounter(k, pfn), -1); // no reference, no mapcount: only rss
      }
      mm.pgtable.set(t, i, 0, 0);
    }
  }
}

/**
 * Model of zap_page_range_single() (what madvise_dontneed_single_vma()
 * calls) with unmap_single_vma(): one MMU_NOTIFY_CLEAR, no owner, over the
 * range asked for (hugetlb_zap_begin() widens it only for shared hugetlb
 * PMDs, which the model does not have), then zap_pte_range() and its kin
 * over the part inside the VMA. Page tables stay (only munmap frees them).
 */
export function zapPageRangeSingle(vma: VmAreaStruct, address: number, size: number): void {
  const end = address + size;
  const range = mmuNotifierRangeInit(MMU_NOTIFY_CLEAR, 0, vma.vmMm, address, end);
  mmuNotifierInvalidateRangeStart(range);
  if (address < vma.vmEnd && end > vma.vmStart) zapPageRange(vma, address, Math.min(end, vma.vmEnd));
  mmuNotifierInvalidateRangeEnd(range);
}

/**
 * Resolve a user address for one access, faulting as needed. A user-mode
 * access that cannot be satisfied kills the process with SIGSEGV/SIGBUS
 * (do_user_addr_fault()); a kernel uaccess returns 0 instead (the exception
 * table fixup that makes copy_to_user() come up short).
 */
export function faultInUserPage(mm: MmStruct, addr: number, write: boolean, user: boolean): Page {
  const k = mm.k;
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
    // The OOM killer chose this task, in this fault's allocation or earlier: it dies on its way back to user
    // mode (do_user_addr_fault() -> pagefault_out_of_memory() finds SIGKILL pending) instead of faulting again.
    if ((ret & VM_FAULT_OOM && pagefaultOutOfMemory(k, mm)) || mm.oomVictim) {
      if (user) throw new FatalSignal(SIGKILL, addr, 'killed by the OOM killer');
      return 0;
    }
    if (ret & VM_FAULT_SIGBUS) {
      if (user) throw new FatalSignal(SIGBUS, addr, 'fault returned VM_FAULT_SIGBUS');
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
 * Copy between a kernel buffer and user memory, page by page, through the
 * page tables. Returns the bytes NOT copied (0 on success), like
 * copy_to_user(); with user=true a failure is a fatal signal instead. A
 * vmalloc() area moves whole aligned pages by sharing their storage
 * (highmem.ts), anything else byte by byte.
 */
function userCopy(mm: MmStruct, addr: number, buf: Uint8Array | VmArea, write: boolean, user: boolean): number {
  const k: Kernel = mm.k;
  const area = buf instanceof VmArea ? buf : null;
  const len = area !== null ? area.size : (buf as Uint8Array).length;
  const fn = user ? (write ? 'user store' : 'user load') : (write ? 'copy_to_user' : 'copy_from_user');
  let done = 0;
  while (done < len) {
    const a = addr + done, off = a % PAGE_SIZE;
    let n = Math.min(PAGE_SIZE - off, len - done);
    if (area !== null && done % PAGE_SIZE !== 0) n = Math.min(n, PAGE_SIZE - (done % PAGE_SIZE));
    const pfn = faultInUserPage(mm, a, write, user);
    if (pfn === 0) return len - done;
    if (area !== null) {
      if (n === PAGE_SIZE) vmCopyPage(k, area, done / PAGE_SIZE, pfn, !write, fn);
      else if (write) vmCopy(k, area, done, pageBytesWrite(k, pfn, fn), off, n, false);
      else vmCopy(k, area, done, pageBytesRead(k, pfn, fn), off, n, true);
    } else if (write) {
      pageBytesWrite(k, pfn, fn, n === PAGE_SIZE).set((buf as Uint8Array).subarray(done, done + n), off);
    } else {
      const src = pageBytesRead(k, pfn, fn);
      if (src === null) (buf as Uint8Array).fill(0, done, done + n);
      else (buf as Uint8Array).set(src.subarray(off, off + n), done);
    }
    done += n;
  }
  return 0;
}

/** Model of copy_to_user(): bytes not copied. */
export const copyToUser = (mm: MmStruct, to: number, from: Uint8Array | VmArea): number => userCopy(mm, to, from, true, false);
/** Model of copy_from_user(): bytes not copied. */
export const copyFromUser = (mm: MmStruct, to: Uint8Array | VmArea, from: number): number => userCopy(mm, from, to, false, false);
/** The process loading len bytes at addr (may kill it with a signal). */
export const userLoad = (mm: MmStruct, addr: number, into: Uint8Array): void => { mm.k.sched.access('mm'); userCopy(mm, addr, into, false, true); };
/** The process storing bytes at addr (may kill it with a signal). */
export const userStore = (mm: MmStruct, addr: number, from: Uint8Array): void => { mm.k.sched.access('mm'); userCopy(mm, addr, from, true, true); };

/* ---- faults on file and shmem mappings (do_fault() and what it calls) ---- */

/** Whether vma->vm_page_prot lets a pte write: a shared writable mapping (shmem needs no write notification). */
const vmPageProtWrite = (vma: VmAreaStruct): boolean => (vma.vmFlags & (VM_SHARED | VM_WRITE)) === (VM_SHARED | VM_WRITE);

/**
 * Model of do_fault(): a none pte in a VMA with vm_ops. No ->fault: SIGBUS;
 * a read: do_read_fault(); a write to a private mapping: do_cow_fault();
 * a write to a shared one: do_shared_fault().
 */
function doFault(vma: VmAreaStruct, t: PteTable, i: number, addr: number, flags: number): number {
  if (!vma.vmOps?.fault) return VM_FAULT_SIGBUS;
  const vmf: VmFault = { vma, address: addr, flags, page: 0, pgoff: linearPageIndex(vma, addr), cowPage: 0 };
  if (!(flags & FAULT_FLAG_WRITE)) return doReadFault(vmf, t, i);
  if (!(vma.vmFlags & VM_SHARED)) return doCowFault(vmf, t, i);
  return doSharedFault(vmf, t, i);
}

/** Model of __do_fault(): ->fault() gives vmf.page with a reference; it is locked on return. */
function __doFault(vmf: VmFault): number {
  const ret = vmf.vma.vmOps!.fault!(vmf);
  if (ret & (VM_FAULT_ERROR | VM_FAULT_NOPAGE)) return ret;
  if (!(ret & VM_FAULT_LOCKED)) lockPage(vmf.vma.vmMm.k, vmf.page);
  return ret;
}

/**
 * Model of set_pte_range() for one page: the pte gets vm_page_prot (writable
 * only in a shared writable mapping), a write fault makes it dirty and
 * writable (maybe_mkwrite()); a private write maps the new anon page
 * (folio_add_new_anon_rmap()), anything else the file page
 * (folio_add_file_rmap_ptes()).
 */
export function setPteRange(vmf: VmFault, page: Page, t: PteTable, i: number): void {
  const vma = vmf.vma, k = vma.vmMm.k;
  const write = (vmf.flags & FAULT_FLAG_WRITE) !== 0;
  let entry = _PAGE_PRESENT | (vmPageProtWrite(vma) ? _PAGE_RW : 0);
  if (write) entry |= _PAGE_DIRTY | (vma.vmFlags & VM_WRITE ? _PAGE_RW : 0);
  if (write && !(vma.vmFlags & VM_SHARED)) {
    folioAddNewAnonRmap(k, page, vma, vmf.address);
    setPageFlag(k, page, PG_lru); // folio_add_lru_vma()
  } else {
    folioAddFileRmapPte(k, page, vma);
  }
  vma.vmMm.pgtable.set(t, i, page, entry);
}

/**
 * Model of finish_fault(): map vmf.cowPage (a private write) or vmf.page at
 * the faulting pte, which must still be none (else VM_FAULT_NOPAGE), and
 * count it in rss. The caller's reference on the page becomes the mapping's.
 */
export function finishFault(vmf: VmFault, t: PteTable, i: number): number {
  const isCow = (vmf.flags & FAULT_FLAG_WRITE) !== 0 && !(vmf.vma.vmFlags & VM_SHARED);
  const page = isCow ? vmf.cowPage! : vmf.page;
  if (!pteNone(t.val[i])) return VM_FAULT_NOPAGE;
  setPteRange(vmf, page, t, i);
  addMmCounter(vmf.vma.vmMm, isCow ? MM_ANONPAGES : mmCounterFile(vmf.vma.vmMm.k, page), 1);
  return 0;
}

/** Model of do_read_fault() (without fault-around): map the cache page as vm_page_prot says. */
function doReadFault(vmf: VmFault, t: PteTable, i: number): number {
  const k = vmf.vma.vmMm.k;
  let ret = __doFault(vmf);
  if (ret & (VM_FAULT_ERROR | VM_FAULT_NOPAGE)) return ret;
  ret |= finishFault(vmf, t, i);
  unlockPage(k, vmf.page);
  if (ret & (VM_FAULT_ERROR | VM_FAULT_NOPAGE)) putPage(k, vmf.page);
  return ret & ~VM_FAULT_LOCKED;
}

/**
 * Model of do_cow_fault(): a write to a private file mapping where nothing
 * is mapped yet copies the cache page into a new anon page and maps that,
 * writable; the cache page is left as it was.
 */
function doCowFault(vmf: VmFault, t: PteTable, i: number): number {
  const vma = vmf.vma, k = vma.vmMm.k;
  anonVmaPrepare(vma); // vmf_anon_prepare()
  const cow = allocPageVma(k, vma.vmMm); // folio_prealloc()
  if (cow === 0) return VM_FAULT_OOM;
  vmf.cowPage = cow;
  let ret = __doFault(vmf);
  if (ret & (VM_FAULT_ERROR | VM_FAULT_NOPAGE)) {
    putPage(k, cow);
    return ret;
  }
  copyHighpage(k, cow, vmf.page); // copy_mc_user_highpage()
  setPageFlag(k, cow, PG_uptodate);
  ret |= finishFault(vmf, t, i);
  unlockPage(k, vmf.page);
  putPage(k, vmf.page);
  if (ret & (VM_FAULT_ERROR | VM_FAULT_NOPAGE)) putPage(k, cow);
  return ret & ~VM_FAULT_LOCKED;
}

/**
 * Model of do_shared_fault(): a write to a shared mapping maps the cache
 * page itself, writable and dirty, and dirties the page
 * (fault_dirty_shared_page()).
 */
function doSharedFault(vmf: VmFault, t: PteTable, i: number): number {
  const k = vmf.vma.vmMm.k;
  let ret = __doFault(vmf);
  if (ret & (VM_FAULT_ERROR | VM_FAULT_NOPAGE)) return ret;
  ret |= finishFault(vmf, t, i);
  if (ret & (VM_FAULT_ERROR | VM_FAULT_NOPAGE)) {
    unlockPage(k, vmf.page);
    putPage(k, vmf.page);
    return ret;
  }
  setPageFlag(k, vmf.page, PG_dirty);
  unlockPage(k, vmf.page);
  return ret & ~VM_FAULT_LOCKED;
}


/* ---- fork: copying a VMA's page tables into the child (6.12 mm/memory.c) ---- */

/** Model of is_cow_mapping(): private and may be written, so fork shares its pages copy-on-write. */
export const isCowMapping = (flags: number): boolean => (flags & (VM_SHARED | VM_MAYWRITE)) === VM_MAYWRITE;

/**
 * Model of vma_needs_copy(): only a VMA with anonymous pages (an anon_vma)
 * or raw pfn mappings has ptes a fault could not rebuild; the rest (shared
 * and file mappings, anonymous memory never written) fault in the child.
 */
export function vmaNeedsCopy(_dst: VmAreaStruct, src: VmAreaStruct): boolean {
  if (src.vmFlags & (VM_PFNMAP | VM_MIXEDMAP)) return true;
  return src.anonVma !== null;
}

/**
 * Model of copy_page_range(): fill the child's page tables for dst (a copy
 * of src, already linked to src's anon_vmas by anon_vma_fork()). For a COW
 * mapping the parent's ptes may lose write, so its secondary MMUs hear
 * MMU_NOTIFY_PROTECTION_PAGE over the whole VMA first. 0 or -ENOMEM.
 */
export function copyPageRange(dst: VmAreaStruct, src: VmAreaStruct): number {
  if (!vmaNeedsCopy(dst, src)) return 0;
  const srcMm = src.vmMm, end = src.vmEnd;
  let range: MmuNotifierRange | null = null;
  if (isCowMapping(src.vmFlags)) {
    range = mmuNotifierRangeInit(MMU_NOTIFY_PROTECTION_PAGE, 0, srcMm, src.vmStart, end);
    mmuNotifierInvalidateRangeStart(range);
  }
  let ret = 0;
  for (let a = src.vmStart; a < end; a = pmdAddrEnd(a, end)) {
    // copy_pmd_range(): a huge PMD is shared whole (copy_huge_pmd()), unless it had to be split (-EAGAIN): then its ptes.
    if (srcMm.pgtable.lookupHuge(a) !== undefined && copyHugePmd(dst, src, a) !== -EAGAIN) continue;
    const st = srcMm.pgtable.lookup(a);
    if (st === undefined) continue; // pmd_none(): nothing to copy, no table in the child either
    if (copyPteRange(dst, src, st, a, pmdAddrEnd(a, end))) {
      ret = -ENOMEM;
      break;
    }
  }
  if (range !== null) mmuNotifierInvalidateRangeEnd(range);
  return ret;
}

/**
 * Model of copy_pte_range() for [addr, end) under one pmd. A nonzero
 * return fails the fork (copy_pmd_range() makes it -ENOMEM). The kernel
 * drops its locks to preallocate the page copy_present_page() needs; with
 * one thread the model allocates it in place.
 */
function copyPteRange(dst: VmAreaStruct, src: VmAreaStruct, st: PteTable, addr: number, end: number): number {
  const dt = dst.vmMm.pgtable.alloc(addr);
  for (let x = addr, i = pteIndex(addr); x < end; x += PAGE_SIZE, i++) {
    if (pteNone(st.val[i])) continue;
    if (!ptePresent(st.val[i])) {
      const ret = copyNonpresentPte(dst, src, dt, st, i, x);
      if (ret === 0) continue;
      if (ret !== -ENOENT) return ret;
      // A device-exclusive entry was restored: copy the now present pte.
    }
    const ret = copyPresentPte(dst, src, dt, st, i, x);
    if (ret < 0) return ret;
  }
  return 0;
}

/**
 * Model of copy_present_ptes() for one small folio, and __copy_present_ptes():
 * the child maps the same page (one more reference and mapcount;
 * folio_try_dup_anon_rmap_pte() makes an anon page shared) unless it may be
 * DMA-pinned, which copy_present_page() copies at once. In a COW mapping a
 * writable pte is write-protected in parent and child. The zero page (a
 * special pte, no vm_normal_page()) is just copied. Device coherent and
 * generic pages are present anon pages here and are shared exactly like
 * system pages (6.12 has no case for them). Returns 1 or -errno.
 */
function copyPresentPte(dst: VmAreaStruct, src: VmAreaStruct, dt: PteTable, st: PteTable, i: number, addr: number): number {
  const k = src.vmMm.k, page = st.pfn[i];
  let v = st.val[i];
  let normal = vmNormalPage(k, v, page, false);
  // Seed 004's copy_one_pte() hunk: a devmap pte of a PUBLIC page is shared like a regular page.
  if (normal === 0 && pteDevmap(v)) normal = (k.inject.copyPteDevmap ?? copyPteDevmap)(k, page);
  if (normal !== 0) {
    getPage(k, page);
    if (folioTestAnon(k, page)) { // a tail page's PageAnon is its head's
      if (folioTryDupAnonRmapPte(k, page, src) !== 0) {
        putPage(k, page);
        return copyPresentPage(dst, src, dt, i, addr, page);
      }
      addMmCounter(dst.vmMm, MM_ANONPAGES, 1);
      if (testPageFlag(k, page, PG_anon_exclusive)) k.warn(true, 'copy_present_ptes', `pfn 0x${page.toString(16)} still PageAnonExclusive`);
    } else {
      folioDupFileRmapPte(k, page);
      addMmCounter(dst.vmMm, mmCounterFile(k, page), 1);
    }
  }
  if (isCowMapping(src.vmFlags) && pteWrite(v)) {
    v &= ~_PAGE_RW;
    src.vmMm.pgtable.set(st, i, page, v); // wrprotect_ptes()
  }
  if (src.vmFlags & VM_SHARED) v &= ~_PAGE_DIRTY; // pte_mkclean() in the child
  dst.vmMm.pgtable.set(dt, i, page, v);
  return 1;
}

/**
 * The pte_devmap() branch seed 004 adds to copy_one_pte(): "Cache coherent
 * device memory behave like regular page and not like persistent memory
 * page". A PUBLIC page gets what a normal page gets (in 6.12 terms a
 * reference, folio_try_dup_anon_rmap_pte() for page_dup_rmap(), one more
 * rss page); any other devmap page (FS_DAX) is copied as a raw pfn.
 */
function copyPteDevmap(k: Kernel, pfn: Page): Page {
  return isDevicePublicPage(k, pfn) ? pfn : 0;
}

/** Model of folio_dup_file_rmap_pte(): one more pte maps a page-cache page. */
function folioDupFileRmapPte(k: Kernel, page: Page): void {
  k.memmap.block(page).mapcount[Memmap.slot(page)]++;
  const f = largeFolio(k, page);
  if (f !== undefined) f.largeMapcount++;
}

/**
 * Model of copy_present_page(): the child gets its own copy of a page the
 * parent may have pinned for DMA, mapped writable if the VMA is, so the
 * parent's pinned page is never replaced by a later COW. 1 or -ENOMEM.
 */
function copyPresentPage(dst: VmAreaStruct, src: VmAreaStruct, dt: PteTable, i: number, addr: number, page: Page): number {
  const k = src.vmMm.k;
  const copy = k.pageAlloc.allocPage(); // folio_prealloc(need_zero = false)
  if (copy === 0) return -ENOMEM;
  copyHighpage(k, copy, page); // copy_mc_user_highpage()
  setPageFlag(k, copy, PG_uptodate);
  addMmCounter(dst.vmMm, MM_ANONPAGES, 1);
  folioAddNewAnonRmap(k, copy, dst, addr);
  setPageFlag(k, copy, PG_lru); // folio_add_lru_vma()
  dst.vmMm.pgtable.set(dt, i, copy, _PAGE_PRESENT | _PAGE_DIRTY | (dst.vmFlags & VM_WRITE ? _PAGE_RW : 0));
  return 1;
}

/**
 * Model of copy_nonpresent_pte(): a migration entry is copied (made
 * readable in both if it was writable or exclusive, in a COW mapping); a
 * device-private entry shares its page with the child (reference, mapcount,
 * not exclusive any more; such pages cannot be pinned) and a writable one
 * becomes readable in both, so a CPU write on either side faults, brings the
 * page back through migrate_to_ram() and then COWs. Both count in the
 * child's rss, as the mappings they stand for. 0, or -ENOENT when the
 * caller must copy a restored present pte.
 */
function copyNonpresentPte(dst: VmAreaStruct, src: VmAreaStruct, dt: PteTable, st: PteTable, i: number, addr: number): number {
  const k = src.vmMm.k, page = st.pfn[i];
  let v = st.val[i];
  if (isMigrationEntry(v)) {
    addMmCounter(dst.vmMm, mmCounter(k, page), 1);
    if (swpType(v) !== SWP_MIGRATION_READ && isCowMapping(dst.vmFlags)) {
      v = mkSwpEntry(SWP_MIGRATION_READ) | (v & SWP_MIG_DIRTY);
      src.vmMm.pgtable.set(st, i, page, v);
    }
  } else if (isDevicePrivateEntry(v)) {
    getPage(k, page);
    addMmCounter(dst.vmMm, mmCounter(k, page), 1);
    folioTryDupAnonRmapPte(k, page, src); // cannot fail: device-private pages are never pinned
    if (isWritableDevicePrivateEntry(v) && isCowMapping(dst.vmFlags)) {
      v = mkSwpEntry(SWP_DEVICE_READ);
      src.vmMm.pgtable.set(st, i, page, v);
    }
  } else if (isDeviceExclusiveEntry(v)) {
    BUG_ON(!isCowMapping(src.vmFlags), 'copy_nonpresent_pte', () => 'device-exclusive entry in a shared mapping');
    return copyDeviceExclusivePte(src, st, i, addr);
  } else {
    throw new KernelBug('BUG', 'copy_nonpresent_pte', `swap entry 0x${v.toString(16)} at 0x${addr.toString(16)}: swap is not modelled`);
  }
  dst.vmMm.pgtable.set(dt, i, page, v);
  return 0;
}

/**
 * The device-exclusive branch of copy_nonpresent_pte(): fork restores the
 * entry to a present pte first (try_restore_exclusive_pte(); the device
 * loses its exclusive access, its notifier hears it on the next fault) and
 * then copies that pte like any other (-ENOENT to the caller). -EBUSY if the
 * page is locked: the kernel then retries the copy, which with one thread
 * would never succeed, so it is a kernel bug here.
 */
function copyDeviceExclusivePte(src: VmAreaStruct, st: PteTable, i: number, addr: number): number {
  const ret = tryRestoreExclusivePte(st, i, src, addr);
  BUG_ON(ret === -EBUSY, 'copy_nonpresent_pte', () => `device-exclusive page at 0x${addr.toString(16)} locked during fork`);
  return -ENOENT;
}

/**
 * Model of vm_insert_page() (insert_page()): a driver maps one of its own
 * pages into a VMA from its ->mmap(). The VMA becomes VM_MIXEDMAP; the pte
 * takes vm_page_prot (read-only in a private mapping, so a CPU write COWs);
 * the page gets a reference and a file-style rmap (it is not anonymous).
 * -EBUSY if something is mapped there already, -EFAULT outside the VMA.
 */
export function vmInsertPage(vma: VmAreaStruct, addr: number, page: Page): number {
  const mm = vma.vmMm, k = mm.k;
  if (addr < vma.vmStart || addr >= vma.vmEnd) return -EFAULT;
  vma.vmFlags |= VM_MIXEDMAP;
  const t = mm.pgtable.alloc(addr), i = pteIndex(addr);
  if (!pteNone(t.val[i])) return -EBUSY;
  getPage(k, page);
  addMmCounter(mm, mmCounterFile(k, page), 1);
  folioAddFileRmapPte(k, page, vma);
  mm.pgtable.set(t, i, page, _PAGE_PRESENT | (vmPageProtWrite(vma) ? _PAGE_RW : 0));
  return 0;
}
