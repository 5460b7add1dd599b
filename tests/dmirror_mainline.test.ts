// SPDX-License-Identifier: GPL-2.0-only
/*
 * The driver changes after 6.12 that the 7.2 profile switches on
 * (changes.ts): "lib/test_hmm: reduce stack usage" (32-page windows),
 * "check alloc_page_vma() return value and handle OOM", the per-page
 * dmirror_exclusive(), and evict-on-close, each run on both kernels.
 */
import t, { type Test } from 'tap';
import { Kernel } from '../src/kernel-model/kernel.js';
import { Task } from '../src/kernel-model/task.js';
import { PROT_NONE, PROT_READ, PROT_WRITE, MAP_PRIVATE, MAP_ANONYMOUS } from '../src/kernel-model/mm.js';
import { userLoad, userStore } from '../src/kernel-model/memory.js';
import { EFAULT, ENOMEM } from '../src/kernel-model/errno.js';
import { MAINLINE } from '../src/kernel-model/changes.js';
import { hmmDmirrorExit, type TestHmm } from '../src/dmirror/test_hmm.js';
import * as U from '../src/dmirror/test_hmm_uapi.js';
import { PRIVATE, bootDmirror, dmirrorCmd } from './helpers.js';

const P = 4096;

const boot = (profile: string) => bootDmirror(PRIVATE, profile);
const cmd = dmirrorCmd;
const buffer = (task: Task, npages: number) => task.mmap(0, npages * P, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS);
/** Process exit and module unload: what the runner checks after every case. */
function teardown(t: Test, k: Kernel, mod: TestHmm, task: Task): void {
  task.exit();
  t.same(hmmDmirrorExit(mod), [], 'unload finds every device page back');
  t.equal(k.pageAlloc.nrAllocated, 0, 'no page leaked');
}

t.test('32-page fault windows: a READ that fails at page 40 has mirrored pages 0-31 on 7.2, none on 6.12', (t) => {
  for (const [profile, faults] of [['6.12', 1], [MAINLINE, 0]] as const) {
    const { k, mod, task } = boot(profile);
    const fd = task.open('/dev/hmm_dmirror0');
    const p = buffer(task, 64), out = buffer(task, 64);
    for (let i = 0; i < 64; i++) userStore(task.mm, p + i * P, new Uint8Array([i]));
    // PROT_NONE at page 40 only; the mirror keeps what earlier windows faulted in, and no invalidation follows.
    t.equal(task.mprotect(p + 40 * P, P, PROT_NONE), 0);
    t.equal(cmd(task, fd, U.HMM_DMIRROR_READ, { addr: p, ptr: out, npages: 64 }).ret, -EFAULT, `${profile}: -EFAULT`);
    const r = cmd(task, fd, U.HMM_DMIRROR_READ, { addr: p, ptr: out, npages: 32 });
    t.same([r.ret, r.c.cpages, r.c.faults], [0, 32, faults], `${profile}: READ of pages 0-31 needs ${faults} fault(s)`);
    teardown(t, k, mod, task);
  }
  t.end();
});

t.test('32-page snapshot and migrate windows: same results, windows of 32', (t) => {
  for (const profile of ['6.12', MAINLINE]) {
    const { k, mod, task } = boot(profile);
    const fd = task.open('/dev/hmm_dmirror0');
    const p = buffer(task, 100), out = buffer(task, 100);
    for (let i = 0; i < 100; i++) userStore(task.mm, p + i * P, new Uint8Array([i]));
    const m = cmd(task, fd, U.HMM_DMIRROR_MIGRATE_TO_DEV, { addr: p, ptr: out, npages: 100 });
    t.same([m.ret, m.c.cpages], [0, 100], `${profile}: all 100 pages on the device`);
    const s = cmd(task, fd, U.HMM_DMIRROR_SNAPSHOT, { addr: p, ptr: out, npages: 100 });
    t.same([s.ret, s.c.cpages], [0, 100]);
    const b = cmd(task, fd, U.HMM_DMIRROR_MIGRATE_TO_SYS, { addr: p, ptr: out, npages: 100 });
    t.same([b.ret, b.c.cpages], [0, 100], `${profile}: all back`);
    teardown(t, k, mod, task);
  }
  t.end();
});

