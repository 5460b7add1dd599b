// SPDX-License-Identifier: GPL-2.0-only
/*
 * Tests of src/kernel-model/hmm.ts (mm/hmm.c): hmm_range_fault() as a
 * snapshot (no fault flags) and as a fault, per-page requests, the retry
 * protocol, and device-private entries of the caller's own device.
 *
 *   X = 0x10000000, six pages:
 *     0 1 2 3 4 5
 *     n z r w . N     n none, z zero page, r read-only page, w writable page,
 *                     . no VMA, N a PROT_NONE VMA
 */
import t from 'tap';
import { Kernel } from '../../src/kernel-model/kernel.js';
import { EFAULT, EPERM, EBUSY } from '../../src/kernel-model/errno.js';
import { PAGE_SIZE, physToPfn } from '../../src/kernel-model/page.js';
import { MAP_ANONYMOUS, MAP_FIXED, MAP_PRIVATE, MmStruct, PROT_NONE, PROT_READ, PROT_WRITE, doMmap, doMprotect,
  doMunmap, vmaLookup } from '../../src/kernel-model/mm.js';
import { userLoad, userStore } from '../../src/kernel-model/memory.js';
import { pteIndex } from '../../src/kernel-model/pgtable.js';
import { type HmmRange, HMM_PFN_ERROR, HMM_PFN_REQ_FAULT, HMM_PFN_REQ_WRITE, HMM_PFN_VALID, HMM_PFN_WRITE,
  hmmPfnFlags, hmmPfnToPage, hmmRangeFault } from '../../src/kernel-model/hmm.js';
import { type MmuIntervalNotifier, mmuIntervalReadBegin } from '../../src/kernel-model/mmu_notifier.js';
import { registeredDevice, PRIVATE_BASE, migrateToDevice, pattern, recordingNotifier } from './fixtures/fake_device.js';

const X = 0x10000000;
const P = PAGE_SIZE;
const RW = PROT_READ | PROT_WRITE;
const FIXED = MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED;

function newRange(mni: MmuIntervalNotifier, start: number, npages: number, defaultFlags: number, pfnFlagsMask = 0,
  owner: object | null = null): HmmRange {
  return {
    notifier: mni, notifierSeq: mmuIntervalReadBegin(mni), start, end: start + npages * P,
    hmmPfns: new Float64Array(npages), defaultFlags, pfnFlagsMask, devPrivateOwner: owner,
  };
}

const ptePfn = (mm: MmStruct, addr: number) => mm.pgtable.lookup(addr)?.pfn[pteIndex(addr)] ?? 0;
const pteVal = (mm: MmStruct, addr: number) => mm.pgtable.lookup(addr)?.val[pteIndex(addr)] ?? 0;
/** [pfn, flags] of every entry. */
const decode = (r: HmmRange) => [...r.hmmPfns].map((v) => [hmmPfnToPage(v), hmmPfnFlags(v)]);

/** The six-page layout of the header comment. */
function layout(k: Kernel) {
  const mm = new MmStruct(k);
  doMmap(mm, X, 4 * P, RW, FIXED);
  doMmap(mm, X + 5 * P, P, PROT_NONE, FIXED);
  userLoad(mm, X + P, new Uint8Array(1));
  userStore(mm, X + 2 * P, Uint8Array.of(2));
  userStore(mm, X + 3 * P, Uint8Array.of(3));
  doMprotect(mm, X + 2 * P, P, PROT_READ);
  return mm;
}

