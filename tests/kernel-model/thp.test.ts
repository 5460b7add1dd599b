// SPDX-License-Identifier: GPL-2.0-only
/*
 * Tests of src/kernel-model/huge_memory.ts and madvise.ts: transparent huge
 * pages. The anonymous fault on a THP-eligible, 2 MiB-aligned range maps one
 * PMD; split_huge_pmd(), split_folio(), zap and mprotect of huge PMDs;
 * hmm_range_fault() and migrate_vma_setup() on a THP.
 *
 *   A 4 MiB mapping placed on a 2 MiB boundary (__thp_get_unmapped_area()):
 *     |----- PMD 0 -----|----- PMD 1 -----|
 *      MADV_HUGEPAGE      not advised         (transparent_hugepage=madvise)
 */
import t from 'tap';
import { Kernel } from '../../src/kernel-model/kernel.js';
import { EAGAIN, EBUSY, EINVAL, ENOMEM } from '../../src/kernel-model/errno.js';
import { PAGE_SIZE, PMD_SIZE, HPAGE_PMD_NR, PG_anon_exclusive, PG_locked } from '../../src/kernel-model/page.js';
import { MAP_ANONYMOUS, MAP_FIXED, MAP_PRIVATE, MmStruct, PROT_READ, PROT_WRITE, TASK_SIZE, VM_HUGEPAGE, VM_NOHUGEPAGE, doMmap, doMprotect,
  doMunmap, vmaLookup } from '../../src/kernel-model/mm.js';
import { MADV_HUGEPAGE, MADV_NOHUGEPAGE, doMadvise } from '../../src/kernel-model/madvise.js';
import { userLoad, userStore } from '../../src/kernel-model/memory.js';
import { _PAGE_RW, _PAGE_SPECIAL, pteIndex } from '../../src/kernel-model/pgtable.js';
import { folioMapcount, folioEntireMapcount, pageMapcount, pageRefCount, folioTestLarge, folioOrder, compoundHead,
  testPageFlag, lockPage, getPage, putPage, unlockPage } from '../../src/kernel-model/page_alloc.js';
import { splitHugePmd, splitFolio, copyHugePmd } from '../../src/kernel-model/huge_memory.js';
import { pageAnonVma, rmapWalk } from '../../src/kernel-model/rmap.js';
import { FOLL_WRITE, pinUserPages, unpinUserPages } from '../../src/kernel-model/gup.js';
import { type HmmRange, HMM_PFN_REQ_FAULT, HMM_PFN_REQ_WRITE, HMM_PFN_VALID, HMM_PFN_WRITE, hmmPfnFlags, hmmPfnToPage,
  hmmPfnToMapOrder, hmmRangeFault } from '../../src/kernel-model/hmm.js';
import { mmuIntervalReadBegin } from '../../src/kernel-model/mmu_notifier.js';
import { MEMORY_DEVICE_PRIVATE } from '../../src/kernel-model/memremap.js';
import { type Asserts, FakeDevice, MiB, PRIVATE_BASE, migrateToDevice, migrateToSystem, recordingNotifier } from './fixtures/fake_device.js';
import { auditFolios } from './fixtures/folio_audit.js';
import { dupMm } from '../../src/kernel-model/fork.js';
import { IS_ERR } from '../../src/kernel-model/errno.js';
import type { ThpMode } from '../../src/kernel-model/machine.js';

const RW = PROT_READ | PROT_WRITE;
const ANON = MAP_PRIVATE | MAP_ANONYMOUS;
const NR = HPAGE_PMD_NR;

function setup(mode: ThpMode = 'madvise'): { k: Kernel; mm: MmStruct; a: number } {
  const k = new Kernel();
  k.transparentHugepage = mode;
  const mm = new MmStruct(k);
  const a = doMmap(mm, 0, 2 * PMD_SIZE, RW, ANON);
  return { k, mm, a };
}

/** One byte stored at the start of every page of [addr, addr + n pages): page i holds (seed + i) & 0xff. */
function stamp(mm: MmStruct, addr: number, n: number, seed: number): void {
  for (let i = 0; i < n; i++) userStore(mm, addr + i * PAGE_SIZE, new Uint8Array([(seed + i) & 0xff]));
}
function stampsOk(mm: MmStruct, addr: number, n: number, seed: number): boolean {
  const b = new Uint8Array(1);
  for (let i = 0; i < n; i++) {
    userLoad(mm, addr + i * PAGE_SIZE, b);
    if (b[0] !== ((seed + i) & 0xff)) return false;
  }
  return true;
}

