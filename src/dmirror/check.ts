// SPDX-License-Identifier: GPL-2.0-only
/*
 * checkInvariants(): the model's CONFIG_DEBUG_VM check (kernel-model/
 * debug_vm.ts) plus what must hold of test_hmm between two actions, for
 * hmm-test fuzz and tests; nothing on a system-call path calls it. The C
 * driver has no such check: these are the rules lib/test_hmm.c (6.12)
 * relies on, stated against its data structures.
 *
 * Every mirror entry (dmirror->pt) is backed by what the CPU page table of
 * the mirror's mm holds at that address (dmirror_interval_invalidate()
 * erases an entry whenever the CPU side changes, except for the device's
 * own migrations, which then store their result):
 *  - a present pte or PMD: the entry is that page (dmirror_do_fault() of a
 *    system, zero or coherent page), WRITE only if the pte is writable;
 *  - a device-private entry of a page of the mirror's own device: the entry
 *    is its backing page (dmirror_migrate_finalize_and_map() stores
 *    BACKING_PAGE(dpage)) or, in 6.12, the device-private page itself
 *    (hmm_range_fault() hands the owner its own pages, dmirror_do_fault()
 *    stores them as they are: legal state, which dmirror_do_read() then
 *    oopses on; not with DMIRROR_DO_FAULT_BACKING_PAGE); WRITE only if the
 *    entry is writable;
 *  - a device-exclusive entry: the entry is that page, tagged ATOMIC
 *    (dmirror_atomic_map());
 *  - anything else (none, a migration entry): a stale entry.
 * Each device page in use (a pgmap reference, MemBlock.pgmapRef) is
 * mapped by some CPU page table entry (the mirror holds no reference: a
 * device page nothing maps is lost) and a PRIVATE one has a live backing
 * page. With `freeLists`, each device's free list is walked too (O(free
 * pages), so only when asked): every entry a page of one of the device's
 * chunks, listed once, free (refcount 0), neither mapped nor mirrored, and
 * free + in use = the chunks' pages.
 */
import type { Kernel } from '../kernel-model/kernel.js';
import { Memmap, MEMBLOCK_PAGES, PAGE_SIZE, PTRS_PER_PTE, HPAGE_PMD_NR, type Page, physToPfn } from '../kernel-model/page.js';
import { ptePresent, pteWrite, pteIndex, isDevicePrivateEntry, isWritableDevicePrivateEntry, isDeviceExclusiveEntry } from '../kernel-model/pgtable.js';
import { pagePgmap, rangeLen, MEMORY_DEVICE_PRIVATE } from '../kernel-model/memremap.js';
import { checkVmInvariants, dumpPageLine, type VmWalk } from '../kernel-model/debug_vm.js';
import { DMIRROR_DO_FAULT_BACKING_PAGE, ZONE_DEVICE_ONE_BASED_REFCOUNT } from '../kernel-model/changes.js';
import { Dmirror, DmirrorDevice, type TestHmm, dmirrorMm, zoneDeviceData } from './test_hmm.js';
import { xaUntagPointer, xaPointerTag, DPT_XA_TAG_WRITE, DPT_XA_TAG_ATOMIC } from './xarray.js';

export interface CheckOptions {
  /** Also walk every device free list (O(free device pages)). */
  freeLists?: boolean;
}

const hex = (n: number) => `0x${n.toString(16)}`;
const TAGS = ['', ' ATOMIC', '', ' WRITE'];

/** The loaded test_hmm, found through its character devices (cdev.owner), or null. */
export function loadedTestHmm(k: Kernel): TestHmm | null {
  for (const cdev of k.chrdevs.values()) if (cdev.owner instanceof DmirrorDevice) return cdev.owner.mod;
  return null;
}

/** Every open mirror: the dmirror of each open file of a live task (a file shared after fork once). */
export function openMirrors(k: Kernel): Dmirror[] {
  const seen = new Set<Dmirror>();
  for (const t of k.tasks.values()) for (const f of t.files.values()) if (f.privateData instanceof Dmirror) seen.add(f.privateData);
  return [...seen];
}

