// SPDX-License-Identifier: GPL-2.0-only
/*
 * Port of lib/test_hmm.c of Linux 6.12, with the seed's DEVICE_GENERIC
 * memory (v5 series "Support DEVICE_GENERIC memory in migrate_vma_*",
 * patches 09-11) kept as a third device type: the module, its devices and
 * device memory, open/close and the ioctl switch. The mirror side (READ,
 * WRITE, SNAPSHOT over hmm_range_fault()) is in mirror.ts, the migration
 * side (MIGRATE_TO_DEV/SYS, the seed's MIGRATE, EXCLUSIVE, the CPU fault on
 * device memory) in migrate.ts.
 *
 * Which devices exist (hmm_dmirror_init()):
 *  - no spm_addr_dev parameters: devices 0 and 1, PRIVATE (both versions);
 *  - both, with spm_type=coherent: 0 and 1 PRIVATE, 2 and 3 COHERENT on
 *    256 MiB at the two addresses (6.12);
 *  - both, with spm_type=generic (the default, as the seed): 0 and 1
 *    GENERIC, each on the whole SPM resource at the address (v5);
 *  - both, with spm_type=public: as coherent, but 2 and 3 are seed 004's
 *    MEMORY_DEVICE_PUBLIC (2017), on the 6.12 driver.
 * spm_type is the simulation's own parameter: the two kernels the seeds
 * describe give the same two addresses different meanings.
 *
 * Where this port and the C differ on purpose, a comment says so:
 *  - dmirror_devmem_fault() sets migrate_vma.fault_page (6.12 does; the seed
 *    predates it), which the model's do_swap_page() reference rules need;
 *  - module unload checks what the C takes on trust: every device page back
 *    on the free list before the chunks are evicted and unmapped.
 */
import { Mutex } from '../kernel-model/locking.js';
import { KernelBug } from '../kernel-model/bug.js';
import { syscallFrames } from '../kernel-model/hung_task.js';
import { EINVAL, ENOMEM, IS_ERR, PTR_ERR, errname } from '../kernel-model/errno.js';
import type { Kernel } from '../kernel-model/kernel.js';
import { MEMBLOCK_PAGES, Memmap, type Page, PAGE_SIZE, physToPfn, HPAGE_PMD_NR, HPAGE_PMD_ORDER, PTRS_PER_PTE, PG_compound,
  PG_ORDER_SHIFT } from '../kernel-model/page.js';
import { type DevPagemap, type DevPagemapOps, MEMORY_DEVICE_COHERENT, MEMORY_DEVICE_GENERIC, MEMORY_DEVICE_PRIVATE, memremapPages,
  memunmapPages, rangeLen, zoneDevicePageInit, zoneDeviceFolioInit, pagePgmap, isDevicePrivatePage, isDeviceCoherentPage,
  isDeviceGenericPage, MEMORY_DEVICE_PUBLIC, isDevicePublicPage } from '../kernel-model/memremap.js';
import { type CharDev, type File, type FileOperations, defaultLlseek } from '../kernel-model/chrdev.js';
import type { Task } from '../kernel-model/task.js';
import { MmuIntervalNotifier, mmuIntervalNotifierInsert, mmuIntervalNotifierRemove } from '../kernel-model/mmu_notifier.js';
import { putPage, lockPage, folioOrder, compoundHead, setPageCount } from '../kernel-model/page_alloc.js';
import { copyHighpage } from '../kernel-model/highmem.js';
import type { MmStruct, VmAreaStruct } from '../kernel-model/mm.js';
import { vmInsertPage } from '../kernel-model/memory.js';
import { MigrateVma, migrateDeviceRange, migrateDevicePages, migrateDeviceFinalize, migratePfn, migratePfnToPage,
  MIGRATE_PFN_MIGRATE, MIGRATE_PFN_WRITE, MIGRATE_PFN_COMPOUND } from '../kernel-model/migrate_device.js';
import { DevicePageTable } from './xarray.js';
import { TEST_HMM_EVICT_ON_CLOSE, TEST_HMM_REDUCE_STACK, DMIRROR_CHUNK_FORCE_PRIVATE, TEST_HMM_THP, TEST_HMM_FAIL_ALLOC,
  ZONE_DEVICE_LARGE_FOLIOS } from '../kernel-model/changes.js';
import { type HmmDmirrorCmd, HMM_DMIRROR_READ, HMM_DMIRROR_WRITE, HMM_DMIRROR_MIGRATE_TO_DEV,
  HMM_DMIRROR_MIGRATE_TO_SYS, HMM_DMIRROR_SNAPSHOT, HMM_DMIRROR_EXCLUSIVE, HMM_DMIRROR_CHECK_EXCLUSIVE,
  HMM_DMIRROR_RELEASE, HMM_DMIRROR_FLAGS, HMM_DMIRROR_V5_READ, HMM_DMIRROR_V5_WRITE, HMM_DMIRROR_V5_MIGRATE, HMM_DMIRROR_V5_SNAPSHOT,
  HMM_DMIRROR_V5_GET_MEM_DEV_TYPE, HMM_DMIRROR_MEMORY_DEVICE_PRIVATE, HMM_DMIRROR_MEMORY_DEVICE_COHERENT,
  HMM_DMIRROR_MEMORY_DEVICE_GENERIC, HMM_DMIRROR_V5_MEMORY_DEVICE_GENERIC, HMM_DMIRROR_V5_MEMORY_DEVICE_COHERENT,
  HMM_DMIRROR_MEMORY_DEVICE_PUBLIC } from './test_hmm_uapi.js';
import { dmirrorRead, dmirrorWrite, dmirrorSnapshot, dmirrorMinOps } from './mirror.js';
import { dmirrorMigrate, dmirrorMigrateToDevice, dmirrorMigrateToSystem, dmirrorExclusive, dmirrorCheckAtomic,
  dmirrorDevmemFault } from './migrate.js';

