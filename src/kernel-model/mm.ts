// SPDX-License-Identifier: GPL-2.0-only
/*
 * Model of the address space: struct mm_struct and struct vm_area_struct
 * (include/linux/mm_types.h) with mmap(), munmap() and mprotect()
 * (mm/mmap.c, mm/vma.c, mm/mprotect.c).
 *
 * In Linux: VMAs in a maple tree; here a sorted array (a test process has a
 * handful). Page tables are the sparse PageTable of pgtable.ts. Syscalls
 * return an address or a negative errno, as the kernel's do; the selftest
 * port's libc layer turns that into -1/errno.
 */
import { RwSemaphore } from './locking.js';
import { EACCES, EBADF, EINVAL, ENOMEM, ENODEV, ERR_PTR, type ErrPtr, IS_ERR, PTR_ERR } from './errno.js';
import type { Kernel } from './kernel.js';
import { PAGE_SIZE, PMD_SIZE, isPageAligned } from './page.js';
import { PageTable, pteIndex, pmdAddrEnd, ptePresent, pteSpecial, isWritableDevicePrivateEntry,
  isWritableMigrationEntry, _PAGE_RW, _PAGE_PROTNONE, mkSwpEntry, SWP_DEVICE_READ, SWP_MIGRATION_READ,
  SWP_MIGRATION_READ_EXCLUSIVE, SWP_MIG_DIRTY, isWritableDeviceExclusiveEntry, SWP_DEVICE_EXCLUSIVE_READ } from './pgtable.js';
import { testPageFlag, folioTestAnon, compoundHead } from './page_alloc.js';
import { type Page, PG_anon_exclusive, PG_swapbacked } from './page.js';
import { type MmuIntervalNotifier, type MmuNotifierRange, mmuNotifierRangeInit, mmuNotifierInvalidateRangeStart,
  mmuNotifierInvalidateRangeEnd, MMU_NOTIFY_UNMAP, MMU_NOTIFY_PROTECTION_VMA } from './mmu_notifier.js';
import { zapPageRange } from './memory.js';
import type { VmFault } from './memory.js';
import { vmaAdjustTransHuge, changeHugePmd } from './huge_memory.js';
import { HPAGE_SIZE, hugetlbReservePages, hugetlbVmOpClose, hugetlbChangeProtection } from './hugetlb.js';
import { ShmemFile as ShmemFileClass, shmemMmap, shmemZeroSetup } from './shmem.js';
import { type File, fput, getFile } from './chrdev.js';
import { FMODE_READ, FMODE_WRITE } from './fcntl.js';
import { type AnonVma, anonVmaClone, unlinkAnonVmas } from './rmap.js';

/* vm_flags (include/linux/mm.h). */
export const VM_NONE = 0;
export const VM_READ = 0x1;
export const VM_WRITE = 0x2;
export const VM_EXEC = 0x4;
export const VM_SHARED = 0x8;
export const VM_MAYREAD = 0x10;
export const VM_MAYWRITE = 0x20;
export const VM_MAYEXEC = 0x40;
export const VM_MAYSHARE = 0x80;
export const VM_PFNMAP = 0x400;
export const VM_LOCKED = 0x2000;
export const VM_IO = 0x4000;
export const VM_SEQ_READ = 0x8000;
export const VM_RAND_READ = 0x10000;
export const VM_DONTCOPY = 0x20000;
export const VM_DONTEXPAND = 0x40000;
export const VM_HUGETLB = 0x400000;
export const VM_WIPEONFORK = 0x2000000;
export const VM_DONTDUMP = 0x4000000;
export const VM_MIXEDMAP = 0x10000000;
export const VM_HUGEPAGE = 0x20000000;
export const VM_NOHUGEPAGE = 0x40000000;
/** VM_SPECIAL: mappings migrate_vma_setup() refuses. */
export const VM_SPECIAL = VM_IO | VM_DONTEXPAND | VM_PFNMAP | VM_MIXEDMAP;

/* mmap() arguments (include/uapi/asm-generic/mman*.h). */
export const PROT_NONE = 0x0;
export const PROT_READ = 0x1;
export const PROT_WRITE = 0x2;
export const PROT_EXEC = 0x4;
export const MAP_NORESERVE = 0x4000;
export const MAP_HUGETLB = 0x40000;
export const MAP_SHARED = 0x01;
export const MAP_PRIVATE = 0x02;
export const MAP_FIXED = 0x10;
export const MAP_ANONYMOUS = 0x20;
export const MAP_TYPE = 0x0f;

