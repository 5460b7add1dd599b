// SPDX-License-Identifier: GPL-2.0-only
/*
 * Model of mm/mremap.c (6.12): mremap(2) with MREMAP_MAYMOVE, MREMAP_FIXED
 * and MREMAP_DONTUNMAP; shrinking and growing in place; moving a range to a
 * new VMA (copy_vma(), mm/vma.c) and its page tables with it.
 *
 * A move carries every page-table entry as it is: present ptes, the zero
 * page, device-private, device-exclusive and migration entries, whole pte
 * pages (move_normal_pmd()) and huge PMDs whatever they hold
 * (move_huge_pmd()). rmap needs no per-page update: anonymous pages keep
 * their index, and the new VMA's vm_pgoff is the old one's at the moved
 * address, linked into the same anon_vmas (anon_vma_clone()), so
 * vma_address() finds them at the new place. Secondary MMUs hear one
 * MMU_NOTIFY_UNMAP over the old range, as move_page_tables() sends it.
 *
 * Not modelled, refused with -EINVAL and a log line: moving hugetlb
 * mappings (move_hugetlb_page_tables()). mlock, uffd, KSM, mseal and
 * vm.max_map_count are not in the model, so their checks never fire.
 */
import { EFAULT, EINVAL, ENOMEM } from './errno.js';
import { BUG_ON } from './bug.js';
import { PAGE_SIZE, PMD_SIZE, isPageAligned } from './page.js';
import { type MmStruct, type VmAreaStruct, VmAreaStruct as Vma, TASK_SIZE, VM_SHARED, VM_MAYSHARE, VM_DONTEXPAND,
  VM_PFNMAP, VM_HUGETLB, VM_LOCKED, vmaLookup, findVma, vmaNext, vmaPrev, vmaIsAnonymous, insertVma, mergeAround,
  doMunmap, getUnmappedArea, getUnmappedAreaAnon, unmappedAreaHint } from './mm.js';
import { HPAGE_SIZE } from './hugetlb.js';
import { pmdIndex, pteIndex, pmdAddrEnd } from './pgtable.js';
import { splitHugePmd } from './huge_memory.js';
import { anonVmaClone, unlinkAnonVmas } from './rmap.js';
import { getFile } from './chrdev.js';
import { type MmuNotifierRange, mmuNotifierRangeInit, mmuNotifierInvalidateRangeStart, mmuNotifierInvalidateRangeEnd,
  MMU_NOTIFY_UNMAP } from './mmu_notifier.js';

/* include/uapi/linux/mman.h */
export const MREMAP_MAYMOVE = 1;
export const MREMAP_FIXED = 2;
export const MREMAP_DONTUNMAP = 4;

const pageAlign = (x: number): number => Math.ceil(x / PAGE_SIZE) * PAGE_SIZE;
const alignTo = (x: number, a: number): number => Math.ceil(x / a) * a;

/**
 * Model of get_unmapped_area() as mremap calls it, for the file and pgoff
 * of the VMA being moved: MAP_FIXED takes addr as it is (mremap_to()
 * checked it), a free hint is taken, else the top-down search; a private
 * anonymous range without a hint gets the THP alignment do_mmap() gives it.
 */
function mremapGetUnmappedArea(mm: MmStruct, vma: VmAreaStruct, addr: number, len: number, fixed: boolean): number {
  if (fixed) return addr;
  if (vma.vmFlags & VM_HUGETLB) return getUnmappedArea(mm, len, HPAGE_SIZE);
  const hint = unmappedAreaHint(mm, addr, len, PAGE_SIZE);
  if (hint >= 0) return hint;
  const anonPrivate = vma.vmFile === null && !(vma.vmFlags & VM_MAYSHARE);
  return anonPrivate && addr === 0 ? getUnmappedAreaAnon(mm, len) : getUnmappedArea(mm, len);
}

