// SPDX-License-Identifier: GPL-2.0-only
/*
 * Tests of src/kernel-model/memremap.ts (mm/memremap.c): memremap_pages()
 * and its refusals, ZONE_DEVICE refcounts from zero (seed 000 patch 02),
 * page_free at the last put for PRIVATE and GENERIC pages (patch 08),
 * memunmap_pages() finding pages still in use.
 */
import t from 'tap';
import { Kernel } from '../../src/kernel-model/kernel.js';
import { EINVAL, ENOMEM, ENXIO, IS_ERR } from '../../src/kernel-model/errno.js';
import { Memmap, PG_anon, PG_anon_exclusive, PG_locked, physToPfn } from '../../src/kernel-model/page.js';
import { type DevPagemap, MEMORY_DEVICE_GENERIC, MEMORY_DEVICE_PRIVATE, type MemoryType, isDevicePage,
  isDevicePrivatePage, isDeviceGenericPage, memremapPages, memunmapPages, zoneDevicePageInit,
  pagePgmap } from '../../src/kernel-model/memremap.js';
import { getPage, isZoneDevicePage, pageRefCount, putPage, testPageFlag, unlockPage } from '../../src/kernel-model/page_alloc.js';
import { FakeDevice, registeredDevice, MiB, PRIVATE_BASE, SPM0, expectKernelBug } from './fixtures/fake_device.js';

const TYPES: Array<[string, MemoryType, number]> = [
  ['PRIVATE', MEMORY_DEVICE_PRIVATE, PRIVATE_BASE],
  ['GENERIC', MEMORY_DEVICE_GENERIC, SPM0],
];

for (const [name, type, base] of TYPES) {
  t.test(`${name}: pages start at refcount 0; zone_device_page_init; the last put calls page_free once`, async (t) => {
    const k = new Kernel();
    const dev = new FakeDevice(k, type, base, 2 * MiB);
    t.equal(dev.register(), 0, 'memremap_pages succeeds');
    t.equal(k.pgmaps.length, 1, 'registered');
    t.equal(dev.pgmap.live, true, 'live');
    const first = physToPfn(base);
    t.ok(isZoneDevicePage(k, first), 'ZONE_DEVICE');
    t.equal(isDevicePrivatePage(k, first), type === MEMORY_DEVICE_PRIVATE, 'is_device_private_page');
    t.equal(isDeviceGenericPage(k, first), type === MEMORY_DEVICE_GENERIC, 'is_device_generic_page');
    t.ok(isDevicePage(k, first), 'is_device_page (seed 06)');
    t.equal(pagePgmap(k, first), dev.pgmap, 'page->pgmap');
    t.equal(pageRefCount(k, first), 0, 'a free device page has refcount 0');
    t.equal(pageRefCount(k, first + 511), 0, 'every one of them');

    const p = dev.allocPage();
    t.equal(p, first, 'the driver hands out its first page');
    t.equal(pageRefCount(k, p), 1, 'zone_device_page_init sets refcount 1');
    t.ok(testPageFlag(k, p, PG_locked), 'and locks the page');
    t.equal(k.warnings.length, 0, 'no warning');

    // As if the page had been mapped anonymous: a stale anon mapping it must lose when freed.
    const b = k.memmap.block(p), i = Memmap.slot(p);
    b.flags[i] |= PG_anon | PG_anon_exclusive;
    b.mapping[i] = 42;
    getPage(k, p);
    unlockPage(k, p);
    putPage(k, p);
    t.same(dev.freed, [], 'not freed while a reference is left');
    putPage(k, p);
    t.same(dev.freed, [p], 'page_free called exactly once, with the page');
    t.equal(pageRefCount(k, p), 0, 'back to refcount 0 (not 1 as before seed 02)');
    t.equal(b.mapping[i], 0, 'the anon mapping is cleared');
    t.notOk(testPageFlag(k, p, PG_anon), 'PG_anon cleared');
    t.notOk(testPageFlag(k, p, PG_anon_exclusive), 'PG_anon_exclusive cleared');
    t.equal(k.pageAlloc.nrAllocated, 0, 'device pages never go to the page allocator');
    t.equal(k.warnings.length, 0, 'no warning');
    expectKernelBug(t, () => putPage(k, p), 'BUG', 'put_page', /underflow/);
    t.same(dev.freed, [p], 'a put too many is caught, page_free is not called again');
  });
}