t.test('snapshot (no fault flags): none, zero, read-only, writable, hole, PROT_NONE', async (t) => {
  const k = new Kernel();
  const mm = layout(k);
  const { mni } = recordingNotifier(mm, 0, 2 ** 47);
  const allocated = k.pageAlloc.nrAllocated;
  const r = newRange(mni, X, 6, 0);
  r.hmmPfns.fill(12345 * 256 + 7); // garbage in: every entry must be written
  t.equal(hmmRangeFault(r), 0, 'returns 0');
  t.same(decode(r), [
    [0, 0],
    [k.zeroPfn, HMM_PFN_VALID],
    [ptePfn(mm, X + 2 * P), HMM_PFN_VALID],
    [ptePfn(mm, X + 3 * P), HMM_PFN_VALID | HMM_PFN_WRITE],
    [0, HMM_PFN_ERROR],
    [0, HMM_PFN_ERROR],
  ], 'one entry per page, as in the layout');
  t.not(ptePfn(mm, X + 2 * P), 0, 'the read-only page is a real page');
  t.equal(k.pageAlloc.nrAllocated, allocated, 'nothing was faulted in');
  t.equal(pteVal(mm, X), 0, 'page 0 is still none');
});

t.test('snapshot over a range without any VMA, and over an untouched VMA', async (t) => {
  const k = new Kernel();
  const mm = new MmStruct(k);
  doMmap(mm, X, 2 * P, RW, FIXED);
  const { mni } = recordingNotifier(mm, 0, 2 ** 47);
  const hole = newRange(mni, X + 16 * P, 3, 0);
  t.equal(hmmRangeFault(hole), 0);
  t.same(decode(hole), [[0, HMM_PFN_ERROR], [0, HMM_PFN_ERROR], [0, HMM_PFN_ERROR]], 'all HMM_PFN_ERROR');
  const empty = newRange(mni, X, 2, 0);
  empty.hmmPfns.fill(99);
  t.equal(hmmRangeFault(empty), 0);
  t.same([...empty.hmmPfns], [0, 0], 'no page table: all 0');
  t.equal(mm.pgtable.tables.size, 0, 'and none was created');
});

t.test('fault mode with REQ_FAULT|REQ_WRITE faults every page in writable', async (t) => {
  const k = new Kernel();
  const mm = new MmStruct(k);
  doMmap(mm, X, 4 * P, RW, FIXED);
  userStore(mm, X + 3 * P, Uint8Array.of(9));
  const { mni, seen } = recordingNotifier(mm, 0, 2 ** 47);
  const r = newRange(mni, X, 4, HMM_PFN_REQ_FAULT | HMM_PFN_REQ_WRITE);
  t.equal(hmmRangeFault(r), 0);
  t.equal(k.pageAlloc.nrAllocated, 4, 'three new pages plus the one already there');
  for (let i = 0; i < 4; i++) {
    t.same(decode(r)[i], [ptePfn(mm, X + i * P), HMM_PFN_VALID | HMM_PFN_WRITE], `page ${i} valid, writable, the pte's pfn`);
  }
  t.equal(seen.length, 0, 'new anonymous pages need no invalidation');
});

t.test('fault mode: a write fault replacing the zero page invalidates, the caller retries', async (t) => {
  const k = new Kernel();
  const mm = new MmStruct(k);
  doMmap(mm, X, 2 * P, RW, FIXED);
  userLoad(mm, X, new Uint8Array(1)); // zero page at page 0
  const { mni, seen } = recordingNotifier(mm, 0, 2 ** 47);
  const r = newRange(mni, X, 2, HMM_PFN_REQ_FAULT | HMM_PFN_REQ_WRITE);
  t.equal(hmmRangeFault(r), -EBUSY, 'the COW invalidated the range under the walk: -EBUSY');
  t.same(seen.map((s) => s.event), ['CLEAR']);
  r.notifierSeq = mmuIntervalReadBegin(mni);
  t.equal(hmmRangeFault(r), 0, 'the retry succeeds');
  t.equal(hmmPfnFlags(r.hmmPfns[0]), HMM_PFN_VALID | HMM_PFN_WRITE);
  t.not(hmmPfnToPage(r.hmmPfns[0]), k.zeroPfn, 'no longer the zero page');
});

