// SPDX-License-Identifier: GPL-2.0-only
/*
 * The migration helpers of mainline lib/test_hmm.c (linux-mm blob 05ab5121)
 * that the device-private THP series rewrote ("lib/test_hmm: add zone device
 * private THP test infrastructure", TEST_HMM_THP; "lib/test_hmm: add large
 * page allocation failure testing", TEST_HMM_FAIL_ALLOC): alloc-and-copy in
 * both directions and finalize-and-map work on whole folios for
 * MIGRATE_PFN_COMPOUND entries, and dmirror_devmem_fault() migrates the whole
 * folio when the CPU came through a PMD. migrate.ts calls these instead of
 * 6.12's where k.has(TEST_HMM_THP).
 *
 * Departures from the C, on purpose:
 *  - the 4K fallback of dmirror_migrate_alloc_and_copy() does not check
 *    dmirror_devmem_alloc_page() (the C dereferences NULL); the model leaves
 *    that page unmigrated;
 *  - the seed's GENERIC pages (generic mode) are not migrated again, as in
 *    6.12's helper of the model.
 */
import type { Kernel } from '../kernel-model/kernel.js';
import { type Page, PAGE_SIZE, HPAGE_PMD_NR } from '../kernel-model/page.js';
import { lockPage, unlockPage, putPage, compoundHead, folioOrder, allocPageVma, isZoneDevicePage } from '../kernel-model/page_alloc.js';
import { copyHighpage, clearHighpage } from '../kernel-model/highmem.js';
import type { VmFault } from '../kernel-model/memory.js';
import { isDevicePrivatePage, isDeviceCoherentPage, isDeviceGenericPage, VM_FAULT_SIGBUS, VM_FAULT_OOM } from '../kernel-model/memremap.js';
import { type MigrateVma, migrateVmaSetup, migrateVmaPages, migrateVmaFinalize, migratePfn, migratePfnToPage, mpfnClear,
  MIGRATE_PFN_MIGRATE, MIGRATE_PFN_WRITE, MIGRATE_PFN_COMPOUND, MIGRATE_VMA_SELECT_COMPOUND } from '../kernel-model/migrate_device.js';
import { TEST_HMM_ALLOC_OOM } from '../kernel-model/changes.js';
import { type Dmirror, type TestHmm, dmirrorDevmemAllocFolio, dmirrorBackingPage, zoneDeviceData, setZoneDeviceData } from './test_hmm.js';
import { dmirrorSelectDevice } from './migrate.js';
import { DPT_XA_TAG_WRITE } from './xarray.js';
import { HMM_DMIRROR_FLAG_FAIL_ALLOC } from './test_hmm_uapi.js';

/** The one-shot HMM_DMIRROR_FLAG_FAIL_ALLOC: true (and the flag cleared) when this allocation is to fail. */
export function dmirrorTakeFailAlloc(dmirror: Dmirror): boolean {
  if (!(dmirror.flags & HMM_DMIRROR_FLAG_FAIL_ALLOC)) return false;
  dmirror.flags &= ~HMM_DMIRROR_FLAG_FAIL_ALLOC;
  return true;
}

/** Fill rpage (a page holding device data) from spage, or with zeroes when there is no source page. */
function copyOrClear(k: Kernel, rpage: Page, spage: Page): void {
  if (spage !== 0) copyHighpage(k, rpage, spage);
  else clearHighpage(k, rpage);
}

/**
 * Model of dmirror_migrate_alloc_and_copy() (mainline): a device folio of
 * the entry's size; a compound entry whose large allocation fails (or is
 * made to, HMM_DMIRROR_FLAG_FAIL_ALLOC) gets a device page for each of its
 * pages instead, which migrate_vma_pages() answers by splitting the source.
 */
