// SPDX-License-Identifier: GPL-2.0-only
/*
 * Model of mm/mmu_notifier.c, interval notifiers only: what a device driver
 * uses to keep its mirror of the CPU page table coherent.
 *
 * In Linux: struct mmu_interval_notifier in an interval tree of the
 * mm_struct's mmu_notifier_subscriptions, with invalidate_seq odd while an
 * invalidation is running. Here: a list per mm and the same sequence rules,
 * so mmu_interval_read_begin()/mmu_interval_read_retry() behave as in C.
 */
import type { MmStruct } from './mm.js';

/** enum mmu_notifier_event (include/linux/mmu_notifier.h). */
export const MMU_NOTIFY_UNMAP = 0;
export const MMU_NOTIFY_CLEAR = 1;
export const MMU_NOTIFY_PROTECTION_VMA = 2;
export const MMU_NOTIFY_PROTECTION_PAGE = 3;
export const MMU_NOTIFY_SOFT_DIRTY = 4;
export const MMU_NOTIFY_RELEASE = 5;
/** Seed 001: migrate_vma_collect() invalidates with this event and the migrate_pgmap_owner, so a driver can skip its own migrations. */
export const MMU_NOTIFY_MIGRATE = 6;
export const MMU_NOTIFY_EXCLUSIVE = 7;
export const MMU_NOTIFY_EVENT_NAMES = ['UNMAP', 'CLEAR', 'PROTECTION_VMA', 'PROTECTION_PAGE', 'SOFT_DIRTY', 'RELEASE', 'MIGRATE', 'EXCLUSIVE'];

export const MMU_NOTIFIER_RANGE_BLOCKABLE = 1 << 0;

export interface MmuNotifierRange {
  mm: MmStruct;
  start: number;
  end: number;
  flags: number;
  event: number;
  /** range->owner (the seed's migrate_pgmap_owner): set for MMU_NOTIFY_MIGRATE. */
  owner: object | null;
}

export interface MmuIntervalNotifierOps {
  invalidate(mni: MmuIntervalNotifier, range: MmuNotifierRange, curSeq: number): boolean;
}

export class MmuIntervalNotifier {
  mm: MmStruct | null = null;
  start = 0;
  /** Inclusive last address, as the interval tree stores it. */
  last = 0;
  ops: MmuIntervalNotifierOps | null = null;
  invalidateSeq = 0;
}

/** Model of mmu_notifier_range_init()/mmu_notifier_range_init_owner(). */
export function mmuNotifierRangeInit(event: number, flags: number, mm: MmStruct, start: number, end: number,
  owner: object | null = null): MmuNotifierRange {
  return { mm, start, end, flags: flags | MMU_NOTIFIER_RANGE_BLOCKABLE, event, owner };
}

/** Model of mmu_interval_notifier_insert(): start/length as in C; 0 on success. */
export function mmuIntervalNotifierInsert(mni: MmuIntervalNotifier, mm: MmStruct, start: number, length: number,
  ops: MmuIntervalNotifierOps): number {
  mni.mm = mm;
  mni.start = start;
  mni.last = start + length - 1;
  mni.ops = ops;
  // A notifier inserted outside an invalidation must not look "in progress".
  mni.invalidateSeq = (mm.invalidateSeq & 1) ? mm.invalidateSeq : mm.invalidateSeq - 1;
  mm.intervalNotifiers.push(mni);
  mm.mmgrab();
  return 0;
}

/** Model of mmu_interval_notifier_remove(). */
export function mmuIntervalNotifierRemove(mni: MmuIntervalNotifier): void {
  const mm = mni.mm;
  if (mm === null) return;
  const i = mm.intervalNotifiers.indexOf(mni);
  if (i >= 0) mm.intervalNotifiers.splice(i, 1);
  mni.mm = null;
  mm.mmdrop();
}

/** Model of mmu_interval_read_begin(). One thread at a time: no invalidation can be in flight here. */
export function mmuIntervalReadBegin(mni: MmuIntervalNotifier): number {
  return mni.invalidateSeq;
}

/** Model of mmu_interval_read_retry()/mmu_interval_check_retry(). */
export function mmuIntervalReadRetry(mni: MmuIntervalNotifier, seq: number): boolean {
  return mni.invalidateSeq !== seq;
}
export const mmuIntervalCheckRetry = mmuIntervalReadRetry;

/** Model of mmu_interval_set_seq(): called by the invalidate callback. */
export function mmuIntervalSetSeq(mni: MmuIntervalNotifier, curSeq: number): void {
  mni.invalidateSeq = curSeq;
}

/**
 * Model of mmu_notifier_invalidate_range_start(): every interval notifier
 * overlapping [start, end) is called with the odd sequence of this
 * invalidation. A callback returning false (it could not sleep) is only
 * allowed for non-blockable ranges.
 */
export function mmuNotifierInvalidateRangeStart(range: MmuNotifierRange): void {
  const mm = range.mm;
  mm.invalidateSeq |= 1;
  const cur = mm.invalidateSeq;
  mm.notifierLog?.(range);
  // Invalidate callbacks do not insert or remove notifiers, so the list is walked in place.
  for (const mni of mm.intervalNotifiers) {
    if (mni.last < range.start || mni.start >= range.end) continue;
    const ok = mni.ops!.invalidate(mni, range, cur);
    mm.k.warn(!ok && (range.flags & MMU_NOTIFIER_RANGE_BLOCKABLE) !== 0, 'mn_itree_invalidate',
      'an interval notifier failed a blockable invalidation');
  }
}

/** Model of mmu_notifier_invalidate_range_end(). */
export function mmuNotifierInvalidateRangeEnd(range: MmuNotifierRange): void {
  const mm = range.mm;
  if (mm.invalidateSeq & 1) mm.invalidateSeq++;
}
