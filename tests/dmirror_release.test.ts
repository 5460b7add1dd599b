// SPDX-License-Identifier: GPL-2.0-only
/*
 * Device memory release with device-exclusive entries, as 6.12.117 does it
 * (the real kernel's answers are in issue 10): migrate 6 pages to the
 * device, EXCLUSIVE the first 2, then RELEASE, close or unload.
 *
 *   page        0     1     2     3     4     5
 *   migrated    D     D     D     D     D     D       D: device page
 *   EXCLUSIVE   X     X                              X: device-exclusive entry
 *
 * COHERENT (and the seed's GENERIC, CPU-mapped the same way): the X pages
 * stay device pages under exclusive entries. RELEASE's eviction
 * (dmirror_device_evict_chunk() -> migrate_device_range()) collects them,
 * migrate_device_unmap() finds them unmapped (the entry holds a reference
 * but no mapcount), folio_migrate_mapping() refuses them (that reference is
 * not expected), and migrate_device_finalize()'s remove_migration_ptes()
 * finds the exclusive entry through check_pte(PVMW_MIGRATION) and maps the
 * page read-only with a new reference, the entry's never dropped. So each
 * X page keeps a reference forever and memunmap_pages() waits forever: a
 * hung task in memunmap_pages() <- dmirror_device_remove_chunks() <-
 * dmirror_fops_unlocked_ioctl().
 *
 * PRIVATE: EXCLUSIVE faults the 2 pages back to system memory first
 * (make_device_exclusive_range() -> get_user_pages_remote() ->
 * do_swap_page() -> dmirror_devmem_fault()), so the X entries name system
 * pages; eviction moves the other 4; RELEASE returns 0.
 */
import t from 'tap';
import { Kernel } from '../src/kernel-model/kernel.js';
import { HungTask, KernelBug } from '../src/kernel-model/bug.js';
import { Task } from '../src/kernel-model/task.js';
import { MAP_ANONYMOUS, MAP_PRIVATE, PROT_READ, PROT_WRITE } from '../src/kernel-model/mm.js';
import { userLoad, userStore } from '../src/kernel-model/memory.js';
import { pageMapcount, pageRefCount, isZoneDevicePage } from '../src/kernel-model/page_alloc.js';
import { pteIndex, ptePresent, pteWrite, isDeviceExclusiveEntry } from '../src/kernel-model/pgtable.js';
import { hmmDmirrorInit, hmmDmirrorExit, type TestHmm } from '../src/dmirror/test_hmm.js';
import * as U from '../src/dmirror/test_hmm_uapi.js';
import { PRIVATE, GENERIC, COHERENT, smoke, dmirrorCmd } from './helpers.js';
import { composeKernel, kernelProfiles, MAINLINE, TRY_TO_MIGRATE_DEVICE_EXCLUSIVE } from '../src/kernel-model/changes.js';
import { prettyCase } from '../src/cli/pretty.js';
import { Chalk } from 'chalk';

const MODES = { private: { params: PRIVATE, dev: 0 }, coherent: { params: COHERENT, dev: 2 }, generic: { params: GENERIC, dev: 0 } } as const;
type Mode = keyof typeof MODES;
const NPAGES = 6, NEXCL = 2, PAGE = 4096;

const cmd = dmirrorCmd;

/** Boot, load test_hmm, fill 6 pages, migrate them to the device, EXCLUSIVE the first 2. */
function migrateThenExclusive(mode: Mode, patches: string[] = [], profile = '6.12', profiles = kernelProfiles()) {
  const version = composeKernel(profile, patches, profiles);
  if ('error' in version) throw new Error(version.error);
  const k = new Kernel({ version });
  const { ret, mod } = hmmDmirrorInit(k, MODES[mode].params);
  if (ret || !mod) throw new Error(`load failed ${ret}`);
  const task = new Task(k);
  const fd = task.open(`/dev/hmm_dmirror${MODES[mode].dev}`);
  const p = task.mmap(0, NPAGES * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS);
  const mirror = task.mmap(0, NPAGES * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS);
  for (let i = 0; i < NPAGES; i++) userStore(task.mm, p + i * PAGE, new Uint8Array(PAGE).fill(i + 1));
  const mig = mode === 'generic'
    ? cmd(task, fd, U.HMM_DMIRROR_V5_MIGRATE, { addr: p, ptr: mirror, npages: NPAGES, alloc_to_devmem: 1 })
    : cmd(task, fd, U.HMM_DMIRROR_MIGRATE_TO_DEV, { addr: p, ptr: mirror, npages: NPAGES });
  const excl = cmd(task, fd, U.HMM_DMIRROR_EXCLUSIVE, { addr: p, ptr: mirror, npages: NEXCL });
  return { k, mod: mod as TestHmm, task, fd, p, mirror, mig, excl };
}