export function dmirrorMigrateAllocAndCopyThp(k: Kernel, args: MigrateVma, dmirror: Dmirror): void {
  const mdevice = dmirror.mdevice, mirror = k.kptr(dmirror);
  for (let i = 0, addr = args.start; addr < args.end;) {
    const isLarge = (args.src[i] & MIGRATE_PFN_COMPOUND) !== 0;
    const write = args.src[i] & MIGRATE_PFN_WRITE ? MIGRATE_PFN_WRITE : 0;
    const spage = migratePfnToPage(args.src[i]);
    let skip = !(args.src[i] & MIGRATE_PFN_MIGRATE);
    if (!skip && spage !== 0 && isZoneDevicePage(k, spage)) {
      if (isDeviceGenericPage(k, spage)) args.src[i] = mpfnClear(args.src[i], MIGRATE_PFN_MIGRATE);
      else k.warn(true, 'dmirror_migrate_alloc_and_copy', `page already in device spage pfn: 0x${spage.toString(16)}`);
      skip = true;
    }
    if (skip) {
      i++;
      addr += PAGE_SIZE;
      continue;
    }
    const dpage = dmirrorTakeFailAlloc(dmirror) ? 0 : dmirrorDevmemAllocFolio(mdevice, isLarge);
    if (dpage === 0) {
      if (!isLarge) {
        i++;
        addr += PAGE_SIZE;
        continue;
      }
      // Try with small pages: one device page per page of the folio (or of the empty PMD).
      const nr = spage === 0 ? HPAGE_PMD_NR : 1 << folioOrder(k, spage);
      for (let j = 0; j < nr && addr < args.end; j++, i++, addr += PAGE_SIZE) {
        const d = dmirrorDevmemAllocFolio(mdevice, false);
        if (d === 0) continue;
        const rpage = dmirrorBackingPage(k, d);
        setZoneDeviceData(k, rpage, mirror);
        args.dst[i] = migratePfn(d) + write;
        copyOrClear(k, rpage, spage === 0 ? 0 : spage + j);
      }
      continue;
    }
    const rpage = dmirrorBackingPage(k, dpage);
    // The page holding the data remembers the mirror (rpage->zone_device_data), for the CPU fault path.
    setZoneDeviceData(k, rpage, mirror);
    args.dst[i] = migratePfn(dpage) + write + (isLarge ? MIGRATE_PFN_COMPOUND : 0);
    const nr = isLarge ? 1 << folioOrder(k, dpage) : 1;
    for (let j = 0; j < nr && addr < args.end; j++, i++, addr += PAGE_SIZE) copyOrClear(k, rpage + j, spage === 0 ? 0 : spage + j);
  }
}

/**
 * Model of dmirror_migrate_finalize_and_map() (mainline): the device maps
 * every page of each destination folio, through the folio holding its data.
 */
export function dmirrorMigrateFinalizeAndMapThp(k: Kernel, args: MigrateVma, dmirror: Dmirror): number {
  const startPfn = args.start / PAGE_SIZE, endPfn = args.end / PAGE_SIZE;
  for (let i = 0, pfn = startPfn; pfn < endPfn; pfn++, i++) {
    if (!(args.src[i] & MIGRATE_PFN_MIGRATE)) continue;
    const dpage = migratePfnToPage(args.dst[i]);
    if (dpage === 0) continue;
    const nr = args.dst[i] & MIGRATE_PFN_COMPOUND ? 1 << folioOrder(k, dpage) : 1;
    k.warn(endPfn < startPfn + nr, 'dmirror_migrate_finalize_and_map', `a folio of ${nr} pages in a window of ${endPfn - startPfn}`);
    const rfolio = compoundHead(k, dmirrorBackingPage(k, dpage));
    const tag = args.dst[i] & MIGRATE_PFN_WRITE ? DPT_XA_TAG_WRITE : 0;
    for (let j = 0; j < nr; j++) dmirror.pt.store(pfn + j, rfolio + j, tag);
  }
  return 0;
}

/**
 * Model of dmirror_devmem_fault_alloc_and_copy() (mainline): a system folio
 * of the backing folio's order for each device folio selected, filled from
 * it and dropped from the mirror; a failed or refused (FAIL_ALLOC) large
 * allocation falls back to one alloc_page_vma() per page (the destination
 * is then not compound and migrate_vma_pages() splits the device folio).
 * VM_FAULT_OOM when a page cannot be had (the pages taken are given back).
 */
