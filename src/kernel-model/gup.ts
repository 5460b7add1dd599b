// SPDX-License-Identifier: GPL-2.0-only
/*
 * Model of mm/gup.c: get_user_pages() and pin_user_pages() in their slow
 * (__get_user_pages(): follow the pte, fault it in if it is not usable) and
 * fast (lockless pte walk, falling back to the slow path) forms, FOLL_GET
 * and FOLL_PIN accounting, and FOLL_LONGTERM, which migrates pages that may
 * not stay pinned (MEMORY_DEVICE_COHERENT, seed 004's PUBLIC) to system memory and retries.
 *
 * Arrays of struct page pointers are Float64Arrays of pfns (0 is NULL).
 * `mm` stands for current->mm where the kernel uses current.
 *
 * References and pins go to the folio (tryGrabFolio(), and
 * tryGrabFolioFast() in the fast path): a pin adds
 * GUP_PIN_COUNTING_BIAS to a small folio's refcount, and one reference plus
 * one _pincount to a large folio's, as 6.12 does. Huge PMDs (THP and
 * hugetlb) are followed as follow_pmd_mask() does: FOLL_SPLIT_PMD splits a
 * THP's PMD and follows the ptes; otherwise follow_huge_pmd() hands out
 * the subpage. The model fills pages[] one page per follow (no
 * ctx.page_mask batching), and gup_fast leaves a huge PMD to the slow path
 * (gup_fast may always fall back; the result is the same).
 *
 * Departures: the model has no ZONE_MOVABLE or CMA, so the only folios that
 * are not long-term pinnable are device-coherent ones (the migrate_pages()
 * half of migrate_longterm_unpinnable_folios() has nothing to move); the
 * zero page is not refcounted (as put_page() in page_alloc.ts); mmap_lock is
 * never dropped, so there is no VM_FAULT_RETRY/-EAGAIN re-take loop;
 * FAULT_FLAG_UNSHARE (a read-only pin of a shared anon page) is not
 * modelled yet and fails the gup with a WARN.
 */
import { BUG_ON } from './bug.js';
import { EAGAIN, EBUSY, EEXIST, EFAULT, EINVAL, EMLINK, ENOMEM } from './errno.js';
import type { Kernel } from './kernel.js';
import { Memmap, type Page, PAGE_SIZE, PMD_SIZE, pageAlign, PG_anon_exclusive, PG_dirty, PG_reserved } from './page.js';
import { type MmStruct, type VmAreaStruct, TASK_SIZE, VM_HUGETLB, VM_IO, VM_MAYREAD, VM_MAYSHARE, VM_MAYWRITE, VM_PFNMAP,
  VM_READ, VM_SHARED, VM_WRITE, VM_EXEC, findVma, vmaIsAnonymous, vmaLookup } from './mm.js';
import { type HugePmd, pteIndex, ptePresent, pteProtnone, pteSpecial, pteDevmap, pteWrite, pteDirty, pteAccessible, _PAGE_DIRTY,
  _PAGE_PROTNONE } from './pgtable.js';
import { putPage, testPageFlag, setPageFlag, getPage, compoundHead, largeFolio, folioTestAnon, GUP_PIN_COUNTING_BIAS,
  folioMaybeDmaPinned } from './page_alloc.js';
import { isHugeZeroPmd, splitHugePmd } from './huge_memory.js';
import { isDeviceCoherentPage, isDevicePublicPage, pagePgmap, VM_FAULT_ERROR, VM_FAULT_OOM, VM_FAULT_RETRY } from './memremap.js';
import { handleMmFault, isCowMapping, FAULT_FLAG_REMOTE, FAULT_FLAG_WRITE } from './memory.js';
import { migrateDeviceCoherentFolio } from './migrate_device.js';

