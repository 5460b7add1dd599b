// SPDX-License-Identifier: GPL-2.0-only
/*
 * Seed 004's MEMORY_DEVICE_PUBLIC (2017), mechanism by mechanism: the
 * one-based refcount (free pages rest at 1, page_free() when put_page()
 * brings a page back to 1), present pte_devmap() ptes that
 * vm_normal_page() gives no page for, the copy_one_pte() hunk at fork, the
 * remove_migration_pte() hunk, migration in both directions selected as
 * system memory, short-term gup through get_dev_pagemap() and no long-term
 * pin. Each mechanism has a broken version that its test catches.
 *
 *   parent  0123   PUBLIC pages after migrateToDevice (devmap ptes)
 *   fork    0123   child maps the same four, read-only in both
 *   write   w123   the parent's write copies page 0 to system memory
 */
import t from 'tap';
import { Kernel } from '../../src/kernel-model/kernel.js';
import { IS_ERR } from '../../src/kernel-model/errno.js';
import { type Page, PAGE_SIZE, PG_anon_exclusive } from '../../src/kernel-model/page.js';
import { type MmStruct, MmStruct as Mm, doMunmap } from '../../src/kernel-model/mm.js';
import { userLoad, userStore, vmNormalPage } from '../../src/kernel-model/memory.js';
import { pteIndex, ptePresent, pteWrite, pteSpecial, pteDevmap } from '../../src/kernel-model/pgtable.js';
import { pageMapcount, pageRefCount, testPageFlag } from '../../src/kernel-model/page_alloc.js';
import { MEMORY_DEVICE_PUBLIC, MEMORY_DEVICE_COHERENT, isDevicePublicPage, memremapPages, pagePgmap,
  zoneDeviceFreeRefcount, zoneDeviceRestRefcount } from '../../src/kernel-model/memremap.js';
import { MIGRATE_PFN_MIGRATE, MIGRATE_VMA_SELECT_DEVICE_COHERENT, migrateVmaFinalize, migrateVmaSetup,
  migratePfnToPage } from '../../src/kernel-model/migrate_device.js';
import { FOLL_LONGTERM, FOLL_WRITE, folioMaybeDmaPinned, getUserPages, getUserPagesFast, pinUserPages, pinUserPagesFast,
  unpinUserPages } from '../../src/kernel-model/gup.js';
import { putPage, unlockPage } from '../../src/kernel-model/page_alloc.js';
import { makeDeviceExclusiveRange } from '../../src/kernel-model/rmap.js';
import { isDeviceExclusiveEntry } from '../../src/kernel-model/pgtable.js';
import { Task } from '../../src/kernel-model/task.js';
import { ZONE_DEVICE_ONE_BASED_REFCOUNT, composeKernel, type KernelVersion } from '../../src/kernel-model/changes.js';
import { type FakeDevice, MiB, SPM0, migrateToDevice, migrateToSystem, mmapAnon, newMigrateVma, pattern,
  registeredDevice } from './fixtures/fake_device.js';

const P = PAGE_SIZE, N = 4;

function pte(mm: MmStruct, addr: number): { val: number; pfn: Page } {
  const tb = mm.pgtable.lookup(addr);
  return tb === undefined ? { val: 0, pfn: 0 } : { val: tb.val[pteIndex(addr)], pfn: tb.pfn[pteIndex(addr)] };
}
function load(mm: MmStruct, addr: number): Uint8Array {
  const b = new Uint8Array(P);
  userLoad(mm, addr, b);
  return b;
}
const same = (a: Uint8Array, b: Uint8Array): boolean => a.length === b.length && a.every((x, i) => x === b[i]);

/** A PUBLIC device whose page_free() records the refcount it sees. */
function publicDevice(k: Kernel): { dev: FakeDevice; freedAt: number[] } {
  const dev = registeredDevice(k, MEMORY_DEVICE_PUBLIC);
  const freedAt: number[] = [];
  const free = dev.pgmap.ops!.pageFree!;
  dev.pgmap.ops!.pageFree = (page) => { freedAt.push(pageRefCount(k, page)); free(page); };
  return { dev, freedAt };
}

/** A process with N written pages (page p holds pattern(p)) migrated to a PUBLIC device. */
function onDevice(k: Kernel): { task: Task; addr: number; dev: FakeDevice; freedAt: number[] } {
  const { dev, freedAt } = publicDevice(k);
  const task = new Task(k);
  const { addr, vma } = mmapAnon(task.mm, N);
  for (let p = 0; p < N; p++) userStore(task.mm, addr + p * P, pattern(p));
  migrateToDevice(dev, vma, addr, N);
  return { task, addr, dev, freedAt };
}