t.test('fault mode: a stale sequence is -EBUSY before anything is done', async (t) => {
  const k = new Kernel();
  const mm = new MmStruct(k);
  doMmap(mm, X, 2 * P, RW, FIXED);
  userStore(mm, X + P, Uint8Array.of(1));
  const { mni } = recordingNotifier(mm, 0, 2 ** 47);
  const r = newRange(mni, X, 1, HMM_PFN_REQ_FAULT);
  doMprotect(mm, X + 4 * P, P, PROT_READ); // nothing mapped there: -ENOMEM, no invalidation
  doMunmap(mm, X + 8 * P, P); // nothing mapped: no invalidation
  t.equal(hmmRangeFault(r), 0, 'nothing invalidated: 0');
  const r2 = newRange(mni, X, 1, HMM_PFN_REQ_FAULT);
  doMunmap(mm, X + P, P); // invalidates [X+P, X+2P): the notifier covers everything
  t.equal(hmmRangeFault(r2), -EBUSY, 'invalidated since read_begin: -EBUSY');
  t.equal(r2.hmmPfns[0], 0, 'and nothing written');
});

t.test('fault mode on a read-only VMA: -EPERM for a write, the zero page for a read', async (t) => {
  const k = new Kernel();
  const mm = new MmStruct(k);
  doMmap(mm, X, 2 * P, PROT_READ, FIXED);
  const { mni } = recordingNotifier(mm, 0, 2 ** 47);
  const w = newRange(mni, X, 2, HMM_PFN_REQ_FAULT | HMM_PFN_REQ_WRITE);
  t.equal(hmmRangeFault(w), -EPERM, '-EPERM');
  t.equal(k.pageAlloc.nrAllocated, 0, 'nothing allocated');
  const rd = newRange(mni, X, 2, HMM_PFN_REQ_FAULT);
  t.equal(hmmRangeFault(rd), 0);
  t.same(decode(rd), [[k.zeroPfn, HMM_PFN_VALID], [k.zeroPfn, HMM_PFN_VALID]], 'read faults map the zero page');
});

t.test('fault mode on PROT_NONE or on a hole: -EFAULT', async (t) => {
  const k = new Kernel();
  const mm = new MmStruct(k);
  doMmap(mm, X, P, PROT_NONE, FIXED);
  const { mni } = recordingNotifier(mm, 0, 2 ** 47);
  t.equal(hmmRangeFault(newRange(mni, X, 1, HMM_PFN_REQ_FAULT)), -EFAULT, 'PROT_NONE');
  t.equal(hmmRangeFault(newRange(mni, X + 4 * P, 1, HMM_PFN_REQ_FAULT)), -EFAULT, 'no VMA');
  t.equal(mm.pgtable.tables.size, 0, 'no page table was created');
});

t.test('per-page requests (pfn_flags_mask): only what is asked for, from there to the end of the walk', async (t) => {
  const k = new Kernel();
  const mm = new MmStruct(k);
  doMmap(mm, X, 4 * P, RW, FIXED);
  userStore(mm, X + 3 * P, Uint8Array.of(3)); // the page table exists: the ptes are walked one by one
  const { mni } = recordingNotifier(mm, 0, 2 ** 47);
  const r = newRange(mni, X, 4, 0, HMM_PFN_REQ_FAULT | HMM_PFN_REQ_WRITE);
  r.hmmPfns[1] = HMM_PFN_REQ_FAULT | HMM_PFN_REQ_WRITE;
  t.equal(hmmRangeFault(r), 0);
  const d = decode(r);
  t.same(d[0], [0, 0], 'page 0 was not asked for and is not faulted');
  t.equal(pteVal(mm, X), 0, 'its pte is still none');
  t.same(d[1], [ptePfn(mm, X + P), HMM_PFN_VALID | HMM_PFN_WRITE], 'page 1 faulted in writable');
  // hmm_vma_handle_pte() -> hmm_vma_fault() faults [addr, end) of the walk, as mm/hmm.c does.
  t.same(d[2], [ptePfn(mm, X + 2 * P), HMM_PFN_VALID | HMM_PFN_WRITE], 'page 2 too');
  t.same(d[3], [ptePfn(mm, X + 3 * P), HMM_PFN_VALID | HMM_PFN_WRITE], 'page 3 was there already');
  t.equal(k.pageAlloc.nrAllocated, 3);

  // Without a page table hmm_vma_walk_hole() faults the whole hole from its start, page 0 included.
  const k2 = new Kernel();
  const mm2 = new MmStruct(k2);
  doMmap(mm2, X, 4 * P, RW, FIXED);
  const n2 = recordingNotifier(mm2, 0, 2 ** 47);
  const r2 = newRange(n2.mni, X, 4, 0, HMM_PFN_REQ_FAULT | HMM_PFN_REQ_WRITE);
  r2.hmmPfns[1] = HMM_PFN_REQ_FAULT | HMM_PFN_REQ_WRITE;
  t.equal(hmmRangeFault(r2), 0);
  t.equal(k2.pageAlloc.nrAllocated, 4, 'all four faulted');
  t.same(decode(r2)[0], [ptePfn(mm2, X), HMM_PFN_VALID | HMM_PFN_WRITE], 'and page 0 reported');
});

