// SPDX-License-Identifier: GPL-2.0-only
/*
 * Tests of src/kernel-model/mremap.ts: mremap(2) as 6.12's mm/mremap.c
 * does it. The argument checks and their errnos; shrink and grow in
 * place; a move carries every kind of entry as it is (present ptes, the
 * zero page, device-private entries, a huge PMD as a unit or split when
 * the destination is not PMD-aligned); MREMAP_DONTUNMAP leaves the old
 * range mapped and empty; secondary MMUs hear MMU_NOTIFY_UNMAP over the
 * old range; moved anonymous pages stay reachable through rmap. Break-it:
 * a move without the notifier, or without the anon_vma link, is caught.
 *
 *   old:  |--- 2 MiB, PMD-aligned ---|        mremap(old, 2M, 2M, MAYMOVE|FIXED, new)
 *   new:            |--- 2 MiB ---|           new = old + 2M + offset, offset in {0, 512K, 1M}
 */
import t from 'tap';
import { Kernel } from '../../src/kernel-model/kernel.js';
import { Task } from '../../src/kernel-model/task.js';
import { EFAULT, EINVAL, ENOMEM } from '../../src/kernel-model/errno.js';
import { PAGE_SIZE, PMD_SIZE, HPAGE_PMD_NR } from '../../src/kernel-model/page.js';
import { MAP_ANONYMOUS, MAP_PRIVATE, MAP_SHARED, PROT_READ, PROT_WRITE, vmaLookup } from '../../src/kernel-model/mm.js';
import { MREMAP_DONTUNMAP, MREMAP_FIXED, MREMAP_MAYMOVE } from '../../src/kernel-model/mremap.js';
import { MADV_HUGEPAGE, MADV_NOHUGEPAGE } from '../../src/kernel-model/madvise.js';
import { userLoad, userStore } from '../../src/kernel-model/memory.js';
import { isDevicePrivateEntry } from '../../src/kernel-model/pgtable.js';
import { MMU_NOTIFY_EVENT_NAMES } from '../../src/kernel-model/mmu_notifier.js';
import { FatalSignal } from '../../src/kernel-model/bug.js';
import { rmapWalk } from '../../src/kernel-model/rmap.js';
import { hmmDmirrorInit } from '../../src/dmirror/test_hmm.js';
import * as U from '../../src/dmirror/test_hmm_uapi.js';
import { PRIVATE } from '../helpers.js';

const P = PAGE_SIZE, RW = PROT_READ | PROT_WRITE, ANON = MAP_PRIVATE | MAP_ANONYMOUS;
const NPAGES = HPAGE_PMD_NR;

function boot() {
  const k = new Kernel();
  k.transparentHugepage = 'madvise';
  const { ret } = hmmDmirrorInit(k, PRIVATE);
  if (ret) throw new Error(`load failed ${ret}`);
  const task = new Task(k);
  const fd = task.open('/dev/hmm_dmirror0');
  return { k, task, fd };
}

function cmd(task: Task, fd: number, req: number, addr: number, ptr: number, npages: number) {
  const c = { ...U.newHmmDmirrorCmd(), addr, ptr, npages };
  return { ret: task.ioctl(fd, req, c), c };
}

/** Page i of [addr, addr + n pages) gets the 32-bit word i + seed at its start. */
function stamp(task: Task, addr: number, n: number, seed: number): void {
  const w = new Uint8Array(4);
  for (let i = 0; i < n; i++) {
    new DataView(w.buffer).setUint32(0, i + seed, true);
    userStore(task.mm, addr + i * P, w);
  }
}
function badStamps(task: Task, addr: number, n: number, seed: number): number {
  const w = new Uint8Array(4);
  let bad = 0;
  for (let i = 0; i < n; i++) {
    userLoad(task.mm, addr + i * P, w);
    if (new DataView(w.buffer).getUint32(0, true) !== i + seed) bad++;
  }
  return bad;
}

