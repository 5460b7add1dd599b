// SPDX-License-Identifier: GPL-2.0-only
/*
 * Tests of src/kernel-model/madvise.ts: MADV_DONTNEED and MADV_FREE as 6.12
 * serves them (mm/madvise.c madvise_dontneed_free(), zap_page_range_single()
 * in mm/memory.c, madvise_free_pte_range(), madvise_free_huge_pmd() in
 * mm/huge_memory.c), over every kind of memory and entry the model has, and
 * madvise_walk_vmas()'s return values.
 *
 *   A: private anon   S: shared anon   F: tmpfs file   H: THP   T: hugetlb
 *   d: device-private entry  x: device-exclusive entry  m: migration entry
 *   c: COHERENT page  g: GENERIC page
 */
import t from 'tap';
import { Kernel } from '../../src/kernel-model/kernel.js';
import { EINVAL, ENOMEM } from '../../src/kernel-model/errno.js';
import { PAGE_SIZE, PMD_SIZE, HPAGE_PMD_NR, PG_swapbacked, PG_dirty } from '../../src/kernel-model/page.js';
import { MAP_ANONYMOUS, MAP_FIXED, MAP_HUGETLB, MAP_PRIVATE, MAP_SHARED, MmStruct, PROT_READ, PROT_WRITE, VM_LOCKED,
  VM_PFNMAP, VM_RAND_READ, VM_SEQ_READ, VM_HUGEPAGE, doMmap, doMunmap, vmaLookup } from '../../src/kernel-model/mm.js';
import { MADV_COLD, MADV_DOFORK, MADV_DONTFORK, MADV_KEEPONFORK, MADV_WIPEONFORK, MADV_DONTNEED, MADV_DONTNEED_LOCKED, MADV_FREE, MADV_HUGEPAGE, MADV_NORMAL, MADV_RANDOM,
  MADV_SEQUENTIAL, MADV_WILLNEED, doMadvise } from '../../src/kernel-model/madvise.js';
import { userLoad, userStore } from '../../src/kernel-model/memory.js';
import { pteIndex, ptePresent, pteDirty, isDevicePrivateEntry, isDeviceExclusiveEntry,
  isMigrationEntry } from '../../src/kernel-model/pgtable.js';
import { folioTestLarge, pageRefCount, putPage, testPageFlag, unlockPage } from '../../src/kernel-model/page_alloc.js';
import { makeDeviceExclusiveRange } from '../../src/kernel-model/rmap.js';
import { MEMORY_DEVICE_COHERENT, MEMORY_DEVICE_GENERIC } from '../../src/kernel-model/memremap.js';
import { MIGRATE_VMA_SELECT_SYSTEM, migrateVmaFinalize, migrateVmaPages, migrateVmaSetup } from '../../src/kernel-model/migrate_device.js';
import { Task } from '../../src/kernel-model/task.js';
import { O_RDWR, O_TMPFILE } from '../../src/kernel-model/fcntl.js';
import { dupMm } from '../../src/kernel-model/fork.js';
import { IS_ERR } from '../../src/kernel-model/errno.js';
import { MiB, migrateToDevice, newMigrateVma, pattern, recordingNotifier, registeredDevice } from './fixtures/fake_device.js';
import { auditFolios } from './fixtures/folio_audit.js';
import { hmmDmirrorInit } from '../../src/dmirror/test_hmm.js';
import * as U from '../../src/dmirror/test_hmm_uapi.js';
import { PRIVATE } from '../helpers.js';

const P = PAGE_SIZE, RW = PROT_READ | PROT_WRITE;
const X = 0x10000000; // 2 MiB-aligned
const FIXED = MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED;

const pteAt = (mm: MmStruct, a: number): { val: number; pfn: number } => {
  const tb = mm.pgtable.lookup(a);
  return tb === undefined ? { val: 0, pfn: 0 } : { val: tb.val[pteIndex(a)], pfn: tb.pfn[pteIndex(a)] };
};
const fill = (mm: MmStruct, addr: number, n: number, seed = 0): void => {
  for (let i = 0; i < n; i++) userStore(mm, addr + i * P, pattern(seed + i));
};
/** Whether page i of [addr, +n) holds pattern(seed + i) (true) or zeroes (false); throws on anything else. */
function holds(mm: MmStruct, addr: number, n: number, seed = 0): boolean[] {
  const buf = new Uint8Array(P);
  return Array.from({ length: n }, (_, i) => {
    userLoad(mm, addr + i * P, buf);
    if (buf.every((b) => b === 0)) return false;
    if (buf.every((b, j) => b === pattern(seed + i)[j])) return true;
    throw new Error(`page ${i} holds neither its pattern nor zeroes`);
  });
}