/** What the CPU page table of mm holds at addr: the pfn and the entry (pte bits), 0/0 for none. */
function cpuEntry(dmirror: Dmirror, addr: number): { pfn: number; val: number } {
  const pt = dmirrorMm(dmirror).pgtable;
  const h = pt.lookupHuge(addr);
  if (h !== undefined) return { pfn: h.pfn + (Math.floor(addr / PAGE_SIZE) % PTRS_PER_PTE), val: h.val };
  const t = pt.lookup(addr), i = pteIndex(addr);
  return t === undefined ? { pfn: 0, val: 0 } : { pfn: t.pfn[i], val: t.val[i] };
}

/** Why one mirror entry is not backed by the CPU page table, or null when it is. */
function unbacked(k: Kernel, dmirror: Dmirror, index: number, entry: number): string | null {
  const page = xaUntagPointer(entry), tag = xaPointerTag(entry);
  const { pfn, val } = cpuEntry(dmirror, index * PAGE_SIZE);
  if (val === 0) return 'the CPU page table maps nothing there';
  if (ptePresent(val)) {
    if (page !== pfn) return `the CPU maps pfn ${hex(pfn)} there`;
    if (tag === DPT_XA_TAG_WRITE && !pteWrite(val)) return 'the entry is WRITE and the CPU pte read-only';
    if (tag === DPT_XA_TAG_ATOMIC) return 'the entry is ATOMIC and the CPU maps the page (no device-exclusive entry)';
    return null;
  }
  if (isDevicePrivateEntry(val)) {
    if (pagePgmap(k, pfn)?.owner !== dmirror.mdevice) return `the CPU has a device-private entry of another device (pfn ${hex(pfn)}) there`;
    const self = page === pfn && !k.has(DMIRROR_DO_FAULT_BACKING_PAGE);
    if (page !== zoneDeviceData(k, pfn) && !self) return `the CPU has a device-private entry of pfn ${hex(pfn)}, whose backing page is ${hex(zoneDeviceData(k, pfn))}`;
    if (tag === DPT_XA_TAG_WRITE && !isWritableDevicePrivateEntry(val)) return 'the entry is WRITE and the device-private entry read-only';
    return null;
  }
  if (isDeviceExclusiveEntry(val)) {
    if (page !== pfn) return `the CPU has a device-exclusive entry of pfn ${hex(pfn)} there`;
    return tag === DPT_XA_TAG_ATOMIC ? null : 'the CPU has a device-exclusive entry and the mirror entry is not ATOMIC';
  }
  return `the CPU has a non-present entry (type ${(val >> 1) & 7}) there`;
}

/** The mirror entries; returns every page a mirror names. */
function checkMirrors(k: Kernel, reports: string[]): Set<Page> {
  const mirrored = new Set<Page>();
  for (const d of openMirrors(k)) {
    const mm = dmirrorMm(d);
    if (mm.mmUsers === 0) continue; // the mm is gone (exit_mmap() invalidated everything it mapped)
    d.pt.forEach((index, entry) => {
      const page = xaUntagPointer(entry);
      mirrored.add(page);
      const why = unbacked(k, d, index, entry);
      if (why !== null) {
        reports.push(`WARNING: dmirror: hmm_dmirror${d.mdevice.id} mirror of mm ${mm.id}: entry ${hex(index * PAGE_SIZE)} -> pfn ${hex(page)}${TAGS[xaPointerTag(entry)]} is stale: ${why}`);
      }
    });
  }
  return mirrored;
}