function exitAndCheck(t: Asserts, k: Kernel, mm: MmStruct): void {
  mm.mmput();
  t.equal(k.pageAlloc.nrAllocated, 0, 'every page back after exit');
  t.equal(k.pageAlloc.large.size, k.hugetlb.nrHugePages, 'no large folio left but the hugetlb pool');
}

t.test('a 2 MiB multiple is placed on a 2 MiB boundary, whatever the THP mode', async (t) => {
  const { k, mm, a } = setup('never');
  t.equal(a % PMD_SIZE, 0, '4 MiB at a PMD boundary');
  const b = doMmap(mm, 0, 3 * PAGE_SIZE, RW, ANON);
  t.not(b % PMD_SIZE, 0, 'a small mapping is not aligned');
  exitAndCheck(t, k, mm);
});

t.test('madvise(MADV_HUGEPAGE) range faults as one PMD-mapped folio (madvise mode)', async (t) => {
  const { k, mm, a } = setup('madvise');
  t.equal(doMadvise(mm, a, PMD_SIZE, MADV_HUGEPAGE), 0);
  t.equal(mm.vmas.length, 2, 'the VMA split at the advised range');
  t.ok(vmaLookup(mm, a)!.vmFlags & VM_HUGEPAGE, 'VM_HUGEPAGE on the advised part');
  t.notOk(vmaLookup(mm, a + PMD_SIZE)!.vmFlags & VM_HUGEPAGE, 'not on the rest');
  stamp(mm, a, NR, 7);
  const h = mm.pgtable.lookupHuge(a);
  t.ok(h !== undefined, 'a huge PMD');
  t.equal(mm.pgtable.lookup(a), undefined, 'no pte page under it');
  const head = h!.pfn;
  t.equal(h!.val & _PAGE_RW, _PAGE_RW, 'writable');
  t.equal(folioOrder(k, head), 9, 'order 9');
  t.equal(folioOrder(k, head + 100), 9, 'a tail knows the order');
  t.equal(compoundHead(k, head + 511), head, 'compound_head() of the last tail');
  t.equal(folioEntireMapcount(k, head), 1, 'entire mapcount 1');
  t.equal(folioMapcount(k, head), 1, 'folio_mapcount() 1');
  t.equal(pageMapcount(k, head + 3), 1, 'page_mapcount() of a tail counts the PMD');
  t.equal(pageRefCount(k, head), 1, 'one reference, the PMD\'s');
  t.equal(pageRefCount(k, head + 1), 0, 'tails hold none');
  t.ok(testPageFlag(k, head, PG_anon_exclusive), 'PageAnonExclusive on the head');
  t.equal(k.pageAlloc.nrAllocated, NR, '512 pages allocated, as one folio');
  t.equal(mm.rssAnon, NR, 'MM_ANONPAGES grows by 512');
  t.ok(stampsOk(mm, a, NR, 7), 'every page keeps its data');
  // The range that was not advised gets 4 KiB pages.
  userStore(mm, a + PMD_SIZE, new Uint8Array([1]));
  t.equal(mm.pgtable.lookupHuge(a + PMD_SIZE), undefined, 'no huge PMD without the advice');
  t.equal(k.pageAlloc.nrAllocated, NR + 1, 'one more 4 KiB page');
  t.same(auditFolios(k, [mm]), []);
  exitAndCheck(t, k, mm);
});

t.test('no THP when the mode is never, or MADV_NOHUGEPAGE in always mode', async (t) => {
  for (const [mode, advice] of [['never', MADV_HUGEPAGE], ['always', MADV_NOHUGEPAGE]] as const) {
    const { k, mm, a } = setup(mode);
    t.equal(doMadvise(mm, a, 2 * PMD_SIZE, advice), 0);
    if (advice === MADV_NOHUGEPAGE) t.ok(vmaLookup(mm, a)!.vmFlags & VM_NOHUGEPAGE, 'VM_NOHUGEPAGE');
    userStore(mm, a, new Uint8Array([1]));
    t.equal(mm.pgtable.huge.size, 0, `${mode}: no huge PMD`);
    t.equal(k.pageAlloc.nrAllocated, 1, `${mode}: one 4 KiB page`);
    exitAndCheck(t, k, mm);
  }
});

