// SPDX-License-Identifier: GPL-2.0-only
/*
 * The migration side of lib/test_hmm.c: 6.12's MIGRATE_TO_DEV and
 * MIGRATE_TO_SYS, the seed's MIGRATE (000 patch 11: alloc_to_devmem chooses
 * the direction), CHECK_EXCLUSIVE, and the CPU fault on a device-private
 * page (dev_pagemap_ops.migrate_to_ram).
 */
import { EINVAL, EFAULT, EPERM, EBUSY, ENOMEM } from '../kernel-model/errno.js';
import { TEST_HMM_ALLOC_OOM, MAKE_DEVICE_EXCLUSIVE, TEST_HMM_THP } from '../kernel-model/changes.js';
import type { Kernel } from '../kernel-model/kernel.js';
import type { Task } from '../kernel-model/task.js';
import { type Page, PAGE_SIZE } from '../kernel-model/page.js';
import { type MmStruct, VM_READ, VM_WRITE, findVma, vmaLookup } from '../kernel-model/mm.js';
import { lockPage, unlockPage, putPage, compoundHead, allocPageVma, folioLockKey } from '../kernel-model/page_alloc.js';
import { mmapLockHeld } from '../kernel-model/locking.js';
import { makeDeviceExclusiveRange, makeDeviceExclusive } from '../kernel-model/rmap.js';
import { copyHighpage, clearHighpage } from '../kernel-model/highmem.js';
import { copyToUser, type VmFault } from '../kernel-model/memory.js';
import { isDevicePrivatePage, isDeviceCoherentPage, isDeviceGenericPage, isDevicePublicPage, VM_FAULT_SIGBUS, VM_FAULT_OOM } from '../kernel-model/memremap.js';
import { isZoneDevicePage } from '../kernel-model/page_alloc.js';
import { MigrateVma, migrateVmaSetup, migrateVmaPages, migrateVmaFinalize, migratePfn, migratePfnToPage, mpfnClear,
  MIGRATE_PFN_MIGRATE, MIGRATE_PFN_WRITE, MIGRATE_PFN_VALID, MIGRATE_VMA_SELECT_SYSTEM, MIGRATE_VMA_SELECT_DEVICE_PRIVATE,
  MIGRATE_VMA_SELECT_DEVICE_COHERENT, MIGRATE_VMA_SELECT_COMPOUND } from '../kernel-model/migrate_device.js';
import { type Dmirror, type TestHmm, dmirrorMm, dmirrorMigrateWindow, dmirrorDevmemAllocPage, dmirrorBackingPage, zoneDeviceData,
  setZoneDeviceData, dmirrorPageToDevice } from './test_hmm.js';
import { dmirrorMigrateAllocAndCopyThp, dmirrorMigrateFinalizeAndMapThp, dmirrorDevmemFaultAllocAndCopyThp,
  dmirrorDevmemFaultThp } from './migrate_thp.js';
import { newDmirrorBounce, dmirrorBounceInit, dmirrorBounceFini, dmirrorDoRead } from './mirror.js';
import { DPT_XA_TAG_WRITE, DPT_XA_TAG_ATOMIC, xaPointerTag } from './xarray.js';
import { type HmmDmirrorCmd, HMM_DMIRROR_MEMORY_DEVICE_PRIVATE, HMM_DMIRROR_MEMORY_DEVICE_PUBLIC } from './test_hmm_uapi.js';

/**
 * Model of dmirror_migrate_alloc_and_copy(): a device page for every page
 * that may migrate, the data copied into the page that holds it. A source
 * already in device memory is not migrated: 6.12 WARNs (its selection never
 * offers one), the seed clears the MIGRATE bit of a GENERIC page, which
 * MIGRATE_VMA_SELECT_SYSTEM does offer.
 */