/** Where top-down mmap() starts (x86_64 with a 128 MiB stack gap below 2^47). */
export const TASK_SIZE = 0x7ffffffff000;
const MMAP_BASE = 0x7ffff0000000;

/** struct vm_operations_struct: the member the model calls. */
export interface VmOperationsStruct {
  name: string;
  /** ->fault(): put a locked page with a reference in vmf.page, return VM_FAULT_LOCKED or VM_FAULT_* errors. */
  fault?(vmf: VmFault): number;
}

export class VmAreaStruct {
  /** vma->anon_vma: where this VMA's new anonymous pages go; always also in anonVmaChain. */
  anonVma: AnonVma | null = null;
  /** vma->anon_vma_chain: every anon_vma this VMA is linked into, newest first (more than one after fork). */
  anonVmaChain: AnonVma[] = [];
  /** Non-null for mappings that are not plain anonymous memory (vma_is_anonymous() is !vm_ops). */
  vmOps: VmOperationsStruct | null = null;
  /**
   * vm_file: the mapped file, holding a reference: a tmpfs file, the anonymous
   * shmem file of MAP_SHARED|MAP_ANONYMOUS, or a character device whose
   * ->mmap() filled the VMA (its File has no f_mapping).
   */
  vmFile: File | null = null;
  constructor(public vmMm: MmStruct, public vmStart: number, public vmEnd: number, public vmFlags: number,
    /** Page offset of vm_start: for anonymous memory vm_start >> PAGE_SHIFT at creation. */
    public vmPgoff: number) {}
}

/** Model of vma_is_anonymous(). */
export const vmaIsAnonymous = (vma: VmAreaStruct): boolean => vma.vmOps === null;

/** Model of linear_page_index(). */
export const linearPageIndex = (vma: VmAreaStruct, addr: number): number =>
  vma.vmPgoff + (addr - vma.vmStart) / PAGE_SIZE;

/** Model of calc_vm_prot_bits(). */
export const calcVmProtBits = (prot: number): number =>
  (prot & PROT_READ ? VM_READ : 0) | (prot & PROT_WRITE ? VM_WRITE : 0) | (prot & PROT_EXEC ? VM_EXEC : 0);

let nextMmId = 1;

export class MmStruct {
  /** Sorted by vm_start, never overlapping. */
  vmas: VmAreaStruct[] = [];
  readonly pgtable = new PageTable();
  readonly intervalNotifiers: MmuIntervalNotifier[] = [];
  /** mmu_notifier_subscriptions->invalidate_seq: odd while an invalidation runs. */
  invalidateSeq = 2;
  /** mm_users: the address space is torn down when it drops to 0 (each thread of the process holds one). */
  mmUsers = 1;
  /** mmap_lock: taken for write by the system calls that change the VMAs, for read around hmm_range_fault(); see locking.ts. */
  readonly mmapLock = new RwSemaphore('mmap_lock');
  /** mm_count: the struct itself, pinned by notifiers (mmgrab()). */
  mmCount = 1;
  /**
   * rss MM_ANONPAGES: anon pages mapped by a pte or a THP PMD, migration,
   * device-private and device-exclusive entries of anon pages included (they
   * stand for a mapping). Counted by the page-table code (addMmCounter()), not by rmap.
   */
  rssAnon = 0;
  /** rss MM_FILEPAGES + MM_SHMEMPAGES, in one counter: tmpfs pages, and driver pages put in by vm_insert_page(). */
  rssFile = 0;
  /** MMF_HAS_PINNED: some gup ever pinned pages of this mm (set by pin_user_pages*()). */
  hasPinned = false;
  /** hugetlb_usage: base pages mapped through hugetlb VMAs (not in rss). */
  hugetlbUsage = 0;
  /** A hook to watch every invalidation (the CLI's --trace and tests use it). */
  notifierLog?: (r: MmuNotifierRange) => void;
  readonly id = nextMmId++;
  constructor(readonly k: Kernel) {}

