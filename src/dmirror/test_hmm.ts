// SPDX-License-Identifier: GPL-2.0-only
/*
 * Port of lib/test_hmm.c as the seed leaves it (v5 series "Support
 * DEVICE_GENERIC memory in migrate_vma_*", patches 09-11 on 5.14): the
 * module, its devices and device memory, open/close and the ioctl switch.
 * The mirror side (READ, WRITE, SNAPSHOT over hmm_range_fault()) is in
 * mirror.ts, the migration side (MIGRATE, the CPU fault on device memory)
 * in migrate.ts.
 *
 * Where the seed's C and this port differ on purpose, a comment says so:
 *  - dmirror_devmem_alloc_page() tests dmirror_allocate_chunk()'s result
 *    the way upstream fixed it (the seed changes the function to return 0 on
 *    success in patch 11 but leaves the caller testing `!ret`, which would
 *    fail every allocation that needs a new chunk);
 *  - dmirror_devmem_fault() sets migrate_vma.fault_page, which the 6.12
 *    migrate_vma_setup()/do_swap_page() reference rules of the model need.
 */
import { KernelBug } from '../kernel-model/bug.js';
import { EINVAL, ENOMEM, IS_ERR, PTR_ERR, errname } from '../kernel-model/errno.js';
import type { Kernel } from '../kernel-model/kernel.js';
import { Memmap, type Page, PAGE_SIZE, physToPfn } from '../kernel-model/page.js';
import { type DevPagemap, MEMORY_DEVICE_GENERIC, MEMORY_DEVICE_PRIVATE, memremapPages, memunmapPages, rangeLen,
  zoneDevicePageInit, isDevicePrivatePage } from '../kernel-model/memremap.js';
import { type CharDev, type File, type FileOperations } from '../kernel-model/chrdev.js';
import type { Task } from '../kernel-model/task.js';
import { MmuIntervalNotifier, mmuIntervalNotifierInsert, mmuIntervalNotifierRemove } from '../kernel-model/mmu_notifier.js';
import { putPage } from '../kernel-model/page_alloc.js';
import type { MmStruct } from '../kernel-model/mm.js';
import { DevicePageTable } from './xarray.js';
import { type HmmDmirrorCmd, HMM_DMIRROR_READ, HMM_DMIRROR_WRITE, HMM_DMIRROR_MIGRATE, HMM_DMIRROR_SNAPSHOT,
  HMM_DMIRROR_GET_MEM_DEV_TYPE, HMM_DMIRROR_MEMORY_DEVICE_PRIVATE, HMM_DMIRROR_MEMORY_DEVICE_GENERIC } from './test_hmm_uapi.js';
import { dmirrorRead, dmirrorWrite, dmirrorSnapshot, dmirrorMinOps } from './mirror.js';
import { dmirrorMigrate, dmirrorDevmemFault } from './migrate.js';

export const DMIRROR_NDEVICES = 2;
export const DEVMEM_CHUNK_SIZE = 256 * 1024 * 1024;
const DEVMEM_CHUNKS_RESERVE = 16;
/** The character device major test_hmm gets (alloc_chrdev_region(); 254 in the reference run). */
const HMM_DMIRROR_MAJOR = 254;

/** Module parameters (module_param(spm_addr_dev0/1, long, 0644)). 0 means unset. */
export interface TestHmmParams {
  spm_addr_dev0: number;
  spm_addr_dev1: number;
}

/** struct dmirror: one open file, mirroring the opener's address space. */
export class Dmirror {
  readonly pt = new DevicePageTable();
  readonly notifier = new MmuIntervalNotifier();
  constructor(readonly mdevice: DmirrorDevice) {}
}

/** struct dmirror_chunk. */
export class DmirrorChunk {
  constructor(readonly pagemap: DevPagemap, readonly mdevice: DmirrorDevice) {}
}

