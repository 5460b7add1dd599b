// SPDX-License-Identifier: GPL-2.0-only
/*
 * The mirror side of lib/test_hmm.c (6.12; the seed's is the same but for
 * the snapshot values): the device reading and writing the
 * process's memory through its own page table (dmirror->pt), filled by
 * hmm_range_fault() and emptied by mmu notifier invalidations; and SNAPSHOT,
 * which reports what hmm_range_fault() sees without faulting.
 */
import { EBUSY, EFAULT, EINVAL, ENOENT, ENOMEM } from '../kernel-model/errno.js';
import type { Kernel } from '../kernel-model/kernel.js';
import { vmalloc, vfree } from '../kernel-model/vmalloc.js';
import { VmArea } from '../kernel-model/page_data.js';
import type { Task } from '../kernel-model/task.js';
import { PAGE_SIZE, PMD_SHIFT, PUD_SHIFT, PAGE_SHIFT } from '../kernel-model/page.js';
import { copyFromUser, copyToUser } from '../kernel-model/memory.js';
import { memcpyFromPage, memcpyToPage } from '../kernel-model/highmem.js';
import { type HmmRange, hmmRangeFault, hmmPfnFlags, hmmPfnToPage, hmmPfnToMapOrder, HMM_PFN_ERROR, HMM_PFN_VALID,
  HMM_PFN_WRITE, HMM_PFN_REQ_FAULT, HMM_PFN_REQ_WRITE } from '../kernel-model/hmm.js';
import { type MmuIntervalNotifierOps, type MmuNotifierRange, MmuIntervalNotifier, MMU_NOTIFY_MIGRATE,
  MMU_NOTIFIER_RANGE_BLOCKABLE, mmuIntervalReadBegin, mmuIntervalReadRetry, mmuIntervalSetSeq, mmuIntervalNotifierInsert,
  mmuIntervalNotifierRemove } from '../kernel-model/mmu_notifier.js';
import { isDevicePrivatePage, isDeviceCoherentPage, isDeviceGenericPage, isDevicePublicPage } from '../kernel-model/memremap.js';
import { mutexLock, mutexTrylock, mutexUnlock, mmapReadLock, mmapReadUnlock } from '../kernel-model/locking.js';
import { type Dmirror, dmirrorMm, dmirrorPageToDevice, dmirrorPfnsArraySize, dmirrorBackingPage } from './test_hmm.js';
import { DMIRROR_DO_FAULT_BACKING_PAGE } from '../kernel-model/changes.js';
import { DPT_XA_TAG_WRITE, xaPointerTag, xaUntagPointer } from './xarray.js';
import { type HmmDmirrorCmd, HMM_DMIRROR_PROT_ERROR, HMM_DMIRROR_PROT_NONE, HMM_DMIRROR_PROT_READ,
  HMM_DMIRROR_PROT_WRITE, HMM_DMIRROR_PROT_PMD, HMM_DMIRROR_PROT_PUD, HMM_DMIRROR_PROT_ZERO,
  HMM_DMIRROR_PROT_DEV_PRIVATE_LOCAL, HMM_DMIRROR_PROT_DEV_PRIVATE_REMOTE, HMM_DMIRROR_PROT_DEV_COHERENT_LOCAL,
  HMM_DMIRROR_PROT_DEV_COHERENT_REMOTE, HMM_DMIRROR_PROT_DEV_GENERIC } from './test_hmm_uapi.js';

/** HMM_RANGE_DEFAULT_TIMEOUT stands for 1 s of retries; the model counts attempts instead of jiffies. */
const RANGE_FAULT_MAX_TRIES = 1000;

/** struct dmirror_bounce: a kernel buffer (vmalloc()) between the device and user memory. */
export interface DmirrorBounce {
  ptr: VmArea;
  addr: number;
  cpages: number;
}

/** Model of dmirror_bounce_init(): 0, or -ENOMEM when vmalloc() fails. */
export function dmirrorBounceInit(k: Kernel, bounce: DmirrorBounce, addr: number, size: number): number {
  bounce.addr = addr;
  bounce.cpages = 0;
  const ptr = vmalloc(k, size);
  if (ptr === null) return -ENOMEM;
  bounce.ptr = ptr;
  return 0;
}