export function dmirrorDevmemFaultAllocAndCopyThp(k: Kernel, args: MigrateVma, dmirror: Dmirror): number {
  const { src, dst } = args, mm = args.vma!.vmMm;
  let order = 0;
  for (let i = 0, addr = args.start; addr < args.end; i += 1 << order) {
    let spage = migratePfnToPage(src[i]);
    if (spage === 0 || !(src[i] & MIGRATE_PFN_MIGRATE)) {
      addr += PAGE_SIZE;
      continue; // the C steps by the last entry's order here too
    }
    if (k.warn(!isDevicePrivatePage(k, spage) && !isDeviceCoherentPage(k, spage), 'dmirror_devmem_fault_alloc_and_copy',
      `pfn 0x${spage.toString(16)} is not device memory`)) {
      addr += PAGE_SIZE;
      continue;
    }
    spage = dmirrorBackingPage(k, spage);
    order = folioOrder(k, spage);
    let d = order ? MIGRATE_PFN_COMPOUND : 0;
    if (src[i] & MIGRATE_PFN_WRITE) d += MIGRATE_PFN_WRITE;
    let dpage: Page;
    if (dmirrorTakeFailAlloc(dmirror)) {
      d = mpfnClear(d, MIGRATE_PFN_COMPOUND);
      dpage = 0;
    } else {
      dpage = order ? k.pageAlloc.allocFolio(order) : allocPageVma(k, mm); // vma_alloc_folio() / alloc_page_vma()
    }
    if (dpage === 0 && !order) {
      if (k.has(TEST_HMM_ALLOC_OOM)) return VM_FAULT_OOM;
      dst[i] = 0;
      addr += PAGE_SIZE;
      continue;
    }
    if (dpage !== 0) {
      lockPage(k, dpage);
      d += migratePfn(dpage);
    }
    dst[i] = d;
    for (let j = 0; j < 1 << order; j++) {
      let dstPage: Page;
      if (dpage === 0) {
        // Try with smaller pages if the large allocation failed.
        const p = allocPageVma(k, mm);
        if (p === 0) {
          for (let u = j - 1; u >= 0; u--) {
            const f = migratePfnToPage(dst[i + u]);
            unlockPage(k, f);
            putPage(k, f);
          }
          dst.fill(0, i + j, i + (1 << order));
          return VM_FAULT_OOM;
        }
        lockPage(k, p);
        dst[i + j] = migratePfn(p);
        dstPage = p;
      } else {
        dstPage = dpage + j;
      }
      dmirror.pt.erase(addr / PAGE_SIZE);
      addr += PAGE_SIZE;
      copyHighpage(k, dstPage, spage + j);
    }
  }
  return 0;
}

/**
 * Model of dmirror_devmem_fault() (mainline): the CPU touched a device
 * page; a fault through a PMD (vmf->pte NULL) migrates the whole folio back
 * (MIGRATE_VMA_SELECT_COMPOUND over its aligned range), a fault through a
 * PTE only that page (the folio may be partly split). The mirror is found
 * through the folio's backing page.
 */
export function dmirrorDevmemFaultThp(mod: TestHmm, vmf: VmFault): number {
  const k = mod.k;
  const rpage: Page = zoneDeviceData(k, compoundHead(k, vmf.page)); // folio_zone_device_data(page_folio(vmf->page))
  const dmirror = k.kobj<Dmirror>(zoneDeviceData(k, rpage), 'dmirror_devmem_fault')!;
  const order = vmf.pte === false ? folioOrder(k, vmf.page) : 0;
  const size = PAGE_SIZE << order, nr = 1 << order;
  const args = mod.faultArgs;
  args.vma = vmf.vma;
  args.start = vmf.address - (vmf.address % size);
  args.end = args.start + size;
  args.src.fill(0, 0, nr);
  args.dst.fill(0, 0, nr);
  args.pgmapOwner = dmirror.mdevice;
  args.flags = dmirrorSelectDevice(dmirror) | (order ? MIGRATE_VMA_SELECT_COMPOUND : 0);
  args.faultPage = vmf.page;
  if (migrateVmaSetup(k, args)) return VM_FAULT_SIGBUS;
  const ret = dmirrorDevmemFaultAllocAndCopyThp(k, args, dmirror);
  if (ret) {
    migrateVmaFinalize(k, args);
    return ret;
  }
  migrateVmaPages(k, args);
  // No device finalize step: the copy already dropped the mirror's entries.
  migrateVmaFinalize(k, args);
  return 0;
}
