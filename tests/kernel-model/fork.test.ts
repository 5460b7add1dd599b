// SPDX-License-Identifier: GPL-2.0-only
/*
 * Tests of fork() in the kernel model: src/kernel-model/fork.ts (dup_mmap),
 * the copy_page_range() family and do_wp_page() reuse in memory.ts,
 * anon_vma_fork() in rmap.ts, and Task.fork()/exit()/kill() in task.ts.
 *
 *   parent  0123      after fork both map the same four pages read-only;
 *   child   0123      a write on either side copies that page (COW)
 *
 * Each mechanism also has a test that breaks it on purpose (a monkeypatched
 * pte setter, a patched anon_vma iterator, a lost file reference) and shows
 * that the checks the other tests make then fail.
 */
import t from 'tap';
import { Kernel } from '../../src/kernel-model/kernel.js';
import { IS_ERR, ENOMEM, ESRCH, EINVAL } from '../../src/kernel-model/errno.js';
import { PAGE_SIZE, PG_anon_exclusive } from '../../src/kernel-model/page.js';
import { type MmStruct, type VmAreaStruct, PROT_READ, PROT_WRITE, vmaLookup } from '../../src/kernel-model/mm.js';
import { userLoad, userStore } from '../../src/kernel-model/memory.js';
import { pteIndex, ptePresent, pteWrite, pteSpecial, swpType, _PAGE_RW, SWP_DEVICE_READ, SWP_DEVICE_WRITE,
  SWP_MIGRATION_READ, SWP_MIGRATION_WRITE, mkSwpEntry, isDevicePrivateEntry } from '../../src/kernel-model/pgtable.js';
import { pageMapcount, pageRefCount, testPageFlag } from '../../src/kernel-model/page_alloc.js';
import { MEMORY_DEVICE_GENERIC, MEMORY_DEVICE_PRIVATE, pagePgmap } from '../../src/kernel-model/memremap.js';
import { GUP_PIN_COUNTING_BIAS, type AnonVma } from '../../src/kernel-model/rmap.js';
import { FOLL_WRITE, getUserPages, pinUserPages, unpinUserPages } from '../../src/kernel-model/gup.js';
import { putPage } from '../../src/kernel-model/page_alloc.js';
import { Task, SIGCHLD, SIGTERM, SIGKILL, SIGSTOP, WEXITSTATUS, WIFEXITED, WIFSIGNALED, WTERMSIG,
  findTaskByVpid } from '../../src/kernel-model/task.js';
import type { CharDev, File } from '../../src/kernel-model/chrdev.js';
import { type Asserts, FakeDevice, MiB, PRIVATE_BASE, SPM0, expectKernelBug, migrateToDevice, mmapAnon, pattern,
  recordingNotifier } from './fixtures/fake_device.js';

const NPAGES = 4;

/** The pte at addr: [bits, pfn] (0, 0 without a page table). */
function pte(mm: MmStruct, addr: number): [number, number] {
  const tbl = mm.pgtable.lookup(addr);
  if (tbl === undefined) return [0, 0];
  return [tbl.val[pteIndex(addr)], tbl.pfn[pteIndex(addr)]];
}

function load(mm: MmStruct, addr: number, len = PAGE_SIZE): Uint8Array {
  const b = new Uint8Array(len);
  userLoad(mm, addr, b);
  return b;
}

function forkOk(t: Asserts, parent: Task): Task {
  const child = parent.fork();
  if (IS_ERR(child)) throw new Error(`fork failed: ${child.err}`);
  t.ok(child.pid > parent.pid, 'the child has a new pid');
  return child;
}

/** A parent with NPAGES written pages (page p holds pattern(p)). */
function writtenParent(k: Kernel): { parent: Task; addr: number } {
  const parent = new Task(k);
  const { addr } = mmapAnon(parent.mm, NPAGES);
  for (let p = 0; p < NPAGES; p++) userStore(parent.mm, addr + p * PAGE_SIZE, pattern(p));
  return { parent, addr };
}

function exitBoth(t: Asserts, k: Kernel, parent: Task, child: Task): void {
  child.exit();
  parent.exit();
  t.equal(k.pageAlloc.nrAllocated, 0, 'every page is back after both exit');
  t.equal(k.warnings.length, 0, 'no WARN');
}

/**
 * The COW scenario: fork, the child writes page 0, the parent writes page 1.
 * Returns what each side then reads, for the test and its broken twin.
 */
