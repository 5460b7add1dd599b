// SPDX-License-Identifier: GPL-2.0-only
/*
 * Tests of maple_tree.ts, the balanced tree standing in for mm->mm_mt, and
 * of the mm paths that use it (mm.ts: find_vma(), vma_next/prev(),
 * split_vma(), the merge, munmap(), get_unmapped_area()).
 *
 * Each random step is checked against a plain sorted list of ranges (the
 * obviously right answer) and the tree's own validator (mt_validate()).
 * Two broken trees, one whose rotation forgets a subtree and one whose
 * summaries go stale, show that both the validator and the answers catch
 * them.
 *
 *   ranges, in pages:  AA  B   CCC     D        a gap of 3 above C and D
 *                      0123456789abcdef0        fits a 3-page request
 */
import t from 'tap';
import { MapleTree, type MtNode, type MtRange } from '../../src/kernel-model/maple_tree.js';
import { Kernel } from '../../src/kernel-model/kernel.js';
import { PAGE_SIZE } from '../../src/kernel-model/page.js';
import { MAP_ANONYMOUS, MAP_FIXED, MAP_PRIVATE, MmStruct, PROT_READ, PROT_WRITE, doMmap, doMprotect, doMunmap,
  findVma, vmaLookup, vmaNext, vmaPrev } from '../../src/kernel-model/mm.js';
import { userLoad, userStore } from '../../src/kernel-model/memory.js';

const P = PAGE_SIZE;

/** A small deterministic generator (the tests repeat). */
function rng(seed: number): (n: number) => number {
  let s = seed >>> 0;
  return (n) => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s % n;
  };
}

/** The reference: ranges sorted by start. */
class RefList {
  r: MtRange[] = [];
  find(addr: number): MtRange | null { return this.r.find((x) => x.vmEnd > addr) ?? null; }
  next(start: number): MtRange | null { return this.r.find((x) => x.vmStart > start) ?? null; }
  prev(addr: number): MtRange | null { return this.r.filter((x) => x.vmStart < addr).at(-1) ?? null; }
  /** The highest aligned fit, trying every gap from the top one down. */
  emptyAreaRev(low: number, high: number, len: number, align: number): number {
    for (let i = this.r.length; i >= 0; i--) {
      const floor = Math.max(i > 0 ? this.r[i - 1].vmEnd : -Infinity, low);
      const ceil = Math.min(i < this.r.length ? this.r[i].vmStart : Infinity, high);
      const a = Math.floor((ceil - len) / align) * align;
      if (ceil - floor >= len && a >= floor) return a;
    }
    return -1;
  }
}

/** Random inserts into gaps, erases, and in-place shrinks/grows, checked step by step. Returns the first mismatch. */
function exercise(tree: MapleTree<MtRange>, steps: number, seed: number): string | null {
  const ref = new RefList(), rand = rng(seed);
  for (let s = 0; s < steps; s++) {
    const op = rand(10);
    if (op < 5 || ref.r.length < 4) {
      const start = rand(4000) * P, len = (1 + rand(8)) * P;
      if (ref.r.some((x) => x.vmStart < start + len && x.vmEnd > start)) continue;
      const e = { vmStart: start, vmEnd: start + len };
      tree.insert(e);
      ref.r.push(e);
      ref.r.sort((a, b) => a.vmStart - b.vmStart);
    } else if (op < 8) {
      const e = ref.r[rand(ref.r.length)];
      tree.erase(e);
      ref.r.splice(ref.r.indexOf(e), 1);
    } else {
      // split_vma()'s shrink, or a merge's growth up to the next range.
      const i = rand(ref.r.length), e = ref.r[i];
      const limit = i + 1 < ref.r.length ? ref.r[i + 1].vmStart : e.vmEnd + 8 * P;
      e.vmEnd = op === 8 && e.vmEnd - e.vmStart > P ? e.vmEnd - P : Math.min(limit, e.vmEnd + P);
      tree.adjust(e);
    }
    const bad = tree.validate();
    if (bad !== null) return `step ${s}: mt_validate: ${bad}`;
    if (tree.size !== ref.r.length) return `step ${s}: size ${tree.size}, want ${ref.r.length}`;
    const addr = rand(4100) * P;
    if (tree.find(addr) !== ref.find(addr)) return `step ${s}: find(0x${addr.toString(16)}) differs`;
    if (tree.next(addr) !== ref.next(addr)) return `step ${s}: next(0x${addr.toString(16)}) differs`;
    if (tree.prev(addr) !== ref.prev(addr)) return `step ${s}: prev(0x${addr.toString(16)}) differs`;
    const len = (1 + rand(12)) * P, align = rand(2) ? P : 4 * P, high = (100 + rand(4000)) * P;
    const got = tree.emptyAreaRev(16 * P, high, len, align), want = ref.emptyAreaRev(16 * P, high, len, align);
    if (got !== want) return `step ${s}: emptyAreaRev(len ${len / P}, align ${align / P}, high ${high / P}) = ${got / P}, want ${want / P}`;
  }
  const all = tree.toArray();
  if (all.length !== ref.r.length || all.some((e, i) => e !== ref.r[i])) return 'toArray() differs from the reference';
  return null;
}