t.test('a device-private entry of the caller\'s device is reported, not faulted', async (t) => {
  const k = new Kernel();
  const mm = new MmStruct(k);
  doMmap(mm, X, 3 * P, RW, FIXED);
  for (let i = 0; i < 3; i++) userStore(mm, X + i * P, pattern(i, 16));
  const dev = registeredDevice(k);
  t.equal(migrateToDevice(dev, vmaLookup(mm, X)!, X, 3).ret, 0);
  doMprotect(mm, X + 2 * P, P, PROT_READ); // page 2: a read-only device-private entry
  const { mni } = recordingNotifier(mm, 0, 2 ** 47);
  const dpfn = physToPfn(PRIVATE_BASE);
  const r = newRange(mni, X, 3, HMM_PFN_REQ_FAULT, 0, dev.owner);
  t.equal(hmmRangeFault(r), 0);
  t.same(decode(r), [
    [dpfn, HMM_PFN_VALID | HMM_PFN_WRITE],
    [dpfn + 1, HMM_PFN_VALID | HMM_PFN_WRITE],
    [dpfn + 2, HMM_PFN_VALID],
  ], 'VALID (and WRITE where the entry is writable), the device pfn');
  t.equal(dev.faults, 0, 'migrate_to_ram was not called');

  const other = newRange(mni, X, 3, 0, 0, { name: 'another device' });
  t.equal(hmmRangeFault(other), 0);
  t.same([...other.hmmPfns], [0, 0, 0], 'another device\'s snapshot sees nothing valid');
  t.equal(dev.faults, 0, 'and faults nothing');
});

t.test('a device-private entry of another device is faulted back to system memory', async (t) => {
  const k = new Kernel();
  const mm = new MmStruct(k);
  doMmap(mm, X, 2 * P, RW, FIXED);
  userStore(mm, X, pattern(7, 64));
  const dev = registeredDevice(k);
  migrateToDevice(dev, vmaLookup(mm, X)!, X, 1);
  const { mni } = recordingNotifier(mm, 0, 2 ** 47);
  const r = newRange(mni, X, 1, HMM_PFN_REQ_FAULT, 0, { name: 'another device' });
  let ret = hmmRangeFault(r);
  for (let tries = 0; ret === -EBUSY && tries < 3; tries++) {
    r.notifierSeq = mmuIntervalReadBegin(mni);
    ret = hmmRangeFault(r);
  }
  t.equal(ret, 0, 'succeeds (after retries for the migration\'s invalidations)');
  t.equal(dev.faults, 1, 'through migrate_to_ram, once');
  const pfn = hmmPfnToPage(r.hmmPfns[0]);
  t.equal(pfn, ptePfn(mm, X), 'reports the new system page');
  t.ok(pfn < physToPfn(PRIVATE_BASE), 'which is system RAM');
  t.equal(hmmPfnFlags(r.hmmPfns[0]), HMM_PFN_VALID | HMM_PFN_WRITE);
  const back = new Uint8Array(64);
  userLoad(mm, X, back);
  t.same(back, pattern(7, 64), 'the data came back');
  t.same(dev.freed, [physToPfn(PRIVATE_BASE)], 'the device page was freed');
});