function boot(): { k: Kernel; mm: MmStruct } {
  const k = new Kernel();
  return { k, mm: new MmStruct(k) };
}

/*
 * Private anonymous memory: the mechanism, its real-kernel behaviour, and a
 * break-it check. MADV_DONTNEED drops the pages (zap_page_range_single()):
 * a later read sees zeroes, the pages are freed, rss falls, mirrors hear
 * MMU_NOTIFY_CLEAR over exactly the range, without an owner.
 */
function dontneedProblems(k: Kernel): string[] {
  const mm = new MmStruct(k), problems: string[] = [];
  doMmap(mm, X, 4 * P, RW, FIXED);
  fill(mm, X, 4);
  const { seen } = recordingNotifier(mm, 0, 2 ** 47);
  const before = k.pageAlloc.nrAllocated;
  if (doMadvise(mm, X + P, 2 * P, MADV_DONTNEED) !== 0) problems.push('ret');
  if (k.pageAlloc.nrAllocated !== before - 2) problems.push(`${before - k.pageAlloc.nrAllocated} pages freed, not 2`);
  if (mm.rssAnon !== 2) problems.push(`rss ${mm.rssAnon}`);
  if (JSON.stringify(seen) !== JSON.stringify([{ event: 'CLEAR', start: X + P, end: X + 3 * P, owner: null }])) {
    problems.push(`notifiers heard ${JSON.stringify(seen)}`);
  }
  if (JSON.stringify(holds(mm, X, 4)) !== '[true,false,false,true]') problems.push('data');
  return problems;
}

t.test('MADV_DONTNEED, private anon: zapped pages are freed and read back as zeroes (zap_page_range_single())', async (t) => {
  const { k } = boot();
  t.same(dontneedProblems(k), []);
});

t.test('break-it: a MADV_DONTNEED that zaps nothing is caught', async (t) => {
  const { k } = boot();
  k.inject.zapPageRangeSingle = () => {};
  t.ok(dontneedProblems(k).length >= 3, 'pages, rss, notifier and data all differ');
});

/*
 * MADV_FREE on private anon: madvise_free_pte_range() cleans the ptes and
 * makes the folios lazyfree (PG_swapbacked cleared); without reclaim the
 * data stays, and a write dirties the pte again.
 */
function freeProblems(k: Kernel): string[] {
  const mm = new MmStruct(k), problems: string[] = [];
  doMmap(mm, X, 3 * P, RW, FIXED);
  fill(mm, X, 3);
  const { seen } = recordingNotifier(mm, 0, 2 ** 47);
  const before = k.pageAlloc.nrAllocated;
  if (doMadvise(mm, X, 2 * P, MADV_FREE) !== 0) problems.push('ret');
  if (k.pageAlloc.nrAllocated !== before) problems.push('pages freed');
  for (let i = 0; i < 3; i++) {
    const { val, pfn } = pteAt(mm, X + i * P);
    const lazy = i < 2;
    if (pteDirty(val) === lazy) problems.push(`pte ${i} dirty=${pteDirty(val)}`);
    if (testPageFlag(k, pfn, PG_swapbacked) === lazy) problems.push(`page ${i} swapbacked=${!lazy}`);
  }
  if (JSON.stringify(seen) !== JSON.stringify([{ event: 'CLEAR', start: X, end: X + 2 * P, owner: null }])) {
    problems.push(`notifiers heard ${JSON.stringify(seen)}`);
  }
  if (JSON.stringify(holds(mm, X, 3)) !== '[true,true,true]') problems.push('data lost');
  userStore(mm, X, pattern(9));
  if (!pteDirty(pteAt(mm, X).val)) problems.push('a write after MADV_FREE does not dirty the pte');
  return problems;
}

t.test('MADV_FREE, private anon: pages stay with their data, clean and lazyfree (madvise_free_pte_range())', async (t) => {
  t.same(freeProblems(boot().k), []);
});