/** The pte at addr: its pfn and value. */
function pte(task: Task, addr: number): { pfn: number; val: number } {
  const tbl = task.mm.pgtable.lookup(addr)!;
  return { pfn: tbl.pfn[pteIndex(addr)], val: tbl.val[pteIndex(addr)] };
}

/** What the CPU reads in page i (its fill byte when the data survived). */
function cpuByte(task: Task, p: number, i: number): number {
  const b = new Uint8Array(1);
  userLoad(task.mm, p + i * PAGE + 17, b);
  return b[0];
}

for (const mode of ['coherent', 'generic'] as const) {
  t.test(`${mode}: RELEASE after EXCLUSIVE hangs in memunmap_pages(), as 6.12.117 does; nothing is freed while referenced`, (t) => {
    const { k, task, fd, p, mig, excl } = migrateThenExclusive(mode);
    t.same([mig.ret, mig.c.cpages, excl.ret], [0, NPAGES, 0]);
    const dpages = [0, 1].map((i) => pte(task, p + i * PAGE).pfn);
    t.ok(dpages.every((d) => isZoneDevicePage(k, d)), 'the exclusive entries name device pages');
    t.ok(isDeviceExclusiveEntry(pte(task, p).val));
    let e: unknown;
    try { cmd(task, fd, U.HMM_DMIRROR_RELEASE, { addr: p, npages: NPAGES }); } catch (err) { e = err; }
    t.ok(e instanceof HungTask, 'the RELEASE never returns');
    const report = (e as HungTask).report;
    t.equal((e as HungTask).where, 'memunmap_pages');
    t.match(report, new RegExp(`^INFO: task hmm-tests:${task.pid} blocked for more than 120 seconds\\.`));
    t.match(report, / wait_for_completion\n memunmap_pages\n dmirror_device_remove_chunks\n dmirror_fops_unlocked_ioctl\n __x64_sys_ioctl\n/);
    t.match(report, /: 2 of \d+ device pages of \[mem 0x[0-9a-f]+-0x[0-9a-f]+\] still referenced \(4 references: 2 by a pte, 2 held by nothing that maps or pins the page \(leaked\)\)/);
    // remove_migration_pte() made each exclusive entry a read-only pte of the same device page, with one more reference.
    for (let i = 0; i < NEXCL; i++) {
      const e2 = pte(task, p + i * PAGE);
      t.equal(e2.pfn, dpages[i], `page ${i}: still the device page`);
      t.ok(ptePresent(e2.val) && !pteWrite(e2.val), `page ${i}: now mapped by a read-only pte`);
      t.same([pageRefCount(k, dpages[i]), pageMapcount(k, dpages[i])], [2, 1], `page ${i}: the pte's reference and the exclusive entry's, leaked`);
      t.ok(k.memmap.valid(dpages[i]), `page ${i}: its struct page is not freed`);
      t.equal(cpuByte(task, p, i), i + 1, `page ${i}: data intact`);
    }
    for (let i = NEXCL; i < NPAGES; i++) {
      t.notOk(isZoneDevicePage(k, pte(task, p + i * PAGE).pfn), `page ${i}: evicted to system memory`);
      t.equal(cpuByte(task, p, i), i + 1, `page ${i}: data intact`);
    }
    t.same(k.warnings, [], 'no WARN');
    t.end();
  });

  t.test(`${mode}: close with exclusive entries evicts what it can; the leaked references then hang rmmod, never a BUG`, (t) => {
    const { k, mod, task, fd, p } = migrateThenExclusive(mode);
    const dpage = pte(task, p).pfn;
    t.equal(task.close(fd), 0, 'dmirror_fops_release() evicts the chunks and returns');
    t.ok(ptePresent(pte(task, p).val) && pte(task, p).pfn === dpage, 'the exclusive page is left in device memory, mapped by a pte');
    for (let i = 0; i < NPAGES; i++) t.equal(cpuByte(task, p, i), i + 1, `page ${i}: data intact`);
    task.exit();
    t.equal(pageRefCount(k, dpage), 1, 'after exit the leaked reference is all that is left');
    t.throws(() => hmmDmirrorExit(mod), { name: 'HungTask', where: 'memunmap_pages' });
    t.match(k.hung[0], /^INFO: task rmmod:\d+ blocked for more than 120 seconds\./);
    t.match(k.hung[0], / memunmap_pages\n dmirror_device_remove_chunks\n dmirror_device_remove\n hmm_dmirror_exit\n __x64_sys_delete_module\n/);
    t.match(k.hung[0], /2 of \d+ device pages .* still referenced \(2 references: 2 held by nothing that maps or pins the page \(leaked\)\)/);
    t.ok(k.memmap.valid(dpage), 'the struct page stays');
    t.same(k.warnings, [], 'no WARN');
    t.end();
  });

  t.test(`${mode}: exit without close: the exclusive entries go with the mm (exit_mm() before exit_files()), unload is clean`, (t) => {
    const { k, mod, task } = migrateThenExclusive(mode);
    task.exit();
    t.same(hmmDmirrorExit(mod), [], 'every device page back');
    t.equal(k.hung.length, 0);
    t.equal(k.pageAlloc.nrAllocated, 0, 'no system page left');
    t.same(k.warnings, []);
    t.end();
  });
}