function cowScenario(k: Kernel, beforeFork: (parent: Task) => void = () => {}) {
  const { parent, addr } = writtenParent(k);
  beforeFork(parent);
  const child = parent.fork() as Task;
  const shared = pte(parent.mm, addr)[1];
  userStore(child.mm, addr, pattern(100));
  userStore(parent.mm, addr + PAGE_SIZE, pattern(200));
  return {
    parent, child, addr, shared,
    parentPage0: load(parent.mm, addr), childPage0: load(child.mm, addr),
    parentPage1: load(parent.mm, addr + PAGE_SIZE), childPage1: load(child.mm, addr + PAGE_SIZE),
  };
}

t.test('after fork parent and child see the same pages, read-only and shared', async (t) => {
  const k = new Kernel();
  const { parent, addr } = writtenParent(k);
  const before = pte(parent.mm, addr);
  t.ok(pteWrite(before[0]) && testPageFlag(k, before[1], PG_anon_exclusive), 'before: writable, exclusive');
  const child = forkOk(t, parent);
  for (let p = 0; p < NPAGES; p++) {
    const a = addr + p * PAGE_SIZE;
    const [pv, pfn] = pte(parent.mm, a), [cv, cfn] = pte(child.mm, a);
    t.equal(cfn, pfn, `page ${p}: the same pfn in both`);
    t.ok(ptePresent(pv) && !pteWrite(pv), `page ${p}: write-protected in the parent`);
    t.ok(ptePresent(cv) && !pteWrite(cv), `page ${p}: write-protected in the child`);
    t.equal(pageRefCount(k, pfn), 2, `page ${p}: refcount 2`);
    t.equal(pageMapcount(k, pfn), 2, `page ${p}: mapcount 2`);
    t.notOk(testPageFlag(k, pfn, PG_anon_exclusive), `page ${p}: no longer PageAnonExclusive`);
    t.same(load(child.mm, a), pattern(p), `page ${p}: the child reads the parent's data`);
  }
  t.equal(child.mm.rssAnon, NPAGES, 'the child accounts the shared pages');
  t.equal(k.pageAlloc.nrAllocated, NPAGES, 'fork allocated no data page');
  exitBoth(t, k, parent, child);
});

t.test('a write in either process copies the page; the other keeps its value', async (t) => {
  const k = new Kernel();
  const r = cowScenario(k);
  t.same(r.childPage0, pattern(100), 'the child reads its write');
  t.same(r.parentPage0, pattern(0), 'the parent still reads its value');
  t.same(r.parentPage1, pattern(200), 'the parent reads its write');
  t.same(r.childPage1, pattern(1), 'the child still reads the old value');
  t.not(pte(r.child.mm, r.addr)[1], r.shared, 'the child writer got a new page');
  t.equal(pte(r.parent.mm, r.addr)[1], r.shared, 'the parent still maps the old one');
  t.equal(pageRefCount(k, r.shared), 1, 'which only the parent references now');
  // wp_can_reuse_anon_folio(): refcount 1, so the parent's write reuses the page in place.
  userStore(r.parent.mm, r.addr, pattern(300));
  const [v, pfn] = pte(r.parent.mm, r.addr);
  t.equal(pfn, r.shared, 'the parent writes page 0 in place (reuse, no copy)');
  t.ok(pteWrite(v) && testPageFlag(k, pfn, PG_anon_exclusive), 'writable and exclusive again');
  t.same(load(r.child.mm, r.addr), pattern(100), 'the child still has its copy');
  t.equal(k.pageAlloc.nrAllocated, NPAGES + 2, 'two copies made, one per write to a shared page');
  exitBoth(t, k, r.parent, r.child);
});

t.test('broken: a copy_present_pte that does not write-protect the parent is caught', async (t) => {
  const k = new Kernel();
  const r = cowScenario(k, (parent) => {
    // set_pte_at() that ignores write-protection of the parent's present ptes.
    const set = parent.mm.pgtable.set.bind(parent.mm.pgtable);
    parent.mm.pgtable.set = (tbl, i, pfn, val) => set(tbl, i, pfn, ptePresent(val) && tbl.val[i] & _PAGE_RW ? val | _PAGE_RW : val);
  });
  t.same(r.parentPage1, pattern(200));
  t.notSame(r.childPage1, pattern(1), 'the parent\'s write leaks into the child: the COW test above would fail');
});

