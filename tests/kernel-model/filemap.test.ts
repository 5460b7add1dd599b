// SPDX-License-Identifier: GPL-2.0-only
/*
 * Tests of tmpfs files and file mappings: src/kernel-model/shmem.ts,
 * filemap.ts and the file faults of memory.ts (do_read_fault(),
 * do_cow_fault(), do_shared_fault()), ftruncate() and what a device sees
 * (hmm_range_fault(), migrate_vma_*()) of a file mapping.
 *
 *   A file of four pages, mapped twice:
 *     file    0123
 *     shared  SSSS   MAP_SHARED: ptes map the cache pages
 *     private PPPP   MAP_PRIVATE: read -> cache page read-only, write -> own anon copy
 */
import t from 'tap';
import { Kernel } from '../../src/kernel-model/kernel.js';
import { FatalSignal, KernelBug, SIGBUS } from '../../src/kernel-model/bug.js';
import { EBADF, EINVAL, EISDIR, ENODEV, EPERM, ESPIPE } from '../../src/kernel-model/errno.js';
import { PAGE_SIZE, PG_anon, PG_dirty } from '../../src/kernel-model/page.js';
import { MAP_ANONYMOUS, MAP_PRIVATE, MAP_SHARED, PROT_READ, PROT_WRITE, VM_MAYSHARE, VM_SHARED, type MmStruct,
  vmaLookup, vmaIsAnonymous } from '../../src/kernel-model/mm.js';
import { userLoad, userStore } from '../../src/kernel-model/memory.js';
import { _PAGE_DIRTY, _PAGE_PRESENT, _PAGE_RW, pteIndex } from '../../src/kernel-model/pgtable.js';
import { pageMapcount, pageRefCount, testPageFlag } from '../../src/kernel-model/page_alloc.js';
import { Task } from '../../src/kernel-model/task.js';
import { O_EXCL, O_RDWR, O_TMPFILE, SEEK_END, SEEK_SET } from '../../src/kernel-model/fcntl.js';
import { ShmemFile } from '../../src/kernel-model/shmem.js';
import { filemapGetEntry } from '../../src/kernel-model/filemap.js';
import { HMM_PFN_REQ_FAULT, HMM_PFN_REQ_WRITE, HMM_PFN_VALID, HMM_PFN_WRITE, type HmmRange, hmmPfnFlags, hmmPfnToPage,
  hmmRangeFault } from '../../src/kernel-model/hmm.js';
import { type MmuIntervalNotifier, mmuIntervalReadBegin } from '../../src/kernel-model/mmu_notifier.js';
import { MEMORY_DEVICE_PRIVATE } from '../../src/kernel-model/memremap.js';
import { MIGRATE_PFN_MIGRATE, migratePfnToPage } from '../../src/kernel-model/migrate_device.js';
import { FakeDevice, registeredDevice, MiB, PRIVATE_BASE, migrateToDevice, pattern, recordingNotifier } from './fixtures/fake_device.js';

const P = PAGE_SIZE;
const RW = PROT_READ | PROT_WRITE;

/** hmm_create_file(): an unlinked tmpfs file of size bytes. */
function createFile(task: Task, size: number): number {
  const fd = task.open('/tmp', O_TMPFILE | O_EXCL | O_RDWR, 0o600);
  if (fd < 0) throw new Error(`open: ${fd}`);
  if (task.ftruncate(fd, size) !== 0) throw new Error('ftruncate');
  return fd;
}

/** A user buffer (malloc()) holding bytes. */
function userBuf(task: Task, bytes: Uint8Array): number {
  const a = task.mmap(0, bytes.length, RW, MAP_PRIVATE | MAP_ANONYMOUS);
  userStore(task.mm, a, bytes);
  return a;
}

function load(mm: MmStruct, addr: number, len: number): Uint8Array {
  const b = new Uint8Array(len);
  userLoad(mm, addr, b);
  return b;
}

const pte = (mm: MmStruct, addr: number): [number, number] => {
  const tb = mm.pgtable.lookup(addr);
  return tb === undefined ? [0, 0] : [tb.val[pteIndex(addr)], tb.pfn[pteIndex(addr)]];
};
const fileOf = (task: Task, fd: number) => task.files.get(fd) as ShmemFile;

