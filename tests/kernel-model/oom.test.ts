// SPDX-License-Identifier: GPL-2.0-only
/*
 * Tests of src/kernel-model/oom_kill.ts (mm/oom_kill.c) and the
 * allocation-failure paths that reach it: alloc_page_vma() running the OOM
 * killer when RAM is gone (__alloc_pages_may_oom()), the victim dying of
 * SIGKILL on its way back to user mode (pagefault_out_of_memory() finds it
 * pending), fail_page_alloc-style injection failing before the killer, and
 * a device-private page faulting back with no RAM left
 * (do_swap_page() -> dmirror_devmem_fault(): alloc_page_vma() fails, the
 * fault returns 0 and is retried, so only the killer ends it).
 */
import t from 'tap';
import { Kernel } from '../../src/kernel-model/kernel.js';
import { FatalSignal, KernelBug, SIGKILL } from '../../src/kernel-model/bug.js';
import { Task, WIFSIGNALED, WTERMSIG } from '../../src/kernel-model/task.js';
import { ENOMEM } from '../../src/kernel-model/errno.js';
import { MAP_ANONYMOUS, MAP_PRIVATE, PROT_READ, PROT_WRITE } from '../../src/kernel-model/mm.js';
import { userLoad, userStore } from '../../src/kernel-model/memory.js';
import { putPage, isZoneDevicePage } from '../../src/kernel-model/page_alloc.js';
import { pteIndex } from '../../src/kernel-model/pgtable.js';
import { type MachineConfig } from '../../src/kernel-model/machine.js';
import { hmmDmirrorInit, hmmDmirrorExit, type TestHmm } from '../../src/dmirror/test_hmm.js';
import * as U from '../../src/dmirror/test_hmm_uapi.js';

const MiB = 1024 * 1024, PAGE = 4096;

/** A machine with 40 MiB of RAM (the kernel image takes 12 MiB of it at 16 MiB) and no hugetlb pool. */
function smallMachine(): MachineConfig {
  return { physBits: 40, nrHugepages: 0, memoryMap: [{ start: 0x100000, size: 40 * MiB, type: 'System RAM' }] };
}

const anon = (task: Task, npages: number) => task.mmap(0, npages * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS);
const oomReports = (k: Kernel) => k.log.filter((l) => l.startsWith('Out of memory: Killed process'));

t.test('RAM runs out under a process\'s stores: the OOM killer kills it (SIGKILL at the fault), with the kernel\'s report', (t) => {
  const k = new Kernel({ machine: smallMachine() });
  const task = new Task(k);
  const npages = 40 * MiB / PAGE, p = anon(task, npages);
  let stored = 0;
  const e = (() => {
    try {
      for (; stored < npages; stored++) userStore(task.mm, p + stored * PAGE, new Uint8Array([1]));
    } catch (err) { return err; }
  })();
  t.ok(e instanceof FatalSignal && e.signal === SIGKILL, 'SIGKILL, not SIGBUS, not a kernel BUG');
  t.ok(stored > 0 && stored < npages, `${stored} pages stored before RAM ran out`);
  t.same(oomReports(k), [`Out of memory: Killed process ${task.pid} (hmm-tests) total-vm:${npages * 4}kB, anon-rss:${stored * 4}kB, ` +
    `file-rss:0kB, shmem-rss:0kB, UID:0 pgtables:${task.mm.pgtable.tables.size * 4}kB oom_score_adj:0`]);
  task.exit();
  t.equal(k.pageAlloc.nrAllocated, 0, 'every page back after the victim exits');
  t.end();
});

t.test('the victim is the task with the most memory (oom_badness()): another task dies at once and the fault goes on', (t) => {
  const k = new Kernel({ machine: smallMachine() });
  const big = new Task(k), small = new Task(k);
  const bp = anon(big, 2048);
  for (let i = 0; i < 2048; i++) userStore(big.mm, bp + i * PAGE, new Uint8Array([1]));
  const hoard: number[] = [];
  for (let pg = k.pageAlloc.allocPage(); pg !== 0; pg = k.pageAlloc.allocPage()) hoard.push(pg); // RAM gone to the kernel
  const sp = anon(small, 1);
  userStore(small.mm, sp, new Uint8Array([5]));
  t.ok(big.exited && WIFSIGNALED(big.exitStatus!) && WTERMSIG(big.exitStatus!) === SIGKILL, 'the big task was killed');
  t.match(oomReports(k)[0], new RegExp(`Killed process ${big.pid} \\(hmm-tests\\)`));
  const b = new Uint8Array(1);
  userLoad(small.mm, sp, b);
  t.equal(b[0], 5, 'the small task\'s store went through with the victim\'s memory');
  for (const pg of hoard) putPage(k, pg);
  small.exit();
  t.equal(k.pageAlloc.nrAllocated, 0);
  t.end();
});