t.test('always mode: every aligned 2 MiB of an anonymous VMA; read faults map the huge zero page', async (t) => {
  const { k, mm, a } = setup('always');
  const b = new Uint8Array(8);
  userLoad(mm, a + PMD_SIZE + 5 * PAGE_SIZE, b);
  const z = mm.pgtable.lookupHuge(a + PMD_SIZE)!;
  t.equal(z.pfn, k.hugeZeroPfn, 'a read maps the huge zero page');
  t.equal(z.val & (_PAGE_RW | _PAGE_SPECIAL), _PAGE_SPECIAL, 'read-only, special');
  t.equal(k.pageAlloc.nrAllocated, 0, 'and allocates nothing');
  userStore(mm, a, new Uint8Array([1]));
  t.ok(folioTestLarge(k, mm.pgtable.lookupHuge(a)!.pfn), 'a write maps a THP without madvise');
  // A write to the huge zero page splits it and copies one 4 KiB page (6.12 does not copy 2 MiB).
  userStore(mm, a + PMD_SIZE + 5 * PAGE_SIZE, new Uint8Array([9]));
  t.equal(mm.pgtable.lookupHuge(a + PMD_SIZE), undefined, 'the huge zero PMD is split');
  const tbl = mm.pgtable.lookup(a + PMD_SIZE)!;
  t.equal(tbl.pfn[4], k.zeroPfn, 'its other ptes map the 4 KiB zero page');
  t.not(tbl.pfn[5], k.zeroPfn, 'the written one has its own page');
  t.equal(k.pageAlloc.nrAllocated, NR + 1);
  t.same(auditFolios(k, [mm]), []);
  exitAndCheck(t, k, mm);
});

t.test('MADV_HUGEPAGE: -EINVAL for an unaligned start or unknown advice, -ENOMEM over a hole (mapped parts advised)', async (t) => {
  const { k, mm, a } = setup();
  t.equal(doMadvise(mm, a + 1, PAGE_SIZE, MADV_HUGEPAGE), -EINVAL);
  // madvise_behavior_valid(): 200 is no advice; MADV_MERGEABLE (12) needs CONFIG_KSM, which the reference kernel lacks.
  t.equal(doMadvise(mm, a, PAGE_SIZE, 200), -EINVAL);
  t.equal(doMadvise(mm, a, PAGE_SIZE, 12), -EINVAL);
  t.equal(doMunmap(mm, a + PMD_SIZE, PAGE_SIZE), 0);
  t.equal(doMadvise(mm, a, 2 * PMD_SIZE, MADV_HUGEPAGE), -ENOMEM);
  t.ok(vmaLookup(mm, a + PMD_SIZE + PAGE_SIZE)!.vmFlags & VM_HUGEPAGE, 'the VMA after the hole is advised');
  t.equal(doMadvise(mm, a, 0, MADV_HUGEPAGE), 0, 'len 0');
  exitAndCheck(t, k, mm);
});

t.test('madvise: a range past TASK_SIZE is -ENOMEM (an unmapped part), not -EINVAL; only a wrap-around or a length rounding to 0 is -EINVAL', async (t) => {
  const { k, mm, a } = setup();
  const P = PAGE_SIZE;
  //   TASK_SIZE - 2P     TASK_SIZE
  //   |  top  |  top  |..........   the last two pages of user space, mapped
  const top = doMmap(mm, TASK_SIZE - 2 * P, 2 * P, RW, ANON | MAP_FIXED);
  t.equal(top, TASK_SIZE - 2 * P);
  t.equal(doMadvise(mm, TASK_SIZE, P, MADV_HUGEPAGE), -ENOMEM, 'wholly above TASK_SIZE: nothing mapped there');
  t.equal(doMadvise(mm, top, 4 * P, MADV_HUGEPAGE), -ENOMEM, 'from the top VMA across TASK_SIZE');
  t.ok(vmaLookup(mm, top)!.vmFlags & VM_HUGEPAGE, 'the mapped part is advised');
  t.equal(doMadvise(mm, a, 2 ** 60, MADV_NOHUGEPAGE), -ENOMEM, 'a huge length that does not wrap: a walk with holes');
  t.ok(vmaLookup(mm, a)!.vmFlags & VM_NOHUGEPAGE, 'the VMA at a is advised');
  t.ok(vmaLookup(mm, top)!.vmFlags & VM_NOHUGEPAGE, 'and the top one');
  t.equal(doMadvise(mm, a, -(2 ** 63), MADV_HUGEPAGE), -ENOMEM, 'len_in 2^63 (size_t): no wrap either');
  t.equal(doMadvise(mm, a, -a, MADV_HUGEPAGE), -EINVAL, 'start + len == 2^64: wraps to 0 (end < start)');
  t.equal(doMadvise(mm, a, -P, MADV_HUGEPAGE), -EINVAL, 'len_in 2^64 - 4096: wraps');
  t.equal(doMadvise(mm, a, -1, MADV_HUGEPAGE), -EINVAL, 'len_in 2^64 - 1 rounds up to 0');
  exitAndCheck(t, k, mm);
});

