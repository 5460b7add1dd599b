// SPDX-License-Identifier: GPL-2.0-only
/*
 * Tests of src/kernel-model/migrate_device.ts (mm/migrate_device.c):
 * migrate_vma_setup() argument checks and source selection by flags and
 * owner, what setup leaves behind (locked pages, migration entries), pinned
 * pages, and whole migrations through setup/pages/finalize with a
 * hand-written device (fixtures/fake_device.ts), checked down to refcounts,
 * mapcounts and ptes.
 *
 *   Four pages at X:   0 1 2 3
 *                      s . z d     s system page, . none, z zero page,
 *                                  d device-private page of `dev`
 */
import t from 'tap';
import { FatalSignal } from '../../src/kernel-model/bug.js';
import { Kernel } from '../../src/kernel-model/kernel.js';
import { EINVAL } from '../../src/kernel-model/errno.js';
import { PAGE_SIZE, PG_anon, PG_anon_exclusive, PG_dirty, PG_locked, PG_lru, physToPfn } from '../../src/kernel-model/page.js';
import { MAP_ANONYMOUS, MAP_FIXED, MAP_PRIVATE, MmStruct, PROT_NONE, PROT_READ, PROT_WRITE, VM_HUGETLB, VM_IO, VM_MIXEDMAP,
  VM_PFNMAP, doMmap, doMprotect, doMunmap, vmaLookup } from '../../src/kernel-model/mm.js';
import { userLoad, userStore } from '../../src/kernel-model/memory.js';
import { _PAGE_DIRTY, _PAGE_PRESENT, _PAGE_PROTNONE, _PAGE_RW, _PAGE_SPECIAL, SWP_DEVICE_READ, SWP_DEVICE_WRITE,
  SWP_MIGRATION_READ_EXCLUSIVE, SWP_MIGRATION_WRITE, SWP_MIG_DIRTY, mkSwpEntry, pteIndex } from '../../src/kernel-model/pgtable.js';
import { getPage, lockPage, pageMapcount, pageRefCount, putPage, setPageCount, testPageFlag,
  unlockPage } from '../../src/kernel-model/page_alloc.js';
import { FOLL_WRITE, GUP_PIN_COUNTING_BIAS, pinUserPages, unpinUserPages } from '../../src/kernel-model/gup.js';
import { tryToMigrate } from '../../src/kernel-model/rmap.js';
import { MEMORY_DEVICE_FS_DAX, MEMORY_DEVICE_GENERIC, 
  } from '../../src/kernel-model/memremap.js';
import { memcpyFromPage } from '../../src/kernel-model/highmem.js';
import { MIGRATE_PFN_MIGRATE, MIGRATE_PFN_VALID, MIGRATE_PFN_WRITE, MIGRATE_VMA_SELECT_DEVICE_PRIVATE,
  MIGRATE_VMA_SELECT_SYSTEM, MigrateVma, migratePfn, migratePfnToPage, migrateVmaFinalize, migrateVmaPages,
  migrateVmaSetup } from '../../src/kernel-model/migrate_device.js';
import { FakeDevice, registeredDevice, MiB, PRIVATE_BASE, SPM0, expectKernelBug, migrateToDevice, migrateToSystem, newMigrateVma,
  pattern, recordingNotifier } from './fixtures/fake_device.js';

const X = 0x10000000;
const P = PAGE_SIZE;
const RW = PROT_READ | PROT_WRITE;
const FIXED = MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED;
const DPFN = physToPfn(PRIVATE_BASE);

const pteAt = (mm: MmStruct, addr: number): [number, number] => {
  const tbl = mm.pgtable.lookup(addr);
  return tbl === undefined ? [0, 0] : [tbl.val[pteIndex(addr)], tbl.pfn[pteIndex(addr)]];
};
const vmaAt = (mm: MmStruct, addr: number) => vmaLookup(mm, addr)!;
const mpfn = (pfn: number, ...bits: number[]) => bits.reduce((m, b) => m + b, migratePfn(pfn));

/** The four-page layout of the header comment. */
function layout(k: Kernel) {
  const mm = new MmStruct(k);
  doMmap(mm, X, 4 * P, RW, FIXED);
  userStore(mm, X, pattern(0, 32));
  userLoad(mm, X + 2 * P, new Uint8Array(1));
  userStore(mm, X + 3 * P, pattern(3, 32));
  const dev = registeredDevice(k);
  const r = migrateToDevice(dev, vmaAt(mm, X), X + 3 * P, 1);
  if (r.ret !== 0 || !(r.args.src[0] & MIGRATE_PFN_MIGRATE)) throw new Error('layout: page 3 did not migrate');
  return { mm, dev, s: pteAt(mm, X)[1], d: pteAt(mm, X + 3 * P)[1] };
}