t.test('the zero page stays the zero page; a VMA without anon_vma is not copied', async (t) => {
  const k = new Kernel();
  const parent = new Task(k);
  const { addr } = mmapAnon(parent.mm, 2);
  const { addr: ro } = mmapAnon(parent.mm, 1, PROT_READ);
  load(parent.mm, ro);
  load(parent.mm, addr);
  userStore(parent.mm, addr + PAGE_SIZE, pattern(1));
  const child = forkOk(t, parent);
  const [cv, cfn] = pte(child.mm, addr);
  t.ok(pteSpecial(cv) && cfn === k.zeroPfn, 'the child maps the zero page too (special pte)');
  t.same(pte(child.mm, ro), [0, 0], 'the read-only VMA has no anon_vma: vma_needs_copy() is false, nothing copied');
  t.same(load(child.mm, ro, 8), new Uint8Array(8), 'and the child faults it in as zeroes');
  userStore(child.mm, addr, pattern(7));
  t.same(load(child.mm, addr), pattern(7), 'a write replaces the zero page with a new page');
  t.equal(pte(parent.mm, addr)[1], k.zeroPfn, 'the parent keeps the zero page');
  exitBoth(t, k, parent, child);
});

t.test('fork tells the parent\'s notifiers its ptes lose write (MMU_NOTIFY_PROTECTION_PAGE)', async (t) => {
  const k = new Kernel();
  const { parent, addr } = writtenParent(k);
  const { seen } = recordingNotifier(parent.mm, addr, NPAGES * PAGE_SIZE);
  const child = forkOk(t, parent);
  t.same(seen, [{ event: 'PROTECTION_PAGE', start: addr, end: addr + NPAGES * PAGE_SIZE, owner: null }]);
  t.equal(child.mm.intervalNotifiers.length, 0, 'notifiers are not inherited');
  exitBoth(t, k, parent, child);
});

/** Parent with NPAGES written and migrated to a device; then forked. */
function deviceForked(t: Asserts, type: typeof MEMORY_DEVICE_PRIVATE | typeof MEMORY_DEVICE_GENERIC,
  beforeFork: (parent: Task) => void = () => {}) {
  const k = new Kernel();
  const dev = new FakeDevice(k, type, type === MEMORY_DEVICE_PRIVATE ? PRIVATE_BASE : SPM0, 2 * MiB);
  t.equal(dev.register(), 0, 'device registered');
  const { parent, addr } = writtenParent(k);
  const vma = vmaLookup(parent.mm, addr)!;
  t.equal(migrateToDevice(dev, vma, addr, NPAGES).args.cpages, NPAGES, 'migrated to the device');
  beforeFork(parent);
  const child = forkOk(t, parent);
  return { k, dev, parent, child, addr };
}

t.test('device-private pages at fork: read-only in both; a CPU write on either side migrates back and COWs', async (t) => {
  const { k, dev, parent, child, addr } = deviceForked(t, MEMORY_DEVICE_PRIVATE);
  for (let p = 0; p < NPAGES; p++) {
    const a = addr + p * PAGE_SIZE;
    const [pv, pfn] = pte(parent.mm, a), [cv, cfn] = pte(child.mm, a);
    t.equal(pv, mkSwpEntry(SWP_DEVICE_READ), `page ${p}: a read-only device-private entry in the parent`);
    t.equal(cv, mkSwpEntry(SWP_DEVICE_READ), `page ${p}: and in the child`);
    t.equal(cfn, pfn, `page ${p}: the same device page`);
    t.equal(pageRefCount(k, pfn), 2, `page ${p}: one reference per mapping`);
    t.equal(pageMapcount(k, pfn), 2, `page ${p}: mapcount 2`);
  }
  const dpage0 = pte(parent.mm, addr)[1];
  userStore(parent.mm, addr, pattern(50));
  t.equal(dev.faults, 1, 'one migrate_to_ram()');
  const [pv, pfn] = pte(parent.mm, addr), [cv, cfn] = pte(child.mm, addr);
  t.ok(pteWrite(pv) && pagePgmap(k, pfn) === null, 'the parent has a writable system page');
  t.ok(ptePresent(cv) && !pteWrite(cv) && pagePgmap(k, cfn) === null,
    'the child\'s mapping was migrated back too (rmap), still read-only');
  t.not(pfn, cfn, 'and the parent\'s write copied it');
  t.ok(dev.freed.includes(dpage0), 'the device page went back to the device');
  t.same(load(parent.mm, addr), pattern(50), 'parent: its write');
  t.same(load(child.mm, addr), pattern(0), 'child: the data from before the fork');
  userStore(child.mm, addr + PAGE_SIZE, pattern(61));
  t.same(load(child.mm, addr + PAGE_SIZE), pattern(61), 'a child write to page 1 works the same way');
  t.same(load(parent.mm, addr + PAGE_SIZE), pattern(1), 'and the parent keeps page 1');
  t.same(load(child.mm, addr + 2 * PAGE_SIZE), pattern(2), 'a read brings page 2 back for both');
  t.ok(ptePresent(pte(parent.mm, addr + 2 * PAGE_SIZE)[0]), 'the parent maps it present now');
  t.equal(dev.faults, 3);
  exitBoth(t, k, parent, child);
  t.equal(dev.freeList.length, 512, 'every device page is free');
});