/** Model of dmirror_bounce_fini(). */
export function dmirrorBounceFini(k: Kernel, bounce: DmirrorBounce): void {
  vfree(k, bounce.ptr);
}

/** A struct dmirror_bounce on the caller's stack, before dmirror_bounce_init(). */
export const newDmirrorBounce = (): DmirrorBounce => ({ ptr: EMPTY, addr: 0, cpages: 0 });
const EMPTY = new VmArea(0);

/**
 * Model of dmirror_interval_invalidate(): forget the translations, except
 * for our own migrations (seed 001), under dmirror->mutex (trylock when the
 * range may not block).
 */
function dmirrorIntervalInvalidate(dmirror: Dmirror, mni: MmuIntervalNotifier, range: MmuNotifierRange, curSeq: number): boolean {
  if (range.event === MMU_NOTIFY_MIGRATE && range.owner === dmirror.mdevice) return true;
  const k = range.mm.k;
  if (range.flags & MMU_NOTIFIER_RANGE_BLOCKABLE) mutexLock(k, dmirror.mutex);
  else if (!mutexTrylock(k, dmirror.mutex)) return false;
  mmuIntervalSetSeq(mni, curSeq);
  dmirrorDoUpdate(dmirror, range.start, range.end);
  mutexUnlock(k, dmirror.mutex);
  return true;
}

export function dmirrorMinOps(dmirror: Dmirror): MmuIntervalNotifierOps {
  return { invalidate: (mni, range, seq) => dmirrorIntervalInvalidate(dmirror, mni, range, seq) };
}

/** Model of dmirror_do_update(): xa_for_each_range() takes an inclusive last index, so end >> PAGE_SHIFT is erased too, as in C. */
function dmirrorDoUpdate(dmirror: Dmirror, start: number, end: number): void {
  dmirror.pt.eraseRange(Math.floor(start / PAGE_SIZE), Math.floor(end / PAGE_SIZE));
}

/** Model of dmirror_do_fault(): store what hmm_range_fault() returned in the device page table. */
function dmirrorDoFault(dmirror: Dmirror, range: HmmRange): number {
  const k = dmirrorMm(dmirror).k;
  for (let i = 0, pfn = range.start / PAGE_SIZE; pfn < range.end / PAGE_SIZE; pfn++, i++) {
    const v = range.hmmPfns[i], flags = hmmPfnFlags(v);
    k.warn((flags & HMM_PFN_ERROR) !== 0, 'dmirror_do_fault', 'HMM_PFN_ERROR after a successful fault');
    k.warn(!(flags & HMM_PFN_VALID), 'dmirror_do_fault', 'entry not valid after a successful fault');
    let page = hmmPfnToPage(v);
    k.warn(page === 0, 'dmirror_do_fault', 'no page');
    // 6.12 stores this device's private page itself, which dmirror_do_read() cannot copy; the proposed fix stores its data.
    if (k.has(DMIRROR_DO_FAULT_BACKING_PAGE) && isDevicePrivatePage(k, page)) page = dmirrorBackingPage(k, page);
    if (flags & HMM_PFN_WRITE) dmirror.pt.store(pfn, page, DPT_XA_TAG_WRITE);
    else if (k.warn((range.defaultFlags & HMM_PFN_WRITE) !== 0, 'dmirror_do_fault', 'read-only entry for a write fault')) return -EFAULT;
    else dmirror.pt.store(pfn, page, 0);
  }
  return 0;
}

/**
 * Model of dmirror_range_fault(): hmm_range_fault() under mmap_read_lock(),
 * then, under dmirror->mutex, the mmu_interval_read_retry() check and the
 * device page table update. Preemption points (sched.ts) where the C holds
 * neither lock: before each attempt, and between hmm_range_fault() and the
 * check, the window the sequence protocol exists for.
 */
