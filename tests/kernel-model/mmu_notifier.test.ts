// SPDX-License-Identifier: GPL-2.0-only
/*
 * Tests of src/kernel-model/mmu_notifier.ts (mm/mmu_notifier.c): interval
 * notifiers, the read_begin/read_retry sequence protocol, which ranges a
 * notifier hears about, and the MMU_NOTIFY_MIGRATE owner (seed 001).
 *
 *   notifier over pages 2..5 of a 8-page mapping:
 *     01234567
 *       NNNN
 *   munmap 0-1 (touches, not overlaps) / 6-7 / 5 / 1-2 (overlap)
 */
import t from 'tap';
import { Kernel } from '../../src/kernel-model/kernel.js';
import { PAGE_SIZE } from '../../src/kernel-model/page.js';
import { MmStruct } from '../../src/kernel-model/mm.js';
import { userLoad, userStore } from '../../src/kernel-model/memory.js';
import { MMU_NOTIFY_CLEAR, MMU_NOTIFY_MIGRATE, MmuIntervalNotifier, mmuIntervalNotifierInsert,
  mmuIntervalNotifierRemove, mmuIntervalReadBegin, mmuIntervalReadRetry, mmuNotifierInvalidateRangeEnd,
  mmuNotifierInvalidateRangeStart, mmuNotifierRangeInit } from '../../src/kernel-model/mmu_notifier.js';
import { MIGRATE_VMA_SELECT_SYSTEM, migrateVmaFinalize, migrateVmaSetup } from '../../src/kernel-model/migrate_device.js';
import { doMunmap } from '../../src/kernel-model/mm.js';
import { mmapAnon, newMigrateVma, recordingNotifier } from './fixtures/fake_device.js';

t.test('read_begin/read_retry see an invalidation in between', async (t) => {
  const k = new Kernel();
  const mm = new MmStruct(k);
  const { addr } = mmapAnon(mm, 4);
  const { mni, seen } = recordingNotifier(mm, addr, 4 * PAGE_SIZE);
  t.equal(mm.mmCount, 2, 'the notifier pins the mm (mmgrab)');
  const seq = mmuIntervalReadBegin(mni);
  t.equal(seq % 2, 1, 'a notifier outside an invalidation has an odd sequence');
  t.equal(mmuIntervalReadRetry(mni, seq), false, 'nothing happened: no retry');
  const r = mmuNotifierRangeInit(MMU_NOTIFY_CLEAR, 0, mm, addr, addr + PAGE_SIZE);
  mmuNotifierInvalidateRangeStart(r);
  t.equal(mm.invalidateSeq % 2, 1, 'odd while the invalidation runs');
  t.equal(mmuIntervalReadRetry(mni, seq), true, 'the callback set a new sequence: retry');
  mmuNotifierInvalidateRangeEnd(r);
  t.equal(mm.invalidateSeq % 2, 0, 'even again afterwards');
  t.equal(mmuIntervalReadRetry(mni, seq), true, 'the old sequence stays stale');
  const seq2 = mmuIntervalReadBegin(mni);
  t.not(seq2, seq, 'a new read_begin gets the new sequence');
  t.equal(mmuIntervalReadRetry(mni, seq2), false, 'which is valid until the next invalidation');
  t.equal(seen.length, 1);
  mmuIntervalNotifierRemove(mni);
  t.equal(mm.mmCount, 1, 'remove drops the mm pin');
  t.equal(mm.intervalNotifiers.length, 0);
});

t.test('a real fault (COW of the zero page) invalidates the reader', async (t) => {
  const k = new Kernel();
  const mm = new MmStruct(k);
  const { addr } = mmapAnon(mm, 1);
  const { mni } = recordingNotifier(mm, addr, PAGE_SIZE);
  userLoad(mm, addr, new Uint8Array(1));
  const seq = mmuIntervalReadBegin(mni);
  userStore(mm, addr, Uint8Array.of(1));
  t.equal(mmuIntervalReadRetry(mni, seq), true, 'the zero page was replaced under the reader');
});