/** The layout of hmm-tests.c's migrate_remap_fault: a PMD-aligned 2 MiB VMA and a hole after it for the destination. */
function layout(task: Task, thp: boolean) {
  const ptr = task.mmap(0, 8 * PMD_SIZE, RW, ANON);
  const map = Math.ceil(ptr / PMD_SIZE) * PMD_SIZE;
  task.madvise(map, PMD_SIZE, thp ? MADV_HUGEPAGE : MADV_NOHUGEPAGE);
  task.munmap(map + PMD_SIZE, 2 * PMD_SIZE);
  return { ptr, map };
}

t.test('argument checks, in the order and with the errnos of 6.12', async (t) => {
  const { task } = boot();
  const a = task.mmap(0, 4 * P, RW, ANON);
  t.equal(task.mremap(a, P, P, 8), -EINVAL, 'unknown flag');
  t.equal(task.mremap(a, P, P, MREMAP_FIXED, a + 8 * P), -EINVAL, 'MREMAP_FIXED needs MREMAP_MAYMOVE');
  t.equal(task.mremap(a, P, 2 * P, MREMAP_MAYMOVE | MREMAP_DONTUNMAP), -EINVAL, 'MREMAP_DONTUNMAP does not resize');
  t.equal(task.mremap(a, P, P, MREMAP_DONTUNMAP), -EINVAL, 'MREMAP_DONTUNMAP needs MREMAP_MAYMOVE');
  t.equal(task.mremap(a + 1, P, P, 0), -EINVAL, 'unaligned address');
  t.equal(task.mremap(a, P, 0, 0), -EINVAL, 'new length 0');
  t.equal(task.mremap(a + 64 * P, P, P, 0), -EFAULT, 'nothing mapped at addr');
  t.equal(task.mremap(a, 8 * P, 8 * P, MREMAP_MAYMOVE | MREMAP_FIXED, a + 100 * P), -EFAULT, 'old range past the VMA');
  t.equal(task.mremap(a, 2 * P, 2 * P, MREMAP_MAYMOVE | MREMAP_FIXED, a + P), -EINVAL, 'overlapping ranges');
  t.equal(task.mremap(a, 2 * P, 2 * P, MREMAP_MAYMOVE | MREMAP_FIXED, a + 2 * P + 1), -EINVAL, 'unaligned new address');
  t.equal(task.mremap(a, 0, P, MREMAP_MAYMOVE), -EINVAL, 'a zero old length duplicates only shared mappings');
  const b = task.mmap(a + 4 * P, 4 * P, PROT_READ, ANON); // a different VMA right after a: a cannot grow in place
  t.equal(b, a + 4 * P);
  t.equal(task.mremap(a, 4 * P, 8 * P, 0), -ENOMEM, 'growing needs room or MREMAP_MAYMOVE');
  t.equal(task.mm.mapCount, 2, 'no failed call changed the VMAs');
});

t.test('shrink and grow in place', async (t) => {
  const { task } = boot();
  const a = task.mmap(0, 8 * P, RW, ANON);
  stamp(task, a, 8, 1);
  t.equal(task.mremap(a, 8 * P, 4 * P, 0), a, 'shrink keeps the address');
  t.equal(vmaLookup(task.mm, a)!.vmEnd, a + 4 * P, 'and unmaps the tail');
  t.equal(task.mremap(a, 4 * P, 6 * P, 0), a, 'grow in place into the free space after it');
  t.equal(vmaLookup(task.mm, a)!.vmEnd, a + 6 * P);
  t.equal(badStamps(task, a, 4, 1), 0, 'the kept pages keep their data');
  const z = new Uint8Array(4);
  userLoad(task.mm, a + 5 * P, z);
  t.same([...z], [0, 0, 0, 0], 'the grown part is new, zero-filled memory');
});