t.test('migrate_vma_setup refuses bad arguments with -EINVAL and touches nothing', async (t) => {
  const k = new Kernel();
  const mm = new MmStruct(k);
  doMmap(mm, X, 4 * P, RW, FIXED);
  userStore(mm, X, Uint8Array.of(1));
  const vma = vmaAt(mm, X);
  const { seen } = recordingNotifier(mm, 0, 2 ** 47);
  const before = pteAt(mm, X);
  const cases: Array<[string, (m: MigrateVma) => void]> = [
    ['no vma', (m) => { m.vma = null; }],
    ['start below the vma', (m) => { m.start = X - P; }],
    ['start at the vma end', (m) => { m.start = X + 4 * P; m.end = X + 5 * P; }],
    ['end beyond the vma', (m) => { m.end = X + 5 * P; }],
    ['end at the vma start', (m) => { m.start = X - 2 * P; m.end = X; }],
    ['nr_pages 0', (m) => { m.end = m.start; }],
    ['nr_pages < 0', (m) => { m.end = m.start - P; }],
    ['less than a page', (m) => { m.end = m.start + P - 1; }],
    ['src too short', (m) => { m.src = new Float64Array(1); }],
    ['fault_page not device-private', (m) => { m.faultPage = before[1]; }],
  ];
  for (const [what, spoil] of cases) {
    const m = newMigrateVma(vma, X, 2, null, MIGRATE_VMA_SELECT_SYSTEM);
    m.src.fill(7);
    spoil(m);
    t.equal(migrateVmaSetup(k, m), -EINVAL, `${what}: -EINVAL`);
    t.equal(m.cpages, 0, `${what}: cpages 0`);
  }
  for (const [name, flag] of [['VM_IO', VM_IO], ['VM_PFNMAP', VM_PFNMAP], ['VM_MIXEDMAP', VM_MIXEDMAP],
    ['VM_HUGETLB', VM_HUGETLB]] as Array<[string, number]>) {
    vma.vmFlags += flag;
    const m = newMigrateVma(vma, X, 1, null, MIGRATE_VMA_SELECT_SYSTEM);
    t.equal(migrateVmaSetup(k, m), -EINVAL, `${name}: -EINVAL`);
    vma.vmFlags -= flag;
  }
  t.same(seen, [], 'no invalidation was started');
  t.same(pteAt(mm, X), before, 'the pte is as it was');
  t.notOk(testPageFlag(k, before[1], PG_locked), 'the page is not locked');
});

t.test('migrate_vma_setup masks unaligned start and end', async (t) => {
  const k = new Kernel();
  const mm = new MmStruct(k);
  doMmap(mm, X, 4 * P, RW, FIXED);
  const m = newMigrateVma(vmaAt(mm, X), X, 2, null, MIGRATE_VMA_SELECT_SYSTEM);
  m.start = X + 100;
  m.end = X + 2 * P + 100;
  t.equal(migrateVmaSetup(k, m), 0);
  t.same([m.start, m.end, m.npages], [X, X + 2 * P, 2], 'two pages from X');
  t.same([...m.src], [MIGRATE_PFN_MIGRATE, MIGRATE_PFN_MIGRATE], 'two holes');
});

