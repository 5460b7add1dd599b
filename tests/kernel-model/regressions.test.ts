// SPDX-License-Identifier: GPL-2.0-only
/*
 * Behaviours a review found the model got wrong (each fixed in src/ after the
 * 6.12 function named in its test), kept as regression tests.
 */
import t from 'tap';
import { Kernel } from '../../src/kernel-model/kernel.js';
import { FatalSignal, SIGSEGV } from '../../src/kernel-model/bug.js';
import { ENOMEM, IS_ERR } from '../../src/kernel-model/errno.js';
import { PAGE_SIZE, physToPfn } from '../../src/kernel-model/page.js';
import { MAP_ANONYMOUS, MAP_FIXED, MAP_PRIVATE, MmStruct, PROT_NONE, PROT_READ, PROT_WRITE, VM_WRITE, doMmap,
  doMprotect, doMunmap, vmaLookup } from '../../src/kernel-model/mm.js';
import { copyFromUser, userLoad, userStore } from '../../src/kernel-model/memory.js';
import { pteIndex, _PAGE_RW } from '../../src/kernel-model/pgtable.js';
import { getPage, pageMapcount, pageRefCount, putPage } from '../../src/kernel-model/page_alloc.js';
import { IORESOURCE_BUSY, IORESOURCE_MEM, IORESOURCE_SYSTEM_RAM, IORES_DESC_NONE, REGION_INTERSECTS } from '../../src/kernel-model/resource.js';
import { MIGRATE_VMA_SELECT_DEVICE_PRIVATE, migrateVmaFinalize, migrateVmaSetup } from '../../src/kernel-model/migrate_device.js';
import { registeredDevice, MiB, migrateToDevice, newMigrateVma, pattern, recordingNotifier } from './fixtures/fake_device.js';

const X = 0x10000000, P = PAGE_SIZE, RW = PROT_READ | PROT_WRITE;
const FIXED = MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED;
const pteAt = (mm: MmStruct, a: number): [number, number] => {
  const tbl = mm.pgtable.lookup(a);
  return tbl === undefined ? [0, 0] : [tbl.val[pteIndex(a)], tbl.pfn[pteIndex(a)]];
};

// Found by review: see the commit that fixed it.
t.test('a pinned device-private page that is not migrated keeps exactly its references', async (t) => {
  const k = new Kernel();
  const mm = new MmStruct(k);
  doMmap(mm, X, P, RW, FIXED);
  userStore(mm, X, pattern(6, 16));
  const dev = registeredDevice(k);
  migrateToDevice(dev, vmaLookup(mm, X)!, X, 1);
  const d = pteAt(mm, X)[1];
  getPage(k, d);
  getPage(k, d); // two pins: more than migrate_vma_check_page() tolerates
  const m = newMigrateVma(vmaLookup(mm, X)!, X, 1, dev.owner, MIGRATE_VMA_SELECT_DEVICE_PRIVATE);
  t.equal(migrateVmaSetup(k, m), 0);
  t.equal(m.src[0], 0, 'not migrated');
  t.equal(m.cpages, 0);
  t.same([pageRefCount(k, d), pageMapcount(k, d)], [3, 1], 'mapping + two pins, nothing else');
  migrateVmaFinalize(k, m);
  putPage(k, d);
  putPage(k, d);
  t.equal(doMunmap(mm, X, P), 0);
  t.equal(pageRefCount(k, d), 0, 'the last put freed it');
  t.same(dev.freed, [d], 'through page_free');
});

// Found by review: see the commit that fixed it.
t.test('mprotect(PROT_NONE) makes populated pages inaccessible', async (t) => {
  const k = new Kernel();
  const mm = new MmStruct(k);
  doMmap(mm, X, 2 * P, RW, FIXED);
  userStore(mm, X, Uint8Array.of(42));          // a real page
  userLoad(mm, X + P, new Uint8Array(1));       // the zero page
  t.equal(doMprotect(mm, X, 2 * P, PROT_NONE), 0);
  for (const a of [X, X + P]) {
    let caught: unknown = null;
    try { userLoad(mm, a, new Uint8Array(1)); } catch (e) { caught = e; }
    t.ok(caught instanceof FatalSignal && caught.signal === SIGSEGV, `a load at +${a - X} is SIGSEGV (got ${String(caught)})`);
    t.equal(copyFromUser(mm, new Uint8Array(1), a), 1, 'copy_from_user copies nothing');
  }
});

