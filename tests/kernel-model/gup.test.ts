// SPDX-License-Identifier: GPL-2.0-only
/*
 * get_user_pages()/pin_user_pages() (gup.ts) and the gup_test debugfs file
 * (gup_test.ts): reference and pin counting, faults taken by gup (COW break,
 * device-private pages), FOLL_LONGTERM migration of device-coherent pages,
 * and the ioctl sequence of hmm-tests' hmm_gup_test.
 */
import t, { type Test } from 'tap';
import { Kernel } from '../../src/kernel-model/kernel.js';
import { EINVAL, EFAULT } from '../../src/kernel-model/errno.js';
import { PAGE_SIZE, PG_anon_exclusive } from '../../src/kernel-model/page.js';
import { type MmStruct, MmStruct as Mm, PROT_READ, PROT_WRITE, doMprotect, doMunmap } from '../../src/kernel-model/mm.js';
import { userLoad, userStore } from '../../src/kernel-model/memory.js';
import { pteIndex, pteWrite } from '../../src/kernel-model/pgtable.js';
import { clearPageFlag, getPage, pageRefCount, putPage } from '../../src/kernel-model/page_alloc.js';
import { MEMORY_DEVICE_COHERENT, pagePgmap } from '../../src/kernel-model/memremap.js';
import { FOLL_LONGTERM, FOLL_WRITE, GUP_PIN_COUNTING_BIAS, folioMaybeDmaPinned, getUserPages, getUserPagesFast,
  pinUserPages, pinUserPagesFast, unpinUserPages } from '../../src/kernel-model/gup.js';
import { GUP_BASIC_TEST, GUP_FAST_BENCHMARK, GUP_TEST_PATH, GupTest, PIN_FAST_BENCHMARK, PIN_LONGTERM_BENCHMARK,
  PIN_LONGTERM_TEST_READ, PIN_LONGTERM_TEST_START, PIN_LONGTERM_TEST_STOP, gupTestInit } from '../../src/kernel-model/gup_test.js';
import { Task } from '../../src/kernel-model/task.js';
import { FakeDevice, registeredDevice, migrateToDevice, mmapAnon, pattern } from './fixtures/fake_device.js';

const P = PAGE_SIZE;
const pteAt = (mm: MmStruct, a: number): { val: number; pfn: number } => {
  const tb = mm.pgtable.lookup(a);
  return tb === undefined ? { val: 0, pfn: 0 } : { val: tb.val[pteIndex(a)], pfn: tb.pfn[pteIndex(a)] };
};
const fill = (mm: MmStruct, addr: number, n: number): void => { for (let i = 0; i < n; i++) userStore(mm, addr + i * P, pattern(i)); };
const same = (mm: MmStruct, addr: number, n: number): boolean => {
  const buf = new Uint8Array(P);
  for (let i = 0; i < n; i++) {
    userLoad(mm, addr + i * P, buf);
    if (!buf.every((b, j) => b === pattern(i)[j])) return false;
  }
  return true;
};

t.test('get_user_pages takes a reference per page, pin_user_pages a GUP_PIN_COUNTING_BIAS; both come back', async (t) => {
  const k = new Kernel();
  const mm = new Mm(k);
  const { addr } = mmapAnon(mm, 4);
  fill(mm, addr, 4);
  const pages = new Float64Array(4);
  t.equal(getUserPages(mm, addr, 4, 0, pages), 4);
  for (let i = 0; i < 4; i++) {
    t.equal(pages[i], pteAt(mm, addr + i * P).pfn, `page ${i} is the mapped page`);
    t.equal(pageRefCount(k, pages[i]), 2, 'mapping + FOLL_GET');
    t.notOk(folioMaybeDmaPinned(k, pages[i]), 'a reference is not a pin');
  }
  for (let i = 0; i < 4; i++) putPage(k, pages[i]);
  t.notOk(mm.hasPinned, 'no pin yet: MMF_HAS_PINNED clear');
  t.equal(pinUserPages(mm, addr, 4, FOLL_WRITE, pages), 4);
  t.ok(mm.hasPinned, 'MMF_HAS_PINNED set');
  for (let i = 0; i < 4; i++) {
    t.equal(pageRefCount(k, pages[i]), 1 + GUP_PIN_COUNTING_BIAS);
    t.ok(folioMaybeDmaPinned(k, pages[i]), 'folio_maybe_dma_pinned()');
  }
  unpinUserPages(k, pages, 4);
  for (let i = 0; i < 4; i++) t.equal(pageRefCount(k, pages[i]), 1, 'only the mapping left');
  t.equal(getUserPages(mm, addr, 1, FOLL_LONGTERM, pages), -EINVAL, 'FOLL_LONGTERM without FOLL_PIN is refused');
  t.equal(getUserPages(mm, addr - 16 * P, 1, 0, pages), -EFAULT, 'no VMA: -EFAULT');
  t.equal(getUserPages(mm, addr + 3 * P, 4, 0, pages), 1, 'stops at the end of the VMA: a short count');
  putPage(k, pages[0]);
  doMunmap(mm, addr, 4 * P);
  t.equal(k.pageAlloc.nrAllocated, 0, 'nothing leaks');
});

