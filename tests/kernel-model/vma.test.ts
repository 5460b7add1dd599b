// SPDX-License-Identifier: GPL-2.0-only
/*
 * Tests of vmaModifyFlags() (mm.ts, vma_modify_flags() of mm/vma.c), the
 * one VMA flag update mprotect() and madvise() share: a range gets its own
 * VMA, split out or merged with a neighbour that has the same flags.
 *
 *   Four pages at X, flags N (as mapped) or H (VM_NOHUGEPAGE added):
 *     0123
 *     NNNN    one VMA
 *     NHHN    [X+P, X+3P) modified: split into three
 *     NHHH    [X+3P, X+4P) modified: merged with the middle one, two VMAs
 *     NNNN    everything back: one VMA again
 */
import t from 'tap';
import { Kernel } from '../../src/kernel-model/kernel.js';
import { EINVAL, IS_ERR } from '../../src/kernel-model/errno.js';
import { PAGE_SIZE, PMD_SIZE } from '../../src/kernel-model/page.js';
import { MAP_ANONYMOUS, MAP_FIXED, MAP_HUGETLB, MAP_PRIVATE, MmStruct, PROT_READ, PROT_WRITE, VM_NOHUGEPAGE,
  type VmAreaStruct, doMmap, vmaLookup, vmaModifyFlags } from '../../src/kernel-model/mm.js';
import { userLoad, userStore } from '../../src/kernel-model/memory.js';

const P = PAGE_SIZE;
const X = 0x10000000;
const RW = PROT_READ | PROT_WRITE;
const layout = (mm: MmStruct): string[] => mm.vmas.map((v) => `${(v.vmStart - X) / P}-${(v.vmEnd - X) / P}`);

t.test('vma_modify_flags(): split out, merged with a neighbour of the same flags, merged back', async (t) => {
  const k = new Kernel();
  const mm = new MmStruct(k);
  t.equal(doMmap(mm, X, 4 * P, RW, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED), X);
  for (let i = 0; i < 4; i++) userStore(mm, X + i * P, new Uint8Array([i + 1]));
  const n = vmaLookup(mm, X)!.vmFlags, h = n | VM_NOHUGEPAGE;

  const mid = vmaModifyFlags(vmaLookup(mm, X)!, X + P, X + 3 * P, h);
  if (IS_ERR(mid)) throw new Error(`vma_modify_flags: ${mid.err}`);
  t.same(layout(mm), ['0-1', '1-3', '3-4'], 'split at both ends');
  t.ok(mid.vmStart === X + P && mid.vmEnd === X + 3 * P && mid.vmFlags === h, 'the returned VMA is the range, with the flags');
  t.equal(vmaLookup(mm, X)!.vmFlags, n, 'the rest keeps its flags');

  const merged = vmaModifyFlags(vmaLookup(mm, X + 3 * P)!, X + 3 * P, X + 4 * P, h) as VmAreaStruct;
  t.same(layout(mm), ['0-1', '1-4'], 'the last page joins the middle VMA');
  t.ok(merged === vmaLookup(mm, X + P) && merged.vmFlags === h, 'the merged VMA is returned');

  vmaModifyFlags(merged, X + P, X + 4 * P, n);
  t.same(layout(mm), ['0-4'], 'one VMA again');
  const b = new Uint8Array(1);
  for (let i = 0; i < 4; i++) {
    userLoad(mm, X + i * P, b);
    if (b[0] !== i + 1) t.fail(`page ${i} lost its data`);
  }
  mm.mmput();
  t.equal(k.pageAlloc.nrAllocated, 0);
});

t.test('vma_modify_flags() on hugetlb off a huge page boundary: ERR_PTR(-EINVAL), nothing changed', async (t) => {
  const k = new Kernel();
  const mm = new MmStruct(k);
  const a = doMmap(mm, 0, 2 * PMD_SIZE, RW, MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB);
  t.ok(a > 0);
  const vma = vmaLookup(mm, a)!, flags = vma.vmFlags;
  const r = vmaModifyFlags(vma, a + P, a + PMD_SIZE, flags | VM_NOHUGEPAGE);
  t.ok(IS_ERR(r) && r.err === -EINVAL, 'split_vma() refused (hugetlb_vm_op_split())');
  t.equal(mm.vmas.length, 1, 'still one VMA');
  t.equal(vma.vmFlags, flags, 'with its flags');
  mm.mmput();
  t.equal(k.hugetlb.freeHugePages, k.hugetlb.nrHugePages);
});