function expectSignal(t: { ok(v: unknown, m: string): unknown }, fn: () => void, signal: number): void {
  let caught: unknown = null;
  try { fn(); } catch (e) { caught = e; }
  t.ok(caught instanceof FatalSignal && caught.signal === signal, `signal ${signal} (got ${String(caught)})`);
}

function newRange(mni: MmuIntervalNotifier, start: number, npages: number, defaultFlags: number): HmmRange {
  return { notifier: mni, notifierSeq: mmuIntervalReadBegin(mni), start, end: start + npages * P,
    hmmPfns: new Float64Array(npages), defaultFlags, pfnFlagsMask: 0, devPrivateOwner: null };
}

t.test('open(/tmp, O_TMPFILE): an unlinked tmpfs file; write() then read() and pread() at the file position', async (t) => {
  const k = new Kernel();
  const task = new Task(k);
  t.equal(task.open('/tmp', O_RDWR), -EISDIR, 'the directory itself, for writing: -EISDIR');
  t.equal(task.open('/nonexistent', O_TMPFILE | O_RDWR), -2, 'O_TMPFILE outside tmpfs: -ENOENT');
  t.equal(task.open('/tmp', O_TMPFILE | 0), -EINVAL, 'O_TMPFILE read-only: -EINVAL');
  const fd = task.open('/tmp', O_TMPFILE | O_EXCL | O_RDWR, 0o600);
  t.ok(fd >= 3, 'an fd');
  const src = userBuf(task, pattern(7, 3 * P));
  t.equal(task.write(fd, src, 3 * P - 100), 3 * P - 100, 'write() writes everything');
  t.equal(fileOf(task, fd).inode.iSize, 3 * P - 100, 'and grows i_size');
  t.equal(task.lseek(fd, 0, SEEK_END), 3 * P - 100, 'SEEK_END');
  t.equal(task.lseek(fd, 10, SEEK_SET), 10);
  const dst = task.mmap(0, 3 * P, RW, MAP_PRIVATE | MAP_ANONYMOUS);
  t.equal(task.read(fd, dst, 3 * P), 3 * P - 110, 'read() stops at EOF');
  t.same(load(task.mm, dst, 3 * P - 110), pattern(7 + 10, 3 * P - 110), 'the bytes written, from offset 10');
  t.equal(task.read(fd, dst, P), 0, 'at EOF: 0');
  t.equal(task.pread(fd, dst, 5, 1), 5);
  t.same(load(task.mm, dst, 5), pattern(8, 5), 'pread at offset 1');
  t.equal(task.ioctl(fd, 0, {}), -25, 'no ioctls on a tmpfs file: -ENOTTY');
  t.equal(task.ftruncate(fd, 10 * P), 0, 'grow to 10 pages: a hole');
  t.equal(task.pread(fd, dst, P, 5 * P), P, 'a hole reads');
  t.same(load(task.mm, dst, P), new Uint8Array(P), 'as zeroes');
  t.equal(fileOf(task, fd).fMapping.nrpages, 3, 'and allocates nothing');
  t.equal(task.read(99, dst, 1), -EBADF);
  task.exit();
  t.equal(k.pageAlloc.nrAllocated, 0, 'close of the last reference frees the cache pages');
});

t.test('file_read: write() then a MAP_SHARED PROT_READ mapping reads the same bytes; the device sees read-only pages', async (t) => {
  const k = new Kernel();
  const task = new Task(k);
  const fd = createFile(task, 4 * P);
  t.equal(task.pwrite(fd, userBuf(task, pattern(3, 4 * P)), 4 * P, 0), 4 * P);
  const a = task.mmap(0, 4 * P, PROT_READ, MAP_SHARED, fd, 0);
  t.ok(a > 0);
  const vma = vmaLookup(task.mm, a)!;
  t.equal(vma.vmFile, fileOf(task, fd), 'vm_file is the open file');
  t.equal(vma.vmFlags & (VM_SHARED | VM_MAYSHARE), VM_SHARED | VM_MAYSHARE, 'VM_SHARED|VM_MAYSHARE');
  t.notOk(vmaIsAnonymous(vma), 'not anonymous (vm_ops set)');
  const { mni } = recordingNotifier(task.mm, a, 4 * P);
  const r = newRange(mni, a, 4, HMM_PFN_REQ_FAULT);
  t.equal(hmmRangeFault(r), 0, 'hmm_range_fault() faults the file pages in');
  const mapping = fileOf(task, fd).fMapping;
  for (let i = 0; i < 4; i++) {
    t.equal(hmmPfnToPage(r.hmmPfns[i]), filemapGetEntry(mapping, i), `page ${i}: the cache page`);
    t.equal(hmmPfnFlags(r.hmmPfns[i]), HMM_PFN_VALID, `page ${i}: read-only, as its pte`);
  }
  t.same(load(task.mm, a, 4 * P), pattern(3, 4 * P), 'the CPU reads the bytes write() put there');
  t.equal(hmmRangeFault(newRange(mni, a, 1, HMM_PFN_REQ_FAULT | HMM_PFN_REQ_WRITE)), -EPERM, 'a write request: -EPERM');
  t.equal(task.mm.rssFile, 4, 'four file pages mapped');
  task.exit();
  t.equal(k.pageAlloc.nrAllocated, 0, 'all freed');
});

