// SPDX-License-Identifier: GPL-2.0-only
/*
 * Balbir Singh's "mm: support device-private THP" series as the 7.2 profile
 * has it (changes.ts: zone_device-large-folios, huge_memory-device-private-pmd,
 * migrate_device-thp, hmm-pmd-swap-entry, test_hmm-thp, test_hmm-fail-alloc),
 * driven through the driver's ioctls the way the new hmm-tests cases do
 * (migrate_anon_huge_{empty,zero,free,fault,err,zero_err},
 * migrate_partial_unmap_fault), with data, counts, SNAPSHOT, pagemap and the
 * unload check; then each mechanism broken on purpose and caught.
 *
 *   one PMD, 512 pages:   |0123...511|
 *   on the device:        |DDDD...DDD|  one PMD device-private entry
 *   partial munmap:       |DDDD....  |  512 PTE device-private entries, some zapped
 */
import t, { type Test } from 'tap';
import { Kernel } from '../../src/kernel-model/kernel.js';
import { Task } from '../../src/kernel-model/task.js';
import { PAGE_SIZE, PMD_SIZE, HPAGE_PMD_NR } from '../../src/kernel-model/page.js';
import { PROT_READ, PROT_WRITE, MAP_PRIVATE, MAP_ANONYMOUS, type MmStruct } from '../../src/kernel-model/mm.js';
import { MADV_HUGEPAGE, MADV_FREE, MADV_DONTNEED } from '../../src/kernel-model/madvise.js';
import { userLoad, userStore } from '../../src/kernel-model/memory.js';
import { EINVAL } from '../../src/kernel-model/errno.js';
import { isDevicePrivateEntry, isWritableDevicePrivateEntry, ptePresent, pteIndex } from '../../src/kernel-model/pgtable.js';
import { folioOrder, pageRefCount, folioMapcount } from '../../src/kernel-model/page_alloc.js';
import { isDevicePrivatePage, isDeviceCoherentPage } from '../../src/kernel-model/memremap.js';
import { pagemapRead, PM_PRESENT, PM_SWAP } from '../../src/kernel-model/task_mmu.js';
import { MAINLINE } from '../../src/kernel-model/changes.js';
import { hmmDmirrorExit, type TestHmm, type Dmirror, setZoneDeviceData } from '../../src/dmirror/test_hmm.js';
import * as U from '../../src/dmirror/test_hmm_uapi.js';
import { PRIVATE, COHERENT, bootDmirror, dmirrorCmd } from '../helpers.js';

const P = PAGE_SIZE, NR = HPAGE_PMD_NR;
const LOCAL_PMD = U.HMM_DMIRROR_PROT_DEV_PRIVATE_LOCAL | U.HMM_DMIRROR_PROT_WRITE | U.HMM_DMIRROR_PROT_PMD;