t.test('hmm_cow_in_device: the parent writes every page, the child is killed; all is plain writable system memory', async (t) => {
  const { k, dev, parent, child, addr } = deviceForked(t, MEMORY_DEVICE_PRIVATE);
  for (let p = 0; p < NPAGES; p++) userStore(parent.mm, addr + p * PAGE_SIZE, pattern(p));
  t.equal(child.kill(SIGTERM), 0, 'kill(pid, SIGTERM)');
  t.ok(child.exited && WIFSIGNALED(child.exitStatus!) && WTERMSIG(child.exitStatus!) === SIGTERM, 'WIFSIGNALED, WTERMSIG == SIGTERM');
  t.notOk(WIFEXITED(child.exitStatus!), 'not WIFEXITED');
  for (let p = 0; p < NPAGES; p++) {
    const [v, pfn] = pte(parent.mm, addr + p * PAGE_SIZE);
    t.ok(pteWrite(v) && pagePgmap(k, pfn) === null && testPageFlag(k, pfn, PG_anon_exclusive),
      `page ${p}: writable exclusive system memory`);
    t.equal(pageRefCount(k, pfn), 1, `page ${p}: referenced by the parent alone`);
  }
  t.equal(k.pageAlloc.nrAllocated, NPAGES, 'the child\'s pages were freed when it died');
  t.equal(dev.freeList.length, 512, 'no device page left in use');
  parent.exit();
  t.equal(k.pageAlloc.nrAllocated, 0);
});

t.test('broken: a copy_nonpresent_pte that leaves the parent\'s device-private entry writable is caught', async (t) => {
  const { parent, child, addr } = deviceForked(t, MEMORY_DEVICE_PRIVATE, (p) => {
    const set = p.mm.pgtable.set.bind(p.mm.pgtable);
    p.mm.pgtable.set = (tbl, i, pfn, val) =>
      set(tbl, i, pfn, val === mkSwpEntry(SWP_DEVICE_READ) && tbl.val[i] === mkSwpEntry(SWP_DEVICE_WRITE) ? tbl.val[i] : val);
  });
  userStore(parent.mm, addr, pattern(50));
  t.notSame(load(child.mm, addr), pattern(0), 'the parent wrote into the page the child shares: caught');
});

t.test('device generic pages are shared like system pages: COW copies into system memory', async (t) => {
  const { k, dev, parent, child, addr } = deviceForked(t, MEMORY_DEVICE_GENERIC);
  const [pv, gpfn] = pte(parent.mm, addr), [cv, cfn] = pte(child.mm, addr);
  t.ok(pagePgmap(k, gpfn) === dev.pgmap && cfn === gpfn, 'both map the same GENERIC page');
  t.ok(!pteWrite(pv) && !pteWrite(cv), 'read-only in both');
  t.equal(pageRefCount(k, gpfn), 2);
  userStore(parent.mm, addr, pattern(9));
  t.equal(dev.faults, 0, 'no migrate_to_ram(): the CPU reaches generic memory');
  t.equal(pagePgmap(k, pte(parent.mm, addr)[1]), null, 'the parent\'s copy is system memory');
  t.equal(pte(child.mm, addr)[1], gpfn, 'the child keeps the generic page');
  t.same(load(child.mm, addr), pattern(0));
  child.exit();
  t.ok(dev.freed.includes(gpfn), 'freed to the device when the child goes');
  userStore(parent.mm, addr + PAGE_SIZE, pattern(10));
  t.equal(pagePgmap(k, pte(parent.mm, addr + PAGE_SIZE)[1]), dev.pgmap, 'an unshared generic page is reused in place');
  parent.exit();
  t.equal(k.pageAlloc.nrAllocated, 0);
  t.equal(dev.freeList.length, 512);
});

/** Migrate the parent's shared pages to a device; what both processes map afterwards. */
function migrateShared(t: Asserts, breakRmap: boolean) {
  const k = new Kernel();
  const dev = new FakeDevice(k, MEMORY_DEVICE_PRIVATE, PRIVATE_BASE, 2 * MiB);
  t.equal(dev.register(), 0, 'device registered');
  const { parent, addr } = writtenParent(k);
  const child = forkOk(t, parent);
  if (breakRmap) {
    // An rmap walk that never reaches the child's VMAs.
    const av: AnonVma = vmaLookup(parent.mm, addr)!.anonVma!;
    const vmas = av.vmas;
    const all = Set.prototype.values;
    (vmas as unknown as { [Symbol.iterator]: () => Iterator<VmAreaStruct> })[Symbol.iterator] = function* () {
      for (const v of all.call(vmas)) if (v.vmMm !== child.mm) yield v;
    };
  }
  const cpages = migrateToDevice(dev, vmaLookup(parent.mm, addr)!, addr, NPAGES).args.cpages;
  return { k, dev, parent, child, addr, cpages, p: pte(parent.mm, addr), c: pte(child.mm, addr) };
}