t.test('gup on memory never touched: a read gets the zero page, FOLL_WRITE faults in a new page', async (t) => {
  const k = new Kernel();
  const mm = new Mm(k);
  const { addr } = mmapAnon(mm, 2);
  const pages = new Float64Array(2);
  t.equal(getUserPages(mm, addr, 1, 0, pages), 1);
  t.equal(pages[0], k.zeroPfn, 'the zero page');
  t.equal(k.pageAlloc.nrAllocated, 0, 'nothing allocated for a read');
  putPage(k, pages[0]);
  t.equal(pinUserPages(mm, addr + P, 1, FOLL_WRITE, pages), 1);
  t.not(pages[0], k.zeroPfn);
  t.ok(pteWrite(pteAt(mm, addr + P).val), 'mapped writable');
  unpinUserPages(k, pages, 1);
  doMunmap(mm, addr, 2 * P);
  t.equal(k.pageAlloc.nrAllocated, 0);
});

t.test('FOLL_WRITE on a COW-shared page breaks COW: gup gets a private copy, data intact', async (t) => {
  const k = new Kernel();
  const mm = new Mm(k);
  const { addr } = mmapAnon(mm, 2);
  fill(mm, addr, 2);
  // Make page 0 look as fork leaves it: read-only pte, not exclusive, a second reference.
  const old = pteAt(mm, addr).pfn;
  doMprotect(mm, addr, P, PROT_READ);
  clearPageFlag(k, old, PG_anon_exclusive);
  getPage(k, old);
  doMprotect(mm, addr, P, PROT_READ | PROT_WRITE);
  t.notOk(pteWrite(pteAt(mm, addr).val), 'the shared page stays write-protected');
  const pages = new Float64Array(2);
  t.equal(getUserPages(mm, addr, 1, FOLL_WRITE, pages), 1);
  t.not(pages[0], old, 'a new page');
  t.equal(pteAt(mm, addr).pfn, pages[0], 'now mapped at the address');
  t.ok(pteWrite(pteAt(mm, addr).val), 'writable');
  t.equal(pageRefCount(k, old), 1, 'the old page lost this mapping: only the "other process" holds it');
  t.ok(same(mm, addr, 1), 'the copy has the data');
  putPage(k, pages[0]);
  putPage(k, old); // the other process goes away
  doMunmap(mm, addr, 2 * P);
  t.equal(k.pageAlloc.nrAllocated, 0);
});

t.test('gup of device-private pages faults them back to system memory through migrate_to_ram()', async (t) => {
  const k = new Kernel();
  const mm = new Mm(k);
  const { addr, vma } = mmapAnon(mm, 4);
  fill(mm, addr, 4);
  const dev = registeredDevice(k);
  migrateToDevice(dev, vma, addr, 4);
  t.equal(pagePgmap(k, pteAt(mm, addr).pfn), dev.pgmap, 'on the device');
  const pages = new Float64Array(4);
  t.equal(getUserPages(mm, addr, 2, FOLL_WRITE, pages), 2, 'GUP_BASIC');
  t.equal(getUserPagesFast(mm, addr + 2 * P, 2, FOLL_WRITE, pages.subarray(2)), 2, 'gup fast falls back to the slow path');
  t.equal(dev.faults, 4, 'four migrate_to_ram() calls');
  for (let i = 0; i < 4; i++) {
    t.equal(pagePgmap(k, pages[i]), null, `page ${i} is system memory`);
    t.equal(pteAt(mm, addr + i * P).pfn, pages[i], 'and mapped');
    putPage(k, pages[i]);
  }
  t.ok(same(mm, addr, 4), 'data intact');
  t.equal(dev.freeList.length, 512, 'device pages freed back to the device');
  doMunmap(mm, addr, 4 * P);
  t.equal(k.pageAlloc.nrAllocated, 0);
});

