// SPDX-License-Identifier: GPL-2.0-only
/*
 * Model of tmpfs/shmem (mm/shmem.c): regular files whose only storage is the
 * page cache. What the selftest uses: open("/tmp", O_TMPFILE|O_EXCL|O_RDWR)
 * (an unlinked inode), ftruncate(), read()/write() at the file position,
 * mmap() of the file (shmem_mmap(), shmem_fault()), and MAP_SHARED|
 * MAP_ANONYMOUS memory, which the kernel backs by an anonymous shmem file
 * (shmem_zero_setup()).
 *
 * An open tmpfs file is a ShmemFile: a struct file (chrdev.ts) whose "cdev"
 * is the inode's node with shmem_file_operations, so close(), exit and
 * fput() release it like any file. Each open file and each VMA mapping the
 * file holds a reference to its struct file; the last one releases the
 * inode (iput()), and an unlinked inode's pages are freed then
 * (shmem_evict_inode()). No swap, no huge pages, no fallocate, no seals, no
 * quota (shmem_acct_*), no fault-around (a fault maps one page).
 */
import { EBADF, EFAULT, EFBIG, EINVAL, EISDIR, ENOMEM, ENOTTY } from './errno.js';
import type { Kernel } from './kernel.js';
import { type Page, PAGE_SIZE, PG_dirty, PG_swapbacked, PG_uptodate } from './page.js';
import { File, type CharDev, type FileOperations } from './chrdev.js';
import { type AddressSpaceOperations, AddressSpace, filemapAddFolio, filemapGetEntry, filemapRemoveFolio,
  filemapForEach, filemapShrink, genericPerformWrite, unmapMappingPages, unmapMappingFolio } from './filemap.js';
import { getPage, lockPage, unlockPage, putPage, setPageFlag, testPageFlag, pageMapcount } from './page_alloc.js';
import { pageBytesRead, pageBytesWrite } from './highmem.js';
import { copyToUser, type VmFault } from './memory.js';
import { VM_FAULT_LOCKED, VM_FAULT_OOM, VM_FAULT_SIGBUS } from './memremap.js';
import type { MmStruct, VmAreaStruct, VmOperationsStruct } from './mm.js';
import { FMODE_LSEEK, FMODE_PREAD, FMODE_PWRITE, FMODE_READ, FMODE_WRITE, O_ACCMODE, O_APPEND, O_RDONLY, O_TMPFILE, SEEK_CUR, SEEK_END, SEEK_SET,
  openFmode } from './fcntl.js';

/** enum sgp_type: what shmem_get_folio() may do about a hole. */
const SGP_READ = 0;
const SGP_CACHE = 2;
const SGP_WRITE = 3;

/** The tmpfs mounts the model has (the selftest creates its file in /tmp). */
export const TMPFS_DIRS: readonly string[] = ['/tmp', '/dev/shm'];

/** struct inode + struct shmem_inode_info of a regular tmpfs file. */
export class ShmemInode {
  readonly ino: number;
  /** i_size in bytes. */
  iSize = 0;
  /** i_nlink: 0 for an O_TMPFILE or anonymous shmem inode, which dies with its last reference. */
  nlink = 0;
  /** i_count: the open struct files that point at this inode. */
  iCount = 0;
  readonly mapping: AddressSpace;
  /** The struct file_operations this inode's files get, behind the File's "cdev". */
  readonly node: CharDev;
  constructor(readonly k: Kernel, readonly name: string) {
    this.ino = -k.kptr(this);
    this.mapping = new AddressSpace(k, shmemAops, this);
    this.node = { path: name, major: 0, minor: 0, fops: shmemFileOperations, owner: this };
  }
}

/**
 * struct file of a tmpfs file. Both ways one is opened (do_dentry_open() for
 * O_TMPFILE, file_init_path() for the kernel's own) give it FMODE_LSEEK, as
 * shmem_file_operations has ->llseek.
 */