t.test('private: the same RELEASE returns 0; EXCLUSIVE had faulted its pages back to system memory', (t) => {
  const { k, mod, task, fd, p, mig, excl } = migrateThenExclusive('private');
  t.same([mig.ret, mig.c.cpages, excl.ret], [0, NPAGES, 0]);
  for (let i = 0; i < NEXCL; i++) {
    const e = pte(task, p + i * PAGE);
    t.ok(isDeviceExclusiveEntry(e.val) && !isZoneDevicePage(k, e.pfn), `page ${i}: an exclusive entry of a system page`);
  }
  const rel = cmd(task, fd, U.HMM_DMIRROR_RELEASE, { addr: p, npages: NPAGES });
  t.equal(rel.ret, 0, 'RELEASE returns 0');
  t.equal(k.hung.length, 0, 'no hang');
  for (let i = 0; i < NPAGES; i++) {
    t.notOk(isZoneDevicePage(k, pte(task, p + i * PAGE).pfn), `page ${i}: in system memory`);
    t.equal(cpuByte(task, p, i), i + 1, `page ${i}: data intact`);
  }
  task.exit();
  t.same(hmmDmirrorExit(mod), []);
  t.equal(k.pageAlloc.nrAllocated, 0);
  t.same(k.warnings, []);
  t.end();
});

t.test('private: close and unload after EXCLUSIVE are clean', (t) => {
  const { k, mod, task, fd } = migrateThenExclusive('private');
  t.equal(task.close(fd), 0);
  task.exit();
  t.same(hmmDmirrorExit(mod), []);
  t.equal(k.pageAlloc.nrAllocated, 0);
  t.end();
});

t.test('6.15\'s page_vma_mapped fix on 6.12: no leaked reference, but the exclusive entry itself still holds the page: RELEASE hangs', (t) => {
  const { k, task, fd, p } = migrateThenExclusive('coherent', ['page_vma_mapped-exclusive-not-migration']);
  const dpage = pte(task, p).pfn;
  t.throws(() => cmd(task, fd, U.HMM_DMIRROR_RELEASE, { addr: p, npages: NPAGES }), { name: 'HungTask' });
  t.ok(isDeviceExclusiveEntry(pte(task, p).val), 'remove_migration_ptes() left the exclusive entry alone');
  t.same([pageRefCount(k, dpage), pageMapcount(k, dpage)], [1, 0], 'only the entry\'s reference');
  t.match(k.hung[0], /still referenced \(2 references: 2 by a device-exclusive entry\)/);
  t.end();
});