/* enum foll_flags (include/linux/mm_types.h) and the internal ones (mm/internal.h). */
export const FOLL_WRITE = 1 << 0;
export const FOLL_GET = 1 << 1;
export const FOLL_DUMP = 1 << 2;
export const FOLL_FORCE = 1 << 3;
export const FOLL_NOWAIT = 1 << 4;
export const FOLL_NOFAULT = 1 << 5;
export const FOLL_HWPOISON = 1 << 6;
export const FOLL_ANON = 1 << 7;
export const FOLL_LONGTERM = 1 << 8;
export const FOLL_SPLIT_PMD = 1 << 9;
export const FOLL_PCI_P2PDMA = 1 << 10;
export const FOLL_INTERRUPTIBLE = 1 << 11;
export const FOLL_HONOR_NUMA_FAULT = 1 << 12;
export const FOLL_TOUCH = 1 << 16;
export const FOLL_TRIED = 1 << 17;
export const FOLL_REMOTE = 1 << 18;
export const FOLL_PIN = 1 << 19;
export const FOLL_FAST_ONLY = 1 << 20;
export const FOLL_UNLOCKABLE = 1 << 21;
export const FOLL_MADV_POPULATE = 1 << 22;
const INTERNAL_GUP_FLAGS = FOLL_TOUCH | FOLL_TRIED | FOLL_REMOTE | FOLL_PIN | FOLL_FAST_ONLY | FOLL_UNLOCKABLE |
  FOLL_MADV_POPULATE;

export { GUP_PIN_COUNTING_BIAS, folioMaybeDmaPinned };

/**
 * is_zero_folio(), widened to the huge zero page: the model does not
 * refcount its reserved zero pages (see putPage()), so gup takes and drops
 * no reference on either.
 */
const isZeroFolio = (k: Kernel, page: Page): boolean => testPageFlag(k, page, PG_reserved);

/**
 * Model of try_grab_folio() on page_folio(page): FOLL_GET adds refs
 * references; FOLL_PIN adds refs * GUP_PIN_COUNTING_BIAS to a small
 * folio, refs references and refs to _pincount of a large one. The zero
 * pages are never pinned (nor, in the model, refcounted). 0 or -ENOMEM for
 * a free page.
 */
export function tryGrabFolio(k: Kernel, page: Page, refs: number, flags: number): number {
  if (isZeroFolio(k, page)) return 0;
  const folio = compoundHead(k, page);
  const b = k.memmap.block(folio), i = Memmap.slot(folio);
  if (b.refcount[i] <= 0) {
    k.warn(true, 'try_grab_folio', `pfn 0x${folio.toString(16)} has refcount ${b.refcount[i]}`);
    return -ENOMEM;
  }
  if (flags & FOLL_GET) {
    b.refcount[i] += refs;
  } else if (flags & FOLL_PIN) {
    const f = largeFolio(k, folio);
    if (f !== undefined) {
      b.refcount[i] += refs;
      f.pincount += refs;
    } else {
      b.refcount[i] += refs * GUP_PIN_COUNTING_BIAS;
    }
  }
  return 0;
}

/** Model of gup_put_folio() on page_folio(page): undo tryGrabFolio(); the last reference frees the folio. */
export function gupPutFolio(k: Kernel, page: Page, refs: number, flags: number): void {
  if (isZeroFolio(k, page)) return;
  const folio = compoundHead(k, page);
  if (flags & FOLL_PIN) {
    const f = largeFolio(k, folio);
    if (f !== undefined) {
      BUG_ON(f.pincount < refs, 'gup_put_folio', () => `folio 0x${folio.toString(16)}: unpinning ${refs} of ${f.pincount} pins`);
      f.pincount -= refs;
    } else {
      refs *= GUP_PIN_COUNTING_BIAS;
    }
  }
  const b = k.memmap.block(folio), i = Memmap.slot(folio);
  BUG_ON(b.refcount[i] < refs, 'gup_put_folio', () => `pfn 0x${folio.toString(16)}: dropping ${refs} of ${b.refcount[i]} references`);
  b.refcount[i] -= refs - 1;
  putPage(k, folio);
}

/** Model of unpin_user_page(). */
export function unpinUserPage(k: Kernel, page: Page): void {
  gupPutFolio(k, page, 1, FOLL_PIN);
}

/** Model of unpin_user_pages(): NULL entries are skipped. */
export function unpinUserPages(k: Kernel, pages: Float64Array, npages: number): void {
  for (let i = 0; i < npages; i++) if (pages[i] !== 0) gupPutFolio(k, pages[i], 1, FOLL_PIN);
}

