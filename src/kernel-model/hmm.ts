// SPDX-License-Identifier: GPL-2.0-only
/*
 * Model of mm/hmm.c: hmm_range_fault(), a device driver's snapshot of the
 * CPU page table for a range, faulting pages in first when asked to.
 *
 * In Linux an hmm_pfns[] entry is an unsigned long with the flags in the top
 * bits. Here the flags are the low 8 bits and the pfn is above them
 * (value = pfn * 256 + flags), in a Float64Array; use the helpers.
 */
import { EBUSY, EFAULT, EPERM } from './errno.js';
import { PAGE_SIZE, HPAGE_PMD_ORDER } from './page.js';
import { type VmAreaStruct, VM_IO, VM_PFNMAP, VM_READ, VM_WRITE, VM_HUGETLB, findVma } from './mm.js';
import { pteIndex, pmdAddrEnd, pteNone, ptePresent, pteWrite, pteSpecial, pteDevmap, pteProtnone, isDevicePrivateEntry,
  isWritableDevicePrivateEntry, isDeviceExclusiveEntry, isMigrationEntry, type HugePmd } from './pgtable.js';
import { type MmuIntervalNotifier, mmuIntervalCheckRetry } from './mmu_notifier.js';
import { handleMmFault, FAULT_FLAG_REMOTE, FAULT_FLAG_WRITE } from './memory.js';
import { VM_FAULT_ERROR, pagePgmap } from './memremap.js';
import { KernelBug } from './bug.js';
import { HMM_PMD_SWAP_ENTRY } from './changes.js';

export const HMM_PFN_VALID = 0x01;
export const HMM_PFN_WRITE = 0x02;
export const HMM_PFN_ERROR = 0x04;
const HMM_PFN_ORDER_SHIFT = 3;
const HMM_PFN_FLAGS = 256;
export const HMM_PFN_REQ_FAULT = HMM_PFN_VALID;
export const HMM_PFN_REQ_WRITE = HMM_PFN_WRITE;

export const hmmPfnFlags = (v: number): number => v % HMM_PFN_FLAGS;
/** Model of hmm_pfn_to_page(). */
export const hmmPfnToPage = (v: number): number => Math.floor(v / HMM_PFN_FLAGS);
/** Model of hmm_pfn_to_map_order(). */
export const hmmPfnToMapOrder = (v: number): number => (hmmPfnFlags(v) >> HMM_PFN_ORDER_SHIFT) & 0x1f;
const mkHmmPfn = (pfn: number, flags: number): number => pfn * HMM_PFN_FLAGS + flags;
/** Model of hmm_pfn_flags_order(). */
const hmmPfnFlagsOrder = (order: number): number => order << HMM_PFN_ORDER_SHIFT;

export interface HmmRange {
  notifier: MmuIntervalNotifier;
  notifierSeq: number;
  start: number;
  end: number;
  hmmPfns: Float64Array;
  defaultFlags: number;
  pfnFlagsMask: number;
  devPrivateOwner: object | null;
}

const HMM_NEED_FAULT = 1;
const HMM_NEED_WRITE_FAULT = 2;
const HMM_NEED_ALL_BITS = 3;

interface Walk { range: HmmRange; last: number }

/** Model of pte_to_hmm_pfn_flags(): none, not present or PROT_NONE give 0. */
const pteToHmmPfnFlags = (v: number): number =>
  !ptePresent(v) || pteProtnone(v) ? 0 : pteWrite(v) ? HMM_PFN_VALID | HMM_PFN_WRITE : HMM_PFN_VALID;

/** Model of pmd_to_hmm_pfn_flags(): a PROT_NONE PMD gives 0, any other the pte flags and the PMD order. */
const pmdToHmmPfnFlags = (v: number): number =>
  pteProtnone(v) ? 0 : pteToHmmPfnFlags(v) | hmmPfnFlagsOrder(HPAGE_PMD_ORDER);