t.test('migrating a shared page replaces its mapping in both processes (rmap)', async (t) => {
  const r = migrateShared(t, false);
  t.equal(r.cpages, NPAGES, 'every page migrated');
  t.ok(isDevicePrivateEntry(r.p[0]) && isDevicePrivateEntry(r.c[0]), 'both now map device-private entries');
  t.equal(r.c[1], r.p[1], 'of the same device page');
  t.equal(swpType(r.c[0]), SWP_DEVICE_READ, 'read-only: the page is still shared');
  t.same(load(r.child.mm, r.addr), pattern(0), 'the child reads its data (faulting it back)');
  exitBoth(t, r.k, r.parent, r.child);
});

t.test('broken: an rmap walk that misses the child is caught', async (t) => {
  const r = migrateShared(t, true);
  t.equal(r.cpages, 0, 'the child still maps every page, so none migrates');
  t.notOk(isDevicePrivateEntry(r.c[0]), 'the test above would fail');
});

t.test('a page pinned for DMA is copied for the child at fork (copy_present_page)', async (t) => {
  const k = new Kernel();
  const { parent, addr } = writtenParent(k);
  const pinned = pte(parent.mm, addr)[1];
  const pins = new Float64Array(1);
  t.equal(pinUserPages(parent.mm, addr, 1, FOLL_WRITE, pins), 1, 'pin_user_pages()');
  t.ok(parent.mm.hasPinned, 'which sets MMF_HAS_PINNED, what folio_needs_cow_for_dma() looks at first');
  const child = forkOk(t, parent);
  const [pv, pfn] = pte(parent.mm, addr), [cv, cfn] = pte(child.mm, addr);
  t.equal(pfn, pinned, 'the parent keeps the pinned page');
  t.ok(pteWrite(pv), 'still writable: the pinned page is never replaced by a COW');
  t.not(cfn, pinned, 'the child got a copy');
  t.ok(pteWrite(cv) && testPageFlag(k, cfn, PG_anon_exclusive), 'writable and its own');
  t.same(load(child.mm, addr), pattern(0), 'with the data');
  t.equal(pte(child.mm, addr + PAGE_SIZE)[1], pte(parent.mm, addr + PAGE_SIZE)[1], 'unpinned pages are shared as usual');
  unpinUserPages(k, pins, 1);
  exitBoth(t, k, parent, child);
});

t.test('without MMF_HAS_PINNED a page at the pin bias is shared at fork: 1024 get_user_pages() references are not a pin', async (t) => {
  const k = new Kernel();
  const { parent, addr } = writtenParent(k);
  const page = pte(parent.mm, addr)[1];
  const got = new Float64Array(1);
  for (let i = 0; i < GUP_PIN_COUNTING_BIAS; i++) getUserPages(parent.mm, addr, 1, FOLL_WRITE, got);
  t.equal(pageRefCount(k, page), 1 + GUP_PIN_COUNTING_BIAS, 'folio_maybe_dma_pinned() would say yes');
  t.notOk(parent.mm.hasPinned, 'but nothing ever pinned this mm');
  const child = forkOk(t, parent);
  t.equal(pte(child.mm, addr)[1], page, 'the child shares the page (folio_needs_cow_for_dma() is false)');
  t.notOk(pteWrite(pte(parent.mm, addr)[0]), 'write-protected in the parent for COW');
  for (let i = 0; i < GUP_PIN_COUNTING_BIAS; i++) putPage(k, page);
  exitBoth(t, k, parent, child);
});

t.test('a fork that runs out of memory fails with -ENOMEM and leaves nothing behind', async (t) => {
  const k = new Kernel();
  const { parent, addr } = writtenParent(k);
  const pins = new Float64Array(1);
  t.equal(pinUserPages(parent.mm, addr + 2 * PAGE_SIZE, 1, FOLL_WRITE, pins), 1, 'a pin: fork must copy the page');
  k.pageAlloc.failAfter = 0;
  const child = parent.fork();
  t.ok(IS_ERR(child) && child.err === -ENOMEM, 'ERR_PTR(-ENOMEM)');
  k.pageAlloc.failAfter = -1;
  t.equal(k.tasks.size, 1, 'no child task');
  for (let p = 0; p < NPAGES; p++) {
    const pfn = pte(parent.mm, addr + p * PAGE_SIZE)[1];
    t.equal(pageMapcount(k, pfn), 1, `page ${p}: mapped by the parent only`);
  }
  t.equal(vmaLookup(parent.mm, addr)!.anonVma!.vmas.size, 1, 'the half-built child is gone from the anon_vma');
  unpinUserPages(k, pins, 1);
  userStore(parent.mm, addr, pattern(5));
  t.same(load(parent.mm, addr), pattern(5));
  parent.exit();
  t.equal(k.pageAlloc.nrAllocated, 0);
});