/** struct dmirror_device. */
export class DmirrorDevice {
  zone_device_type = 0;
  readonly devmemChunks: DmirrorChunk[] = [];
  devmemCapacity = 0;
  /** Pages handed out / given back, as the C counters. */
  calloc = 0;
  cfree = 0;
  /** Head of the free list, linked through zone_device_data. */
  freePages: Page = 0;
  cdevice!: CharDev;
  constructor(readonly mod: TestHmm, readonly id: number) {}
  get k(): Kernel { return this.mod.k; }
}

/** The loaded module: what are static globals in the C file. */
export class TestHmm {
  readonly devices: DmirrorDevice[] = [];
  readonly chunkOf = new WeakMap<DevPagemap, DmirrorChunk>();
  readonly devmemOps;
  readonly fops: FileOperations;
  constructor(readonly k: Kernel, readonly params: TestHmmParams) {
    this.devmemOps = {
      pageFree: (page: Page) => dmirrorDevmemFree(this, page),
      migrateToRam: (vmf: import('../kernel-model/memory.js').VmFault) => dmirrorDevmemFault(this, vmf),
    };
    this.fops = {
      open: (cdev, filp, current) => dmirrorFopsOpen(cdev, filp, current),
      release: (_cdev, filp) => dmirrorFopsRelease(filp),
      unlockedIoctl: (filp, cmd, arg, current) => dmirrorFopsUnlockedIoctl(filp, cmd, arg as HmmDmirrorCmd, current),
    };
  }
}

/** dmirror_page_to_chunk(): container_of(page->pgmap, struct dmirror_chunk, pagemap). */
export function dmirrorPageToChunk(mod: TestHmm, page: Page): DmirrorChunk {
  return mod.chunkOf.get(mod.k.memmap.block(page).pgmap!)!;
}
export function dmirrorPageToDevice(mod: TestHmm, page: Page): DmirrorDevice {
  return dmirrorPageToChunk(mod, page).mdevice;
}

/** Model of dmirror_fops_open(): a mirror of current->mm with a notifier over the whole address space. */
function dmirrorFopsOpen(cdev: CharDev, filp: File, current: Task): number {
  const dmirror = new Dmirror(cdev.owner as DmirrorDevice);
  const ret = mmuIntervalNotifierInsert(dmirror.notifier, current.mm, 0, 0x7ffffffff000, dmirrorMinOps(dmirror));
  if (ret) return ret;
  filp.privateData = dmirror;
  return 0;
}

/** Model of dmirror_fops_release() (5.14/seed: no eviction of device pages on close). */
function dmirrorFopsRelease(filp: File): number {
  const dmirror = filp.privateData as Dmirror;
  mmuIntervalNotifierRemove(dmirror.notifier);
  dmirror.pt.destroy();
  return 0;
}

/** The mm a mirror follows (dmirror->notifier.mm). */
export function dmirrorMm(dmirror: Dmirror): MmStruct {
  return dmirror.notifier.mm!;
}

/**
 * Model of dmirror_allocate_chunk() (seed 000 patches 10 and 11): PRIVATE
 * memory is a free region of iomem, 256 MiB; GENERIC memory is the SPM
 * resource lookup_resource() finds at the module parameter's address, whole.
 * As in the seed, device N uses the *other* parameter (MINOR(dev) ?
 * spm_addr_dev0 : spm_addr_dev1), and a NULL resource is not caught by
 * IS_ERR() but dereferenced: an oops.
 */