function dmirrorMigrateAllocAndCopy(k: Kernel, args: MigrateVma, dmirror: Dmirror): void {
  const mdevice = dmirror.mdevice, vma = args.vma!, mirror = k.kptr(dmirror);
  for (let i = 0, addr = args.start; addr < args.end; addr += PAGE_SIZE, i++) {
    if (!(args.src[i] & MIGRATE_PFN_MIGRATE)) continue;
    // spage may be NULL: an unpopulated pte or the zero page.
    const spage = migratePfnToPage(args.src[i]);
    if (spage !== 0 && isZoneDevicePage(k, spage)) {
      // A PUBLIC page is offered like GENERIC (selected as system memory, seed 004) and stays where it is.
      if (isDeviceGenericPage(k, spage) || isDevicePublicPage(k, spage)) args.src[i] = mpfnClear(args.src[i], MIGRATE_PFN_MIGRATE);
      else k.warn(true, 'dmirror_migrate_alloc_and_copy', `page already in device spage pfn: 0x${spage.toString(16)}`);
      continue;
    }
    const dpage = dmirrorDevmemAllocPage(mdevice);
    if (dpage === 0) continue;
    const rpage = dmirrorBackingPage(k, dpage);
    if (spage !== 0) copyHighpage(k, rpage, spage);
    else clearHighpage(k, rpage);
    // The page holding the data remembers the mirror (rpage->zone_device_data), for the CPU fault path.
    setZoneDeviceData(k, rpage, mirror);
    args.dst[i] = migratePfn(dpage);
    if ((args.src[i] & MIGRATE_PFN_WRITE) || (spage === 0 && (vma.vmFlags & VM_WRITE))) args.dst[i] += MIGRATE_PFN_WRITE;
  }
}

/** Model of dmirror_migrate_finalize_and_map(): the device maps the pages it now holds (the backing page for PRIVATE). */
function dmirrorMigrateFinalizeAndMap(k: Kernel, args: MigrateVma, dmirror: Dmirror): number {
  for (let i = 0, pfn = args.start / PAGE_SIZE; pfn < args.end / PAGE_SIZE; pfn++, i++) {
    if (!(args.src[i] & MIGRATE_PFN_MIGRATE)) continue;
    const dpage = migratePfnToPage(args.dst[i]);
    if (dpage === 0) continue;
    dmirror.pt.store(pfn, dmirrorBackingPage(k, dpage), args.dst[i] & MIGRATE_PFN_WRITE ? DPT_XA_TAG_WRITE : 0);
  }
  return 0;
}

/**
 * Which device pages a migration back to system memory moves: the one place
 * where the seed's dmirror_devmem_fault_alloc_and_copy() (000 patch 11,
 * called by its MIGRATE with alloc_to_devmem = 0) and 6.12's (called by
 * dmirror_devmem_fault() and MIGRATE_TO_SYS) differ.
 *  - '6.12': PRIVATE and COHERENT pages move; any other page is a WARN (its
 *    callers' selection never offers one).
 *  - 'v5': only device-private pages move; every other page the seed's
 *    MIGRATE_VMA_SELECT_SYSTEM offers (a GENERIC page, a page still in
 *    system memory) is "already in system or SPM": logged, left in place.
 *  - 'public' (a PUBLIC device's MIGRATE_TO_SYS): the device's own PUBLIC
 *    pages move; every other page MIGRATE_VMA_SELECT_SYSTEM offers (system
 *    memory, another device's page) stays. The 2017 migrate_vma() had no
 *    pgmap_owner: the driver's alloc_and_copy() callback chose.
 */
export type MigrateBackRule = '6.12' | 'v5' | 'public';

/**
 * Model of dmirror_devmem_fault_alloc_and_copy(): a system page for each
 * selected device page the rule moves, filled from the page holding its
 * data. A failed allocation leaves the page where it is (not migrated).
 */