t.test('MREMAP_MAYMOVE: a grow that cannot stay moves the pages to a new VMA', async (t) => {
  const { task } = boot();
  const a = task.mmap(0, 4 * P, RW, ANON);
  task.mmap(a + 4 * P, P, PROT_READ, ANON);
  stamp(task, a, 4, 7);
  const n = task.mremap(a, 4 * P, 16 * P, MREMAP_MAYMOVE);
  t.ok(n > 0 && n !== a, 'a new address');
  t.equal(badStamps(task, n, 4, 7), 0, 'data moved with the ptes');
  t.equal(vmaLookup(task.mm, a), null, 'the old range is unmapped');
  t.throws(() => userLoad(task.mm, a, new Uint8Array(1)), FatalSignal, 'touching it is SIGSEGV');
});

for (const thp of [false, true]) {
  for (const off of [0, PMD_SIZE / 4, PMD_SIZE / 2]) {
    t.test(`move ${thp ? 'a THP' : '4K pages'} to +2M+${off / 1024}K after migration: entries move as they are, UNMAP over the old range`, async (t) => {
      const { task, fd } = boot();
      const { map } = layout(task, thp);
      stamp(task, map, NPAGES, 3);
      if (thp) t.ok(task.mm.pgtable.lookupHuge(map) !== undefined, 'a huge PMD before the move');
      const mirror = task.mmap(0, PMD_SIZE, RW, ANON);
      const m = cmd(task, fd, U.HMM_DMIRROR_MIGRATE_TO_DEV, map, mirror, NPAGES);
      t.equal(m.ret, 0);
      t.equal(m.c.cpages, NPAGES);
      const seen: string[] = [];
      task.mm.notifierLog = (r) => seen.push(`${MMU_NOTIFY_EVENT_NAMES[r.event]} ${r.start === map ? 'old' : (r.start - map).toString(16)}+${(r.end - r.start).toString(16)}`);
      const to = map + PMD_SIZE + off;
      t.equal(task.mremap(map, PMD_SIZE, PMD_SIZE, MREMAP_MAYMOVE | MREMAP_FIXED, to), to);
      t.ok(seen.includes(`UNMAP old+${PMD_SIZE.toString(16)}`), 'MMU_NOTIFY_UNMAP over the old range');
      const tbl = task.mm.pgtable.lookup(to + P)!;
      t.ok(tbl !== undefined && isDevicePrivateEntry(tbl.val[((to + P) / P) % 512]), 'device-private entries at the new address');
      t.equal(vmaLookup(task.mm, map), null, 'old range unmapped');
      task.mm.notifierLog = undefined;
      t.equal(badStamps(task, to, NPAGES, 3), 0, 'CPU faults the device pages back through the new address');
    });
  }
}

t.test('a huge PMD moves whole to a PMD-aligned destination, and is split for an unaligned one', async (t) => {
  for (const off of [0, PMD_SIZE / 2]) {
    const { task } = boot();
    const { map } = layout(task, true);
    stamp(task, map, NPAGES, 11);
    const h = task.mm.pgtable.lookupHuge(map);
    t.ok(h !== undefined);
    const to = map + PMD_SIZE + off;
    t.equal(task.mremap(map, PMD_SIZE, PMD_SIZE, MREMAP_MAYMOVE | MREMAP_FIXED, to), to);
    if (off === 0) t.equal(task.mm.pgtable.lookupHuge(to), h, 'the same huge entry, now at the new pmd');
    else t.equal(task.mm.pgtable.lookupHuge(to), undefined, 'split: ptes at an unaligned destination');
    t.equal(task.mm.pgtable.lookupHuge(map), undefined, 'nothing left at the old pmd');
    t.equal(badStamps(task, to, NPAGES, 11), 0, `data intact (offset ${off})`);
  }
});