t.test('7.2 (try_to_migrate-device-exclusive, 6.15): RELEASE after EXCLUSIVE of coherent memory evicts the exclusive pages and returns 0', (t) => {
  const { k, mod, task, fd, p, excl } = migrateThenExclusive('coherent', [], MAINLINE);
  t.equal(excl.ret, 0);
  t.ok(isDeviceExclusiveEntry(pte(task, p).val), 'the exclusive entry names the device page');
  t.equal(cmd(task, fd, U.HMM_DMIRROR_RELEASE, { addr: p, npages: NPAGES }).ret, 0, 'try_to_migrate_one() turned the entry into a migration entry');
  for (let i = 0; i < NPAGES; i++) {
    t.notOk(isZoneDevicePage(k, pte(task, p + i * PAGE).pfn), `page ${i}: in system memory`);
    t.equal(cpuByte(task, p, i), i + 1, `page ${i}: data intact`);
  }
  t.equal(k.hung.length, 0);
  task.exit();
  t.same(hmmDmirrorExit(mod), [], 'unload: every device page back');
  t.equal(k.pageAlloc.nrAllocated, 0);
  t.end();
});

t.test('break it: 7.2 without try_to_migrate-device-exclusive leaves the exclusive pages referenced, and RELEASE hangs', (t) => {
  const profiles = kernelProfiles().map((x) => (x.name === MAINLINE ? { ...x, changes: x.changes.filter((c) => c !== TRY_TO_MIGRATE_DEVICE_EXCLUSIVE) } : x));
  const { task, fd, p } = migrateThenExclusive('coherent', [], MAINLINE, profiles);
  t.throws(() => cmd(task, fd, U.HMM_DMIRROR_RELEASE, { addr: p, npages: NPAGES }), { name: 'HungTask', where: 'memunmap_pages' });
  t.end();
});

t.test('break it: a memunmap_pages() that does not wait frees referenced struct pages, and the next access is a kernel BUG', (t) => {
  const { k, task, fd, p } = migrateThenExclusive('coherent');
  const dpage = pte(task, p).pfn;
  k.inject.waitForCompletion = () => {};
  t.equal(cmd(task, fd, U.HMM_DMIRROR_RELEASE, { addr: p, npages: NPAGES }).ret, 0, 'RELEASE returns: the hang test above fails on this');
  t.notOk(k.memmap.valid(dpage), 'the struct page of a still-mapped page is gone');
  t.throws(() => cpuByte(task, p, 0), KernelBug, 'the CPU access that follows finds no struct page');
  t.end();
});

t.test('runner: a case that hangs in the kernel fails with the hung-task report, its teardown and unload not run', (t) => {
  let teardownIoctls = 0, hung = false;
  const r = smoke({
    params: COHERENT,
    filter: (_f, v, c) => v === 'hmm_device_coherent' && c === 'migrate_release',
    onKernel: (_k, _mod, task) => {
      const ioctl = task.ioctl.bind(task);
      task.ioctl = (fd, req, arg) => {
        if (hung) teardownIoctls++;
        // EXCLUSIVE the buffer's first 2 pages just before the case's RELEASE.
        if (req === U.HMM_DMIRROR_RELEASE) {
          const c = arg as U.HmmDmirrorCmd;
          ioctl(fd, U.HMM_DMIRROR_EXCLUSIVE, { ...U.newHmmDmirrorCmd(), addr: c.addr, ptr: c.ptr, npages: 2 });
          hung = true;
        }
        return ioctl(fd, req, arg);
      };
    },
  });
  t.equal(r.result.exitCode, 1);
  t.same(r.result.results.map((c) => [c.status, c.hang]), [['fail', true]], 'a failure with the HANG verdict');
  t.match(prettyCase(r.result.results[0], new Chalk({ level: 0 }))[0], /migrate_release .*\[kernel hang\]/, 'the pretty format says it hung');
  t.same([...new Set(r.result.results[0].failures.map((f) => f.kind))], ['hang'], 'failure kind hang (the body, and the process and module left as they are)');
  t.ok(r.err.some((l) => /^# INFO: task hmm-tests:\d+ blocked for more than 120 seconds\.$/.test(l)), 'the report, as the kernel prints it');
  t.ok(r.err.includes('#  memunmap_pages'), 'its call trace');
  t.ok(r.err.some((l) => l.endsWith('migrate_release: Test hung: the test process is blocked in the kernel for good (HANG)')));
  t.ok(r.err.some((l) => l.startsWith('# HANG: ')));
  t.notOk(r.err.some((l) => /KernelBug|kernel BUG|WARNING/.test(l)), 'no BUG, no WARN');
  t.ok(r.out.some((l) => /^not ok 1 hmm\.hmm_device_coherent\.migrate_release$/.test(l)));
  t.equal(teardownIoctls, 0, 'the blocked process ran nothing more');
  t.end();
});
