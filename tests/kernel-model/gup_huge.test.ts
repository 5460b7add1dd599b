// SPDX-License-Identifier: GPL-2.0-only
/*
 * gup and device-exclusive entries on large folios (gup.ts follow_pmd_mask()
 * / follow_huge_pmd(), try_grab_folio() with _pincount; rmap.ts
 * make_device_exclusive_range() with FOLL_SPLIT_PMD and PageTail();
 * memory.ts restore and zap of exclusive entries of a large folio): what
 * hmm-tests' exclusive cases meet with transparent_hugepage=always, where
 * 6.12's EXCLUSIVE answers -EBUSY.
 *
 *   A 2 MiB mapping on a PMD boundary, one THP:
 *     |H t t t ... t|    H = head page, t = tail pages (511)
 *   FOLL_SPLIT_PMD turns the PMD into 512 ptes of the same folio; only H's
 *   slot of pages[] can name the folio, so a 64-page EXCLUSIVE step maps 1.
 */
import t from 'tap';
import { Kernel } from '../../src/kernel-model/kernel.js';
import { PAGE_SIZE, PMD_SIZE, HPAGE_PMD_NR, PG_locked } from '../../src/kernel-model/page.js';
import { MAP_ANONYMOUS, MAP_HUGETLB, MAP_PRIVATE, MmStruct, PROT_READ, PROT_WRITE, doMmap, vmaLookup } from '../../src/kernel-model/mm.js';
import { userLoad, userStore } from '../../src/kernel-model/memory.js';
import { pteIndex, ptePresent, swpType, SWP_DEVICE_EXCLUSIVE_WRITE } from '../../src/kernel-model/pgtable.js';
import { compoundHead, folioMapcount, largeFolio, pageRefCount, putPage, testPageFlag,
  unlockPage } from '../../src/kernel-model/page_alloc.js';
import { FOLL_GET, FOLL_SPLIT_PMD, FOLL_WRITE, GUP_PIN_COUNTING_BIAS, folioMaybeDmaPinned, getUserPages,
  getUserPagesFast, getUserPagesRemote, pinUserPages, pinUserPagesFast, unpinUserPages } from '../../src/kernel-model/gup.js';
import { splitHugePmd } from '../../src/kernel-model/huge_memory.js';
import { folioNeedsCowForDma, makeDeviceExclusiveRange } from '../../src/kernel-model/rmap.js';
import { recordingNotifier } from './fixtures/fake_device.js';

const P = PAGE_SIZE;
const RW = PROT_READ | PROT_WRITE;
const OWNER = { name: 'the device' };

/** A fresh kernel with THP "always" and one written 2 MiB THP at a. */
function thp(): { k: Kernel; mm: MmStruct; a: number; head: number } {
  const k = new Kernel();
  k.transparentHugepage = 'always';
  const mm = new MmStruct(k);
  const a = doMmap(mm, 0, PMD_SIZE, RW, MAP_PRIVATE | MAP_ANONYMOUS);
  for (let i = 0; i < HPAGE_PMD_NR; i++) userStore(mm, a + i * P, new Uint8Array([i & 0xff, i >> 8]));
  const h = mm.pgtable.lookupHuge(a);
  if (h === undefined) throw new Error('no THP');
  return { k, mm, a, head: h.pfn };
}
function dataOk(mm: MmStruct, a: number): boolean {
  const b = new Uint8Array(2);
  for (let i = 0; i < HPAGE_PMD_NR; i++) {
    userLoad(mm, a + i * P, b);
    if (b[0] !== (i & 0xff) || b[1] !== i >> 8) return false;
  }
  return true;
}

t.test('get_user_pages on a PMD-mapped THP: each subpage, references on the folio, the PMD stays', async (t) => {
  const { k, mm, a, head } = thp();
  const pages = new Float64Array(HPAGE_PMD_NR);
  t.equal(getUserPages(mm, a, HPAGE_PMD_NR, FOLL_WRITE, pages), HPAGE_PMD_NR, 'every page, no livelock');
  t.ok(pages.every((p, i) => p === head + i), 'pages[i] is the i-th subpage (follow_huge_pmd())');
  t.equal(pageRefCount(k, head), 1 + HPAGE_PMD_NR, 'one reference per page, on the head');
  t.ok(mm.pgtable.lookupHuge(a) !== undefined, 'still PMD-mapped');
  t.notOk(folioMaybeDmaPinned(k, head + 7), 'references are not pins');
  for (const p of pages) putPage(k, p);
  t.equal(pageRefCount(k, head), 1);
  mm.mmput();
  t.equal(k.pageAlloc.nrAllocated, 0);
});