/** Model of hmm_pte_need_fault(). */
function hmmPteNeedFault(range: HmmRange, pfnReqFlags: number, cpuFlags: number): number {
  const req = (hmmPfnFlags(pfnReqFlags) & range.pfnFlagsMask) | range.defaultFlags;
  if (!(req & HMM_PFN_REQ_FAULT)) return 0;
  if ((req & HMM_PFN_REQ_WRITE) && !(cpuFlags & HMM_PFN_WRITE)) return HMM_NEED_FAULT | HMM_NEED_WRITE_FAULT;
  if (!(cpuFlags & HMM_PFN_VALID)) return HMM_NEED_FAULT;
  return 0;
}

/** Model of hmm_range_need_fault() over pfns [i, i+n). */
function hmmRangeNeedFault(range: HmmRange, i: number, n: number, cpuFlags: number): number {
  if (!((range.defaultFlags | range.pfnFlagsMask) & HMM_PFN_REQ_FAULT)) return 0;
  let req = 0;
  for (let j = 0; j < n; j++) {
    req |= hmmPteNeedFault(range, range.hmmPfns[i + j], cpuFlags);
    if (req === HMM_NEED_ALL_BITS) break;
  }
  return req;
}

/** Model of hmm_pfns_fill(). */
function hmmPfnsFill(range: HmmRange, addr: number, end: number, v: number): number {
  for (let i = (addr - range.start) / PAGE_SIZE; addr < end; addr += PAGE_SIZE, i++) range.hmmPfns[i] = v;
  return 0;
}

/** Model of hmm_vma_fault(): fault [addr, end) in, then -EBUSY so the walk restarts at `last`. */
function hmmVmaFault(w: Walk, vma: VmAreaStruct, addr: number, end: number, required: number): number {
  w.last = addr;
  let flags = FAULT_FLAG_REMOTE;
  if (required & HMM_NEED_WRITE_FAULT) {
    if (!(vma.vmFlags & VM_WRITE)) return -EPERM;
    flags |= FAULT_FLAG_WRITE;
  }
  for (; addr < end; addr += PAGE_SIZE) {
    if (handleMmFault(vma, addr, flags) & VM_FAULT_ERROR) return -EFAULT;
  }
  return -EBUSY;
}

/** Model of hmm_vma_walk_hole(): no VMA (vma null) or no page table. */
function hmmVmaWalkHole(w: Walk, vma: VmAreaStruct | null, addr: number, end: number): number {
  const range = w.range, i = (addr - range.start) / PAGE_SIZE;
  const required = hmmRangeNeedFault(range, i, (end - addr) / PAGE_SIZE, 0);
  if (vma === null) return required ? -EFAULT : hmmPfnsFill(range, addr, end, HMM_PFN_ERROR);
  if (required) return hmmVmaFault(w, vma, addr, end, required);
  return hmmPfnsFill(range, addr, end, 0);
}

/** Model of hmm_vma_handle_pte() over the ptes of one page table, [addr, end). */
function hmmVmaWalkPtes(w: Walk, vma: VmAreaStruct, addr: number, end: number): number {
  const range = w.range, mm = vma.vmMm, k = mm.k;
  const t = mm.pgtable.lookup(addr)!;
  for (let a = addr, i = (a - range.start) / PAGE_SIZE, p = pteIndex(a); a < end; a += PAGE_SIZE, i++, p++) {
    const v = t.val[p], pfn = t.pfn[p], req = range.hmmPfns[i];
    let required: number;
    if (pteNone(v)) {
      required = hmmPteNeedFault(range, req, 0);
      if (required) return hmmVmaFault(w, vma, a, end, required);
      range.hmmPfns[i] = 0;
      continue;
    }
    if (!ptePresent(v)) {
      // The caller's own device-private pages are reported, not faulted.
      if (isDevicePrivateEntry(v) && pagePgmap(k, pfn)!.owner === range.devPrivateOwner) {
        range.hmmPfns[i] = mkHmmPfn(pfn, HMM_PFN_VALID | (isWritableDevicePrivateEntry(v) ? HMM_PFN_WRITE : 0));
        continue;
      }
      required = hmmPteNeedFault(range, req, 0);
      if (!required) {
        range.hmmPfns[i] = 0;
        continue;
      }
      if (isDevicePrivateEntry(v) || isDeviceExclusiveEntry(v)) return hmmVmaFault(w, vma, a, end, required);
      if (isMigrationEntry(v)) {
        throw new KernelBug('BUG', 'migration_entry_wait',
          `hmm_range_fault would wait forever on the migration entry at 0x${a.toString(16)}`);
      }
      return -EFAULT;
    }
    const cpuFlags = pteToHmmPfnFlags(v);
    required = hmmPteNeedFault(range, req, cpuFlags);
    if (required) return hmmVmaFault(w, vma, a, end, required);
    // A special pte other than the zero page has no struct page to report; a devmap pte has one (6.12's !pte_devmap()).
    if (pteSpecial(v) && !pteDevmap(v) && pfn !== k.zeroPfn) {
      if (hmmPteNeedFault(range, req, 0)) return -EFAULT;
      range.hmmPfns[i] = HMM_PFN_ERROR;
      continue;
    }
    range.hmmPfns[i] = mkHmmPfn(pfn, cpuFlags);
  }
  return 0;
}