  mmgrab(): void { this.mmCount++; }
  mmdrop(): void { this.mmCount--; }
  /** Model of mmget_not_zero(). */
  mmgetNotZero(): boolean {
    if (this.mmUsers === 0) return false;
    this.mmUsers++;
    return true;
  }
  /** Model of mmput(): the last user tears the address space down (exit_mmap()). */
  mmput(): void {
    if (--this.mmUsers === 0) exitMmap(this);
  }
}

/* enum { NR_MM_COUNTERS } members (include/linux/mm_types_task.h) the model counts. */
export const MM_FILEPAGES = 0;
export const MM_ANONPAGES = 1;
export const MM_SHMEMPAGES = 3;

/** Model of add_mm_counter(): MM_FILEPAGES and MM_SHMEMPAGES share rssFile in the model. */
export function addMmCounter(mm: MmStruct, member: number, value: number): void {
  if (member === MM_ANONPAGES) mm.rssAnon += value;
  else mm.rssFile += value;
}

/** Model of mm_counter_file(): shmem (swap-backed) pages are MM_SHMEMPAGES, other file pages MM_FILEPAGES. */
export function mmCounterFile(k: Kernel, page: Page): number {
  return testPageFlag(k, compoundHead(k, page), PG_swapbacked) ? MM_SHMEMPAGES : MM_FILEPAGES;
}

/** Model of mm_counter(): the rss counter a mapping of page counts in. */
export function mmCounter(k: Kernel, page: Page): number {
  return folioTestAnon(k, page) ? MM_ANONPAGES : mmCounterFile(k, page);
}

/** Model of find_vma(): the first VMA that ends above addr. */
export function findVma(mm: MmStruct, addr: number): VmAreaStruct | null {
  const v = mm.vmas;
  let lo = 0, hi = v.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (v[mid].vmEnd <= addr) lo = mid + 1;
    else hi = mid;
  }
  return lo < v.length ? v[lo] : null;
}

/** Model of vma_lookup(): the VMA containing addr. */
export function vmaLookup(mm: MmStruct, addr: number): VmAreaStruct | null {
  const vma = findVma(mm, addr);
  return vma !== null && vma.vmStart <= addr ? vma : null;
}

function insertVma(mm: MmStruct, vma: VmAreaStruct): void {
  const i = mm.vmas.findIndex((v) => v.vmStart > vma.vmStart);
  if (i < 0) mm.vmas.push(vma);
  else mm.vmas.splice(i, 0, vma);
  vma.anonVma?.vmas.add(vma);
  vma.vmFile?.fMapping?.iMmap.add(vma); // vma_link_file()
}

/** The vm_ops a char-device VMA gets here: no ->fault (what the driver did not map faults SIGBUS). */
const DEV_FILE_VM_OPS: VmOperationsStruct = { name: 'device file' };

/** Model of the file half of remove_vma(): unlink_file_vma() from i_mmap and fput(vm_file). */
function unlinkFileVmas(vmas: VmAreaStruct[]): void {
  for (const v of vmas) {
    if (v.vmFile === null) continue;
    v.vmFile.fMapping?.iMmap.delete(v);
    fput(v.vmFile, null);
    v.vmFile = null;
  }
}

/**
 * Model of get_unmapped_area() top-down (vm_unmapped_area() with an
 * align_mask): the highest gap of len bytes below the mmap base, its start
 * aligned down to `align` (hugetlb_get_unmapped_area_topdown() asks for the
 * huge page size).
 */
function getUnmappedArea(mm: MmStruct, len: number, align = PAGE_SIZE): number {
  let top = MMAP_BASE;
  for (let i = mm.vmas.length - 1; i >= 0; i--) {
    const v = mm.vmas[i];
    if (v.vmStart >= top) continue;
    const a = Math.floor((top - len) / align) * align;
    if (v.vmEnd <= a) return a;
    top = v.vmStart;
  }
  const a = Math.floor((top - len) / align) * align;
  return a >= PAGE_SIZE * 16 ? a : -ENOMEM;
}

/**
 * Model of __get_unmapped_area() for anonymous memory (6.12, THP built in):
 * a length that is a multiple of 2 MiB, without a hint, is placed on a 2 MiB
 * boundary whatever the THP mode (__thp_get_unmapped_area(): find len + 2
 * MiB, then take its top aligned part, or round up its start); other
 * lengths, or when the padded search fails, get the plain search.
 */