/** Model of vma_to_resize(): the VMA at addr, if [addr, addr + old_len) may become new_len long, or -errno. */
function vmaToResize(mm: MmStruct, addr: number, oldLen: number, newLen: number, flags: number): VmAreaStruct | number {
  const vma = vmaLookup(mm, addr);
  if (vma === null) return -EFAULT;
  // A zero old_len duplicates a shared mapping; for a private one it would make an unrelated one (pr_warn_once()).
  if (oldLen === 0 && !(vma.vmFlags & (VM_SHARED | VM_MAYSHARE))) {
    mm.k.printk('mremap: attempted to duplicate a private mapping with mremap.  This is not supported.');
    return -EINVAL;
  }
  if ((flags & MREMAP_DONTUNMAP) && (vma.vmFlags & (VM_DONTEXPAND | VM_PFNMAP))) return -EINVAL;
  if (oldLen > vma.vmEnd - addr) return -EFAULT; // not across VMA boundaries
  if (newLen === oldLen) return vma;
  if (vma.vmFlags & (VM_DONTEXPAND | VM_PFNMAP)) return -EFAULT;
  return vma; // mlock_future_ok() and may_expand_vm(): no limits in the model
}

/** vm_area_dup()'s anon_vma pointer and anon_vma_clone(): the new VMA is in every anon_vma of the old one. */
function copyAnonVma(nv: VmAreaStruct, vma: VmAreaStruct): void {
  nv.anonVma = vma.anonVma;
  anonVmaClone(nv, vma);
}

/**
 * Model of copy_vma() (mm/vma.c): the VMA that [addr, addr + len) of the
 * moved range becomes, at pgoff. An anonymous VMA that never had a page
 * takes the new address's pgoff instead (it may merge more easily). The
 * new VMA is merged with a neighbour where it can be, but never with the
 * source when the source stays (MREMAP_DONTUNMAP). k.inject.copyVmaAnonVmaClone
 * replaces its anon_vma link (vm_area_dup()'s pointer and anon_vma_clone()).
 */
function copyVma(vma: VmAreaStruct, addr: number, len: number, pgoff: number, keepSource: boolean): VmAreaStruct {
  const mm = vma.vmMm;
  if (vmaIsAnonymous(vma) && vma.anonVma === null) pgoff = addr / PAGE_SIZE;
  const nv = new Vma(mm, addr, addr + len, vma.vmFlags, pgoff);
  (mm.k.inject.copyVmaAnonVmaClone ?? copyAnonVma)(nv, vma);
  nv.vmOps = vma.vmOps;
  if (vma.vmFile !== null) nv.vmFile = getFile(vma.vmFile);
  insertVma(mm, nv);
  const neighbours = [vmaPrev(nv), vmaNext(nv)];
  if (!keepSource || !neighbours.includes(vma)) mergeAround(mm, addr, addr + len);
  return vmaLookup(mm, addr)!;
}

/**
 * Model of move_ptes(): every entry of [oldAddr, oldAddr + extent) moves
 * to the same slot at newAddr, whatever it is (ptep_get_and_clear(), then
 * set_pte_at() of the same value; move_pte() is the identity on x86). rss
 * is unchanged: the same pages, mapped elsewhere.
 */
function movePtes(mm: MmStruct, oldAddr: number, newAddr: number, extent: number): void {
  const pt = mm.pgtable, src = pt.lookup(oldAddr);
  if (src === undefined) return;
  const si = pteIndex(oldAddr), n = extent / PAGE_SIZE;
  const dst = pt.alloc(newAddr), di = pteIndex(newAddr);
  for (let j = 0; j < n; j++) {
    const v = src.val[si + j];
    if (v === 0) continue;
    BUG_ON(dst.val[di + j] !== 0, 'move_ptes', () => `destination pte at 0x${(newAddr + j * PAGE_SIZE).toString(16)} is not none`);
    pt.set(dst, di + j, src.pfn[si + j], v);
    pt.set(src, si + j, 0, 0);
  }
  pt.freeIfEmpty(oldAddr);
}

/** How far one step of move_page_tables() may go (get_extent(NORMAL_PMD)): to the next pmd boundary of either address. */
function getExtent(oldAddr: number, oldEnd: number, newAddr: number): number {
  return Math.min(pmdAddrEnd(oldAddr, oldEnd) - oldAddr, (pmdIndex(newAddr) + 1) * PMD_SIZE - newAddr);
}

/** Whether the pmd at addr is none: no pte page with an entry in it, no huge entry (an empty pte page is freed first, as free_pgtables() would have). */
function pmdNone(mm: MmStruct, addr: number): boolean {
  mm.pgtable.freeIfEmpty(addr);
  return mm.pgtable.lookup(addr) === undefined && mm.pgtable.lookupHuge(addr) === undefined;
}