t.test('pin_user_pages on a THP counts _pincount, not GUP_PIN_COUNTING_BIAS; unpin undoes it', async (t) => {
  const { k, mm, a, head } = thp();
  const pages = new Float64Array(3);
  t.equal(pinUserPages(mm, a + 5 * P, 3, FOLL_WRITE, pages), 3);
  t.equal(largeFolio(k, head)!.pincount, 3, '_pincount');
  t.equal(pageRefCount(k, head), 1 + 3, 'one reference per pin');
  t.ok(folioMaybeDmaPinned(k, head + 200), 'any page of the folio is maybe pinned');
  t.ok(folioNeedsCowForDma(vmaLookup(mm, a)!, head + 200), 'so fork must copy it');
  unpinUserPages(k, pages, 3);
  t.equal(largeFolio(k, head)!.pincount, 0);
  t.equal(pageRefCount(k, head), 1);
  t.notOk(folioNeedsCowForDma(vmaLookup(mm, a)!, head));
  mm.mmput();
  t.equal(k.pageAlloc.nrAllocated, 0);
});

t.test('a PTE-mapped THP with 1024+ references is not taken for pinned', async (t) => {
  const { k, mm, a, head } = thp();
  const pages = new Float64Array(HPAGE_PMD_NR);
  // FOLL_SPLIT_PMD: 512 pte references, then 512 gup references.
  t.equal(getUserPagesRemote(mm, a, HPAGE_PMD_NR, FOLL_WRITE | FOLL_SPLIT_PMD, pages), HPAGE_PMD_NR);
  t.equal(mm.pgtable.lookupHuge(a), undefined, 'the PMD was split');
  t.ok(pageRefCount(k, head) >= GUP_PIN_COUNTING_BIAS, 'refcount past the small-folio bias');
  t.notOk(folioMaybeDmaPinned(k, head + 1));
  t.notOk(folioNeedsCowForDma(vmaLookup(mm, a)!, head + 1));
  for (const p of pages) putPage(k, p);
  mm.mmput();
  t.equal(k.pageAlloc.nrAllocated, 0);
});

t.test('pin_user_pages_fast on a PTE-mapped THP pins the folio (_pincount), head and tail alike; unpin undoes it', async (t) => {
  const { k, mm, a, head } = thp();
  splitHugePmd(vmaLookup(mm, a)!, a);
  t.equal(mm.pgtable.lookupHuge(a), undefined, 'PTE-mapped: gup_fast walks its ptes');
  const refs = pageRefCount(k, head);
  t.equal(refs, HPAGE_PMD_NR, 'one reference per pte, on the folio');
  const pages = new Float64Array(3);
  // The head page first: its own refcount is the folio's, so a page-level grab would count a small-folio bias here.
  t.equal(pinUserPagesFast(mm, a, 3, FOLL_WRITE, pages), 3);
  t.same([...pages], [head, head + 1, head + 2], 'the subpages');
  t.equal(largeFolio(k, head)!.pincount, 3, 'three pins in _pincount (try_grab_folio_fast())');
  t.equal(pageRefCount(k, head), refs + 3, 'one reference per pin, no GUP_PIN_COUNTING_BIAS');
  unpinUserPages(k, pages, 3);
  t.equal(largeFolio(k, head)!.pincount, 0);
  t.equal(pageRefCount(k, head), refs);
  const got = new Float64Array(2);
  t.equal(getUserPagesFast(mm, a + 7 * P, 2, 0, got), 2, 'get_user_pages_fast: a reference each, on the folio');
  t.equal(pageRefCount(k, head), refs + 2);
  for (const p of got) putPage(k, p);
  t.equal(k.warnings.length, 0, 'no WARN');
  mm.mmput();
  t.equal(k.pageAlloc.nrAllocated, 0);
});

t.test('get_user_pages on a hugetlb page follows its PMD; FOLL_SPLIT_PMD does not split it', async (t) => {
  const k = new Kernel();
  const mm = new MmStruct(k);
  const a = doMmap(mm, 0, PMD_SIZE, RW, MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB);
  t.ok(a > 0);
  userStore(mm, a + 3 * P, new Uint8Array([42]));
  const pages = new Float64Array(4);
  t.equal(getUserPagesRemote(mm, a, 4, FOLL_WRITE | FOLL_SPLIT_PMD, pages), 4);
  const head = mm.pgtable.lookupHuge(a)!.pfn;
  t.same([...pages], [head, head + 1, head + 2, head + 3]);
  for (const p of pages) putPage(k, p);
  mm.mmput();
  t.equal(k.hugetlb.freeHugePages, k.hugetlb.nrHugePages, 'back in the pool');
});