function dmirrorRangeFault(dmirror: Dmirror, range: HmmRange): number {
  const mm = dmirrorMm(dmirror), k = mm.k;
  for (let tries = 0; ; tries++) {
    k.sched.point('dmirror_range_fault');
    if (tries >= RANGE_FAULT_MAX_TRIES) {
      k.sched.noProgress('dmirror_range_fault', `${tries} tries, each invalidated before it could update the mirror`);
      return -EBUSY;
    }
    range.notifierSeq = mmuIntervalReadBegin(range.notifier);
    mmapReadLock(mm);
    const ret = hmmRangeFault(range);
    mmapReadUnlock(mm);
    if (ret) {
      if (ret === -EBUSY) continue;
      return ret;
    }
    k.sched.point('dmirror_range_fault: hmm_range_fault done');
    mutexLock(k, dmirror.mutex);
    if (mmuIntervalReadRetry(range.notifier, range.notifierSeq)) {
      mutexUnlock(k, dmirror.mutex);
      continue;
    }
    break;
  }
  const ret = dmirrorDoFault(dmirror, range);
  mutexUnlock(k, dmirror.mutex);
  return ret;
}

/** Model of dmirror_fault(): fault [start, end) into the device page table, ARRAY_SIZE(pfns) pages at a time. */
function dmirrorFault(dmirror: Dmirror, start: number, end: number, write: boolean): number {
  const mm = dmirrorMm(dmirror), window = dmirrorPfnsArraySize(mm.k);
  const range: HmmRange = {
    notifier: dmirror.notifier, notifierSeq: 0, start: 0, end: 0, hmmPfns: new Float64Array(window),
    pfnFlagsMask: 0, defaultFlags: HMM_PFN_REQ_FAULT | (write ? HMM_PFN_REQ_WRITE : 0), devPrivateOwner: dmirror.mdevice,
  };
  if (!mm.mmgetNotZero()) return -EFAULT;
  let ret = 0;
  for (let addr = start; addr < end; addr = range.end) {
    range.start = addr;
    range.end = Math.min(addr + window * PAGE_SIZE, end);
    ret = dmirrorRangeFault(dmirror, range);
    if (ret) break;
  }
  mm.mmput();
  return ret;
}

/** Model of dmirror_do_read(): copy mirrored pages into the bounce buffer; -ENOENT at the first page not mirrored. */
export function dmirrorDoRead(dmirror: Dmirror, start: number, end: number, bounce: DmirrorBounce): number {
  const k = dmirrorMm(dmirror).k;
  let off = start - bounce.addr;
  for (let pfn = start / PAGE_SIZE; pfn < end / PAGE_SIZE; pfn++) {
    const page = xaUntagPointer(dmirror.pt.load(pfn));
    if (page === 0) return -ENOENT;
    memcpyFromPage(k, bounce.ptr, off, page, 0, PAGE_SIZE);
    off += PAGE_SIZE;
    bounce.cpages++;
  }
  return 0;
}

/** Model of dmirror_read(): the device reads, faulting missing translations in; cmd.faults counts range faults. */
export function dmirrorRead(dmirror: Dmirror, cmd: HmmDmirrorCmd, current: Task): number {
  const size = cmd.npages * PAGE_SIZE;
  let start = cmd.addr;
  const end = start + size;
  if (end < start) return -EINVAL;
  const k = current.k, bounce = newDmirrorBounce();
  let ret = dmirrorBounceInit(k, bounce, start, size);
  if (ret) return ret;
  for (;;) {
    // No lock is held between dmirror_fault() and dmirror_do_read(), nor after it: preemption points.
    k.sched.point('dmirror_read: before dmirror_do_read');
    mutexLock(k, dmirror.mutex);
    ret = dmirrorDoRead(dmirror, start, end, bounce);
    mutexUnlock(k, dmirror.mutex);
    k.sched.point('dmirror_read: after dmirror_do_read');
    if (ret !== -ENOENT) break;
    start = cmd.addr + bounce.cpages * PAGE_SIZE;
    ret = dmirrorFault(dmirror, start, end, false);
    if (ret) break;
    cmd.faults++;
  }
  if (ret === 0 && copyToUser(current.mm, cmd.ptr, bounce.ptr) !== 0) ret = -EFAULT;
  cmd.cpages = bounce.cpages;
  dmirrorBounceFini(k, bounce);
  return ret;
}