export class ShmemFile extends File {
  constructor(readonly inode: ShmemInode, fMode: number, readonly fFlags: number) {
    super(inode.node);
    this.fMode = fMode | FMODE_LSEEK | FMODE_PREAD | FMODE_PWRITE;
    inode.iCount++;
  }
  /** f_mapping. */
  override get fMapping(): AddressSpace { return this.inode.mapping; }
  override get iSize(): number { return this.inode.iSize; }
}


/**
 * Model of shmem_get_folio_gfp(): the page at index, locked and with a
 * reference for the caller. A hole gives a new zeroed page (SGP_CACHE,
 * SGP_WRITE) or 0 (SGP_READ); an index at or past EOF is -EINVAL except for
 * SGP_WRITE (the writer extends the file). Returns a page, 0, or -errno.
 */
function shmemGetFolio(inode: ShmemInode, index: number, sgp: number): number {
  const k = inode.k, mapping = inode.mapping;
  if (sgp <= SGP_CACHE && index * PAGE_SIZE >= inode.iSize) return -EINVAL;
  let page = filemapGetEntry(mapping, index);
  if (page !== 0) {
    lockPage(k, page);
    getPage(k, page); // filemap_get_entry()'s reference
    if (!testPageFlag(k, page, PG_uptodate) && sgp === SGP_READ) {
      unlockPage(k, page);
      putPage(k, page);
      return 0;
    }
    if (!testPageFlag(k, page, PG_uptodate) && sgp !== SGP_WRITE) setPageFlag(k, page, PG_uptodate);
    return page;
  }
  if (sgp === SGP_READ) return 0;
  // shmem_alloc_and_add_folio(): a new page reads as zeroes (the model's clear_highpage()).
  page = k.pageAlloc.allocPage();
  if (page === 0) return -ENOMEM;
  lockPage(k, page);
  setPageFlag(k, page, PG_swapbacked);
  filemapAddFolio(k, mapping, page, index);
  if (sgp !== SGP_WRITE) setPageFlag(k, page, PG_uptodate);
  return page;
}

/**
 * Model of shmem_fault(): vmf.page is the cache page at vmf.pgoff, locked,
 * with a reference, created if the file has a hole there; past EOF the
 * access gets SIGBUS.
 */
function shmemFault(vmf: VmFault): number {
  const inode = (vmf.vma.vmFile as ShmemFile).inode; // shmem_vm_ops is only on tmpfs VMAs
  const r = shmemGetFolio(inode, vmf.pgoff!, SGP_CACHE);
  if (r < 0) return r === -ENOMEM ? VM_FAULT_OOM : VM_FAULT_SIGBUS; // vmf_error()
  vmf.page = r;
  return VM_FAULT_LOCKED;
}

/** shmem_vm_ops and shmem_anon_vm_ops (no page_mkwrite: a shared write fault just dirties the page). */
const shmemVmOps: VmOperationsStruct = { name: 'shmem', fault: shmemFault };
export const shmemAnonVmOps: VmOperationsStruct = { name: 'shmem_anon', fault: shmemFault };

/** Model of shmem_write_begin(): the page to write at index, locked, with a reference; 0 for -ENOMEM. */
function shmemWriteBegin(mapping: AddressSpace, index: number): Page {
  const r = shmemGetFolio(inodeOfMapping(mapping), index, SGP_WRITE);
  return r > 0 ? r : 0;
}

/** Model of shmem_write_end(): grow i_size, mark the page uptodate and dirty, unlock and release it. */
function shmemWriteEnd(mapping: AddressSpace, pos: number, copied: number, page: Page): number {
  const k = mapping.k, inode = inodeOfMapping(mapping);
  if (pos + copied > inode.iSize) inode.iSize = pos + copied;
  setPageFlag(k, page, PG_uptodate | PG_dirty);
  unlockPage(k, page);
  putPage(k, page);
  return copied;
}

/** shmem_aops. */
const shmemAops: AddressSpaceOperations = { writeBegin: shmemWriteBegin, writeEnd: shmemWriteEnd };

/** mapping->host. */
const inodeOfMapping = (mapping: AddressSpace): ShmemInode => mapping.host as ShmemInode;