t.test('SELECT_SYSTEM selects the system page, the hole and the zero page, not the device-private entry', async (t) => {
  const k = new Kernel();
  const { mm, dev, s, d } = layout(k);
  t.equal(d, DPFN, 'page 3 is the device\'s first page');
  const m = newMigrateVma(vmaAt(mm, X), X, 4, dev.owner, MIGRATE_VMA_SELECT_SYSTEM);
  t.equal(migrateVmaSetup(k, m), 0);
  t.same([...m.src], [mpfn(s, MIGRATE_PFN_MIGRATE, MIGRATE_PFN_WRITE), MIGRATE_PFN_MIGRATE, MIGRATE_PFN_MIGRATE, 0],
    'src[]: s valid+migrate+write, hole and zero page migrate without a page, d not selected');
  t.equal(m.cpages, 3, 'cpages 3');
  t.equal(m.npages, 4);
  t.same([...m.dst], [0, 0, 0, 0], 'dst[] cleared');
  t.equal(migratePfnToPage(m.src[1]), 0, 'a hole has no page');

  // What setup leaves behind for the selected present page.
  t.same(pteAt(mm, X), [mkSwpEntry(SWP_MIGRATION_WRITE) | SWP_MIG_DIRTY, s], 'its pte is a writable, dirty migration entry');
  t.ok(testPageFlag(k, s, PG_locked), 'the page is locked');
  t.equal(pageMapcount(k, s), 0, 'unmapped');
  t.equal(pageRefCount(k, s), 1, 'one reference: the isolation\'s');
  t.notOk(testPageFlag(k, s, PG_lru), 'isolated from the LRU');
  t.same(pteAt(mm, X + 2 * P), [_PAGE_PRESENT | _PAGE_SPECIAL, k.zeroPfn], 'the zero page stays mapped');
  t.same(pteAt(mm, X + 3 * P), [mkSwpEntry(SWP_DEVICE_WRITE), d], 'the device entry is untouched');
  t.notOk(testPageFlag(k, d, PG_locked), 'and its page not locked');

  // Nothing migrates: finalize puts everything back.
  migrateVmaFinalize(k, m);
  t.same(pteAt(mm, X), [_PAGE_PRESENT | _PAGE_RW | _PAGE_DIRTY, s], 'the pte is restored');
  t.same([pageRefCount(k, s), pageMapcount(k, s)], [1, 1], 'refcount 1, mapcount 1');
  t.notOk(testPageFlag(k, s, PG_locked), 'unlocked');
  t.ok(testPageFlag(k, s, PG_lru), 'back on the LRU');
  t.ok(testPageFlag(k, s, PG_anon_exclusive), 'exclusive again');
  t.equal(mm.rssAnon, 2, 'rss: s and d');
  const b = new Uint8Array(32);
  userLoad(mm, X, b);
  t.same(b, pattern(0, 32), 'data intact');
});

t.test('SELECT_DEVICE_PRIVATE selects only device-private entries of the matching owner', async (t) => {
  const k = new Kernel();
  const { mm, dev, d } = layout(k);
  const mine = newMigrateVma(vmaAt(mm, X), X, 4, dev.owner, MIGRATE_VMA_SELECT_DEVICE_PRIVATE);
  t.equal(migrateVmaSetup(k, mine), 0);
  // A none pte is selected for anonymous memory whatever the flags, as migrate_vma_collect_pmd() does.
  t.same([...mine.src], [0, MIGRATE_PFN_MIGRATE, 0, mpfn(d, MIGRATE_PFN_MIGRATE, MIGRATE_PFN_WRITE)],
    'src[]: the system and zero pages are not selected; d is, writable');
  t.equal(mine.cpages, 2, 'the hole and d');
  t.same(pteAt(mm, X + 3 * P), [mkSwpEntry(SWP_MIGRATION_WRITE), d], 'd\'s entry is now a migration entry (not dirty)');
  t.ok(testPageFlag(k, d, PG_locked), 'd locked');
  t.same([pageRefCount(k, d), pageMapcount(k, d)], [1, 0], 'd: the collection\'s reference, unmapped');
  migrateVmaFinalize(k, mine);
  t.same(pteAt(mm, X + 3 * P), [mkSwpEntry(SWP_DEVICE_WRITE), d], 'restored');
  t.same([pageRefCount(k, d), pageMapcount(k, d)], [1, 1], 'd: refcount 1, mapcount 1');
  t.same(dev.freed, [], 'nothing freed');

  const theirs = newMigrateVma(vmaAt(mm, X), X, 4, { name: 'another device' }, MIGRATE_VMA_SELECT_DEVICE_PRIVATE);
  t.equal(migrateVmaSetup(k, theirs), 0);
  t.same([...theirs.src], [0, MIGRATE_PFN_MIGRATE, 0, 0], 'another owner: d is not selected');
  t.equal(theirs.cpages, 1);
  t.notOk(testPageFlag(k, d, PG_locked), 'and not locked');
  migrateVmaFinalize(k, theirs);

  const none = newMigrateVma(vmaAt(mm, X), X, 4, dev.owner, 0);
  t.equal(migrateVmaSetup(k, none), 0);
  t.same([...none.src], [0, MIGRATE_PFN_MIGRATE, 0, 0], 'no SELECT flag: only the hole');
  migrateVmaFinalize(k, none);
});

t.test('a read-only page migrates with a readable exclusive migration entry', async (t) => {
  const k = new Kernel();
  const mm = new MmStruct(k);
  doMmap(mm, X, P, RW, FIXED);
  userStore(mm, X, Uint8Array.of(5));
  doMprotect(mm, X, P, PROT_READ);
  const s = pteAt(mm, X)[1];
  const m = newMigrateVma(vmaAt(mm, X), X, 1, null, MIGRATE_VMA_SELECT_SYSTEM);
  migrateVmaSetup(k, m);
  t.equal(m.src[0], mpfn(s, MIGRATE_PFN_MIGRATE), 'no MIGRATE_PFN_WRITE');
  t.same(pteAt(mm, X), [mkSwpEntry(SWP_MIGRATION_READ_EXCLUSIVE) | SWP_MIG_DIRTY, s], 'readable exclusive entry');
  t.notOk(testPageFlag(k, s, PG_anon_exclusive), 'PageAnonExclusive cleared while unmapped');
  migrateVmaFinalize(k, m);
  t.same(pteAt(mm, X), [_PAGE_PRESENT | _PAGE_DIRTY, s], 'restored read-only');
  t.ok(testPageFlag(k, s, PG_anon_exclusive), 'and exclusive');
});