/** A madvised, written THP at a with page i stamped (seed + i). */
function thp(seed = 3): { k: Kernel; mm: MmStruct; a: number; head: number } {
  const s = setup();
  doMadvise(s.mm, s.a, 2 * PMD_SIZE, MADV_HUGEPAGE);
  stamp(s.mm, s.a, NR, seed);
  return { ...s, head: s.mm.pgtable.lookupHuge(s.a)!.pfn };
}

t.test('split_huge_pmd(): 512 ptes of the same folio, data and mapcounts right', async (t) => {
  const { k, mm, a, head } = thp();
  const { seen } = recordingNotifier(mm, a, 2 * PMD_SIZE);
  splitHugePmd(vmaLookup(mm, a)!, a + 17 * PAGE_SIZE);
  t.same(seen.map((s) => [s.event, s.start, s.end]), [['CLEAR', a, a + PMD_SIZE]], 'one MMU_NOTIFY_CLEAR over the 2 MiB');
  t.equal(mm.pgtable.lookupHuge(a), undefined, 'no huge PMD');
  const tbl = mm.pgtable.lookup(a)!;
  t.equal(tbl.used, NR, '512 ptes');
  let ok = true;
  for (let i = 0; i < NR; i++) ok &&= tbl.pfn[i] === head + i && (tbl.val[i] & _PAGE_RW) !== 0;
  t.ok(ok, 'pte i maps page i of the folio, writable');
  t.ok(folioTestLarge(k, head), 'the folio stays large (PTE-mapped THP)');
  t.equal(folioEntireMapcount(k, head), 0, 'entire mapcount 0');
  t.equal(folioMapcount(k, head), NR, 'folio_mapcount() 512');
  t.equal(k.pageAlloc.large.get(head)!.nrPagesMapped, NR, '_nr_pages_mapped 512');
  t.equal(pageRefCount(k, head), NR, 'a folio reference per pte');
  t.ok(testPageFlag(k, head + 200, PG_anon_exclusive), 'every page PageAnonExclusive');
  t.equal(mm.rssAnon, NR, 'rss unchanged');
  t.ok(stampsOk(mm, a, NR, 3), 'data intact');
  t.same(auditFolios(k, [mm]), []);
  exitAndCheck(t, k, mm);
});

t.test('munmap of part of a huge PMD splits it; the rest stays mapped, the folio is freed whole at exit', async (t) => {
  const { k, mm, a, head } = thp();
  const { seen } = recordingNotifier(mm, a, 2 * PMD_SIZE);
  t.equal(doMunmap(mm, a, PMD_SIZE / 2), 0);
  t.same(seen.map((s) => s.event), ['CLEAR', 'UNMAP'], 'split (vma_adjust_trans_huge()), then the unmap');
  t.equal(mm.pgtable.lookupHuge(a), undefined);
  t.equal(folioMapcount(k, head), NR / 2, 'half the folio still mapped');
  t.equal(pageMapcount(k, head), 0, 'the head is not');
  t.equal(pageRefCount(k, head), NR / 2);
  t.equal(k.pageAlloc.nrAllocated, NR, 'the folio is not split nor freed (no deferred split)');
  t.ok(stampsOk(mm, a + PMD_SIZE / 2, NR / 2, 3 + NR / 2), 'the other half keeps its data');
  t.same(auditFolios(k, [mm]), []);
  exitAndCheck(t, k, mm);
});