t.test('file_write: a MAP_SHARED write reaches the file; the pte maps the cache page writable and dirty', async (t) => {
  const k = new Kernel();
  const task = new Task(k);
  const fd = createFile(task, 4 * P);
  const a = task.mmap(0, 4 * P, RW, MAP_SHARED, fd, 0);
  userStore(task.mm, a, pattern(9, P));
  const page = filemapGetEntry(fileOf(task, fd).fMapping, 0);
  const [v, pfn] = pte(task.mm, a);
  t.equal(pfn, page, 'the pte maps the cache page');
  t.equal(v & (_PAGE_PRESENT | _PAGE_RW | _PAGE_DIRTY), _PAGE_PRESENT | _PAGE_RW | _PAGE_DIRTY, 'writable and dirty (do_shared_fault())');
  t.ok(testPageFlag(k, page, PG_dirty), 'the page is dirty');
  t.equal(pageRefCount(k, page), 2, 'references: the cache and the pte');
  t.equal(pageMapcount(k, page), 1);
  userLoad(task.mm, a + P, new Uint8Array(1));
  t.equal(pte(task.mm, a + P)[0] & (_PAGE_RW | _PAGE_DIRTY), _PAGE_RW, 'a read fault in a shared writable mapping: writable, clean (vm_page_prot)');
  // The device writes the rest through hmm_range_fault(), as dmirror_write() does.
  const { mni } = recordingNotifier(task.mm, a, 4 * P);
  const r = newRange(mni, a, 4, HMM_PFN_REQ_FAULT | HMM_PFN_REQ_WRITE);
  t.equal(hmmRangeFault(r), 0);
  for (let i = 0; i < 4; i++) t.equal(hmmPfnFlags(r.hmmPfns[i]), HMM_PFN_VALID | HMM_PFN_WRITE, `page ${i}: writable for the device`);
  userStore(task.mm, a + 2 * P + 5, Uint8Array.of(42));
  const out = task.mmap(0, 4 * P, RW, MAP_PRIVATE | MAP_ANONYMOUS);
  t.equal(task.pread(fd, out, 4 * P, 0), 4 * P);
  const got = load(task.mm, out, 4 * P);
  t.same(got.subarray(0, P), pattern(9, P), 'pread() sees the store through the mapping');
  t.equal(got[2 * P + 5], 42, 'and the later one');
  t.equal(task.munmap(a, 4 * P), 0);
  t.equal(fileOf(task, fd).fMapping.nrpages, 4, 'munmap leaves the file its pages');
  t.equal(pageRefCount(k, page), 1, 'held by the cache only');
  task.exit();
  t.equal(k.pageAlloc.nrAllocated, 0, 'all freed');
});