function dmirrorDevmemFaultAllocAndCopy(k: Kernel, args: MigrateVma, dmirror: Dmirror, rule: MigrateBackRule): number {
  for (let i = 0, addr = args.start; addr < args.end; addr += PAGE_SIZE, i++) {
    let spage = migratePfnToPage(args.src[i]);
    if (spage === 0 || !(args.src[i] & MIGRATE_PFN_MIGRATE)) continue;
    if (rule === 'public' && (!isDevicePublicPage(k, spage) || dmirrorPageToDevice(dmirror.mdevice.mod, spage) !== dmirror.mdevice)) {
      args.src[i] = mpfnClear(args.src[i], MIGRATE_PFN_MIGRATE);
      continue;
    }
    if (rule === 'v5' && !isDevicePrivatePage(k, spage)) {
      k.printk(`page already in system or SPM spage pfn: 0x${spage.toString(16)}`);
      args.src[i] = mpfnClear(args.src[i], MIGRATE_PFN_MIGRATE);
      continue;
    }
    // The WARN's message is built only when it fires: this runs for every page of every CPU fault.
    if (rule !== 'public' && !isDevicePrivatePage(k, spage) && !isDeviceCoherentPage(k, spage)) {
      k.warn(true, 'dmirror_devmem_fault_alloc_and_copy', `pfn 0x${spage.toString(16)} is not device memory`);
      continue;
    }
    spage = dmirrorBackingPage(k, spage);
    // alloc_page_vma(GFP_HIGHUSER_MOVABLE): may run the OOM killer (page_alloc.ts). 6.12 then leaves the page
    // where it is and returns 0, so a CPU fault on it ends by the OOM victim's death or a retry;
    // TEST_HMM_ALLOC_OOM fails the migration (the pages before stay set up).
    const dpage = allocPageVma(k, args.vma!.vmMm);
    if (dpage === 0) {
      if (k.has(TEST_HMM_ALLOC_OOM)) return VM_FAULT_OOM;
      continue;
    }
    lockPage(k, dpage);
    dmirror.pt.erase(addr / PAGE_SIZE);
    copyHighpage(k, dpage, spage);
    args.dst[i] = migratePfn(dpage);
    if (args.src[i] & MIGRATE_PFN_WRITE) args.dst[i] += MIGRATE_PFN_WRITE;
  }
  return 0;
}

/**
 * Model of dmirror_select_device(): which device pages a migration back to
 * system memory selects. PUBLIC pages are system memory to the selection
 * (migrate_device.ts), so a PUBLIC device selects with SELECT_SYSTEM.
 */
export function dmirrorSelectDevice(dmirror: Dmirror): number {
  if (dmirror.mdevice.zone_device_type === HMM_DMIRROR_MEMORY_DEVICE_PUBLIC) return MIGRATE_VMA_SELECT_SYSTEM;
  return dmirror.mdevice.zone_device_type === HMM_DMIRROR_MEMORY_DEVICE_PRIVATE
    ? MIGRATE_VMA_SELECT_DEVICE_PRIVATE : MIGRATE_VMA_SELECT_DEVICE_COHERENT;
}

/** Model of dmirror_successful_migrated_pages(). */
function dmirrorSuccessfulMigratedPages(m: MigrateVma): number {
  let cpages = 0;
  for (let i = 0; i < m.npages; i++) if ((m.src[i] & MIGRATE_PFN_VALID) && (m.src[i] & MIGRATE_PFN_MIGRATE)) cpages++;
  return cpages;
}

/**
 * Model of dmirror_migrate_to_system() (6.12 MIGRATE_TO_SYS): VMA by VMA,
 * ARRAY_SIZE(src_pfns) pages at a time, the device's own pages back to system memory;
 * cmd.cpages counts the pages that moved.
 */