const boot = (profile = MAINLINE, params: typeof PRIVATE | typeof COHERENT = PRIVATE, patches: string[] = []) => bootDmirror(params, profile, patches);
const cmd = dmirrorCmd;
/** The C's THP buffer: 2 PMDs mapped, the PMD-aligned one inside advised MADV_HUGEPAGE. */
function thpBuffer(task: Task, prot = PROT_READ | PROT_WRITE): number {
  const raw = task.mmap(0, 2 * PMD_SIZE, prot, MAP_PRIVATE | MAP_ANONYMOUS);
  const p = Math.ceil(raw / PMD_SIZE) * PMD_SIZE;
  if (task.madvise(p, PMD_SIZE, MADV_HUGEPAGE) !== 0) throw new Error('madvise');
  return p;
}
const plain = (task: Task, npages: number) => task.mmap(0, npages * P, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS);
/** ptr[i] = i over the PMD, int by int. */
function fill(mm: MmStruct, p: number, pages = NR, base = 0): void {
  const buf = new Uint8Array(P), dv = new DataView(buf.buffer);
  for (let pg = 0; pg < pages; pg++) {
    for (let j = 0; j < P / 4; j++) dv.setInt32(j * 4, base + pg * (P / 4) + j, true);
    userStore(mm, p + pg * P, buf);
  }
}
/** The pages whose ints are not i (or 0 when zero); empty when all match. */
function bad(mm: MmStruct, p: number, pages = NR, zero = false, base = 0): number[] {
  const out: number[] = [], buf = new Uint8Array(P), dv = new DataView(buf.buffer);
  for (let pg = 0; pg < pages; pg++) {
    userLoad(mm, p + pg * P, buf);
    for (let j = 0; j < P / 4; j++) if (dv.getInt32(j * 4, true) !== (zero ? 0 : base + pg * (P / 4) + j)) { out.push(pg); break; }
  }
  return out;
}
const badMirror = (mm: MmStruct, out: number, pages = NR, zero = false) => bad(mm, out, pages, zero);
const huge = (mm: MmStruct, p: number) => mm.pgtable.lookupHuge(p);
const pagePgmapType = (k: Kernel, pfn: number) => isDevicePrivatePage(k, pfn) ? 'private' : isDeviceCoherentPage(k, pfn) ? 'coherent' : 'system';
function snapshot(task: Task, fd: number, p: number, out: number, npages = NR): number[] {
  const s = cmd(task, fd, U.HMM_DMIRROR_SNAPSHOT, { addr: p, ptr: out, npages });
  if (s.ret) throw new Error(`SNAPSHOT ${s.ret}`);
  const b = new Uint8Array(npages);
  userLoad(task.mm, out, b);
  return [...b];
}
/** Process exit and module unload: what the runner checks after every case. */
function teardown(t: Test, k: Kernel, mod: TestHmm, task: Task): void {
  task.exit();
  t.same(hmmDmirrorExit(mod), [], 'unload finds every device page back');
  t.equal(k.pageAlloc.nrAllocated, 0, 'no page leaked');
  t.same(k.warnings, [], 'no WARN');
}

t.test('migrate_anon_huge_fault: a THP moves to the device as one PMD device-private entry and comes back whole', (t) => {
  const { k, mod, task } = boot();
  const mm = task.mm, fd = task.open('/dev/hmm_dmirror0');
  const p = thpBuffer(task), out = plain(task, NR);
  fill(mm, p);
  const head = huge(mm, p)!.pfn;
  t.equal(folioOrder(k, head), 9, 'the buffer is one PMD-mapped THP');
  const m = cmd(task, fd, U.HMM_DMIRROR_MIGRATE_TO_DEV, { addr: p, ptr: out, npages: NR });
  t.same([m.ret, m.c.cpages], [0, NR]);
  t.same(badMirror(mm, out), [], 'the device read back every int');
  const h = huge(mm, p)!;
  t.ok(h !== undefined && isDevicePrivateEntry(h.val) && isWritableDevicePrivateEntry(h.val), 'a writable PMD device-private entry');
  t.ok(isDevicePrivatePage(k, h.pfn) && folioOrder(k, h.pfn) === 9, 'mapping an order-9 device-private folio');
  t.equal(folioMapcount(k, h.pfn), 1, 'mapped once, by the PMD');
  t.equal(mm.pgtable.lookup(p), undefined, 'no pte page');
  t.equal(mm.rssAnon, 2 * NR, 'rss still counts the 512 pages (and the 512 of the read-back buffer)');
  t.equal(mod.devices[0].freeFolios !== 0 || mod.devices[0].calloc >= NR, true, 'a device folio came off free_folios');
  t.same(snapshot(task, fd, p, out), new Array(NR).fill(LOCAL_PMD), 'SNAPSHOT: DEV_PRIVATE_LOCAL|WRITE|PMD for every page');
  const pm = pagemapRead(mm, p + 5 * P);
  t.ok((pm & PM_SWAP) !== 0n && (pm & PM_PRESENT) === 0n, 'pagemap: swapped, not present');
  // The CPU reads through the PMD: dmirror_devmem_fault() migrates the whole folio.
  t.same(bad(mm, p, 1), [], 'the first page reads back');
  const back = huge(mm, p)!;
  t.ok(ptePresent(back.val) && folioOrder(k, back.pfn) === 9 && !isDevicePrivatePage(k, back.pfn), 'a present THP PMD again');
  t.same(bad(mm, p), [], 'every int intact');
  t.equal(mod.devices[0].cfree, NR, 'the device folio went back whole');
  teardown(t, k, mod, task);
  t.end();
});

