// SPDX-License-Identifier: GPL-2.0-only
/*
 * Tests of src/kernel-model/khugepaged.ts: madvise(MADV_COLLAPSE) as 6.12's
 * madvise_collapse() serves it for anonymous memory. A PMD-aligned 2 MiB of
 * written 4K pages (and holes) becomes one huge PMD with the same data, the
 * old pages freed, rss right, secondary MMUs told (MMU_NOTIFY_CLEAR); the
 * refusals with the C's errnos: no anon_vma or VM_NOHUGEPAGE (-EINVAL), a
 * pinned page (-EAGAIN), no huge page to allocate (-ENOMEM), a read-only
 * range (-EINVAL). Break-it: a collapse that does not copy is caught.
 */
import t from 'tap';
import { Kernel } from '../../src/kernel-model/kernel.js';
import { EAGAIN, EINVAL, ENOMEM } from '../../src/kernel-model/errno.js';
import { PAGE_SIZE, PMD_SIZE, HPAGE_PMD_NR } from '../../src/kernel-model/page.js';
import { MAP_ANONYMOUS, MAP_PRIVATE, MmStruct, PROT_READ, PROT_WRITE, doMmap } from '../../src/kernel-model/mm.js';
import { MADV_COLLAPSE, MADV_NOHUGEPAGE, doMadvise } from '../../src/kernel-model/madvise.js';
import { userLoad, userStore } from '../../src/kernel-model/memory.js';
import { folioOrder } from '../../src/kernel-model/page_alloc.js';
import { FOLL_WRITE, pinUserPages, unpinUserPages } from '../../src/kernel-model/gup.js';
import { MMU_NOTIFY_CLEAR } from '../../src/kernel-model/mmu_notifier.js';

const RW = PROT_READ | PROT_WRITE, ANON = MAP_PRIVATE | MAP_ANONYMOUS, NR = HPAGE_PMD_NR;

function setup(mode: 'never' | 'madvise' | 'always' = 'never') {
  const k = new Kernel();
  k.transparentHugepage = mode;
  const mm = new MmStruct(k);
  const a = doMmap(mm, 0, 2 * PMD_SIZE, RW, ANON);
  if (a % PMD_SIZE) throw new Error('not on a 2 MiB boundary');
  return { k, mm, a };
}
/** Every other page gets its number; the others stay pte_none. */
function fill(mm: MmStruct, a: number): void {
  for (let i = 0; i < NR; i += 2) userStore(mm, a + i * PAGE_SIZE, new Uint8Array([i & 0xff, i >> 8]));
}
function bad(mm: MmStruct, a: number): number {
  const b = new Uint8Array(2);
  let n = 0;
  for (let i = 0; i < NR; i++) {
    userLoad(mm, a + i * PAGE_SIZE, b);
    const want = i % 2 ? [0, 0] : [i & 0xff, i >> 8];
    if (b[0] !== want[0] || b[1] !== want[1]) n++;
  }
  return n;
}

t.test('4K pages and holes collapse into one huge PMD with the same data (THP mode does not matter)', async (t) => {
  const { k, mm, a } = setup('never');
  fill(mm, a);
  const before = k.pageAlloc.nrAllocated, rss = mm.rssAnon;
  t.equal(rss, NR / 2);
  const seen: number[] = [];
  mm.notifierLog = (r) => { if (r.event === MMU_NOTIFY_CLEAR) seen.push(r.start - a, r.end - a); };
  t.equal(doMadvise(mm, a, PMD_SIZE, MADV_COLLAPSE), 0);
  t.same(seen, [0, PMD_SIZE], 'MMU_NOTIFY_CLEAR over the 2 MiB');
  const h = mm.pgtable.lookupHuge(a);
  t.ok(h !== undefined, 'a huge PMD');
  t.equal(folioOrder(k, h!.pfn), 9);
  t.equal(mm.pgtable.lookup(a), undefined, 'the pte page is gone');
  t.equal(mm.rssAnon, NR, 'rss: the holes count now too');
  t.equal(k.pageAlloc.nrAllocated, before - NR / 2 + NR, 'the 4K pages went back, 512 came');
  t.equal(bad(mm, a), 0, 'the data is the same');
  t.equal(doMadvise(mm, a, PMD_SIZE, MADV_COLLAPSE), 0, 'an already huge PMD counts as collapsed');
});

t.test('refusals, with the errnos of madvise_collapse_errno()', async (t) => {
  {
    const { mm, a } = setup();
    t.equal(doMadvise(mm, a, PMD_SIZE, MADV_COLLAPSE), -EINVAL, 'no anon_vma yet (nothing ever faulted)');
  }
  {
    const { mm, a } = setup();
    fill(mm, a);
    doMadvise(mm, a, 2 * PMD_SIZE, MADV_NOHUGEPAGE);
    t.equal(doMadvise(mm, a, PMD_SIZE, MADV_COLLAPSE), -EINVAL, 'VM_NOHUGEPAGE');
  }
  {
    const { mm, a } = setup();
    fill(mm, a);
    t.equal(doMadvise(mm, a + PMD_SIZE, PMD_SIZE, MADV_COLLAPSE), -EINVAL, 'a PMD with no page table (SCAN_PMD_NONE)');
  }
  {
    const { k, mm, a } = setup();
    fill(mm, a);
    const pages = new Float64Array(1);
    t.equal(pinUserPages(mm, a, 1, FOLL_WRITE, pages), 1);
    t.equal(doMadvise(mm, a, PMD_SIZE, MADV_COLLAPSE), -EAGAIN, 'a pinned page (SCAN_PAGE_COUNT)');
    unpinUserPages(k, pages, 1);
    t.equal(doMadvise(mm, a, PMD_SIZE, MADV_COLLAPSE), 0, 'unpinned, it collapses');
  }
  {
    const { k, mm, a } = setup();
    fill(mm, a);
    k.inject.shouldFailAllocPage = (order) => order === 9;
    t.equal(doMadvise(mm, a, PMD_SIZE, MADV_COLLAPSE), -ENOMEM, 'no huge page (SCAN_ALLOC_HUGE_PAGE_FAIL)');
    t.equal(bad(mm, a), 0, 'nothing changed');
  }
  {
    const k = new Kernel();
    const mm = new MmStruct(k);
    const a = doMmap(mm, 0, 2 * PMD_SIZE, PROT_READ, ANON);
    userLoad(mm, a, new Uint8Array(1)); // the zero page: no writable pte
    t.equal(doMadvise(mm, a, PMD_SIZE, MADV_COLLAPSE), -EINVAL, 'no anon_vma / read-only range');
  }
});

t.test('break it: a collapse that does not copy the pages is caught by the data check', async (t) => {
  const { k, mm, a } = setup();
  fill(mm, a);
  k.arch.copyPage = () => {};
  t.equal(doMadvise(mm, a, PMD_SIZE, MADV_COLLAPSE), 0);
  t.equal(bad(mm, a), NR / 2 - 1, 'every written page but page 0 (which holds 0) reads wrong');
});
