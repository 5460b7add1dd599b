// SPDX-License-Identifier: GPL-2.0-only
/*
 * The PMD-range invalidation at every VMA split (issue 10, item 2). 6.12's
 * __split_vma() calls vma_adjust_trans_huge() (mm/huge_memory.c), whose
 * split_huge_pmd_if_needed() sends the split address to
 * split_huge_pmd_address() when it is not 2 MiB-aligned and the VMA covers
 * the whole aligned 2 MiB around it; __split_huge_pmd() then invalidates
 * that 2 MiB (MMU_NOTIFY_CLEAR, no owner) before it looks at the pmd, so a
 * mirror forgets the range whether or not a huge page is mapped there.
 *
 *   one anonymous VMA of 4 MiB on a 2 MiB boundary; three pages at +1 MiB:
 *     |------- PMD 0 -------|------- PMD 1 -------|
 *                 ABC                                 mprotect(B) splits at B, then at C
 *     |<-- MMU_NOTIFY_CLEAR -->|                      the whole PMD 0, at the first split only
 */
import t from 'tap';
import { Kernel } from '../../src/kernel-model/kernel.js';
import { KernelBug } from '../../src/kernel-model/bug.js';
import { Task } from '../../src/kernel-model/task.js';
import { PAGE_SIZE, PMD_SIZE } from '../../src/kernel-model/page.js';
import { MAP_ANONYMOUS, MAP_PRIVATE, PROT_READ, PROT_WRITE } from '../../src/kernel-model/mm.js';
import { userStore } from '../../src/kernel-model/memory.js';
import { MMU_NOTIFY_CLEAR, MMU_NOTIFY_EVENT_NAMES } from '../../src/kernel-model/mmu_notifier.js';
import { hmmDmirrorInit } from '../../src/dmirror/test_hmm.js';
import * as U from '../../src/dmirror/test_hmm_uapi.js';
import { PRIVATE } from '../helpers.js';

const P = PAGE_SIZE, RW = PROT_READ | PROT_WRITE, ANON = MAP_PRIVATE | MAP_ANONYMOUS;

/** A booted kernel with test_hmm, a task with /dev/hmm_dmirror0 open and a 4 MiB buffer whose pages at +1 MiB are written. */
function setup(breakIt = false) {
  const k = new Kernel();
  const { ret } = hmmDmirrorInit(k, PRIVATE);
  if (ret) throw new Error(`load failed ${ret}`);
  // Leave out the invalidation: vma_adjust_trans_huge() as it was before this was modelled (only a huge PMD split).
  if (breakIt) k.inject.vmaAdjustTransHuge = () => {};
  const task = new Task(k);
  const fd = task.open('/dev/hmm_dmirror0');
  const big = task.mmap(0, 2 * PMD_SIZE, RW, ANON);
  if (big % PMD_SIZE !== 0) throw new Error('4 MiB anonymous mapping not on a 2 MiB boundary');
  const p = big + PMD_SIZE / 2;
  userStore(task.mm, p, new Uint8Array(3 * P).fill(7));
  const mirror = task.mmap(0, 3 * P, RW, ANON);
  return { k, task, fd, big, p, mirror };
}

function cmd(task: Task, fd: number, req: number, addr: number, ptr: number, npages: number) {
  const c = { ...U.newHmmDmirrorCmd(), addr, ptr, npages };
  return { ret: task.ioctl(fd, req, c), c };
}

t.test('mprotect of the middle page of a mirrored 3-page range: the device re-faults (vma_adjust_trans_huge())', async (t) => {
  const { task, fd, p, mirror } = setup();
  t.same(cmd(task, fd, U.HMM_DMIRROR_READ, p, mirror, 3).c.faults, 1, 'first read faults the range in');
  t.same(cmd(task, fd, U.HMM_DMIRROR_READ, p, mirror, 3).c.faults, 0, 'the mirror holds it');
  const seen: string[] = [];
  task.mm.notifierLog = (r) => seen.push(`${MMU_NOTIFY_EVENT_NAMES[r.event]} ${(r.start - p).toString(16)}+${(r.end - r.start).toString(16)} ${r.owner}`);
  t.equal(task.mprotect(p + P, P, PROT_READ), 0);
  // __split_vma() at p + P fires (the VMA covers PMD 0); the second split, at p + 2P, cuts the new VMA that starts at
  // p + P, which no longer covers PMD 0 (range_in_vma() fails); then change_protection() of the one page.
  const off = (-PMD_SIZE / 2).toString(16);
  t.same(seen, [`CLEAR ${off}+200000 null`, 'PROTECTION_VMA 1000+1000 null'], 'MMU_NOTIFY_CLEAR over the whole PMD, no owner');
  // Page B lost its translation to the mprotect itself; page A only to the split.
  const r = cmd(task, fd, U.HMM_DMIRROR_READ, p, mirror, 1);
  t.same([r.ret, r.c.cpages, r.c.faults], [0, 1, 1], 'the next READ of page A faults again (faults=1)');
});

