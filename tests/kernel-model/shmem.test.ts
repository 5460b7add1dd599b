// SPDX-License-Identifier: GPL-2.0-only
/*
 * Tests of MAP_SHARED|MAP_ANONYMOUS memory (shmem_zero_setup(): an anonymous
 * shmem file behind the VMA) in src/kernel-model/: two mappings of one
 * region share pages, rmap reaches every process mapping a page, the device
 * (hmm_range_fault(), migrate_vma_*()) sees it as the kernel shows it, and
 * everything is freed with the last mapping.
 *
 *   one shared anonymous region, mapped by two processes:
 *     task A  SSSS ─┐
 *                   ├─ "dev/zero" shmem file, pages 0..3
 *     task B  SSSS ─┘  (what fork() leaves a child; here B maps A's vm_file)
 */
import t from 'tap';
import { Kernel } from '../../src/kernel-model/kernel.js';
import { PAGE_SIZE, PG_lru } from '../../src/kernel-model/page.js';
import { MAP_ANONYMOUS, MAP_SHARED, PROT_READ, PROT_WRITE, VM_MAYSHARE, VM_SHARED, type MmStruct, type VmAreaStruct,
  vmaLookup, vmaIsAnonymous } from '../../src/kernel-model/mm.js';
import { userLoad, userStore } from '../../src/kernel-model/memory.js';
import { _PAGE_PRESENT, _PAGE_RW, pteIndex } from '../../src/kernel-model/pgtable.js';
import { lockPage, pageMapcount, pageRefCount, testPageFlag } from '../../src/kernel-model/page_alloc.js';
import { Task } from '../../src/kernel-model/task.js';
import { type ShmemFile, shmemAnonVmOps } from '../../src/kernel-model/shmem.js';
import { filemapGetEntry } from '../../src/kernel-model/filemap.js';
import { HMM_PFN_REQ_FAULT, HMM_PFN_REQ_WRITE, HMM_PFN_VALID, HMM_PFN_WRITE, hmmPfnFlags, hmmPfnToPage,
  hmmRangeFault } from '../../src/kernel-model/hmm.js';
import { mmuIntervalReadBegin } from '../../src/kernel-model/mmu_notifier.js';
import { MEMORY_DEVICE_PRIVATE, VM_FAULT_LOCKED } from '../../src/kernel-model/memremap.js';
import { MIGRATE_PFN_MIGRATE, migratePfnToPage } from '../../src/kernel-model/migrate_device.js';
import { FakeDevice, MiB, PRIVATE_BASE, migrateToDevice, pattern, recordingNotifier } from './fixtures/fake_device.js';

const P = PAGE_SIZE;
const RW = PROT_READ | PROT_WRITE;
const SHARED_ANON = MAP_SHARED | MAP_ANONYMOUS;

const pte = (mm: MmStruct, addr: number): [number, number] => {
  const tb = mm.pgtable.lookup(addr);
  return tb === undefined ? [0, 0] : [tb.val[pteIndex(addr)], tb.pfn[pteIndex(addr)]];
};
function load(mm: MmStruct, addr: number, len: number): Uint8Array {
  const b = new Uint8Array(len);
  userLoad(mm, addr, b);
  return b;
}

/** Task A's shared anonymous region, and task B mapping the same shmem file (as a forked child inherits it). */
function sharedPair(k: Kernel, npages: number) {
  const a = new Task(k), b = new Task(k);
  const addrA = a.mmap(0, npages * P, RW, SHARED_ANON);
  const vmaA = vmaLookup(a.mm, addrA)!;
  const fd = 3;
  b.files.set(fd, vmaA.vmFile!); // the child's handle on the file: a reference, as fork's dup_mmap() takes one
  vmaA.vmFile!.count++;
  const addrB = b.mmap(0, npages * P, RW, MAP_SHARED, fd, 0);
  b.close(fd);
  return { a, b, addrA, addrB, vmaA, vmaB: vmaLookup(b.mm, addrB)! };
}