t.test('a GENERIC page mapped by a present pte is selected with SELECT_SYSTEM (seed)', async (t) => {
  const k = new Kernel();
  const mm = new MmStruct(k);
  doMmap(mm, X, 2 * P, RW, FIXED);
  userStore(mm, X, pattern(1, 64));
  userStore(mm, X + P, pattern(2, 64));
  const gen = registeredDevice(k, MEMORY_DEVICE_GENERIC, { name: 'spm' });
  const toDev = migrateToDevice(gen, vmaAt(mm, X), X, 1);
  const g = physToPfn(SPM0);
  t.equal(toDev.args.dst[0], mpfn(g, MIGRATE_PFN_WRITE), 'page 0 went to the first SPM page');
  t.same(pteAt(mm, X), [_PAGE_PRESENT | _PAGE_RW | _PAGE_DIRTY, g], 'mapped by an ordinary present pte');
  t.same([pageRefCount(k, g), pageMapcount(k, g)], [1, 1]);
  t.ok(testPageFlag(k, g, PG_anon), 'anon');
  t.notOk(testPageFlag(k, g, PG_lru), 'device pages are not on the LRU');
  const b = new Uint8Array(64);
  userLoad(mm, X, b);
  t.same(b, pattern(1, 64), 'the CPU reads it directly');
  const buf = new Uint8Array(64);
  memcpyFromPage(k, buf, 0, g, 0, 64);
  t.same(buf, pattern(1, 64), 'the data is in the GENERIC page itself');

  const priv = newMigrateVma(vmaAt(mm, X), X, 1, gen.owner, MIGRATE_VMA_SELECT_DEVICE_PRIVATE);
  migrateVmaSetup(k, priv);
  t.same([...priv.src], [0], 'SELECT_DEVICE_PRIVATE does not select it');
  migrateVmaFinalize(k, priv);

  const sys = newMigrateVma(vmaAt(mm, X), X, 2, null, MIGRATE_VMA_SELECT_SYSTEM);
  migrateVmaSetup(k, sys);
  t.equal(sys.src[0], mpfn(g, MIGRATE_PFN_MIGRATE, MIGRATE_PFN_WRITE), 'SELECT_SYSTEM does, whatever the owner');
  t.equal(pageRefCount(k, g), 1, 'the collection\'s reference (device pages are not isolated)');
  t.ok(testPageFlag(k, g, PG_locked));
  migrateVmaFinalize(k, sys);
  t.same([pageRefCount(k, g), pageMapcount(k, g)], [1, 1], 'restored');

  // And back: the GENERIC page to system memory; the system page at X+P is selected too but not ours.
  const back = migrateToSystem(gen, vmaAt(mm, X), X, 2);
  t.equal(back.cpages, 2);
  t.same(gen.freed, [g], 'the GENERIC page went back to its driver');
  t.same([pageRefCount(k, g), pageMapcount(k, g)], [0, 0], 'free: refcount 0');
  t.notOk(testPageFlag(k, g, PG_anon), 'anon mapping cleared');
  const n = pteAt(mm, X)[1];
  t.ok(n < physToPfn(PRIVATE_BASE) && n !== g, 'page 0 is system RAM again');
  userLoad(mm, X, b);
  t.same(b, pattern(1, 64), 'with its data');
  userLoad(mm, X + P, b);
  t.same(b, pattern(2, 64), 'page 1 untouched');
  t.equal(k.pageAlloc.nrAllocated, 2);
});

