// SPDX-License-Identifier: GPL-2.0-only
/*
 * Device-exclusive entries (rmap.ts make_device_exclusive_range(), memory.ts
 * restore on CPU fault, zap, mm.ts mprotect): what hmm-tests' exclusive,
 * exclusive_mprotect and exclusive_cow need from the kernel.
 */
import t from 'tap';
import { Kernel } from '../../src/kernel-model/kernel.js';
import { EBUSY, EFAULT } from '../../src/kernel-model/errno.js';
import { PAGE_SIZE, PG_locked } from '../../src/kernel-model/page.js';
import { type MmStruct, MmStruct as Mm, PROT_READ, PROT_WRITE, doMprotect, doMunmap } from '../../src/kernel-model/mm.js';
import { restoreExclusivePte, tryRestoreExclusivePte, userLoad, userStore } from '../../src/kernel-model/memory.js';
import { pteIndex, pteWrite, pteDirty, ptePresent, swpType, SWP_DEVICE_EXCLUSIVE_READ,
  SWP_DEVICE_EXCLUSIVE_WRITE } from '../../src/kernel-model/pgtable.js';
import { lockPage, pageMapcount, pageRefCount, putPage, testPageFlag, unlockPage } from '../../src/kernel-model/page_alloc.js';
import { makeDeviceExclusiveRange } from '../../src/kernel-model/rmap.js';
import { type HmmRange, HMM_PFN_REQ_FAULT, HMM_PFN_REQ_WRITE, HMM_PFN_WRITE, hmmPfnFlags, hmmPfnToPage,
  hmmRangeFault } from '../../src/kernel-model/hmm.js';
import { mmuIntervalReadBegin } from '../../src/kernel-model/mmu_notifier.js';
import { Task } from '../../src/kernel-model/task.js';
import { mmapAnon, pattern, recordingNotifier } from './fixtures/fake_device.js';

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
const OWNER = { name: 'the device' };

/** What dmirror_exclusive() does: make [addr, +n) exclusive, then drop the page locks and references. */
function makeExclusive(mm: MmStruct, addr: number, n: number): { ret: number; pages: Float64Array } {
  const pages = new Float64Array(n);
  const ret = makeDeviceExclusiveRange(mm, addr, addr + n * P, pages, OWNER);
  for (let i = 0; i < Math.max(ret, 0); i++) {
    if (pages[i] === 0) continue;
    unlockPage(mm.k, pages[i]);
    putPage(mm.k, pages[i]);
  }
  return { ret, pages };
}

t.test('make_device_exclusive_range converts ptes to exclusive entries, telling notifiers with the owner', async (t) => {
  const k = new Kernel();
  const mm = new Mm(k);
  const { addr } = mmapAnon(mm, 4);
  fill(mm, addr, 4);
  const before = [0, 1, 2, 3].map((i) => pteAt(mm, addr + i * P).pfn);
  const { seen } = recordingNotifier(mm, addr, 4 * P);
  const pages = new Float64Array(4);
  t.equal(makeDeviceExclusiveRange(mm, addr, addr + 4 * P, pages, OWNER), 4);
  for (let i = 0; i < 4; i++) {
    const { val, pfn } = pteAt(mm, addr + i * P);
    t.equal(pages[i], before[i], `page ${i}: the mapped page`);
    t.equal(swpType(val), SWP_DEVICE_EXCLUSIVE_WRITE, 'a writable device-exclusive entry');
    t.equal(pfn, before[i], 'naming the page');
    t.equal(pageMapcount(k, pfn), 0, 'no longer mapped');
    t.equal(pageRefCount(k, pfn), 2, "the entry's reference and the caller's");
    t.ok(testPageFlag(k, pfn, PG_locked), 'locked for the caller');
  }
  t.ok(seen.length >= 4 && seen.every((s) => s.event === 'EXCLUSIVE' && s.owner === OWNER), 'MMU_NOTIFY_EXCLUSIVE with the owner');
  for (let i = 0; i < 4; i++) { unlockPage(k, pages[i]); putPage(k, pages[i]); }
  t.equal(mm.rssAnon, 4, 'rss still counts the pages');
  doMunmap(mm, addr, 4 * P);
  t.equal(mm.rssAnon, 0);
  t.equal(k.pageAlloc.nrAllocated, 0, 'munmap frees pages behind exclusive entries');
});