t.test('break-it: without the split invalidation the device reads its stale mirror (faults=0), which the test above catches', async (t) => {
  const { task, fd, p, mirror } = setup(true);
  cmd(task, fd, U.HMM_DMIRROR_READ, p, mirror, 3);
  t.equal(task.mprotect(p + P, P, PROT_READ), 0);
  t.equal(cmd(task, fd, U.HMM_DMIRROR_READ, p, mirror, 1).c.faults, 0, 'mprotect: page A read from the stale mirror');
  t.equal(task.munmap(p + 2 * P, P), 0);
  t.equal(cmd(task, fd, U.HMM_DMIRROR_READ, p, mirror, 1).c.faults, 0, 'munmap: the same');
});

t.test('munmap of part of the range: the rest of the PMD is invalidated too', async (t) => {
  const { task, fd, p, mirror } = setup();
  cmd(task, fd, U.HMM_DMIRROR_READ, p, mirror, 3);
  t.equal(task.munmap(p + 2 * P, P), 0);
  const r = cmd(task, fd, U.HMM_DMIRROR_READ, p, mirror, 2);
  t.same([r.ret, r.c.faults], [0, 1], 'pages A and B, outside the unmapped page, fault again');
});

t.test('no invalidation where split_huge_pmd_if_needed() does not fire', async (t) => {
  const { task, fd, big, p, mirror } = setup();
  const seen: number[] = [];
  cmd(task, fd, U.HMM_DMIRROR_READ, p, mirror, 3);
  task.mm.notifierLog = (r) => seen.push(r.event);
  // A split on the 2 MiB boundary: IS_ALIGNED(address, HPAGE_PMD_SIZE).
  t.equal(task.mprotect(big + PMD_SIZE, PMD_SIZE, PROT_READ), 0);
  t.notOk(seen.includes(MMU_NOTIFY_CLEAR), 'aligned split: no CLEAR');
  t.equal(cmd(task, fd, U.HMM_DMIRROR_READ, p, mirror, 3).c.faults, 0, 'the mirror kept every page');
  // A VMA smaller than the PMD around the split address: range_in_vma() fails.
  const small = task.mmap(0, 3 * P, RW, ANON);
  task.munmap(small - P, P); // keep it apart from its neighbours
  userStore(task.mm, small, new Uint8Array(3 * P).fill(1));
  cmd(task, fd, U.HMM_DMIRROR_READ, small, mirror, 3);
  seen.length = 0;
  t.equal(task.mprotect(small + P, P, PROT_READ), 0);
  t.notOk(seen.includes(MMU_NOTIFY_CLEAR), 'the VMA does not cover the PMD: no CLEAR');
  t.equal(cmd(task, fd, U.HMM_DMIRROR_READ, small, mirror, 1).c.faults, 0);
});

t.test('private mode: after the split the re-fault finds the device\'s own private pages and dmirror_do_read() oopses (as 6.12)', async (t) => {
  const { task, fd, p, mirror } = setup();
  t.equal(cmd(task, fd, U.HMM_DMIRROR_MIGRATE_TO_DEV, p, mirror, 3).ret, 0);
  t.equal(cmd(task, fd, U.HMM_DMIRROR_READ, p, mirror, 3).c.faults, 0, 'migration left the mirror pointing at the copies');
  t.equal(task.mprotect(p + P, P, PROT_READ), 0);
  let caught: unknown = null;
  try {
    cmd(task, fd, U.HMM_DMIRROR_READ, p, mirror, 3);
  } catch (e) {
    caught = e;
  }
  t.ok(caught instanceof KernelBug && caught.kind === 'Oops', `an oops copying from a DEVICE_PRIVATE page (got ${String(caught)})`);
});

t.test('split_huge_pmd_address(): no page table under the pud (mm_find_pmd() NULL): no invalidation', async (t) => {
  const k = new Kernel();
  const task = new Task(k);
  const big = task.mmap(0, 2 * PMD_SIZE, RW, ANON);
  const seen: number[] = [];
  task.mm.notifierLog = (r) => seen.push(r.event);
  t.equal(task.mprotect(big + P, P, PROT_READ), 0);
  t.same(seen, [], 'never faulted: no pud, no CLEAR (and no pte to change)');
  userStore(task.mm, big + PMD_SIZE + P, new Uint8Array(1)); // a pte page in the same 1 GiB
  // PMD 1 lies inside the VMA that now starts at big + 2 pages.
  t.equal(task.mprotect(big + PMD_SIZE + 2 * P, P, PROT_READ), 0);
  t.equal(seen[0], MMU_NOTIFY_CLEAR, 'now the pud is present: CLEAR over PMD 1');
});
