// SPDX-License-Identifier: GPL-2.0-only
/*
 * Kernel reports (bug.ts, kallsyms.ts) in the shape of the 6.12 console,
 * from real paths of the model and the driver:
 *
 * - the READ path oops: a device-private page in the mirror, read by
 *   dmirror_do_read() through memcpy_from_page() (static inline): RIP
 *   dmirror_do_read, as the real kernel's;
 * - the WRITE path oops: RIP dmirror_fops_unlocked_ioctl (dmirror_write()
 *   and dmirror_do_write() inlined there, as the real oops shows);
 * - a WARN_ON() in dmirror_do_fault(), reported at dmirror_fault with the
 *   file and line of the WARN_ON in lib/test_hmm.c 6.12;
 * - a BUG_ON() as "kernel BUG at <file>:<line>!".
 *
 * The mirror entries are dropped with an MMU_NOTIFY_CLEAR over the range
 * (what __split_huge_pmd() sends at a VMA split in 6.12), so the next
 * device access faults and hmm_range_fault() hands the driver its own
 * device-private pages.
 */
import t from 'tap';
import { Kernel } from '../../src/kernel-model/kernel.js';
import { Task } from '../../src/kernel-model/task.js';
import { KernelBug, kernelReport, bugSite } from '../../src/kernel-model/bug.js';
import { cName, INLINED } from '../../src/kernel-model/kallsyms.js';
import { MAP_ANONYMOUS, MAP_PRIVATE, PROT_READ, PROT_WRITE } from '../../src/kernel-model/mm.js';
import { userStore } from '../../src/kernel-model/memory.js';
import { mmuNotifierRangeInit, mmuNotifierInvalidateRangeStart, mmuNotifierInvalidateRangeEnd,
  MMU_NOTIFY_CLEAR } from '../../src/kernel-model/mmu_notifier.js';
import { hmmDmirrorInit } from '../../src/dmirror/test_hmm.js';
import * as U from '../../src/dmirror/test_hmm_uapi.js';
import type { HmmRange } from '../../src/kernel-model/hmm.js';
import { Memmap, PAGE_SIZE } from '../../src/kernel-model/page.js';
import { pteIndex } from '../../src/kernel-model/pgtable.js';

const NPAGES = 4;

/** A private-mode kernel with NPAGES migrated to device 0 and the mirror's entries for them dropped. */
function deviceOwned() {
  const k = new Kernel();
  const { ret, mod } = hmmDmirrorInit(k, { spm_addr_dev0: 0, spm_addr_dev1: 0 });
  if (ret || !mod) throw new Error(`test_hmm did not load: ${ret}`);
  const task = new Task(k);
  const fd = task.open('/dev/hmm_dmirror0');
  const addr = task.mmap(0, NPAGES * PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS);
  const buf = task.mmap(0, NPAGES * PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS);
  for (let p = 0; p < NPAGES; p++) userStore(task.mm, addr + p * PAGE_SIZE, new Uint8Array([p + 1]));
  const cmd = (req: number) => {
    const c = { ...U.newHmmDmirrorCmd(), addr, ptr: buf, npages: NPAGES };
    return task.ioctl(fd, req, c);
  };
  if (cmd(U.HMM_DMIRROR_MIGRATE_TO_DEV) !== 0) throw new Error('migrate failed');
  const r = mmuNotifierRangeInit(MMU_NOTIFY_CLEAR, 0, task.mm, addr, addr + NPAGES * PAGE_SIZE);
  mmuNotifierInvalidateRangeStart(r);
  mmuNotifierInvalidateRangeEnd(r);
  return { k, task, cmd };
}

function oops(fn: () => unknown): KernelBug {
  try {
    fn();
  } catch (e) {
    if (e instanceof KernelBug) return e;
    throw e;
  }
  throw new Error('no oops');
}

t.test('READ of a device-private page the mirror re-faulted: the page fault oops at dmirror_do_read', async (t) => {
  const { task, cmd } = deviceOwned();
  const e = oops(() => cmd(U.HMM_DMIRROR_READ));
  const lines = e.message.split('\n');
  t.match(lines[0], /^BUG: unable to handle page fault for address: ffff8[0-9a-f]{11}$/, 'show_fault_oops()\'s first line');
  t.equal(lines[1], '#PF: supervisor read access in kernel mode');
  t.equal(lines[2], '#PF: error_code(0x0000) - not-present page');
  t.equal(lines[3], 'Oops: Oops: 0000 [#1] SMP', '__die("Oops") header');
  t.equal(lines[4], `CPU: 0 UID: 0 PID: ${task.pid} Comm: hmm-tests Not tainted 6.12.117 #1`, 'current is the test process');
  t.equal(lines[5], 'RIP: 0010:dmirror_do_read+0x0/0x0', 'memcpy_from_page() folds into dmirror_do_read (static inline)');
  const trace = lines.slice(lines.indexOf(' <TASK>') + 1, lines.indexOf(' </TASK>'));
  t.same(trace, [' dmirror_read+0x0/0x0', ' dmirror_fops_unlocked_ioctl+0x0/0x0', ' __x64_sys_ioctl+0x0/0x0',
    ' do_syscall_64+0x0/0x0', ' entry_SYSCALL_64_after_hwframe+0x0/0x0'], 'the call trace by C names, up to the syscall entry');
  t.equal(lines.at(-2), '---[ end trace 0000000000000000 ]---');
  t.match(lines.at(-1), /^model: memcpy_from_page\(\): read of device-private page pfn 0x[0-9a-f]+, which has no kernel mapping$/);
  t.equal(e.where, 'memcpy_from_page', 'the site is still where the check is');
  t.equal(e.summary.split('\n').length, 1, 'a one-line summary for one-line contexts');
});