t.test('a notifier that forgets mmu_interval_set_seq() lets a stale reader through', async (t) => {
  // The broken driver: it is called, but does not bump its sequence.
  const k = new Kernel();
  const mm = new MmStruct(k);
  const { addr } = mmapAnon(mm, 1);
  const mni = new MmuIntervalNotifier();
  let calls = 0;
  mmuIntervalNotifierInsert(mni, mm, addr, PAGE_SIZE, { invalidate: () => { calls++; return true; } });
  const seq = mmuIntervalReadBegin(mni);
  doMunmap(mm, addr, PAGE_SIZE);
  t.equal(calls, 1, 'it was told');
  t.equal(mmuIntervalReadRetry(mni, seq), false, 'but read_retry cannot see the invalidation: the bug a driver must not have');
});

t.test('a notifier that fails a blockable invalidation is warned about', async (t) => {
  const k = new Kernel();
  const mm = new MmStruct(k);
  const { addr } = mmapAnon(mm, 1);
  mmuIntervalNotifierInsert(new MmuIntervalNotifier(), mm, addr, PAGE_SIZE, { invalidate: () => false });
  doMunmap(mm, addr, PAGE_SIZE);
  t.same(k.warnings, ['WARNING: mn_itree_invalidate: an interval notifier failed a blockable invalidation']);
});

t.test('a notifier only hears about ranges that overlap it', async (t) => {
  const k = new Kernel();
  const mm = new MmStruct(k);
  const { addr } = mmapAnon(mm, 8);
  const P = PAGE_SIZE;
  const { seen } = recordingNotifier(mm, addr + 2 * P, 4 * P);
  const all: string[] = [];
  mm.notifierLog = (r) => all.push(`${(r.start - addr) / P}-${(r.end - addr) / P}`);
  doMunmap(mm, addr, 2 * P);
  t.same(seen, [], 'pages 0-1 end where the notifier starts: not told');
  doMunmap(mm, addr + 6 * P, 2 * P);
  t.same(seen, [], 'pages 6-7 start right after its last byte: not told');
  doMunmap(mm, addr + 5 * P, P);
  t.same(seen, [{ event: 'UNMAP', start: addr + 5 * P, end: addr + 6 * P, owner: null }], 'its last page: told');
  doMunmap(mm, addr + 2 * P, P);
  t.equal(seen.length, 2, 'its first page: told');
  t.same(all, ['0-2', '6-8', '5-6', '2-3'], 'the mm saw all four');
});

t.test('notifiers on two mms do not hear each other', async (t) => {
  const k = new Kernel();
  const mm1 = new MmStruct(k), mm2 = new MmStruct(k);
  const a1 = mmapAnon(mm1, 1).addr, a2 = mmapAnon(mm2, 1).addr;
  t.equal(a1, a2, 'same address in both');
  const n1 = recordingNotifier(mm1, a1, PAGE_SIZE), n2 = recordingNotifier(mm2, a2, PAGE_SIZE);
  doMunmap(mm2, a2, PAGE_SIZE);
  t.equal(n1.seen.length, 0, 'mm1\'s notifier is not told');
  t.equal(n2.seen.length, 1, 'mm2\'s is');
});

t.test('MMU_NOTIFY_MIGRATE carries the migration\'s pgmap owner (seed 001)', async (t) => {
  const k = new Kernel();
  const mm = new MmStruct(k);
  const { addr, vma } = mmapAnon(mm, 2);
  userStore(mm, addr, Uint8Array.of(1));
  const { seen } = recordingNotifier(mm, addr, 2 * PAGE_SIZE);
  const owner = { name: 'my device' };
  const args = newMigrateVma(vma, addr, 2, owner, MIGRATE_VMA_SELECT_SYSTEM);
  t.equal(migrateVmaSetup(k, args), 0);
  t.equal(seen.length, 1, 'one invalidation for the collection');
  t.equal(seen[0].event, 'MIGRATE', 'MMU_NOTIFY_MIGRATE');
  t.equal(seen[0].owner, owner, 'with the owner the driver passed, so it can skip its own migration');
  t.same([seen[0].start, seen[0].end], [addr, addr + 2 * PAGE_SIZE], 'over the range');
  migrateVmaFinalize(k, args);
  const r = mmuNotifierRangeInit(MMU_NOTIFY_MIGRATE, 0, mm, addr, addr + PAGE_SIZE);
  t.equal(r.owner, null, 'a range without an owner has none');
});