function getUnmappedAreaAnon(mm: MmStruct, len: number): number {
  if (len % PMD_SIZE === 0) {
    const ret = getUnmappedArea(mm, len + PMD_SIZE);
    if (ret >= 0) {
      const offSub = (PMD_SIZE - (ret % PMD_SIZE)) % PMD_SIZE;
      return offSub === 0 ? ret + PMD_SIZE : ret + offSub;
    }
  }
  return getUnmappedArea(mm, len);
}

/**
 * Model of split_vma(): cut the VMA containing addr at addr; -EINVAL when
 * the VMA refuses (hugetlb_vm_op_split(): not on a huge page boundary).
 * A huge PMD across addr is split first (vma_adjust_trans_huge()).
 */
export function splitVma(mm: MmStruct, addr: number): number {
  const vma = vmaLookup(mm, addr);
  if (vma === null || vma.vmStart === addr) return 0;
  if ((vma.vmFlags & VM_HUGETLB) && addr % HPAGE_SIZE !== 0) return -EINVAL;
  vmaAdjustTransHuge(vma, addr);
  const tail = new VmAreaStruct(mm, addr, vma.vmEnd, vma.vmFlags, linearPageIndex(vma, addr));
  tail.anonVma = vma.anonVma;
  anonVmaClone(tail, vma);
  tail.vmOps = vma.vmOps;
  if (vma.vmFile !== null) tail.vmFile = getFile(vma.vmFile);
  vma.vmEnd = addr;
  insertVma(mm, tail);
  return 0;
}

/** Model of the merge the kernel does after mmap()/mprotect() (vma_merge_existing_range()): same flags, compatible anon_vma, contiguous pgoff. */
export function mergeAround(mm: MmStruct, start: number, end: number): void {
  for (let i = 0; i + 1 < mm.vmas.length; i++) {
    const a = mm.vmas[i], b = mm.vmas[i + 1];
    if (b.vmStart > end || a.vmEnd < start) continue;
    if (a.vmEnd !== b.vmStart || a.vmFlags !== b.vmFlags || a.vmOps !== b.vmOps || a.vmFile !== b.vmFile) continue;
    if (a.vmOps === DEV_FILE_VM_OPS) continue; // a driver's VM_MIXEDMAP/VM_PFNMAP mapping is VM_SPECIAL: never merged
    if (a.anonVma !== null && b.anonVma !== null && a.anonVma !== b.anonVma) continue;
    // is_mergeable_anon_vma(): a VMA cloned from a parent by fork does not merge with one that has no anon_vma.
    if (a.anonVma !== b.anonVma && (a.anonVmaChain.length > 1 || b.anonVmaChain.length > 1)) continue;
    if (linearPageIndex(a, a.vmEnd) !== b.vmPgoff) continue;
    // b's pages keep their index (pgoff is contiguous), so rmap still finds them through a.
    a.vmEnd = b.vmEnd;
    if (a.anonVma === null && b.anonVma !== null) {
      a.anonVma = b.anonVma; // dup_anon_vma()
      anonVmaClone(a, b);
    }
    unlinkAnonVmas(mm.k, [b]);
    mm.vmas.splice(i + 1, 1);
    unlinkFileVmas([b]);
    i--;
  }
}

/**
 * Model of vma_modify_flags() → vma_modify() (mm/vma.c): [start, end) of
 * vma becomes a VMA with newFlags of its own, merged with a neighbour that
 * can take it (vma_merge_existing_range()) or split out of vma
 * (split_vma() at start and at end). The kernel tries the merge first and
 * its callers set vm_flags afterwards (vm_flags_reset()); the model splits,
 * sets the flags and then merges (mergeAround()), which leaves the same
 * VMAs. Returns the VMA that now covers [start, end), or ERR_PTR(-errno)
 * when a split is refused (hugetlb off a huge page boundary: -EINVAL).
 */
export function vmaModifyFlags(vma: VmAreaStruct, start: number, end: number, newFlags: number): ErrPtr<VmAreaStruct> {
  const mm = vma.vmMm;
  let err = splitVma(mm, start);
  if (err === 0) err = splitVma(mm, end);
  if (err) return ERR_PTR(err);
  vmaLookup(mm, start)!.vmFlags = newFlags;
  mergeAround(mm, start, end);
  return vmaLookup(mm, start)!;
}