t.test('MAP_PRIVATE: a read maps the cache page read-only, a write copies it (do_wp_page / do_cow_fault); the file keeps its data', async (t) => {
  const k = new Kernel();
  const task = new Task(k);
  const fd = createFile(task, 4 * P);
  t.equal(task.pwrite(fd, userBuf(task, pattern(1, 4 * P)), 4 * P, 0), 4 * P);
  const mapping = fileOf(task, fd).fMapping;
  const a = task.mmap(0, 4 * P, RW, MAP_PRIVATE, fd, 0);
  t.equal(vmaLookup(task.mm, a)!.vmFlags & (VM_SHARED | VM_MAYSHARE), 0, 'no VM_SHARED');
  // Page 0: read, then write (do_read_fault(), then wp_page_copy()).
  t.same(load(task.mm, a, P), pattern(1, P), 'reads the file');
  const cache0 = filemapGetEntry(mapping, 0);
  t.same(pte(task.mm, a), [_PAGE_PRESENT, cache0], 'the cache page, read-only');
  userStore(task.mm, a, Uint8Array.of(0xee));
  const [v0, anon0] = pte(task.mm, a);
  t.not(anon0, cache0, 'the write COWed into another page');
  t.ok(testPageFlag(k, anon0, PG_anon), 'an anon page');
  t.equal(v0 & (_PAGE_RW | _PAGE_DIRTY), _PAGE_RW | _PAGE_DIRTY, 'writable and dirty');
  t.equal(pageMapcount(k, cache0), 0, 'the cache page is no longer mapped');
  // Page 1: first touch is a write (do_cow_fault()).
  userStore(task.mm, a + P, Uint8Array.of(0xdd));
  const [, anon1] = pte(task.mm, a + P);
  const cache1 = filemapGetEntry(mapping, 1);
  t.ok(testPageFlag(k, anon1, PG_anon) && anon1 !== cache1, 'do_cow_fault() maps a new anon page');
  t.equal(pageRefCount(k, cache1), 1, 'the cache page: only the cache holds it');
  const got = load(task.mm, a, 2 * P);
  t.equal(got[0], 0xee);
  t.same(got.subarray(1, P), pattern(2, P - 1), 'the copy has the rest of the file page');
  t.equal(got[P], 0xdd);
  const out = userBuf(task, new Uint8Array(2 * P));
  t.equal(task.pread(fd, out, 2 * P, 0), 2 * P);
  t.same(load(task.mm, out, 2 * P), pattern(1, 2 * P), 'the file keeps its data');
  t.equal(task.mm.rssFile, 0, 'no file page is mapped any more: both are private copies');
  task.exit();
  t.equal(k.pageAlloc.nrAllocated, 0, 'all freed');
});

t.test('mmap() of a file: offset, permissions, and what cannot be mapped', async (t) => {
  const k = new Kernel();
  const task = new Task(k);
  const fd = createFile(task, 4 * P);
  t.equal(task.pwrite(fd, userBuf(task, pattern(0, 4 * P)), 4 * P, 0), 4 * P);
  const a = task.mmap(0, 2 * P, PROT_READ, MAP_SHARED, fd, 2 * P);
  t.equal(vmaLookup(task.mm, a)!.vmPgoff, 2, 'vm_pgoff from the offset');
  t.same(load(task.mm, a, 2 * P), pattern(0, 4 * P).subarray(2 * P), 'maps the file from the offset');
  t.equal(task.mmap(0, P, PROT_READ, MAP_SHARED, fd, 100), -EINVAL, 'unaligned offset: -EINVAL');
  t.equal(task.mmap(0, P, PROT_READ, MAP_SHARED, 77, 0), -EBADF, 'bad fd: -EBADF');
  // A mapping past EOF: SIGBUS on access (shmem_get_folio() -> -EINVAL -> vmf_error()).
  k.chrdevs.set('/dev/x', { path: '/dev/x', major: 10, minor: 0, owner: {},
    fops: { open: () => 0, release: () => 0, unlockedIoctl: () => -25 } });
  const cfd = task.open('/dev/x');
  t.equal(task.mmap(0, P, PROT_READ, MAP_SHARED, cfd, 0), -ENODEV, 'a char device without mmap: -ENODEV');
  t.equal(task.read(cfd, 0, 1), -EINVAL, 'nor read');
  t.equal(task.lseek(cfd, 0, SEEK_SET), -ESPIPE, 'nor llseek');
  const b = task.mmap(0, 8 * P, RW, MAP_SHARED, fd, 0);
  expectSignal(t, () => userLoad(task.mm, b + 4 * P, new Uint8Array(1)), SIGBUS);
  task.exit();
  t.equal(k.pageAlloc.nrAllocated, 0);
});

