// SPDX-License-Identifier: GPL-2.0-only
/*
 * Model of the address space: struct mm_struct and struct vm_area_struct
 * (include/linux/mm_types.h) with mmap(), munmap() and mprotect()
 * (mm/mmap.c, mm/vma.c, mm/mprotect.c).
 *
 * In Linux: VMAs in a maple tree; here a balanced tree that stands in for
 * it (maple_tree.ts): lookups, insertions, splits, merges and the search
 * for unmapped room are O(log n) in the number of VMAs. Page tables are the sparse PageTable of pgtable.ts. Syscalls
 * return an address or a negative errno, as the kernel's do; the selftest
 * port's libc layer turns that into -1/errno.
 */
import { RwSemaphore } from './locking.js';
import { MapleTree } from './maple_tree.js';
import { EACCES, EBADF, EEXIST, EINVAL, ENOMEM, ENODEV, EOPNOTSUPP, EOVERFLOW, ERR_PTR, type ErrPtr, IS_ERR, PTR_ERR } from './errno.js';
import type { Kernel } from './kernel.js';
import { PAGE_SIZE, PMD_SIZE, isPageAligned } from './page.js';
import { PageTable, pteIndex, pmdAddrEnd, ptePresent, pteSpecial, isWritableDevicePrivateEntry,
  isWritableMigrationEntry, _PAGE_RW, _PAGE_PROTNONE, mkSwpEntry, SWP_DEVICE_READ, SWP_MIGRATION_READ,
  SWP_MIGRATION_READ_EXCLUSIVE, SWP_MIG_DIRTY, isWritableDeviceExclusiveEntry, SWP_DEVICE_EXCLUSIVE_READ } from './pgtable.js';
import { testPageFlag, folioTestAnon, compoundHead } from './page_alloc.js';
import { type Page, PG_anon_exclusive, PG_swapbacked } from './page.js';
import { SINGLE_SWP_DEVICE_EXCLUSIVE } from './changes.js';
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
export const PROT_SEM = 0x8;
export const PROT_GROWSDOWN = 0x01000000;
export const PROT_GROWSUP = 0x02000000;
export const MAP_NORESERVE = 0x4000;
export const MAP_HUGETLB = 0x40000;
export const MAP_SHARED = 0x01;
export const MAP_PRIVATE = 0x02;
export const MAP_FIXED = 0x10;
export const MAP_ANONYMOUS = 0x20;
export const MAP_TYPE = 0x0f;
export const MAP_SHARED_VALIDATE = 0x03;
export const MAP_DROPPABLE = 0x08;
export const MAP_32BIT = 0x40;
export const MAP_ABOVE4G = 0x80;
export const MAP_GROWSDOWN = 0x0100;
export const MAP_DENYWRITE = 0x0800;
export const MAP_EXECUTABLE = 0x1000;
export const MAP_LOCKED = 0x2000;
export const MAP_POPULATE = 0x8000;
export const MAP_NONBLOCK = 0x10000;
export const MAP_STACK = 0x20000;
export const MAP_SYNC = 0x80000;
export const MAP_FIXED_NOREPLACE = 0x100000;
export const MAP_UNINITIALIZED = 0x4000000;
export const MAP_HUGE_SHIFT = 26;
export const MAP_HUGE_MASK = 0x3f;
export const MAP_HUGE_2MB = 21 << MAP_HUGE_SHIFT;
export const MAP_HUGE_1GB = 30 << MAP_HUGE_SHIFT;
/** LEGACY_MAP_MASK (include/linux/mman.h): the flags plain MAP_SHARED keeps and MAP_SHARED_VALIDATE accepts. */
export const LEGACY_MAP_MASK = MAP_SHARED | MAP_PRIVATE | MAP_FIXED | MAP_ANONYMOUS | MAP_DENYWRITE | MAP_EXECUTABLE |
  MAP_UNINITIALIZED | MAP_GROWSDOWN | MAP_LOCKED | MAP_NORESERVE | MAP_POPULATE | MAP_NONBLOCK | MAP_STACK | MAP_HUGETLB |
  MAP_32BIT | MAP_ABOVE4G | MAP_HUGE_2MB | MAP_HUGE_1GB;

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
  /** mm_mt: the VMAs by range, never overlapping; change it only through mm.ts (insertVma(), splitVma() ...). */
  readonly mmMt = new MapleTree<VmAreaStruct>();
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
  /** MMF_OOM_VICTIM: the OOM killer chose this mm's task; SIGKILL is pending, it dies on its way back to user mode (oom_kill.ts). */
  oomVictim = false;
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

  /** Every VMA in address order, as a new array (for_each_vma()): O(n), for whole-mm walks and tests. */
  get vmas(): VmAreaStruct[] { return this.mmMt.toArray(); }
  /** map_count: how many VMAs. */
  get mapCount(): number { return this.mmMt.size; }

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
  return mm.mmMt.find(addr);
}