/** Model of dmirror_do_write(): needs writable mirror entries. */
function dmirrorDoWrite(dmirror: Dmirror, start: number, end: number, bounce: DmirrorBounce): number {
  const k = dmirrorMm(dmirror).k;
  let off = start - bounce.addr;
  for (let pfn = start / PAGE_SIZE; pfn < end / PAGE_SIZE; pfn++) {
    const entry = dmirror.pt.load(pfn), page = xaUntagPointer(entry);
    if (page === 0 || xaPointerTag(entry) !== DPT_XA_TAG_WRITE) return -ENOENT;
    memcpyToPage(k, page, 0, bounce.ptr, off, PAGE_SIZE);
    off += PAGE_SIZE;
    bounce.cpages++;
  }
  return 0;
}

/** Model of dmirror_write(). */
export function dmirrorWrite(dmirror: Dmirror, cmd: HmmDmirrorCmd, current: Task): number {
  const size = cmd.npages * PAGE_SIZE;
  let start = cmd.addr;
  const end = start + size;
  if (end < start) return -EINVAL;
  const k = current.k, bounce = newDmirrorBounce();
  let ret = dmirrorBounceInit(k, bounce, start, size);
  if (ret) return ret;
  if (copyFromUser(current.mm, bounce.ptr, cmd.ptr) !== 0) {
    ret = -EFAULT;
  } else {
    for (;;) {
      k.sched.point('dmirror_write: before dmirror_do_write');
      mutexLock(k, dmirror.mutex);
      ret = dmirrorDoWrite(dmirror, start, end, bounce);
      mutexUnlock(k, dmirror.mutex);
      k.sched.point('dmirror_write: after dmirror_do_write');
      if (ret !== -ENOENT) break;
      start = cmd.addr + bounce.cpages * PAGE_SIZE;
      ret = dmirrorFault(dmirror, start, end, true);
      if (ret) break;
      cmd.faults++;
    }
  }
  cmd.cpages = bounce.cpages;
  dmirrorBounceFini(k, bounce);
  return ret;
}

/**
 * Model of dmirror_mkentry(): what SNAPSHOT reports for one hmm_pfns[]
 * entry. PRIVATE and COHERENT (and seed 004's PUBLIC) pages are LOCAL or REMOTE by owning
 * device; any GENERIC page (seed 000 patch 11) reads DEV_GENERIC.
 */
function dmirrorMkentry(dmirror: Dmirror, entry: number): number {
  const k = dmirrorMm(dmirror).k, flags = hmmPfnFlags(entry);
  if (flags & HMM_PFN_ERROR) return HMM_DMIRROR_PROT_ERROR;
  if (!(flags & HMM_PFN_VALID)) return HMM_DMIRROR_PROT_NONE;
  const page = hmmPfnToPage(entry);
  let perm: number;
  if (isDevicePrivatePage(k, page)) {
    perm = dmirror.mdevice === dmirrorPageToDevice(dmirror.mdevice.mod, page)
      ? HMM_DMIRROR_PROT_DEV_PRIVATE_LOCAL : HMM_DMIRROR_PROT_DEV_PRIVATE_REMOTE;
  } else if (isDeviceCoherentPage(k, page) || isDevicePublicPage(k, page)) {
    // A PUBLIC page reads as the COHERENT values: the UAPI has none of its own (the type is older than test_hmm).
    perm = dmirror.mdevice === dmirrorPageToDevice(dmirror.mdevice.mod, page)
      ? HMM_DMIRROR_PROT_DEV_COHERENT_LOCAL : HMM_DMIRROR_PROT_DEV_COHERENT_REMOTE;
  } else if (isDeviceGenericPage(k, page)) {
    perm = HMM_DMIRROR_PROT_DEV_GENERIC;
  } else if (page === k.zeroPfn) {
    perm = HMM_DMIRROR_PROT_ZERO;
  } else {
    perm = HMM_DMIRROR_PROT_NONE;
  }
  perm |= flags & HMM_PFN_WRITE ? HMM_DMIRROR_PROT_WRITE : HMM_DMIRROR_PROT_READ;
  const order = hmmPfnToMapOrder(entry);
  if (order + PAGE_SHIFT === PMD_SHIFT) perm |= HMM_DMIRROR_PROT_PMD;
  else if (order + PAGE_SHIFT === PUD_SHIFT) perm |= HMM_DMIRROR_PROT_PUD;
  return perm;
}