t.test('break-it: a MADV_FREE that does not mark folios lazyfree is caught', async (t) => {
  const { k } = boot();
  k.inject.folioMarkLazyfree = () => {};
  t.ok(freeProblems(k).some((p) => p.includes('swapbacked')));
});

t.test('MADV_FREE: a dirty folio another process maps is left dirty; the pte is still cleaned', async (t) => {
  const { k, mm } = boot();
  doMmap(mm, X, P, RW, FIXED);
  fill(mm, X, 1);
  const pfn = pteAt(mm, X).pfn;
  k.memmap.block(pfn).flags[pfn & 511] |= PG_dirty; // as after a swap-in: the folio itself is dirty
  const child = dupMm(k, mm);
  if (IS_ERR(child)) throw new Error('fork');
  t.equal(doMadvise(mm, X, P, MADV_FREE), 0);
  t.ok(testPageFlag(k, pfn, PG_dirty), 'folio_mapcount() != folio_nr_pages(): skipped');
  t.ok(testPageFlag(k, pfn, PG_swapbacked), 'not lazyfree');
  child.mmput();
});

/* Shared anonymous memory and tmpfs files: the page cache keeps the data. */
t.test('MADV_DONTNEED, shared anon and tmpfs MAP_SHARED: only the ptes go; a re-fault finds the same data', async (t) => {
  const { k } = boot();
  const task = new Task(k);
  const s = task.mmap(0, 2 * P, RW, MAP_SHARED | MAP_ANONYMOUS);
  fill(task.mm, s, 2);
  const rss = task.mm.rssFile;
  t.equal(task.madvise(s, 2 * P, MADV_DONTNEED), 0);
  t.equal(task.mm.rssFile, rss - 2, 'rss falls');
  t.same(holds(task.mm, s, 2), [true, true], 'shmem kept the pages');
  const fd = task.open('/tmp', O_TMPFILE | O_RDWR);
  t.equal(task.ftruncate(fd, 2 * P), 0);
  const f = task.mmap(0, 2 * P, RW, MAP_SHARED, fd, 0);
  fill(task.mm, f, 2, 5);
  t.equal(task.madvise(f, 2 * P, MADV_DONTNEED), 0);
  t.notOk(ptePresent(pteAt(task.mm, f).val), 'pte gone');
  t.same(holds(task.mm, f, 2, 5), [true, true], 'the file kept its data');
  t.equal(task.madvise(f, 2 * P, MADV_FREE), -EINVAL, 'MADV_FREE: !vma_is_anonymous() (madvise_free_single_vma())');
  t.equal(task.madvise(s, 2 * P, MADV_FREE), -EINVAL, 'shared anon is shmem: -EINVAL too');
  task.exit();
  t.equal(k.pageAlloc.nrAllocated, 0);
});

t.test('MADV_DONTNEED, tmpfs MAP_PRIVATE: the COW copy goes, a re-read sees the file again', async (t) => {
  const { k } = boot();
  const task = new Task(k);
  const fd = task.open('/tmp', O_TMPFILE | O_RDWR);
  t.equal(task.ftruncate(fd, P), 0);
  const shared = task.mmap(0, P, RW, MAP_SHARED, fd, 0);
  fill(task.mm, shared, 1, 3);
  const priv = task.mmap(0, P, RW, MAP_PRIVATE, fd, 0);
  fill(task.mm, priv, 1, 4); // do_cow_fault(): an anon copy
  t.same(holds(task.mm, priv, 1, 4), [true]);
  t.equal(task.madvise(priv, P, MADV_DONTNEED), 0);
  t.same(holds(task.mm, priv, 1, 3), [true], 'the file\'s page again');
  task.exit();
  t.equal(k.pageAlloc.nrAllocated, 0);
});

/* THP: a partly covered huge PMD is split (zap_pmd_range() -> __split_huge_pmd(); madvise_free_huge_pmd() -> split_folio()). */
function thpSetup(): { k: Kernel; mm: MmStruct } {
  const { k, mm } = boot();
  doMmap(mm, X, PMD_SIZE, RW, FIXED);
  t.equal(doMadvise(mm, X, PMD_SIZE, MADV_HUGEPAGE), 0);
  userStore(mm, X, pattern(0));
  userStore(mm, X + 5 * P, pattern(5));
  if (mm.pgtable.lookupHuge(X) === undefined) throw new Error('no THP');
  return { k, mm };
}