t.test('memremap_pages(PUBLIC): every free page rests at refcount 1; handed out at 2; page_free is the one op required', async (t) => {
  const k = new Kernel();
  const { dev } = publicDevice(k);
  const first = SPM0 / P;
  t.equal(zoneDeviceRestRefcount(dev.pgmap), 1);
  t.equal(zoneDeviceFreeRefcount(k, dev.pgmap), 1);
  t.ok([0, 1, 511].every((i) => pageRefCount(k, first + i) === 1), 'the memmap starts each page at 1 (2017 rule)');
  const page = dev.allocPage();
  t.equal(pageRefCount(k, page), 2, 'the driver\'s get_page() on a free page');
  putPage(k, page); // the driver's unlock-and-put with nothing mapping it
  t.equal(pageRefCount(k, page), 1, 'back at rest');
  t.ok(dev.freed.includes(page), 'page_free() ran');
  const noFree = { type: MEMORY_DEVICE_PUBLIC, range: { start: SPM0 + 2 * MiB, end: SPM0 + 4 * MiB - 1 }, ops: null, owner: null } as const;
  t.ok(IS_ERR(memremapPages(k, { ...noFree })), 'no page_free(): refused');
  t.ok(k.warnings.some((w) => w.includes('Missing page_free method')), 'with the WARN');
  const ok = { ...noFree, ops: { pageFree: () => {} } };
  t.notOk(IS_ERR(memremapPages(k, ok)), 'no migrate_to_ram() and no owner needed ("only the page_free() callback matter")');
  t.equal(zoneDeviceRestRefcount({ ...ok, type: MEMORY_DEVICE_COHERENT }), 0, 'COHERENT keeps 6.12\'s zero-based rule');
});

t.test('system memory to PUBLIC memory: present devmap ptes, data in place, page_free at refcount 1 on munmap', async (t) => {
  const k = new Kernel();
  const { task, addr, dev, freedAt } = onDevice(k);
  for (let p = 0; p < N; p++) {
    const { val, pfn } = pte(task.mm, addr + p * P);
    t.ok(isDevicePublicPage(k, pfn), `page ${p} is PUBLIC memory`);
    t.ok(ptePresent(val) && pteSpecial(val) && pteDevmap(val) && pteWrite(val), `page ${p}: present, writable, pte_mkdevmap()`);
    t.equal(vmNormalPage(k, val, pfn, false), 0, 'vm_normal_page() gives no page');
    t.equal(vmNormalPage(k, val, pfn, true), pfn, '_vm_normal_page(..., with_public_device) does');
    t.equal(pageRefCount(k, pfn), 2, 'rest + the pte');
    t.equal(pageMapcount(k, pfn), 1);
    t.ok(same(load(task.mm, addr + p * P), pattern(p)), `the CPU reads page ${p} where it is`);
  }
  t.equal(task.mm.rssAnon, N, 'counted as anonymous rss');
  userStore(task.mm, addr, pattern(40));
  t.ok(same(load(task.mm, addr), pattern(40)), 'a CPU write lands in device memory, no fault');
  doMunmap(task.mm, addr, N * P);
  t.same(freedAt, [1, 1, 1, 1], 'zap hands each page back at refcount 1');
  t.equal(dev.freeList.length, 512, 'all device pages free');
  t.equal(k.pageAlloc.nrAllocated, 0, 'the system pages went when they were migrated');
});

t.test('BROKEN: page_free at the wrong refcount is caught', async (t) => {
  for (const at of [0, 2]) {
    const k = new Kernel();
    k.inject.zoneDeviceFreeRefcount = () => at;
    const { task, addr, dev, freedAt } = onDevice(k);
    doMunmap(task.mm, addr, N * P);
    const problems: string[] = [];
    if (dev.freeList.length !== 512) problems.push(`${512 - dev.freeList.length} device pages never freed`);
    if (freedAt.some((r) => r !== 1)) problems.push(`page_free() at refcount ${freedAt.join(',')}`);
    if (k.warnings.length) problems.push(k.warnings[0]);
    t.ok(problems.length > 0, `free at ${at}: ${problems.join('; ')}`);
  }
});

t.test('the one-based patch keeps its own rule: non-PUBLIC pages freed at 1 while PUBLIC pages are unchanged', async (t) => {
  const k = new Kernel({ version: composeKernel('6.12', [ZONE_DEVICE_ONE_BASED_REFCOUNT.name]) as KernelVersion });
  const coh = registeredDevice(k, MEMORY_DEVICE_COHERENT, { start: SPM0 + 2 * MiB });
  t.equal(zoneDeviceFreeRefcount(k, coh.pgmap), 1, 'COHERENT under the patch: freed at 1');
  t.equal(zoneDeviceRestRefcount(coh.pgmap), 0, '... but its drivers still hand out from 0 (the mismatch the patch shows)');
  const { dev } = publicDevice(k);
  t.equal(zoneDeviceFreeRefcount(k, dev.pgmap), 1);
  t.equal(zoneDeviceRestRefcount(dev.pgmap), 1);
});