/** Device pages in use against what maps them; with `freeLists`, the free lists walked. */
function checkDevice(k: Kernel, mdevice: DmirrorDevice, w: VmWalk, mirrored: Set<Page>, freeLists: boolean, reports: string[]): void {
  const name = `hmm_dmirror${mdevice.id}`, freeRef = k.has(ZONE_DEVICE_ONE_BASED_REFCOUNT) ? 1 : 0;
  let total = 0, used = 0;
  for (const chunk of mdevice.devmemChunks) {
    const first = physToPfn(chunk.pagemap.range.start), n = physToPfn(rangeLen(chunk.pagemap.range));
    total += n;
    for (const b of k.memmap.createdBlocksIn(first, first + n)) {
      if (b.pgmapRef === 0) continue;
      used += b.pgmapRef;
      const base = b.basePfn, refcount = b.refcount;
      for (let i = 0; i < MEMBLOCK_PAGES; i++) {
        if (refcount[i] <= freeRef) continue;
        const page = base + i;
        if (!w.uses.has(page)) reports.push(`BUG: ${name}: device page in use that no page table maps (lost): ${dumpPageLine(k, page)}`);
        else if (chunk.pagemap.type === MEMORY_DEVICE_PRIVATE) {
          const rpage = b.zdd[i], rb = rpage > 0 ? k.memmap.createdBlock(rpage) : undefined;
          if (rb === undefined || rb.refcount[Memmap.slot(rpage)] <= 0) reports.push(`BUG: ${name}: device-private page without a live backing page (${hex(rpage)}): ${dumpPageLine(k, page)}`);
        }
      }
    }
  }
  if (!freeLists) return;
  // One bit per device page of the chunks (offset in the chunks' concatenation): the walk is O(free pages), no Map.
  const starts = mdevice.devmemChunks.map((c) => physToPfn(c.pagemap.range.start));
  const sizes = mdevice.devmemChunks.map((c) => physToPfn(rangeLen(c.pagemap.range)));
  const seen = new Uint8Array(total);
  const offset = (page: Page) => {
    for (let c = 0, base = 0; c < starts.length; base += sizes[c], c++) if (page >= starts[c] && page < starts[c] + sizes[c]) return base + page - starts[c];
    return -1;
  };
  let free = 0;
  for (let page = mdevice.freePages; page !== 0;) {
    const off = offset(page);
    if (off < 0) { reports.push(`BUG: ${name}: free list links pfn ${hex(page)}, not a page of this device's chunks`); return; }
    if (seen[off]) { reports.push(`BUG: ${name}: free list lists pfn ${hex(page)} twice (after ${free} entries)`); return; }
    seen[off] = 1;
    free++;
    const b = k.memmap.block(page), i = Memmap.slot(page);
    if (b.refcount[i] !== freeRef) reports.push(`BUG: ${name}: free page in use: ${dumpPageLine(k, page)}`);
    page = zoneDeviceData(k, page); // the link as the C wrote it, also inside a free run not yet written out
  }
  // TEST_HMM_THP: free PMD-order folios, linked through their head pages.
  for (let folio = mdevice.freeFolios; folio !== 0;) {
    const off = offset(folio);
    if (off < 0) { reports.push(`BUG: ${name}: free folio list links pfn ${hex(folio)}, not a page of this device's chunks`); return; }
    if (seen[off]) { reports.push(`BUG: ${name}: free folio list lists pfn ${hex(folio)} twice`); return; }
    for (let j = 0; j < HPAGE_PMD_NR; j++) seen[off + j] = 1;
    free += HPAGE_PMD_NR;
    folio = zoneDeviceData(k, folio);
  }
  // What maps or mirrors a page (few) against the bitmap, not each free page against them.
  const mapped = Array.from({ length: w.uses.size }, (_, r) => w.uses.at(r).page);
  for (const [what, pages] of [['mapped', mapped], ['mirrored', mirrored.values()]] as const) {
    for (const page of pages) {
      const off = offset(page);
      if (off >= 0 && seen[off]) reports.push(`BUG: ${name}: free page ${what}: ${dumpPageLine(k, page)}`);
    }
  }
  if (free + used !== total) reports.push(`BUG: ${name}: ${free} free + ${used} in use != ${total} device pages`);
}

/**
 * Every invariant of the kernel model and of the loaded test_hmm (see the
 * file comments here and in debug_vm.ts): the broken ones, one report line
 * each, empty when all hold.
 */
export function checkInvariants(k: Kernel, opts: CheckOptions = {}): string[] {
  const w = checkVmInvariants(k);
  const reports = w.reports;
  const mirrored = checkMirrors(k, reports);
  const mod = loadedTestHmm(k);
  if (mod !== null) for (const d of mod.devices) checkDevice(k, d, w, mirrored, opts.freeLists ?? false, reports);
  return reports;
}