t.test('the parent exits first: the child keeps the pages and rmap still reaches them', async (t) => {
  const k = new Kernel();
  const dev = new FakeDevice(k, MEMORY_DEVICE_PRIVATE, PRIVATE_BASE, 2 * MiB);
  t.equal(dev.register(), 0, 'device registered');
  const { parent, addr } = writtenParent(k);
  const child = forkOk(t, parent);
  parent.exit();
  t.equal(WEXITSTATUS(parent.exitStatus!), 0);
  t.equal(k.pageAlloc.nrAllocated, NPAGES, 'the pages stay: the child maps them');
  t.same(load(child.mm, addr + 3 * PAGE_SIZE), pattern(3));
  userStore(child.mm, addr, pattern(8));
  t.equal(k.pageAlloc.nrAllocated, NPAGES, 'the only mapping left reuses the page (no copy)');
  t.equal(migrateToDevice(dev, vmaLookup(child.mm, addr)!, addr, NPAGES).args.cpages, NPAGES,
    'the child\'s pages, some still in the parent\'s anon_vma, migrate');
  t.same(load(child.mm, addr), pattern(8));
  child.exit();
  t.equal(k.pageAlloc.nrAllocated, 0);
  t.equal(dev.freeList.length, 512);
  t.equal(k.warnings.length, 0);
});

t.test('VMAs split in the child stay linked to the parent\'s anon_vma', async (t) => {
  const k = new Kernel();
  const { parent, addr } = writtenParent(k);
  const child = forkOk(t, parent);
  t.equal(child.mprotect(addr + PAGE_SIZE, PAGE_SIZE, PROT_READ), 0);
  t.equal(child.mm.vmas.length, 3, 'three VMAs in the child');
  const av = vmaLookup(parent.mm, addr)!.anonVma!;
  t.equal(av.vmas.size, 4, 'the parent\'s anon_vma reaches its VMA and the child\'s three');
  t.equal(child.mprotect(addr + PAGE_SIZE, PAGE_SIZE, PROT_READ | PROT_WRITE), 0);
  t.equal(child.mm.vmas.length, 1, 'and they merge back');
  t.equal(av.vmas.size, 2);
  t.equal(child.munmap(addr, 2 * PAGE_SIZE), 0);
  t.equal(k.pageAlloc.nrAllocated, NPAGES, 'unmapping in the child frees nothing the parent maps');
  exitBoth(t, k, parent, child);
});

t.test('migration entries at fork become readable in both', async (t) => {
  const k = new Kernel();
  const { parent, addr } = writtenParent(k);
  const tbl = parent.mm.pgtable.lookup(addr)!, i = pteIndex(addr), pfn = tbl.pfn[i];
  tbl.val[i] = mkSwpEntry(SWP_MIGRATION_WRITE); // as try_to_migrate_one() leaves it mid-migration
  const child = forkOk(t, parent);
  t.equal(pte(parent.mm, addr)[0], mkSwpEntry(SWP_MIGRATION_READ), 'parent: readable migration entry');
  t.same(pte(child.mm, addr), [mkSwpEntry(SWP_MIGRATION_READ), pfn], 'child: the same');
  tbl.val[i] = 0x01 | _PAGE_RW; // put the parent's pte back so the teardown balances
  child.mm.pgtable.set(child.mm.pgtable.lookup(addr)!, i, 0, 0);
  exitBoth(t, k, parent, child);
});

/** A /dev node whose release() is counted. */
function countingDev(k: Kernel): { releases: Array<Task | null> } {
  const rec = { releases: [] as Array<Task | null> };
  const cdev: CharDev = {
    path: '/dev/counting', major: 240, minor: 0, owner: rec,
    fops: { open: () => 0, release: (_c, _f, current) => { rec.releases.push(current); return 0; }, unlockedIoctl: () => 0 },
  };
  k.chrdevs.set(cdev.path, cdev);
  return rec;
}