/**
 * Pin [addr, addr + n pages) long-term (fast or not) on a coherent device and
 * say what is wrong with the result; [] when the pages were migrated to system
 * memory, mapped there, pinned, with their data, and the device pages freed.
 */
function longtermPinProblems(k: Kernel, fast: boolean): string[] {
  const problems: string[] = [];
  const mm = new Mm(k);
  const { addr, vma } = mmapAnon(mm, 4);
  fill(mm, addr, 4);
  const dev = registeredDevice(k, MEMORY_DEVICE_COHERENT);
  migrateToDevice(dev, vma, addr, 4);
  if (pagePgmap(k, pteAt(mm, addr).pfn) !== dev.pgmap) problems.push('migrateToDevice did not move the pages');
  const pages = new Float64Array(4);
  const n = (fast ? pinUserPagesFast : pinUserPages)(mm, addr, 4, FOLL_WRITE | FOLL_LONGTERM, pages);
  if (n !== 4) problems.push(`pinned ${n} pages`);
  for (let i = 0; i < n; i++) {
    if (pagePgmap(k, pages[i]) !== null) problems.push(`page ${i} pinned in device memory`);
    if (pteAt(mm, addr + i * P).pfn !== pages[i]) problems.push(`page ${i} is not what the pte maps`);
    if (!folioMaybeDmaPinned(k, pages[i])) problems.push(`page ${i} not pinned`);
  }
  if (!same(mm, addr, 4)) problems.push('data lost');
  unpinUserPages(k, pages, Math.max(n, 0));
  if (dev.freeList.length !== 512) problems.push(`${512 - dev.freeList.length} device pages not freed`);
  doMunmap(mm, addr, 4 * P);
  if (dev.freeList.length !== 512) problems.push('device pages leaked');
  if (k.pageAlloc.nrAllocated !== 0) problems.push(`${k.pageAlloc.nrAllocated} pages leaked`);
  return problems;
}

t.test('FOLL_LONGTERM on device-coherent pages migrates them to system memory, data intact, and leaves them pinned', async (t) => {
  t.same(longtermPinProblems(new Kernel(), false), [], 'pin_user_pages()');
  t.same(longtermPinProblems(new Kernel(), true), [], 'pin_user_pages_fast()');
});

t.test('without FOLL_LONGTERM a coherent page is pinned where it is', async (t) => {
  const k = new Kernel();
  const mm = new Mm(k);
  const { addr, vma } = mmapAnon(mm, 1);
  fill(mm, addr, 1);
  const dev = registeredDevice(k, MEMORY_DEVICE_COHERENT);
  migrateToDevice(dev, vma, addr, 1);
  const pages = new Float64Array(1);
  t.equal(pinUserPagesFast(mm, addr, 1, FOLL_WRITE, pages), 1);
  t.equal(pagePgmap(k, pages[0]), dev.pgmap, 'still device memory');
  unpinUserPages(k, pages, 1);
  doMunmap(mm, addr, P);
  t.equal(dev.freeList.length, 512);
});

t.test('BROKEN: a long-term pin that does not migrate coherent pages is caught', async (t) => {
  const k = new Kernel();
  k.inject.checkAndMigrateMovablePages = () => 0;
  const problems = longtermPinProblems(k, false);
  t.ok(problems.includes('page 0 pinned in device memory'), `reported: ${problems.join('; ')}`);
});