export function dmirrorMigrateToSystem(dmirror: Dmirror, cmd: HmmDmirrorCmd): number {
  const mm = dmirrorMm(dmirror), k = mm.k;
  const start = cmd.addr, end = start + cmd.npages * PAGE_SIZE;
  if (end < start) return -EINVAL;
  if (!mm.mmgetNotZero()) return -EINVAL;
  const args = new MigrateVma(), window = dmirrorMigrateWindow(k), thp = k.has(TEST_HMM_THP);
  args.src = new Float64Array(window);
  args.dst = new Float64Array(window);
  cmd.cpages = 0;
  let ret = 0;
  for (let addr = start, next: number; addr < end; addr = next) {
    const vma = vmaLookup(mm, addr);
    if (vma === null || !(vma.vmFlags & VM_READ)) {
      ret = -EINVAL;
      break;
    }
    next = Math.min(end, addr + window * PAGE_SIZE, vma.vmEnd);
    args.vma = vma;
    args.start = addr;
    args.end = next;
    args.pgmapOwner = dmirror.mdevice;
    args.flags = dmirrorSelectDevice(dmirror) | (thp ? MIGRATE_VMA_SELECT_COMPOUND : 0);
    ret = migrateVmaSetup(k, args);
    if (ret) break;
    // 6.12 ignores what the copy returns; with TEST_HMM_ALLOC_OOM it can be VM_FAULT_OOM.
    const rule = dmirror.mdevice.zone_device_type === HMM_DMIRROR_MEMORY_DEVICE_PUBLIC ? 'public' : '6.12';
    const copied = thp ? dmirrorDevmemFaultAllocAndCopyThp(k, args, dmirror) : dmirrorDevmemFaultAllocAndCopy(k, args, dmirror, rule);
    if (copied !== 0) {
      migrateVmaFinalize(k, args);
      ret = -ENOMEM;
      break;
    }
    migrateVmaPages(k, args);
    cmd.cpages += dmirrorSuccessfulMigratedPages(args);
    migrateVmaFinalize(k, args);
  }
  mm.mmput();
  return ret;
}

/**
 * The lock keys of the folios migrate_vma_setup() collected and locked (a
 * preemption point's holds; none when every entry was none or the zero
 * page). Asked only with other threads alive: Sched.point() is a no-op
 * without them, and the fault path runs this once a page.
 */
function windowLockedFolios(k: Kernel, args: MigrateVma): string[] {
  const keys = new Set<string>();
  for (let i = 0; i < args.npages; i++) {
    const page = migratePfnToPage(args.src[i]);
    if (page !== 0) keys.add(folioLockKey(compoundHead(k, page)));
  }
  return [...keys];
}

/**
 * Model of dmirror_migrate_to_device() (6.12 MIGRATE_TO_DEV): VMA by VMA,
 * ARRAY_SIZE(src_pfns) pages at a time, system pages into device memory and the device's
 * page table; then the data is read back through the mirror into cmd.ptr,
 * cmd.cpages counting the pages found there.
 */
