// SPDX-License-Identifier: GPL-2.0-only
/*
 * Tests of src/kernel-model/resource.ts (kernel/resource.c): the iomem tree,
 * request_free_mem_region(), release_mem_region(), lookup_resource(),
 * region_intersects().
 */
import t from 'tap';
import { Kernel } from '../../src/kernel-model/kernel.js';
import { IS_ERR } from '../../src/kernel-model/errno.js';
import { IORESOURCE_BUSY, IORESOURCE_MEM, IORESOURCE_SYSTEM_RAM, IORES_DESC_DEVICE_PRIVATE_MEMORY,
  IORES_DESC_NONE, IORES_DESC_SOFT_RESERVED, REGION_DISJOINT, REGION_INTERSECTS, REGION_MIXED,
  type Resource } from '../../src/kernel-model/resource.js';
import { hmmDmirrorExit, hmmDmirrorInit } from '../../src/dmirror/test_hmm.js';

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;
const CHUNK = 256 * MiB;
const ALIGN = 128 * MiB;

function take(k: Kernel, size = CHUNK, name = 'hmm_dmirror'): Resource {
  const r = k.iomem.requestFreeMemRegion(size, name, ALIGN);
  if (IS_ERR(r)) throw new Error(`requestFreeMemRegion failed: ${r.err}`);
  return r;
}

t.test('request_free_mem_region goes down from the top of the 40-bit space', async (t) => {
  const k = new Kernel();
  t.equal(k.iomem.root.end, 2 ** 40 - 1, 'iomem_resource spans 40 physical address bits');
  const a = take(k), b = take(k);
  t.equal(a.start, 0xfff0000000, 'first 256 MiB region at the top');
  t.equal(a.end, 0xffffffffff);
  t.equal(b.start, 0xffe0000000, 'second one right below it');
  t.equal(b.end, 0xffefffffff);
  for (const r of [a, b]) {
    t.equal(r.parent, k.iomem.root, 'claimed at the top level');
    t.equal(r.desc, IORES_DESC_DEVICE_PRIVATE_MEMORY, 'described as device-private memory');
    t.ok(r.flags & IORESOURCE_BUSY, 'busy');
    t.equal(r.start % ALIGN, 0, '128 MiB aligned');
  }
  const c = take(k, 100 * MiB);
  t.equal(c.size, 128 * MiB, 'a size is rounded up to the alignment');
  t.equal(c.start, 0xffd8000000, 'and placed at the next aligned slot down');
});

t.test('request_free_mem_region skips a range that is already claimed', async (t) => {
  const k = new Kernel();
  const blocker = k.iomem.requestMemRegion(0xffe0000000, 64 * MiB, 'somebody');
  t.ok(blocker, 'a busy region in the way');
  const a = take(k), b = take(k);
  t.equal(a.start, 0xfff0000000);
  t.equal(b.start, 0xffd0000000, 'the slot overlapping the other region is skipped');
});

t.test('release_mem_region gives the range back', async (t) => {
  const k = new Kernel();
  const before = k.iomem.root.children.length;
  const a = take(k);
  t.equal(k.iomem.root.children.length, before + 1);
  t.equal(k.iomem.releaseMemRegion(a.start, a.size), true, 'released');
  t.equal(a.parent, null, 'unlinked');
  t.equal(k.iomem.root.children.length, before, 'the tree is as before');
  t.notOk(k.iomem.format().some((l) => l.includes('hmm_dmirror')), '/proc/iomem no longer shows it');
  t.equal(take(k).start, 0xfff0000000, 'the same range is handed out again');
  t.equal(k.iomem.releaseMemRegion(0xfff0000000, CHUNK / 2), false, 'a span that is not a region is not released');
  t.equal(k.iomem.releaseMemRegion(0x200000000, CHUNK), false, 'nor one nobody claimed');
});

t.test('request_free_mem_region fails when the space is full', async (t) => {
  // 8 GiB of physical address space, all of it System RAM.
  const k = new Kernel({ machine: { physBits: 33, memoryMap: [{ start: 0, size: 8 * GiB, type: 'System RAM' }] } });
  const r = k.iomem.requestFreeMemRegion(CHUNK, 'hmm_dmirror', ALIGN);
  t.ok(IS_ERR(r), 'an ERR_PTR');
  t.ok(IS_ERR(r) && r.err < 0, 'holding a negative errno');
  t.equal(k.iomem.root.children.length, 1, 'nothing was inserted');
});