export const DEVMEM_CHUNK_SIZE = 256 * 1024 * 1024;
/** The character device major test_hmm gets (alloc_chrdev_region(); 254 in the reference run). */
const HMM_DMIRROR_MAJOR = 254;

/** What the SPM addresses become: the seed's GENERIC devices 0 and 1, 6.12's COHERENT devices 2 and 3, or seed 004's PUBLIC ones. */
export type SpmType = 'generic' | 'coherent' | 'public';
export const SPM_TYPES: readonly SpmType[] = ['generic', 'coherent', 'public'];

/** Module parameters (module_param(spm_addr_dev0/1, long, 0644), and the simulation's spm_type). 0 means unset. */
export interface TestHmmParams {
  spm_addr_dev0: number;
  spm_addr_dev1: number;
  /** Default 'generic' (the seed's meaning of the two addresses). */
  spm_type?: SpmType;
}

/** The memory mode a parameter set selects, as the CLI and reports name it. */
export function memoryMode(params: TestHmmParams): 'private' | SpmType {
  if (!params.spm_addr_dev0 || !params.spm_addr_dev1) return 'private';
  return params.spm_type ?? 'generic';
}

/** struct dmirror: one open file, mirroring the opener's address space. */
export class Dmirror {
  readonly pt = new DevicePageTable();
  /** dmirror->mutex: guards pt against the invalidate callback (taken in mirror.ts as the C takes it). */
  readonly mutex = new Mutex('dmirror->mutex');
  readonly notifier = new MmuIntervalNotifier();
  /** dmirror->flags (TEST_HMM_FAIL_ALLOC): HMM_DMIRROR_FLAGS sets it; HMM_DMIRROR_FLAG_FAIL_ALLOC clears itself when used. */
  flags = 0;
  constructor(readonly mdevice: DmirrorDevice) {}
}

/** struct dmirror_chunk. */
export class DmirrorChunk {
  /** Set by dmirror_device_remove_chunks(): freed pages no longer go back on the free list. */
  remove = false;
  constructor(readonly pagemap: DevPagemap, readonly mdevice: DmirrorDevice) {}
}

/** struct dmirror_device. */
export class DmirrorDevice {
  zone_device_type = 0;
  /** devmem_chunks[0 .. devmem_count): a JS array, so no devmem_capacity or krealloc(). */
  readonly devmemChunks: DmirrorChunk[] = [];
  /** Pages handed out / given back, as the C counters. */
  calloc = 0;
  cfree = 0;
  /** Head of the free list, linked through zone_device_data. */
  freePages: Page = 0;
  /** mdevice->free_folios (TEST_HMM_THP): free PMD-order folios (their head pages), linked the same way. */
  freeFolios: Page = 0;
  /**
   * The part of the free list dmirror_allocate_chunk() pushed and nobody has
   * popped yet, not written out (see FreeRun): the C writes 65,536 links per
   * chunk at once, most of which a case never reads. null when empty.
   */
  freeRun: FreeRun | null = null;
  cdevice!: CharDev;
  constructor(readonly mod: TestHmm, readonly id: number) {}
  get k(): Kernel { return this.mod.k; }
}

/**
 * Pages [first, next) of one chunk, on the free list in descending pfn
 * order as dmirror_allocate_chunk()'s loop leaves them: page p links to
 * p - 1, and `first` to `tail` (the list as it was before the chunk). Their
 * zone_device_data words are not written; dmirrorFreeNext() answers for
 * them what the C's would hold. Pops take `next - 1` off the top (the only
 * way into the run from the list head); anything else that would write a
 * link inside the run writes the run out first (freeRunWriteOut()).
 */
export interface FreeRun { first: Page; next: Page; tail: Page }

/** The zone_device_data link of a page on the device's free list. */
export function dmirrorFreeNext(mdevice: DmirrorDevice, page: Page): Page {
  return zoneDeviceData(mdevice.k, page);
}

/** Set the link of a free-list page (the walk that unlinks a chunk's pages). */
function setFreeNext(mdevice: DmirrorDevice, page: Page, next: Page): void {
  setZoneDeviceData(mdevice.k, page, next);
}

/** The device's run, if the page is one of this driver's and lies in it. */
function runOf(b: { pgmap: DevPagemap | null }, page: Page): DmirrorDevice | null {
  const owner = b.pgmap?.owner;
  const run = owner instanceof DmirrorDevice ? owner.freeRun : null;
  return run !== null && page >= run.first && page < run.next ? owner as DmirrorDevice : null;
}

/** Write the run's links into zone_device_data, as the C's loop would have. */
function freeRunWriteOut(mdevice: DmirrorDevice): void {
  const run = mdevice.freeRun, k = mdevice.k;
  if (run === null) return;
  mdevice.freeRun = null;
  for (let pfn = run.first; pfn < run.next;) {
    const zdd = k.memmap.block(pfn).zdd;
    for (let i = Memmap.slot(pfn); i < MEMBLOCK_PAGES && pfn < run.next; i++, pfn++) zdd[i] = pfn === run.first ? run.tail : pfn - 1;
  }
}

/** Take the head off the device's free list (the list is not empty). */
function freeListPop(mdevice: DmirrorDevice): Page {
  const page = mdevice.freePages, run = mdevice.freeRun;
  const next = dmirrorFreeNext(mdevice, page);
  if (run !== null && page === run.next - 1) {
    if (--run.next === run.first) mdevice.freeRun = null;
    // The C's popped page still holds its link until the caller overwrites it.
    setZoneDeviceData(mdevice.k, page, next);
  }
  mdevice.freePages = next;
  return page;
}