/** Model of vma_next() after vma: the VMA that follows it, or null. */
export function vmaNext(vma: VmAreaStruct): VmAreaStruct | null {
  return vma.vmMm.mmMt.next(vma.vmStart);
}

/** Model of vma_prev() before vma: the VMA that precedes it, or null. */
export function vmaPrev(vma: VmAreaStruct): VmAreaStruct | null {
  return vma.vmMm.mmMt.prev(vma.vmStart);
}

/** Model of vma_lookup(): the VMA containing addr. */
export function vmaLookup(mm: MmStruct, addr: number): VmAreaStruct | null {
  const vma = findVma(mm, addr);
  return vma !== null && vma.vmStart <= addr ? vma : null;
}

/** Model of vma_link(): into the mm's tree (vma_iter_store()), its anon_vma and its file's i_mmap. */
export function insertVma(mm: MmStruct, vma: VmAreaStruct): void {
  mm.mmMt.insert(vma);
  vma.anonVma?.vmas.add(vma);
  vma.vmFile?.fMapping?.iMmap.add(vma); // vma_link_file()
}

/** The vm_ops a char-device VMA gets here: no ->fault (what the driver did not map faults SIGBUS). */
const DEV_FILE_VM_OPS: VmOperationsStruct = { name: 'device file' };