/**
 * Model of do_mmap() + mmap_region(). Returns the address or -errno.
 * Anonymous memory (MAP_PRIVATE: vm_pgoff is the address's page number;
 * MAP_SHARED: an anonymous shmem file from offset 0, shmem_zero_setup())
 * and tmpfs files (`file`, from byte offset `off`), MAP_SHARED or
 * MAP_PRIVATE. A shared file mapping needs the file open for writing to be
 * writable (-EACCES), and without FMODE_WRITE it loses VM_MAYWRITE and
 * VM_SHARED (keeping VM_MAYSHARE), as in C; any mapping of a file needs
 * FMODE_READ. Other files (the dmirror char devices) have no mmap: -ENODEV.
 */
export function doMmap(mm: MmStruct, addr: number, len: number, prot: number, flags: number,
  file: File | null = null, off = 0): number {
  if (len === 0) return -EINVAL;
  len = Math.ceil(len / PAGE_SIZE) * PAGE_SIZE;
  const type = flags & MAP_TYPE;
  if (type !== MAP_SHARED && type !== MAP_PRIVATE) return -EINVAL;
  if (flags & MAP_ANONYMOUS) file = null;
  else if (file === null) return -EBADF;
  if (off % PAGE_SIZE !== 0) return -EINVAL;
  let vmFlags = calcVmProtBits(prot) | VM_MAYREAD | VM_MAYWRITE | VM_MAYEXEC;
  // A tmpfs file maps its page cache; a character device's file maps through its driver's ->mmap()
  // (call_mmap(); -ENODEV without one).
  const shmemFile = file instanceof ShmemFileClass ? file : null;
  const devFile = file !== null && shmemFile === null ? file : null;
  if (devFile !== null) {
    if (devFile.cdev.fops.mmap === undefined) return -ENODEV;
    if (type === MAP_SHARED) vmFlags |= VM_SHARED | VM_MAYSHARE;
  } else if (shmemFile !== null) {
    if (type === MAP_SHARED) {
      if ((prot & PROT_WRITE) && !(shmemFile.fMode & FMODE_WRITE)) return -EACCES;
      vmFlags |= VM_SHARED | VM_MAYSHARE;
      if (!(shmemFile.fMode & FMODE_WRITE)) vmFlags &= ~(VM_MAYWRITE | VM_SHARED);
    }
    if (!(shmemFile.fMode & FMODE_READ)) return -EACCES;
  } else if (type === MAP_SHARED) {
    vmFlags |= VM_SHARED | VM_MAYSHARE;
  }
  const huge = (flags & MAP_HUGETLB) !== 0 && file === null && type === MAP_PRIVATE;
  if ((flags & MAP_HUGETLB) && !huge) {
    mm.k.printk(`mmap: MAP_HUGETLB 0x${flags.toString(16)}: only private anonymous hugetlb mappings are modelled`);
    return -EINVAL;
  }
  // ksys_mmap_pgoff(): MAP_HUGETLB rounds the length up to the huge page size.
  if (huge) len = Math.ceil(len / HPAGE_SIZE) * HPAGE_SIZE;
  if (flags & MAP_FIXED) {
    if (!isPageAligned(addr) || addr + len > TASK_SIZE) return -EINVAL;
    if (huge && addr % HPAGE_SIZE !== 0) return -EINVAL;
    doMunmap(mm, addr, len);
  } else {
    addr = huge ? getUnmappedArea(mm, len, HPAGE_SIZE) : file === null && type === MAP_PRIVATE ? getUnmappedAreaAnon(mm, len)
      : getUnmappedArea(mm, len);
    if (addr < 0) return addr;
  }
  const pgoff = file !== null ? off / PAGE_SIZE : type === MAP_SHARED ? 0 : addr / PAGE_SIZE;
  const vma = new VmAreaStruct(mm, addr, addr + len, vmFlags, pgoff);
  if (huge) {
    // hugetlbfs_file_mmap() on the anonymous hugetlbfs file: a file mapping, reserved up front.
    vma.vmFlags |= VM_HUGETLB | VM_DONTEXPAND;
    vma.vmPgoff = 0;
    const ret = hugetlbReservePages(vma, (flags & MAP_NORESERVE) !== 0);
    if (ret < 0) return ret;
  }
  if (devFile !== null) {
    // The driver fills the VMA (e.g. dmirror_fops_mmap() with vm_insert_page()); its error unmaps it again.
    vma.vmOps = DEV_FILE_VM_OPS;
    vma.vmFile = getFile(devFile);
    insertVma(mm, vma);
    const ret = devFile.cdev.fops.mmap!(devFile, vma);
    if (ret) doMunmap(mm, addr, len);
    return ret || addr;
  }
  if (shmemFile !== null) {
    vma.vmFile = getFile(shmemFile);
    shmemMmap(shmemFile, vma); // call_mmap()
  } else if (type === MAP_SHARED) {
    shmemZeroSetup(vma);
  }
  insertVma(mm, vma);
  if (!huge) mergeAround(mm, addr, addr + len);
  return addr;
}