t.test('alloc_page_vma() failing in MIGRATE_TO_SYS: 6.12 reports success and leaves the pages, 7.2 says -ENOMEM', (t) => {
  for (const [profile, ret, cpages] of [['6.12', 0, 0], [MAINLINE, -ENOMEM, 0]] as const) {
    const { k, mod, task } = boot(profile);
    const fd = task.open('/dev/hmm_dmirror0');
    const p = buffer(task, 4), out = buffer(task, 4);
    for (let i = 0; i < 4; i++) userStore(task.mm, p + i * P, new Uint8Array([i + 1]));
    t.equal(cmd(task, fd, U.HMM_DMIRROR_MIGRATE_TO_DEV, { addr: p, ptr: out, npages: 4 }).ret, 0);
    k.pageAlloc.failAfter = 0;
    const r = cmd(task, fd, U.HMM_DMIRROR_MIGRATE_TO_SYS, { addr: p, ptr: out, npages: 4 });
    k.pageAlloc.failAfter = -1;
    t.same([r.ret, r.c.cpages], [ret, cpages], `${profile}: ret ${ret}`);
    // The failed window was finalized: its pages stay on the device, mapped by their device-private entries.
    const snap = cmd(task, fd, U.HMM_DMIRROR_SNAPSHOT, { addr: p, ptr: out, npages: 4 });
    const perm = new Uint8Array(4);
    userLoad(task.mm, out, perm);
    t.same([snap.ret, ...perm], [0, ...Array(4).fill(U.HMM_DMIRROR_PROT_DEV_PRIVATE_LOCAL | U.HMM_DMIRROR_PROT_WRITE)],
      `${profile}: still on the device`);
    // A CPU read now faults each page back and sees the data.
    const b = new Uint8Array(1);
    for (let i = 0; i < 4; i++) {
      userLoad(task.mm, p + i * P, b);
      t.equal(b[0], i + 1, `${profile}: page ${i} data after the failure`);
    }
    teardown(t, k, mod, task);
  }
  t.end();
});

t.test('EXCLUSIVE page by page on 7.2: same result as 6.12 on small pages; evict-on-close in both', (t) => {
  for (const profile of ['6.12', MAINLINE]) {
    const { k, mod, task } = boot(profile);
    const fd = task.open('/dev/hmm_dmirror0');
    const p = buffer(task, 70), out = buffer(task, 70);
    for (let i = 0; i < 70; i++) userStore(task.mm, p + i * P, new Uint8Array([i]));
    const r = cmd(task, fd, U.HMM_DMIRROR_EXCLUSIVE, { addr: p, ptr: out, npages: 70 });
    t.same([r.ret, r.c.cpages], [0, 70], `${profile}: 70 pages exclusive and read back`);
    t.equal(cmd(task, fd, U.HMM_DMIRROR_CHECK_EXCLUSIVE, { addr: p, npages: 70 }).ret, -1, 'atomic mappings present: -EPERM');
    // Pages on the device, then the file is closed: both kernels evict (6.12.117 has the backport).
    const fd1 = task.open('/dev/hmm_dmirror1');
    const q = buffer(task, 8);
    t.equal(cmd(task, fd1, U.HMM_DMIRROR_MIGRATE_TO_DEV, { addr: q, ptr: out, npages: 8 }).ret, 0);
    t.equal(task.close(fd1), 0);
    t.equal(mod.devices[1].calloc - mod.devices[1].cfree, 0, `${profile}: close gave every device page back`);
    teardown(t, k, mod, task);
  }
  t.end();
});