/** CPU access to an exclusive range; what is wrong with the restored ptes ([] if nothing). */
function restoreProblems(k: Kernel, write: boolean): string[] {
  const problems: string[] = [];
  const mm = new Mm(k);
  const { addr } = mmapAnon(mm, 4);
  fill(mm, addr, 4);
  const { ret, pages } = makeExclusive(mm, addr, 4);
  if (ret !== 4) problems.push(`make_device_exclusive_range returned ${ret}`);
  const { seen } = recordingNotifier(mm, addr, 4 * P);
  if (write) for (let i = 0; i < 4; i++) userStore(mm, addr + i * P, pattern(i).subarray(0, 1));
  if (!same(mm, addr, 4)) problems.push('data lost');
  for (let i = 0; i < 4; i++) {
    const { val, pfn } = pteAt(mm, addr + i * P);
    if (!ptePresent(val) || pfn !== pages[i]) problems.push(`page ${i}: not restored`);
    if (!pteWrite(val) || !pteDirty(val)) problems.push(`page ${i}: a writable entry should come back writable and dirty`);
    if (pageMapcount(k, pfn) !== 1) problems.push(`page ${i}: mapcount ${pageMapcount(k, pfn)}`);
    if (pageRefCount(k, pfn) !== 1) problems.push(`page ${i}: refcount ${pageRefCount(k, pfn)}`);
  }
  const revokes = seen.filter((s) => s.event === 'EXCLUSIVE' && s.owner === null).length;
  if (revokes !== 4) problems.push(`${revokes} MMU_NOTIFY_EXCLUSIVE revocations`);
  doMunmap(mm, addr, 4 * P);
  if (k.pageAlloc.nrAllocated !== 0) problems.push(`${k.pageAlloc.nrAllocated} pages leaked`);
  return problems;
}

t.test('a CPU read or write restores the ptes and notifies the owner (MMU_NOTIFY_EXCLUSIVE, no owner)', async (t) => {
  t.same(restoreProblems(new Kernel(), false), [], 'read');
  t.same(restoreProblems(new Kernel(), true), [], 'write');
});

t.test('BROKEN: a restore that loses the page reference is caught', async (t) => {
  const k = new Kernel();
  k.inject.restoreExclusivePte = (vma, page, addr, tb, i) => {
    restoreExclusivePte(vma, page, addr, tb, i);
    putPage(k, page); // drops the reference the entry handed over
  };
  let problems: string[];
  try {
    problems = restoreProblems(k, false);
  } catch (e) {
    problems = [String(e)];
  }
  t.ok(problems.length > 0 && problems.some((p) => /refcount 0|refcount underflow|Bad page|not restored/.test(p)),
    `reported: ${problems.join('; ')}`);
});

t.test('mprotect(PROT_READ) downgrades exclusive entries; a read then restores them read-only', async (t) => {
  const k = new Kernel();
  const mm = new Mm(k);
  const { addr } = mmapAnon(mm, 2);
  fill(mm, addr, 2);
  t.equal(makeExclusive(mm, addr, 2).ret, 2);
  const { seen } = recordingNotifier(mm, addr, 2 * P);
  t.equal(doMprotect(mm, addr, 2 * P, PROT_READ), 0);
  t.equal(swpType(pteAt(mm, addr).val), SWP_DEVICE_EXCLUSIVE_READ, 'readable exclusive entry');
  t.ok(seen.some((s) => s.event === 'PROTECTION_VMA'), 'notifiers heard the protection change');
  t.ok(same(mm, addr, 2), 'a read restores');
  const { val } = pteAt(mm, addr);
  t.ok(ptePresent(val) && !pteWrite(val), 'present, read-only');
  t.equal(doMprotect(mm, addr, 2 * P, PROT_READ | PROT_WRITE), 0);
  t.ok(pteWrite(pteAt(mm, addr).val), 'an exclusive anon page gets write back');
  doMunmap(mm, addr, 2 * P);
  t.equal(k.pageAlloc.nrAllocated, 0);
});