/**
 * Model of move_page_tables() (no PUD-level moves: the model has no pud
 * entries of its own): MMU_NOTIFY_UNMAP over the old range, then pmd by
 * pmd: a huge PMD moves whole when the step is a whole aligned PMD
 * (move_huge_pmd(), whatever the entry holds), else it is split and its
 * ptes move; a pte page moves whole on a whole aligned PMD
 * (move_normal_pmd(), CONFIG_HAVE_MOVE_PMD as on x86); otherwise the ptes
 * move one by one (move_ptes()). Returns how much was moved (all of it:
 * the model's page-table allocations cannot fail).
 * k.inject.movePageTablesInvalidate replaces the notifier bracket.
 */
export function movePageTables(vma: VmAreaStruct, oldAddr: number, newAddr: number, len: number): number {
  if (len === 0) return 0;
  const mm = vma.vmMm, oldEnd = oldAddr + len;
  const range = mmuNotifierRangeInit(MMU_NOTIFY_UNMAP, 0, mm, oldAddr, oldEnd);
  const invalidate = mm.k.inject.movePageTablesInvalidate ?? ((r: MmuNotifierRange, move: () => void) => {
    mmuNotifierInvalidateRangeStart(r);
    move();
    mmuNotifierInvalidateRangeEnd(r);
  });
  invalidate(range, () => {
    for (let extent = 0; oldAddr < oldEnd; oldAddr += extent, newAddr += extent) {
      extent = getExtent(oldAddr, oldEnd, newAddr);
      const pt = mm.pgtable;
      if (pt.lookupHuge(oldAddr) !== undefined) {
        if (extent === PMD_SIZE && pmdNone(mm, newAddr)) {
          pt.movePmd(oldAddr, newAddr); // move_huge_pmd()
          continue;
        }
        splitHugePmd(vma, oldAddr);
      } else if (extent === PMD_SIZE && pt.lookup(oldAddr) !== undefined && pmdNone(mm, newAddr)) {
        pt.movePmd(oldAddr, newAddr); // move_normal_pmd()
        continue;
      }
      movePtes(mm, oldAddr, newAddr, extent);
    }
  });
  return len;
}

/**
 * Model of move_vma(): the range gets a VMA at newAddr (copy_vma()) and its
 * page tables; then the old range is unmapped, or with MREMAP_DONTUNMAP
 * stays mapped and empty: when it was a whole VMA, that VMA leaves its
 * anon_vmas (its pages went with the move) and an anonymous one starts over
 * at its own address's pgoff.
 */
function moveVma(vma: VmAreaStruct, oldAddr: number, oldLen: number, newLen: number, newAddr: number, flags: number): number {
  const mm = vma.vmMm;
  const newPgoff = vma.vmPgoff + (oldAddr - vma.vmStart) / PAGE_SIZE;
  const dontUnmap = (flags & MREMAP_DONTUNMAP) !== 0;
  const newVma = copyVma(vma, newAddr, newLen, newPgoff, dontUnmap);
  // The source may have merged into the new VMA (an anonymous VMA without pages, next to its destination).
  vma = vmaLookup(mm, oldAddr)!;
  movePageTables(vma, oldAddr, newAddr, oldLen);
  if (dontUnmap) {
    vma.vmFlags &= ~VM_LOCKED;
    if (vma.vmStart === oldAddr && vma.vmEnd === oldAddr + oldLen && vma !== newVma) {
      unlinkAnonVmas(mm.k, [vma]);
      if (vmaIsAnonymous(vma) && vma.vmFile === null) vma.vmPgoff = vma.vmStart / PAGE_SIZE;
    }
    return newAddr;
  }
  doMunmap(mm, oldAddr, oldLen);
  return newAddr;
}