/** Model of shmem_get_inode() + d_tmpfile(): a new, unlinked regular file of size 0. */
function shmemGetInode(k: Kernel, name: string): ShmemInode {
  return new ShmemInode(k, name);
}

/**
 * Model of shmem_tmpfile() behind open(dir, O_TMPFILE|...): an unlinked
 * inode in a tmpfs directory, open with the access the flags ask for.
 * Returns the file or -errno (O_TMPFILE needs write access: -EINVAL; the
 * directory without O_TMPFILE: -EISDIR).
 */
export function shmemTmpfile(k: Kernel, dir: string, flags: number): ShmemFile | number {
  if ((flags & O_TMPFILE) !== O_TMPFILE) return -EISDIR; // opening the directory itself for writing
  if ((flags & O_ACCMODE) === O_RDONLY) return -EINVAL;
  const inode = shmemGetInode(k, `${dir}/#tmpfile (deleted)`);
  return new ShmemFile(inode, openFmode(flags), flags);
}

/**
 * Model of shmem_kernel_file_setup()/shmem_file_setup(): an unlinked
 * kernel-internal shmem file of the given size, open read-write.
 */
function shmemFileSetup(k: Kernel, name: string, size: number): ShmemFile {
  const inode = shmemGetInode(k, name);
  inode.iSize = size;
  return new ShmemFile(inode, FMODE_READ | FMODE_WRITE, 0);
}

/** Model of shmem_mmap(): the VMA faults through shmem_fault(). */
export function shmemMmap(_file: ShmemFile, vma: VmAreaStruct): number {
  vma.vmOps = shmemVmOps;
  return 0;
}

/**
 * Model of shmem_zero_setup(): MAP_SHARED|MAP_ANONYMOUS memory is an
 * anonymous shmem file "dev/zero" of the VMA's size, mapped from offset 0.
 * The VMA holds the only reference to it.
 */
export function shmemZeroSetup(vma: VmAreaStruct): number {
  const file = shmemFileSetup(vma.vmMm.k, 'dev/zero (deleted)', vma.vmEnd - vma.vmStart);
  vma.vmFile = file;
  vma.vmOps = shmemAnonVmOps;
  return 0;
}

/**
 * Model of shmem_file_read_iter(): up to count bytes from pos, stopping at
 * EOF, copied to user memory at buf; a hole reads as zeroes (ZERO_PAGE).
 * Returns the bytes read, or -EFAULT when none could be copied.
 */
function shmemFileReadIter(mm: MmStruct, file: ShmemFile, pos: number, buf: number, count: number): number {
  const inode = file.inode, k = inode.k;
  let done = 0;
  let zeroes: Uint8Array | null = null;
  while (done < count && pos < inode.iSize) {
    const index = Math.floor(pos / PAGE_SIZE), offset = pos % PAGE_SIZE;
    const nr = Math.min(PAGE_SIZE - offset, count - done, inode.iSize - pos);
    const page = shmemGetFolio(inode, index, SGP_READ);
    let src: Uint8Array | null = null;
    if (page > 0) {
      unlockPage(k, page);
      src = pageBytesRead(k, page, 'copy_folio_to_iter');
    }
    if (src === null) src = zeroes ??= new Uint8Array(PAGE_SIZE);
    const missed = copyToUser(mm, buf + done, src.subarray(offset, offset + nr));
    if (page > 0) putPage(k, page);
    done += nr - missed;
    pos += nr - missed;
    if (missed) break;
  }
  return done === 0 && count > 0 && pos < inode.iSize ? -EFAULT : done;
}