t.test('migrate_anon_huge_empty and _zero: an empty PMD and the huge zero page become a zeroed device THP', (t) => {
  for (const zero of [false, true]) {
    const { k, mod, task } = boot();
    const mm = task.mm, fd = task.open('/dev/hmm_dmirror0');
    const p = thpBuffer(task, zero ? PROT_READ | PROT_WRITE : PROT_READ), out = plain(task, NR);
    if (zero) {
      userLoad(mm, p, new Uint8Array(4));
      t.equal(huge(mm, p)!.pfn, k.hugeZeroPfn, 'the huge zero page');
    }
    const m = cmd(task, fd, U.HMM_DMIRROR_MIGRATE_TO_DEV, { addr: p, ptr: out, npages: NR });
    t.same([m.ret, m.c.cpages], [0, NR], `${zero ? 'zero' : 'empty'}: all on the device`);
    t.same(badMirror(mm, out, NR, true), [], 'the device reads zeroes');
    t.ok(isDevicePrivateEntry(huge(mm, p)!.val), 'one PMD device-private entry');
    t.equal(isWritableDevicePrivateEntry(huge(mm, p)!.val), zero, 'writable only in a writable VMA');
    t.same(bad(mm, p, NR, true), [], 'the CPU reads zeroes back');
    teardown(t, k, mod, task);
  }
  t.end();
});

t.test('migrate_anon_huge_free: MADV_FREE and MADV_DONTNEED on the device-resident THP succeed; munmap frees it', (t) => {
  for (const advice of [MADV_FREE, MADV_DONTNEED, -1]) {
    const { k, mod, task } = boot();
    const mm = task.mm, fd = task.open('/dev/hmm_dmirror0');
    const p = thpBuffer(task), out = plain(task, NR);
    fill(mm, p);
    t.equal(cmd(task, fd, U.HMM_DMIRROR_MIGRATE_TO_DEV, { addr: p, ptr: out, npages: NR }).ret, 0);
    if (advice === -1) {
      t.equal(task.munmap(p, PMD_SIZE), 0, 'munmap');
      t.equal(huge(mm, p), undefined);
    } else {
      t.equal(task.madvise(p, PMD_SIZE, advice), 0, `madvise ${advice}`);
      if (advice === MADV_FREE) t.same(bad(mm, p), [], 'MADV_FREE leaves the device data (no reclaim)');
      else t.same(bad(mm, p, NR, true), [], 'MADV_DONTNEED: zeroes');
    }
    t.equal(mod.devices[0].cfree >= NR, true, advice === MADV_FREE ? 'back after the CPU read' : 'the device folio was freed');
    teardown(t, k, mod, task);
  }
  t.end();
});

t.test('migrate_partial_unmap_fault: unmapping half a device PMD splits it; the rest faults back page by page', (t) => {
  for (const offset of [0, NR / 4, NR / 2]) {
    const { k, mod, task } = boot();
    const mm = task.mm, fd = task.open('/dev/hmm_dmirror0');
    const p = thpBuffer(task), out = plain(task, NR);
    fill(mm, p);
    t.equal(cmd(task, fd, U.HMM_DMIRROR_MIGRATE_TO_DEV, { addr: p, ptr: out, npages: NR }).ret, 0);
    const head = huge(mm, p)!.pfn;
    t.equal(task.munmap(p + offset * P, PMD_SIZE / 2), 0, `munmap half at +${offset}`);
    t.equal(huge(mm, p), undefined, 'the PMD entry is split');
    const tb = mm.pgtable.lookup(p)!;
    const kept = [...Array(NR).keys()].filter((i) => i < offset || i >= offset + NR / 2);
    t.ok(kept.every((i) => isDevicePrivateEntry(tb.val[i]) && tb.pfn[i] === head + i), 'the rest: PTE device-private entries of the same folio');
    t.equal(folioOrder(k, head), 9, 'the device folio is still large');
    t.equal(pageRefCount(k, head), NR / 2, 'one reference per remaining pte');
    t.same(kept.filter((i) => bad(mm, p + i * P, 1, false, i * (P / 4)).length > 0), [], 'every remaining page faults back intact');
    t.equal(mm.pgtable.lookup(p)!.val.filter((v, i) => kept.includes(i) && !ptePresent(v)).length, 0, 'every remaining page back in system memory');
    t.equal(mm.rssAnon, NR / 2 + NR, 'rss: the remaining half (and the read-back buffer)');
    teardown(t, k, mod, task);
  }
  t.end();
});