t.test('the tree answers find/next/prev/empty-area as a sorted list does, and validates, over 3000 random steps', async (t) => {
  for (const seed of [1, 2, 3]) t.equal(exercise(new MapleTree(), 3000, seed), null, `seed ${seed}`);
});

t.test('the gap search: the highest fit below the limit, aligned, skipping gaps too small', async (t) => {
  const tree = new MapleTree<MtRange>();
  const r = (a: number, b: number): MtRange => ({ vmStart: a * P, vmEnd: b * P });
  for (const e of [r(0, 2), r(3, 4), r(7, 10), r(16, 17)]) tree.insert(e);
  t.equal(tree.emptyAreaRev(0, 17 * P, 3 * P, P), 13 * P, 'the 6-page gap between C and D: its top 3 pages');
  t.equal(tree.emptyAreaRev(0, 17 * P, 6 * P, P), 10 * P, 'exactly the gap between C and D');
  t.equal(tree.emptyAreaRev(0, 17 * P, 7 * P, P), -1, 'nothing of 7 pages below 17');
  t.equal(tree.emptyAreaRev(0, 17 * P, 3 * P, 8 * P), -1, 'no 3-page fit on an 8-page boundary below 17 (8 and 0 are taken)');
  t.equal(tree.emptyAreaRev(0, 40 * P, 3 * P, 8 * P), 32 * P, 'above D there is room');
  t.equal(tree.emptyAreaRev(0, 7 * P, 3 * P, P), 4 * P, 'the limit cuts the search: the gap between B and C');
  t.equal(tree.emptyAreaRev(5 * P, 7 * P, 3 * P, P), -1, 'and the floor too');
});

/** A tree whose left rotation forgets the subtree that changes parent (as a B-tree split that drops a slot). */
class ForgetfulTree extends MapleTree<MtRange> {
  protected override rotateLeft(n: MtNode<MtRange>): MtNode<MtRange> {
    const r = n.right!;
    n.right = null;
    r.left = n;
    this.pull(n);
    this.pull(r);
    return r;
  }
}

/** A tree that does not refresh its summaries when a range moves in place. */
class StaleTree extends MapleTree<MtRange> {
  override adjust(): void {}
}

t.test('break it: a rotation that forgets a subtree, and summaries left stale, are both caught', async (t) => {
  const lost = exercise(new ForgetfulTree(), 3000, 1);
  t.not(lost, null, 'the forgetful tree is caught');
  t.match(lost, /entries reachable|differs|size/, `by the count or the answers: ${lost}`);
  const stale = exercise(new StaleTree(), 3000, 1);
  t.match(stale, /stale summary/, `the stale tree is caught by mt_validate(): ${stale}`);
  // And its answers are wrong: B shrinks (split_vma()), the gap above it grows, the stale tree does not see it.
  for (const tree of [new MapleTree<MtRange>(), new StaleTree()]) {
    const b = { vmStart: 10 * P, vmEnd: 20 * P };
    for (const e of [{ vmStart: 0, vmEnd: 2 * P }, b, { vmStart: 30 * P, vmEnd: 40 * P }]) tree.insert(e);
    b.vmEnd = 11 * P;
    tree.adjust(b);
    const want = tree instanceof StaleTree ? -1 : 15 * P;
    t.equal(tree.emptyAreaRev(0, 30 * P, 15 * P, P), want,
      tree instanceof StaleTree ? 'the stale tree finds no room for 15 pages' : 'a right tree finds 15 pages below C');
  }
});

/** The mm's VMAs as [start, end, prot-ish flags] in pages from base. */
const layout = (mm: MmStruct, base: number): number[][] =>
  mm.vmas.map((v) => [(v.vmStart - base) / P, (v.vmEnd - base) / P, v.vmFlags & 3]);