/** The loaded module: what are static globals in the C file. */
export class TestHmm {
  readonly devices: DmirrorDevice[] = [];
  readonly chunkOf = new WeakMap<DevPagemap, DmirrorChunk>();
  readonly devmemOps: DevPagemapOps;
  readonly fops: FileOperations;
  /** dmirror_devmem_fault()'s migrate_vma and its one-page pfn arrays (on the C stack). */
  readonly faultArgs = new MigrateVma();
  constructor(readonly k: Kernel, readonly params: TestHmmParams) {
    // dmirror_devmem_fault() kcalloc()s one folio's worth of pfns (TEST_HMM_THP); 6.12 one page's.
    const faultPfns = k.has(TEST_HMM_THP) ? HPAGE_PMD_NR : 1;
    this.faultArgs.src = new Float64Array(faultPfns);
    this.faultArgs.dst = new Float64Array(faultPfns);
    // ZONE_DEVICE_LARGE_FOLIOS renamed page_free to folio_free; TEST_HMM_THP adds folio_split.
    this.devmemOps = k.has(ZONE_DEVICE_LARGE_FOLIOS) ? {
      folioFree: (folio: Page) => dmirrorDevmemFree(this, folio),
      migrateToRam: (vmf) => dmirrorDevmemFault(this, vmf),
      ...(k.has(TEST_HMM_THP) ? { folioSplit: (head: Page, tail: Page) => dmirrorDevmemFolioSplit(this, head, tail) } : {}),
    } : {
      pageFree: (page: Page) => dmirrorDevmemFree(this, page),
      migrateToRam: (vmf) => dmirrorDevmemFault(this, vmf),
    };
    this.fops = {
      open: (cdev, filp, current) => dmirrorFopsOpen(cdev, filp, current),
      release: (_cdev, filp) => dmirrorFopsRelease(filp),
      unlockedIoctl: (filp, cmd, arg, current) => dmirrorFopsUnlockedIoctl(filp, cmd, arg as HmmDmirrorCmd, current),
      mmap: (_filp, vma) => dmirrorFopsMmap(this.k, vma),
      llseek: defaultLlseek, // dmirror_fops.llseek = default_llseek
    };
  }
}

/** dmirror_is_private_zone(). */
export function dmirrorIsPrivateZone(mdevice: DmirrorDevice): boolean {
  return mdevice.zone_device_type === HMM_DMIRROR_MEMORY_DEVICE_PRIVATE;
}

/** dmirror_page_to_chunk(): container_of(page->pgmap, struct dmirror_chunk, pagemap). */
export function dmirrorPageToChunk(mod: TestHmm, page: Page): DmirrorChunk {
  return mod.chunkOf.get(pagePgmap(mod.k, page)!)!;
}
export function dmirrorPageToDevice(mod: TestHmm, page: Page): DmirrorDevice {
  return dmirrorPageToChunk(mod, page).mdevice;
}

/**
 * page->zone_device_data, which this driver uses three ways: a free device
 * page's link in the free list, a PRIVATE page's backing page (rpage), and
 * a backing page's mirror (a KPtr, for dmirror_devmem_fault()).
 */
export function zoneDeviceData(k: Kernel, page: Page): number {
  const b = k.memmap.block(page);
  // A page of a free run not written out: the link the C's loop wrote (FreeRun), whoever reads it.
  const owner = runOf(b, page);
  if (owner !== null) return page === owner.freeRun!.first ? owner.freeRun!.tail : page - 1;
  return b.zdd[Memmap.slot(page)];
}
export function setZoneDeviceData(k: Kernel, page: Page, v: number): void {
  const b = k.memmap.block(page), owner = runOf(b, page);
  if (owner !== null) {
    if (page === owner.freeRun!.first) {
      owner.freeRun!.tail = v;
      return;
    }
    freeRunWriteOut(owner);
  }
  b.zdd[Memmap.slot(page)] = v;
}

/** BACKING_PAGE(): the system page that holds a PRIVATE page's data; a CPU-addressable device page holds its own. */
export function dmirrorBackingPage(k: Kernel, dpage: Page): Page {
  return isDevicePrivatePage(k, dpage) ? zoneDeviceData(k, dpage) : dpage;
}

/** Model of dmirror_fops_open(): a mirror of current->mm with a notifier over the whole address space. */
function dmirrorFopsOpen(cdev: CharDev, filp: File, current: Task): number {
  const dmirror = new Dmirror(cdev.owner as DmirrorDevice);
  const ret = mmuIntervalNotifierInsert(dmirror.notifier, current.mm, 0, 0x7ffffffff000, dmirrorMinOps(dmirror));
  if (ret) return ret;
  filp.privateData = dmirror;
  return 0;
}

/**
 * Model of dmirror_device_evict_chunk(): migrate every page of the chunk
 * still in use back to system memory (migrate_device_range()), whoever maps
 * it.
 */