/** Model of mremap_to(): MREMAP_FIXED or MREMAP_DONTUNMAP, the new place given or found. */
function mremapTo(mm: MmStruct, addr: number, oldLen: number, newAddr: number, newLen: number, flags: number): number {
  if (!isPageAligned(newAddr)) return -EINVAL;
  if (newLen > TASK_SIZE || newAddr > TASK_SIZE - newLen) return -EINVAL;
  if (addr + oldLen > newAddr && newAddr + newLen > addr) return -EINVAL; // the old and new ranges overlap
  let ret: number;
  if (flags & MREMAP_FIXED) {
    ret = doMunmap(mm, newAddr, newLen);
    if (ret) return ret;
  }
  if (oldLen > newLen) {
    ret = doMunmap(mm, addr + newLen, oldLen - newLen);
    if (ret) return ret;
    oldLen = newLen;
  }
  const vma = vmaToResize(mm, addr, oldLen, newLen, flags);
  if (typeof vma === 'number') return vma;
  ret = mremapGetUnmappedArea(mm, vma, newAddr, newLen, (flags & MREMAP_FIXED) !== 0);
  if (ret < 0) return ret;
  return moveVma(vma, addr, oldLen, newLen, ret, flags);
}

/** Model of vma_expandable(): nothing mapped in the delta after the VMA, and the result inside user space. */
function vmaExpandable(mm: MmStruct, vma: VmAreaStruct, delta: number): boolean {
  const end = vma.vmEnd + delta;
  const next = findVma(mm, vma.vmEnd);
  if (next !== null && next.vmStart < end) return false;
  return end <= TASK_SIZE;
}

/**
 * Model of mremap(2) (SYSCALL_DEFINE5(mremap)): the new address or -errno,
 * each argument checked where and in the order 6.12 checks it. Lengths are
 * page-aligned up; a new length of 0 is -EINVAL. Without MREMAP_FIXED or
 * MREMAP_DONTUNMAP: a shrink unmaps the tail, a grow extends the VMA in
 * place when the space after it is free (vma_merge_extend()), else moves it
 * with MREMAP_MAYMOVE (-ENOMEM without).
 */
export function doMremap(mm: MmStruct, addr: number, oldLen: number, newLen: number, flags: number, newAddr: number): number {
  if (flags & ~(MREMAP_FIXED | MREMAP_MAYMOVE | MREMAP_DONTUNMAP)) return -EINVAL;
  if ((flags & MREMAP_FIXED) && !(flags & MREMAP_MAYMOVE)) return -EINVAL;
  // MREMAP_DONTUNMAP always moves and never resizes.
  if ((flags & MREMAP_DONTUNMAP) && (!(flags & MREMAP_MAYMOVE) || oldLen !== newLen)) return -EINVAL;
  if (!isPageAligned(addr)) return -EINVAL;
  oldLen = pageAlign(oldLen);
  newLen = pageAlign(newLen);
  if (newLen === 0) return -EINVAL;
  let vma = vmaLookup(mm, addr);
  if (vma === null) return -EFAULT;
  if (vma.vmFlags & VM_HUGETLB) {
    oldLen = alignTo(oldLen, HPAGE_SIZE);
    newLen = alignTo(newLen, HPAGE_SIZE);
    if (addr % HPAGE_SIZE !== 0 || newAddr % HPAGE_SIZE !== 0) return -EINVAL;
    if (newLen > oldLen) return -EINVAL; // no expansion: the reservation cannot be split
    if (flags & (MREMAP_FIXED | MREMAP_DONTUNMAP)) {
      mm.k.printk('mremap: moving a hugetlb mapping (move_hugetlb_page_tables()) is not modelled');
      return -EINVAL;
    }
  }
  if (flags & (MREMAP_FIXED | MREMAP_DONTUNMAP)) return mremapTo(mm, addr, oldLen, newAddr, newLen, flags);
  // A shrinking remap only unmaps the tail.
  if (oldLen >= newLen) {
    if (oldLen === newLen) return addr;
    const ret = doMunmap(mm, addr + newLen, oldLen - newLen);
    return ret || addr;
  }
  const r = vmaToResize(mm, addr, oldLen, newLen, flags);
  if (typeof r === 'number') return r;
  vma = r;
  if (oldLen === vma.vmEnd - addr && vmaExpandable(mm, vma, newLen - oldLen)) {
    // vma_merge_extend(): the VMA grows over the free space after it, and merges with the next one if it can.
    vma.vmEnd += newLen - oldLen;
    mm.mmMt.adjust(vma);
    mergeAround(mm, vma.vmStart, vma.vmEnd);
    return addr;
  }
  if (!(flags & MREMAP_MAYMOVE)) return -ENOMEM;
  const to = mremapGetUnmappedArea(mm, vma, 0, newLen, false);
  if (to < 0) return to;
  return moveVma(vma, addr, oldLen, newLen, to, flags);
}