/** Model of dmirror_snapshot_invalidate(): the snapshot's own notifier only bumps its sequence, under dmirror->mutex. */
function dmirrorSnapshotInvalidate(dmirror: Dmirror, mni: MmuIntervalNotifier, range: MmuNotifierRange, curSeq: number): boolean {
  const k = range.mm.k;
  if (range.flags & MMU_NOTIFIER_RANGE_BLOCKABLE) mutexLock(k, dmirror.mutex);
  else if (!mutexTrylock(k, dmirror.mutex)) return false;
  mmuIntervalSetSeq(mni, curSeq);
  mutexUnlock(k, dmirror.mutex);
  return true;
}

/**
 * Model of dmirror_range_snapshot(): a temporary notifier over the range so
 * any invalidation restarts the snapshot; hmm_range_fault() under
 * mmap_read_lock(), the retry check and the entries under dmirror->mutex.
 */
function dmirrorRangeSnapshot(dmirror: Dmirror, range: HmmRange, perm: Uint8Array): number {
  const mm = dmirrorMm(dmirror), k = mm.k;
  const notifier = new MmuIntervalNotifier();
  range.notifier = notifier;
  let ret = mmuIntervalNotifierInsert(notifier, mm, range.start, range.end - range.start,
    { invalidate: (mni, r, seq) => dmirrorSnapshotInvalidate(dmirror, mni, r, seq) });
  if (ret) return ret;
  for (let tries = 0; ; tries++) {
    // As in dmirror_range_fault(): neither mmap_lock nor dmirror->mutex is held before an attempt or between
    // hmm_range_fault() and the retry check, the window the temporary notifier exists for.
    k.sched.point('dmirror_range_snapshot');
    if (tries >= RANGE_FAULT_MAX_TRIES) {
      k.sched.noProgress('dmirror_range_snapshot', `${tries} tries, each invalidated before it could take the snapshot`);
      ret = -EBUSY;
      break;
    }
    range.notifierSeq = mmuIntervalReadBegin(notifier);
    mmapReadLock(mm);
    ret = hmmRangeFault(range);
    mmapReadUnlock(mm);
    if (ret) {
      if (ret === -EBUSY) continue;
      break;
    }
    k.sched.point('dmirror_range_snapshot: hmm_range_fault done');
    mutexLock(k, dmirror.mutex);
    if (mmuIntervalReadRetry(notifier, range.notifierSeq)) {
      mutexUnlock(k, dmirror.mutex);
      continue;
    }
    const n = (range.end - range.start) / PAGE_SIZE;
    for (let i = 0; i < n; i++) perm[i] = dmirrorMkentry(dmirror, range.hmmPfns[i]);
    mutexUnlock(k, dmirror.mutex);
    break;
  }
  mmuIntervalNotifierRemove(notifier);
  return ret;
}

/** Model of dmirror_snapshot(): one byte per page at cmd.ptr. */
export function dmirrorSnapshot(dmirror: Dmirror, cmd: HmmDmirrorCmd, current: Task): number {
  const mm = dmirrorMm(dmirror), window = dmirrorPfnsArraySize(mm.k);
  const start = cmd.addr, end = start + cmd.npages * PAGE_SIZE;
  if (end < start) return -EINVAL;
  if (!mm.mmgetNotZero()) return -EINVAL;
  const range: HmmRange = {
    notifier: dmirror.notifier, notifierSeq: 0, start: 0, end: 0, hmmPfns: new Float64Array(window),
    pfnFlagsMask: 0, defaultFlags: 0, devPrivateOwner: dmirror.mdevice,
  };
  const perm = new Uint8Array(window);
  let ret = 0, uptr = cmd.ptr;
  for (let addr = start; addr < end; addr = range.end) {
    range.start = addr;
    range.end = Math.min(addr + window * PAGE_SIZE, end);
    ret = dmirrorRangeSnapshot(dmirror, range, perm);
    if (ret) break;
    const n = (range.end - range.start) / PAGE_SIZE;
    if (copyToUser(current.mm, uptr, perm.subarray(0, n)) !== 0) {
      ret = -EFAULT;
      break;
    }
    cmd.cpages += n;
    uptr += n;
  }
  mm.mmput();
  return ret;
}