t.test('MADV_DONTNEED on part of a THP splits the PMD and zaps only the pages asked for', async (t) => {
  const { k, mm } = thpSetup();
  const { seen } = recordingNotifier(mm, 0, 2 ** 47);
  t.equal(doMadvise(mm, X + 4 * P, 2 * P, MADV_DONTNEED), 0);
  t.equal(mm.pgtable.lookupHuge(X), undefined, 'split');
  t.same(seen.map((s) => [s.event, s.start - X, s.end - X]), [['CLEAR', 4 * P, 6 * P], ['CLEAR', 0, PMD_SIZE]],
    'the madvise range, and __split_huge_pmd()\'s whole PMD inside it');
  t.same(holds(mm, X, 1), [true]);
  t.same(holds(mm, X + 5 * P, 1, 5), [false], 'zapped');
  t.equal(mm.rssAnon, HPAGE_PMD_NR - 2);
  t.same(auditFolios(k, [mm]), []);
  t.equal(doMadvise(mm, X, PMD_SIZE, MADV_DONTNEED), 0);
  t.equal(k.pageAlloc.nrAllocated, 0, 'the folio went with its last pte');
});

t.test('MADV_DONTNEED over a whole THP: zap_huge_pmd()', async (t) => {
  const { k, mm } = thpSetup();
  t.equal(doMadvise(mm, X, PMD_SIZE, MADV_DONTNEED), 0);
  t.equal(mm.pgtable.lookupHuge(X), undefined);
  t.equal(k.pageAlloc.nrAllocated, 0);
  t.same(holds(mm, X, 1), [false]);
});

t.test('MADV_FREE over a whole THP: the folio stays mapped by its PMD, clean and lazyfree (madvise_free_huge_pmd())', async (t) => {
  const { k, mm } = thpSetup();
  const h = mm.pgtable.lookupHuge(X)!;
  t.equal(doMadvise(mm, X, PMD_SIZE, MADV_FREE), 0);
  t.equal(mm.pgtable.lookupHuge(X), h, 'not split');
  t.notOk(pteDirty(h.val), 'pmd_mkclean()');
  t.notOk(testPageFlag(k, h.pfn, PG_swapbacked), 'lazyfree');
  t.same(holds(mm, X, 1), [true]);
});

t.test('MADV_FREE on part of a THP: split_folio(), then only the covered pages become lazyfree', async (t) => {
  const { k, mm } = thpSetup();
  t.equal(doMadvise(mm, X + 4 * P, 2 * P, MADV_FREE), 0);
  t.equal(mm.pgtable.lookupHuge(X), undefined, 'split');
  const p5 = pteAt(mm, X + 5 * P).pfn, p0 = pteAt(mm, X).pfn;
  t.notOk(folioTestLarge(k, p5), 'the folio was split into small folios');
  t.notOk(testPageFlag(k, p5, PG_swapbacked), 'covered page lazyfree');
  t.ok(testPageFlag(k, p0, PG_swapbacked), 'other pages not');
  t.same(holds(mm, X + 5 * P, 1, 5), [true], 'data kept');
  t.same(auditFolios(k, [mm]), []);
});

t.test('MADV_FREE on part of a THP another process maps: left alone (folio_likely_mapped_shared())', async (t) => {
  const { k, mm } = thpSetup();
  const child = dupMm(k, mm);
  if (IS_ERR(child)) throw new Error('fork');
  const h = mm.pgtable.lookupHuge(X)!;
  t.equal(doMadvise(mm, X + 4 * P, 2 * P, MADV_FREE), 0);
  t.equal(mm.pgtable.lookupHuge(X), h, 'not split');
  t.ok(testPageFlag(k, h.pfn, PG_swapbacked));
  child.mmput();
});