function dmirrorDeviceEvictChunk(chunk: DmirrorChunk): void {
  const k = chunk.mdevice.k;
  const startPfn = physToPfn(chunk.pagemap.range.start);
  const npages = physToPfn(rangeLen(chunk.pagemap.range));
  // No page of the chunk in use: migrate_device_range() would collect nothing and every later step
  // would do nothing; the model skips the walks over the chunk's pfns (a shortcut, not a difference).
  if (!k.memmap.devRangeInUse(startPfn, npages)) return;
  const src = new Float64Array(npages), dst = new Float64Array(npages);
  migrateDeviceRange(k, src, startPfn, npages);
  for (let i = 0; i < npages; i++) {
    let spage = migratePfnToPage(src[i]);
    if (spage === 0 || !(src[i] & MIGRATE_PFN_MIGRATE)) continue;
    if (k.warn(!isDevicePrivatePage(k, spage) && !isDeviceCoherentPage(k, spage) && !isDeviceGenericPage(k, spage) &&
      !isDevicePublicPage(k, spage),
      'dmirror_device_evict_chunk', `pfn 0x${spage.toString(16)} is not device memory`)) continue;
    // TEST_HMM_THP: a compound entry gets a folio of its order (folio_alloc(), no __GFP_NOFAIL: the C does not check it).
    const order = src[i] & MIGRATE_PFN_COMPOUND ? folioOrder(k, spage) : 0;
    spage = dmirrorBackingPage(k, spage);
    const dpage = order ? k.pageAlloc.allocFolio(order) : k.pageAlloc.allocPage(); // __GFP_NOFAIL for a page
    if (dpage === 0) throw new KernelBug('BUG', 'dmirror_device_evict_chunk', `out of memory in an order-${order} allocation`);
    lockPage(k, dpage);
    for (let j = 0; j < 1 << order; j++) copyHighpage(k, dpage + j, spage + j); // folio_copy()
    dst[i] = migratePfn(dpage) + (src[i] & MIGRATE_PFN_WRITE ? MIGRATE_PFN_WRITE : 0) + (order ? MIGRATE_PFN_COMPOUND : 0);
  }
  migrateDevicePages(k, src, dst, npages);
  migrateDeviceFinalize(k, src, dst, npages);
}

/**
 * Model of dmirror_fops_release() (6.12.117): drop the notifier, then evict
 * every chunk of the device (TEST_HMM_EVICT_ON_CLOSE; without it a device
 * page outlives the mirror its backing page points to).
 */
function dmirrorFopsRelease(filp: File): number {
  const dmirror = filp.privateData as Dmirror;
  const mdevice = dmirror.mdevice;
  mmuIntervalNotifierRemove(dmirror.notifier);
  if (mdevice.mod.k.has(TEST_HMM_EVICT_ON_CLOSE)) for (const devmem of mdevice.devmemChunks) dmirrorDeviceEvictChunk(devmem);
  dmirror.pt.destroy();
  mdevice.mod.k.kfree(dmirror);
  return 0;
}

/**
 * ARRAY_SIZE() of the on-stack pfn arrays of dmirror_fault(),
 * dmirror_snapshot() and the MIGRATE_TO_DEV/SYS handlers: the pages each
 * hmm_range_fault() or migrate_vma_setup() window covers. 64 in 6.12, 32
 * with TEST_HMM_REDUCE_STACK.
 */
export function dmirrorPfnsArraySize(k: Kernel): number {
  return k.has(TEST_HMM_REDUCE_STACK) ? 32 : 64;
}

/**
 * The pages of one MIGRATE_TO_DEV/SYS window: PTRS_PER_PTE with TEST_HMM_THP
 * (kvcalloc(PTRS_PER_PTE) src and dst arrays, so a PMD fits), else the
 * on-stack arrays' size.
 */
export function dmirrorMigrateWindow(k: Kernel): number {
  return k.has(TEST_HMM_THP) ? PTRS_PER_PTE : dmirrorPfnsArraySize(k);
}

/** The mm a mirror follows (dmirror->notifier.mm). */
export function dmirrorMm(dmirror: Dmirror): MmStruct {
  return dmirror.notifier.mm!;
}

/**
 * Model of dmirror_allocate_chunk(). PRIVATE memory is a free region of
 * iomem, 256 MiB at a time. COHERENT (6.12) is 256 MiB at a module
 * parameter's address, device 2 taking spm_addr_dev1 and device 3
 * spm_addr_dev0 (`(MINOR(dev) - 2) ? spm_addr_dev0 : spm_addr_dev1`).
 * GENERIC (seed patches 10-11) is the whole SPM resource lookup_resource()
 * finds at the address, device 0 taking spm_addr_dev1 (`MINOR(dev) ? ...`);
 * a NULL resource is not caught by IS_ERR() but dereferenced: an oops.
 */