/** dmirror_exclusive()'s first 64-page step over the THP. */
function exclusiveStep(mm: MmStruct, a: number): { ret: number; pages: Float64Array } {
  const pages = new Float64Array(64);
  const ret = makeDeviceExclusiveRange(mm, a, a + 64 * P, pages, OWNER);
  return { ret, pages };
}

t.test('make_device_exclusive_range over a THP: the PMD is split, the whole folio made exclusive, tails NULL', async (t) => {
  const { k, mm, a, head } = thp();
  const { seen } = recordingNotifier(mm, a, PMD_SIZE);
  const { ret, pages } = exclusiveStep(mm, a);
  t.equal(ret, 64, 'gup found 64 pages');
  t.equal(pages[0], head, 'the head names the folio');
  t.ok(pages.subarray(1).every((p) => p === 0), 'tail pages are NULL (PageTail())');
  t.ok(testPageFlag(k, head, PG_locked), 'the folio is locked for the caller');
  t.equal(folioMapcount(k, head), 0, 'no pte maps the folio any more');
  let exclusive = 0;
  const tb = mm.pgtable.lookup(a)!;
  for (let i = 0; i < HPAGE_PMD_NR; i++) if (swpType(tb.val[i]) === SWP_DEVICE_EXCLUSIVE_WRITE && tb.pfn[i] === head + i) exclusive++;
  t.equal(exclusive, HPAGE_PMD_NR, 'all 512 ptes are writable exclusive entries of their subpage');
  const excl = seen.filter((s) => s.event === 'EXCLUSIVE');
  t.same(excl, [{ event: 'EXCLUSIVE', start: a, end: a + PMD_SIZE, owner: OWNER }], 'one invalidation of the folio, with the owner');
  unlockPage(k, pages[0]);
  putPage(k, pages[0]);
  t.equal(pageRefCount(k, head), HPAGE_PMD_NR, 'the entries keep the ptes\' references');
  // The CPU takes a tail page back: the folio, not the tail, is locked and referenced.
  t.ok(dataOk(mm, a), 'data intact through restore');
  t.ok(ptePresent(tb.val[pteIndex(a + 100 * P)]), 'restored');
  t.notOk(testPageFlag(k, head, PG_locked), 'folio unlocked');
  t.equal(k.warnings.length, 0, 'no WARN');
  mm.mmput();
  t.equal(k.pageAlloc.nrAllocated, 0, 'every page back');
  t.equal(k.warnings.length, 0, 'no WARN at zap');
});

t.test('exit with a THP\'s exclusive entries left: zap drops each reference, no WARN', async (t) => {
  const { k, mm, a, head } = thp();
  const { pages } = exclusiveStep(mm, a);
  unlockPage(k, pages[0]);
  putPage(k, pages[0]);
  t.equal(compoundHead(k, head + 3), head);
  mm.mmput();
  t.equal(k.pageAlloc.nrAllocated, 0);
  t.same(k.warnings, []);
});

t.test('BROKEN: a try_grab_folio() that counts on the page, not its folio, is caught on a THP', async (t) => {
  const { k, mm, a, head } = thp();
  // The order-0 grab this file's mechanism replaced: the tail's own refcount (0) is what it looks at.
  k.inject.tryGrabFolio = (kk, page, refs, flags) => {
    const b = kk.memmap.block(page), s = page % 512;
    if (kk.warn(b.refcount[s] <= 0, 'try_grab_folio', `pfn 0x${page.toString(16)} has refcount ${b.refcount[s]}`)) return -12;
    if (flags & FOLL_GET) b.refcount[s] += refs;
    return 0;
  };
  const pages = new Float64Array(64);
  const ret = makeDeviceExclusiveRange(mm, a, a + 64 * P, pages, OWNER);
  t.equal(ret, 1, 'gup stops at the first tail page');
  t.ok(k.warnings.some((w) => w.includes('try_grab_folio')), 'with a WARN');
  unlockPage(k, pages[0]);
  putPage(k, pages[0]);
  delete k.inject.tryGrabFolio;
  t.equal(compoundHead(k, head + 1), head);
  mm.mmput();
  t.equal(k.pageAlloc.nrAllocated, 0);
});