/** Model of shmem_file_write_iter(): generic_write_checks() (O_APPEND), then generic_perform_write(). */
function shmemFileWriteIter(mm: MmStruct, file: ShmemFile, pos: number, buf: number, count: number): { ret: number; pos: number } {
  if (file.fFlags & O_APPEND) pos = file.inode.iSize;
  if (count === 0) return { ret: 0, pos };
  // generic_write_check_limits(): nothing is written at or past s_maxbytes, and not beyond it.
  if (pos >= MAX_LFS_FILESIZE) return { ret: -EFBIG, pos };
  count = Math.min(count, MAX_LFS_FILESIZE - pos);
  const ret = genericPerformWrite(mm, file.fMapping, pos, buf, count);
  return { ret, pos: ret > 0 ? pos + ret : pos };
}

/**
 * Model of shmem_undo_range(inode, lstart, -1, false) as
 * shmem_truncate_range() uses it: the page that straddles lstart keeps its
 * head and loses its tail (zeroed), every page from the next boundary on
 * leaves the cache and is freed once nobody else holds it. A page still
 * mapped is unmapped first (truncate_cleanup_folio()).
 */
function shmemTruncateRange(inode: ShmemInode, lstart: number): void {
  const k = inode.k, mapping = inode.mapping;
  const partial = lstart % PAGE_SIZE;
  const first = Math.ceil(lstart / PAGE_SIZE);
  if (partial !== 0) {
    const page = filemapGetEntry(mapping, Math.floor(lstart / PAGE_SIZE));
    if (page !== 0 && pageBytesRead(k, page, 'truncate_inode_partial_folio') !== null) {
      pageBytesWrite(k, page, 'truncate_inode_partial_folio').fill(0, partial);
    }
  }
  filemapForEach(mapping, first, Infinity, (_index, page) => {
    lockPage(k, page);
    if (pageMapcount(k, page) > 0) unmapMappingFolio(k, page);
    unlockPage(k, page);
    filemapRemoveFolio(k, mapping, page);
  });
  filemapShrink(mapping);
}

/**
 * Model of shmem_setattr() for ATTR_SIZE (ftruncate()): set i_size; when
 * shrinking, unmap everything past the new end from every mapping, COWed
 * private pages too (unmap_mapping_range(..., even_cows=1)), drop those
 * pages from the cache, and unmap again as the C does.
 */
function shmemSetattrSize(inode: ShmemInode, newsize: number): number {
  const oldsize = inode.iSize;
  inode.iSize = newsize;
  if (newsize <= oldsize) {
    const holebegin = Math.ceil(newsize / PAGE_SIZE) * PAGE_SIZE;
    if (oldsize > holebegin) unmapMappingPages(inode.mapping, holebegin / PAGE_SIZE, Infinity, true);
    shmemTruncateRange(inode, newsize);
    if (oldsize > holebegin) unmapMappingPages(inode.mapping, holebegin / PAGE_SIZE, Infinity, true);
  }
  return 0;
}

/** Model of iput() -> shmem_evict_inode(): the last reference to an unlinked inode frees its pages. */
function iput(inode: ShmemInode): void {
  if (--inode.iCount > 0 || inode.nlink > 0) return;
  inode.iSize = 0;
  shmemTruncateRange(inode, 0);
  inode.k.kfree(inode.mapping);
  inode.k.kfree(inode);
}

/**
 * Model of shmem_file_llseek() for SEEK_SET/CUR/END: generic_file_llseek_size()
 * with i_size as the end; a negative position is -EINVAL. SEEK_DATA and
 * SEEK_HOLE (mapping_seek_hole_data()) are not modelled: -EINVAL.
 */
function shmemFileLlseek(file: File, offset: number, whence: number): number {
  const base = whence === SEEK_SET ? 0 : whence === SEEK_CUR ? file.fPos : whence === SEEK_END ? file.iSize : NaN;
  if (Number.isNaN(base) || base + offset < 0) return -EINVAL;
  file.fPos = base + offset;
  return file.fPos;
}

/** shmem_file_operations, as the File's fops: no ioctls; release drops the inode. */
const shmemFileOperations: FileOperations = {
  open: () => 0,
  release: (_cdev, filp) => { iput((filp as ShmemFile).inode); return 0; },
  unlockedIoctl: () => -ENOTTY,
  llseek: shmemFileLlseek,
};