export function dmirrorAllocateChunk(mdevice: DmirrorDevice, ppage: { page: Page } | null, isLarge = false): number {
  const mod = mdevice.mod, k = mod.k, { spm_addr_dev0, spm_addr_dev1 } = mod.params;
  let range: { start: number; end: number };
  let type: typeof MEMORY_DEVICE_PRIVATE | typeof MEMORY_DEVICE_GENERIC | typeof MEMORY_DEVICE_COHERENT | typeof MEMORY_DEVICE_PUBLIC;
  let requested = false;
  switch (mdevice.zone_device_type) {
    case HMM_DMIRROR_MEMORY_DEVICE_PRIVATE: {
      const res = k.iomem.requestFreeMemRegion(DEVMEM_CHUNK_SIZE, 'hmm_dmirror', 128 * 1024 * 1024);
      if (IS_ERR(res)) return -ENOMEM;
      range = { start: res.start, end: res.end };
      type = MEMORY_DEVICE_PRIVATE;
      requested = true;
      break;
    }
    case HMM_DMIRROR_MEMORY_DEVICE_COHERENT:
    case HMM_DMIRROR_MEMORY_DEVICE_PUBLIC: {
      // PUBLIC takes COHERENT's addresses: the same CPU-coherent memory under the 2017 type.
      const start = mdevice.id - 2 ? spm_addr_dev0 : spm_addr_dev1;
      range = { start, end: start + DEVMEM_CHUNK_SIZE - 1 };
      type = mdevice.zone_device_type === HMM_DMIRROR_MEMORY_DEVICE_PUBLIC ? MEMORY_DEVICE_PUBLIC : MEMORY_DEVICE_COHERENT;
      break;
    }
    case HMM_DMIRROR_MEMORY_DEVICE_GENERIC: {
      const addr = mdevice.id ? spm_addr_dev0 : spm_addr_dev1;
      const res = k.iomem.lookupResource(addr);
      if (res === null) {
        throw new KernelBug('Oops', 'dmirror_allocate_chunk',
          `NULL pointer dereference: lookup_resource() found no resource starting at 0x${addr.toString(16)}, and res->start is read`,
          { task: k.currentTask(), fault: { address: 0n, write: false } });
      }
      range = { start: res.start, end: res.end };
      type = MEMORY_DEVICE_GENERIC;
      break;
    }
    default:
      return -EINVAL;
  }
  // Seed 000 v4 set the type once more after the switch, whatever the device's memory.
  if (k.has(DMIRROR_CHUNK_FORCE_PRIVATE)) type = MEMORY_DEVICE_PRIVATE;
  const pagemap: DevPagemap = { type, range, ops: mod.devmemOps, owner: mdevice };
  const devmem = new DmirrorChunk(pagemap, mdevice);
  const ptr = memremapPages(k, pagemap);
  if (IS_ERR(ptr)) {
    if (requested) k.iomem.releaseMemRegion(range.start, rangeLen(range));
    return PTR_ERR(ptr);
  }
  mod.chunkOf.set(pagemap, devmem);
  const pfnFirst = physToPfn(range.start);
  const pfnLast = pfnFirst + physToPfn(rangeLen(range));
  mdevice.devmemChunks.push(devmem);
  const mb = DEVMEM_CHUNK_SIZE / (1024 * 1024);
  k.printk(`added new ${mb} MB chunk (total ${mdevice.devmemChunks.length} chunks, ${mdevice.devmemChunks.length * mb} MB) PFNs [0x${pfnFirst.toString(16)} 0x${pfnLast.toString(16)})`);
  // Every page goes onto the free list through zone_device_data, in pfn order: the last pfn ends up at the head.
  // A chunk made for a large allocation (TEST_HMM_THP) is carved into PMD-aligned folios instead.
  if (isLarge) return dmirrorAllocateChunkLarge(mdevice, ppage, pfnFirst, pfnLast);
  // The links are kept as a run and written only where read (FreeRun); one run at a time.
  freeRunWriteOut(mdevice);
  if (pfnLast > pfnFirst) {
    mdevice.freeRun = { first: pfnFirst, next: pfnLast, tail: mdevice.freePages };
    mdevice.freePages = pfnLast - 1;
  }
  if (ppage !== null) {
    ppage.page = freeListPop(mdevice);
    mdevice.calloc++;
  }
  return 0;
}

/** The is_large end of dmirror_allocate_chunk(): PMD-aligned folios onto free_folios (the rest, if any, onto free_pages). */
function dmirrorAllocateChunkLarge(mdevice: DmirrorDevice, ppage: { page: Page } | null, pfnFirst: number, pfnLast: number): number {
  const k = mdevice.k;
  for (let pfn = pfnFirst; pfn < pfnLast;) {
    if (pfn % HPAGE_PMD_NR === 0 && pfn + HPAGE_PMD_NR <= pfnLast) {
      setZoneDeviceData(k, pfn, mdevice.freeFolios);
      mdevice.freeFolios = pfn;
      pfn += HPAGE_PMD_NR;
      continue;
    }
    setZoneDeviceData(k, pfn, mdevice.freePages);
    mdevice.freePages = pfn++;
  }
  if (ppage !== null) {
    if (mdevice.freeFolios === 0) return -ENOMEM;
    ppage.page = mdevice.freeFolios;
    mdevice.freeFolios = zoneDeviceData(k, ppage.page);
    mdevice.calloc += HPAGE_PMD_NR;
  }
  return 0;
}

/**
 * Model of dmirror_devmem_alloc_page(is_large) with TEST_HMM_THP: a
 * PMD-order device folio off free_folios (or a new chunk carved into
 * them), its data in a PMD-order system folio for PRIVATE memory; small
 * ones as 6.12. zone_device_folio_init() hands it out locked, refcount 1.
 */
export function dmirrorDevmemAllocFolio(mdevice: DmirrorDevice, isLarge: boolean): Page {
  const k = mdevice.k, order = isLarge ? HPAGE_PMD_ORDER : 0;
  let rpage = 0;
  if (dmirrorIsPrivateZone(mdevice)) {
    rpage = order ? k.pageAlloc.allocFolio(order) : k.pageAlloc.allocPage(); // folio_alloc(GFP_HIGHUSER, order)
    if (rpage === 0) return 0;
  }
  let dpage: Page;
  if (isLarge && mdevice.freeFolios !== 0) {
    dpage = mdevice.freeFolios;
    mdevice.freeFolios = zoneDeviceData(k, dpage);
    mdevice.calloc += 1 << order;
  } else if (!isLarge && mdevice.freePages !== 0) {
    dpage = mdevice.freePages;
    mdevice.freePages = zoneDeviceData(k, dpage);
    mdevice.calloc++;
  } else {
    const pp = { page: 0 };
    if (dmirrorAllocateChunk(mdevice, pp, isLarge)) {
      if (rpage) putPage(k, rpage); // __free_pages(rpage, order)
      return 0;
    }
    dpage = pp.page;
  }
  zoneDeviceFolioInit(k, dpage, pagePgmap(k, dpage)!, order);
  setZoneDeviceData(k, dpage, rpage);
  return dpage;
}

/**
 * Model of dmirror_devmem_folio_split() (dev_pagemap_ops.folio_split,
 * TEST_HMM_THP): the device folio at head was split; tail's backing page
 * becomes a folio of its own, remembering the mirror, and tail takes the
 * head's mapping. tail 0 (NULL): the backing folio itself becomes order 0.
 */