/**
 * Model of hmm_vma_handle_pmd(): a huge PMD over [addr, end) is reported
 * page by page with its PMD order; fault first if any page asks for more
 * than the PMD gives.
 */
function hmmVmaHandlePmd(w: Walk, vma: VmAreaStruct, addr: number, end: number, h: HugePmd): number {
  const range = w.range, i = (addr - range.start) / PAGE_SIZE, npages = (end - addr) / PAGE_SIZE;
  const cpuFlags = pmdToHmmPfnFlags(h.val);
  const required = hmmRangeNeedFault(range, i, npages, cpuFlags);
  if (required) return hmmVmaFault(w, vma, addr, end, required);
  const pfn = h.pfn + pteIndex(addr);
  for (let j = 0; j < npages; j++) range.hmmPfns[i + j] = mkHmmPfn(pfn + j, cpuFlags);
  return 0;
}

/**
 * A non-present PMD in hmm_vma_walk_pmd(): with HMM_PMD_SWAP_ENTRY,
 * hmm_vma_handle_absent_pmd(): a device-private entry of the range's owner
 * is reported page by page with PMD order (every pfn filled, for drivers
 * that do not infer the rest), one of another owner faulted when asked to.
 * Before it (and for any other entry) the range is HMM_PFN_ERROR, or
 * -EFAULT when a fault was asked for. Only PMD device-private entries
 * (HUGE_PMD_DEVICE_PRIVATE) reach here: the model has no other PMD swap entry
 * that outlives a migration.
 */
function hmmVmaHandleAbsentPmd(w: Walk, vma: VmAreaStruct, addr: number, end: number, h: HugePmd): number {
  const range = w.range, k = vma.vmMm.k, i = (addr - range.start) / PAGE_SIZE, npages = (end - addr) / PAGE_SIZE;
  const devicePrivate = isDevicePrivateEntry(h.val);
  if (k.has(HMM_PMD_SWAP_ENTRY) && devicePrivate && pagePgmap(k, h.pfn)!.owner === range.devPrivateOwner) {
    const flags = HMM_PFN_VALID | hmmPfnFlagsOrder(HPAGE_PMD_ORDER) | (isWritableDevicePrivateEntry(h.val) ? HMM_PFN_WRITE : 0);
    const pfn = h.pfn + pteIndex(addr);
    for (let j = 0; j < npages; j++) range.hmmPfns[i + j] = mkHmmPfn(pfn + j, flags);
    return 0;
  }
  const required = hmmRangeNeedFault(range, i, npages, 0);
  if (required) return k.has(HMM_PMD_SWAP_ENTRY) && devicePrivate ? hmmVmaFault(w, vma, addr, end, required) : -EFAULT;
  return hmmPfnsFill(range, addr, end, HMM_PFN_ERROR);
}

