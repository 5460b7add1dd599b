// SPDX-License-Identifier: GPL-2.0-only
/*
 * Tests of src/kernel-model/page_alloc.ts (mm/page_alloc.c, mm/swap.c):
 * alloc_page(), put_page(), the "Bad page state" checks, page locks.
 */
import t from 'tap';
import { Kernel } from '../../src/kernel-model/kernel.js';
import { Memmap, PG_buddy, PG_locked, PG_reserved } from '../../src/kernel-model/page.js';
import { getPage, getPageUnlessZero, lockPage, pageMapcount, pageRefCount, putPage, setPageCount, testPageFlag,
  trylockPage, unlockPage, isZoneDevicePage } from '../../src/kernel-model/page_alloc.js';
import { pageBytesRead, pageBytesWrite } from '../../src/kernel-model/highmem.js';
import { expectKernelBug } from './fixtures/fake_device.js';

t.test('alloc_page hands out a page with refcount 1; the last put_page frees it', async (t) => {
  const k = new Kernel();
  const base = k.pageAlloc.nrAllocated;
  const p = k.pageAlloc.allocPage();
  t.ok(p > 0, 'a pfn, not NULL');
  t.ok(k.memmap.valid(p), 'with a struct page');
  t.notOk(isZoneDevicePage(k, p), 'system RAM');
  t.equal(pageRefCount(k, p), 1, 'refcount 1');
  t.equal(pageMapcount(k, p), 0, 'not mapped');
  t.equal(k.pageAlloc.nrAllocated, base + 1, 'counted');
  getPage(k, p);
  t.equal(pageRefCount(k, p), 2, 'get_page takes a reference');
  putPage(k, p);
  t.equal(pageRefCount(k, p), 1, 'put_page drops it');
  t.equal(k.pageAlloc.nrAllocated, base + 1, 'still allocated');
  putPage(k, p);
  t.equal(pageRefCount(k, p), 0, 'refcount 0');
  t.ok(testPageFlag(k, p, PG_buddy), 'on the free list');
  t.equal(k.pageAlloc.nrAllocated, base, 'nrAllocated back to where it was');
  t.equal(getPageUnlessZero(k, p), false, 'get_page_unless_zero refuses a free page');
  t.equal(k.pageAlloc.allocPage(), p, 'the freed page is handed out again first (LIFO)');
});

t.test('pages never handed out: pfn 0, the kernel image, the zero page', async (t) => {
  const k = new Kernel();
  t.notOk(k.memmap.valid(0), 'pfn 0 is NULL');
  t.ok(testPageFlag(k, k.zeroPfn, PG_reserved), 'the zero page is reserved');
  t.ok(k.zeroPfn >= 0x1000 && k.zeroPfn < 0x1c00, 'it lives in the kernel image (16 MiB..28 MiB)');
  const seen = new Set<number>();
  for (let i = 0; i < 5000; i++) seen.add(k.pageAlloc.allocPage());
  t.equal(seen.size, 5000, '5000 distinct pages');
  t.notOk(seen.has(0), 'none is NULL');
  t.notOk([...seen].some((p) => p >= 0x1000 && p < 0x1c00), 'none inside the kernel image');
  t.equal(k.pageAlloc.nrAllocated, 5000);
});

t.test('fault injection: failAfter makes alloc_page return NULL', async (t) => {
  const k = new Kernel();
  k.pageAlloc.failAfter = 2;
  t.ok(k.pageAlloc.allocPage() > 0);
  t.ok(k.pageAlloc.allocPage() > 0);
  t.equal(k.pageAlloc.allocPage(), 0, 'the third allocation fails');
  t.equal(k.pageAlloc.nrAllocated, 2, 'and is not counted');
});

t.test('a freed page reads as zeroes when handed out again', async (t) => {
  const k = new Kernel();
  const p = k.pageAlloc.allocPage();
  pageBytesWrite(k, p, 'test').fill(0xaa);
  const inUse = k.pageData.inUse;
  putPage(k, p);
  t.equal(k.pageData.inUse, inUse - 1, 'its data slot is released');
  const q = k.pageAlloc.allocPage();
  t.equal(q, p, 'same pfn');
  t.equal(pageBytesRead(k, q, 'test'), null, 'no contents: reads as zeroes');
});

t.test('Bad page state: double free', async (t) => {
  const k = new Kernel();
  const p = k.pageAlloc.allocPage();
  putPage(k, p);
  expectKernelBug(t, () => putPage(k, p), 'BUG', 'put_page', /refcount underflow/);
  expectKernelBug(t, () => k.pageAlloc.freePage(p), 'BUG', 'free_page_is_bad', /Bad page state.*double free/);
  t.equal(k.pageAlloc.nrAllocated, 0, 'freed once only');
});

t.test('Bad page state: freeing a mapped page', async (t) => {
  const k = new Kernel();
  const p = k.pageAlloc.allocPage();
  k.memmap.block(p).mapcount[Memmap.slot(p)] = 1; // a pte still maps it, but the reference is gone
  expectKernelBug(t, () => putPage(k, p), 'BUG', 'free_page_is_bad', /nonzero mapcount 1/);
  t.equal(k.pageAlloc.nrAllocated, 1, 'not freed');
});

t.test('Bad page state: freeing a locked page', async (t) => {
  const k = new Kernel();
  const p = k.pageAlloc.allocPage();
  lockPage(k, p);
  expectKernelBug(t, () => putPage(k, p), 'BUG', 'free_page_is_bad', /PG_locked/);
});

t.test('Bad page state: freeing a referenced page directly', async (t) => {
  const k = new Kernel();
  const p = k.pageAlloc.allocPage();
  expectKernelBug(t, () => k.pageAlloc.freePage(p), 'BUG', 'free_page_is_bad', /nonzero _refcount 1/);
});

t.test('a corrupted refcount is caught: get_page on a free page, put_page at zero', async (t) => {
  const k = new Kernel();
  const p = k.pageAlloc.allocPage();
  setPageCount(k, p, 0); // somebody dropped a reference they did not own
  expectKernelBug(t, () => getPage(k, p), 'BUG', 'get_page', /refcount 0/);
  expectKernelBug(t, () => putPage(k, p), 'BUG', 'put_page', /underflow/);
});

t.test('page lock: trylock, lock, unlock', async (t) => {
  const k = new Kernel();
  const p = k.pageAlloc.allocPage();
  t.equal(trylockPage(k, p), true, 'trylock takes a free lock');
  t.ok(testPageFlag(k, p, PG_locked), 'PG_locked');
  t.equal(trylockPage(k, p), false, 'a second trylock fails');
  expectKernelBug(t, () => lockPage(k, p), 'BUG', 'lock_page', /already locked/);
  unlockPage(k, p);
  t.notOk(testPageFlag(k, p, PG_locked), 'unlocked');
  expectKernelBug(t, () => unlockPage(k, p), 'BUG', 'folio_unlock', /not locked/);
});

t.test('the zero page is not refcounted by put_page', async (t) => {
  const k = new Kernel();
  const before = pageRefCount(k, k.zeroPfn);
  putPage(k, k.zeroPfn);
  t.equal(pageRefCount(k, k.zeroPfn), before, 'unchanged');
  t.equal(k.pageAlloc.nrAllocated, 0);
});