t.test('MAP_SHARED|MAP_ANONYMOUS is an anonymous shmem file mapped from offset 0', async (t) => {
  const k = new Kernel();
  const task = new Task(k);
  const a = task.mmap(0, 4 * P, RW, SHARED_ANON);
  t.ok(a > 0);
  const vma = vmaLookup(task.mm, a)!;
  t.equal(vma.vmFlags & (VM_SHARED | VM_MAYSHARE), VM_SHARED | VM_MAYSHARE);
  t.equal(vma.vmPgoff, 0, 'vm_pgoff 0');
  t.equal(vma.vmOps, shmemAnonVmOps, 'shmem_anon_vm_ops');
  t.notOk(vmaIsAnonymous(vma), 'vma_is_anonymous() is false');
  t.equal((vma.vmFile as ShmemFile).inode.iSize, 4 * P, 'the file has the size of the mapping');
  t.equal(vma.vmFile!.count, 1, 'only the VMA holds it');
  userStore(task.mm, a + P, pattern(4, P));
  const page = filemapGetEntry(vma.vmFile!.fMapping!, 1);
  t.same(pte(task.mm, a + P), [pte(task.mm, a + P)[0], page], 'the pte maps the shmem page');
  t.ok(testPageFlag(k, page, PG_lru), 'on the LRU');
  t.equal(task.mprotect(a + P, P, PROT_READ), 0, 'mprotect splits the VMA');
  t.equal(task.mm.vmas.length, 3);
  t.equal(vma.vmFile!.count, 3, 'each part holds the file');
  t.equal(pte(task.mm, a + P)[0] & _PAGE_RW, 0, 'read-only now');
  t.equal(task.mprotect(a + P, P, RW), 0);
  t.equal(task.mm.vmas.length, 1, 'and merges back (same file, contiguous pgoff)');
  t.equal(vma.vmFile!.count, 1);
  t.equal(pte(task.mm, a + P)[0] & _PAGE_RW, _PAGE_RW, 'writable again: a shared pte follows vm_page_prot');
  t.same(load(task.mm, a + P, P), pattern(4, P));
  t.equal(task.munmap(a, 4 * P), 0);
  t.equal(k.pageAlloc.nrAllocated, 0, 'munmap of the only mapping frees the file and its pages');
  task.exit();
});

t.test('two mappings of one shared anonymous region see each other\'s writes; rss and refcounts', async (t) => {
  const k = new Kernel();
  const { a, b, addrA, addrB, vmaA } = sharedPair(k, 4);
  userStore(a.mm, addrA, pattern(1, 2 * P));
  t.same(load(b.mm, addrB, 2 * P), pattern(1, 2 * P), 'B reads what A wrote');
  userStore(b.mm, addrB + 3 * P, pattern(2, P));
  t.same(load(a.mm, addrA + 3 * P, P), pattern(2, P), 'A reads what B wrote');
  const page = filemapGetEntry(vmaA.vmFile!.fMapping!, 0);
  t.equal(pte(a.mm, addrA)[1], page);
  t.equal(pte(b.mm, addrB)[1], page, 'both ptes map the same page');
  t.equal(pageMapcount(k, page), 2);
  t.equal(pageRefCount(k, page), 3, 'the cache and two ptes');
  t.equal(a.mm.rssFile, 3, 'A maps pages 0, 1, 3');
  t.equal(a.mm.rssAnon, 0, 'no anon pages');
  a.exit();
  t.equal(pageMapcount(k, page), 1, 'A gone: B still maps it');
  t.same(load(b.mm, addrB, P), pattern(1, P), 'with the data');
  b.exit();
  t.equal(k.pageAlloc.nrAllocated, 0, 'the last mapping frees everything');
});

t.test('anon_write_child_shared: the device writes through the child\'s mm and the parent sees it, no COW', async (t) => {
  const k = new Kernel();
  const { a, b, addrA, addrB } = sharedPair(k, 2);
  userStore(a.mm, addrA, pattern(0, 2 * P));
  const { mni } = recordingNotifier(b.mm, addrB, 2 * P);
  const r = { notifier: mni, notifierSeq: mmuIntervalReadBegin(mni), start: addrB, end: addrB + 2 * P,
    hmmPfns: new Float64Array(2), defaultFlags: HMM_PFN_REQ_FAULT | HMM_PFN_REQ_WRITE, pfnFlagsMask: 0, devPrivateOwner: null };
  t.equal(hmmRangeFault(r), 0);
  for (let i = 0; i < 2; i++) {
    t.equal(hmmPfnFlags(r.hmmPfns[i]), HMM_PFN_VALID | HMM_PFN_WRITE, `page ${i}: writable`);
    t.equal(hmmPfnToPage(r.hmmPfns[i]), pte(a.mm, addrA + i * P)[1], `page ${i}: the parent's page, not a copy`);
  }
  // The device's write lands in the page both map (dmirror_do_write() copies into the page it was given).
  userStore(b.mm, addrB + 10, Uint8Array.of(0xaa));
  t.equal(load(a.mm, addrA + 10, 1)[0], 0xaa, 'the parent sees it');
  a.exit();
  b.exit();
  t.equal(k.pageAlloc.nrAllocated, 0);
});