/**
 * Model of do_vmi_munmap(): split at the edges, tell the notifiers
 * (MMU_NOTIFY_UNMAP), zap the ptes (freeing the pages) and drop the VMAs.
 */
export function doMunmap(mm: MmStruct, start: number, len: number): number {
  if (!isPageAligned(start) || len === 0 || start + len > TASK_SIZE) return -EINVAL;
  const end = start + Math.ceil(len / PAGE_SIZE) * PAGE_SIZE;
  if (!mm.vmas.some((v) => v.vmStart < end && v.vmEnd > start)) return 0;
  let err = splitVma(mm, start);
  if (err === 0) err = splitVma(mm, end);
  if (err) return err;
  const victims = mm.vmas.filter((v) => v.vmStart >= start && v.vmEnd <= end);
  const range = mmuNotifierRangeInit(MMU_NOTIFY_UNMAP, 0, mm, start, end);
  mmuNotifierInvalidateRangeStart(range);
  for (const v of victims) zapPageRange(v, v.vmStart, v.vmEnd);
  mmuNotifierInvalidateRangeEnd(range);
  for (const v of victims) if (v.vmFlags & VM_HUGETLB) hugetlbVmOpClose(v);
  mm.vmas = mm.vmas.filter((v) => !victims.includes(v));
  unlinkAnonVmas(mm.k, victims);
  unlinkFileVmas(victims);
  for (let a = start; a < end; a = pmdAddrEnd(a, end)) mm.pgtable.freeIfEmpty(a);
  return 0;
}

/**
 * Model of do_mprotect_pkey(): VMA by VMA from start, each through
 * mprotect_fixup() (which merges what it changes, vma_modify_flags()); a
 * hole ends it with -ENOMEM and a VMA that may not get the new access with
 * -EACCES, after the VMAs before it were changed, as in C.
 */
export function doMprotect(mm: MmStruct, start: number, len: number, prot: number): number {
  if (!isPageAligned(start)) return -EINVAL;
  if (len === 0) return 0;
  const end = start + Math.ceil(len / PAGE_SIZE) * PAGE_SIZE;
  let ret = 0;
  for (let tmp = start; tmp < end;) {
    const vma = vmaLookup(mm, tmp);
    if (vma === null) { ret = -ENOMEM; break; }
    const newFlags = (vma.vmFlags & ~(VM_READ | VM_WRITE | VM_EXEC)) | calcVmProtBits(prot);
    // Each VM_MAY* bit sits 4 above its VM_* bit: asking for an access the mapping may never have.
    if ((newFlags & ~(newFlags >> 4)) & (VM_READ | VM_WRITE | VM_EXEC)) { ret = -EACCES; break; }
    const next = Math.min(vma.vmEnd, end);
    const err = mprotectFixup(mm, tmp, next, newFlags);
    if (err) { ret = err; break; }
    tmp = next;
  }
  return ret;
}

/**
 * Model of mprotect_fixup(): unless nothing changes, [start, end) gets the
 * new flags (vma_modify_flags()) and its page tables the new protection.
 */
function mprotectFixup(mm: MmStruct, start: number, end: number, newFlags: number): number {
  const vma = vmaLookup(mm, start)!;
  if (vma.vmFlags === newFlags) return 0;
  const part = vmaModifyFlags(vma, start, end, newFlags);
  if (IS_ERR(part)) return PTR_ERR(part);
  if (part.vmFlags & VM_HUGETLB) hugetlbChangeProtection(part, start, end);
  else changeProtection(mm, part, start, end);
  return 0;
}