t.test('hmm_range_fault faults exclusive entries back (the device lost its atomic access)', async (t) => {
  const k = new Kernel();
  const mm = new Mm(k);
  const { addr } = mmapAnon(mm, 2);
  fill(mm, addr, 2);
  const { pages } = makeExclusive(mm, addr, 2);
  const { mni } = recordingNotifier(mm, addr, 2 * P);
  const range: HmmRange = { notifier: mni, notifierSeq: 0, start: addr, end: addr + 2 * P, hmmPfns: new Float64Array(2),
    defaultFlags: HMM_PFN_REQ_FAULT | HMM_PFN_REQ_WRITE, pfnFlagsMask: 0, devPrivateOwner: null };
  let ret: number;
  do {
    range.notifierSeq = mmuIntervalReadBegin(mni);
    ret = hmmRangeFault(range);
  } while (ret === -EBUSY);
  t.equal(ret, 0);
  for (let i = 0; i < 2; i++) {
    t.equal(hmmPfnToPage(range.hmmPfns[i]), pages[i], `page ${i} reported`);
    t.ok(hmmPfnFlags(range.hmmPfns[i]) & HMM_PFN_WRITE, 'writable');
    t.ok(ptePresent(pteAt(mm, addr + i * P).val), 'pte restored');
  }
  doMunmap(mm, addr, 2 * P);
  t.equal(k.pageAlloc.nrAllocated, 0);
});

t.test('try_restore_exclusive_pte (for fork): -EBUSY while the page is locked, else a present pte', async (t) => {
  const k = new Kernel();
  const mm = new Mm(k);
  const { addr, vma } = mmapAnon(mm, 1);
  fill(mm, addr, 1);
  const { pages } = makeExclusive(mm, addr, 1);
  const tb = mm.pgtable.lookup(addr)!, i = pteIndex(addr);
  lockPage(k, pages[0]);
  t.equal(tryRestoreExclusivePte(tb, i, vma, addr), -EBUSY);
  t.equal(swpType(tb.val[i]), SWP_DEVICE_EXCLUSIVE_WRITE, 'untouched');
  unlockPage(k, pages[0]);
  t.equal(tryRestoreExclusivePte(tb, i, vma, addr), 0);
  t.ok(ptePresent(tb.val[i]) && pteWrite(tb.val[i]), 'present and writable');
  t.equal(pageMapcount(k, pages[0]), 1);
  t.equal(pageRefCount(k, pages[0]), 1);
  doMunmap(mm, addr, P);
  t.equal(k.pageAlloc.nrAllocated, 0);
});

t.test('what make_device_exclusive_range refuses, and exit with exclusive entries left', async (t) => {
  const k = new Kernel();
  const task = new Task(k);
  const mm = task.mm;
  const { addr: ro } = mmapAnon(mm, 1, PROT_READ);
  t.equal(makeExclusive(mm, ro, 1).ret, -EFAULT, 'a read-only mapping: gup FOLL_WRITE fails');
  const { addr } = mmapAnon(mm, 3);
  fill(mm, addr, 3);
  lockPage(k, pteAt(mm, addr + P).pfn);
  const { ret, pages } = makeExclusive(mm, addr, 3);
  t.equal(ret, 3, 'gup found three pages');
  t.equal(pages[1], 0, 'the locked one could not be made exclusive');
  t.ok(ptePresent(pteAt(mm, addr + P).val), 'and stays mapped');
  unlockPage(k, pteAt(mm, addr + P).pfn);
  t.equal(swpType(pteAt(mm, addr).val), SWP_DEVICE_EXCLUSIVE_WRITE);
  const again = makeExclusive(mm, addr, 3);
  t.equal(again.ret, 3, 'a second call restores (gup faults) and converts again');
  t.ok(again.pages.every((p) => p !== 0));
  task.exit();
  t.equal(k.pageAlloc.nrAllocated, 0, 'exit_mmap frees pages behind exclusive entries');
});