t.test('MREMAP_DONTUNMAP: the old range stays mapped and empty; the moved VMA keeps the pages', async (t) => {
  const { task } = boot();
  const { map } = layout(task, false);
  stamp(task, map, 16, 5);
  const old = vmaLookup(task.mm, map)!;
  const av = old.anonVma;
  const to = map + PMD_SIZE;
  t.equal(task.mremap(map, PMD_SIZE, PMD_SIZE, MREMAP_MAYMOVE | MREMAP_FIXED | MREMAP_DONTUNMAP, to), to);
  t.equal(vmaLookup(task.mm, map), old, 'the old VMA is still there');
  t.equal(old.anonVma, null, 'a whole VMA moved: it left its anon_vma');
  t.equal(vmaLookup(task.mm, to)!.anonVma, av, 'the new VMA has it');
  t.equal(badStamps(task, to, 16, 5), 0);
  const z = new Uint8Array(4);
  userLoad(task.mm, map, z);
  t.same([...z], [0, 0, 0, 0], 'the old range reads as fresh zero-filled memory');
});

t.test('a shared mapping moves too (the same shmem pages)', async (t) => {
  const { task } = boot();
  const a = task.mmap(0, 4 * P, RW, MAP_SHARED | MAP_ANONYMOUS);
  stamp(task, a, 4, 9);
  const n = task.mremap(a, 4 * P, 4 * P, MREMAP_MAYMOVE | MREMAP_FIXED, a + 64 * P);
  t.equal(n, a + 64 * P);
  t.equal(badStamps(task, n, 4, 9), 0);
});

t.test('break it: a move that does not tell the notifiers leaves the device reading the old addresses', async (t) => {
  for (const broken of [false, true]) {
    const { k, task, fd } = boot();
    if (broken) k.inject.movePageTablesInvalidate = (_r, move) => move();
    const a = task.mmap(0, 4 * P, RW, ANON);
    stamp(task, a, 4, 1);
    const mirror = task.mmap(0, 4 * P, RW, ANON);
    t.equal(cmd(task, fd, U.HMM_DMIRROR_READ, a, mirror, 4).ret, 0, 'the device mirrors the range');
    task.mremap(a, 4 * P, 4 * P, MREMAP_MAYMOVE | MREMAP_FIXED | MREMAP_DONTUNMAP, a + 64 * P);
    // The old range is mapped but empty (DONTUNMAP): a device read there must fault it in again, as zeroes.
    const r = cmd(task, fd, U.HMM_DMIRROR_READ, a, mirror, 4);
    const w = new Uint8Array(4);
    userLoad(task.mm, mirror + P, w);
    if (!broken) t.same({ faults: r.c.faults, word: w[0] }, { faults: 1, word: 0 }, 'the mirror forgot the old range');
    else t.same({ faults: r.c.faults, word: w[0] }, { faults: 0, word: 2 }, 'broken: the device still reads the moved page at the old address');
  }
});

t.test('break it: a move that does not link the new VMA into the anon_vma loses the pages to rmap', async (t) => {
  for (const broken of [false, true]) {
    const { k, task } = boot();
    if (broken) k.inject.copyVmaAnonVmaClone = () => {};
    const a = task.mmap(0, 4 * P, RW, ANON);
    stamp(task, a, 4, 1);
    const n = task.mremap(a, 4 * P, 4 * P, MREMAP_MAYMOVE | MREMAP_FIXED, a + 64 * P);
    // Where rmap finds each moved page: what try_to_migrate(), remove_migration_ptes() and reclaim rely on.
    const walk = (): string => {
      const where: number[] = [];
      for (let i = 0; i < 4; i++) {
        const tbl = task.mm.pgtable.lookup(n + i * P)!;
        rmapWalk(k, tbl.pfn[((n + i * P) / P) % 512], (_vma, addr) => where.push((addr - n) / P));
      }
      return where.join(',');
    };
    if (!broken) t.equal(walk(), '0,1,2,3', 'linked: rmap finds every moved page at its new address');
    // Unlinked, the anon_vma went with the old VMA's munmap while its pages are still mapped.
    else t.throws(walk, { name: 'KernelBug', message: /slab-use-after-free/ }, 'not linked: the walk reads a freed anon_vma (caught)');
  }
});