t.test('mprotect(PROT_NONE) of a read-only mapping invalidates (MMU_NOTIFY_PROTECTION_VMA)', async (t) => {
  const k = new Kernel();
  const mm = new MmStruct(k);
  doMmap(mm, X, P, PROT_READ, FIXED);
  userLoad(mm, X, new Uint8Array(1));
  const { seen } = recordingNotifier(mm, X, P);
  t.equal(doMprotect(mm, X, P, PROT_NONE), 0);
  t.same(seen.map((s) => s.event), ['PROTECTION_VMA'], 'a device mirror is told to drop its read mapping');
});

// Found by review: see the commit that fixed it.
t.test('region_intersects does not look below a matching resource', async (t) => {
  const k = new Kernel();
  // 16 MiB..32 MiB is System RAM holding the kernel image (Kernel code/rodata/data/bss children).
  t.equal(k.iomem.regionIntersects(0x1000000, 0x1000000, IORESOURCE_SYSTEM_RAM, IORES_DESC_NONE), REGION_INTERSECTS);
});

t.test('region_intersects with IORESOURCE_BUSY in the flags', async (t) => {
  const k = new Kernel();
  const r = k.iomem.requestFreeMemRegion(256 * MiB, 'hmm_dmirror', 128 * MiB);
  t.notOk(IS_ERR(r));
  t.equal(k.iomem.regionIntersects(0xfff0000000, 256 * MiB, IORESOURCE_MEM | IORESOURCE_BUSY, IORES_DESC_NONE),
    REGION_INTERSECTS, 'the busy region matches (p->flags & flags) == flags');
});

// Found by review: see the commit that fixed it.
t.test('request_free_mem_region fails with -ERANGE when the space is full', async (t) => {
  const ERANGE = 34; // not in errno.ts yet
  const k = new Kernel({ machine: { physBits: 33, memoryMap: [{ start: 0, size: 8 * 1024 * MiB, type: 'System RAM' }] } });
  const r = k.iomem.requestFreeMemRegion(256 * MiB, 'hmm_dmirror', 128 * MiB);
  t.same(r, { err: -ERANGE }, 'get_free_mem_region() returns ERR_PTR(-ERANGE)');
  t.not(IS_ERR(r) && r.err, -ENOMEM);
});

// DEVIATION 5 -> pgtable_faults.test.ts
t.test('mprotect changes the VMAs before a hole, then returns -ENOMEM', async (t) => {
  const k = new Kernel();
  const mm = new MmStruct(k);
  doMmap(mm, X, 2 * P, RW, FIXED);
  t.equal(doMprotect(mm, X, 4 * P, PROT_READ), -ENOMEM, '-ENOMEM for the hole at X+2P');
  t.equal(vmaLookup(mm, X)!.vmFlags & VM_WRITE, 0, 'but [X, X+2P) is read-only now, as do_mprotect_pkey() leaves it');
});

// DEVIATION 6 -> pgtable_faults.test.ts
t.test('mprotect(RW) after mprotect(READ) makes exclusive anon ptes writable and notifies', async (t) => {
  const k = new Kernel();
  const mm = new MmStruct(k);
  doMmap(mm, X, P, RW, FIXED);
  userStore(mm, X, Uint8Array.of(1));
  doMprotect(mm, X, P, PROT_READ);
  const { seen } = recordingNotifier(mm, X, P);
  t.equal(doMprotect(mm, X, P, RW), 0);
  t.same(seen.map((s) => s.event), ['PROTECTION_VMA'], 'change_protection() runs for every mprotect_fixup()');
  t.equal(pteAt(mm, X)[0] & _PAGE_RW, _PAGE_RW, 'MM_CP_TRY_CHANGE_WRITABLE: the pte is writable at once');
});
void physToPfn;