export function dmirrorAllocateChunk(mdevice: DmirrorDevice, ppage: { page: Page } | null): number {
  const mod = mdevice.mod, k = mod.k, { spm_addr_dev0, spm_addr_dev1 } = mod.params;
  let range: { start: number; end: number };
  let type: typeof MEMORY_DEVICE_PRIVATE | typeof MEMORY_DEVICE_GENERIC;
  if (!spm_addr_dev0 && !spm_addr_dev1) {
    const res = k.iomem.requestFreeMemRegion(DEVMEM_CHUNK_SIZE, 'hmm_dmirror', 128 * 1024 * 1024);
    if (IS_ERR(res)) return -ENOMEM;
    range = { start: res.start, end: res.end };
    type = MEMORY_DEVICE_PRIVATE;
    mdevice.zone_device_type = HMM_DMIRROR_MEMORY_DEVICE_PRIVATE;
  } else if (spm_addr_dev0 && spm_addr_dev1) {
    const addr = mdevice.id ? spm_addr_dev0 : spm_addr_dev1;
    const res = k.iomem.lookupResource(addr);
    if (res === null) {
      throw new KernelBug('Oops', 'dmirror_allocate_chunk',
        `BUG: kernel NULL pointer dereference, address: 0000000000000000 (lookup_resource() found no resource starting at 0x${addr.toString(16)})`);
    }
    range = { start: res.start, end: res.end };
    type = MEMORY_DEVICE_GENERIC;
    mdevice.zone_device_type = HMM_DMIRROR_MEMORY_DEVICE_GENERIC;
  } else {
    k.printk('Both spm_addr_dev parameters should be set');
    throw new KernelBug('Oops', 'dmirror_allocate_chunk',
      'BUG: kernel NULL pointer dereference, address: 0000000000000000 (res is NULL after "Both spm_addr_dev parameters should be set")');
  }
  const pagemap: DevPagemap = { type, range, ops: mod.devmemOps, owner: mdevice };
  const devmem = new DmirrorChunk(pagemap, mdevice);
  if (mdevice.devmemChunks.length === mdevice.devmemCapacity) mdevice.devmemCapacity += DEVMEM_CHUNKS_RESERVE;
  const ptr = memremapPages(k, pagemap);
  if (IS_ERR(ptr)) {
    if (type === MEMORY_DEVICE_PRIVATE) k.iomem.releaseMemRegion(range.start, rangeLen(range));
    return PTR_ERR(ptr);
  }
  mod.chunkOf.set(pagemap, devmem);
  const pfnFirst = physToPfn(range.start);
  const pfnLast = pfnFirst + physToPfn(rangeLen(range));
  mdevice.devmemChunks.push(devmem);
  const mb = DEVMEM_CHUNK_SIZE / (1024 * 1024);
  k.printk(`added new ${mb} MB chunk (total ${mdevice.devmemChunks.length} chunks, ${mdevice.devmemChunks.length * mb} MB) PFNs [0x${pfnFirst.toString(16)} 0x${pfnLast.toString(16)})`);
  // Every page goes onto the free list through zone_device_data, in pfn order: the last pfn ends up at the head.
  for (let pfn = pfnFirst; pfn < pfnLast; pfn++) {
    k.memmap.block(pfn).zdd[Memmap.slot(pfn)] = mdevice.freePages;
    mdevice.freePages = pfn;
  }
  if (ppage !== null) {
    ppage.page = mdevice.freePages;
    mdevice.freePages = k.memmap.block(ppage.page).zdd[Memmap.slot(ppage.page)];
    mdevice.calloc++;
  }
  return 0;
}

/**
 * Model of dmirror_devmem_alloc_page() (seed): a backing system page (rpage)
 * for the device page's contents, and a device page off the free list or a
 * new chunk; the device page is handed out with refcount 1, locked.
 */
export function dmirrorDevmemAllocPage(mdevice: DmirrorDevice): Page {
  const k = mdevice.k;
  const rpage = k.pageAlloc.allocPage();
  if (rpage === 0) return 0;
  let dpage: Page;
  if (mdevice.freePages !== 0) {
    dpage = mdevice.freePages;
    mdevice.freePages = k.memmap.block(dpage).zdd[Memmap.slot(dpage)];
    mdevice.calloc++;
  } else {
    const pp = { page: 0 };
    if (dmirrorAllocateChunk(mdevice, pp)) { // upstream's test; see the file comment
      putPage(k, rpage);
      return 0;
    }
    dpage = pp.page;
  }
  k.memmap.block(dpage).zdd[Memmap.slot(dpage)] = rpage;
  zoneDevicePageInit(k, dpage);
  return dpage;
}