/** Model of do_sys_ftruncate() -> do_ftruncate(): a length >= 0, a regular file open for writing. */
export function doSysFtruncate(file: File, length: number): number {
  if (length < 0) return -EINVAL;
  // do_ftruncate(): a regular file open for writing (O_LARGEFILE is forced on 64-bit: no MAX_NON_LFS limit).
  if (!(file instanceof ShmemFile)) return -EINVAL;
  if (!(file.fMode & FMODE_WRITE)) return -EINVAL;
  if (length > MAX_LFS_FILESIZE) return -EFBIG; // inode_newsize_ok(): past s_maxbytes
  return shmemSetattrSize(file.inode, length);
}

/** MAX_LFS_FILESIZE: tmpfs's s_maxbytes on 64-bit (LLONG_MAX). */
export const MAX_LFS_FILESIZE = 2 ** 63 - 1;
/** MAX_RW_COUNT (include/linux/fs.h): INT_MAX & PAGE_MASK, the most one read() or write() moves. */
export const MAX_RW_COUNT = 0x7ffff000;
/** USER_PTR_MAX: TASK_SIZE_MAX on x86_64 without LAM. */
const USER_PTR_MAX = 0x7ffffffff000;

/** Model of x86 __access_ok() for a size not known at compile time: [buf, buf + count) ends inside user space. */
export function accessOk(buf: number, count: number): boolean {
  const ptr = BigInt.asUintN(64, BigInt(buf)), sum = BigInt.asUintN(64, ptr + BigInt.asUintN(64, BigInt(count)));
  return sum <= BigInt(USER_PTR_MAX) && sum >= ptr;
}

/**
 * Model of rw_verify_area() for files without FMODE_UNSIGNED_OFFSET:
 * -EINVAL for a count that is negative as ssize_t, a negative position, or
 * one that count carries past LLONG_MAX.
 */
export function rwVerifyArea(pos: number, count: number): number {
  const c = BigInt.asIntN(64, BigInt(count));
  if (c < 0n) return -EINVAL;
  if (pos < 0) return -EINVAL;
  if (BigInt(pos) + c > (1n << 63n) - 1n) return -EINVAL;
  return 0;
}

/**
 * Model of vfs_read(): -EBADF without FMODE_READ, -EINVAL for a file with
 * no ->read/->read_iter (no FMODE_CAN_READ: test_hmm's and gup_test's
 * devices), -EFAULT when access_ok() refuses the buffer, then
 * rw_verify_area(); at most MAX_RW_COUNT bytes. Tmpfs files read through
 * shmem_file_read_iter().
 */
export function vfsRead(mm: MmStruct, file: File, buf: number, count: number, pos: number): number {
  if (!(file.fMode & FMODE_READ)) return -EBADF;
  // tmpfs reads through its read_iter; other files (procfs) through ->read, and without one: -EINVAL.
  const read = file instanceof ShmemFile ? null : file.cdev.fops.read;
  if (read === undefined) return -EINVAL;
  if (!accessOk(buf, count)) return -EFAULT;
  const ret = rwVerifyArea(pos, count);
  if (ret) return ret;
  if (read !== null) return read(file, mm, buf, Math.min(count, MAX_RW_COUNT), pos);
  return shmemFileReadIter(mm, file as ShmemFile, pos, buf, Math.min(count, MAX_RW_COUNT));
}

/** Model of vfs_write(): the checks of vfs_read() with FMODE_WRITE. Returns the result and the new position. */
export function vfsWrite(mm: MmStruct, file: File, buf: number, count: number, pos: number): { ret: number; pos: number } {
  if (!(file.fMode & FMODE_WRITE)) return { ret: -EBADF, pos };
  if (!(file instanceof ShmemFile)) return { ret: -EINVAL, pos };
  if (!accessOk(buf, count)) return { ret: -EFAULT, pos };
  const ret = rwVerifyArea(pos, count);
  if (ret) return { ret, pos };
  return shmemFileWriteIter(mm, file, pos, buf, Math.min(count, MAX_RW_COUNT));
}