t.test('lookup_resource finds top-level resources by exact start only', async (t) => {
  const k = new Kernel();
  const spm0 = k.iomem.lookupResource(0x100000000);
  const spm1 = k.iomem.lookupResource(0x140000000);
  t.ok(spm0 && spm1, 'both Soft Reserved ranges are found');
  t.equal(spm0!.name, 'Soft Reserved');
  t.equal(spm0!.end, 0x13fffffff, '1 GiB');
  t.equal(spm0!.desc, IORES_DESC_SOFT_RESERVED);
  t.equal(spm1!.end, 0x17fffffff);
  t.equal(k.iomem.lookupResource(0x100001000), null, 'an address inside a range is not a start');
  t.equal(k.iomem.lookupResource(0x1000000), null, '"Kernel code" is a child of System RAM, not found');
  t.ok(k.iomem.format().some((l) => l === '  01000000-015fffff : Kernel code'), 'yet it is in the tree, one level down');
  t.equal(k.iomem.lookupResource(0x100000)?.name, 'System RAM', 'System RAM itself is top-level');
  t.equal(k.iomem.lookupResource(0x200000000), null, 'nothing at 8 GiB');
});

t.test('region_intersects: DISJOINT, INTERSECTS, MIXED', async (t) => {
  const k = new Kernel();
  const ram = (s: number, n: number) => k.iomem.regionIntersects(s, n, IORESOURCE_SYSTEM_RAM, IORES_DESC_NONE);
  t.equal(ram(0x100000000, GiB), REGION_DISJOINT, 'SPM is not System RAM');
  t.equal(ram(0xfff0000000, CHUNK), REGION_DISJOINT, 'nor is unclaimed space');
  t.equal(ram(0x180000000, 2 * MiB), REGION_INTERSECTS, 'inside the RAM at 6 GiB');
  t.equal(ram(0x1c0000000 - MiB, 2 * MiB), REGION_INTERSECTS, 'RAM plus a hole above it is still INTERSECTS');
  t.equal(ram(0x140000000 + GiB - MiB, 2 * MiB), REGION_MIXED, 'straddling SPM and RAM');
  t.equal(ram(0x9f000, 0x62000), REGION_MIXED, 'straddling RAM, the Reserved BIOS range and RAM again');
  t.equal(ram(0xfffc0000, 0x40000), REGION_DISJOINT, 'the Reserved range alone');
  const spm = (s: number, n: number) => k.iomem.regionIntersects(s, n, IORESOURCE_MEM, IORES_DESC_SOFT_RESERVED);
  t.equal(spm(0x100000000, 2 * GiB), REGION_INTERSECTS, 'both SPM ranges, by descriptor');
  t.equal(spm(0x180000000, MiB), REGION_DISJOINT, 'the RAM has another descriptor');
});

t.test('private-mode test_hmm takes its chunks where the reference run shows them', async (t) => {
  const k = new Kernel();
  const { ret, mod } = hmmDmirrorInit(k, { spm_addr_dev0: 0, spm_addr_dev1: 0 });
  t.equal(ret, 0, 'module loads');
  t.same(k.log.filter((l) => l.startsWith('added new')), [
    'added new 256 MB chunk (total 1 chunks, 256 MB) PFNs [0xfff0000 0x10000000)',
    'added new 256 MB chunk (total 1 chunks, 256 MB) PFNs [0xffe0000 0xfff0000)',
  ], 'as in /work/shared/reference/private.tap.log');
  t.equal(k.iomem.root.children.filter((r) => r.name === 'hmm_dmirror').length, 2, 'two busy regions');
  t.same(hmmDmirrorExit(mod!), [], 'unload finds no leak');
  t.equal(k.iomem.root.children.filter((r) => r.name === 'hmm_dmirror').length, 0, 'and gives both regions back');
  t.equal(k.pgmaps.length, 0, 'no pgmap left');
});
