// SPDX-License-Identifier: GPL-2.0-only
/*
 * Model of fs/proc/task_mmu.c's /proc/PID/pagemap: one 64-bit entry per
 * virtual page (pagemap_read() -> pagemap_pmd_range() -> pagemap_pte_range()
 * or pagemap_pmd_range_thp(), pagemap_pte_hole()), as a reader with
 * CAP_SYS_ADMIN sees it (pm->show_pfn). Bits as in the C: PM_PRESENT (63),
 * PM_SWAP (62), PM_FILE (61), PM_MMAP_EXCLUSIVE (56); the low 55 bits are
 * the pfn of a present page, or swap type | offset << 5 of a swap entry
 * (device-private, device-exclusive and migration entries included).
 *
 * A PMD device-private entry (huge_memory-device-private-pmd) is reported
 * as swapped for each of its pages, with the offset of that page, as
 * pagemap_pmd_range_thp() does since "fs/proc/task_mmu: do not warn on
 * seeing non-migration pmd entry" (D. Jain, 2026; before it the same values
 * came with a WARN, which the model does not reproduce). Not modelled:
 * soft-dirty, uffd-wp, PM_FILE for page-cache pages is set, hugetlb.
 */
import type { MmStruct } from './mm.js';
import { vmaLookup, vmaIsAnonymous, TASK_SIZE } from './mm.js';
import { pteIndex, ptePresent, pteNone, swpType } from './pgtable.js';
import { folioMapcount, pageMapcount } from './page_alloc.js';
import { File, type CharDev, type FileOperations } from './chrdev.js';
import { PAGE_SIZE } from './page.js';
import { copyToUser } from './memory.js';
import { EFAULT, EINVAL, ENOTTY } from './errno.js';
import { FMODE_LSEEK, FMODE_PREAD, FMODE_PWRITE } from './fcntl.js';

export const PM_PRESENT = 1n << 63n;
export const PM_SWAP = 1n << 62n;
export const PM_FILE = 1n << 61n;
export const PM_MMAP_EXCLUSIVE = 1n << 56n;
const MAX_SWAPFILES_SHIFT = 5n;

/** The pagemap entry of the page at addr (what pread(pagemap_fd, 8, (addr / PAGE_SIZE) * 8) returns). */
export function pagemapRead(mm: MmStruct, addr: number): bigint {
  const k = mm.k, vma = vmaLookup(mm, addr);
  if (vma === null) return 0n; // pagemap_pte_hole()
  const file = vmaIsAnonymous(vma) ? 0n : PM_FILE;
  const t = mm.pgtable.lookup(addr);
  let val: number, pfn: number, folioWide: boolean;
  if (t !== undefined) {
    val = t.val[pteIndex(addr)];
    pfn = t.pfn[pteIndex(addr)];
    folioWide = false;
  } else {
    const h = mm.pgtable.lookupHuge(addr);
    if (h === undefined) return 0n;
    val = h.val;
    pfn = h.pfn + pteIndex(addr);
    folioWide = true;
  }
  if (pteNone(val)) return 0n;
  if (ptePresent(val)) {
    if (pfn === k.zeroPfn || pfn === k.hugeZeroPfn + pteIndex(addr)) return PM_PRESENT | file | BigInt(pfn);
    const mapcount = folioWide ? folioMapcount(k, pfn) : pageMapcount(k, pfn);
    return PM_PRESENT | file | (mapcount === 1 ? PM_MMAP_EXCLUSIVE : 0n) | BigInt(pfn);
  }
  const mapcount = folioWide ? folioMapcount(k, pfn) : pageMapcount(k, pfn);
  return PM_SWAP | (mapcount === 1 ? PM_MMAP_EXCLUSIVE : 0n) | BigInt(swpType(val)) | (BigInt(pfn) << MAX_SWAPFILES_SHIFT);
}

/** PM_ENTRY_BYTES: a pagemap entry is one u64. */
const PM_ENTRY_BYTES = 8;

/**
 * struct file of /proc/PID/pagemap: proc_mem_open() took the opener's mm
 * (mm_access() + mmgrab()); reads walk that mm whoever reads later, as in C.
 * Opened by the regular-file path of do_dentry_open(), so pread() works.
 */
export class PagemapFile extends File {
  constructor(readonly mm: MmStruct, fMode: number) {
    super(PAGEMAP_NODE);
    this.fMode = fMode | FMODE_LSEEK | FMODE_PREAD | FMODE_PWRITE;
  }
}

/**
 * Model of pagemap_read(): position and count must be whole entries
 * (-EINVAL), each entry is pagemapRead() of its page, copied out with
 * copy_to_user() (-EFAULT if any of it faults, whatever was copied before);
 * the bytes copied.
 * Positions past the user address space read nothing.
 */
function pagemapFileRead(filp: File, reader: MmStruct, buf: number, count: number, pos: number): number {
  if (!(filp instanceof PagemapFile)) return -EINVAL;
  if (pos % PM_ENTRY_BYTES || count % PM_ENTRY_BYTES) return -EINVAL;
  const mm = filp.mm, out = new Uint8Array(PM_ENTRY_BYTES), view = new DataView(out.buffer);
  let done = 0;
  for (let addr = (pos / PM_ENTRY_BYTES) * PAGE_SIZE; done < count && addr < TASK_SIZE; addr += PAGE_SIZE) {
    view.setBigUint64(0, pagemapRead(mm, addr), true);
    // The reader's buffer is in the reader's memory (the caller's mm), not the mm the file walks.
    if (copyToUser(reader, buf + done, out)) return -EFAULT;
    done += PM_ENTRY_BYTES;
  }
  return done;
}

const pagemapOperations: FileOperations = {
  open: () => 0,
  release: () => 0,
  unlockedIoctl: () => -ENOTTY,
  read: pagemapFileRead,
};
const PAGEMAP_NODE: CharDev = { path: '/proc/self/pagemap', major: 0, minor: 0, fops: pagemapOperations, owner: pagemapOperations };
