// SPDX-License-Identifier: GPL-2.0-only
/*
 * The simulated test_hmm driver on its own: module parameters, the devices
 * and their memory, the ioctls' return values, and unload's accounting.
 */
import t from 'tap';
import { Kernel } from '../src/kernel-model/kernel.js';
import { Task } from '../src/kernel-model/task.js';
import { getPage } from '../src/kernel-model/page_alloc.js';
import { EINVAL, EFAULT, EPERM } from '../src/kernel-model/errno.js';
import { MAP_ANONYMOUS, MAP_PRIVATE, PROT_NONE, PROT_READ, PROT_WRITE } from '../src/kernel-model/mm.js';
import { userLoad, userStore } from '../src/kernel-model/memory.js';
import { hmmDmirrorInit, hmmDmirrorExit, type TestHmm } from '../src/dmirror/test_hmm.js';
import * as U from '../src/dmirror/test_hmm_uapi.js';
import { checkModuleParams } from '../src/runner.js';
import { SEEK_CUR, SEEK_END, SEEK_SET } from '../src/kernel-model/fcntl.js';
import { PRIVATE, GENERIC, COHERENT } from './helpers.js';

function boot(params = PRIVATE) {
  const k = new Kernel();
  const { ret, mod } = hmmDmirrorInit(k, params);
  if (ret || !mod) throw new Error(`load failed ${ret}`);
  const task = new Task(k);
  return { k, mod: mod as TestHmm, task };
}

function cmd(task: Task, fd: number, req: number, fields: Partial<U.HmmDmirrorCmd>) {
  const c = { ...U.newHmmDmirrorCmd(), ...fields };
  const ret = task.ioctl(fd, req, c);
  return { ret, c };
}

function buffer(task: Task, npages: number, prot = PROT_READ | PROT_WRITE) {
  return task.mmap(0, npages * 4096, prot, MAP_PRIVATE | MAP_ANONYMOUS);
}

t.test('no parameters: two private devices on free iomem regions, as the real run shows', (t) => {
  const { k, mod, task } = boot();
  t.ok(k.log.includes('added new 256 MB chunk (total 1 chunks, 256 MB) PFNs [0xfff0000 0x10000000)'));
  t.ok(k.log.includes('added new 256 MB chunk (total 1 chunks, 256 MB) PFNs [0xffe0000 0xfff0000)'));
  t.ok(k.iomem.format().includes('fff0000000-ffffffffff : hmm_dmirror'));
  for (const dev of [0, 1]) {
    const fd = task.open(`/dev/hmm_dmirror${dev}`);
    t.ok(fd >= 0);
    t.equal(cmd(task, fd, U.HMM_DMIRROR_V5_GET_MEM_DEV_TYPE, { npages: 1 }).c.zone_device_type, U.HMM_DMIRROR_MEMORY_DEVICE_PRIVATE);
  }
  task.exit();
  t.same(hmmDmirrorExit(mod), []);
  t.notOk(k.iomem.format().some((l) => l.includes('hmm_dmirror')), 'regions released at unload');
  t.end();
});

t.test('both parameters: two generic devices on the SPM ranges, device N on the other parameter (seed MINOR quirk)', (t) => {
  const { k, task } = boot(GENERIC);
  t.equal(cmd(task, task.open('/dev/hmm_dmirror0'), U.HMM_DMIRROR_V5_GET_MEM_DEV_TYPE, { npages: 1 }).c.zone_device_type,
    U.HMM_DMIRROR_V5_MEMORY_DEVICE_GENERIC);
  // device 0 looks up spm_addr_dev1 (0x140000000), device 1 spm_addr_dev0: the whole 1 GiB resource each.
  t.equal(k.log[0], 'added new 256 MB chunk (total 1 chunks, 256 MB) PFNs [0x140000 0x180000)');
  t.equal(k.log[1], 'added new 256 MB chunk (total 1 chunks, 256 MB) PFNs [0x100000 0x140000)');
  t.end();
});

t.test('only one parameter: the seed logs an error and dereferences a NULL resource', (t) => {
  const k = new Kernel();
  t.throws(() => hmmDmirrorInit(k, { spm_addr_dev0: 0x100000000, spm_addr_dev1: 0 }),
    { name: 'KernelBug', kind: 'Oops', message: /NULL pointer dereference/ });
  t.ok(k.log.includes('Both spm_addr_dev parameters should be set'));
  t.match(checkModuleParams({ spm_addr_dev0: 0x100000000, spm_addr_dev1: 0 }), /give both \(generic or coherent mode\) or neither/);
  t.match(checkModuleParams({ spm_addr_dev0: 0x180000000, spm_addr_dev1: 0x140000000 }), /-ENXIO .*System RAM/);
  t.match(checkModuleParams({ spm_addr_dev0: 0x120000000, spm_addr_dev1: 0x140000000 }), /0x100000000-0x13fffffff, 0x140000000-0x17fffffff/);
  t.equal(checkModuleParams(GENERIC), null);
  t.equal(checkModuleParams(PRIVATE), null);
  t.end();
});