const mirrorOf = (task: Task, fd: number): Dmirror => task.files.get(fd)!.privateData as Dmirror;
const flags = (task: Task, fd: number, v: number) => cmd(task, fd, U.HMM_DMIRROR_FLAGS, { addr: 0, npages: v });

t.test('migrate_anon_huge_err: FAIL_ALLOC once: to the device in 4K pages, back by the split fallback', (t) => {
  const { k, mod, task } = boot();
  const mm = task.mm, fd = task.open('/dev/hmm_dmirror0');
  const p = thpBuffer(task), out = plain(task, NR);
  fill(mm, p);
  const f = flags(task, fd, U.HMM_DMIRROR_FLAG_FAIL_ALLOC);
  t.same([f.ret, f.c.cpages, f.c.faults, mirrorOf(task, fd).flags], [0, 0, 0, U.HMM_DMIRROR_FLAG_FAIL_ALLOC], 'FLAGS takes npages');
  const m = cmd(task, fd, U.HMM_DMIRROR_MIGRATE_TO_DEV, { addr: p, ptr: out, npages: NR });
  t.same([m.ret, m.c.cpages], [0, NR], 'all 512 pages on the device');
  t.equal(mirrorOf(task, fd).flags, 0, 'the flag is one-shot: cleared by the failed allocation');
  t.same(badMirror(mm, out), [], 'data');
  t.equal(huge(mm, p), undefined, 'no PMD entry: the THP was split');
  t.same(snapshot(task, fd, p, out), new Array(NR).fill(U.HMM_DMIRROR_PROT_DEV_PRIVATE_LOCAL | U.HMM_DMIRROR_PROT_WRITE),
    'SNAPSHOT: 512 small device pages');
  // Fault back a single page: only it comes back.
  t.same(bad(mm, p + 7 * P, 1, false, 7 * (P / 4)), [], 'page 7 reads back');
  const tb = mm.pgtable.lookup(p)!;
  t.ok(ptePresent(tb.val[7]) && isDevicePrivateEntry(tb.val[8]), 'page 7 in system memory, page 8 still on the device');
  // Second half: a THP on the device, FAIL_ALLOC, MIGRATE_TO_SYS: the device folio is split (migrate_vma_split_pages).
  const q = thpBuffer(task);
  fill(mm, q, NR, 1000);
  t.equal(cmd(task, fd, U.HMM_DMIRROR_MIGRATE_TO_DEV, { addr: q, ptr: out, npages: NR }).ret, 0);
  t.ok(isDevicePrivateEntry(huge(mm, q)!.val), 'the flag gone, the next migration is a THP again');
  t.equal(flags(task, fd, U.HMM_DMIRROR_FLAG_FAIL_ALLOC).ret, 0);
  const b = cmd(task, fd, U.HMM_DMIRROR_MIGRATE_TO_SYS, { addr: q, ptr: out, npages: NR });
  t.same([b.ret, b.c.cpages], [0, NR], 'MIGRATE_TO_SYS moved every page');
  t.equal(mirrorOf(task, fd).flags, 0, 'cleared again');
  const qt = mm.pgtable.lookup(q);
  t.ok(qt !== undefined && [...Array(NR).keys()].every((i) => ptePresent(qt.val[i]) && folioOrder(k, qt.pfn[i]) === 0),
    '512 small system pages');
  t.same(bad(mm, q, NR, false, 1000), [], 'data');
  teardown(t, k, mod, task);
  t.end();
});

