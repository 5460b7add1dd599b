// SPDX-License-Identifier: GPL-2.0-only
/*
 * Tests of the sparse vmemmap (src/kernel-model/page.ts: Memmap): the
 * blocks created so far in a pfn range, which checkInvariants() walks over
 * a device chunk instead of every 2 MiB of it.
 */
import t from 'tap';
import { Memmap, MEMBLOCK_PAGES } from '../../src/kernel-model/page.js';

t.test('createdBlocksIn: the created blocks of a range, by pfn, whichever way it looks them up', async (t) => {
  const m = new Memmap();
  const n = 1024; // 2 GiB of struct pages declared, three blocks of them created
  m.addRange(0, n * MEMBLOCK_PAGES, null);
  for (const key of [700, 5, 300]) m.block(key * MEMBLOCK_PAGES + 3);
  const bases = (a: number, b: number) => m.createdBlocksIn(a * MEMBLOCK_PAGES, b * MEMBLOCK_PAGES).map((x) => x.basePfn / MEMBLOCK_PAGES);
  // A range of more blocks than were created: the created ones, sorted (they were created out of order).
  t.same(bases(0, n), [5, 300, 700], 'whole range');
  t.same(bases(6, n), [300, 700], 'from the block after the first');
  t.same(bases(0, 300), [5], 'the end is exclusive');
  // A range of fewer blocks than were created: looked up key by key.
  t.same(bases(299, 301), [300], 'a two-block range');
  t.same(bases(6, 8), [], 'a range with none');
  t.equal(m.nrBlocks, 3, 'looking creates no block');
});