t.test('mm through the tree: 2000 alternating mappings, a hole, mprotect across it and over all, merges', async (t) => {
  const k = new Kernel();
  const mm = new MmStruct(k);
  const addrs: number[] = [];
  for (let i = 0; i < 2000; i++) {
    const a = doMmap(mm, 0, P, i & 1 ? PROT_READ | PROT_WRITE : PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS);
    if (a < 0) throw new Error(`mmap ${a}`);
    addrs.push(a);
  }
  t.equal(mm.mapCount, 2000, 'alternating protections do not merge');
  t.ok(addrs.every((a, i) => i === 0 || a === addrs[i - 1] - P), 'top-down, each right below the last (get_unmapped_area())');
  const base = addrs[1999]; // read-only, as every VMA at an odd page from base
  t.equal(mm.mmMt.validate(), null, 'valid');

  t.equal(doMunmap(mm, base + 100 * P, 10 * P), 0, 'a hole of 10 pages');
  t.equal(findVma(mm, base + 100 * P)!.vmStart, base + 110 * P, 'find_vma() in the hole gives the VMA after it');
  t.equal(vmaLookup(mm, base + 105 * P), null, 'vma_lookup() there: none');
  const after = findVma(mm, base + 110 * P)!;
  t.equal(vmaPrev(after)!.vmEnd, base + 100 * P, 'vma_prev() skips the hole');
  t.equal(vmaNext(vmaPrev(after)!), after, 'vma_next() back');
  t.equal(doMmap(mm, 0, 10 * P, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS), base + 100 * P,
    'a new 10-page mapping fills the hole: it is the highest gap with room');
  t.equal(doMunmap(mm, base + 100 * P, 10 * P), 0, 'the hole again');
  t.equal(doMmap(mm, 0, 11 * P, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS), base - 11 * P,
    'an 11-page one does not fit there: it goes below everything');

  t.equal(doMprotect(mm, base, 100 * P, PROT_READ), 0, 'mprotect of the 100 pages below the hole');
  t.same(layout(mm, base).slice(0, 3), [[-11, 0, 3], [0, 100, 1], [110, 111, 3]], 'they merged into one VMA; the hole stays');
  t.equal(doMprotect(mm, base, 200 * P, PROT_READ), -12, 'mprotect across the hole: -ENOMEM (do_mprotect_pkey())');
  t.same(layout(mm, base).slice(1, 3), [[0, 100, 1], [110, 111, 3]], 'nothing after the hole was changed');
  t.equal(doMmap(mm, base + 100 * P, 10 * P, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED), base + 100 * P, 'fill the hole');
  t.same(layout(mm, base).slice(0, 3), [[-11, 0, 3], [0, 110, 1], [110, 111, 3]], 'MAP_FIXED into the hole merges with the VMA below it');
  t.equal(doMprotect(mm, base - 11 * P, 2011 * P, PROT_READ), 0, 'mprotect over everything');
  t.same(layout(mm, base), [[-11, 2000, 1]], 'one VMA');
  t.equal(mm.mmMt.validate(), null, 'valid');
  mm.mmput();
  t.equal(mm.mapCount, 0, 'exit_mmap() empties the tree');
});

t.test('mm through the tree: split and merge back keep the pages of one anon_vma', async (t) => {
  const k = new Kernel();
  const mm = new MmStruct(k);
  const a = doMmap(mm, 0, 64 * P, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS);
  for (let i = 0; i < 64; i++) userStore(mm, a + i * P, new Uint8Array([i, 1]));
  for (let i = 0; i < 64; i += 2) t.equal(doMprotect(mm, a + i * P, P, PROT_READ), 0);
  t.equal(mm.mapCount, 64, 'every other page read-only: 64 VMAs');
  t.equal(mm.mmMt.validate(), null, 'valid');
  t.equal(doMprotect(mm, a, 64 * P, PROT_READ | PROT_WRITE), 0);
  t.equal(mm.mapCount, 1, 'merged back into one');
  const b = new Uint8Array(2);
  let lost = 0;
  for (let i = 0; i < 64; i++) {
    userLoad(mm, a + i * P, b);
    if (b[0] !== i || b[1] !== 1) lost++;
  }
  t.equal(lost, 0, 'every page kept its data');
  mm.mmput();
  t.equal(k.pageAlloc.nrAllocated, 0, 'and every page is freed at exit');
});

t.test('break it: an mm whose tree forgets a subtree loses VMAs that were mapped', async (t) => {
  const k = new Kernel();
  const mm = new MmStruct(k);
  (mm as unknown as { mmMt: MapleTree<MtRange> }).mmMt = new ForgetfulTree();
  const addrs: number[] = [];
  // Upwards, so the tree grows right-heavy and rotates left.
  for (let i = 0; i < 64; i++) {
    addrs.push(doMmap(mm, 0x10000000 + i * P, P, i & 1 ? PROT_READ : PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED));
  }
  const missing = addrs.filter((a) => a >= 0 && vmaLookup(mm, a) === null).length;
  t.ok(missing > 0, `vma_lookup() misses ${missing} of 64 mapped addresses`);
  t.not(mm.mmMt.validate(), null, 'and mt_validate() says so');
});