t.test('munmap and mprotect of a whole huge PMD act on the PMD', async (t) => {
  const { k, mm, a, head } = thp();
  t.equal(doMprotect(mm, a, PMD_SIZE, PROT_READ), 0);
  const h = mm.pgtable.lookupHuge(a)!;
  t.equal(h.val & _PAGE_RW, 0, 'read-only PMD, not split');
  t.equal(doMprotect(mm, a, PMD_SIZE, RW), 0);
  t.equal(mm.pgtable.lookupHuge(a)!.val & _PAGE_RW, _PAGE_RW, 'write back at once for an exclusive folio');
  t.equal(doMprotect(mm, a, PAGE_SIZE, PROT_READ), 0);
  t.equal(mm.pgtable.lookupHuge(a), undefined, 'mprotect of one page splits the PMD');
  t.equal(mm.pgtable.lookup(a)!.val[0] & _PAGE_RW, 0, 'that page is read-only');
  t.equal(mm.pgtable.lookup(a)!.val[1] & _PAGE_RW, _PAGE_RW, 'the next is not');
  t.equal(doMunmap(mm, a, PMD_SIZE), 0);
  t.equal(k.pageAlloc.nrAllocated, 0, 'munmap of all 512 ptes frees the folio');
  t.notOk(k.pageAlloc.large.has(head));
  const { k: k2, mm: mm2, a: a2 } = thp();
  t.equal(doMunmap(mm2, a2, PMD_SIZE), 0);
  t.equal(k2.pageAlloc.nrAllocated, 0, 'zap_huge_pmd() frees a PMD-mapped folio');
  t.equal(mm2.rssAnon, 0);
  exitAndCheck(t, k, mm);
});

t.test('a write to a read-only THP that is shared splits it and copies one page; an exclusive one is reused', async (t) => {
  const { k, mm, a, head } = thp();
  doMprotect(mm, a, PMD_SIZE, PROT_READ);
  k.memmap.block(head).flags[0] &= ~PG_anon_exclusive; // as after fork
  getPage(k, head); // another user's reference
  doMprotect(mm, a, PMD_SIZE, RW);
  t.equal(mm.pgtable.lookupHuge(a)!.val & _PAGE_RW, 0, 'no write back for a non-exclusive folio');
  userStore(mm, a + 3 * PAGE_SIZE, new Uint8Array([0xee]));
  t.equal(mm.pgtable.lookupHuge(a), undefined, 'split');
  t.not(mm.pgtable.lookup(a)!.pfn[3], head + 3, 'the written page is a copy');
  t.ok(stampsOk(mm, a + 4 * PAGE_SIZE, 10, 7), 'the others map the folio still');
  putPage(k, head);
  exitAndCheck(t, k, mm);
});

function range(mm: MmStruct, start: number, npages: number, flags: number): HmmRange {
  const { mni } = recordingNotifier(mm, start, npages * PAGE_SIZE);
  return { notifier: mni, notifierSeq: mmuIntervalReadBegin(mni), start, end: start + npages * PAGE_SIZE,
    hmmPfns: new Float64Array(npages), defaultFlags: flags, pfnFlagsMask: 0, devPrivateOwner: null };
}

t.test('hmm_range_fault() faults a THP in and reports the PMD order', async (t) => {
  const { k, mm, a } = setup();
  doMadvise(mm, a, PMD_SIZE, MADV_HUGEPAGE);
  const r = range(mm, a, NR, HMM_PFN_REQ_FAULT | HMM_PFN_REQ_WRITE);
  t.equal(hmmRangeFault(r), 0);
  const head = mm.pgtable.lookupHuge(a)!.pfn;
  t.equal(k.pageAlloc.nrAllocated, NR, 'one folio');
  let ok = true;
  for (let i = 0; i < NR; i++) {
    ok &&= hmmPfnToPage(r.hmmPfns[i]) === head + i && hmmPfnToMapOrder(r.hmmPfns[i]) === 9 &&
      (hmmPfnFlags(r.hmmPfns[i]) & (HMM_PFN_VALID | HMM_PFN_WRITE)) === (HMM_PFN_VALID | HMM_PFN_WRITE);
  }
  t.ok(ok, 'each pfn: page i of the folio, VALID|WRITE, order 9');
  // A snapshot of the huge zero page: valid, read-only, order 9.
  userLoad(mm, a + PMD_SIZE, new Uint8Array(1));
  doMadvise(mm, a + PMD_SIZE, PMD_SIZE, MADV_HUGEPAGE);
  const s = range(mm, a + PMD_SIZE, 4, 0);
  t.equal(hmmRangeFault(s), 0);
  t.equal(hmmPfnFlags(s.hmmPfns[0]) & (HMM_PFN_VALID | HMM_PFN_WRITE), HMM_PFN_VALID, 'zero: valid, not writable');
  t.equal(hmmPfnToMapOrder(s.hmmPfns[0]), 0, 'the pte-mapped 4 KiB zero page (it was faulted before the advice) has order 0');
  // A snapshot after a split reports order 0.
  splitHugePmd(vmaLookup(mm, a)!, a);
  const p = range(mm, a, 2, 0);
  t.equal(hmmRangeFault(p), 0);
  t.equal(hmmPfnToMapOrder(p.hmmPfns[1]), 0, 'a PTE-mapped THP page has order 0');
  exitAndCheck(t, k, mm);
});