t.test('WRITE of it: RIP dmirror_fops_unlocked_ioctl, dmirror_write() and dmirror_do_write() inlined there', async (t) => {
  const { cmd } = deviceOwned();
  const e = oops(() => cmd(U.HMM_DMIRROR_WRITE));
  const lines = e.message.split('\n');
  t.equal(lines[1], '#PF: supervisor write access in kernel mode');
  t.equal(lines[2], '#PF: error_code(0x0002) - not-present page');
  t.ok(lines.includes('RIP: 0010:dmirror_fops_unlocked_ioctl+0x0/0x0'), 'the RIP');
  t.equal(lines[lines.indexOf(' <TASK>') + 1], ' __x64_sys_ioctl+0x0/0x0', 'its caller next');
});

t.test('a WARN_ON() in dmirror_do_fault() is reported at dmirror_fault with lib/test_hmm.c\'s line', async (t) => {
  const k = new Kernel();
  const { mod } = hmmDmirrorInit(k, { spm_addr_dev0: 0, spm_addr_dev1: 0 });
  const task = new Task(k);
  const fd = task.open('/dev/hmm_dmirror0');
  const addr = task.mmap(0, PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS);
  const buf = task.mmap(0, PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS);
  // Break hmm_range_fault() on purpose, once: what it fills is lost, the driver reads zeroes (no HMM_PFN_VALID).
  // dmirror_read() then finds nothing mirrored and faults again, and once the WARN has fired the walks are left alone.
  const real = new WeakMap<HmmRange, Float64Array>();
  k.inject.hmmWalkStart = (range: HmmRange) => {
    if (k.warnings.length === 0 && !real.has(range)) {
      real.set(range, range.hmmPfns);
      Object.defineProperty(range, 'hmmPfns', { get: () => new Float64Array(64), configurable: true });
    } else if (k.warnings.length > 0 && real.has(range)) {
      Object.defineProperty(range, 'hmmPfns', { value: real.get(range), writable: true, configurable: true });
    }
  };
  task.ioctl(fd, U.HMM_DMIRROR_READ, { ...U.newHmmDmirrorCmd(), addr, ptr: buf, npages: 1 });
  const at = k.log.findIndex((l) => l.startsWith('WARNING:'));
  t.equal(k.log[at], `WARNING: CPU: 0 PID: ${task.pid} at lib/test_hmm.c:272 dmirror_fault+0x0/0x0`,
    '__warn()\'s line: the WARN_ON(!(*pfns & HMM_PFN_VALID)) of dmirror_do_fault(), in dmirror_fault (inlined)');
  t.equal(k.log[k.log.indexOf('Call Trace:', at) + 2], ' dmirror_read+0x0/0x0', 'called from dmirror_read');
  t.equal(k.warnings[0], 'WARNING: dmirror_do_fault: entry not valid after a successful fault', 'the one-line summary is kept');
  t.ok(mod, 'module loaded');
});

t.test('a BUG_ON(): kernel BUG at the 6.12 file and line, RIP the caller of the static inline put_page()', async (t) => {
  const k = new Kernel();
  const task = new Task(k);
  const addr = task.mmap(0, PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS);
  userStore(task.mm, addr, new Uint8Array([1]));
  const pfn = task.mm.pgtable.lookup(addr)!.pfn[pteIndex(addr)];
  k.memmap.block(pfn).refcount[Memmap.slot(pfn)] = 0; // a reference lost somewhere: zap's put_page() underflows
  const e = oops(() => task.munmap(addr, PAGE_SIZE));
  const lines = e.message.split('\n');
  t.equal(lines[0], 'kernel BUG at include/linux/mm.h:1140!', 'put_page_testzero()\'s VM_BUG_ON_PAGE()');
  t.equal(lines[1], 'Oops: invalid opcode: 0000 [#1] SMP', 'the ud2 of BUG()');
  const rip = lines.find((l) => l.startsWith('RIP:'));
  t.equal(rip, 'RIP: 0010:zap_page_range+0x0/0x0', 'RIP in put_page()\'s caller');
  t.ok(lines.includes(' __x64_sys_munmap+0x0/0x0'), 'from munmap(2)');
});

t.test('names: camelCase to C, the inlined table, and the fallbacks of a report', async (t) => {
  t.equal(cName('dmirrorDoRead'), 'dmirror_do_read');
  t.equal(cName('__folioSetAnonExclusive'), '__folio_set_anon_exclusive');
  t.equal(cName('faultInUserPage'), 'do_user_addr_fault', 'a renamed one');
  for (const [fn, why] of INLINED) t.ok(why.length > 0, `${fn}: ${why}`);
  t.equal(bugSite('WARNING', 'dmirror_do_fault', 'no page'), 'lib/test_hmm.c:275');
  t.equal(bugSite('BUG', 'no_such_function', 'x'), null);
  const lines = kernelReport({ kind: 'BUG', where: 'schedule', message: 'soft lockup: thread 2 keeps waking', trace: [], task: null });
  t.equal(lines[0], 'BUG: soft lockup: thread 2 keeps waking', 'a check with no 6.12 line: BUG: and what broke');
  t.equal(lines[1], 'RIP: 0010:schedule+0x0/0x0', 'with no model frame the RIP is the site');
  t.notOk(lines.some((l) => l.startsWith('model:')), 'and no second explanation');
});