/** Fork a process whose N pages are PUBLIC; what is wrong with the state after fork, a parent write and both exits. */
function forkProblems(k: Kernel): string[] {
  const problems: string[] = [];
  const { task: parent, addr, dev } = onDevice(k);
  const child = parent.fork();
  if (IS_ERR(child)) return ['fork failed'];
  for (let p = 0; p < N; p++) {
    const a = addr + p * P, pp = pte(parent.mm, a), cp = pte(child.mm, a);
    if (cp.pfn !== pp.pfn || !pteDevmap(cp.val)) problems.push(`page ${p}: the child does not map the same devmap page`);
    if (pteWrite(pp.val) || pteWrite(cp.val)) problems.push(`page ${p}: still writable after fork (no COW)`);
    if (pageMapcount(k, pp.pfn) !== 2) problems.push(`page ${p}: mapcount ${pageMapcount(k, pp.pfn)}, not 2`);
    if (pageRefCount(k, pp.pfn) !== 3) problems.push(`page ${p}: refcount ${pageRefCount(k, pp.pfn)}, not rest + 2 ptes`);
    if (testPageFlag(k, pp.pfn, PG_anon_exclusive)) problems.push(`page ${p}: still PageAnonExclusive`);
  }
  if (child.mm.rssAnon !== N) problems.push(`child rss ${child.mm.rssAnon}`);
  try {
    userStore(parent.mm, addr, pattern(50));
    const w = pte(parent.mm, addr);
    if (pagePgmap(k, w.pfn) !== null || !pteWrite(w.val)) problems.push('the parent\'s write did not copy to a writable system page');
    if (!same(load(parent.mm, addr), pattern(50))) problems.push('the parent lost its write');
    if (!same(load(child.mm, addr), pattern(0))) problems.push('the child sees the parent\'s write');
    if (!same(load(parent.mm, addr + P), pattern(1))) problems.push('the COW copy lost data');
    child.exit();
    parent.exit();
  } catch (e) {
    problems.push(`kernel: ${(e as Error).message.split('\n')[0]}`);
    return problems;
  }
  if (dev.freeList.length !== 512) problems.push(`${512 - dev.freeList.length} device pages not freed`);
  if (k.pageAlloc.nrAllocated !== 0) problems.push(`${k.pageAlloc.nrAllocated} system pages leaked`);
  if (k.warnings.length) problems.push(...k.warnings);
  return problems;
}

t.test('fork (seed 004 copy_one_pte() hunk): the child shares each PUBLIC page as a regular page; a write COWs to system memory', async (t) => {
  t.same(forkProblems(new Kernel()), []);
});

t.test('BROKEN: fork without the pte_devmap branch (a raw pfn copy) is caught', async (t) => {
  const k = new Kernel();
  k.inject.copyPteDevmap = () => 0;
  const problems = forkProblems(k);
  t.ok(problems.some((p) => p.includes('mapcount 1, not 2')), `reported: ${problems.join('; ')}`);
  t.ok(problems.some((p) => p.includes('mapcount underflow')), 'and the second unmap underflows the mapcount');
});

t.test('PUBLIC pages are system memory to migrate_vma selection (2017: every present page); they migrate back to system memory', async (t) => {
  const k = new Kernel();
  const { task, addr, dev, freedAt } = onDevice(k);
  const vma = task.mm.mmMt.find(addr)!;
  const coh = newMigrateVma(vma, addr, N, dev.owner, MIGRATE_VMA_SELECT_DEVICE_COHERENT);
  t.equal(migrateVmaSetup(k, coh), 0);
  t.equal(coh.cpages, 0, 'SELECT_DEVICE_COHERENT does not offer them');
  migrateVmaFinalize(k, coh);
  const r = migrateToSystem(dev, vma, addr, N);
  t.equal(r.cpages, N, 'SELECT_SYSTEM does');
  t.ok([...r.args.src.subarray(0, N)].every((m) => (m & MIGRATE_PFN_MIGRATE) && isDevicePublicPage(k, migratePfnToPage(m))),
    'each PUBLIC page migrated');
  for (let p = 0; p < N; p++) {
    const { val, pfn } = pte(task.mm, addr + p * P);
    t.ok(pagePgmap(k, pfn) === null && !pteDevmap(val) && !pteSpecial(val), `page ${p}: an ordinary pte of a system page`);
    t.ok(same(load(task.mm, addr + p * P), pattern(p)), `page ${p}: data intact`);
  }
  t.same(freedAt, [1, 1, 1, 1], 'folio_migrate_mapping() expected the rest reference; page_free() at 1');
  t.equal(dev.freeList.length, 512);
  task.exit();
  t.equal(k.pageAlloc.nrAllocated, 0);
  t.equal(k.warnings.length, 0, k.warnings.join('\n'));
});