t.test('a pinned page (extra reference) is not migrated and its pte is restored', async (t) => {
  const k = new Kernel();
  const mm = new MmStruct(k);
  doMmap(mm, X, 2 * P, RW, FIXED);
  userStore(mm, X, pattern(4, 16));
  userStore(mm, X + P, pattern(5, 16));
  const s = pteAt(mm, X)[1], s1 = pteAt(mm, X + P)[1];
  getPage(k, s); // a pin, as GUP would take
  const m = newMigrateVma(vmaAt(mm, X), X, 2, null, MIGRATE_VMA_SELECT_SYSTEM);
  t.equal(migrateVmaSetup(k, m), 0);
  t.equal(m.src[0], 0, 'the pinned page is dropped from src[]');
  t.equal(m.src[1], mpfn(s1, MIGRATE_PFN_MIGRATE, MIGRATE_PFN_WRITE), 'its neighbour is selected');
  t.equal(m.cpages, 1, 'cpages counts only the neighbour');
  t.same(pteAt(mm, X), [_PAGE_PRESENT | _PAGE_RW | _PAGE_DIRTY, s], 'the pinned page\'s pte is back');
  t.same([pageRefCount(k, s), pageMapcount(k, s)], [2, 1], 'mapping + pin');
  t.notOk(testPageFlag(k, s, PG_locked), 'unlocked');
  t.ok(testPageFlag(k, s, PG_lru), 'back on the LRU');
  migrateVmaFinalize(k, m);
  putPage(k, s);
  t.same([pageRefCount(k, s), pageMapcount(k, s)], [1, 1], 'pin dropped: as before');
});

t.test('a DMA-pinned exclusive page keeps its pte: folio_try_share_anon_rmap_pte() refuses, collect and try_to_migrate back off', async (t) => {
  const k = new Kernel();
  const mm = new MmStruct(k);
  doMmap(mm, X, 2 * P, RW, FIXED);
  userStore(mm, X, pattern(4, 16));
  userStore(mm, X + P, pattern(5, 16));
  const s = pteAt(mm, X)[1], s1 = pteAt(mm, X + P)[1];
  const pinned = new Float64Array(1);
  t.equal(pinUserPages(mm, X, 1, FOLL_WRITE, pinned), 1, 'pinned for DMA');
  t.equal(pageRefCount(k, s), 1 + GUP_PIN_COUNTING_BIAS);
  const mapped = [_PAGE_PRESENT | _PAGE_RW | _PAGE_DIRTY, s];
  // migrate_vma_collect_pmd(): the share is refused before the folio is marked dirty or the entry set.
  const m = newMigrateVma(vmaAt(mm, X), X, 2, null, MIGRATE_VMA_SELECT_SYSTEM);
  t.equal(migrateVmaSetup(k, m), 0);
  t.equal(m.src[0], 0, 'the pinned page is not collected');
  t.equal(m.src[1], mpfn(s1, MIGRATE_PFN_MIGRATE, MIGRATE_PFN_WRITE), 'its neighbour is');
  t.equal(m.cpages, 1);
  t.same(pteAt(mm, X), mapped, 'the pinned page\'s pte is untouched');
  t.notOk(testPageFlag(k, s, PG_dirty), 'never marked dirty: collect backed off before folio_mark_dirty()');
  t.ok(testPageFlag(k, s, PG_anon_exclusive), 'still exclusive');
  t.notOk(testPageFlag(k, s, PG_locked), 'unlocked');
  migrateVmaFinalize(k, m);
  // try_to_migrate_one(): the pte is put back and the walk ends; the page stays mapped.
  lockPage(k, s);
  tryToMigrate(k, s);
  t.same(pteAt(mm, X), mapped, 'try_to_migrate() leaves it mapped');
  t.same([pageMapcount(k, s), pageRefCount(k, s)], [1, 1 + GUP_PIN_COUNTING_BIAS], 'mapping and pin, nothing else');
  t.ok(testPageFlag(k, s, PG_anon_exclusive), 'still exclusive');
  unlockPage(k, s);
  unpinUserPages(k, pinned, 1);
  const buf = new Uint8Array(16);
  userLoad(mm, X, buf);
  t.same(buf, pattern(4, 16), 'data in place');
  mm.mmput();
  t.equal(k.pageAlloc.nrAllocated, 0);
});

t.test('a device-private page with a single extra reference still migrates (the ZONE_DEVICE extra)', async (t) => {
  const k = new Kernel();
  const mm = new MmStruct(k);
  doMmap(mm, X, P, RW, FIXED);
  userStore(mm, X, pattern(6, 16));
  const dev = registeredDevice(k);
  migrateToDevice(dev, vmaAt(mm, X), X, 1);
  const d = pteAt(mm, X)[1];
  getPage(k, d);
  const m = newMigrateVma(vmaAt(mm, X), X, 1, dev.owner, MIGRATE_VMA_SELECT_DEVICE_PRIVATE);
  migrateVmaSetup(k, m);
  // migrate_vma_check_page() still allows one extra reference for ZONE_DEVICE pages.
  t.equal(m.src[0], mpfn(d, MIGRATE_PFN_MIGRATE, MIGRATE_PFN_WRITE), 'selected and kept');
  t.equal(m.cpages, 1);
  migrateVmaFinalize(k, m);
  putPage(k, d);
  t.same([pageRefCount(k, d), pageMapcount(k, d)], [1, 1], 'as before');
});