t.test('ftruncate() down unmaps from every mapping (COWs too), frees the pages, and later accesses get SIGBUS', async (t) => {
  const k = new Kernel();
  const task = new Task(k);
  const fd = createFile(task, 4 * P);
  t.equal(task.pwrite(fd, userBuf(task, pattern(5, 4 * P)), 4 * P, 0), 4 * P);
  const s = task.mmap(0, 4 * P, RW, MAP_SHARED, fd, 0);
  const p = task.mmap(0, 4 * P, RW, MAP_PRIVATE, fd, 0);
  for (let i = 0; i < 4; i++) userLoad(task.mm, s + i * P, new Uint8Array(1));
  userStore(task.mm, p + 3 * P, Uint8Array.of(1)); // a private COW of page 3
  userLoad(task.mm, p + 2 * P, new Uint8Array(1)); // page 2 mapped read-only in the private mapping
  const { seen } = recordingNotifier(task.mm, 0, 2 ** 47);
  const before = k.pageAlloc.nrAllocated;
  t.equal(task.ftruncate(fd, P + 100), 0);
  t.ok(seen.some((r) => r.event === 'CLEAR' && r.start === s + 2 * P), 'the shared mapping hears MMU_NOTIFY_CLEAR from the hole');
  t.ok(seen.some((r) => r.event === 'CLEAR' && r.start === p + 2 * P), 'so does the private one');
  t.same(pte(task.mm, s + 2 * P), [0, 0], 'shared pte gone');
  t.same(pte(task.mm, p + 3 * P), [0, 0], 'the private COW is gone too (even_cows)');
  t.equal(k.pageAlloc.nrAllocated, before - 3, 'pages 2 and 3 and the COW are freed');
  t.equal(fileOf(task, fd).fMapping.nrpages, 2);
  const tail = load(task.mm, s + P, P);
  t.same(tail.subarray(0, 100), pattern(5 + P, 100), 'the straddling page keeps its head');
  t.same(tail.subarray(100), new Uint8Array(P - 100), 'and its tail is zeroed');
  expectSignal(t, () => userLoad(task.mm, s + 2 * P, new Uint8Array(1)), SIGBUS);
  expectSignal(t, () => userLoad(task.mm, p + 3 * P, new Uint8Array(1)), SIGBUS);
  task.exit();
  t.equal(k.pageAlloc.nrAllocated, 0);
});

t.test('migrate_file_private: only the COWed anon pages of a MAP_PRIVATE file mapping move to the device', async (t) => {
  const k = new Kernel();
  const dev = new FakeDevice(k, MEMORY_DEVICE_PRIVATE, PRIVATE_BASE, 2 * MiB);
  t.equal(dev.register(), 0);
  const task = new Task(k);
  const fd = createFile(task, 4 * P);
  t.equal(task.pwrite(fd, userBuf(task, pattern(2, 4 * P)), 4 * P, 0), 4 * P);
  const a = task.mmap(0, 4 * P, RW, MAP_PRIVATE, fd, 0);
  userStore(task.mm, a, Uint8Array.of(9)); // page 0: COWed anon
  userLoad(task.mm, a + P, new Uint8Array(1)); // page 1: the cache page, read-only
  // page 2, 3: never touched
  const cache1 = filemapGetEntry(fileOf(task, fd).fMapping, 1);
  const vma = vmaLookup(task.mm, a)!;
  const r = migrateToDevice(dev, vma, a, 4);
  t.equal(r.ret, 0);
  t.equal(r.cpages, 2, 'setup collects the anon page and the cache page; none ptes of a file VMA are not collected');
  t.same([...r.args.src].map((m) => (m & MIGRATE_PFN_MIGRATE) !== 0), [true, false, false, false],
    'after migrate_vma_pages(): only the anon page still migrates (a page with a mapping stays)');
  t.equal(migratePfnToPage(r.args.src[2]), 0, 'untouched: nothing');
  const [v1, pfn1] = pte(task.mm, a + P);
  t.same([v1, pfn1], [_PAGE_PRESENT, cache1], 'the cache page is mapped back as it was');
  t.equal(dev.freed.length, 1, 'the device page allocated for the cache page went back to the device');
  t.equal(pte(task.mm, a)[0] & _PAGE_PRESENT, 0, 'page 0 is on the device');
  t.same(load(task.mm, a, 2), Uint8Array.of(9, 3), 'and faults back with its data');
  task.exit();
  t.equal(k.pageAlloc.nrAllocated, 0);
});

/**
 * The private-write checks of the test above, as a function: the failures
 * it finds, so a test can show they catch a broken model.
 */
