// SPDX-License-Identifier: GPL-2.0-only
/*
 * Tests of src/kernel-model/hugetlb.ts: the 2 MiB hugetlb pool, mmap(MAP_HUGETLB)
 * and its reservations, hugetlb_fault(), unmap and exit returning pages to
 * the pool, hmm_range_fault()'s hugetlb path, migrate_vma_setup() refusing
 * hugetlb VMAs, and /proc/meminfo.
 *
 *   A pool of 4 huge pages:  [H0][H1][H2][H3]
 *   mmap 2 x 2 MiB reserves 2; faulting one consumes its reservation.
 */
import t from 'tap';
import { Kernel } from '../../src/kernel-model/kernel.js';
import { defaultMachine } from '../../src/kernel-model/machine.js';
import { EINVAL, ENOMEM } from '../../src/kernel-model/errno.js';
import { PAGE_SIZE, PMD_SIZE, HPAGE_PMD_NR, PG_anon } from '../../src/kernel-model/page.js';
import { MAP_ANONYMOUS, MAP_HUGETLB, MAP_NORESERVE, MAP_PRIVATE, MmStruct, PROT_READ, PROT_WRITE, VM_HUGETLB,
  doMmap, doMprotect, doMunmap, vmaLookup } from '../../src/kernel-model/mm.js';
import { userLoad, userStore } from '../../src/kernel-model/memory.js';
import { FatalSignal, SIGBUS } from '../../src/kernel-model/bug.js';
import { _PAGE_RW } from '../../src/kernel-model/pgtable.js';
import { folioMapcount, folioEntireMapcount, pageRefCount, testPageFlag } from '../../src/kernel-model/page_alloc.js';
import { procMeminfo } from '../../src/kernel-model/hugetlb.js';
import { type HmmRange, HMM_PFN_REQ_FAULT, HMM_PFN_REQ_WRITE, HMM_PFN_VALID, HMM_PFN_WRITE, hmmPfnFlags, hmmPfnToPage,
  hmmPfnToMapOrder, hmmRangeFault } from '../../src/kernel-model/hmm.js';
import { mmuIntervalReadBegin } from '../../src/kernel-model/mmu_notifier.js';
import { MIGRATE_VMA_SELECT_SYSTEM, migrateVmaSetup } from '../../src/kernel-model/migrate_device.js';
import { type Asserts, newMigrateVma, recordingNotifier } from './fixtures/fake_device.js';
import { auditFolios } from './fixtures/folio_audit.js';

const RW = PROT_READ | PROT_WRITE;
const HUGE = MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB;
const NR = HPAGE_PMD_NR;

function boot(nrHugepages = 4): { k: Kernel; mm: MmStruct } {
  const k = new Kernel({ machine: { ...defaultMachine(), nrHugepages } });
  return { k, mm: new MmStruct(k) };
}

function pool(k: Kernel): [number, number, number] {
  return [k.hugetlb.nrHugePages, k.hugetlb.freeHugePages, k.hugetlb.resvHugePages];
}

function exitAndCheck(t: Asserts, k: Kernel, mm: MmStruct): void {
  mm.mmput();
  t.equal(k.pageAlloc.nrAllocated, 0, 'no buddy page left');
  t.equal(k.hugetlb.freeHugePages, k.hugetlb.nrHugePages, 'every huge page back in the pool');
  t.equal(k.hugetlb.resvHugePages, 0, 'no reservation left');
}

t.test('the pool: carved at boot, outside nrAllocated; /proc/meminfo reports it', async (t) => {
  const { k, mm } = boot(16);
  t.same(pool(k), [16, 16, 0]);
  t.equal(k.pageAlloc.nrAllocated, 0, 'pool pages are not buddy allocations');
  const mi = procMeminfo(k);
  t.match(mi, /^Hugepagesize:       2048 kB$/m, 'Hugepagesize: as the kernel prints it');
  t.match(mi, /^HugePages_Total:      16$/m);
  t.match(mi, /^Hugetlb:           32768 kB$/m);
  // file_read_ulong("/proc/meminfo", "Hugepagesize:"): strtol after the tag, then a space.
  const after = mi.slice(mi.indexOf('Hugepagesize:') + 'Hugepagesize:'.length);
  t.equal(parseInt(after.trim(), 10), 2048);
  t.match(after, /^\s+2048 /, 'the number is followed by a space, as the selftest checks');
  t.equal(new Kernel().hugetlb.nrHugePages, 16, 'default pool: 16 pages, as the reference run');
  exitAndCheck(t, k, mm);
});