t.test('round trip system -> device-private -> system keeps data and exact counts', async (t) => {
  const k = new Kernel();
  const mm = new MmStruct(k);
  doMmap(mm, X, 2 * P, RW, FIXED);
  const base = k.pageAlloc.nrAllocated;
  userStore(mm, X, pattern(10));
  userStore(mm, X + P, pattern(20));
  const [s0, s1] = [pteAt(mm, X)[1], pteAt(mm, X + P)[1]];
  const dev = registeredDevice(k);
  const { seen } = recordingNotifier(mm, 0, 2 ** 47);
  const vma = vmaAt(mm, X);

  // To the device, by hand: setup, allocate and copy, pages, finalize.
  const m = newMigrateVma(vma, X, 2, dev.owner, MIGRATE_VMA_SELECT_SYSTEM);
  t.equal(migrateVmaSetup(k, m), 0);
  t.equal(m.cpages, 2);
  const d: number[] = [];
  for (let i = 0; i < 2; i++) {
    d[i] = dev.allocPage();
    const buf = new Uint8Array(PAGE_SIZE);
    memcpyFromPage(k, buf, 0, migratePfnToPage(m.src[i]), 0, PAGE_SIZE);
    dev.contents.set(d[i], buf);
    m.dst[i] = mpfn(d[i], MIGRATE_PFN_WRITE);
  }
  t.same(d, [DPFN, DPFN + 1]);
  migrateVmaPages(k, m);
  t.same([...m.src], [mpfn(s0, MIGRATE_PFN_MIGRATE, MIGRATE_PFN_WRITE), mpfn(s1, MIGRATE_PFN_MIGRATE, MIGRATE_PFN_WRITE)],
    'both still MIGRATE after migrate_vma_pages');
  t.ok(testPageFlag(k, d[0], PG_anon), 'the device page took over the anon mapping');
  migrateVmaFinalize(k, m);
  for (let i = 0; i < 2; i++) {
    t.same(pteAt(mm, X + i * P), [mkSwpEntry(SWP_DEVICE_WRITE), d[i]], `page ${i}: a writable device-private entry`);
    t.same([pageRefCount(k, d[i]), pageMapcount(k, d[i])], [1, 1], `d${i}: refcount 1, mapcount 1`);
    t.notOk(testPageFlag(k, d[i], PG_locked), `d${i} unlocked`);
  }
  t.same([pageRefCount(k, s0), pageRefCount(k, s1)], [0, 0], 'the system pages were freed');
  t.equal(k.pageAlloc.nrAllocated, base, 'nrAllocated back to the baseline');
  t.equal(mm.rssAnon, 2, 'rss unchanged');
  t.same(seen.map((s) => s.event), ['MIGRATE'], 'one MIGRATE invalidation (no hole to insert)');
  t.equal(seen[0].owner, dev.owner);

  // And back, with the fixture's driver.
  const back = migrateToSystem(dev, vma, X, 2);
  t.equal(back.cpages, 2, 'both device pages selected');
  t.equal(k.pageAlloc.nrAllocated, base + 2, 'two new system pages');
  for (let i = 0; i < 2; i++) {
    const [val, pfn] = pteAt(mm, X + i * P);
    t.equal(val, _PAGE_PRESENT | _PAGE_RW, `page ${i}: present, writable`);
    t.ok(pfn < DPFN, `page ${i}: system RAM`);
    t.same([pageRefCount(k, pfn), pageMapcount(k, pfn)], [1, 1], `page ${i}: refcount 1, mapcount 1`);
    t.ok(testPageFlag(k, pfn, PG_lru), `page ${i}: on the LRU`);
    t.notOk(testPageFlag(k, pfn, PG_locked), `page ${i}: unlocked`);
  }
  t.same(dev.freed, [d[0], d[1]], 'page_free once per device page');
  t.same([pageRefCount(k, d[0]), pageMapcount(k, d[0])], [0, 0], 'device page free');
  t.equal(dev.freeList.length, 512, 'every device page is free');
  const b = new Uint8Array(PAGE_SIZE);
  userLoad(mm, X, b);
  t.same(b, pattern(10), 'page 0 data');
  userLoad(mm, X + P, b);
  t.same(b, pattern(20), 'page 1 data');
  t.equal(doMunmap(mm, X, 2 * P), 0);
  t.equal(k.pageAlloc.nrAllocated, base, 'after munmap nothing is left');
  t.equal(k.warnings.length, 0, 'no warning all along');
});