/**
 * Model of change_protection()/change_pte_range(): every present pte takes
 * the VMA's new protection (pte_modify(): a private mapping's ptes are
 * read-only, a shared writable one's writable (shmem needs no write
 * notification), PROT_NONE makes them protnone), and an
 * exclusive anonymous page in a writable VMA gets write back at once
 * (MM_CP_TRY_CHANGE_WRITABLE, can_change_pte_writable()); writable
 * migration, device-private and device-exclusive entries become readable. Notifiers hear
 * MMU_NOTIFY_PROTECTION_VMA once a page table is found in the range.
 */
function changeProtection(mm: MmStruct, vma: VmAreaStruct, start: number, end: number): void {
  const k = mm.k, flags = vma.vmFlags;
  const none = (flags & (VM_READ | VM_WRITE | VM_EXEC)) === 0;
  let range: MmuNotifierRange | null = null;
  for (let a = start; a < end; a = pmdAddrEnd(a, end)) {
    const t = mm.pgtable.lookup(a);
    if (t === undefined) {
      // change_pmd_range(): a huge PMD takes the protection whole (VMA splits already split straddling ones).
      const h = mm.pgtable.lookupHuge(a);
      if (h === undefined) continue;
      if (range === null) {
        range = mmuNotifierRangeInit(MMU_NOTIFY_PROTECTION_VMA, 0, mm, a, end);
        mmuNotifierInvalidateRangeStart(range);
      }
      changeHugePmd(vma, h);
      continue;
    }
    if (range === null) {
      range = mmuNotifierRangeInit(MMU_NOTIFY_PROTECTION_VMA, 0, mm, a, end);
      mmuNotifierInvalidateRangeStart(range);
    }
    const stop = pmdAddrEnd(a, end);
    for (let i = pteIndex(a), x = a; x < stop; x += PAGE_SIZE, i++) {
      const v = t.val[i];
      if (ptePresent(v)) {
        let nv = v & ~(_PAGE_RW | _PAGE_PROTNONE);
        if (none) nv |= _PAGE_PROTNONE;
        else if ((flags & (VM_WRITE | VM_SHARED)) === (VM_WRITE | VM_SHARED)) nv |= _PAGE_RW; // vm_page_prot of a shared mapping
        else if ((flags & VM_WRITE) && !pteSpecial(v) && folioTestAnon(k, t.pfn[i]) &&
          testPageFlag(k, t.pfn[i], PG_anon_exclusive)) nv |= _PAGE_RW;
        t.val[i] = nv;
      } else if (isWritableDevicePrivateEntry(v)) {
        t.val[i] = mkSwpEntry(SWP_DEVICE_READ);
      } else if (isWritableMigrationEntry(v)) {
        const anon = folioTestAnon(k, t.pfn[i]);
        t.val[i] = mkSwpEntry(anon ? SWP_MIGRATION_READ_EXCLUSIVE : SWP_MIGRATION_READ) | (v & SWP_MIG_DIRTY);
      } else if (isWritableDeviceExclusiveEntry(v)) {
        t.val[i] = mkSwpEntry(SWP_DEVICE_EXCLUSIVE_READ);
      }
    }
  }
  if (range !== null) mmuNotifierInvalidateRangeEnd(range);
}

/**
 * Model of exit_mmap(): the last user is gone. mmu_notifier_release() only
 * concerns whole-mm subscribers (none here); interval notifiers hear the
 * teardown through unmap_vmas(): one MMU_NOTIFY_UNMAP over everything.
 */
export function exitMmap(mm: MmStruct): void {
  if (mm.vmas.length === 0) return;
  const range = mmuNotifierRangeInit(MMU_NOTIFY_UNMAP, 0, mm, 0, TASK_SIZE);
  mmuNotifierInvalidateRangeStart(range);
  for (const v of mm.vmas) zapPageRange(v, v.vmStart, v.vmEnd);
  mmuNotifierInvalidateRangeEnd(range);
  for (const v of mm.vmas) if (v.vmFlags & VM_HUGETLB) hugetlbVmOpClose(v);
  unlinkAnonVmas(mm.k, mm.vmas);
  unlinkFileVmas(mm.vmas);
  mm.vmas = [];
  mm.pgtable.clear();
  mm.pgtable.huge.clear();
}