t.test('MAP_HUGETLB: huge-page aligned, reserves the pool, faults one 2 MiB folio mapped by a huge pte', async (t) => {
  const { k, mm } = boot();
  const a = doMmap(mm, 0, PMD_SIZE + PAGE_SIZE, RW, HUGE);
  t.ok(a > 0);
  t.equal(a % PMD_SIZE, 0, 'aligned to 2 MiB');
  const vma = vmaLookup(mm, a)!;
  t.equal(vma.vmEnd - vma.vmStart, 2 * PMD_SIZE, 'length rounded up to the huge page size');
  t.ok(vma.vmFlags & VM_HUGETLB);
  t.same(pool(k), [4, 4, 2], 'two pages reserved');
  const data = new Uint8Array(PAGE_SIZE).fill(0x5a);
  userStore(mm, a + 3 * PAGE_SIZE, data);
  t.same(pool(k), [4, 3, 1], 'the fault consumed one reservation');
  const h = mm.pgtable.lookupHuge(a)!;
  t.equal(h.val & _PAGE_RW, _PAGE_RW, 'writable after the write fault (hugetlb_wp() reuse)');
  t.equal(folioEntireMapcount(k, h.pfn), 1);
  t.equal(folioMapcount(k, h.pfn), 1);
  t.equal(pageRefCount(k, h.pfn), 1);
  t.ok(testPageFlag(k, h.pfn, PG_anon), 'a private hugetlb page is anon');
  t.equal(mm.hugetlbUsage, NR);
  t.equal(mm.rssAnon, 0, 'not in MM_ANONPAGES');
  const back = new Uint8Array(PAGE_SIZE);
  userLoad(mm, a + 3 * PAGE_SIZE, back);
  t.same(back, data, 'data');
  userLoad(mm, a + 4 * PAGE_SIZE, back);
  t.equal(back.every((x) => x === 0), true, 'the rest reads as zeroes');
  // A read fault on the second huge page: mapped read-only (private mapping), a later write makes it writable.
  userLoad(mm, a + PMD_SIZE, back);
  t.equal(mm.pgtable.lookupHuge(a + PMD_SIZE)!.val & _PAGE_RW, 0, 'a read maps it read-only');
  userStore(mm, a + PMD_SIZE, data);
  t.equal(mm.pgtable.lookupHuge(a + PMD_SIZE)!.val & _PAGE_RW, _PAGE_RW, 'the write reuses it');
  t.same(pool(k), [4, 2, 0]);
  t.same(auditFolios(k, [mm]), []);
  exitAndCheck(t, k, mm);
});

t.test('munmap returns pages and unconsumed reservations; unaligned splits are -EINVAL', async (t) => {
  const { k, mm } = boot();
  const a = doMmap(mm, 0, 3 * PMD_SIZE, RW, HUGE);
  userStore(mm, a, new Uint8Array([1]));
  t.same(pool(k), [4, 3, 2]);
  t.equal(doMunmap(mm, a + PAGE_SIZE, PAGE_SIZE), -EINVAL, 'not on a huge page boundary');
  t.equal(doMprotect(mm, a, PAGE_SIZE, PROT_READ), -EINVAL, 'mprotect cannot split it either');
  const { seen } = recordingNotifier(mm, a, 3 * PMD_SIZE);
  t.equal(doMunmap(mm, a, PMD_SIZE), 0);
  t.same(seen.map((s) => s.event), ['UNMAP']);
  t.same(pool(k), [4, 4, 2], 'the faulted page is back, its reservation was consumed');
  t.equal(doMunmap(mm, a + 2 * PMD_SIZE, PMD_SIZE), 0);
  t.same(pool(k), [4, 4, 1], 'an unconsumed reservation is returned');
  exitAndCheck(t, k, mm);
});

t.test('exhaustion: mmap -ENOMEM when the pool cannot cover it; MAP_NORESERVE faults SIGBUS', async (t) => {
  const { k, mm } = boot(2);
  t.equal(doMmap(mm, 0, 3 * PMD_SIZE, RW, HUGE), -ENOMEM, 'three pages from a pool of two');
  const a = doMmap(mm, 0, 2 * PMD_SIZE, RW, HUGE);
  t.ok(a > 0, 'two fit');
  t.equal(doMmap(mm, 0, PMD_SIZE, RW, HUGE), -ENOMEM, 'all reserved');
  const b = doMmap(mm, 0, PMD_SIZE, RW, HUGE | MAP_NORESERVE);
  t.ok(b > 0, 'MAP_NORESERVE maps without a reservation');
  let caught: unknown = null;
  try { userStore(mm, b, new Uint8Array([1])); } catch (e) { caught = e; }
  t.ok(caught instanceof FatalSignal && caught.signal === SIGBUS, 'and its fault gets SIGBUS (the pages are promised to a)');
  userStore(mm, a, new Uint8Array([1]));
  userStore(mm, a + PMD_SIZE, new Uint8Array([1]));
  t.same(pool(k), [2, 0, 0]);
  exitAndCheck(t, k, mm);
  t.equal(boot(0).k.hugetlb.nrHugePages, 0, 'an empty pool');
  const e = boot(0);
  t.equal(doMmap(e.mm, 0, PMD_SIZE, RW, HUGE), -ENOMEM, 'mmap fails: the selftest skips ("Huge page could not be allocated")');
});