/**
 * Model of folio_is_longterm_pinnable(): the zero page may be pinned,
 * device-coherent memory must stay evictable, and (no ZONE_MOVABLE, no CMA
 * in the model) everything else may. Seed 004's PUBLIC memory is held to
 * the rule its memremap.h comment states ("no one should be allow to pin
 * such memory so that it can always be evicted"), here where 6.12
 * enforces the same rule for COHERENT; the 2017 code itself had no check.
 */
export function folioIsLongtermPinnable(k: Kernel, page: Page): boolean {
  if (isZeroFolio(k, page)) return true;
  return !isDeviceCoherentPage(k, page) && !isDevicePublicPage(k, page);
}

/** Model of check_vma_flags(): may gup touch this VMA this way? 0 or -EFAULT. */
export function checkVmaFlags(vma: VmAreaStruct, gupFlags: number): number {
  const vmFlags = vma.vmFlags;
  if (vmFlags & (VM_IO | VM_PFNMAP)) return -EFAULT;
  if ((gupFlags & FOLL_ANON) && !vmaIsAnonymous(vma)) return -EFAULT;
  if (gupFlags & FOLL_WRITE) {
    if (!(vmFlags & VM_WRITE)) {
      if (!(gupFlags & FOLL_FORCE)) return -EFAULT;
      if (!isCowMapping(vmFlags)) return -EFAULT;
    }
  } else if (!(vmFlags & VM_READ)) {
    if (!(gupFlags & FOLL_FORCE)) return -EFAULT;
    if (!(vmFlags & VM_MAYREAD)) return -EFAULT;
  }
  return 0;
}

/** Model of can_follow_write_pte(): FOLL_FORCE may write an exclusive anon page through a read-only pte of a private mapping. */
function canFollowWritePte(k: Kernel, v: number, page: Page, vma: VmAreaStruct, flags: number): boolean {
  if (pteWrite(v)) return true;
  if (!(flags & FOLL_FORCE)) return false;
  if (vma.vmFlags & (VM_MAYSHARE | VM_SHARED)) return false;
  if (!(vma.vmFlags & VM_MAYWRITE)) return false;
  if (vma.vmFlags & VM_WRITE) return false;
  return page !== 0 && folioTestAnon(k, page) && testPageFlag(k, page, PG_anon_exclusive);
}

/**
 * Model of gup_must_unshare() (mm/internal.h): a read-only pin of an anon
 * page that may be shared must first unshare it, or the pin could end up
 * pointing at a page the process no longer maps after a later COW.
 */
function gupMustUnshare(k: Kernel, vma: VmAreaStruct | null, flags: number, page: Page): boolean {
  if ((flags & (FOLL_WRITE | FOLL_PIN)) !== FOLL_PIN) return false;
  if (!folioTestAnon(k, page)) {
    if (!(flags & FOLL_LONGTERM)) return false;
    return vma === null ? true : isCowMapping(vma.vmFlags);
  }
  return !testPageFlag(k, page, PG_anon_exclusive);
}

/**
 * Model of follow_huge_pmd() (CONFIG_PGTABLE_HAS_HUGE_LEAVES): the subpage
 * at addr of the folio a huge PMD (THP or hugetlb) maps, its folio grabbed
 * as flags ask; 0 when a write must fault first, -EMLINK when it must be
 * unshared, -EFAULT for the huge zero page under FOLL_DUMP. FOLL_TOUCH
 * marks a THP's PMD dirty for a write (touch_pmd()).
 */
function followHugePmd(vma: VmAreaStruct, addr: number, h: HugePmd, flags: number): number {
  const k = vma.vmMm.k, head = h.pfn;
  if ((flags & FOLL_WRITE) && !canFollowWritePte(k, h.val, head, vma, flags)) return 0; // can_follow_write_pmd()
  if ((flags & FOLL_DUMP) && isHugeZeroPmd(k, h)) return -EFAULT;
  if (h.val & _PAGE_PROTNONE) return 0; // no NUMA hinting in the model
  if (!pteWrite(h.val) && gupMustUnshare(k, vma, flags, head)) return -EMLINK;
  BUG_ON((flags & FOLL_PIN) !== 0 && folioTestAnon(k, head) && !testPageFlag(k, head, PG_anon_exclusive),
    'follow_huge_pmd', () => `pinning anon folio 0x${head.toString(16)} that is not exclusive`);
  const ret = (k.inject.tryGrabFolio ?? tryGrabFolio)(k, head, 1, flags);
  if (ret) return ret;
  if (!(vma.vmFlags & VM_HUGETLB) && (flags & FOLL_TOUCH) && (flags & FOLL_WRITE)) h.val |= _PAGE_DIRTY;
  return head + Math.floor((addr % PMD_SIZE) / PAGE_SIZE);
}