t.test('gup: FOLL_GET and a short-term pin take PUBLIC pages in place (get_dev_pagemap()); FOLL_LONGTERM moves them first', async (t) => {
  const k = new Kernel();
  const { task, addr, dev } = onDevice(k);
  const mm = task.mm, pages = new Float64Array(1);
  t.equal(getUserPages(mm, addr, 1, 0, pages), 1);
  t.ok(isDevicePublicPage(k, pages[0]) && pageRefCount(k, pages[0]) === 3, 'get_user_pages(): the device page, one more reference');
  putPage(k, pages[0]);
  t.equal(getUserPagesFast(mm, addr + P, 1, 0, pages), 1);
  t.ok(isDevicePublicPage(k, pages[0]), 'get_user_pages_fast(): the same through the devmap branch');
  putPage(k, pages[0]);
  t.equal(pinUserPages(mm, addr, 1, FOLL_WRITE, pages), 1);
  t.ok(isDevicePublicPage(k, pages[0]) && folioMaybeDmaPinned(k, pages[0]), 'a short-term pin leaves it where it is');
  unpinUserPages(k, pages, 1);
  t.same(longtermProblems(k, task, addr, dev), []);
  task.exit();
  t.equal(dev.freeList.length, 512);
  t.equal(k.warnings.length, 0, k.warnings.join('\n'));
});

/** Long-term pin pages 2 and 3 (fast); what is wrong: [] when they were moved to pinned system pages, data intact. */
function longtermProblems(k: Kernel, task: Task, addr: number, dev: FakeDevice): string[] {
  const problems: string[] = [], mm = task.mm, pages = new Float64Array(2);
  const n = pinUserPagesFast(mm, addr + 2 * P, 2, FOLL_WRITE | FOLL_LONGTERM, pages);
  if (n !== 2) return [`pinned ${n}`];
  for (let i = 0; i < 2; i++) {
    if (pagePgmap(k, pages[i]) !== null) problems.push(`page ${2 + i} pinned in device memory`);
    if (!folioMaybeDmaPinned(k, pages[i])) problems.push(`page ${2 + i} not pinned`);
    if (pte(mm, addr + (2 + i) * P).pfn !== pages[i]) problems.push(`page ${2 + i} is not what the pte maps`);
  }
  if (!same(load(mm, addr + 2 * P), pattern(2))) problems.push('data lost');
  unpinUserPages(k, pages, 2);
  if (dev.freeList.length !== 512 - 2) problems.push(`${512 - dev.freeList.length} device pages in use, not 2`);
  return problems;
}

t.test('BROKEN: a long-term pin that leaves PUBLIC pages pinned in device memory is caught', async (t) => {
  const k = new Kernel();
  k.inject.checkAndMigrateMovablePages = () => 0;
  const { task, addr, dev } = onDevice(k);
  const problems = longtermProblems(k, task, addr, dev);
  t.ok(problems.includes('page 2 pinned in device memory'), `reported: ${problems.join('; ')}`);
});

t.test('a device-exclusive PUBLIC page comes back under a devmap pte when the CPU touches it', async (t) => {
  const k = new Kernel();
  const { task, addr, dev, freedAt } = onDevice(k);
  const pages = new Float64Array(1);
  t.equal(makeDeviceExclusiveRange(task.mm, addr, addr + P, pages, dev.owner), 1);
  t.ok(isDevicePublicPage(k, pages[0]), 'gup found the PUBLIC page through its devmap pte');
  unlockPage(k, pages[0]);
  putPage(k, pages[0]);
  t.ok(isDeviceExclusiveEntry(pte(task.mm, addr).val), 'now a device-exclusive entry');
  t.ok(same(load(task.mm, addr), pattern(0)), 'a CPU read restores it, data intact');
  const { val, pfn } = pte(task.mm, addr);
  t.ok(pfn === pages[0] && pteDevmap(val) && pteSpecial(val), 'mapped again by a devmap pte');
  task.exit();
  t.same(freedAt, [1, 1, 1, 1], 'every page back at refcount 1');
  t.equal(k.warnings.length, 0, k.warnings.join('\n'));
});