/* hugetlb: madvise_dontneed_free_valid_vma()'s rules. */
t.test('hugetlb: DONTNEED from a huge page boundary, end rounded down; unaligned start and MADV_FREE are -EINVAL', async (t) => {
  const { k, mm } = boot();
  const a = doMmap(mm, 0, 2 * PMD_SIZE, RW, MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB);
  t.ok(a > 0);
  userStore(mm, a, pattern(1));
  userStore(mm, a + PMD_SIZE, pattern(2));
  const free = k.hugetlb.freeHugePages, resv = k.hugetlb.resvHugePages;
  t.equal(doMadvise(mm, a + P, P, MADV_DONTNEED), -EINVAL, 'start & ~huge_page_mask()');
  t.equal(doMadvise(mm, a, PMD_SIZE, MADV_FREE), -EINVAL, 'MADV_FREE on hugetlb');
  t.equal(doMadvise(mm, a, P, MADV_DONTNEED), 0, 'end rounded down to start: nothing done');
  t.ok(mm.pgtable.lookupHuge(a) !== undefined, 'still mapped');
  t.equal(doMadvise(mm, a, PMD_SIZE + P, MADV_DONTNEED), 0, 'one huge page: the partly covered second one kept');
  t.equal(mm.pgtable.lookupHuge(a), undefined);
  t.ok(mm.pgtable.lookupHuge(a + PMD_SIZE) !== undefined);
  t.equal(k.hugetlb.freeHugePages, free + 1, 'back to the pool');
  t.equal(k.hugetlb.resvHugePages, resv + 1, 'with its reservation restored (__unmap_hugepage_range(), free_huge_folio())');
  const buf = new Uint8Array(P);
  userLoad(mm, a, buf);
  t.ok(buf.every((b) => b === 0), 'a re-fault gets a new, zeroed huge page');
  t.equal(k.hugetlb.resvHugePages, resv, '... consuming the reservation again');
  t.equal(doMadvise(mm, a, PMD_SIZE, MADV_DONTNEED_LOCKED), 0);
  t.equal(doMunmap(mm, a, 2 * PMD_SIZE), 0);
  t.same([k.hugetlb.freeHugePages, k.hugetlb.resvHugePages], [free + 2, 0], 'every page and reservation back after munmap');
});

/* Device memory: device-private, device-exclusive and migration entries, COHERENT and GENERIC pages. */
t.test('MADV_DONTNEED over device-private entries frees the device pages through page_free; MADV_FREE leaves them', async (t) => {
  const { k, mm } = boot();
  doMmap(mm, X, 4 * P, RW, FIXED);
  fill(mm, X, 4);
  const dev = registeredDevice(k);
  t.equal(migrateToDevice(dev, vmaLookup(mm, X)!, X, 4).ret, 0);
  t.ok(isDevicePrivateEntry(pteAt(mm, X).val));
  t.equal(doMadvise(mm, X, 2 * P, MADV_FREE), 0);
  t.ok(isDevicePrivateEntry(pteAt(mm, X).val), 'MADV_FREE: a non-swap entry is left as it is');
  const d0 = pteAt(mm, X).pfn, d1 = pteAt(mm, X + P).pfn;
  t.equal(doMadvise(mm, X, 2 * P, MADV_DONTNEED), 0);
  t.equal(pteAt(mm, X).val, 0);
  t.same(dev.freed, [d0, d1], 'freed through the pgmap when the last reference went');
  t.equal(mm.rssAnon, 2);
  t.same(holds(mm, X, 4), [false, false, true, true], 'zeroes where zapped, the rest faults back from the device');
  t.same(auditFolios(k, [mm]), []);
});

t.test('MADV_DONTNEED over device-exclusive entries drops them and their page; MADV_FREE leaves them', async (t) => {
  const { k, mm } = boot();
  doMmap(mm, X, 2 * P, RW, FIXED);
  fill(mm, X, 2);
  const pages = new Float64Array(2);
  t.equal(makeDeviceExclusiveRange(mm, X, X + 2 * P, pages, { name: 'dev' }), 2);
  for (const p of pages) { unlockPage(k, p); putPage(k, p); }
  t.ok(isDeviceExclusiveEntry(pteAt(mm, X).val));
  t.equal(doMadvise(mm, X, 2 * P, MADV_FREE), 0);
  t.ok(isDeviceExclusiveEntry(pteAt(mm, X).val), 'MADV_FREE: left as it is');
  const before = k.pageAlloc.nrAllocated;
  t.equal(doMadvise(mm, X, P, MADV_DONTNEED), 0);
  t.equal(pteAt(mm, X).val, 0);
  t.equal(k.pageAlloc.nrAllocated, before - 1, 'the page went with the entry\'s reference');
  t.same(holds(mm, X, 2), [false, true]);
});