t.test('migrate_anon_huge_zero_err: the huge zero page with FAIL_ALLOC: 4K device pages, zeroes', (t) => {
  const { k, mod, task } = boot();
  const mm = task.mm, fd = task.open('/dev/hmm_dmirror0');
  const p = thpBuffer(task), out = plain(task, NR);
  userLoad(mm, p, new Uint8Array(4));
  t.equal(flags(task, fd, U.HMM_DMIRROR_FLAG_FAIL_ALLOC).ret, 0);
  const m = cmd(task, fd, U.HMM_DMIRROR_MIGRATE_TO_DEV, { addr: p, ptr: out, npages: NR });
  t.same([m.ret, m.c.cpages], [0, NR]);
  t.same(badMirror(mm, out, NR, true), [], 'zeroes');
  t.equal(huge(mm, p), undefined, 'the huge zero PMD was split for the small pages (migrate_vma_insert_page())');
  t.same(bad(mm, p + 3 * P, 1, true), [], 'a single page faults back as zeroes');
  t.same(bad(mm, p, NR, true), [], 'then all');
  teardown(t, k, mod, task);
  t.end();
});

t.test('6.12: no HMM_DMIRROR_FLAGS (-EINVAL), and a THP is split before it migrates, page by page', (t) => {
  const { k, mod, task } = boot('6.12');
  const mm = task.mm, fd = task.open('/dev/hmm_dmirror0');
  t.equal(flags(task, fd, 1).ret, -EINVAL, 'an unknown ioctl');
  const p = thpBuffer(task), out = plain(task, NR);
  fill(mm, p);
  const m = cmd(task, fd, U.HMM_DMIRROR_MIGRATE_TO_DEV, { addr: p, ptr: out, npages: NR });
  t.same([m.ret, m.c.cpages], [0, NR]);
  t.equal(huge(mm, p), undefined, 'no PMD device-private entry in 6.12');
  t.same(snapshot(task, fd, p, out), new Array(NR).fill(U.HMM_DMIRROR_PROT_DEV_PRIVATE_LOCAL | U.HMM_DMIRROR_PROT_WRITE));
  t.same(bad(mm, p), [], 'data');
  teardown(t, k, mod, task);
  t.end();
});

t.test('fork with a PMD device-private entry: both readable; a child write brings the folio back for both', (t) => {
  const { k, mod, task } = boot();
  const mm = task.mm, fd = task.open('/dev/hmm_dmirror0');
  const p = thpBuffer(task), out = plain(task, NR);
  fill(mm, p);
  t.equal(cmd(task, fd, U.HMM_DMIRROR_MIGRATE_TO_DEV, { addr: p, ptr: out, npages: NR }).ret, 0);
  const head = huge(mm, p)!.pfn;
  const child = task.fork() as Task;
  t.ok(!isWritableDevicePrivateEntry(huge(mm, p)!.val) && !isWritableDevicePrivateEntry(huge(child.mm, p)!.val), 'both entries readable');
  t.equal(huge(child.mm, p)!.pfn, head, 'the same device folio');
  t.same([folioMapcount(k, head), pageRefCount(k, head)], [2, 2], 'two PMD mappings, two references');
  t.equal(child.mm.rssAnon, 2 * NR, 'the child\'s rss counts the PMD entry (and the copied read-back buffer)');
  t.same(bad(child.mm, p, 1), [], 'the child reads the device data');
  t.ok(ptePresent(huge(mm, p)!.val) && ptePresent(huge(child.mm, p)!.val), 'the fault migrated the folio back for both mms');
  t.equal(huge(mm, p)!.pfn, huge(child.mm, p)!.pfn, 'one shared system THP');
  userStore(child.mm, p, new Uint8Array([0xff]));
  t.same(bad(mm, p), [], 'the parent keeps its data after the child\'s write (COW)');
  child.exit();
  teardown(t, k, mod, task);
  t.end();
});