/**
 * Model of follow_page_mask() → follow_pmd_mask() → follow_page_pte(): the
 * page mapped at addr, grabbed as flags ask; 0 (NULL) when it must be
 * faulted in first; -EMLINK when it must be unshared; -EFAULT/-EEXIST for a
 * pte without a struct page. A huge PMD goes to followHugePmd(), or, for a
 * THP with FOLL_SPLIT_PMD, is split (split_huge_pmd()) and its ptes
 * followed.
 */
export function followPageMask(vma: VmAreaStruct, addr: number, flags: number): number {
  const mm = vma.vmMm, k = mm.k;
  if (k.warn((flags & (FOLL_PIN | FOLL_GET)) === (FOLL_PIN | FOLL_GET), 'follow_page_pte', 'FOLL_PIN and FOLL_GET')) return -EINVAL;
  let t = mm.pgtable.lookup(addr);
  if (t === undefined) {
    const h = mm.pgtable.lookupHuge(addr);
    // !pmd_present(): a PMD device-private entry (HUGE_PMD_DEVICE_PRIVATE) is no_page_table(): fault it back first.
    if (h !== undefined && !ptePresent(h.val)) return (flags & FOLL_DUMP) ? -EFAULT : 0;
    if (h !== undefined) {
      // pmd_trans_huge() && FOLL_SPLIT_PMD: a hugetlb PMD is never split.
      if (!(flags & FOLL_SPLIT_PMD) || (vma.vmFlags & VM_HUGETLB)) return followHugePmd(vma, addr, h, flags);
      splitHugePmd(vma, addr);
      t = mm.pgtable.alloc(addr);
    }
  }
  if (t === undefined) return (flags & FOLL_DUMP) && vmaIsAnonymous(vma) ? -EFAULT : 0; // no_page_table()
  const i = pteIndex(addr), v = t.val[i], pfn = t.pfn[i];
  if (!ptePresent(v)) return (flags & FOLL_DUMP) && v === 0 && vmaIsAnonymous(vma) ? -EFAULT : 0;
  if (pteProtnone(v)) return 0; // no NUMA hinting in the model: a PROT_NONE pte is never followed
  let page: Page = pteSpecial(v) ? 0 : pfn; // vm_normal_page()
  if ((flags & FOLL_WRITE) && !canFollowWritePte(k, v, page, vma, flags)) return 0;
  if (page === 0 && pteDevmap(v) && (flags & (FOLL_GET | FOLL_PIN))) {
    // get_dev_pagemap(): a devmap pte hands out its page while the pgmap is live (seed 004's PUBLIC pages too).
    if (!pagePgmap(k, pfn)?.live) return 0;
    page = pfn;
  } else if (page === 0) {
    if (flags & FOLL_DUMP) return -EFAULT;
    if (pfn !== k.zeroPfn) return (flags & (FOLL_GET | FOLL_PIN)) ? -EFAULT : -EEXIST; // follow_pfn_pte()
    page = pfn;
  }
  if (!pteWrite(v) && gupMustUnshare(k, vma, flags, page)) return -EMLINK;
  BUG_ON((flags & FOLL_PIN) !== 0 && folioTestAnon(k, page) && !testPageFlag(k, page, PG_anon_exclusive),
    'follow_page_pte', () => `pinning anon pfn 0x${page.toString(16)} that is not exclusive`);
  const ret = (k.inject.tryGrabFolio ?? tryGrabFolio)(k, page, 1, flags);
  if (ret) return ret;
  if ((flags & FOLL_TOUCH) && (flags & FOLL_WRITE) && !pteDirty(v)) setPageFlag(k, compoundHead(k, page), PG_dirty); // folio_mark_dirty()
  return page;
}