t.test('MADV_DONTNEED over a migration entry: only rss; the migration then finds nothing to restore and nothing leaks', async (t) => {
  const { k, mm } = boot();
  doMmap(mm, X, 2 * P, RW, FIXED);
  fill(mm, X, 2);
  const dev = registeredDevice(k);
  const args = newMigrateVma(vmaLookup(mm, X)!, X, 2, dev.owner, MIGRATE_VMA_SELECT_SYSTEM);
  t.equal(migrateVmaSetup(k, args), 0);
  t.ok(isMigrationEntry(pteAt(mm, X).val));
  t.equal(doMadvise(mm, X, 2 * P, MADV_FREE), 0);
  t.ok(isMigrationEntry(pteAt(mm, X).val), 'MADV_FREE: left as it is');
  t.equal(doMadvise(mm, X, P, MADV_DONTNEED), 0);
  t.equal(pteAt(mm, X).val, 0);
  t.equal(mm.rssAnon, 1);
  migrateVmaPages(k, args); // no destinations: nothing migrates, the sources are restored where their entry still is
  migrateVmaFinalize(k, args);
  t.same(holds(mm, X, 2), [false, true]);
  doMunmap(mm, X, 2 * P);
  t.equal(k.pageAlloc.nrAllocated, 0);
});

for (const [name, type] of [['COHERENT', MEMORY_DEVICE_COHERENT], ['GENERIC', MEMORY_DEVICE_GENERIC]] as const) {
  t.test(`${name} pages: MADV_FREE skips them (folio_is_zone_device()), MADV_DONTNEED frees them through page_free`, async (t) => {
    const { k, mm } = boot();
    doMmap(mm, X, 2 * P, RW, FIXED);
    fill(mm, X, 2);
    const dev = registeredDevice(k, type, { size: 2 * MiB });
    t.equal(migrateToDevice(dev, vmaLookup(mm, X)!, X, 2).ret, 0);
    const d = pteAt(mm, X).pfn;
    t.ok(ptePresent(pteAt(mm, X).val) && dev.pgmap.range.start <= d * P);
    const dirty = pteDirty(pteAt(mm, X).val);
    t.equal(doMadvise(mm, X, 2 * P, MADV_FREE), 0);
    t.equal(pteDirty(pteAt(mm, X).val), dirty, 'pte untouched');
    t.equal(doMadvise(mm, X, 2 * P, MADV_DONTNEED), 0);
    t.equal(pageRefCount(k, d), 0);
    t.ok(dev.freed.includes(d), 'page_free()');
    t.same(holds(mm, X, 2), [false, false]);
  });
}

/* madvise_walk_vmas() and madvise_dontneed_free_valid_vma(): the return values. */
t.test('errors: a hole is -ENOMEM with the mapped parts done; bad start, wrap, unknown advice -EINVAL', async (t) => {
  const { mm } = boot();
  doMmap(mm, X, 4 * P, RW, FIXED);
  fill(mm, X, 4);
  doMunmap(mm, X + P, P);
  //   X: 0 1 2 3    A . A A   DONTNEED over all four: -ENOMEM, pages 0, 2, 3 zapped
  t.equal(doMadvise(mm, X, 4 * P, MADV_DONTNEED), -ENOMEM);
  t.same([0, 2, 3].map((i) => pteAt(mm, X + i * P).val), [0, 0, 0]);
  t.equal(doMadvise(mm, X + 1, P, MADV_DONTNEED), -EINVAL, 'unaligned start');
  t.equal(doMadvise(mm, X, -1, MADV_DONTNEED), -EINVAL, 'len_in rounds up to 0');
  t.equal(doMadvise(mm, 2 ** 64 - 2 * P, 4 * P, MADV_DONTNEED), -EINVAL, 'end < start');
  t.equal(doMadvise(mm, X, 0, MADV_DONTNEED), 0, 'len 0');
  t.equal(doMadvise(mm, X, P, 7), -EINVAL, 'advice 7 does not exist');
  t.equal(doMadvise(mm, X + 8 * P, P, MADV_DONTNEED), -ENOMEM, 'nothing mapped there');
});