t.test('ioctl errors are negative errno values', (t) => {
  const { task } = boot();
  const fd = task.open('/dev/hmm_dmirror0');
  const p = buffer(task, 4);
  const mirror = buffer(task, 4);
  t.equal(cmd(task, fd, U.HMM_DMIRROR_READ, { addr: p + 1, ptr: mirror, npages: 1 }).ret, -EINVAL, 'unaligned address');
  t.equal(cmd(task, fd, U.HMM_DMIRROR_READ, { addr: p, ptr: mirror, npages: 0 }).ret, -EINVAL, 'no pages');
  t.equal(cmd(task, fd, 0xdead, { addr: p, ptr: mirror, npages: 1 }).ret, -EINVAL, 'unknown request');
  t.equal(cmd(task, fd, U.HMM_DMIRROR_READ, { addr: 0x1000, ptr: mirror, npages: 1 }).ret, -EFAULT, 'nothing mapped');
  const ro = buffer(task, 4, PROT_READ);
  t.equal(cmd(task, fd, U.HMM_DMIRROR_WRITE, { addr: ro, ptr: mirror, npages: 4 }).ret, -EPERM, 'write to read-only');
  const none = buffer(task, 4, PROT_NONE);
  t.equal(cmd(task, fd, U.HMM_DMIRROR_V5_MIGRATE, { addr: none, ptr: mirror, npages: 4, alloc_to_devmem: 1 }).ret, -EINVAL,
    'migrating a PROT_NONE range');
  const failed = cmd(task, fd, U.HMM_DMIRROR_READ, { addr: 0x1000, ptr: mirror, npages: 1, cpages: 7 });
  t.equal(failed.c.cpages, 7, 'a failed ioctl copies nothing back');
  t.equal(task.ioctl(99, U.HMM_DMIRROR_READ, U.newHmmDmirrorCmd()), -9, 'bad fd');
  t.end();
});

t.test('READ faults the range in once and copies what the CPU wrote', (t) => {
  const { task } = boot();
  const fd = task.open('/dev/hmm_dmirror0');
  const p = buffer(task, 64), mirror = buffer(task, 64);
  userStore(task.mm, p + 4096 * 63 + 8, new Uint8Array([1, 2, 3]));
  const r = cmd(task, fd, U.HMM_DMIRROR_READ, { addr: p, ptr: mirror, npages: 64 });
  t.same([r.ret, r.c.cpages, r.c.faults], [0, 64, 1]);
  const back = new Uint8Array(3);
  userLoad(task.mm, mirror + 4096 * 63 + 8, back);
  t.same([...back], [1, 2, 3]);
  const again = cmd(task, fd, U.HMM_DMIRROR_READ, { addr: p, ptr: mirror, npages: 64 });
  t.equal(again.c.faults, 0, 'the mirror still holds the translations');
  t.end();
});

function snapshot(task: Task, fd: number, p: number, npages: number): number[] {
  const out = buffer(task, 1);
  const r = cmd(task, fd, U.HMM_DMIRROR_SNAPSHOT, { addr: p, ptr: out, npages });
  if (r.ret) throw new Error(`snapshot ${r.ret}`);
  const m = new Uint8Array(npages);
  userLoad(task.mm, out, m);
  return [...m];
}

t.test('private pages fault back on CPU access; generic pages stay where they are (coherent)', (t) => {
  for (const [params, onDevice, afterCpu] of [
    [PRIVATE, U.HMM_DMIRROR_PROT_DEV_PRIVATE_LOCAL | U.HMM_DMIRROR_PROT_WRITE, U.HMM_DMIRROR_PROT_WRITE],
    [GENERIC, U.HMM_DMIRROR_PROT_DEV_GENERIC | U.HMM_DMIRROR_PROT_WRITE, U.HMM_DMIRROR_PROT_DEV_GENERIC | U.HMM_DMIRROR_PROT_WRITE],
  ] as const) {
    const { task } = boot(params);
    const fd = task.open('/dev/hmm_dmirror0');
    const p = buffer(task, 2), mirror = buffer(task, 2);
    userStore(task.mm, p, new Uint8Array(8192).fill(7));
    t.equal(cmd(task, fd, U.HMM_DMIRROR_V5_MIGRATE, { addr: p, ptr: mirror, npages: 2, alloc_to_devmem: 1 }).c.cpages, 2);
    t.same(snapshot(task, fd, p, 2), [onDevice, onDevice]);
    const b = new Uint8Array(1);
    userLoad(task.mm, p, b);
    t.equal(b[0], 7);
    t.same(snapshot(task, fd, p, 2), [afterCpu, onDevice], 'only the touched page moved, if any');
  }
  t.end();
});

