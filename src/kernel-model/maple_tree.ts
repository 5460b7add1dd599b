// SPDX-License-Identifier: GPL-2.0-only
/*
 * Stand-in for lib/maple_tree.c as mm uses it (mm->mm_mt, MT_FLAGS_ALLOC_RANGE):
 * the VMAs of an address space by range, with the free gaps between them
 * tracked so that a top-down search for room (mas_empty_area_rev(), what
 * vm_unmapped_area() calls) is O(log n), like every lookup, insertion and
 * removal.
 *
 * Customised, not duplicated: the maple tree is a B-tree of ranges with up
 * to 16 slots a node and RCU readers; here an AVL tree of VMAs keyed by
 * vm_start (they never overlap, so vm_end orders them the same way), each
 * node carrying, for its subtree, the lowest start, the highest end and the
 * largest gap between two neighbouring VMAs (the maple tree's per-slot
 * gap). Same answers, same costs in O(), no RCU. mt_validate() checks what
 * the maple tree's validator checks: order, no overlap, balance, gaps, count.
 *
 * Ranges move in place: split_vma() shortens a VMA, a merge lengthens one.
 * The order stays the same, but the gaps do not, so the code that changes a
 * VMA's bounds tells the tree (adjust()), as the kernel re-stores the range
 * (vma_iter_store()).
 */

/** What the tree holds: a half-open range [vmStart, vmEnd). */
export interface MtRange {
  vmStart: number;
  vmEnd: number;
}

/** A node: the entry and its subtree's summary. */
export class MtNode<T extends MtRange> {
  left: MtNode<T> | null = null;
  right: MtNode<T> | null = null;
  height = 1;
  /** Lowest vm_start, highest vm_end and largest gap between neighbours in this subtree. */
  lo: number;
  hi: number;
  gap = 0;
  constructor(public entry: T) {
    this.lo = entry.vmStart;
    this.hi = entry.vmEnd;
  }
}

const h = <T extends MtRange>(n: MtNode<T> | null): number => (n === null ? 0 : n.height);

export class MapleTree<T extends MtRange> {
  protected root: MtNode<T> | null = null;
  /** Entries in the tree (mm->map_count). */
  size = 0;

  /** Model of mt_find(mt, &addr, ULONG_MAX) as find_vma() uses it: the first entry that ends above addr. */
  find(addr: number): T | null {
    let n = this.root, best: MtNode<T> | null = null;
    while (n !== null) {
      if (n.entry.vmEnd > addr) {
        best = n;
        n = n.left;
      } else n = n.right;
    }
    return best === null ? null : best.entry;
  }

  /** The entry after the one that starts at `start` (vma_next()): the first starting above it. */
  next(start: number): T | null {
    let n = this.root, best: MtNode<T> | null = null;
    while (n !== null) {
      if (n.entry.vmStart > start) {
        best = n;
        n = n.left;
      } else n = n.right;
    }
    return best === null ? null : best.entry;
  }

  /** The last entry that starts below addr (vma_prev() from addr, find_vma_prev()). */
  prev(addr: number): T | null {
    let n = this.root, best: MtNode<T> | null = null;
    while (n !== null) {
      if (n.entry.vmStart < addr) {
        best = n;
        n = n.right;
      } else n = n.left;
    }
    return best === null ? null : best.entry;
  }

  /** Model of mas_store() of a new range (vma_iter_store()): the caller has made room. */
  insert(entry: T): void {
    this.root = this.ins(this.root, entry);
    this.size++;
  }

  /** Model of mas_store() of NULL over the entry's range (vma_iter_clear()). */
  erase(entry: T): void {
    const before = this.size;
    this.root = this.del(this.root, entry.vmStart);
    if (this.size === before) throw new Error(`maple tree: no entry at 0x${entry.vmStart.toString(16)} to erase`);
  }

  /** The entry's bounds changed in place (order kept): recompute the summaries above it. */
  adjust(entry: T): void {
    this.repull(this.root, entry.vmStart);
  }

  /**
   * Model of mas_empty_area_rev(): the highest address a, a multiple of
   * `align`, with [a, a + len) inside [low, high) and inside a gap; -1 when
   * there is none. Subtrees whose gaps are all smaller than len are skipped.
   */
  emptyAreaRev(low: number, high: number, len: number, align: number): number {
    return this.searchRev(this.root, -Infinity, Infinity, low, high, len, align);
  }

  /** Every entry in order (a whole-mm walk: for_each_vma()). */
  toArray(): T[] {
    const out: T[] = [];
    const walk = (n: MtNode<T> | null): void => {
      for (; n !== null; n = n.right) {
        walk(n.left);
        out.push(n.entry);
      }
    };
    walk(this.root);
    return out;
  }

  /** Drop every entry (__mt_destroy()). */
  destroy(): void {
    this.root = null;
    this.size = 0;
  }

