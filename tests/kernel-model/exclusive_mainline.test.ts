// SPDX-License-Identifier: GPL-2.0-only
/*
 * David Hildenbrand's 6.15 device-exclusive rework, as the 7.2 profile has
 * it (changes.ts): make_device_exclusive() one page at a time (a THP split
 * to PTEs, only the one PTE converted), the folio lock waited for, one entry
 * type, the mapcount kept, restore writability from the VMA, and
 * MMU_NOTIFY_CLEAR on the CPU's restore. Each test runs the same steps on
 * 6.12 too and shows where the two differ, so switching a change off (or
 * breaking it) fails here.
 */
import t from 'tap';
import { Kernel } from '../../src/kernel-model/kernel.js';
import { EBUSY, EOPNOTSUPP } from '../../src/kernel-model/errno.js';
import { PAGE_SIZE, PMD_SIZE, HPAGE_PMD_NR, PG_locked, PG_dirty } from '../../src/kernel-model/page.js';
import { MmStruct, PROT_READ, PROT_WRITE, MAP_PRIVATE, MAP_ANONYMOUS, MAP_SHARED, doMmap, doMprotect } from '../../src/kernel-model/mm.js';
import { userLoad, userStore } from '../../src/kernel-model/memory.js';
import { pteIndex, pteWrite, pteDirty, ptePresent, swpType, SWP_DEVICE_EXCLUSIVE, SWP_DEVICE_EXCLUSIVE_READ } from '../../src/kernel-model/pgtable.js';
import { compoundHead, folioMapcount, lockPage, pageMapcount, pageRefCount, putPage, testPageFlag,
  unlockPage } from '../../src/kernel-model/page_alloc.js';
import { makeDeviceExclusive, makeDeviceExclusiveRange } from '../../src/kernel-model/rmap.js';
import { type KernelVersion, composeKernel, MAINLINE } from '../../src/kernel-model/changes.js';
import { KernelBug } from '../../src/kernel-model/bug.js';
import { mmapAnon, pattern, recordingNotifier } from './fixtures/fake_device.js';

const P = PAGE_SIZE;
const OWNER = { name: 'the device' };
const version = (profile: string, patches: string[] = []): KernelVersion => composeKernel(profile, patches) as KernelVersion;
const boot = (profile = MAINLINE, patches: string[] = []): { k: Kernel; mm: MmStruct } => {
  const k = new Kernel({ version: version(profile, patches) });
  return { k, mm: new MmStruct(k) };
};
const pteAt = (mm: MmStruct, a: number): { val: number; pfn: number } => {
  const tb = mm.pgtable.lookup(a);
  return tb === undefined ? { val: 0, pfn: 0 } : { val: tb.val[pteIndex(a)], pfn: tb.pfn[pteIndex(a)] };
};
/** dmirror_exclusive()'s part after the call: unlock and put the folio. */
const release = (k: Kernel, page: number): void => {
  const folio = compoundHead(k, page);
  unlockPage(k, folio);
  putPage(k, folio);
};

