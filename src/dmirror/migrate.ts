// SPDX-License-Identifier: GPL-2.0-only
/*
 * The migration side of lib/test_hmm.c as the seed leaves it: the MIGRATE
 * ioctl (seed 000 patch 11: alloc_to_devmem chooses system-to-device or
 * device-to-system) and the CPU fault on a device-private page
 * (dev_pagemap_ops.migrate_to_ram).
 */
import { EINVAL, EFAULT } from '../kernel-model/errno.js';
import type { Kernel } from '../kernel-model/kernel.js';
import type { Task } from '../kernel-model/task.js';
import { type Page, PAGE_SIZE } from '../kernel-model/page.js';
import { VM_READ, VM_WRITE, findVma } from '../kernel-model/mm.js';
import { lockPage } from '../kernel-model/page_alloc.js';
import { copyHighpage, clearHighpage } from '../kernel-model/highmem.js';
import { copyToUser, type VmFault } from '../kernel-model/memory.js';
import { isDevicePrivatePage, VM_FAULT_SIGBUS } from '../kernel-model/memremap.js';
import { isZoneDevicePage } from '../kernel-model/page_alloc.js';
import { MigrateVma, migrateVmaSetup, migrateVmaPages, migrateVmaFinalize, migratePfn, migratePfnToPage, mpfnClear,
  MIGRATE_PFN_MIGRATE, MIGRATE_PFN_WRITE, MIGRATE_VMA_SELECT_SYSTEM, MIGRATE_VMA_SELECT_DEVICE_PRIVATE } from '../kernel-model/migrate_device.js';
import { Memmap } from '../kernel-model/page.js';
import { type Dmirror, type TestHmm, dmirrorMm, dmirrorDevmemAllocPage, dmirrorBackingPage } from './test_hmm.js';
import { dmirrorBounceInit, dmirrorDoRead } from './mirror.js';
import { DPT_XA_TAG_WRITE } from './xarray.js';
import { type HmmDmirrorCmd, HMM_DMIRROR_MEMORY_DEVICE_PRIVATE } from './test_hmm_uapi.js';

/**
 * Model of dmirror_migrate_alloc_and_copy() (seed): a device page for every
 * page that may migrate, the data copied into the page that holds it. A
 * source already in device memory is not migrated (the seed clears its
 * MIGRATE bit; upstream WARNs).
 */
function dmirrorMigrateAllocAndCopy(k: Kernel, args: MigrateVma, dmirror: Dmirror): void {
  const mdevice = dmirror.mdevice, vma = args.vma!;
  for (let i = 0, addr = args.start; addr < args.end; addr += PAGE_SIZE, i++) {
    if (!(args.src[i] & MIGRATE_PFN_MIGRATE)) continue;
    // spage may be NULL: an unpopulated pte or the zero page.
    const spage = migratePfnToPage(args.src[i]);
    if (spage !== 0 && isZoneDevicePage(k, spage)) {
      args.src[i] = mpfnClear(args.src[i], MIGRATE_PFN_MIGRATE);
      continue;
    }
    const dpage = dmirrorDevmemAllocPage(mdevice);
    if (dpage === 0) continue;
    const rpage = dmirrorBackingPage(k, dpage);
    if (spage !== 0) copyHighpage(k, rpage, spage);
    else clearHighpage(k, rpage);
    // The page holding a private page's data remembers the mirror, for the CPU fault path.
    const holder = k.memmap.block(dpage).zdd[Memmap.slot(dpage)];
    k.memmap.block(holder).zdd[Memmap.slot(holder)] = k.kptr(dmirror);
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
 * Model of dmirror_devmem_fault_alloc_and_copy() (seed): a system page for
 * each device-private page, filled from its backing page. Anything else the
 * walk selected is "already in system or SPM" and does not move: with the
 * seed's driver an explicit migration back leaves GENERIC pages where they
 * are.
 */
function dmirrorDevmemFaultAllocAndCopy(k: Kernel, args: MigrateVma, dmirror: Dmirror): number {
  for (let i = 0, addr = args.start; addr < args.end; addr += PAGE_SIZE, i++) {
    let spage = migratePfnToPage(args.src[i]);
    if (spage === 0 || !(args.src[i] & MIGRATE_PFN_MIGRATE)) continue;
    if (isDevicePrivatePage(k, spage)) {
      spage = k.memmap.block(spage).zdd[Memmap.slot(spage)];
    } else {
      k.printk(`page already in system or SPM spage pfn: 0x${spage.toString(16)}`);
      args.src[i] = mpfnClear(args.src[i], MIGRATE_PFN_MIGRATE);
      continue;
    }
    const dpage = k.pageAlloc.allocPage(); // alloc_page_vma()
    if (dpage === 0) continue;
    lockPage(k, dpage);
    dmirror.pt.erase(addr / PAGE_SIZE);
    copyHighpage(k, dpage, spage);
    args.dst[i] = migratePfn(dpage);
    if (args.src[i] & MIGRATE_PFN_WRITE) args.dst[i] += MIGRATE_PFN_WRITE;
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
    else dmirrorDevmemFaultAllocAndCopy(k, args, dmirror);
    migrateVmaPages(k, args);
    if (cmd.alloc_to_devmem) dmirrorMigrateFinalizeAndMap(k, args, dmirror);
    migrateVmaFinalize(k, args);
  }
  mm.mmput();
  // Return the migrated data for verification, only for pages in device memory.
  if (cmd.alloc_to_devmem) {
    const bounce = dmirrorBounceInit(start, cmd.npages * PAGE_SIZE);
    ret = dmirrorDoRead(dmirror, start, end, bounce);
    if (ret === 0 && copyToUser(current.mm, cmd.ptr, bounce.ptr) !== 0) ret = -EFAULT;
    cmd.cpages = bounce.cpages;
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
  const rpage: Page = k.memmap.block(vmf.page).zdd[Memmap.slot(vmf.page)];
  const dmirror = k.kobj<Dmirror>(k.memmap.block(rpage).zdd[Memmap.slot(rpage)])!;
  const args = new MigrateVma();
  args.vma = vmf.vma;
  args.start = vmf.address;
  args.end = vmf.address + PAGE_SIZE;
  args.src = new Float64Array(1);
  args.dst = new Float64Array(1);
  args.pgmapOwner = dmirror.mdevice;
  args.flags = MIGRATE_VMA_SELECT_DEVICE_PRIVATE;
  args.faultPage = vmf.page;
  if (migrateVmaSetup(k, args)) return VM_FAULT_SIGBUS;
  const ret = dmirrorDevmemFaultAllocAndCopy(k, args, dmirror);
  if (ret) return ret;
  migrateVmaPages(k, args);
  // No device finalize step: the fault path already dropped the mirror's entry.
  migrateVmaFinalize(k, args);
  return 0;
}