t.test('hmm_range_fault() snapshot of the huge zero page', async (t) => {
  const { k, mm, a } = setup('always');
  userLoad(mm, a, new Uint8Array(1));
  const s = range(mm, a, 3, 0);
  t.equal(hmmRangeFault(s), 0);
  t.equal(hmmPfnToPage(s.hmmPfns[2]), k.hugeZeroPfn + 2);
  t.equal(hmmPfnFlags(s.hmmPfns[2]) & (HMM_PFN_VALID | HMM_PFN_WRITE), HMM_PFN_VALID);
  t.equal(hmmPfnToMapOrder(s.hmmPfns[2]), 9);
  const w = range(mm, a, 1, HMM_PFN_REQ_FAULT | HMM_PFN_REQ_WRITE);
  t.equal(hmmRangeFault(w), -EBUSY, 'a write fault on it splits the PMD: the notifier says retry');
  w.notifierSeq = mmuIntervalReadBegin(w.notifier);
  t.equal(hmmRangeFault(w), 0, 'the retry succeeds');
  t.equal(hmmPfnToMapOrder(w.hmmPfns[0]), 0, 'splits it: a 4 KiB page');
  exitAndCheck(t, k, mm);
});

t.test('split_folio(): 512 order-0 folios, data kept; -EAGAIN with an extra reference', async (t) => {
  const { k, mm, a, head } = thp();
  getPage(k, head);
  lockPage(k, head);
  getPage(k, head); // someone else's pin
  t.equal(splitFolio(k, head), -EAGAIN, 'an unexpected reference');
  putPage(k, head);
  const { seen } = recordingNotifier(mm, a, PMD_SIZE);
  t.equal(splitFolio(k, head), 0);
  t.same(seen.map((s) => s.event), ['CLEAR'], 'the PMD is split under MMU_NOTIFY_CLEAR');
  t.notOk(folioTestLarge(k, head + 5), 'order 0');
  t.equal(k.pageAlloc.large.has(head), false, 'no folio record');
  t.ok(testPageFlag(k, head, PG_locked), 'the head stays locked');
  t.notOk(testPageFlag(k, head + 1, PG_locked), 'the tails are not');
  t.equal(pageRefCount(k, head), 2, 'head: mapping + caller');
  t.equal(pageRefCount(k, head + 9), 1, 'tail: its mapping');
  t.same(auditFolios(k, [mm], new Map([[head, 1]])), []);
  unlockPage(k, head);
  putPage(k, head);
  t.ok(stampsOk(mm, a, NR, 3), 'data intact');
  t.equal(doMunmap(mm, a, PAGE_SIZE * 10), 0);
  t.equal(k.pageAlloc.nrAllocated, NR - 10, 'pages are freed one by one now');
  exitAndCheck(t, k, mm);
});