/** hmm_gup_test's four gup_test ioctls on a 4-page buffer in device memory; the pfns the ptes map afterwards. */
function hmmGupTest(t: Test, k: Kernel, dev: FakeDevice): { task: Task; addr: number; fd: number } {
  gupTestInit(k);
  const task = new Task(k);
  const fd = task.open(GUP_TEST_PATH);
  t.ok(fd >= 0, 'open /sys/kernel/debug/gup_test');
  const { addr, vma } = mmapAnon(task.mm, 4);
  fill(task.mm, addr, 4);
  migrateToDevice(dev, vma, addr, 4);
  const exec = (a: number, cmd: number, flags: number): number => {
    const gup = new GupTest();
    gup.nrPagesPerCall = 1;
    gup.addr = a;
    gup.gupFlags = FOLL_WRITE | flags;
    gup.size = P;
    const ret = task.ioctl(fd, cmd, gup);
    t.equal(gup.size, P, 'gup.size: the whole page was got');
    return ret;
  };
  t.equal(exec(addr, GUP_BASIC_TEST, 0), 0, 'GUP_BASIC_TEST');
  t.equal(exec(addr + P, GUP_FAST_BENCHMARK, 0), 0, 'GUP_FAST_BENCHMARK');
  t.equal(exec(addr + 2 * P, PIN_FAST_BENCHMARK, FOLL_LONGTERM), 0, 'PIN_FAST_BENCHMARK | FOLL_LONGTERM');
  t.equal(exec(addr + 3 * P, PIN_LONGTERM_BENCHMARK, 0), 0, 'PIN_LONGTERM_BENCHMARK');
  t.same(k.warnings, [], 'verify_dma_pinned() found nothing wrong');
  for (let i = 0; i < 4; i++) t.equal(pageRefCount(k, pteAt(task.mm, addr + i * P).pfn), 1, `page ${i}: released`);
  t.ok(same(task.mm, addr, 4), 'data intact');
  return { task, addr, fd };
}

t.test('gup_test ioctls as hmm_gup_test issues them: private pages all come back to system memory', async (t) => {
  const k = new Kernel();
  const dev = registeredDevice(k);
  const { task, addr, fd } = hmmGupTest(t, k, dev);
  for (let i = 0; i < 4; i++) t.equal(pagePgmap(k, pteAt(task.mm, addr + i * P).pfn), null, `page ${i} in system memory`);
  t.equal(task.ioctl(fd, 0x1234, new GupTest()), -EINVAL, 'an unknown command: -EINVAL');
  t.equal(task.close(fd), 0);
  task.exit();
  t.equal(k.pageAlloc.nrAllocated, 0);
  t.equal(dev.freeList.length, 512);
});

t.test('gup_test ioctls on coherent pages: plain gets leave them, long-term pins migrate them', async (t) => {
  const k = new Kernel();
  const dev = registeredDevice(k, MEMORY_DEVICE_COHERENT);
  const { task, addr } = hmmGupTest(t, k, dev);
  const where = [0, 1, 2, 3].map((i) => pagePgmap(k, pteAt(task.mm, addr + i * P).pfn) === dev.pgmap ? 'device' : 'system');
  t.same(where, ['device', 'device', 'system', 'system'], 'as hmm_gup_test expects (DEV_COHERENT_LOCAL for m[0], m[1])');
  task.exit();
  t.equal(k.pageAlloc.nrAllocated, 0);
  t.equal(dev.freeList.length, 512);
});

t.test('PIN_LONGTERM_TEST_START/READ/STOP keep a long-term pin across ioctls; release drops it', async (t) => {
  const k = new Kernel();
  gupTestInit(k);
  const task = new Task(k);
  const fd = task.open(GUP_TEST_PATH);
  const { addr } = mmapAnon(task.mm, 2);
  const { addr: out } = mmapAnon(task.mm, 2);
  fill(task.mm, addr, 2);
  t.equal(task.ioctl(fd, PIN_LONGTERM_TEST_START, { addr, size: 2 * P, flags: 0 }), 0);
  t.equal(task.ioctl(fd, PIN_LONGTERM_TEST_START, { addr, size: 2 * P, flags: 0 }), -EINVAL, 'only one at a time');
  const p0 = pteAt(task.mm, addr).pfn;
  t.ok(folioMaybeDmaPinned(k, p0), 'pinned');
  t.equal(task.ioctl(fd, PIN_LONGTERM_TEST_READ, { value: out }), 0);
  t.ok(same(task.mm, out, 2), 'READ copied the pinned pages out');
  t.equal(task.ioctl(fd, PIN_LONGTERM_TEST_STOP, {}), 0);
  t.notOk(folioMaybeDmaPinned(k, p0), 'unpinned by STOP');
  t.equal(task.ioctl(fd, PIN_LONGTERM_TEST_START, { addr: addr + 1, size: P, flags: 0 }), -EINVAL, 'unaligned');
  t.equal(task.ioctl(fd, PIN_LONGTERM_TEST_START, { addr, size: P, flags: 0 }), 0);
  task.exit(); // release() unpins
  t.equal(k.pageAlloc.nrAllocated, 0, 'the pin did not outlive the file');
});