function dmirrorDevmemFolioSplit(mod: TestHmm, head: Page, tail: Page): void {
  const k = mod.k, rpage = dmirrorBackingPage(k, head);
  if (rpage === 0) {
    if (tail !== 0) setZoneDeviceData(k, tail, 0);
    return;
  }
  const rfolio = compoundHead(k, rpage);
  if (tail === 0) {
    k.pageAlloc.folioResetOrder(rfolio); // folio_reset_order(); rfolio->mapping = NULL; folio_init_count()
    k.memmap.block(rfolio).mapping[Memmap.slot(rfolio)] = 0;
    setPageCount(k, rfolio, 1);
    return;
  }
  const rpageTail = rfolio + (tail - head);
  setZoneDeviceData(k, tail, rpageTail);
  setZoneDeviceData(k, rpageTail, zoneDeviceData(k, rpage));
  const rb = k.memmap.block(rpageTail), rs = Memmap.slot(rpageTail);
  rb.flags[rs] &= ~(PG_compound | (0x1f << PG_ORDER_SHIFT)); // clear_compound_head(), and its order bits
  rb.mapping[rs] = 0;
  const tb = k.memmap.block(tail), hb = k.memmap.block(head);
  tb.mapping[Memmap.slot(tail)] = hb.mapping[Memmap.slot(head)];
  setPageCount(k, rpageTail, 1); // folio_init_count(page_folio(rpage_tail))
}

/**
 * Model of dmirror_devmem_alloc_page(): a device page off the free list or a
 * new chunk, handed out with refcount 1. A PRIVATE page's data lives in a
 * system page (rpage) that this fake device allocates for it; COHERENT and
 * GENERIC pages hold their own data.
 */
export function dmirrorDevmemAllocPage(mdevice: DmirrorDevice): Page {
  const k = mdevice.k;
  if (k.has(TEST_HMM_THP)) return dmirrorDevmemAllocFolio(mdevice, false);
  let rpage = 0;
  if (dmirrorIsPrivateZone(mdevice)) {
    rpage = k.pageAlloc.allocPage();
    if (rpage === 0) return 0;
  }
  let dpage: Page;
  if (mdevice.freePages !== 0) {
    dpage = freeListPop(mdevice);
    mdevice.calloc++;
  } else {
    const pp = { page: 0 };
    if (dmirrorAllocateChunk(mdevice, pp)) {
      if (rpage) putPage(k, rpage);
      return 0;
    }
    dpage = pp.page;
  }
  zoneDevicePageInit(k, dpage);
  setZoneDeviceData(k, dpage, rpage);
  return dpage;
}

/**
 * Model of dmirror_fops_mmap(): every page of the VMA gets a zeroed kernel
 * page, mapped with vm_insert_page() (which makes the VMA VM_MIXEDMAP); the
 * mapping keeps the only reference.
 */
function dmirrorFopsMmap(k: Kernel, vma: VmAreaStruct): number {
  for (let addr = vma.vmStart; addr < vma.vmEnd; addr += PAGE_SIZE) {
    const page = k.pageAlloc.allocPage(); // GFP_KERNEL | __GFP_ZERO
    if (page === 0) return -ENOMEM;
    const ret = vmInsertPage(vma, addr, page);
    if (ret) {
      putPage(k, page);
      return ret;
    }
    putPage(k, page);
  }
  return 0;
}

/** Model of dmirror_devmem_free(): the pgmap's page_free, at refcount 0. */
function dmirrorDevmemFree(mod: TestHmm, page: Page): void {
  const k = mod.k;
  const rpage = dmirrorBackingPage(k, page);
  // folio_order(page_folio(rpage)) (TEST_HMM_THP; a COHERENT page is its own rpage): read before rpage is freed.
  const order = k.has(TEST_HMM_THP) && rpage > 0 ? folioOrder(k, rpage) : 0;
  if (rpage !== page && rpage > 0) putPage(k, rpage); // __free_pages(rpage, order)
  const devmem = dmirrorPageToChunk(mod, page), mdevice = devmem.mdevice;
  // Return the page (folio) to the device's allocator unless its chunk is being removed.
  if (!devmem.remove) {
    mdevice.cfree += 1 << order;
    if (order) {
      setZoneDeviceData(k, page, mdevice.freeFolios);
      mdevice.freeFolios = page;
    } else {
      // A page freed twice can be inside the run: its link is overwritten in the C, so the run is written out first.
      setFreeNext(mdevice, page, mdevice.freePages);
      mdevice.freePages = page;
    }
  } else {
    setZoneDeviceData(k, page, 0);
  }
}

/** Model of dmirror_get_device_type() (seed 000 patch 09), answering in v5's numbering. */
function dmirrorGetDeviceType(dmirror: Dmirror, cmd: HmmDmirrorCmd): number {
  switch (dmirror.mdevice.zone_device_type) {
    case HMM_DMIRROR_MEMORY_DEVICE_GENERIC: cmd.zone_device_type = HMM_DMIRROR_V5_MEMORY_DEVICE_GENERIC; break;
    case HMM_DMIRROR_MEMORY_DEVICE_COHERENT: cmd.zone_device_type = HMM_DMIRROR_V5_MEMORY_DEVICE_COHERENT; break;
    default: cmd.zone_device_type = dmirror.mdevice.zone_device_type;
  }
  return 0;
}

/**
 * dmirror_remove_free_pages(): take the chunk's pages off the free list so
 * they cannot be handed out again. The C only moves the list head past the
 * last matching page; this unlinks each one. The caller empties the list
 * right after either way (dmirror_device_remove_chunks()), so nothing differs.
 * Returns how many of the chunk's pages were on the list, for the model's
 * unload check (dmirror_device_remove()); a list longer than the device's
 * pages loops, where the C would hang: a kernel bug.
 */
