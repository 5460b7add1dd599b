// SPDX-License-Identifier: GPL-2.0-only
/*
 * Tests of debug_vm.ts's table of the pages a walk found (PageUses), which
 * stands in for a Map so that a check after every fuzz action allocates
 * nothing: same answers and the same order as a Map, across growth and
 * across walks. (The checks built on it: tests/check.test.ts.)
 */
import t from 'tap';
import { PageUses } from '../../src/kernel-model/debug_vm.js';

t.test('PageUses answers as a Map of the pages in the order first found', async (t) => {
  const u = new PageUses();
  for (let walk = 0; walk < 3; walk++) {
    u.clear();
    const want = new Map<number, number>();
    // Pfns above 2^32 too (device memory high in the physical map), and colliding low bits.
    for (let i = 0; i < 5000; i++) {
      const page = ((i * 7919) % 3001) * (walk === 1 ? 0x100000001 : 4096) + walk;
      u.take(page, walk, i, 'pte').ptes++;
      want.set(page, (want.get(page) ?? 0) + 1);
    }
    t.equal(u.size, want.size, `walk ${walk}: one record a page`);
    const order = Array.from({ length: u.size }, (_, r) => u.at(r).page);
    t.same(order, [...want.keys()], `walk ${walk}: in the order first found`);
    t.ok([...want].every(([p, n]) => u.get(p)?.ptes === n && u.has(p)), `walk ${walk}: each page's count`);
    t.notOk(u.has(123456789), `walk ${walk}: a page not found is not there`);
  }
  u.clear();
  t.equal(u.size, 0, 'cleared');
  t.notOk(u.has(4096 * 5), 'a page of the last walk is gone after clear()');
  t.equal(u.take(7, 1, 2, 'pmd').ptes, 0, 'a reused record starts at 0');
});