t.test('zone_device_page_init on a page that is not free warns', async (t) => {
  const k = new Kernel();
  const dev = registeredDevice(k);
  const p = dev.allocPage();
  unlockPage(k, p);
  zoneDevicePageInit(k, p); // a driver bug: the page is still in use
  t.equal(k.warnings.length, 1);
  t.match(k.warnings[0], /zone_device_page_init: pfn 0x[0-9a-f]+ handed out with refcount 1/);
});

t.test('freeing a device page that is still locked or mapped warns', async (t) => {
  const k = new Kernel();
  const dev = registeredDevice(k, MEMORY_DEVICE_GENERIC);
  const p = dev.allocPage();
  k.memmap.block(p).mapcount[Memmap.slot(p)] = 1;
  putPage(k, p); // locked and mapped: the driver dropped a reference it did not own
  t.equal(k.warnings.length, 2, 'two warnings');
  t.match(k.warnings[0], /free_zone_device_page: .* freed while locked/);
  t.match(k.warnings[1], /free_zone_device_page: .* freed while mapped/);
});

t.test('a pgmap whose page_free went away: WARN, page not handed back', async (t) => {
  const k = new Kernel();
  const dev = registeredDevice(k, MEMORY_DEVICE_GENERIC);
  const p = dev.allocPage();
  unlockPage(k, p);
  dev.pgmap.ops = null; // broken driver
  putPage(k, p);
  t.same(dev.freed, [], 'page_free not called');
  t.match(k.warnings.at(-1), /free_zone_device_page: no page_free method/);
});

t.test('with panic_on_warn a broken free is a kernel BUG', async (t) => {
  const k = new Kernel({ panicOnWarn: true });
  const dev = registeredDevice(k, MEMORY_DEVICE_GENERIC);
  const p = dev.allocPage();
  expectKernelBug(t, () => putPage(k, p), 'BUG', 'free_zone_device_page', /panic_on_warn: .*freed while locked/);
});

function pgmapOf(type: MemoryType, start: number, size: number, ops: DevPagemap['ops'], owner: object | null): DevPagemap {
  return { type, range: { start, end: start + size - 1 }, ops, owner };
}

t.test('memremap_pages refuses a PRIVATE pgmap without migrate_to_ram, page_free or owner', async (t) => {
  const k = new Kernel();
  const owner = {};
  const pageFree = () => {};
  const migrateToRam = () => 0;
  const cases: Array<[string, DevPagemap['ops'], object | null, string]> = [
    ['no ops', null, owner, 'Missing migrate_to_ram method'],
    ['no migrate_to_ram', { pageFree }, owner, 'Missing migrate_to_ram method'],
    ['no page_free', { migrateToRam } as unknown as DevPagemap['ops'], owner, 'Missing page_free method'],
    ['no owner', { pageFree, migrateToRam }, null, 'Missing owner'],
  ];
  for (const [what, ops, own, warning] of cases) {
    const before = k.warnings.length;
    const r = memremapPages(k, pgmapOf(MEMORY_DEVICE_PRIVATE, PRIVATE_BASE, 2 * MiB, ops, own));
    t.same(r, { err: -EINVAL }, `${what}: -EINVAL`);
    t.equal(k.warnings.length, before + 1, `${what}: one warning`);
    t.equal(k.warnings.at(-1), `WARNING: memremap_pages: ${warning}`, `${what}: says what is missing`);
  }
  t.equal(k.pgmaps.length, 0, 'nothing registered');
  t.notOk(k.memmap.valid(physToPfn(PRIVATE_BASE)), 'no struct pages created');
  const ok = memremapPages(k, pgmapOf(MEMORY_DEVICE_PRIVATE, PRIVATE_BASE, 2 * MiB, { pageFree, migrateToRam }, owner));
  t.equal(ok, PRIVATE_BASE, 'with all three it maps, returning the start');
  t.ok(k.memmap.valid(physToPfn(PRIVATE_BASE)), 'struct pages now exist');
});