t.test('a file shared across fork is released only at its last close', async (t) => {
  const k = new Kernel();
  const rec = countingDev(k);
  const parent = new Task(k);
  const fd = parent.open('/dev/counting');
  t.equal(fd, 3);
  const child = forkOk(t, parent);
  const filp: File = parent.files.get(fd)!;
  t.equal(child.files.get(fd), filp, 'the child has the same struct file at the same fd');
  t.equal(filp.count, 2, 'f_count 2');
  child.exit(0);
  t.same(rec.releases, [], 'the child\'s exit does not release it');
  t.equal(parent.close(fd), 0);
  t.same(rec.releases, [parent], 'the parent\'s close is the last: release() runs');
  // The other order: parent closes first, the child's exit releases.
  const fd2 = parent.open('/dev/counting');
  const child2 = forkOk(t, parent);
  parent.close(fd2);
  t.equal(rec.releases.length, 1);
  child2.kill(SIGKILL);
  t.same(rec.releases, [parent, child2], 'the killed child dropped the last reference');
  parent.exit();
});

t.test('broken: a fork that does not take file references is caught', async (t) => {
  const k = new Kernel();
  const rec = countingDev(k);
  const parent = new Task(k);
  const fd = parent.open('/dev/counting');
  const child = forkOk(t, parent);
  parent.files.get(fd)!.count = 1; // dup_fd() without get_file()
  child.exit();
  t.equal(rec.releases.length, 1, 'the child\'s exit released the parent\'s file: the test above would fail');
  expectKernelBug(t, () => parent.close(fd), 'BUG', 'fput', /f_count underflow/);
});

t.test('exit, kill and pids', async (t) => {
  const k = new Kernel();
  const parent = new Task(k);
  t.equal(parent.pid, 100, 'the first task of a kernel is pid 100');
  const child = forkOk(t, parent);
  t.equal(child.pid, 101);
  t.equal(child.parent, parent);
  t.same(parent.children, [child]);
  t.equal(findTaskByVpid(k, 101), child);
  t.equal(child.kill(0), 0, 'signal 0: the task exists');
  t.equal(child.kill(SIGCHLD), 0);
  t.notOk(child.exited, 'SIGCHLD is ignored by default');
  t.equal(child.kill(SIGSTOP), -EINVAL, 'stop signals are not modelled');
  t.equal(child.kill(65), -EINVAL);
  child.exit(3);
  t.ok(WIFEXITED(child.exitStatus!) && WEXITSTATUS(child.exitStatus!) === 3, 'WIFEXITED, WEXITSTATUS 3');
  t.notOk(WIFSIGNALED(child.exitStatus!));
  t.equal(child.kill(SIGTERM), 0, 'a zombie takes signals');
  t.equal(WEXITSTATUS(child.exitStatus!), 3, 'and keeps its status');
  child.releaseTask();
  t.equal(child.kill(SIGTERM), -ESRCH, 'a reaped task is gone');
  t.equal(findTaskByVpid(k, 101), null);
  t.same(parent.children, []);
  t.equal(new Kernel().lastPid + 1, 100, 'pids are per kernel');
  parent.exit();
});

t.test('a killed child frees everything it had', async (t) => {
  const k = new Kernel();
  const { parent, addr } = writtenParent(k);
  const child = forkOk(t, parent);
  for (let p = 0; p < NPAGES; p++) userStore(child.mm, addr + p * PAGE_SIZE, pattern(p + 40));
  const { addr: own } = mmapAnon(child.mm, 3);
  for (let p = 0; p < 3; p++) userStore(child.mm, own + p * PAGE_SIZE, pattern(p));
  t.equal(k.pageAlloc.nrAllocated, 2 * NPAGES + 3, 'the child\'s copies and its own pages');
  t.equal(child.kill(SIGKILL), 0);
  t.equal(WTERMSIG(child.exitStatus!), SIGKILL);
  t.equal(k.pageAlloc.nrAllocated, NPAGES, 'only the parent\'s pages are left');
  t.equal(child.mm.vmas.length, 0, 'the child\'s mm is torn down');
  for (let p = 0; p < NPAGES; p++) t.same(load(parent.mm, addr + p * PAGE_SIZE), pattern(p), `parent page ${p} intact`);
  parent.exit();
  t.equal(k.pageAlloc.nrAllocated, 0);
});