/** Model of dmirror_devmem_free(): the pgmap's page_free, at refcount 0. */
function dmirrorDevmemFree(mod: TestHmm, page: Page): void {
  const k = mod.k, b = k.memmap.block(page), i = Memmap.slot(page);
  const rpage = b.zdd[i];
  if (rpage > 0) putPage(k, rpage); // __free_page(rpage)
  const mdevice = dmirrorPageToDevice(mod, page);
  mdevice.cfree++;
  b.zdd[i] = mdevice.freePages;
  mdevice.freePages = page;
}

/** The page that holds a device page's data: the backing rpage for PRIVATE, the page itself for GENERIC. */
export function dmirrorBackingPage(k: Kernel, dpage: Page): Page {
  return isDevicePrivatePage(k, dpage) ? k.memmap.block(dpage).zdd[Memmap.slot(dpage)] : dpage;
}

/** Model of dmirror_get_device_type() (seed 000 patch 09). */
function dmirrorGetDeviceType(dmirror: Dmirror, cmd: HmmDmirrorCmd): number {
  cmd.zone_device_type = dmirror.mdevice.zone_device_type;
  return 0;
}

/**
 * Model of dmirror_fops_unlocked_ioctl(): the command is worked on in a
 * kernel copy and copied back only on success, as copy_to_user() at the end
 * of the C function does.
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
    case HMM_DMIRROR_READ: ret = dmirrorRead(dmirror, cmd, current); break;
    case HMM_DMIRROR_WRITE: ret = dmirrorWrite(dmirror, cmd, current); break;
    case HMM_DMIRROR_MIGRATE: ret = dmirrorMigrate(dmirror, cmd, current); break;
    case HMM_DMIRROR_SNAPSHOT: ret = dmirrorSnapshot(dmirror, cmd, current); break;
    case HMM_DMIRROR_GET_MEM_DEV_TYPE: ret = dmirrorGetDeviceType(dmirror, cmd); break;
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
 * Model of dmirror_device_remove(): unmap every chunk and give PRIVATE
 * regions back. Before that the model checks what the C code takes on trust
 * (memunmap_pages() would wait forever otherwise): every device page must
 * be back on the free list. Returns the problems found, one line each.
 */
function dmirrorDeviceRemove(mdevice: DmirrorDevice): string[] {
  const k = mdevice.k, problems: string[] = [];
  let total = 0, free = 0;
  for (const c of mdevice.devmemChunks) total += physToPfn(rangeLen(c.pagemap.range));
  for (let p = mdevice.freePages; p !== 0 && free <= total; p = k.memmap.block(p).zdd[Memmap.slot(p)]) free++;
  if (free !== total) {
    const line = `hmm_dmirror${mdevice.id}: ${total - free} of ${total} device pages not back on the free list at unload (allocated ${mdevice.calloc}, freed ${mdevice.cfree})`;
    k.warn(true, 'dmirror_device_remove', line);
    problems.push(line);
  }
  for (const devmem of mdevice.devmemChunks) {
    const busy = memunmapPages(k, devmem.pagemap);
    if (busy) problems.push(`hmm_dmirror${mdevice.id}: memunmap_pages() found ${busy} device pages still referenced`);
    if (devmem.pagemap.type === MEMORY_DEVICE_PRIVATE) {
      k.iomem.releaseMemRegion(devmem.pagemap.range.start, rangeLen(devmem.pagemap.range));
    }
  }
  mdevice.devmemChunks.length = 0;
  mdevice.freePages = 0;
  k.chrdevs.delete(mdevice.cdevice.path);
  return problems;
}

/**
 * Model of hmm_dmirror_init() (module_init): both devices, of the type the
 * parameters choose. Returns 0 or a negative errno (the module fails to
 * load); a seed oops on bad parameters throws a KernelBug.
 */
export function hmmDmirrorInit(k: Kernel, params: TestHmmParams): { ret: number; mod: TestHmm | null } {
  const mod = new TestHmm(k, params);
  for (let id = 0; id < DMIRROR_NDEVICES; id++) {
    const mdevice = new DmirrorDevice(mod, id);
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
  const problems: string[] = [];
  for (const d of mod.devices) problems.push(...dmirrorDeviceRemove(d));
  return problems;
}