t.test('a CPU access to a device-private page faults it back through migrate_to_ram', async (t) => {
  const k = new Kernel();
  const mm = new MmStruct(k);
  doMmap(mm, X, P, RW, FIXED);
  userStore(mm, X, pattern(30));
  const dev = registeredDevice(k);
  migrateToDevice(dev, vmaAt(mm, X), X, 1);
  const d = pteAt(mm, X)[1];
  t.equal(d, DPFN);
  const b = new Uint8Array(PAGE_SIZE);
  userLoad(mm, X, b);
  t.equal(dev.faults, 1, 'migrate_to_ram called once');
  t.same(b, pattern(30), 'the data');
  const [val, pfn] = pteAt(mm, X);
  t.equal(val, _PAGE_PRESENT | _PAGE_RW, 'a present writable pte');
  t.same([pageRefCount(k, pfn), pageMapcount(k, pfn)], [1, 1]);
  t.same(dev.freed, [d], 'the device page was freed, once, after do_swap_page dropped its reference');
  t.equal(pageRefCount(k, d), 0);
  userLoad(mm, X, b);
  t.equal(dev.faults, 1, 'no second fault');
});

t.test('holes and the zero page migrate to device-private pages through migrate_vma_insert_page', async (t) => {
  const k = new Kernel();
  const mm = new MmStruct(k);
  doMmap(mm, X, 2 * P, RW, FIXED);
  userLoad(mm, X + P, new Uint8Array(1)); // zero page at page 1, page 0 none
  const dev = registeredDevice(k);
  const { seen } = recordingNotifier(mm, 0, 2 ** 47);
  const r = migrateToDevice(dev, vmaAt(mm, X), X, 2);
  t.same([...r.args.src], [MIGRATE_PFN_MIGRATE, MIGRATE_PFN_MIGRATE], 'both inserted');
  for (let i = 0; i < 2; i++) {
    t.same(pteAt(mm, X + i * P), [mkSwpEntry(SWP_DEVICE_WRITE), DPFN + i], `page ${i}: device-private entry`);
    t.same([pageRefCount(k, DPFN + i), pageMapcount(k, DPFN + i)], [1, 1], `d${i}: refcount 1, mapcount 1`);
    t.ok(testPageFlag(k, DPFN + i, PG_anon), `d${i}: anon`);
  }
  t.same(seen.map((s) => s.event), ['MIGRATE', 'MIGRATE'], 'collect and insert each invalidate with MIGRATE');
  t.equal(seen[1].owner, dev.owner);
  t.equal(k.pageAlloc.nrAllocated, 0, 'no system page involved');
  const b = new Uint8Array(16).fill(1);
  userLoad(mm, X + P, b);
  t.same(b, new Uint8Array(16), 'reads back zeroes');
  t.equal(doMunmap(mm, X, 2 * P), 0);
  t.same(dev.freed.sort(), [DPFN, DPFN + 1], 'munmap freed both device pages');
});

t.test('a read-only VMA gets read-only device-private entries for its holes', async (t) => {
  const k = new Kernel();
  const mm = new MmStruct(k);
  doMmap(mm, X, P, PROT_READ, FIXED);
  const dev = registeredDevice(k);
  migrateToDevice(dev, vmaAt(mm, X), X, 1);
  t.same(pteAt(mm, X), [mkSwpEntry(SWP_DEVICE_READ), DPFN]);
});

t.test('a non-anonymous VMA: holes are not selected', async (t) => {
  const k = new Kernel();
  const mm = new MmStruct(k);
  doMmap(mm, X, 2 * P, RW, FIXED);
  vmaAt(mm, X).vmOps = { name: 'a file' };
  const m = newMigrateVma(vmaAt(mm, X), X, 2, null, MIGRATE_VMA_SELECT_SYSTEM);
  t.equal(migrateVmaSetup(k, m), 0);
  t.same([...m.src], [0, 0]);
  t.equal(m.cpages, 0);
});

t.test('an unsupported ZONE_DEVICE destination is refused by migrate_vma_insert_page', async (t) => {
  const k = new Kernel();
  const mm = new MmStruct(k);
  doMmap(mm, X, P, RW, FIXED);
  const dax = new FakeDevice(k, MEMORY_DEVICE_FS_DAX, PRIVATE_BASE, 2 * MiB, 'dax');
  t.equal(dax.register(), 0);
  const m = newMigrateVma(vmaAt(mm, X), X, 1, null, MIGRATE_VMA_SELECT_SYSTEM);
  migrateVmaSetup(k, m);
  const p = dax.allocPage();
  m.dst[0] = migratePfn(p);
  migrateVmaPages(k, m);
  t.equal(m.src[0], 0, 'MIGRATE cleared');
  t.same(k.warnings, ['WARNING: migrate_vma_insert_page: Unsupported ZONE_DEVICE page type.']);
  t.same(pteAt(mm, X), [0, 0], 'nothing mapped');
  migrateVmaFinalize(k, m);
  t.equal(pageRefCount(k, p), 0, 'finalize dropped the destination');
});