t.test('memremap_pages refuses System RAM with -ENXIO', async (t) => {
  const k = new Kernel();
  const r = memremapPages(k, pgmapOf(MEMORY_DEVICE_GENERIC, 0x180000000, 2 * MiB, { pageFree: () => {} }, {}));
  t.same(r, { err: -ENXIO }, '-ENXIO');
  t.match(k.warnings.at(-1), /pagemap_range: attempted on System RAM region \[mem 0x180000000-0x1801fffff\]/);
  const straddle = memremapPages(k, pgmapOf(MEMORY_DEVICE_GENERIC, 0x180000000 - 2 * MiB, 4 * MiB, { pageFree: () => {} }, {}));
  t.same(straddle, { err: -ENXIO }, 'partly RAM is refused too');
  t.equal(k.pgmaps.length, 0);
});

t.test('memremap_pages refuses an overlapping pgmap with -ENOMEM', async (t) => {
  const k = new Kernel();
  const a = new FakeDevice(k, MEMORY_DEVICE_PRIVATE, PRIVATE_BASE, 4 * MiB, 'a');
  t.equal(a.register(), 0);
  const b = new FakeDevice(k, MEMORY_DEVICE_PRIVATE, PRIVATE_BASE + 2 * MiB, 4 * MiB, 'b');
  t.equal(b.register(), -ENOMEM, 'overlap: -ENOMEM');
  t.match(k.warnings.at(-1), /pagemap_range: Conflicting mapping in same section/);
  t.equal(k.pgmaps.length, 1, 'only the first is registered');
  t.equal(pagePgmap(k, physToPfn(PRIVATE_BASE + 3 * MiB)), a.pgmap, 'the pages stay the first pgmap\'s');
  const c = new FakeDevice(k, MEMORY_DEVICE_PRIVATE, PRIVATE_BASE + 4 * MiB, 2 * MiB, 'c');
  t.equal(c.register(), 0, 'an adjacent range is fine');
});

t.test('memremap_pages refuses a range that is not 2 MiB aligned', async (t) => {
  const k = new Kernel();
  const r = memremapPages(k, pgmapOf(MEMORY_DEVICE_GENERIC, SPM0 + 4096, 2 * MiB, { pageFree: () => {} }, {}));
  t.ok(IS_ERR(r) && r.err === -EINVAL, '-EINVAL');
});

t.test('memunmap_pages: clean, then with a page still referenced (6.12 waits on pgmap->done: a hung task)', async (t) => {
  const k = new Kernel();
  const dev = registeredDevice(k);
  const p = dev.allocPage();
  unlockPage(k, p);
  putPage(k, p);
  memunmapPages(k, dev.pgmap);
  t.equal(k.warnings.length, 0, 'no warning');
  t.equal(k.hung.length, 0, 'no wait: the last put completed pgmap->done');
  t.equal(dev.pgmap.live, false, 'no longer live');
  t.equal(k.pgmaps.length, 0, 'unregistered');
  t.notOk(k.memmap.valid(physToPfn(PRIVATE_BASE)), 'struct pages gone');

  // Before: the model warned and removed the struct pages anyway. 6.12's memunmap_pages() calls
  // wait_for_completion(&pgmap->done), which only dev_pagemap_percpu_release() completes, at the last put.
  const k2 = new Kernel();
  const dev2 = registeredDevice(k2);
  dev2.allocPage();
  const q = dev2.allocPage();
  unlockPage(k2, q);
  putPage(k2, q); // q is returned, the first page is leaked
  t.throws(() => memunmapPages(k2, dev2.pgmap, ['fake_remove']), { name: 'HungTask', where: 'memunmap_pages' });
  t.match(k2.hung[0], /^INFO: task kworker\/0:1:0 blocked for more than 120 seconds\.$/m);
  t.match(k2.hung[0], / wait_for_completion\n memunmap_pages\n fake_remove\n <\/TASK>/);
  t.match(k2.hung[0], new RegExp(`1 of 512 device pages .* still referenced \\(1 references: 1 held by nothing that maps or pins the page \\(leaked\\)\\)`));
  t.match(k2.hung[0], new RegExp(`pfn 0x${physToPfn(PRIVATE_BASE).toString(16)} refcount 1`));
  t.ok(k2.memmap.valid(physToPfn(PRIVATE_BASE)), 'the struct pages of a referenced page are never freed');
  t.equal(k2.pgmaps.length, 1, 'still registered');
  t.equal(k2.sched.now, 120e9, 'the clock stands at the hung-task timeout');
});