/** Model of vm_fault_to_errno(). */
function vmFaultToErrno(ret: number): number {
  if (ret & VM_FAULT_OOM) return -ENOMEM;
  if (ret & VM_FAULT_ERROR) return -EFAULT;
  return 0;
}

/**
 * Model of faultin_page(): handle_mm_fault() for gup, with FOLL_WRITE as a
 * write fault (which breaks COW); a device-private entry is migrated back
 * by its pgmap's migrate_to_ram(), a device-exclusive one restored.
 */
export function faultinPage(vma: VmAreaStruct, addr: number, flags: number, unshare: boolean): number {
  if (flags & FOLL_NOFAULT) return -EFAULT;
  let faultFlags = 0;
  if (flags & FOLL_WRITE) faultFlags |= FAULT_FLAG_WRITE;
  if (flags & FOLL_REMOTE) faultFlags |= FAULT_FLAG_REMOTE;
  if (unshare) {
    vma.vmMm.k.warn(true, 'faultin_page', `FAULT_FLAG_UNSHARE at 0x${addr.toString(16)} is not modelled yet`);
    return -EFAULT;
  }
  const ret = handleMmFault(vma, addr, faultFlags);
  if (ret & VM_FAULT_ERROR) return vmFaultToErrno(ret);
  if (ret & VM_FAULT_RETRY) return -EBUSY;
  return 0;
}

/**
 * Model of __get_user_pages(): page by page, follow and if needed fault in.
 * Returns how many pages were got (stored in pages when it is not null), or
 * -errno when the first one failed.
 */
export function __getUserPages(mm: MmStruct, start: number, nrPages: number, gupFlags: number, pages: Float64Array | null): number {
  if (nrPages === 0) return 0;
  BUG_ON((pages !== null) !== ((gupFlags & (FOLL_GET | FOLL_PIN)) !== 0), '__get_user_pages',
    () => 'pages must be given exactly when FOLL_GET or FOLL_PIN is');
  start = pageAlign(start);
  let i = 0, ret = 0;
  let vma: VmAreaStruct | null = null;
  out: do {
    if (vma === null || start >= vma.vmEnd) {
      vma = vmaLookup(mm, start); // gup_vma_lookup(): no stack expansion in the model
      if (vma === null) { ret = -EFAULT; break; }
      ret = checkVmaFlags(vma, gupFlags);
      if (ret) break;
    }
    let page = 0;
    for (let tries = 0; ; tries++) {
      page = followPageMask(vma, start, gupFlags);
      if (page === 0 || page === -EMLINK) {
        BUG_ON(tries >= 8, '__get_user_pages', () => `fault at 0x${start.toString(16)} does not resolve (livelock)`);
        ret = faultinPage(vma, start, gupFlags, page === -EMLINK);
        if (ret === 0) continue;
        if (ret === -EBUSY || ret === -EAGAIN) ret = 0;
        break out;
      }
      if (page === -EEXIST) {
        if (pages !== null) { ret = -EEXIST; break out; }
      } else if (page < 0) {
        ret = page;
        break out;
      }
      break;
    }
    if (pages !== null) pages[i] = page;
    i++;
    start += PAGE_SIZE;
    nrPages--;
  } while (nrPages);
  return i ? i : ret;
}

/**
 * Model of __get_user_pages_locked(). The model's single thread never loses
 * mmap_lock in a fault, so this is one __get_user_pages() call; a pin marks
 * the mm (MMF_HAS_PINNED, which fork's COW of pinned pages looks at).
 */
function __getUserPagesLocked(mm: MmStruct, start: number, nrPages: number, pages: Float64Array | null, flags: number): number {
  if (flags & FOLL_PIN) mm.hasPinned = true;
  // Callers that pass pages without FOLL_GET get it (FOLL_PIN must be explicit).
  if (pages !== null && !(flags & FOLL_PIN)) flags |= FOLL_GET;
  return __getUserPages(mm, start, nrPages, flags, pages);
}