/** Model of the file half of remove_vma(): unlink_file_vma() from i_mmap and fput(vm_file). */
export function unlinkFileVmas(vmas: VmAreaStruct[]): void {
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
export function getUnmappedArea(mm: MmStruct, len: number, align = PAGE_SIZE): number {
  const a = mm.mmMt.emptyAreaRev(MMAP_MIN_ADDR, MMAP_BASE, len, align);
  return a >= 0 ? a : -ENOMEM;
}

/**
 * Model of __get_unmapped_area() for anonymous memory (6.12, THP built in):
 * a length that is a multiple of 2 MiB, without a hint, is placed on a 2 MiB
 * boundary whatever the THP mode (__thp_get_unmapped_area(): find len + 2
 * MiB, then take its top aligned part, or round up its start); other
 * lengths, or when the padded search fails, get the plain search.
 */
export function getUnmappedAreaAnon(mm: MmStruct, len: number): number {
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
  mm.mmMt.adjust(vma);
  insertVma(mm, tail);
  return 0;
}

/** Model of the merge the kernel does after mmap()/mprotect() (vma_merge_existing_range()): same flags, compatible anon_vma, contiguous pgoff. */
export function mergeAround(mm: MmStruct, start: number, end: number): void {
  // The pairs (a, b) of neighbours with a ending at or after start and b starting at or before end.
  let a = findVma(mm, start - 1);
  while (a !== null) {
    const b = vmaNext(a);
    if (b === null || b.vmStart > end) break;
    if (!vmaMergeable(a, b)) {
      a = b;
      continue;
    }
    // b's pages keep their index (pgoff is contiguous), so rmap still finds them through a.
    mm.mmMt.erase(b);
    a.vmEnd = b.vmEnd;
    mm.mmMt.adjust(a);
    if (a.anonVma === null && b.anonVma !== null) {
      a.anonVma = b.anonVma; // dup_anon_vma()
      anonVmaClone(a, b);
    }
    unlinkAnonVmas(mm.k, [b]);
    unlinkFileVmas([b]);
    // a may now merge with the VMA before it (it took b's anon_vma): look at that pair again.
    const p = vmaPrev(a);
    if (p !== null && p.vmEnd >= start) a = p;
  }
}

/** Whether b, right after a, can be folded into a: same flags, compatible anon_vma, contiguous pgoff. */
function vmaMergeable(a: VmAreaStruct, b: VmAreaStruct): boolean {
  if (a.vmEnd !== b.vmStart || a.vmFlags !== b.vmFlags || a.vmOps !== b.vmOps || a.vmFile !== b.vmFile) return false;
  if (a.vmOps === DEV_FILE_VM_OPS) return false; // a driver's VM_MIXEDMAP/VM_PFNMAP mapping is VM_SPECIAL: never merged
  if (a.anonVma !== null && b.anonVma !== null && a.anonVma !== b.anonVma) return false;
  // is_mergeable_anon_vma(): a VMA cloned from a parent by fork does not merge with one that has no anon_vma.
  if (a.anonVma !== b.anonVma && (a.anonVmaChain.length > 1 || b.anonVmaChain.length > 1)) return false;
  return linearPageIndex(a, a.vmEnd) === b.vmPgoff;
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

/* The size_t and unsigned long arithmetic of the syscalls: a negative Number stands for 2^64 + n. */
const U64 = 1n << 64n;
const u64 = (n: number): bigint => BigInt.asUintN(64, BigInt(Math.trunc(n)));
/** ALIGN(x, a) in 64 bits, wrapping to 0 as C does. */
const alignU64 = (x: bigint, a: number): bigint => BigInt.asUintN(64, (x + BigInt(a - 1)) & -BigInt(a));
/** mmap_min_addr: CONFIG_DEFAULT_MMAP_MIN_ADDR (4096), the lowest address mmap() hands out or takes. */
const MMAP_MIN_ADDR = 4096;
/** The 2 MiB hstate's MAP_HUGE_* size log; the reference QEMU CPU has no gbpages, so there is no 1 GiB hstate. */
const HUGETLB_2MB_LOG = 21;

/** Model of round_hint_to_min(): a hint below mmap_min_addr is raised to it (a hint in the first page is no hint). */
function roundHintToMin(hint: number): number {
  hint -= hint % PAGE_SIZE;
  return hint !== 0 && hint < MMAP_MIN_ADDR ? MMAP_MIN_ADDR : hint;
}

/**
 * A hint for arch_get_unmapped_area_topdown() (mmap_address_hint_valid(),
 * then find_vma()) and generic_hugetlb_get_unmapped_area() (aligned up to
 * the huge page first): the hint itself when [addr, addr + len) is free
 * and inside user space, else -1 and the caller searches.
 */
export function unmappedAreaHint(mm: MmStruct, addr: number, len: number, align: number): number {
  if (addr === 0) return -1;
  addr = Math.ceil(addr / align) * align;
  if (addr > TASK_SIZE - len || addr < MMAP_MIN_ADDR) return -1;
  const vma = findVma(mm, addr);
  return vma === null || addr + len <= vma.vmStart ? addr : -1;
}

/**
 * Model of mmap(2) through ksys_mmap_pgoff(), vm_mmap_pgoff() and
 * do_mmap() with __get_unmapped_area(), then mmap_region(): the address or
 * -errno, each argument checked where and in the order 6.12 checks it
 * (tests/kernel-model/mmap_args.test.ts names every rule). len and off are
 * the C unsigned long: a negative Number is 2^64 + n. Anonymous memory
 * (MAP_PRIVATE: vm_pgoff is the address's page number; MAP_SHARED: an
 * anonymous shmem file from offset 0, shmem_zero_setup()) and tmpfs files
 * (`file`, from byte offset `off`), MAP_SHARED or MAP_PRIVATE, and
 * character devices through their ->mmap(). A non-fixed address is a
 * hint, taken when that range is free. MAP_POPULATE is vm_mmap_pgoff()'s
 * (Task.mmap()), after this returns. Flags 6.12 accepts but the model
 * does not serve (MAP_LOCKED, MAP_GROWSDOWN, MAP_32BIT,
 * MAP_DROPPABLE, shared hugetlb) are refused with -EINVAL and a log line,
 * after every check that could fail first. prot is not checked: do_mmap()
 * ignores bits calc_vm_prot_bits() does not know.
 */
export function doMmap(mm: MmStruct, addr: number, len: number, prot: number, flags: number,
  file: File | null = null, off = 0): number {
  const offU = u64(off);
  if (offU & BigInt(PAGE_SIZE - 1)) return -EINVAL; // sys_mmap(): off & ~PAGE_MASK
  if (flags & MAP_ANONYMOUS) file = null;
  else if (file === null) return -EBADF;
  let lenU = u64(len);
  const huge = (flags & MAP_HUGETLB) !== 0;
  if (huge) {
    if (file !== null) return -EINVAL; // ksys_mmap_pgoff(): MAP_HUGETLB needs a hugetlbfs file, and tmpfs is not one
    const log = (flags >> MAP_HUGE_SHIFT) & MAP_HUGE_MASK;
    if (log !== 0 && log !== HUGETLB_2MB_LOG) return -EINVAL; // hstate_sizelog() finds no such hstate
    lenU = alignU64(lenU, HPAGE_SIZE);
  }
  // do_mmap()
  if (lenU === 0n) return -EINVAL;
  if (flags & MAP_FIXED_NOREPLACE) flags |= MAP_FIXED;
  if (!(flags & MAP_FIXED)) addr = roundHintToMin(addr);
  lenU = alignU64(lenU, PAGE_SIZE);
  if (lenU === 0n) return -ENOMEM; // PAGE_ALIGN() of a "negative" length wrapped
  const pgoffU = offU >> 12n;
  if (pgoffU + (lenU >> 12n) >= U64) return -EOVERFLOW;
  // __get_unmapped_area()
  if (lenU > BigInt(TASK_SIZE)) return -ENOMEM;
  len = Number(lenU);
  const type = flags & MAP_TYPE;
  let refuse: string | null = null;
  if (flags & MAP_FIXED) {
    if (huge && (addr % HPAGE_SIZE !== 0)) return -EINVAL; // prepare_hugepage_range()
    if (u64(addr) > BigInt(TASK_SIZE - len)) return -ENOMEM;
    if (!isPageAligned(addr)) return -EINVAL;
  } else if ((flags & MAP_32BIT) && !huge) {
    refuse = 'MAP_32BIT (an address below 2 GiB)';
  } else {
    const hint = unmappedAreaHint(mm, addr, len, huge ? HPAGE_SIZE : PAGE_SIZE);
    if (hint >= 0) addr = hint;
    else addr = huge ? getUnmappedArea(mm, len, HPAGE_SIZE) : file === null && type === MAP_PRIVATE && addr === 0
      ? getUnmappedAreaAnon(mm, len) : getUnmappedArea(mm, len);
    if (addr < 0) return addr;
  }
  if ((flags & MAP_FIXED_NOREPLACE) && findVma(mm, addr) !== null && findVma(mm, addr)!.vmStart < addr + len) return -EEXIST;
  if (flags & MAP_LOCKED) refuse ??= 'MAP_LOCKED (mlock)';
  let vmFlags = calcVmProtBits(prot) | VM_MAYREAD | VM_MAYWRITE | VM_MAYEXEC | (flags & MAP_STACK ? VM_NOHUGEPAGE : 0);
  // A tmpfs file maps its page cache; a character device's file maps through its driver's ->mmap().
  const shmemFile = file instanceof ShmemFileClass ? file : null;
  const devFile = file !== null && shmemFile === null ? file : null;
  if (file !== null) {
    // file_mmap_ok(): a regular file's offsets end at MAX_LFS_FILESIZE, a device's at ULONG_MAX.
    const maxsize = shmemFile !== null ? (1n << 63n) - 1n : U64 - 1n;
    if (pgoffU > (maxsize - lenU) >> 12n) return -EOVERFLOW;
    // The type switch of do_mmap(), whose MAP_SHARED falls through to MAP_SHARED_VALIDATE and that to MAP_PRIVATE.
    if (type !== MAP_SHARED && type !== MAP_SHARED_VALIDATE && type !== MAP_PRIVATE) return -EINVAL;
    if (type !== MAP_PRIVATE) {
      if (type === MAP_SHARED) flags &= LEGACY_MAP_MASK; // unknown flags are ignored with plain MAP_SHARED
      if (flags & ~LEGACY_MAP_MASK) return -EOPNOTSUPP; // no tmpfs or driver file here has FOP_MMAP_SYNC
      if ((prot & PROT_WRITE) && !(file.fMode & FMODE_WRITE)) return -EACCES;
      vmFlags |= VM_SHARED | VM_MAYSHARE;
      if (!(file.fMode & FMODE_WRITE)) vmFlags &= ~(VM_MAYWRITE | VM_SHARED);
    }
    if (!(file.fMode & FMODE_READ)) return -EACCES;
    if (devFile !== null && devFile.cdev.fops.mmap === undefined) return -ENODEV;
    if (flags & MAP_GROWSDOWN) return -EINVAL;
  } else {
    switch (type) {
      case MAP_SHARED:
        if (flags & MAP_GROWSDOWN) return -EINVAL;
        vmFlags |= VM_SHARED | VM_MAYSHARE;
        break;
      case MAP_DROPPABLE:
        if (flags & (MAP_LOCKED | MAP_HUGETLB | MAP_GROWSDOWN)) return -EINVAL;
        refuse ??= 'MAP_DROPPABLE';
        break;
      case MAP_PRIVATE:
        break;
      default:
        return -EINVAL; // MAP_SHARED_VALIDATE included: only files validate extension flags
    }
  }
  if (flags & MAP_GROWSDOWN) refuse ??= 'MAP_GROWSDOWN (stack growth)';
  if (huge && type !== MAP_PRIVATE) refuse ??= 'shared MAP_HUGETLB';
  if (refuse !== null) {
    mm.k.printk(`mmap: ${refuse} is not modelled (flags 0x${(flags >>> 0).toString(16)})`);
    return -EINVAL;
  }
  if (flags & MAP_FIXED) doMunmap(mm, addr, len);
  return mmapRegion(mm, addr, len, vmFlags, type, huge, (flags & MAP_NORESERVE) !== 0, shmemFile, devFile,
    file !== null ? Number(pgoffU) : type === MAP_SHARED ? 0 : addr / PAGE_SIZE);
}

/** Model of mmap_region() for an address do_mmap() chose and checked: the new VMA, merged where it can be. */
function mmapRegion(mm: MmStruct, addr: number, len: number, vmFlags: number, type: number, huge: boolean,
  noreserve: boolean, shmemFile: ShmemFileClass | null, devFile: File | null, pgoff: number): number {
  const vma = new VmAreaStruct(mm, addr, addr + len, vmFlags, pgoff);
  if (huge) {
    // hugetlbfs_file_mmap() on the anonymous hugetlbfs file: a file mapping, reserved up front.
    vma.vmFlags |= VM_HUGETLB | VM_DONTEXPAND;
    vma.vmPgoff = 0;
    const ret = hugetlbReservePages(vma, noreserve);
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
 * Model of do_vmi_munmap(): -EINVAL for an unaligned start, a range past
 * TASK_SIZE or a length of 0; 0 when nothing is mapped there. Then split at the edges, tell the notifiers
 * (MMU_NOTIFY_UNMAP), zap the ptes (freeing the pages) and drop the VMAs.
 */
export function doMunmap(mm: MmStruct, start: number, len: number): number {
  // start and len are the C unsigned long and size_t: a negative Number is 2^64 + n.
  const startU = u64(start), lenU = u64(len);
  if (!isPageAligned(start) || startU > BigInt(TASK_SIZE) || lenU > BigInt(TASK_SIZE) - startU) return -EINVAL;
  const end = start + Math.ceil(len / PAGE_SIZE) * PAGE_SIZE;
  if (end === start) return -EINVAL;
  const first = findVma(mm, start); // vma_find(vmi, end): the first VMA overlapping [start, end)
  if (first === null || first.vmStart >= end) return 0;
  let err = splitVma(mm, start);
  if (err === 0) err = splitVma(mm, end);
  if (err) return err;
  const victims: VmAreaStruct[] = [];
  for (let v = findVma(mm, start); v !== null && v.vmStart < end; v = vmaNext(v)) victims.push(v);
  const range = mmuNotifierRangeInit(MMU_NOTIFY_UNMAP, 0, mm, start, end);
  mmuNotifierInvalidateRangeStart(range);
  for (const v of victims) zapPageRange(v, v.vmStart, v.vmEnd);
  mmuNotifierInvalidateRangeEnd(range);
  for (const v of victims) if (v.vmFlags & VM_HUGETLB) hugetlbVmOpClose(v);
  for (const v of victims) mm.mmMt.erase(v);
  unlinkAnonVmas(mm.k, victims);
  unlinkFileVmas(victims);
  for (let a = start; a < end; a = pmdAddrEnd(a, end)) mm.pgtable.freeIfEmpty(a);
  return 0;
}

/**
 * Model of do_mprotect_pkey() (pkey -1, as mprotect(2) passes): -EINVAL
 * for both PROT_GROWSDOWN and PROT_GROWSUP, an unaligned start or prot
 * bits arch_validate_prot() does not know; 0 for a length of 0; -ENOMEM
 * for a range that wraps or whose start is not mapped. Then VMA by VMA from start, each through
 * mprotect_fixup() (which merges what it changes, vma_modify_flags()); a
 * hole ends it with -ENOMEM and a VMA that may not get the new access with
 * -EACCES, after the VMAs before it were changed, as in C.
 */
export function doMprotect(mm: MmStruct, start: number, len: number, prot: number): number {
  const grows = prot & (PROT_GROWSDOWN | PROT_GROWSUP);
  prot &= ~(PROT_GROWSDOWN | PROT_GROWSUP);
  if (grows === (PROT_GROWSDOWN | PROT_GROWSUP)) return -EINVAL;
  if (!isPageAligned(start)) return -EINVAL;
  if (len === 0) return 0;
  const endU = u64(start) + alignU64(u64(len), PAGE_SIZE);
  if (endU >= U64 || endU <= u64(start)) return -ENOMEM; // end <= start: the range wraps
  if (prot & ~(PROT_READ | PROT_WRITE | PROT_EXEC | PROT_SEM)) return -EINVAL; // arch_validate_prot()
  const end = Number(endU);
  const first = findVma(mm, start); // vma_find(&vmi, end)
  if (first === null || first.vmStart >= end) return -ENOMEM;
  // PROT_GROWSDOWN needs a VM_GROWSDOWN VMA, PROT_GROWSUP a VM_GROWSUP one: the model (and x86) has neither.
  if (grows & PROT_GROWSDOWN) return -EINVAL;
  if (first.vmStart > start) return -ENOMEM;
  if (grows & PROT_GROWSUP) return -EINVAL;
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
      } else if (isWritableDeviceExclusiveEntry(v) && !k.has(SINGLE_SWP_DEVICE_EXCLUSIVE)) {
        // One entry type from 6.15: the restore looks at the VMA, so there is nothing to downgrade.
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
  if (mm.mapCount === 0) return;
  const vmas = mm.vmas;
  const range = mmuNotifierRangeInit(MMU_NOTIFY_UNMAP, 0, mm, 0, TASK_SIZE);
  mmuNotifierInvalidateRangeStart(range);
  for (const v of vmas) zapPageRange(v, v.vmStart, v.vmEnd);
  mmuNotifierInvalidateRangeEnd(range);
  for (const v of vmas) if (v.vmFlags & VM_HUGETLB) hugetlbVmOpClose(v);
  unlinkAnonVmas(mm.k, vmas);
  unlinkFileVmas(vmas);
  mm.mmMt.destroy();
  mm.pgtable.clear();
  mm.pgtable.huge.clear();
}