export function dmirrorMigrateToDevice(dmirror: Dmirror, cmd: HmmDmirrorCmd, current: Task): number {
  const mm = dmirrorMm(dmirror), k = mm.k;
  const start = cmd.addr, end = start + cmd.npages * PAGE_SIZE;
  if (end < start) return -EINVAL;
  if (!mm.mmgetNotZero()) return -EINVAL;
  const args = new MigrateVma(), window = dmirrorMigrateWindow(k), thp = k.has(TEST_HMM_THP);
  args.src = new Float64Array(window);
  args.dst = new Float64Array(window);
  let ret = 0;
  for (let addr = start, next: number; addr < end; addr = next) {
    const vma = vmaLookup(mm, addr);
    if (vma === null || !(vma.vmFlags & VM_READ)) {
      mm.mmput();
      return -EINVAL;
    }
    next = Math.min(end, addr + window * PAGE_SIZE, vma.vmEnd);
    args.vma = vma;
    args.start = addr;
    args.end = next;
    args.pgmapOwner = dmirror.mdevice;
    args.flags = MIGRATE_VMA_SELECT_SYSTEM | (thp ? MIGRATE_VMA_SELECT_COMPOUND : 0);
    ret = migrateVmaSetup(k, args);
    if (ret) {
      mm.mmput();
      return ret;
    }
    // dmirror_devmem_alloc_page() may sleep (alloc_page(GFP_HIGHUSER)): a preemption point under the
    // scheduler's rule when migrate_vma_setup() locked no source page (every entry none or zero); with
    // source folios locked, one for the explorer only.
    if (k.sched.nrThreads > 0) {
      const locked = windowLockedFolios(k, args);
      k.sched.point('dmirror_migrate_to_device: after migrate_vma_setup', locked.length === 0 ? undefined : () => locked);
    }
    if (thp) dmirrorMigrateAllocAndCopyThp(k, args, dmirror);
    else dmirrorMigrateAllocAndCopy(k, args, dmirror);
    migrateVmaPages(k, args);
    if (thp) dmirrorMigrateFinalizeAndMapThp(k, args, dmirror);
    else dmirrorMigrateFinalizeAndMap(k, args, dmirror);
    migrateVmaFinalize(k, args);
  }
  mm.mmput();
  // Return the migrated data for verification, only for pages in device memory.
  const bounce = newDmirrorBounce();
  ret = dmirrorBounceInit(k, bounce, start, cmd.npages * PAGE_SIZE);
  if (ret) return ret;
  ret = dmirrorDoRead(dmirror, start, end, bounce);
  if (ret === 0 && copyToUser(current.mm, cmd.ptr, bounce.ptr) !== 0) ret = -EFAULT;
  cmd.cpages = bounce.cpages;
  dmirrorBounceFini(k, bounce);
  return ret;
}

/** Model of dmirror_atomic_map() (6.12): the device maps the pages it holds exclusively, tagged ATOMIC; returns how many. */
function dmirrorAtomicMap(start: number, end: number, pages: Float64Array, dmirror: Dmirror): number {
  let mapped = 0;
  for (let i = 0, pfn = start / PAGE_SIZE; pfn < end / PAGE_SIZE; pfn++, i++) {
    if (pages[i] === 0) continue;
    dmirror.pt.store(pfn, pages[i], DPT_XA_TAG_ATOMIC);
    mapped++;
  }
  return mapped;
}

/**
 * The 6.12 loop of dmirror_exclusive(): 64 pages at a time,
 * make_device_exclusive_range() and, only if every page of the step was
 * made exclusive, map them for atomic access; -EBUSY as soon as a step is
 * not fully mapped.
 */
function dmirrorExclusiveRange(mm: MmStruct, start: number, end: number, dmirror: Dmirror): number {
  const k = mm.k, pages = new Float64Array(64);
  for (let addr = start, next: number; addr < end; addr = next) {
    next = Math.min(end, addr + 64 * PAGE_SIZE);
    pages.fill(0);
    const ret = makeDeviceExclusiveRange(mm, addr, next, pages, null); // 6.12 passes no owner
    // Map only when every page is marked exclusive, so no field of a page left out is looked at.
    const mapped = ret === (next - addr) / PAGE_SIZE ? dmirrorAtomicMap(addr, next, pages, dmirror) : 0;
    for (let i = 0; i < ret; i++) {
      if (pages[i] !== 0) {
        unlockPage(k, pages[i]);
        putPage(k, pages[i]);
      }
    }
    if (addr + mapped * PAGE_SIZE < next) return -EBUSY;
  }
  return 0;
}

/**
 * The dmirror_exclusive() loop from 6.15 (MAKE_DEVICE_EXCLUSIVE, with
 * "lib/test_hmm: make dmirror_atomic_map() consume a single page"): one
 * page at a time, make_device_exclusive() then the page mapped for atomic
 * access (the xarray store of dmirror_atomic_map()); the first error ends it.
 */