/**
 * Model of collect_longterm_unpinnable_folios() + migrate_longterm_unpinnable_folios()
 * (check_and_migrate_movable_pages()). 0 when every page may stay pinned;
 * otherwise every page is unpinned, the device-coherent ones are migrated
 * to system memory (migrate_device_coherent_folio()), and the result is
 * -EAGAIN (the caller pins again) or -EBUSY when a migration failed.
 */
export function checkAndMigrateMovablePages(k: Kernel, nrPages: number, pages: Float64Array): number {
  let collected = 0;
  for (let i = 0; i < nrPages; i++) {
    if (folioIsLongtermPinnable(k, pages[i])) continue;
    collected++;
    // Only device-coherent folios are unpinnable in the model: nothing to isolate for migrate_pages().
  }
  if (!collected) return 0;
  for (let i = 0; i < nrPages; i++) {
    const page = pages[i];
    if (page === 0) continue;
    pages[i] = 0;
    if (isDeviceCoherentPage(k, page) || isDevicePublicPage(k, page)) {
      // A pinned folio cannot migrate: turn the pin into a plain reference.
      getPage(k, page);
      gupPutFolio(k, page, 1, FOLL_PIN);
      if (migrateDeviceCoherentFolio(k, page)) {
        unpinUserPages(k, pages, nrPages); // pofs_unpin()
        return -EBUSY;
      }
      continue;
    }
    unpinUserPage(k, page); // unpin_folio()
  }
  return -EAGAIN;
}

/** Model of __gup_longterm_locked(): with FOLL_LONGTERM, pin, migrate what may not stay pinned, and pin again. */
function __gupLongtermLocked(mm: MmStruct, start: number, nrPages: number, pages: Float64Array | null, flags: number): number {
  if (!(flags & FOLL_LONGTERM)) return __getUserPagesLocked(mm, start, nrPages, pages, flags);
  const k = mm.k;
  let rc: number, nrPinned: number;
  do {
    nrPinned = __getUserPagesLocked(mm, start, nrPages, pages, flags);
    if (nrPinned <= 0) {
      rc = nrPinned;
      break;
    }
    rc = (k.inject.checkAndMigrateMovablePages ?? checkAndMigrateMovablePages)(k, nrPinned, pages!);
  } while (rc === -EAGAIN);
  return rc ? rc : nrPinned;
}

/** Model of is_valid_gup_args(): the flags to use, or -1 for a caller bug (with its WARN). */
function isValidGupArgs(k: Kernel, pages: Float64Array | null, gupFlags: number, toSet: number): number {
  if (k.warn((gupFlags & INTERNAL_GUP_FLAGS) !== 0, 'is_valid_gup_args', 'internal FOLL_ flags from a caller')) return -1;
  gupFlags |= toSet;
  if (k.warn((gupFlags & (FOLL_PIN | FOLL_GET)) === (FOLL_PIN | FOLL_GET), 'is_valid_gup_args', 'FOLL_GET and FOLL_PIN')) return -1;
  if (k.warn(!(gupFlags & FOLL_PIN) && (gupFlags & FOLL_LONGTERM) !== 0, 'is_valid_gup_args', 'FOLL_LONGTERM without FOLL_PIN')) return -1;
  if (k.warn((gupFlags & (FOLL_GET | FOLL_PIN)) !== 0 && pages === null, 'is_valid_gup_args', 'FOLL_GET/FOLL_PIN without pages')) return -1;
  if (k.warn((gupFlags & FOLL_LONGTERM) !== 0 && (gupFlags & FOLL_PCI_P2PDMA) !== 0, 'is_valid_gup_args', 'FOLL_LONGTERM with FOLL_PCI_P2PDMA')) return -1;
  return gupFlags;
}

/** Model of get_user_pages(): pages with a reference each (put_page() them); count or -errno. */
export function getUserPages(mm: MmStruct, start: number, nrPages: number, gupFlags: number, pages: Float64Array | null): number {
  const flags = isValidGupArgs(mm.k, pages, gupFlags, FOLL_TOUCH);
  if (flags < 0) return -EINVAL;
  return __getUserPagesLocked(mm, start, nrPages, pages, flags);
}