t.test('migrate_vma_setup() on a THP splits it (6.12) and migrates every page; a PTE-mapped THP is skipped', async (t) => {
  const { k, mm, a } = thp(11);
  const dev = new FakeDevice(k, MEMORY_DEVICE_PRIVATE, PRIVATE_BASE, 4 * MiB);
  t.equal(dev.register(), 0);
  const vma = vmaLookup(mm, a)!;
  const r = migrateToDevice(dev, vma, a, NR);
  t.equal(r.ret, 0);
  t.equal(r.cpages, NR, 'all 512 collected after the split');
  t.equal(k.pageAlloc.nrAllocated, 0, 'the system pages are freed');
  const back = migrateToSystem(dev, vma, a, NR);
  t.equal(back.cpages, NR);
  t.ok(stampsOk(mm, a, NR, 11), 'data came back');
  t.same(auditFolios(k, [mm]), []);
  // A PTE-mapped THP is not migrated ("FIXME support THP").
  const b = a + PMD_SIZE;
  doMadvise(mm, b, PMD_SIZE, MADV_HUGEPAGE);
  stamp(mm, b, 4, 1);
  splitHugePmd(vmaLookup(mm, b)!, b);
  const r2 = migrateToDevice(dev, vmaLookup(mm, b)!, b, 4);
  t.equal(r2.cpages, 0, 'nothing collected');
  t.ok(folioTestLarge(k, mm.pgtable.lookup(b)!.pfn[0]), 'still a large folio');
  exitAndCheck(t, k, mm);
});

t.test('rmap of a PTE-mapped THP: a tail page is found at the folio index plus its offset', async (t) => {
  const { k, mm, a, head } = thp();
  splitHugePmd(vmaLookup(mm, a)!, a);
  const found: number[] = [];
  rmapWalk(k, head + 5, (_vma, addr) => found.push(addr));
  t.same(found, [a + 5 * PAGE_SIZE]);
  exitAndCheck(t, k, mm);
});

t.test('copy_huge_pmd() (for fork): both share the folio read-only; a write splits and copies one page', async (t) => {
  const { k, mm, a, head } = thp(5);
  const child = new MmStruct(k);
  t.equal(doMmap(child, a, 2 * PMD_SIZE, RW, ANON | MAP_FIXED), a);
  const cvma = vmaLookup(child, a)!, pvma = vmaLookup(mm, a)!;
  cvma.vmFlags = pvma.vmFlags;
  cvma.anonVma = pvma.anonVma; // anon_vma_fork(), the fork engineer's part
  pvma.anonVma!.vmas.add(cvma);
  t.equal(copyHugePmd(cvma, pvma, a), 0);
  t.equal(folioEntireMapcount(k, head), 2, 'two PMD mappings');
  t.equal(pageRefCount(k, head), 2, 'two references');
  t.notOk(testPageFlag(k, head, PG_anon_exclusive), 'no longer exclusive');
  t.equal(mm.pgtable.lookupHuge(a)!.val & _PAGE_RW, 0, 'parent write-protected');
  t.equal(child.pgtable.lookupHuge(a)!.val & _PAGE_RW, 0, 'child read-only');
  t.same(auditFolios(k, [mm, child]), []);
  userStore(child, a + 2 * PAGE_SIZE, new Uint8Array([0xaa]));
  t.equal(child.pgtable.lookupHuge(a), undefined, 'the child\'s PMD is split');
  t.ok(stampsOk(mm, a, NR, 5), 'the parent sees its data');
  t.ok(stampsOk(child, a + 3 * PAGE_SIZE, 10, 8), 'the child shares the rest');
  t.same(auditFolios(k, [mm, child]), []);
  child.mmput();
  exitAndCheck(t, k, mm);
});

t.test('after fork, the last mapper of a THP reuses it on write: folio_move_anon_rmap() to its own anon_vma, PageAnonExclusive', async (t) => {
  const { k, mm, a, head } = thp(5);
  const child = dupMm(k, mm);
  if (IS_ERR(child)) throw new Error('fork failed');
  const pvma = vmaLookup(mm, a)!, cvma = vmaLookup(child, a)!;
  // Identity checks with t.ok(): a failing t.equal() would try to diff two whole Kernels.
  t.ok(pageAnonVma(k, head) === pvma.anonVma, 'the folio is in the parent\'s anon_vma');
  t.ok(cvma.anonVma !== null && cvma.anonVma !== pvma.anonVma, 'the child has an anon_vma of its own (anon_vma_fork())');
  t.notOk(testPageFlag(k, head, PG_anon_exclusive), 'shared after fork');
  mm.mmput(); // the parent goes: the child's PMD holds the only reference
  t.equal(pageRefCount(k, head), 1);
  userStore(child, a + 2 * PAGE_SIZE, new Uint8Array([0xaa]));
  const h = child.pgtable.lookupHuge(a);
  t.ok(h !== undefined && h.pfn === head && (h.val & _PAGE_RW) !== 0, 'reused in place: still the PMD, now writable');
  t.ok(pageAnonVma(k, head) === cvma.anonVma, 'moved to the child\'s anon_vma (folio_move_anon_rmap())');
  t.ok(testPageFlag(k, head, PG_anon_exclusive), 'PageAnonExclusive');
  t.ok(stampsOk(child, a + 3 * PAGE_SIZE, 10, 8), 'data kept');
  t.same(auditFolios(k, [child]), []);
  exitAndCheck(t, k, child);
});