function dmirrorExclusivePages(mm: MmStruct, start: number, end: number, dmirror: Dmirror): number {
  const k = mm.k;
  for (let addr = start; addr < end; addr += PAGE_SIZE) {
    const page = makeDeviceExclusive(mm, addr, null);
    if (page < 0) return page;
    dmirror.pt.store(addr / PAGE_SIZE, page, DPT_XA_TAG_ATOMIC);
    const folio = compoundHead(k, page);
    unlockPage(k, folio);
    putPage(k, folio);
  }
  return 0;
}

/**
 * Model of dmirror_exclusive() (EXCLUSIVE): make the range exclusive to
 * the device and map it for atomic access, then read the data back
 * through the mirror into cmd.ptr, cmd.cpages counting the pages found.
 */
export function dmirrorExclusive(dmirror: Dmirror, cmd: HmmDmirrorCmd, current: Task): number {
  const mm = dmirrorMm(dmirror), k = mm.k;
  const start = cmd.addr, end = start + cmd.npages * PAGE_SIZE;
  if (end < start) return -EINVAL;
  if (!mm.mmgetNotZero()) return -EINVAL;
  // The C holds mmap_read_lock() around the loop; the model does not take it, as dmirror_migrate_to_device() (its
  // libc mmap()s every malloc(), so a thread's EXCLUSIVE would wait on it before its ioctl; src/kernel-model/README.md).
  let ret = k.has(MAKE_DEVICE_EXCLUSIVE) ? dmirrorExclusivePages(mm, start, end, dmirror) : dmirrorExclusiveRange(mm, start, end, dmirror);
  mm.mmput();
  if (ret) return ret;
  // Return the data for verification.
  const bounce = newDmirrorBounce();
  ret = dmirrorBounceInit(k, bounce, start, cmd.npages * PAGE_SIZE);
  if (ret) return ret;
  ret = dmirrorDoRead(dmirror, start, end, bounce);
  if (ret === 0 && copyToUser(current.mm, cmd.ptr, bounce.ptr) !== 0) ret = -EFAULT;
  cmd.cpages = bounce.cpages;
  dmirrorBounceFini(k, bounce);
  return ret;
}

/** Model of dmirror_check_atomic() (CHECK_EXCLUSIVE): -EPERM while any page of the range is still mapped for atomic access. */
export function dmirrorCheckAtomic(dmirror: Dmirror, start: number, end: number): number {
  for (let pfn = start / PAGE_SIZE; pfn < end / PAGE_SIZE; pfn++) {
    if (xaPointerTag(dmirror.pt.load(pfn)) === DPT_XA_TAG_ATOMIC) return -EPERM;
  }
  return 0;
}

/**
 * Model of dmirror_migrate() (seed 000 patch 11). Walks the range VMA by VMA,
 * 64 pages at a time. To device memory: the pages are mapped into the
 * mirror and read back into cmd.ptr, cmd.cpages counting them. To system
 * memory: PRIVATE devices select their own device-private pages, GENERIC
 * devices select with MIGRATE_VMA_SELECT_SYSTEM; cmd.cpages stays 0.
 */