t.test('mprotect of half a device PMD splits it; read-only PTE entries on that half; a device on the other side faults it back', (t) => {
  const { k, mod, task } = boot();
  const mm = task.mm, fd = task.open('/dev/hmm_dmirror0'), fd1 = task.open('/dev/hmm_dmirror1');
  const p = thpBuffer(task), out = plain(task, NR);
  fill(mm, p);
  t.equal(cmd(task, fd, U.HMM_DMIRROR_MIGRATE_TO_DEV, { addr: p, ptr: out, npages: NR }).ret, 0);
  t.equal(task.mprotect(p, PMD_SIZE / 2, PROT_READ), 0);
  const tb = mm.pgtable.lookup(p)!;
  t.ok(tb !== undefined && !isWritableDevicePrivateEntry(tb.val[0]) && isWritableDevicePrivateEntry(tb.val[NR - 1]),
    'read-only device-private ptes on the first half, writable on the second');
  // Device 1 reads the range: hmm_range_fault() faults device 0's pages back (not its owner's).
  const r = cmd(task, fd1, U.HMM_DMIRROR_READ, { addr: p, ptr: out, npages: NR });
  t.same([r.ret, r.c.cpages], [0, NR]);
  t.same(badMirror(mm, out), [], 'device 1 read the data');
  t.equal(mm.pgtable.lookup(p)!.val.filter((v) => !ptePresent(v)).length, 0, 'every page back in system memory');
  teardown(t, k, mod, task);
  t.end();
});

t.test('a second device reading a device PMD (hmm_range_fault() through the PMD) faults the whole folio back', (t) => {
  const { k, mod, task } = boot();
  const mm = task.mm, fd = task.open('/dev/hmm_dmirror0'), fd1 = task.open('/dev/hmm_dmirror1');
  const p = thpBuffer(task), out = plain(task, NR);
  fill(mm, p);
  t.equal(cmd(task, fd, U.HMM_DMIRROR_MIGRATE_TO_DEV, { addr: p, ptr: out, npages: NR }).ret, 0);
  t.same(snapshot(task, fd1, p, out).slice(0, 2), [U.HMM_DMIRROR_PROT_ERROR, U.HMM_DMIRROR_PROT_ERROR],
    'SNAPSHOT on the other device: another owner\'s PMD entry is HMM_PFN_ERROR');
  const r = cmd(task, fd1, U.HMM_DMIRROR_READ, { addr: p, ptr: out, npages: NR });
  t.same([r.ret, r.c.cpages, r.c.faults], [0, NR, 1], 'one fault');
  t.ok(ptePresent(huge(mm, p)!.val), 'a present THP again, by one migration');
  teardown(t, k, mod, task);
  t.end();
});

t.test('coherent: the mainline driver cannot add a large chunk at a COHERENT device\'s one address: 4K pages, as the C does', (t) => {
  const { k, mod, task } = boot(MAINLINE, COHERENT);
  const mm = task.mm, fd = task.open('/dev/hmm_dmirror2');
  const p = thpBuffer(task), out = plain(task, NR);
  fill(mm, p);
  const m = cmd(task, fd, U.HMM_DMIRROR_MIGRATE_TO_DEV, { addr: p, ptr: out, npages: NR });
  t.same([m.ret, m.c.cpages], [0, NR], 'every page on the device');
  // dmirror_allocate_chunk(is_large) for COHERENT maps spm_addr again: memremap_pages() refuses with a WARN.
  t.match(k.warnings, [/pagemap_range: Conflicting mapping/], 'the refused large chunk');
  t.equal(huge(mm, p), undefined, 'the THP was split (migrate_vma_split_unmapped_folio())');
  const tb = mm.pgtable.lookup(p)!;
  t.ok([...Array(NR).keys()].every((i) => ptePresent(tb.val[i]) && pagePgmapType(k, tb.pfn[i]) === 'coherent'), '512 present coherent ptes');
  t.same(snapshot(task, fd, p, out), new Array(NR).fill(U.HMM_DMIRROR_PROT_DEV_COHERENT_LOCAL | U.HMM_DMIRROR_PROT_WRITE));
  t.same(bad(mm, p), [], 'the CPU reads them in place');
  const b = cmd(task, fd, U.HMM_DMIRROR_MIGRATE_TO_SYS, { addr: p, ptr: out, npages: NR });
  t.same([b.ret, b.c.cpages], [0, NR], 'and MIGRATE_TO_SYS brings them back');
  t.same(bad(mm, p), [], 'data');
  k.warnings.length = 0;
  teardown(t, k, mod, task);
  t.end();
});