function range(mm: MmStruct, start: number, npages: number, flags: number): HmmRange {
  const { mni } = recordingNotifier(mm, start, npages * PAGE_SIZE);
  return { notifier: mni, notifierSeq: mmuIntervalReadBegin(mni), start, end: start + npages * PAGE_SIZE,
    hmmPfns: new Float64Array(npages), defaultFlags: flags, pfnFlagsMask: 0, devPrivateOwner: null };
}

t.test('hmm_range_fault() on hugetlb: faults the page in, reports order 9; read-only after mprotect', async (t) => {
  const { k, mm } = boot();
  const a = doMmap(mm, 0, PMD_SIZE, RW, HUGE);
  const r = range(mm, a, NR, HMM_PFN_REQ_FAULT | HMM_PFN_REQ_WRITE);
  t.equal(hmmRangeFault(r), 0);
  const head = mm.pgtable.lookupHuge(a)!.pfn;
  let ok = true;
  for (let i = 0; i < NR; i++) {
    ok &&= hmmPfnToPage(r.hmmPfns[i]) === head + i && hmmPfnToMapOrder(r.hmmPfns[i]) === 9 &&
      (hmmPfnFlags(r.hmmPfns[i]) & (HMM_PFN_VALID | HMM_PFN_WRITE)) === (HMM_PFN_VALID | HMM_PFN_WRITE);
  }
  t.ok(ok, 'every pfn: page i of the huge page, VALID|WRITE, order 9 (dmirror: PROT_PMD)');
  t.equal(doMprotect(mm, a, PMD_SIZE, PROT_READ), 0);
  const s = range(mm, a, NR, 0);
  t.equal(hmmRangeFault(s), 0);
  t.equal(hmmPfnFlags(s.hmmPfns[100]) & (HMM_PFN_VALID | HMM_PFN_WRITE), HMM_PFN_VALID, 'read-only now');
  t.equal(hmmPfnToMapOrder(s.hmmPfns[100]), 9);
  exitAndCheck(t, k, mm);
});

t.test('migrate_vma_setup() refuses a hugetlb VMA', async (t) => {
  const { k, mm } = boot();
  const a = doMmap(mm, 0, PMD_SIZE, RW, HUGE);
  userStore(mm, a, new Uint8Array([1]));
  const args = newMigrateVma(vmaLookup(mm, a)!, a, 16, null, MIGRATE_VMA_SELECT_SYSTEM);
  t.equal(migrateVmaSetup(k, args), -EINVAL);
  exitAndCheck(t, k, mm);
});

/* ---- Break the mechanisms on purpose. ---- */

t.test('broken: a free_huge_folio() that loses pages is caught by the pool count', async (t) => {
  const { k, mm } = boot();
  k.hugetlb.freeHugeFolio = () => {};
  const a = doMmap(mm, 0, PMD_SIZE, RW, HUGE);
  userStore(mm, a, new Uint8Array([1]));
  mm.mmput();
  t.not(k.hugetlb.freeHugePages, k.hugetlb.nrHugePages, 'the page is missing from the pool: exitAndCheck() would fail');
});

t.test('broken: an unmap that forgets the rmap is caught when the page is freed (Bad page state)', async (t) => {
  const { k, mm } = boot();
  const a = doMmap(mm, 0, PMD_SIZE, RW, HUGE);
  userStore(mm, a, new Uint8Array([1]));
  const f = k.pageAlloc.large.get(mm.pgtable.lookupHuge(a)!.pfn)!;
  Object.defineProperty(f, 'entireMapcount', { get: () => 1, set: () => {} });
  let caught: unknown = null;
  try { mm.mmput(); } catch (e) { caught = e; }
  t.match(String(caught), /Bad page state: .* nonzero entire_mapcount 1/, 'free_page_is_bad() reports it');
});