  /**
   * Model of mt_validate(): null, or the first broken invariant: entries in
   * order and not overlapping, every node balanced with its true height and
   * summary, and the count right.
   */
  validate(): string | null {
    let count = 0, lastEnd = -Infinity, err: string | null = null;
    const check = (n: MtNode<T> | null): void => {
      if (n === null || err !== null) return;
      check(n.left);
      const e = n.entry;
      count++;
      if (err === null && (e.vmStart >= e.vmEnd || e.vmStart < lastEnd)) {
        err = `entry [0x${e.vmStart.toString(16)}, 0x${e.vmEnd.toString(16)}) is empty or overlaps the one before (ending at 0x${lastEnd.toString(16)})`;
      }
      lastEnd = e.vmEnd;
      check(n.right);
      if (err !== null) return;
      const want = new MtNode(e);
      want.left = n.left;
      want.right = n.right;
      this.pull(want);
      if (Math.abs(h(n.left) - h(n.right)) > 1) err = `node at 0x${e.vmStart.toString(16)} is out of balance`;
      else if (want.height !== n.height || want.lo !== n.lo || want.hi !== n.hi || want.gap !== n.gap) {
        err = `node at 0x${e.vmStart.toString(16)} has a stale summary (height ${n.height}/${want.height}, gap 0x${n.gap.toString(16)}/0x${want.gap.toString(16)})`;
      }
    };
    check(this.root);
    if (err === null && count !== this.size) err = `${count} entries reachable, ${this.size} counted`;
    return err;
  }

  /** Recompute a node's height and summary from its children. */
  protected pull(n: MtNode<T>): void {
    const l = n.left, r = n.right, e = n.entry;
    n.height = Math.max(h(l), h(r)) + 1;
    n.lo = l === null ? e.vmStart : l.lo;
    n.hi = r === null ? e.vmEnd : r.hi;
    let g = 0;
    if (l !== null) g = Math.max(l.gap, e.vmStart - l.hi);
    if (r !== null) g = Math.max(g, r.gap, r.lo - e.vmEnd);
    n.gap = g;
  }

  protected rotateRight(n: MtNode<T>): MtNode<T> {
    const l = n.left!;
    n.left = l.right;
    l.right = n;
    this.pull(n);
    this.pull(l);
    return l;
  }

  protected rotateLeft(n: MtNode<T>): MtNode<T> {
    const r = n.right!;
    n.right = r.left;
    r.left = n;
    this.pull(n);
    this.pull(r);
    return r;
  }

  private balance(n: MtNode<T>): MtNode<T> {
    this.pull(n);
    const d = h(n.left) - h(n.right);
    if (d > 1) {
      if (h(n.left!.left) < h(n.left!.right)) n.left = this.rotateLeft(n.left!);
      return this.rotateRight(n);
    }
    if (d < -1) {
      if (h(n.right!.right) < h(n.right!.left)) n.right = this.rotateRight(n.right!);
      return this.rotateLeft(n);
    }
    return n;
  }

  private ins(n: MtNode<T> | null, e: T): MtNode<T> {
    if (n === null) return new MtNode(e);
    if (e.vmStart === n.entry.vmStart) throw new Error(`maple tree: an entry already starts at 0x${e.vmStart.toString(16)}`);
    if (e.vmStart < n.entry.vmStart) n.left = this.ins(n.left, e);
    else n.right = this.ins(n.right, e);
    return this.balance(n);
  }

  private del(n: MtNode<T> | null, start: number): MtNode<T> | null {
    if (n === null) return null;
    if (start < n.entry.vmStart) n.left = this.del(n.left, start);
    else if (start > n.entry.vmStart) n.right = this.del(n.right, start);
    else {
      this.size--;
      if (n.left === null) return n.right;
      if (n.right === null) return n.left;
      let m = n.right;
      while (m.left !== null) m = m.left;
      n.entry = m.entry;
      n.right = this.delMin(n.right);
    }
    return this.balance(n);
  }

  private delMin(n: MtNode<T>): MtNode<T> | null {
    if (n.left === null) return n.right;
    n.left = this.delMin(n.left);
    return this.balance(n);
  }

  private repull(n: MtNode<T> | null, start: number): void {
    if (n === null) return;
    if (start < n.entry.vmStart) this.repull(n.left, start);
    else if (start > n.entry.vmStart) this.repull(n.right, start);
    this.pull(n);
  }

  /** Highest fit in subtree n, whose neighbours outside it end at `below` and start at `above`. */
  private searchRev(n: MtNode<T> | null, below: number, above: number, low: number, high: number, len: number,
    align: number): number {
    const floor = Math.max(below, low), ceil = Math.min(above, high);
    if (ceil - floor < len) return -1;
    if (n === null) {
      const a = Math.floor((ceil - len) / align) * align;
      return a >= floor ? a : -1;
    }
    if (Math.max(n.gap, n.lo - floor, ceil - n.hi) < len) return -1;
    const r = this.searchRev(n.right, n.entry.vmEnd, above, low, high, len, align);
    return r >= 0 ? r : this.searchRev(n.left, below, n.entry.vmStart, low, high, len, align);
  }
}