/** Model of get_user_pages_remote() (locked == NULL): another process's pages, faults counted as remote. */
export function getUserPagesRemote(mm: MmStruct, start: number, nrPages: number, gupFlags: number, pages: Float64Array | null): number {
  const flags = isValidGupArgs(mm.k, pages, gupFlags, FOLL_TOUCH | FOLL_REMOTE);
  if (flags < 0) return -EINVAL;
  return __getUserPagesLocked(mm, start, nrPages, pages, flags);
}

/** Model of pin_user_pages(): pages pinned (unpin_user_pages() them); invalid arguments give 0, as in C. */
export function pinUserPages(mm: MmStruct, start: number, nrPages: number, gupFlags: number, pages: Float64Array): number {
  const flags = isValidGupArgs(mm.k, pages, gupFlags, FOLL_PIN);
  if (flags < 0) return 0;
  return __gupLongtermLocked(mm, start, nrPages, pages, flags);
}

/** Model of pin_user_pages_remote() (locked == NULL). */
export function pinUserPagesRemote(mm: MmStruct, start: number, nrPages: number, gupFlags: number, pages: Float64Array): number {
  const flags = isValidGupArgs(mm.k, pages, gupFlags, FOLL_PIN | FOLL_TOUCH | FOLL_REMOTE);
  if (flags < 0) return 0;
  return __gupLongtermLocked(mm, start, nrPages, pages, flags);
}

/**
 * Model of try_grab_folio_fast() (mm/gup.c, 6.12): the fast path's grab of
 * page_folio(page). try_get_folio() adds refs references to the folio (not
 * to the page: a tail page's own refcount is 0) unless the folio is already
 * free; FOLL_PIN then counts refs in a large folio's _pincount, or adds
 * refs * (GUP_PIN_COUNTING_BIAS - 1) more references to a small one, so a
 * pin is what tryGrabFolio() and gupPutFolio() expect. A folio FOLL_LONGTERM
 * may not keep is let go again. Returns the folio (its head page), or 0 for
 * "fall back to the slow path".
 */
function tryGrabFolioFast(k: Kernel, page: Page, refs: number, flags: number): Page {
  if (k.warn((flags & (FOLL_GET | FOLL_PIN)) === 0, 'try_grab_folio_fast', 'neither FOLL_GET nor FOLL_PIN')) return 0;
  const folio = compoundHead(k, page);
  if (isZeroFolio(k, page)) return folio; // never pinned, and not refcounted in the model
  const b = k.memmap.block(folio), i = Memmap.slot(folio);
  if (b.refcount[i] <= 0) return 0; // folio_ref_try_add() on a free folio
  b.refcount[i] += refs;
  if (flags & FOLL_GET) return folio;
  if ((flags & FOLL_LONGTERM) && !folioIsLongtermPinnable(k, folio)) {
    b.refcount[i] -= refs; // folio_put_refs(): the references taken just above, never the last
    return 0;
  }
  const f = largeFolio(k, folio);
  if (f !== undefined) f.pincount += refs;
  else b.refcount[i] += refs * (GUP_PIN_COUNTING_BIAS - 1);
  return folio;
}

/**
 * Model of gup_fast() → gup_fast_pte_range(): grab pages straight from
 * present, accessible, non-special ptes without faulting; stop at the first
 * pte that needs the slow path. References and pins go to the folio
 * (tryGrabFolioFast()), so a page of a PTE-mapped THP is pinned like the
 * slow path pins it. Returns how many were grabbed.
 */
function gupFast(mm: MmStruct, start: number, end: number, flags: number, pages: Float64Array): number {
  const k = mm.k, write = (flags & FOLL_WRITE) !== 0;
  let nr = 0;
  for (let addr = start; addr < end; addr += PAGE_SIZE) {
    const t = mm.pgtable.lookup(addr);
    if (t === undefined) break;
    const i = pteIndex(addr), v = t.val[i], page = t.pfn[i];
    // gup_fast_pte_range(): a devmap pte goes through get_dev_pagemap(), but never for FOLL_LONGTERM.
    if (!pteAccessible(v, write) || (pteSpecial(v) && (!pteDevmap(v) || (flags & FOLL_LONGTERM) || !pagePgmap(k, page)?.live))) break;
    const folio = tryGrabFolioFast(k, page, 1, flags);
    if (folio === 0) break;
    if (!pteWrite(v) && gupMustUnshare(k, null, flags, page)) {
      gupPutFolio(k, folio, 1, flags);
      break;
    }
    pages[nr++] = page;
  }
  return nr;
}