t.test('one page: its pte becomes the one device-exclusive entry type, mapcount kept, one-page notifier with the owner', async (t) => {
  const { k, mm } = boot();
  const { addr } = mmapAnon(mm, 3);
  for (let i = 0; i < 3; i++) userStore(mm, addr + i * P, pattern(i));
  const { seen } = recordingNotifier(mm, addr, 3 * P);
  const before = pteAt(mm, addr + P).pfn;
  const page = makeDeviceExclusive(mm, addr + P + 123, OWNER);
  t.equal(page, before, 'the page at the (page-aligned) address');
  t.ok(testPageFlag(k, page, PG_locked), 'returned locked');
  t.equal(pageRefCount(k, page), 2, "the entry's reference and the caller's");
  t.equal(swpType(pteAt(mm, addr + P).val), SWP_DEVICE_EXCLUSIVE, 'SWP_DEVICE_EXCLUSIVE');
  t.equal(pageMapcount(k, page), 1, 'device-exclusive-keep-mapcount: still counted as mapped');
  t.ok(testPageFlag(k, page, PG_dirty), 'the dirty pte marked the folio dirty');
  t.ok(ptePresent(pteAt(mm, addr).val) && ptePresent(pteAt(mm, addr + 2 * P).val), 'the neighbours are untouched');
  t.same(seen.map((s) => [s.event, s.start, s.end, s.owner]), [['EXCLUSIVE', addr + P, addr + 2 * P, OWNER]]);
  release(k, page);
  // The CPU touches it: restored writable (VM_WRITE, an exclusive anon page); notifiers hear CLEAR.
  seen.length = 0;
  const b = new Uint8Array(P);
  userLoad(mm, addr + P, b);
  t.ok(b.every((x, j) => x === pattern(1)[j]), 'data intact');
  const v = pteAt(mm, addr + P).val;
  t.ok(ptePresent(v) && pteWrite(v) && pteDirty(v), 'restored writable and dirty (can_change_pte_writable(), folio dirty)');
  t.equal(pageMapcount(k, page), 1, 'mapcount unchanged by the restore');
  t.same(seen.map((s) => s.event), ['CLEAR'], 'remove_device_exclusive_entry-clear: MMU_NOTIFY_CLEAR');
  mm.mmput();
  t.equal(k.pageAlloc.nrAllocated, 0);
});

t.test('6.12 for comparison: the rmap-walk version drops the mapcount and restores with MMU_NOTIFY_EXCLUSIVE', async (t) => {
  const { k, mm } = boot('6.12');
  const { addr } = mmapAnon(mm, 1);
  userStore(mm, addr, pattern(0));
  const { seen } = recordingNotifier(mm, addr, P);
  const pages = new Float64Array(1);
  t.equal(makeDeviceExclusiveRange(mm, addr, addr + P, pages, OWNER), 1);
  t.equal(pageMapcount(k, pages[0]), 0, 'no longer counted as mapped');
  release(k, pages[0]);
  seen.length = 0;
  userLoad(mm, addr, new Uint8Array(1));
  t.same(seen.map((s) => s.event), ['EXCLUSIVE']);
  t.equal(pageMapcount(k, pages[0]), 1, 'mapped again');
  mm.mmput();
  t.equal(k.pageAlloc.nrAllocated, 0);
});

t.test('a zapped entry gives its mapcount back: munmap and exit free every page (no "Bad page state")', async (t) => {
  for (const profile of ['6.12', MAINLINE]) {
    const { k, mm } = boot(profile);
    const { addr } = mmapAnon(mm, 4);
    for (let i = 0; i < 4; i++) userStore(mm, addr + i * P, pattern(i));
    for (let i = 0; i < 4; i++) {
      if (profile === '6.12') {
        const pages = new Float64Array(1);
        makeDeviceExclusiveRange(mm, addr + i * P, addr + (i + 1) * P, pages, null);
        release(k, pages[0]);
      } else {
        release(k, makeDeviceExclusive(mm, addr + i * P, null));
      }
    }
    t.equal(mm.rssAnon, 4, `${profile}: rss counts the entries`);
    mm.mmput();
    t.equal(k.pageAlloc.nrAllocated, 0, `${profile}: every page freed`);
    t.same(k.warnings, [], `${profile}: no warning`);
  }
});