t.test('three generations: anon_vma_clone() reuses an anon_vma left without VMAs, and nothing leaks', async (t) => {
  const k = new Kernel();
  const dev = new FakeDevice(k, MEMORY_DEVICE_PRIVATE, PRIVATE_BASE, 2 * MiB);
  t.equal(dev.register(), 0, 'device registered');
  const { parent: a, addr } = writtenParent(k);
  const b = forkOk(t, a);
  userStore(b.mm, addr, pattern(20)); // a page in B's own anon_vma
  const bAv = vmaLookup(b.mm, addr)!.anonVma!;
  const d = forkOk(t, b);
  a.exit();
  b.exit();
  t.equal(bAv.numActiveVmas, 0, 'B\'s anon_vma has no VMA of its own left');
  t.equal(bAv.numChildren, 1, 'and one child (D\'s)');
  const e = forkOk(t, d);
  t.equal(vmaLookup(e.mm, addr)!.anonVma, bAv, 'E reuses it for its new pages');
  t.equal(bAv.root, vmaLookup(d.mm, addr)!.anonVma!.root, 'one tree, one root');
  userStore(e.mm, addr + PAGE_SIZE, pattern(30));
  t.equal(migrateToDevice(dev, vmaLookup(d.mm, addr)!, addr, NPAGES).args.cpages, NPAGES,
    'D migrates pages it shares with E: rmap reaches E through the old anon_vmas');
  t.same(load(e.mm, addr), pattern(20), 'E: page 0 from B');
  t.same(load(e.mm, addr + PAGE_SIZE), pattern(30), 'E: its own write');
  t.same(load(d.mm, addr + 2 * PAGE_SIZE), pattern(2), 'D: page 2 from A');
  d.exit();
  e.exit();
  t.equal(k.pageAlloc.nrAllocated, 0);
  t.equal(dev.freeList.length, 512);
  t.equal(k.warnings.length, 0, 'no WARN from unlink_anon_vmas()');
});

/**
 * A chain of forks: each generation reads its parent's value, writes its
 * own (COW), and, unless `alive`, its parent exits and is reaped. Returns
 * the longest anon_vma chain a VMA had. `leakActive` breaks
 * unlink_anon_vmas() on purpose: an exiting VMA's anon_vma keeps counting it
 * as active, so anon_vma_clone() can never reuse it.
 */
function forkChain(t: Asserts, k: Kernel, depth: number, alive: boolean, leakActive = false): number {
  let task = new Task(k);
  const { addr } = mmapAnon(task.mm, 1);
  userStore(task.mm, addr, pattern(0));
  const all = [task];
  let longest = 0, wrong = 0;
  for (let i = 1; i <= depth; i++) {
    const child = task.fork() as Task;
    if (load(child.mm, addr)[0] !== pattern(i - 1)[0]) wrong++;
    userStore(child.mm, addr, pattern(i));
    longest = Math.max(longest, vmaLookup(child.mm, addr)!.anonVmaChain.length);
    if (alive) all.push(child);
    else {
      const av = vmaLookup(task.mm, addr)!.anonVma!;
      task.exit();
      if (leakActive) av.numActiveVmas++;
      if (child.parent !== null) wrong++;
      task.releaseTask();
    }
    task = child;
  }
  t.equal(wrong, 0, 'every generation read its parent\'s value, and the parent\'s exit reparented it');
  for (const p of alive ? all.reverse() : [task]) {
    p.exit();
    p.releaseTask();
  }
  return longest;
}

t.test('a fork chain whose parents exit: 6.12 reuses anon_vmas, so each VMA stays in 3 (anon_vma_clone())', async (t) => {
  const k = new Kernel();
  t.equal(forkChain(t, k, 300, false), 3, 'the longest chain over 300 generations is 3');
  t.equal(k.pageAlloc.nrAllocated, 0, 'nothing leaks');
  t.equal(k.tasks.size, 0, 'every task reaped');
});

t.test('a fork chain whose parents stay: 6.12 links the VMA at depth d into d + 1 anon_vmas', async (t) => {
  const k = new Kernel();
  t.equal(forkChain(t, k, 50, true), 51, 'depth 50: 51 anon_vmas, one per ancestor and its own');
  t.equal(k.pageAlloc.nrAllocated, 0, 'nothing leaks');
});

t.test('break it: an unlink that leaves anon_vmas counting exited VMAs makes the chain grow with its depth', async (t) => {
  const k = new Kernel();
  t.equal(forkChain(t, k, 40, false, true), 41, 'no reuse: 41 anon_vmas at depth 40, where 6.12 keeps 3');
});

t.test('exit() reparents the children (forget_original_parent()): no exited task is held by a live one', async (t) => {
  const k = new Kernel();
  const a = new Task(k);
  const b = forkOk(t, a), c = forkOk(t, a);
  a.exit();
  t.equal(b.parent, null, 'b goes to init');
  t.equal(c.parent, null, 'c too');
  t.same(a.children, [], 'a has no child left');
  b.exit();
  b.releaseTask();
  t.equal(findTaskByVpid(k, b.pid), null, 'init\'s wait reaps b');
  c.exit();
  a.releaseTask();
  c.releaseTask();
  t.equal(k.tasks.size, 0);
});