t.test('migrate_shared: an untouched shared anonymous range collects nothing (the driver then returns -ENOENT)', async (t) => {
  const k = new Kernel();
  const dev = new FakeDevice(k, MEMORY_DEVICE_PRIVATE, PRIVATE_BASE, 2 * MiB);
  t.equal(dev.register(), 0);
  const task = new Task(k);
  const a = task.mmap(0, 4 * P, RW, SHARED_ANON);
  const r = migrateToDevice(dev, vmaLookup(task.mm, a)!, a, 4);
  t.equal(r.ret, 0, 'migrate_vma_setup() accepts the VMA');
  t.equal(r.cpages, 0, 'none ptes in a VMA that is not anonymous are not collected');
  t.same([...r.args.src], [0, 0, 0, 0], 'src[] all 0: no device page is allocated, the mirror gets no entry');
  t.equal(dev.freeList.length, 512, 'the device gave nothing');
  task.exit();
  t.equal(k.pageAlloc.nrAllocated, 0);
});

t.test('migrate_vma on populated shared pages: collected and unmapped from every process, then left where they were', async (t) => {
  const k = new Kernel();
  const dev = new FakeDevice(k, MEMORY_DEVICE_PRIVATE, PRIVATE_BASE, 2 * MiB);
  t.equal(dev.register(), 0);
  const { a, b, addrA, addrB, vmaA } = sharedPair(k, 2);
  userStore(a.mm, addrA, pattern(6, 2 * P));
  load(b.mm, addrB, 2 * P);
  const before = [pte(a.mm, addrA), pte(a.mm, addrA + P), pte(b.mm, addrB), pte(b.mm, addrB + P)];
  const { seen } = recordingNotifier(b.mm, addrB, 2 * P);
  const r = migrateToDevice(dev, vmaA, addrA, 2);
  t.equal(r.cpages, 2, 'migrate_vma_setup() collects both (they have a mapping) and unmaps them');
  t.same(seen.map((x) => x.event), ['CLEAR', 'CLEAR'], 'try_to_migrate() reaches the other process through i_mmap');
  t.same([...r.args.src].map((m) => m & MIGRATE_PFN_MIGRATE), [0, 0], 'migrate_vma_pages(): page-cache pages do not go to device-private memory');
  t.same([...r.args.src].map(migratePfnToPage), [before[0][1], before[1][1]], 'src still names them');
  t.same([pte(a.mm, addrA), pte(a.mm, addrA + P), pte(b.mm, addrB), pte(b.mm, addrB + P)], before,
    'migrate_vma_finalize() restores every pte in both processes');
  t.equal(dev.freed.length, 2, 'the device pages the driver allocated are freed');
  t.equal(pageRefCount(k, before[0][1]), 3, 'no reference left behind');
  t.same(load(b.mm, addrB, 2 * P), pattern(6, 2 * P), 'data intact');
  a.exit();
  b.exit();
  t.equal(k.pageAlloc.nrAllocated, 0);
});

t.test('break it: a shmem_fault() that does not use the page cache is caught by the sharing test', async (t) => {
  const run = (breakIt: (k: Kernel, vma: VmAreaStruct) => void): string[] => {
    const k = new Kernel();
    const { a, b, addrA, addrB, vmaB } = sharedPair(k, 1);
    breakIt(k, vmaB);
    const fails: string[] = [];
    userStore(a.mm, addrA, Uint8Array.of(5));
    if (load(b.mm, addrB, 1)[0] !== 5) fails.push('B does not see A\'s write');
    if (pte(a.mm, addrA)[1] !== pte(b.mm, addrB)[1]) fails.push('different pages');
    a.exit();
    b.exit();
    return fails;
  };
  t.same(run(() => {}), [], 'the model passes');
  const fails = run((k, vma) => {
    vma.vmOps = { name: 'broken', fault: (vmf) => { vmf.page = k.pageAlloc.allocPage(); lockPage(k, vmf.page); return VM_FAULT_LOCKED; } };
  });
  t.same(fails, ['B does not see A\'s write', 'different pages']);
});

t.test('exit with a shared region still mapped frees it; the present pte is writable after a read (shared vm_page_prot)', async (t) => {
  const k = new Kernel();
  const task = new Task(k);
  const a = task.mmap(0, 2 * P, RW, SHARED_ANON);
  load(task.mm, a, 1);
  t.equal(pte(task.mm, a)[0], _PAGE_PRESENT | _PAGE_RW, 'read fault: present, writable, clean');
  const f = vmaLookup(task.mm, a)!.vmFile as ShmemFile;
  task.exit();
  t.equal(f.count, 0, 'the file was released');
  t.equal(k.pageAlloc.nrAllocated, 0);
});