t.test('a THP: FOLL_SPLIT_PMD splits it and each page becomes exclusive on its own, where 6.12 leaves holes', async (t) => {
  for (const profile of ['6.12', MAINLINE]) {
    const { k, mm } = boot(profile);
    k.transparentHugepage = 'always';
    const a = doMmap(mm, 0, PMD_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS);
    userStore(mm, a, new Uint8Array([1]));
    const head = mm.pgtable.lookupHuge(a)!.pfn;
    t.ok(head, `${profile}: PMD-mapped`);
    if (profile === '6.12') {
      const pages = new Float64Array(64);
      t.equal(makeDeviceExclusiveRange(mm, a, a + 64 * P, pages, null), 64);
      t.equal(pages.filter((p) => p !== 0).length, 1, '6.12: only the head page\'s slot names the folio (test_hmm: -EBUSY)');
      unlockPage(k, head);
      putPage(k, head);
    } else {
      for (let i = 0; i < 64; i++) {
        const page = makeDeviceExclusive(mm, a + i * P, null);
        t.equal(page, head + i, `page ${i} of the folio`) || t.bailout();
        release(k, page);
      }
      t.equal(mm.pgtable.lookupHuge(a), undefined, 'split to PTEs');
      t.equal(swpType(pteAt(mm, a + 63 * P).val), SWP_DEVICE_EXCLUSIVE);
      t.ok(ptePresent(pteAt(mm, a + 64 * P).val), 'the 65th page still mapped by its pte');
      t.equal(folioMapcount(k, head), HPAGE_PMD_NR, 'every page still counted as mapped');
    }
    mm.mmput();
    t.equal(k.pageAlloc.nrAllocated, 0, `${profile}: every page back`);
  }
});

t.test('a locked folio: -EBUSY before "avoid -EBUSY", waited for after (one thread: a deadlock, reported)', async (t) => {
  for (const [profile, patches] of [['6.12', ['make_device_exclusive']], [MAINLINE, []]] as const) {
    const { k, mm } = boot(profile, [...patches]);
    const { addr } = mmapAnon(mm, 1);
    userStore(mm, addr, pattern(0));
    const page = pteAt(mm, addr).pfn;
    lockPage(k, page);
    if (patches.length) {
      t.equal(makeDeviceExclusive(mm, addr, null), -EBUSY, 'folio_trylock() failed: -EBUSY');
      t.ok(ptePresent(pteAt(mm, addr).val), 'nothing changed');
      t.equal(pageRefCount(k, page), 1, 'the GUP reference dropped');
    } else {
      t.throws(() => makeDeviceExclusive(mm, addr, null), KernelBug, 'folio_lock_killable() would sleep on it');
    }
  }
});

t.test('not anon: -EOPNOTSUPP (6.12: the page slot stays NULL)', async (t) => {
  const { k, mm } = boot();
  const a = doMmap(mm, 0, P, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS);
  userStore(mm, a, new Uint8Array([1]));
  t.equal(makeDeviceExclusive(mm, a, null), -EOPNOTSUPP);
  t.ok(ptePresent(pteAt(mm, a).val));
  mm.mmput();
  t.equal(k.pageAlloc.nrAllocated, 0);
});

t.test('mprotect(PROT_READ) over an entry: 6.12 downgrades it, 7.2 leaves the one type; both restore read-only', async (t) => {
  for (const profile of ['6.12', MAINLINE]) {
    const { k, mm } = boot(profile);
    const { addr } = mmapAnon(mm, 1);
    userStore(mm, addr, pattern(0));
    if (profile === '6.12') {
      const pages = new Float64Array(1);
      makeDeviceExclusiveRange(mm, addr, addr + P, pages, null);
      release(k, pages[0]);
    } else {
      release(k, makeDeviceExclusive(mm, addr, null));
    }
    t.equal(doMprotect(mm, addr, P, PROT_READ), 0);
    t.equal(swpType(pteAt(mm, addr).val), profile === '6.12' ? SWP_DEVICE_EXCLUSIVE_READ : SWP_DEVICE_EXCLUSIVE, profile);
    userLoad(mm, addr, new Uint8Array(1));
    const v = pteAt(mm, addr).val;
    t.ok(ptePresent(v) && !pteWrite(v), `${profile}: restored read-only`);
    mm.mmput();
    t.equal(k.pageAlloc.nrAllocated, 0);
  }
});