/* ---- Broken on purpose: each mechanism above, broken, is caught ---- */

t.test('broken folio_split that forgets zone_device_data: the split device folio\'s pages lose their backing pages', (t) => {
  const { k, mod, task } = boot();
  const mm = task.mm, fd = task.open('/dev/hmm_dmirror0');
  const p = thpBuffer(task), out = plain(task, NR);
  fill(mm, p);
  t.equal(cmd(task, fd, U.HMM_DMIRROR_MIGRATE_TO_DEV, { addr: p, ptr: out, npages: NR }).ret, 0);
  const split = mod.devmemOps.folioSplit!;
  mod.devmemOps.folioSplit = (head, tail) => {
    split(head, tail);
    if (tail !== 0) setZoneDeviceData(k, tail, 0); // tail->page.zone_device_data = rpage_tail forgotten
  };
  t.equal(task.munmap(p + PMD_SIZE / 2, PMD_SIZE / 2), 0);
  // The fault through a pte splits the folio during collection; the faulting page then has no backing page:
  // the copy reads from pfn 0 (NULL) instead of the device data.
  t.same(bad(mm, p + 3 * P, 1, false, 3 * (P / 4)), [0], 'migrate_partial_unmap_fault\'s data check fails');
  task.exit();
  t.ok(k.pageAlloc.nrAllocated > 0, 'and the backing pages of the freed tails are never given back: a leak at unload');
  hmmDmirrorExit(mod);
  t.end();
});

t.test('broken PMD fault that migrates one page (vmf->pte taken as set): the page never comes back', (t) => {
  const { k, mod, task } = boot();
  const mm = task.mm, fd = task.open('/dev/hmm_dmirror0');
  const p = thpBuffer(task), out = plain(task, NR);
  fill(mm, p);
  t.equal(cmd(task, fd, U.HMM_DMIRROR_MIGRATE_TO_DEV, { addr: p, ptr: out, npages: NR }).ret, 0);
  const toRam = mod.devmemOps.migrateToRam!;
  mod.devmemOps.migrateToRam = (vmf) => toRam({ ...vmf, pte: true });
  // A one-page window on a PMD entry cannot be collected whole; the fallback split_folio() fails under the fault's
  // own reference (can_split_folio(), as in C), the page is skipped, and the CPU faults again, for ever.
  t.throws(() => bad(mm, p, 1), /does not resolve \(livelock\)/, 'migrate_anon_huge_fault\'s first CPU read never completes');
  t.ok(isDevicePrivateEntry(huge(mm, p)!.val), 'the folio is still on the device');
  mod.devmemOps.migrateToRam = toRam;
  t.same(bad(mm, p), [], 'with the real fault it comes back whole');
  t.ok(ptePresent(huge(mm, p)!.val));
  teardown(t, k, mod, task);
  t.end();
});

t.test('broken one-shot HMM_DMIRROR_FLAG_FAIL_ALLOC (never cleared): every later THP migration falls back', (t) => {
  const { k, mod, task } = boot();
  const mm = task.mm, fd = task.open('/dev/hmm_dmirror0');
  const out = plain(task, NR);
  t.equal(flags(task, fd, U.HMM_DMIRROR_FLAG_FAIL_ALLOC).ret, 0);
  Object.defineProperty(mirrorOf(task, fd), 'flags', { get: () => U.HMM_DMIRROR_FLAG_FAIL_ALLOC, set: () => {} });
  const p = thpBuffer(task);
  fill(mm, p);
  t.equal(cmd(task, fd, U.HMM_DMIRROR_MIGRATE_TO_DEV, { addr: p, ptr: out, npages: NR }).ret, 0);
  const q = thpBuffer(task);
  fill(mm, q);
  t.equal(cmd(task, fd, U.HMM_DMIRROR_MIGRATE_TO_DEV, { addr: q, ptr: out, npages: NR }).ret, 0);
  const h = huge(mm, q);
  t.notOk(h !== undefined && isDevicePrivateEntry(h.val), 'migrate_anon_huge_err\'s check (the next migration is a THP again) fails');
  teardown(t, k, mod, task);
  t.end();
});