/**
 * Model of walk_hugetlb_range() with hmm_vma_walk_hugetlb_entry(): each
 * huge page of [addr, end) is reported with its order, as in C from the
 * request flags of its first pfn only; a huge page with no entry is a hole
 * (hmm_vma_walk_hole()).
 */
function hmmVmaWalkHugetlb(w: Walk, vma: VmAreaStruct, addr: number, end: number): number {
  const range = w.range, mm = vma.vmMm;
  for (let a = addr; a < end; a = pmdAddrEnd(a, end)) {
    const stop = pmdAddrEnd(a, end);
    const h = mm.pgtable.lookupHuge(a);
    if (h === undefined) {
      const r = hmmVmaWalkHole(w, vma, a, stop);
      if (r) return r;
      continue;
    }
    const i = (a - range.start) / PAGE_SIZE;
    const cpuFlags = pteToHmmPfnFlags(h.val) | hmmPfnFlagsOrder(HPAGE_PMD_ORDER); // huge_page_order(hstate_vma(vma))
    const required = hmmPteNeedFault(range, range.hmmPfns[i], cpuFlags);
    if (required) return hmmVmaFault(w, vma, a, stop, required);
    const pfn = h.pfn + pteIndex(a);
    for (let j = 0, x = a; x < stop; x += PAGE_SIZE, j++) range.hmmPfns[i + j] = mkHmmPfn(pfn + j, cpuFlags);
  }
  return 0;
}

/** walk_page_range() with hmm_walk_ops over [start, end). */
function hmmWalk(w: Walk, start: number, end: number): number {
  const mm = w.range.notifier.mm!;
  let addr = start;
  while (addr < end) {
    const vma = findVma(mm, addr);
    if (vma === null || vma.vmStart >= end) return hmmVmaWalkHole(w, null, addr, end);
    if (vma.vmStart > addr) {
      const r = hmmVmaWalkHole(w, null, addr, vma.vmStart);
      if (r) return r;
      addr = vma.vmStart;
    }
    const vend = Math.min(end, vma.vmEnd);
    // hmm_vma_walk_test(): VM_IO/VM_PFNMAP or unreadable VMAs are reported as errors.
    if ((vma.vmFlags & (VM_IO | VM_PFNMAP)) || !(vma.vmFlags & VM_READ)) {
      const i = (addr - w.range.start) / PAGE_SIZE;
      if (hmmRangeNeedFault(w.range, i, (vend - addr) / PAGE_SIZE, 0)) return -EFAULT;
      hmmPfnsFill(w.range, addr, vend, HMM_PFN_ERROR);
      addr = vend;
      continue;
    }
    if (vma.vmFlags & VM_HUGETLB) {
      const r = hmmVmaWalkHugetlb(w, vma, addr, vend);
      if (r) return r;
      addr = vend;
      continue;
    }
    for (let a = addr; a < vend; a = pmdAddrEnd(a, vend)) {
      const stop = pmdAddrEnd(a, vend);
      let r: number;
      if (mm.pgtable.lookup(a) !== undefined) r = hmmVmaWalkPtes(w, vma, a, stop);
      else {
        const h = mm.pgtable.lookupHuge(a);
        r = h === undefined ? hmmVmaWalkHole(w, vma, a, stop)
          : ptePresent(h.val) ? hmmVmaHandlePmd(w, vma, a, stop, h) : hmmVmaHandleAbsentPmd(w, vma, a, stop, h);
      }
      if (r) return r;
    }
    addr = vend;
  }
  return 0;
}

/**
 * Model of hmm_range_fault(): 0, or -EFAULT, -EPERM, or -EBUSY when the
 * range was invalidated (the caller retries from mmu_interval_read_begin()).
 */
export function hmmRangeFault(range: HmmRange): number {
  const w: Walk = { range, last: range.start };
  const inject = range.notifier.mm!.k.inject;
  let ret: number;
  do {
    if (mmuIntervalCheckRetry(range.notifier, range.notifierSeq)) return -EBUSY;
    inject.hmmWalkStart?.(range);
    ret = hmmWalk(w, w.last, range.end);
  } while (ret === -EBUSY);
  return ret;
}