function privateWriteChecks(breakIt: (k: Kernel, task: Task, addr: number) => void): string[] {
  const k = new Kernel();
  const task = new Task(k);
  const fd = createFile(task, 2 * P);
  task.pwrite(fd, userBuf(task, pattern(1, 2 * P)), 2 * P, 0);
  const a = task.mmap(0, 2 * P, RW, MAP_PRIVATE, fd, 0);
  breakIt(k, task, a);
  const fails: string[] = [];
  userStore(task.mm, a, Uint8Array.of(0xee));
  const [v, pfn] = pte(task.mm, a);
  if (!testPageFlag(k, pfn, PG_anon)) fails.push('the written page is not an anon copy');
  if (!(v & _PAGE_RW)) fails.push('not writable');
  const out = userBuf(task, new Uint8Array(P));
  task.pread(fd, out, P, 0);
  if (load(task.mm, out, 1)[0] !== 1) fails.push('the file changed');
  task.exit();
  if (k.pageAlloc.nrAllocated !== 0) fails.push('leak');
  return fails;
}

t.test('break it: a do_cow_fault() that maps the cache page writable (the shared path for a private VMA) is caught', async (t) => {
  t.same(privateWriteChecks(() => {}), [], 'the model passes');
  const fails = privateWriteChecks((_k, task, a) => { vmaLookup(task.mm, a)!.vmFlags |= VM_SHARED; });
  t.same(fails, ['the written page is not an anon copy', 'the file changed'], 'the broken one fails where it should');
});

t.test('break it: a truncate that does not unmap (an empty i_mmap) is caught', async (t) => {
  const run = (breakIt: boolean): string[] => {
    const k = new Kernel();
    const task = new Task(k);
    const fd = createFile(task, 2 * P);
    const s = task.mmap(0, 2 * P, RW, MAP_SHARED, fd, 0);
    userStore(task.mm, s + P, Uint8Array.of(1));
    if (breakIt) fileOf(task, fd).fMapping.iMmap = new Set();
    const fails: string[] = [];
    try {
      task.ftruncate(fd, P);
    } catch (e) {
      fails.push(e instanceof KernelBug ? e.message : String(e));
      return fails;
    }
    if (pte(task.mm, s + P)[0] !== 0) fails.push('still mapped');
    task.exit();
    return fails;
  };
  t.same(run(false), [], 'the model passes');
  const fails = run(true);
  t.equal(fails.length, 1);
  t.match(fails[0], /Bad page cache: pfn 0x[0-9a-f]+ index 1 is still mapped 1 time/, 'filemap_remove_folio() finds the page still mapped');
});

t.test('break it: a ->write_end() that forgets i_size is caught by the write()/read() test', async (t) => {
  const run = (breakIt: boolean): string[] => {
    const k = new Kernel();
    const task = new Task(k);
    const fd = task.open('/tmp', O_TMPFILE | O_RDWR);
    const mapping = fileOf(task, fd).fMapping;
    if (breakIt) {
      const orig = mapping.aOps;
      mapping.aOps = { writeBegin: orig.writeBegin, writeEnd: (m, _pos, copied, page) => orig.writeEnd(m, -copied, copied, page) };
    }
    const fails: string[] = [];
    if (task.write(fd, userBuf(task, pattern(1, 100)), 100) !== 100) fails.push('short write');
    const out = userBuf(task, new Uint8Array(100));
    if (task.pread(fd, out, 100, 0) !== 100) fails.push('read does not return what was written');
    task.exit();
    if (k.pageAlloc.nrAllocated !== 0) fails.push('leak');
    return fails;
  };
  t.same(run(false), []);
  t.same(run(true), ['read does not return what was written']);
});

t.test('break it: page-cache pages without ->mapping are not collected by migrate_vma_setup(), and the test sees it', async (t) => {
  const run = (breakIt: boolean): number => {
    const k = new Kernel();
    const dev = registeredDevice(k);
    const task = new Task(k);
    const fd = createFile(task, P);
    const a = task.mmap(0, P, RW, MAP_SHARED, fd, 0);
    userStore(task.mm, a, Uint8Array.of(1));
    const page = pte(task.mm, a)[1];
    const saved = k.memmap.block(page).mapping[page % 512];
    if (breakIt) k.memmap.block(page).mapping[page % 512] = 0;
    const r = migrateToDevice(dev, vmaLookup(task.mm, a)!, a, 1);
    k.memmap.block(page).mapping[page % 512] = saved;
    task.exit();
    return r.cpages;
  };
  t.equal(run(false), 1, 'the model collects the shared page (and later leaves it)');
  t.equal(run(true), 0, 'without its mapping the page is skipped: cpages differs');
});