t.test('errors: VM_LOCKED and VM_PFNMAP are -EINVAL, MADV_DONTNEED_LOCKED takes locked VMAs; the walk stops at the first error', async (t) => {
  const { mm } = boot();
  //   X: A L A   three VMAs, the middle one VM_LOCKED
  doMmap(mm, X, P, RW, FIXED);
  doMmap(mm, X + P, P, PROT_READ, FIXED);
  doMmap(mm, X + 2 * P, P, RW, FIXED);
  fill(mm, X, 1);
  fill(mm, X + 2 * P, 1, 2);
  userLoad(mm, X + P, new Uint8Array(1));
  vmaLookup(mm, X + P)!.vmFlags |= VM_LOCKED;
  t.equal(doMadvise(mm, X, 3 * P, MADV_DONTNEED), -EINVAL);
  t.equal(pteAt(mm, X).val, 0, 'the VMA before it was done');
  t.ok(ptePresent(pteAt(mm, X + 2 * P).val), 'the VMA after it was not');
  t.equal(doMadvise(mm, X, 3 * P, MADV_FREE), -EINVAL, 'MADV_FREE: VM_LOCKED too');
  t.equal(doMadvise(mm, X, 3 * P, MADV_DONTNEED_LOCKED), 0);
  t.equal(pteAt(mm, X + 2 * P).val, 0);
  vmaLookup(mm, X + P)!.vmFlags = (vmaLookup(mm, X + P)!.vmFlags & ~VM_LOCKED) | VM_PFNMAP;
  t.equal(doMadvise(mm, X + P, P, MADV_DONTNEED_LOCKED), -EINVAL, 'VM_PFNMAP');
});

t.test('other advice: flags for MADV_NORMAL/RANDOM/SEQUENTIAL, 0 for MADV_WILLNEED, not-modelled advice refused with a log line', async (t) => {
  const { k, mm } = boot();
  doMmap(mm, X, 4 * P, RW, FIXED);
  t.equal(doMadvise(mm, X + P, P, MADV_RANDOM), 0);
  t.ok(vmaLookup(mm, X + P)!.vmFlags & VM_RAND_READ);
  t.notOk(vmaLookup(mm, X)!.vmFlags & VM_RAND_READ, 'the VMA was split');
  t.equal(doMadvise(mm, X + P, P, MADV_SEQUENTIAL), 0);
  t.equal(vmaLookup(mm, X + P)!.vmFlags & (VM_RAND_READ | VM_SEQ_READ), VM_SEQ_READ);
  t.equal(doMadvise(mm, X + P, P, MADV_NORMAL), 0);
  t.equal(vmaLookup(mm, X)!.vmEnd, X + 4 * P, 'merged back');
  t.equal(doMadvise(mm, X, 4 * P, MADV_WILLNEED), 0);
  t.equal(doMadvise(mm, X, 4 * P, MADV_COLD), -EINVAL);
  t.match(k.log.at(-1), /MADV_COLD .* not modelled/);
  t.notOk(vmaLookup(mm, X)!.vmFlags & VM_HUGEPAGE);
});

t.test('Task.madvise takes mmap_lock for read for MADV_DONTNEED and MADV_FREE, for write for flag changes', async (t) => {
  const { k } = boot();
  const task = new Task(k);
  const a = task.mmap(0, 2 * P, RW, MAP_PRIVATE | MAP_ANONYMOUS);
  const seen: string[] = [];
  const sem = task.mm.mmapLock;
  task.mm.notifierLog = () => seen.push(sem.readers.length > 0 ? 'read' : 'write');
  fill(task.mm, a, 2);
  t.equal(task.madvise(a, P, MADV_DONTNEED), 0);
  t.equal(task.madvise(a + P, P, MADV_RANDOM), 0, 'a split (write lock), no invalidation: the VMA is smaller than a PMD');
  fill(task.mm, a, 1);
  t.equal(task.madvise(a, P, MADV_FREE), 0);
  t.same(seen, ['read', 'read']);
  t.equal(sem.readers.length, 0, 'released');
});