t.test('a reference taken after setup makes migrate_vma_pages give up on the page', async (t) => {
  const k = new Kernel();
  const mm = new MmStruct(k);
  doMmap(mm, X, P, RW, FIXED);
  userStore(mm, X, pattern(40, 8));
  const s = pteAt(mm, X)[1];
  const dev = registeredDevice(k);
  const m = newMigrateVma(vmaAt(mm, X), X, 1, dev.owner, MIGRATE_VMA_SELECT_SYSTEM);
  migrateVmaSetup(k, m);
  t.equal(m.cpages, 1);
  const d = dev.allocPage();
  m.dst[0] = mpfn(d, MIGRATE_PFN_WRITE);
  getPage(k, s); // somebody else got hold of the page meanwhile
  migrateVmaPages(k, m);
  t.equal(m.src[0] & MIGRATE_PFN_MIGRATE, 0, 'folio_migrate_mapping() failed: MIGRATE cleared');
  t.equal(m.src[0] & MIGRATE_PFN_VALID, MIGRATE_PFN_VALID, 'the source is still named');
  migrateVmaFinalize(k, m);
  t.same(pteAt(mm, X), [_PAGE_PRESENT | _PAGE_RW | _PAGE_DIRTY, s], 'the source is mapped again');
  t.same([pageRefCount(k, s), pageMapcount(k, s)], [2, 1], 'mapping + the other reference');
  t.same(dev.freed, [d], 'the unused destination went back to the device');
  putPage(k, s);
});

t.test('a destination the driver forgot to lock makes finalize hit folio_unlock()', async (t) => {
  const k = new Kernel();
  const mm = new MmStruct(k);
  doMmap(mm, X, P, RW, FIXED);
  userStore(mm, X, Uint8Array.of(1));
  const dev = registeredDevice(k);
  const m = newMigrateVma(vmaAt(mm, X), X, 1, dev.owner, MIGRATE_VMA_SELECT_SYSTEM);
  migrateVmaSetup(k, m);
  const d = dev.freeList.pop()!;
  setPageCount(k, d, 1); // init_page_count() without lock_page(): the driver bug
  dev.contents.set(d, new Uint8Array(PAGE_SIZE));
  m.dst[0] = mpfn(d, MIGRATE_PFN_WRITE);
  migrateVmaPages(k, m);
  expectKernelBug(t, () => migrateVmaFinalize(k, m), 'BUG', 'folio_unlock',
    new RegExp(`pfn 0x${d.toString(16)} is not locked`));
});

t.test('a system destination the driver forgot to lock, on the way back', async (t) => {
  const k = new Kernel();
  const mm = new MmStruct(k);
  doMmap(mm, X, P, RW, FIXED);
  userStore(mm, X, Uint8Array.of(1));
  const dev = registeredDevice(k);
  migrateToDevice(dev, vmaAt(mm, X), X, 1);
  const m = newMigrateVma(vmaAt(mm, X), X, 1, dev.owner, MIGRATE_VMA_SELECT_DEVICE_PRIVATE);
  migrateVmaSetup(k, m);
  const n = k.pageAlloc.allocPage(); // no lockPage()
  m.dst[0] = mpfn(n, MIGRATE_PFN_WRITE);
  migrateVmaPages(k, m);
  expectKernelBug(t, () => migrateVmaFinalize(k, m), 'BUG', 'folio_unlock', /is not locked/);
});

t.test('a migration entry restored in a VMA made PROT_NONE meanwhile comes back PROT_NONE (remove_migration_pte(): mk_pte with vm_page_prot)', async (t) => {
  const k = new Kernel();
  const mm = new MmStruct(k);
  doMmap(mm, X, P, RW, FIXED);
  userStore(mm, X, Uint8Array.of(5));
  const s = pteAt(mm, X)[1];
  const m = newMigrateVma(vmaAt(mm, X), X, 1, null, MIGRATE_VMA_SELECT_SYSTEM);
  migrateVmaSetup(k, m);
  t.equal(doMprotect(mm, X, P, PROT_NONE), 0, 'mprotect(PROT_NONE) while the page is unmapped for migration');
  migrateVmaFinalize(k, m); // no destination: the old page is mapped back
  t.same(pteAt(mm, X), [_PAGE_PRESENT | _PAGE_PROTNONE | _PAGE_DIRTY, s], 'restored as a PROT_NONE pte');
  t.throws(() => userLoad(mm, X, new Uint8Array(1)), FatalSignal, 'the CPU may not read it');
});