function dmirrorRemoveFreePages(devmem: DmirrorChunk): number {
  const mdevice = devmem.mdevice, k = mdevice.k;
  // dmirror_page_to_chunk(page) == devmem: the page lies in the chunk's range.
  const first = physToPfn(devmem.pagemap.range.start), last = first + physToPfn(rangeLen(devmem.pagemap.range));
  let prev = 0, found = 0, steps = 0;
  const limit = dmirrorDevicePages(mdevice);
  // free_folios first, as the C (TEST_HMM_THP): each folio holds HPAGE_PMD_NR of the chunk's pages.
  for (let folio = mdevice.freeFolios; folio !== 0;) {
    if (++steps > limit) throw new KernelBug('BUG', 'dmirror_remove_free_pages', `hmm_dmirror${mdevice.id}: the free folio list loops`);
    const next = zoneDeviceData(k, folio);
    if (folio >= first && folio < last) {
      found += HPAGE_PMD_NR;
      if (prev === 0) mdevice.freeFolios = next;
      else setZoneDeviceData(k, prev, next);
    } else {
      prev = folio;
    }
    folio = next;
  }
  prev = 0;
  for (let page = mdevice.freePages; page !== 0;) {
    const run = mdevice.freeRun;
    if (run !== null && page === run.next - 1) {
      // The run not yet written out is one chunk's pages, in order: stepped over whole.
      const n = run.next - run.first, mine = run.first >= first && run.first < last;
      if ((steps += n) > limit) throw new KernelBug('BUG', 'dmirror_remove_free_pages', `hmm_dmirror${mdevice.id}: the free list has more entries than the device has pages (it loops)`);
      const next = run.tail;
      if (mine) {
        found += n;
        mdevice.freeRun = null;
        if (prev === 0) mdevice.freePages = next;
        else setFreeNext(mdevice, prev, next);
      } else {
        prev = run.first;
      }
      page = next;
      continue;
    }
    if (++steps > limit) throw new KernelBug('BUG', 'dmirror_remove_free_pages', `hmm_dmirror${mdevice.id}: the free list has more entries than the device has pages (it loops)`);
    const next = dmirrorFreeNext(mdevice, page);
    if (page >= first && page < last) {
      found++;
      if (prev === 0) mdevice.freePages = next;
      else setFreeNext(mdevice, prev, next);
    } else {
      prev = page;
    }
    page = next;
  }
  return found;
}

/** The device pages of every chunk of the device. */
function dmirrorDevicePages(mdevice: DmirrorDevice): number {
  let total = 0;
  for (const c of mdevice.devmemChunks) total += physToPfn(rangeLen(c.pagemap.range));
  return total;
}

/**
 * Model of dmirror_device_remove_chunks() (the RELEASE command, and module
 * unload): evict every chunk, unmap it and give PRIVATE regions back. The
 * next allocation makes a new chunk.
 */
function dmirrorDeviceRemoveChunks(mdevice: DmirrorDevice, callers: readonly string[], onFreeList?: { pages: number }): void {
  const k = mdevice.k;
  for (const devmem of mdevice.devmemChunks) {
    devmem.remove = true;
    const found = dmirrorRemoveFreePages(devmem);
    if (onFreeList) onFreeList.pages += found;
    dmirrorDeviceEvictChunk(devmem);
    // Waits for every page of the chunk to be freed: a page something still holds hangs the caller here.
    memunmapPages(k, devmem.pagemap, ['dmirror_device_remove_chunks', ...callers]);
    if (devmem.pagemap.type === MEMORY_DEVICE_PRIVATE) {
      k.iomem.releaseMemRegion(devmem.pagemap.range.start, rangeLen(devmem.pagemap.range));
    }
  }
  mdevice.devmemChunks.length = 0;
  mdevice.freePages = 0;
  mdevice.freeFolios = 0;
  mdevice.freeRun = null;
}

/**
 * Model of dmirror_fops_unlocked_ioctl(): the command is worked on in a
 * kernel copy and copied back only on success, as copy_to_user() at the end
 * of the C function does. Both UAPI versions are decoded (test_hmm_uapi.ts).
 */
function dmirrorFopsUnlockedIoctl(filp: File, command: number, arg: HmmDmirrorCmd, current: Task): number {
  const dmirror = filp.privateData as Dmirror | null;
  if (dmirror === null) return -EINVAL;
  const cmd: HmmDmirrorCmd = { ...arg };
  if (cmd.addr % PAGE_SIZE !== 0) return -EINVAL;
  if (cmd.addr >= cmd.addr + cmd.npages * PAGE_SIZE) return -EINVAL;
  cmd.cpages = 0;
  cmd.faults = 0;
  let ret: number;
  switch (command) {
    case HMM_DMIRROR_READ: case HMM_DMIRROR_V5_READ: ret = dmirrorRead(dmirror, cmd, current); break;
    case HMM_DMIRROR_WRITE: case HMM_DMIRROR_V5_WRITE: ret = dmirrorWrite(dmirror, cmd, current); break;
    case HMM_DMIRROR_MIGRATE_TO_DEV: ret = dmirrorMigrateToDevice(dmirror, cmd, current); break;
    case HMM_DMIRROR_MIGRATE_TO_SYS: ret = dmirrorMigrateToSystem(dmirror, cmd); break;
    case HMM_DMIRROR_V5_MIGRATE: ret = dmirrorMigrate(dmirror, cmd, current); break;
    case HMM_DMIRROR_EXCLUSIVE: ret = dmirrorExclusive(dmirror, cmd, current); break;
    case HMM_DMIRROR_CHECK_EXCLUSIVE: ret = dmirrorCheckAtomic(dmirror, cmd.addr, cmd.addr + cmd.npages * PAGE_SIZE); break;
    case HMM_DMIRROR_SNAPSHOT: case HMM_DMIRROR_V5_SNAPSHOT: ret = dmirrorSnapshot(dmirror, cmd, current); break;
    case HMM_DMIRROR_RELEASE:
      dmirrorDeviceRemoveChunks(dmirror.mdevice, ['dmirror_fops_unlocked_ioctl']);
      ret = 0;
      break;
    case HMM_DMIRROR_V5_GET_MEM_DEV_TYPE: ret = dmirrorGetDeviceType(dmirror, cmd); break;
    case HMM_DMIRROR_FLAGS:
      // TEST_HMM_FAIL_ALLOC: the flags travel in npages. Before it, an unknown command.
      if (!dmirror.mdevice.k.has(TEST_HMM_FAIL_ALLOC)) return -EINVAL;
      dmirror.flags = cmd.npages;
      ret = 0;
      break;
    default: return -EINVAL;
  }
  if (ret) return ret;
  Object.assign(arg, cmd);
  return 0;
}