t.test('explicit migration back: private pages return to RAM, the seed leaves generic pages in SPM', (t) => {
  for (const [params, after] of [
    [PRIVATE, U.HMM_DMIRROR_PROT_WRITE],
    // dmirror_devmem_fault_alloc_and_copy() only moves device-private pages ("page already in system or SPM").
    [GENERIC, U.HMM_DMIRROR_PROT_DEV_GENERIC | U.HMM_DMIRROR_PROT_WRITE],
  ] as const) {
    const { k, task } = boot(params);
    const fd = task.open('/dev/hmm_dmirror0');
    const p = buffer(task, 4), mirror = buffer(task, 4);
    userStore(task.mm, p, new Uint8Array(4 * 4096).fill(9));
    cmd(task, fd, U.HMM_DMIRROR_V5_MIGRATE, { addr: p, ptr: mirror, npages: 4, alloc_to_devmem: 1 });
    const back = cmd(task, fd, U.HMM_DMIRROR_V5_MIGRATE, { addr: p, ptr: mirror, npages: 4, alloc_to_devmem: 0 });
    t.same([back.ret, back.c.cpages], [0, 0], 'the seed reports no cpages going back');
    t.same(snapshot(task, fd, p, 4), [after, after, after, after]);
    t.equal(k.log.filter((l) => l.startsWith('page already in system or SPM')).length, params === GENERIC ? 4 : 0);
  }
  t.end();
});

t.test('a device page nobody will put blocks rmmod in memunmap_pages() (6.12 wait_for_completion(&pgmap->done)): a hung task', (t) => {
  const { k, mod, task } = boot();
  const fd = task.open('/dev/hmm_dmirror0');
  const p = buffer(task, 1), mirror = buffer(task, 1);
  cmd(task, fd, U.HMM_DMIRROR_V5_MIGRATE, { addr: p, ptr: mirror, npages: 1, alloc_to_devmem: 1 });
  const dpage = task.mm.pgtable.lookup(p)!.pfn[(p / 4096) % 512];
  getPage(k, dpage); // a reference nobody will drop
  task.exit();
  // Before: unload warned "memunmap_pages() found 1 device pages still referenced" and freed the struct page anyway.
  t.throws(() => hmmDmirrorExit(mod), { name: 'HungTask', where: 'memunmap_pages' });
  t.match(k.hung[0], /^INFO: task rmmod:\d+ blocked for more than 120 seconds\.$/m);
  t.match(k.hung[0], / memunmap_pages\n dmirror_device_remove_chunks\n dmirror_device_remove\n hmm_dmirror_exit\n __x64_sys_delete_module\n/);
  t.match(k.hung[0], /1 of 65536 device pages .* still referenced \(1 references: 1 held by nothing that maps or pins the page \(leaked\)/);
  t.ok(k.memmap.valid(dpage), 'the referenced page keeps its struct page');
  t.end();
});

t.test('lseek() on /dev/hmm_dmirror0 is default_llseek() (dmirror_fops.llseek in 6.12): it moves f_pos', (t) => {
  const { mod, task } = boot();
  const fd = task.open('/dev/hmm_dmirror0');
  t.equal(task.lseek(fd, 4096, SEEK_SET), 4096, 'SEEK_SET');
  t.equal(task.lseek(fd, 8, SEEK_CUR), 4104, 'SEEK_CUR');
  t.equal(task.lseek(fd, 0, SEEK_END), 0, 'the device node\'s i_size is 0');
  t.equal(task.lseek(fd, -1, SEEK_SET), -EINVAL, 'a negative position');
  task.exit();
  t.same(hmmDmirrorExit(mod), []);
  t.end();
});

t.test('the seed\'s MIGRATE back over pages still in system memory logs and leaves them, as its dmirror_devmem_fault_alloc_and_copy() does (no WARN)', (t) => {
  // Seed 000 patch 11: MIGRATE with alloc_to_devmem = 0 selects with MIGRATE_VMA_SELECT_SYSTEM on a GENERIC (or, here, a
  // COHERENT) device, and its helper moves device-private pages only: any other page is "already in system or SPM".
  for (const [params, dev] of [[GENERIC, 0], [COHERENT, 2]] as const) {
    const { k, task } = boot(params);
    const fd = task.open(`/dev/hmm_dmirror${dev}`);
    const p = buffer(task, 4), mirror = buffer(task, 4);
    userStore(task.mm, p, new Uint8Array(4 * 4096).fill(7));
    const before = [0, 1, 2, 3].map((i) => task.mm.pgtable.lookup(p)!.pfn[(p / 4096 + i) % 512]);
    const back = cmd(task, fd, U.HMM_DMIRROR_V5_MIGRATE, { addr: p, ptr: mirror, npages: 4, alloc_to_devmem: 0 });
    t.same([back.ret, back.c.cpages], [0, 0]);
    t.same(k.warnings, [], `${dev}: no WARN (6.12's helper would WARN at a system page)`);
    t.equal(k.log.filter((l) => l.startsWith('page already in system or SPM')).length, 4, 'each page logged');
    t.same([0, 1, 2, 3].map((i) => task.mm.pgtable.lookup(p)!.pfn[(p / 4096 + i) % 512]), before, 'the pages stay where they are');
    const data = new Uint8Array(4 * 4096);
    userLoad(task.mm, p, data);
    t.ok(data.every((b) => b === 7), 'data intact');
  }
  t.end();
});