/* The driver's view (lib/test_hmm.c): the mirror hears MMU_NOTIFY_CLEAR and the next READ faults again. */
t.test('test_hmm: READ, MADV_DONTNEED, READ re-faults and reads zeroes; MADV_FREE re-faults and keeps the data', async (t) => {
  const k = new Kernel();
  const { ret } = hmmDmirrorInit(k, PRIVATE);
  t.equal(ret, 0);
  const task = new Task(k);
  const fd = task.open('/dev/hmm_dmirror0');
  const p = task.mmap(0, 4 * P, RW, MAP_PRIVATE | MAP_ANONYMOUS), out = task.mmap(0, 4 * P, RW, MAP_PRIVATE | MAP_ANONYMOUS);
  fill(task.mm, p, 4);
  const read = () => {
    const c = { ...U.newHmmDmirrorCmd(), addr: p, ptr: out, npages: 4 };
    const r = task.ioctl(fd, U.HMM_DMIRROR_READ, c);
    return [r, c.faults, ...holds(task.mm, out, 4)];
  };
  t.same(read(), [0, 1, true, true, true, true]);
  t.same(read(), [0, 0, true, true, true, true], 'mirrored');
  t.equal(task.madvise(p + 2 * P, 2 * P, MADV_FREE), 0);
  t.same(read(), [0, 1, true, true, true, true], 'MADV_FREE: re-fault, same data');
  t.equal(task.madvise(p, 2 * P, MADV_DONTNEED), 0);
  t.same(read(), [0, 1, false, false, true, true], 'MADV_DONTNEED: re-fault, zeroes where zapped');
  // Device-private pages (MIGRATE_TO_DEV): DONTNEED gives them back to the driver (dmirror_devmem_free()).
  const c = { ...U.newHmmDmirrorCmd(), addr: p + 2 * P, ptr: out, npages: 2 };
  t.equal(task.ioctl(fd, U.HMM_DMIRROR_MIGRATE_TO_DEV, c), 0);
  const nrBefore = k.pageAlloc.nrAllocated;
  t.equal(task.madvise(p + 2 * P, 2 * P, MADV_DONTNEED), 0);
  t.equal(pteAt(task.mm, p + 2 * P).val, 0);
  t.ok(k.pageAlloc.nrAllocated < nrBefore, 'the copies the mirror held went with the device pages');
  t.same(read(), [0, 1, false, false, false, false]);
  task.exit();
});

/* Fork advice: dup_mmap() leaves VM_DONTCOPY VMAs out and copies VM_WIPEONFORK ones empty. */
t.test('MADV_DONTFORK/DOFORK and MADV_WIPEONFORK/KEEPONFORK as dup_mmap() obeys them', async (t) => {
  const { k } = boot();
  const task = new Task(k);
  const a = task.mmap(0, 2 * P, RW, MAP_PRIVATE | MAP_ANONYMOUS);
  const w = task.mmap(0, 2 * P, RW, MAP_PRIVATE | MAP_ANONYMOUS); // merges with a; the advice splits it off again
  fill(task.mm, a, 2);
  userStore(task.mm, w, pattern(7));
  t.equal(task.madvise(a, P, MADV_DONTFORK), 0);
  t.equal(task.madvise(w, 2 * P, MADV_WIPEONFORK), 0);
  const child = task.fork();
  if (IS_ERR(child)) throw new Error('fork');
  t.equal(vmaLookup(child.mm, a), null, 'VM_DONTCOPY: no VMA in the child');
  t.same(holds(child.mm, a + P, 1, 1), [true], 'the rest of the mapping is copied');
  t.ok(vmaLookup(child.mm, w) !== null, 'VM_WIPEONFORK: the VMA is there...');
  const buf = new Uint8Array(P);
  userLoad(child.mm, w, buf);
  t.ok(buf.every((b) => b === 0), '... and empty');
  userLoad(task.mm, w, buf);
  t.same(buf, pattern(7), 'the parent keeps its data');
  child.exit();
  t.equal(task.madvise(a, P, MADV_DOFORK), 0);
  t.equal(task.madvise(w, 2 * P, MADV_KEEPONFORK), 0);
  const child2 = task.fork();
  if (IS_ERR(child2)) throw new Error('fork');
  t.same(holds(child2.mm, a, 1), [true], 'MADV_DOFORK: copied again');
  userLoad(child2.mm, w, buf);
  t.same(buf, pattern(7), 'MADV_KEEPONFORK: copied again');
  child2.exit();
  const s = task.mmap(0, P, RW, MAP_SHARED | MAP_ANONYMOUS);
  t.equal(task.madvise(s, P, MADV_WIPEONFORK), -EINVAL, 'MADV_WIPEONFORK: anonymous private memory only');
  task.exit();
  t.equal(k.pageAlloc.nrAllocated, 0);
});