/** Model of dmirror_device_init(): the /dev node, then the first chunk of device memory. */
function dmirrorDeviceInit(mdevice: DmirrorDevice, id: number): number {
  const mod = mdevice.mod;
  mdevice.cdevice = { path: `/dev/hmm_dmirror${id}`, major: HMM_DMIRROR_MAJOR, minor: id, fops: mod.fops, owner: mdevice };
  mod.k.chrdevs.set(mdevice.cdevice.path, mdevice.cdevice);
  return dmirrorAllocateChunk(mdevice, null);
}

/**
 * Model of dmirror_device_remove(). As the chunks go, the model checks
 * what the C code takes on trust (memunmap_pages() would wait forever
 * otherwise): with the process gone, every device page must be back on the
 * free list (counted by the walk that takes each chunk off it, before the
 * chunk is evicted). Returns the problems found, one line each.
 */
function dmirrorDeviceRemove(mdevice: DmirrorDevice): string[] {
  const k = mdevice.k, problems: string[] = [];
  const total = dmirrorDevicePages(mdevice), free = { pages: 0 };
  // dmirror_remove_free_pages() walks the free list before each chunk is evicted: it counts what it finds.
  dmirrorDeviceRemoveChunks(mdevice, ['dmirror_device_remove', 'hmm_dmirror_exit'], free);
  if (free.pages !== total) {
    const line = `hmm_dmirror${mdevice.id}: ${total - free.pages} of ${total} device pages not back on the free list at unload (allocated ${mdevice.calloc}, freed ${mdevice.cfree})`;
    k.warn(true, 'dmirror_device_remove', line);
    problems.push(line);
  }
  k.chrdevs.delete(mdevice.cdevice.path);
  return problems;
}

/**
 * Model of hmm_dmirror_init() (module_init): the devices the parameters ask
 * for (see the file comment). Returns 0 or a negative errno (the module
 * fails to load); a seed oops on bad parameters throws a KernelBug.
 */
export function hmmDmirrorInit(k: Kernel, params: TestHmmParams): { ret: number; mod: TestHmm | null } {
  const mod = new TestHmm(k, params);
  const types: number[] = [];
  const mode = memoryMode(params);
  if (mode === 'generic') {
    types.push(HMM_DMIRROR_MEMORY_DEVICE_GENERIC, HMM_DMIRROR_MEMORY_DEVICE_GENERIC);
  } else {
    types.push(HMM_DMIRROR_MEMORY_DEVICE_PRIVATE, HMM_DMIRROR_MEMORY_DEVICE_PRIVATE);
    if (mode === 'coherent') types.push(HMM_DMIRROR_MEMORY_DEVICE_COHERENT, HMM_DMIRROR_MEMORY_DEVICE_COHERENT);
    if (mode === 'public') types.push(HMM_DMIRROR_MEMORY_DEVICE_PUBLIC, HMM_DMIRROR_MEMORY_DEVICE_PUBLIC);
  }
  if (!!params.spm_addr_dev0 !== !!params.spm_addr_dev1 && (params.spm_type ?? 'generic') === 'generic') {
    // The seed's dmirror_allocate_chunk() with one parameter: res stays NULL and is dereferenced.
    k.printk('Both spm_addr_dev parameters should be set');
    throw new KernelBug('Oops', 'dmirror_allocate_chunk',
      'NULL pointer dereference: res is NULL after "Both spm_addr_dev parameters should be set", and res->start is read',
      { task: k.currentTask(), fault: { address: 0n, write: false } });
  }
  for (let id = 0; id < types.length; id++) {
    const mdevice = new DmirrorDevice(mod, id);
    mdevice.zone_device_type = types[id];
    mod.devices.push(mdevice);
    const ret = dmirrorDeviceInit(mdevice, id);
    if (ret) {
      k.printk(`test_hmm: probe of hmm_dmirror${id} failed with error ${errname(ret)}`);
      for (const d of mod.devices) dmirrorDeviceRemove(d);
      return { ret, mod: null };
    }
  }
  k.printk('HMM test module loaded. This is only for testing HMM.');
  return { ret: 0, mod };
}

/** Model of hmm_dmirror_exit() (module_exit). Returns the leaks found (empty when all pages came back). */
export function hmmDmirrorExit(mod: TestHmm): string[] {
  const k = mod.k, problems: string[] = [];
  // module_exit runs in the task that called delete_module(2); the model has no such process and names one.
  const saved = k.entry;
  k.entry ??= { task: { comm: 'rmmod', pid: k.lastPid + 1, ppid: 1 }, frames: syscallFrames('delete_module') };
  try {
    for (const d of mod.devices) problems.push(...dmirrorDeviceRemove(d));
  } finally {
    k.entry = saved;
  }
  return problems;
}