export function dmirrorMigrate(dmirror: Dmirror, cmd: HmmDmirrorCmd, current: Task): number {
  const mm = dmirrorMm(dmirror), k = mm.k;
  const start = cmd.addr, end = start + cmd.npages * PAGE_SIZE;
  if (end < start) return -EINVAL;
  if (!mm.mmgetNotZero()) return -EINVAL;
  const args = new MigrateVma();
  args.src = new Float64Array(64);
  args.dst = new Float64Array(64);
  let ret = 0;
  for (let addr = start, next: number; addr < end; addr = next) {
    const vma = findVma(mm, addr);
    if (vma === null || addr < vma.vmStart || !(vma.vmFlags & VM_READ)) {
      mm.mmput();
      return -EINVAL;
    }
    next = Math.min(end, addr + 64 * PAGE_SIZE, vma.vmEnd);
    args.vma = vma;
    args.start = addr;
    args.end = next;
    args.pgmapOwner = dmirror.mdevice;
    args.flags = !cmd.alloc_to_devmem && dmirror.mdevice.zone_device_type === HMM_DMIRROR_MEMORY_DEVICE_PRIVATE
      ? MIGRATE_VMA_SELECT_DEVICE_PRIVATE : MIGRATE_VMA_SELECT_SYSTEM;
    ret = migrateVmaSetup(k, args);
    if (ret) {
      mm.mmput();
      return ret;
    }
    if (cmd.alloc_to_devmem) dmirrorMigrateAllocAndCopy(k, args, dmirror);
    else dmirrorDevmemFaultAllocAndCopy(k, args, dmirror, 'v5'); // the seed's own helper
    migrateVmaPages(k, args);
    if (cmd.alloc_to_devmem) dmirrorMigrateFinalizeAndMap(k, args, dmirror);
    migrateVmaFinalize(k, args);
  }
  mm.mmput();
  // Return the migrated data for verification, only for pages in device memory.
  if (cmd.alloc_to_devmem) {
    const bounce = newDmirrorBounce();
    ret = dmirrorBounceInit(k, bounce, start, cmd.npages * PAGE_SIZE);
    if (ret) return ret;
    ret = dmirrorDoRead(dmirror, start, end, bounce);
    if (ret === 0 && copyToUser(current.mm, cmd.ptr, bounce.ptr) !== 0) ret = -EFAULT;
    cmd.cpages = bounce.cpages;
    dmirrorBounceFini(k, bounce);
  }
  return ret;
}

/**
 * Model of dmirror_devmem_fault(): the CPU touched a device-private page;
 * migrate that one page back to system memory. The mirror is found through
 * the backing page (rpage->zone_device_data).
 */
export function dmirrorDevmemFault(mod: TestHmm, vmf: VmFault): number {
  const k = mod.k;
  if (k.has(TEST_HMM_THP)) return dmirrorDevmemFaultThp(mod, vmf);
  const rpage: Page = zoneDeviceData(k, vmf.page);
  const dmirror = k.kobj<Dmirror>(zoneDeviceData(k, rpage), 'dmirror_devmem_fault')!;
  // The C keeps args and its two pfns on the stack; the module's scratch ones stand in (a fault never nests).
  const args = mod.faultArgs;
  args.vma = vmf.vma;
  args.start = vmf.address;
  args.end = vmf.address + PAGE_SIZE;
  args.src[0] = 0;
  args.dst[0] = 0;
  args.pgmapOwner = dmirror.mdevice;
  args.flags = dmirrorSelectDevice(dmirror);
  args.faultPage = vmf.page;
  if (migrateVmaSetup(k, args)) return VM_FAULT_SIGBUS;
  // Explore only: alloc_page_vma() may sleep in reclaim, with the device folio locked by migrate_vma_setup()
  // The C's fault also holds mmap_lock for read; the model's user fault takes none, so only a caller's is listed.
  if (k.sched.nrThreads > 0) {
    const locked = windowLockedFolios(k, args);
    if (locked.length !== 0) k.sched.point('dmirror_devmem_fault: after migrate_vma_setup', () => [...mmapLockHeld(args.vma!.vmMm), ...locked]);
  }
  const ret = dmirrorDevmemFaultAllocAndCopy(k, args, dmirror, '6.12');
  if (ret) {
    // Only TEST_HMM_ALLOC_OOM fails here; mainline then finalizes ("lib/test_hmm: fix error path in dmirror_devmem_fault()").
    migrateVmaFinalize(k, args);
    return ret;
  }
  migrateVmaPages(k, args);
  // No device finalize step: the fault path already dropped the mirror's entry.
  migrateVmaFinalize(k, args);
  return 0;
}