/** Private test_hmm, 4 pages migrated to device 0. */
function migrated(machine?: MachineConfig) {
  const k = new Kernel(machine ? { machine } : {});
  const { mod } = hmmDmirrorInit(k, { spm_addr_dev0: 0, spm_addr_dev1: 0 });
  const task = new Task(k);
  const fd = task.open('/dev/hmm_dmirror0');
  const p = anon(task, 4), mirror = anon(task, 4);
  userStore(task.mm, p, new Uint8Array(4 * PAGE).fill(3));
  const c = { ...U.newHmmDmirrorCmd(), addr: p, ptr: mirror, npages: 4 };
  if (task.ioctl(fd, U.HMM_DMIRROR_MIGRATE_TO_DEV, c) !== 0 || c.cpages !== 4) throw new Error('migrate failed');
  return { k, mod: mod as TestHmm, task, fd, p, mirror };
}

const pfnAt = (task: Task, a: number) => task.mm.pgtable.lookup(a)!.pfn[pteIndex(a)];

t.test('no RAM for a device-private page faulting back: dmirror_devmem_fault() returns 0, the OOM killer ends the retries', (t) => {
  const { k, mod, task, p } = migrated();
  const hoard: number[] = [];
  for (let pg = k.pageAlloc.allocPage(); pg !== 0; pg = k.pageAlloc.allocPage()) hoard.push(pg);
  const e = (() => { try { userLoad(task.mm, p, new Uint8Array(1)); } catch (err) { return err; } })();
  t.notOk(e instanceof KernelBug, 'no kernel BUG (the model used to report a livelock here)');
  t.ok(e instanceof FatalSignal && e.signal === SIGKILL, 'the faulting task dies of SIGKILL');
  t.equal(oomReports(k).length, 1, 'one OOM report');
  t.ok(isZoneDevicePage(k, pfnAt(task, p)), 'the page stayed on the device (migrate_vma_pages() saw no destination)');
  for (const pg of hoard) putPage(k, pg);
  task.exit();
  t.same(hmmDmirrorExit(mod), []);
  t.equal(k.pageAlloc.nrAllocated, 0);
  t.same(k.warnings, []);
  t.end();
});

t.test('break it: an OOM killer that never marks its victim leaves the fault retrying forever, which the test above catches', (t) => {
  const { k, task, p } = migrated();
  for (let pg = k.pageAlloc.allocPage(); pg !== 0;) pg = k.pageAlloc.allocPage();
  Object.defineProperty(task.mm, 'oomVictim', { get: () => false, set: () => {} });
  t.throws(() => userLoad(task.mm, p, new Uint8Array(1)), KernelBug, 'the fault never resolves');
  t.end();
});

t.test('fail_page_alloc (Kernel.inject.shouldFailAllocPage): injected failures skip the OOM killer; the fault is retried until one succeeds', (t) => {
  const { k, mod, task, p } = migrated();
  let failures = 3;
  k.inject.shouldFailAllocPage = () => failures-- > 0;
  const b = new Uint8Array(1);
  userLoad(task.mm, p, b);
  t.equal(b[0], 3, 'the data, once an allocation succeeded');
  t.notOk(isZoneDevicePage(k, pfnAt(task, p)), 'the page is back in system memory');
  t.same(oomReports(k), [], 'nobody killed: should_fail_alloc_page() fails before the killer');
  k.inject.shouldFailAllocPage = undefined;
  task.exit();
  t.same(hmmDmirrorExit(mod), []);
  t.equal(k.pageAlloc.nrAllocated, 0);
  t.end();
});

t.test('a device command whose allocation fails returns -ENOMEM, nobody killed', (t) => {
  const { k, mod, task, fd, p, mirror } = migrated();
  k.inject.shouldFailAllocPage = () => true;
  for (const req of [U.HMM_DMIRROR_READ, U.HMM_DMIRROR_WRITE, U.HMM_DMIRROR_MIGRATE_TO_DEV]) {
    const c = { ...U.newHmmDmirrorCmd(), addr: p, ptr: mirror, npages: 4 };
    t.equal(task.ioctl(fd, req, c), -ENOMEM, `${U.HMM_DMIRROR_READ === req ? 'READ' : req === U.HMM_DMIRROR_WRITE ? 'WRITE' : 'MIGRATE_TO_DEV'}: dmirror_bounce_init() finds no memory`);
  }
  t.same(oomReports(k), []);
  k.inject.shouldFailAllocPage = undefined;
  task.exit();
  t.same(hmmDmirrorExit(mod), []);
  t.end();
});