/* ---- Break the mechanisms on purpose: the checks above must notice. ---- */

t.test('broken: a split_huge_pmd() that loses the folio mapcount is caught by the audit', async (t) => {
  const { k, mm, a, head } = thp();
  const f = k.pageAlloc.large.get(head)!;
  let frozen = f.largeMapcount;
  Object.defineProperty(f, 'largeMapcount', { get: () => frozen, set: (v: number) => { if (v < frozen) frozen = v; } });
  splitHugePmd(vmaLookup(mm, a)!, a);
  const problems = auditFolios(k, [mm]);
  t.ok(problems.some((p) => /large_mapcount 0, mappings 512/.test(p)), `reported: ${problems.join('; ')}`);
  t.ok(folioMapcount(k, head) !== NR, 'folio_mapcount() is wrong');
});

t.test('broken: a zap that leaks the huge page is caught by the allocator count', async (t) => {
  const { k, mm, a } = thp();
  k.pageAlloc.freeFolio = () => {};
  doMunmap(mm, a, PMD_SIZE);
  mm.mmput();
  t.equal(k.pageAlloc.nrAllocated, NR, 'the 512 pages are missing: exitAndCheck() would fail');
});

t.test('fork of a PTE-mapped THP: the child shares the large folio (copy_present_ptes()), mapcounts stay right, COW keeps data', async (t) => {
  const { k, mm, a } = setup('madvise');
  doMadvise(mm, a, PMD_SIZE, MADV_HUGEPAGE);
  stamp(mm, a, NR, 5);
  const head = mm.pgtable.lookupHuge(a)!.pfn;
  splitHugePmd(vmaLookup(mm, a)!, a);
  t.equal(mm.pgtable.lookupHuge(a), undefined, 'PTE-mapped now');
  const child = dupMm(k, mm);
  if (IS_ERR(child)) throw new Error('fork failed');
  t.same(auditFolios(k, [mm, child]), [], 'page and folio counts agree with both page tables');
  t.equal(folioMapcount(k, head), 2 * NR, 'every page mapped twice');
  stamp(mm, a, 4, 100); // the parent writes four pages: copies
  t.ok(stampsOk(child, a, NR, 5), 'the child keeps the old data');
  t.ok(stampsOk(mm, a, 4, 100) && stampsOk(mm, a + 4 * PAGE_SIZE, NR - 4, 9), 'the parent sees its writes and the rest');
  t.same(auditFolios(k, [mm, child]), []);
  child.mmput();
  exitAndCheck(t, k, mm);
});

t.test('fork of a pinned THP: copy_huge_pmd() splits and the child gets copies, the pinned pages stay the parent\'s', async (t) => {
  const { k, mm, a } = setup('madvise');
  doMadvise(mm, a, PMD_SIZE, MADV_HUGEPAGE);
  stamp(mm, a, NR, 11);
  const head = mm.pgtable.lookupHuge(a)!.pfn;
  const pins = new Float64Array(1);
  t.equal(pinUserPages(mm, a, 1, FOLL_WRITE, pins), 1, 'pin_user_pages(): _pincount 1, and MMF_HAS_PINNED');
  const child = dupMm(k, mm);
  if (IS_ERR(child)) throw new Error('fork failed');
  t.equal(mm.pgtable.lookupHuge(a), undefined, 'the parent\'s PMD was split');
  t.equal(child.pgtable.lookup(a)!.pfn[pteIndex(a)] === head, false, 'the child maps a copy, not the pinned folio');
  t.ok(stampsOk(child, a, NR, 11), 'with the same data');
  t.same(auditFolios(k, [mm, child], new Map([[head, 1]])), [], 'counts right, the pin\'s reference included');
  unpinUserPages(k, pins, 1);
  child.mmput();
  exitAndCheck(t, k, mm);
});