/** Model of gup_fast_fallback(): the fast walk, then __gup_longterm_locked() for the rest. */
function gupFastFallback(mm: MmStruct, start: number, nrPages: number, gupFlags: number, pages: Float64Array): number {
  const k = mm.k;
  if (k.warn((gupFlags & ~(FOLL_WRITE | FOLL_LONGTERM | FOLL_FORCE | FOLL_PIN | FOLL_GET | FOLL_FAST_ONLY |
    FOLL_NOFAULT | FOLL_PCI_P2PDMA | FOLL_HONOR_NUMA_FAULT)) !== 0, 'gup_fast_fallback', 'unexpected FOLL_ flags')) return -EINVAL;
  if (gupFlags & FOLL_PIN) mm.hasPinned = true;
  start = pageAlign(start);
  const end = start + nrPages * PAGE_SIZE;
  if (end > TASK_SIZE) return -EFAULT;
  const nrPinned = gupFast(mm, start, end, gupFlags, pages);
  if (nrPinned === nrPages || (gupFlags & FOLL_FAST_ONLY)) return nrPinned;
  const ret = __gupLongtermLocked(mm, start + nrPinned * PAGE_SIZE, nrPages - nrPinned, pages.subarray(nrPinned),
    gupFlags | FOLL_TOUCH | FOLL_UNLOCKABLE);
  if (ret < 0) return nrPinned ? nrPinned : ret;
  return ret + nrPinned;
}

/** Model of get_user_pages_fast(). */
export function getUserPagesFast(mm: MmStruct, start: number, nrPages: number, gupFlags: number, pages: Float64Array): number {
  const flags = isValidGupArgs(mm.k, pages, gupFlags, FOLL_GET);
  if (flags < 0) return -EINVAL;
  return gupFastFallback(mm, start, nrPages, flags, pages);
}

/** Model of pin_user_pages_fast(). */
export function pinUserPagesFast(mm: MmStruct, start: number, nrPages: number, gupFlags: number, pages: Float64Array): number {
  const flags = isValidGupArgs(mm.k, pages, gupFlags, FOLL_PIN);
  if (flags < 0) return -EINVAL;
  return gupFastFallback(mm, start, nrPages, flags, pages);
}

/**
 * Model of populate_vma_page_range(): fault [start, end) of one VMA in
 * through __get_user_pages() without pages, a write fault in a private
 * writable mapping (to break COW), else a read with FOLL_FORCE; a VMA
 * nobody may access is -EFAULT. Pages populated or -errno.
 */
export function populateVmaPageRange(vma: VmAreaStruct, start: number, end: number): number {
  if (!(vma.vmFlags & (VM_READ | VM_WRITE | VM_EXEC))) return -EFAULT; // !vma_is_accessible()
  const write = (vma.vmFlags & (VM_WRITE | VM_SHARED)) === VM_WRITE;
  return __getUserPages(vma.vmMm, start, (end - start) / PAGE_SIZE, FOLL_TOUCH | (write ? FOLL_WRITE : FOLL_FORCE), null);
}

/**
 * Model of mm_populate() (__mm_populate(start, len, ignore_errors = 1)),
 * what vm_mmap_pgoff() runs after a MAP_POPULATE mmap() under mmap_lock for
 * read: each VMA in the range but VM_IO/VM_PFNMAP ones is populated; an
 * error skips to the next VMA, and mmap() still succeeds.
 */
export function mmPopulate(mm: MmStruct, start: number, len: number): void {
  const end = start + len;
  for (let nstart = start, nend = start; nstart < end; nstart = nend) {
    const vma = findVma(mm, nstart);
    if (vma === null || vma.vmStart >= end) break;
    nend = Math.min(end, vma.vmEnd);
    if (vma.vmFlags & (VM_IO | VM_PFNMAP)) continue;
    nstart = Math.max(nstart, vma.vmStart);
    const ret = populateVmaPageRange(vma, nstart, nend);
    if (ret > 0) nend = nstart + ret * PAGE_SIZE;
  }
}
