// SPDX-License-Identifier: GPL-2.0-only
/*
 * Tests of src/kernel-model/mm.ts, memory.ts and pgtable.ts: mmap(),
 * munmap(), mprotect(), anonymous faults (zero page, new page, COW of the
 * zero page), user access and its signals, copy_to_user()/copy_from_user(),
 * and the sparse page table.
 *
 *   A mapping of four pages, pages 1 and 2 made read-only:
 *     0123
 *     WRRW    -> three VMAs
 */
import t from 'tap';
import { Kernel } from '../../src/kernel-model/kernel.js';
import { FatalSignal, SIGSEGV } from '../../src/kernel-model/bug.js';
import { EBADF, EINVAL, ENOMEM } from '../../src/kernel-model/errno.js';
import { PAGE_SIZE, PG_anon, PG_anon_exclusive, PG_lru, PMD_SIZE } from '../../src/kernel-model/page.js';
import { MAP_ANONYMOUS, MAP_FIXED, MAP_PRIVATE, MAP_SHARED, MmStruct, PROT_NONE, PROT_READ, PROT_WRITE, TASK_SIZE,
  VM_READ, VM_WRITE, doMmap, doMprotect, doMunmap, vmaLookup } from '../../src/kernel-model/mm.js';
import { copyFromUser, copyToUser, userLoad, userStore } from '../../src/kernel-model/memory.js';
import { _PAGE_DIRTY, _PAGE_PRESENT, _PAGE_RW, _PAGE_SPECIAL, pteIndex } from '../../src/kernel-model/pgtable.js';
import { pageMapcount, pageRefCount, testPageFlag } from '../../src/kernel-model/page_alloc.js';
import { type Asserts, pattern, recordingNotifier } from './fixtures/fake_device.js';

const RW = PROT_READ | PROT_WRITE;
const ANON = MAP_PRIVATE | MAP_ANONYMOUS;
const MMAP_BASE = 0x7ffff0000000;

/** The pte at addr: [bits, pfn], or undefined without a page table. */
function pte(mm: MmStruct, addr: number): [number, number] | undefined {
  const tbl = mm.pgtable.lookup(addr);
  if (tbl === undefined) return undefined;
  return [tbl.val[pteIndex(addr)], tbl.pfn[pteIndex(addr)]];
}

function expectSignal(t: Asserts, fn: () => void, signal: number, addr: number): void {
  let caught: unknown = null;
  try { fn(); } catch (e) { caught = e; }
  t.ok(caught instanceof FatalSignal, `a FatalSignal (got ${String(caught)})`);
  if (caught instanceof FatalSignal) {
    t.equal(caught.signal, signal, `signal ${signal}`);
    t.equal(caught.addr, addr, 'at the faulting address');
  }
}

t.test('mmap: page-aligned, top-down, non-overlapping', async (t) => {
  const k = new Kernel();
  const mm = new MmStruct(k);
  const a = doMmap(mm, 0, 5000, RW, ANON);
  t.equal(a, MMAP_BASE - 2 * PAGE_SIZE, 'the first mapping ends at the mmap base; 5000 bytes round to 2 pages');
  const b = doMmap(mm, 0, 3 * PAGE_SIZE, PROT_READ, ANON);
  t.equal(b, a - 3 * PAGE_SIZE, 'the next one right below');
  const c = doMmap(mm, 0, PAGE_SIZE, PROT_NONE, ANON);
  t.equal(c, b - PAGE_SIZE, 'and the next');
  for (const x of [a, b, c]) t.equal(x % PAGE_SIZE, 0, 'page aligned');
  t.equal(mm.vmas.length, 3, 'three VMAs (different protections do not merge)');
  for (let i = 0; i + 1 < mm.vmas.length; i++) {
    t.ok(mm.vmas[i].vmEnd <= mm.vmas[i + 1].vmStart, `VMA ${i} ends before VMA ${i + 1} starts`);
  }
  t.equal(vmaLookup(mm, b)!.vmEnd, a, 'b ends where a starts');
  t.equal(vmaLookup(mm, b)!.vmFlags & (VM_READ | VM_WRITE), VM_READ, 'b is read-only');
  t.equal(doMunmap(mm, b, 3 * PAGE_SIZE), 0);
  const d = doMmap(mm, 0, 2 * PAGE_SIZE, RW, ANON);
  t.equal(d, a - 2 * PAGE_SIZE, 'a smaller mapping takes the top of the gap b left');
  t.equal(mm.vmas.length, 2, 'and merges with a (same flags, contiguous)');
  t.equal(doMmap(mm, 0, 0, RW, ANON), -EINVAL, 'length 0: -EINVAL');
  t.equal(doMmap(mm, 0, PAGE_SIZE, RW, MAP_SHARED | MAP_PRIVATE | MAP_ANONYMOUS), -EINVAL, 'MAP_SHARED|MAP_PRIVATE is no mapping type: -EINVAL');
  t.equal(doMmap(mm, 0, PAGE_SIZE, RW, MAP_SHARED), -EBADF, 'a file mapping without a file: -EBADF');
  t.equal(doMmap(mm, 0x10000001, PAGE_SIZE, RW, ANON | MAP_FIXED), -EINVAL, 'MAP_FIXED needs an aligned address');
  t.equal(doMmap(mm, 0x10000000, PAGE_SIZE, RW, ANON | MAP_FIXED), 0x10000000, 'MAP_FIXED is honoured');
});

t.test('MAP_FIXED over a populated mapping unmaps it first', async (t) => {
  const k = new Kernel();
  const mm = new MmStruct(k);
  const a = doMmap(mm, 0, 2 * PAGE_SIZE, RW, ANON);
  userStore(mm, a, Uint8Array.of(1));
  userStore(mm, a + PAGE_SIZE, Uint8Array.of(2));
  const { seen } = recordingNotifier(mm, a, 2 * PAGE_SIZE);
  t.equal(doMmap(mm, a + PAGE_SIZE, PAGE_SIZE, PROT_READ, ANON | MAP_FIXED), a + PAGE_SIZE);
  t.same(seen, [{ event: 'UNMAP', start: a + PAGE_SIZE, end: a + 2 * PAGE_SIZE, owner: null }], 'the old page is unmapped');
  t.equal(k.pageAlloc.nrAllocated, 1, 'and freed');
  t.same(pte(mm, a + PAGE_SIZE), [0, 0], 'the new mapping starts empty');
  const b = new Uint8Array(1).fill(9);
  userLoad(mm, a + PAGE_SIZE, b);
  t.equal(b[0], 0, 'reads zero');
  t.equal(mm.vmas.length, 2, 'two VMAs: RW and the new read-only one');
});

t.test('a read fault on anonymous memory maps the shared zero page', async (t) => {
  const k = new Kernel();
  const mm = new MmStruct(k);
  const a = doMmap(mm, 0, 2 * PAGE_SIZE, RW, ANON);
  t.equal(pte(mm, a), undefined, 'no page table before the fault');
  const buf = new Uint8Array(32).fill(0x55);
  userLoad(mm, a + 8, buf);
  t.same(buf, new Uint8Array(32), 'reads zeroes');
  t.same(pte(mm, a), [_PAGE_PRESENT | _PAGE_SPECIAL, k.zeroPfn], 'present, special, read-only, the zero page');
  t.same(pte(mm, a + PAGE_SIZE), [0, 0], 'the next pte is untouched');
  t.equal(k.pageAlloc.nrAllocated, 0, 'nothing allocated');
  t.equal(mm.rssAnon, 0, 'no anon rss');
  t.equal(mm.pgtable.lookup(a)!.used, 1, 'one entry used in the table');
});

t.test('a write fault allocates a page: refcount 1, mapcount 1, anon', async (t) => {
  const k = new Kernel();
  const mm = new MmStruct(k);
  const a = doMmap(mm, 0, PAGE_SIZE, RW, ANON);
  userStore(mm, a + 100, pattern(5, 50));
  const [bits, pfn] = pte(mm, a)!;
  t.equal(bits, _PAGE_PRESENT | _PAGE_RW | _PAGE_DIRTY, 'present, writable, dirty');
  t.not(pfn, k.zeroPfn, 'not the zero page');
  t.equal(pageRefCount(k, pfn), 1, 'refcount 1');
  t.equal(pageMapcount(k, pfn), 1, 'mapcount 1');
  t.ok(testPageFlag(k, pfn, PG_anon), 'anon');
  t.ok(testPageFlag(k, pfn, PG_anon_exclusive), 'exclusive');
  t.ok(testPageFlag(k, pfn, PG_lru), 'on the LRU');
  t.equal(k.pageAlloc.nrAllocated, 1);
  t.equal(mm.rssAnon, 1);
  const back = new Uint8Array(52);
  userLoad(mm, a + 99, back);
  t.equal(back[0], 0, 'byte before the store');
  t.same(back.subarray(1, 51), pattern(5, 50), 'the stored bytes');
  t.equal(back[51], 0, 'byte after');
});

t.test('a write after a read replaces the zero page (MMU_NOTIFY_CLEAR)', async (t) => {
  const k = new Kernel();
  const mm = new MmStruct(k);
  const a = doMmap(mm, 0, PAGE_SIZE, RW, ANON);
  const { seen } = recordingNotifier(mm, a, PAGE_SIZE);
  const zeroRef = pageRefCount(k, k.zeroPfn);
  userLoad(mm, a, new Uint8Array(1));
  t.equal(pte(mm, a)![1], k.zeroPfn, 'zero page after the read');
  userStore(mm, a, Uint8Array.of(0xab));
  const [bits, pfn] = pte(mm, a)!;
  t.not(pfn, k.zeroPfn, 'a new page after the write');
  t.equal(bits, _PAGE_PRESENT | _PAGE_RW | _PAGE_DIRTY);
  t.equal(pageRefCount(k, pfn), 1);
  t.equal(pageMapcount(k, pfn), 1);
  t.equal(pageRefCount(k, k.zeroPfn), zeroRef, 'the zero page refcount is untouched');
  t.equal(k.pageAlloc.nrAllocated, 1, 'exactly one page');
  t.same(seen, [{ event: 'CLEAR', start: a, end: a + PAGE_SIZE, owner: null }], 'the old translation was invalidated');
  const one = new Uint8Array(2);
  userLoad(mm, a, one);
  t.same([...one], [0xab, 0], 'data');
});

t.test('munmap frees the pages and tells interval notifiers (MMU_NOTIFY_UNMAP)', async (t) => {
  const k = new Kernel();
  const mm = new MmStruct(k);
  const base = k.pageAlloc.nrAllocated;
  const a = doMmap(mm, 0, 4 * PAGE_SIZE, RW, ANON);
  const { seen } = recordingNotifier(mm, a, 4 * PAGE_SIZE);
  for (let i = 0; i < 4; i++) userStore(mm, a + i * PAGE_SIZE, Uint8Array.of(i + 1));
  const pfns = [0, 1, 2, 3].map((i) => pte(mm, a + i * PAGE_SIZE)![1]);
  t.equal(k.pageAlloc.nrAllocated, base + 4);
  t.equal(doMunmap(mm, a + PAGE_SIZE, 2 * PAGE_SIZE), 0, 'unmap the middle two pages');
  t.same(seen, [{ event: 'UNMAP', start: a + PAGE_SIZE, end: a + 3 * PAGE_SIZE, owner: null }], 'one UNMAP over exactly that range');
  t.equal(k.pageAlloc.nrAllocated, base + 2, 'two pages freed');
  t.equal(pageRefCount(k, pfns[1]), 0, 'page 1 is free');
  t.equal(pageRefCount(k, pfns[0]), 1, 'page 0 is not');
  t.equal(mm.vmas.length, 2, 'the VMA was split around the hole');
  t.same(pte(mm, a + PAGE_SIZE), [0, 0], 'ptes cleared');
  t.equal(mm.rssAnon, 2);
  t.equal(doMunmap(mm, a, 4 * PAGE_SIZE), 0, 'unmap everything, hole included');
  t.equal(k.pageAlloc.nrAllocated, base, 'nrAllocated back to the baseline');
  t.equal(mm.vmas.length, 0, 'no VMA left');
  t.equal(mm.pgtable.tables.size, 0, 'the page table was freed');
  t.equal(seen.length, 2, 'a second UNMAP');
  t.equal(doMunmap(mm, a + 1, PAGE_SIZE), -EINVAL, 'unaligned start: -EINVAL');
  t.equal(doMunmap(mm, a, 0), -EINVAL, 'length 0: -EINVAL');
  t.equal(doMunmap(mm, a, PAGE_SIZE), 0, 'nothing mapped there: 0');
  t.equal(seen.length, 2, 'and no notification');
});

t.test('mprotect splits VMAs and merges them back', async (t) => {
  const k = new Kernel();
  const mm = new MmStruct(k);
  const a = doMmap(mm, 0, 4 * PAGE_SIZE, RW, ANON);
  t.equal(doMprotect(mm, a + PAGE_SIZE, 2 * PAGE_SIZE, PROT_READ), 0);
  t.same(mm.vmas.map((v) => [v.vmStart - a, v.vmEnd - a, v.vmFlags & (VM_READ | VM_WRITE)]), [
    [0, PAGE_SIZE, VM_READ | VM_WRITE],
    [PAGE_SIZE, 3 * PAGE_SIZE, VM_READ],
    [3 * PAGE_SIZE, 4 * PAGE_SIZE, VM_READ | VM_WRITE],
  ], 'WRRW: three VMAs');
  t.equal(doMprotect(mm, a + PAGE_SIZE, 2 * PAGE_SIZE, RW), 0);
  t.equal(mm.vmas.length, 1, 'one VMA again');
  t.same([mm.vmas[0].vmStart, mm.vmas[0].vmEnd], [a, a + 4 * PAGE_SIZE]);
});

t.test('mprotect over a hole returns -ENOMEM', async (t) => {
  const k = new Kernel();
  const mm = new MmStruct(k);
  const a = doMmap(mm, 0, 2 * PAGE_SIZE, RW, ANON);
  t.equal(doMprotect(mm, a - PAGE_SIZE, 2 * PAGE_SIZE, PROT_READ), -ENOMEM, 'range starting in a hole');
  t.equal(mm.vmas[0].vmFlags & VM_WRITE, VM_WRITE, 'nothing changed');
  t.equal(mm.vmas.length, 1, 'nothing split');
  t.equal(doMprotect(mm, a + 4 * PAGE_SIZE, PAGE_SIZE, PROT_READ), -ENOMEM, 'range with no mapping at all');
  t.equal(doMprotect(mm, a + PAGE_SIZE, 2 * PAGE_SIZE, PROT_READ), -ENOMEM, 'range running past the end');
  t.equal(doMprotect(mm, a + 1, PAGE_SIZE, PROT_READ), -EINVAL, 'unaligned start: -EINVAL');
});

t.test('mprotect write-protects present ptes and notifies PROTECTION_VMA', async (t) => {
  const k = new Kernel();
  const mm = new MmStruct(k);
  const a = doMmap(mm, 0, 3 * PAGE_SIZE, RW, ANON);
  userStore(mm, a, Uint8Array.of(1));
  userStore(mm, a + PAGE_SIZE, Uint8Array.of(2));
  userLoad(mm, a + 2 * PAGE_SIZE, new Uint8Array(1)); // zero page
  const p0 = pte(mm, a)![1];
  const { seen } = recordingNotifier(mm, a, 3 * PAGE_SIZE);
  t.equal(doMprotect(mm, a, 3 * PAGE_SIZE, PROT_READ), 0);
  t.same(seen, [{ event: 'PROTECTION_VMA', start: a, end: a + 3 * PAGE_SIZE, owner: null }], 'one PROTECTION_VMA');
  t.same(pte(mm, a), [_PAGE_PRESENT | _PAGE_DIRTY, p0], 'page 0: RW gone, still present, same page');
  t.equal(pte(mm, a + PAGE_SIZE)![0] & _PAGE_RW, 0, 'page 1: RW gone');
  t.same(pte(mm, a + 2 * PAGE_SIZE), [_PAGE_PRESENT | _PAGE_SPECIAL, k.zeroPfn], 'the zero page pte is unchanged');
  expectSignal(t, () => userStore(mm, a, Uint8Array.of(9)), SIGSEGV, a);
  const b = new Uint8Array(1);
  userLoad(mm, a + PAGE_SIZE, b);
  t.equal(b[0], 2, 'reads still work');
  t.equal(doMprotect(mm, a, 3 * PAGE_SIZE, RW), 0);
  userStore(mm, a, Uint8Array.of(7));
  t.equal(pte(mm, a)![1], p0, 'the exclusive anon page is reused on the next write (do_wp_page)');
  t.equal(pte(mm, a)![0] & _PAGE_RW, _PAGE_RW, 'writable again');
  t.equal(k.pageAlloc.nrAllocated, 2, 'no copy was made');
});

t.test('mprotect of a range without page tables changes no pte and sends no notification', async (t) => {
  const k = new Kernel();
  const mm = new MmStruct(k);
  const a = doMmap(mm, 0, 3 * PAGE_SIZE, RW, ANON);
  const { seen } = recordingNotifier(mm, a, 3 * PAGE_SIZE);
  t.equal(doMprotect(mm, a, 3 * PAGE_SIZE, PROT_READ), 0);
  t.same(seen, [], 'no invalidation');
  t.equal(mm.pgtable.tables.size, 0, 'no page table created');
});

t.test('user access to PROT_NONE or unmapped memory kills with SIGSEGV', async (t) => {
  const k = new Kernel();
  const mm = new MmStruct(k);
  const a = doMmap(mm, 0, PAGE_SIZE, PROT_NONE, ANON);
  expectSignal(t, () => userLoad(mm, a + 5, new Uint8Array(1)), SIGSEGV, a + 5);
  expectSignal(t, () => userStore(mm, a, new Uint8Array(1)), SIGSEGV, a);
  expectSignal(t, () => userLoad(mm, 0x1000, new Uint8Array(1)), SIGSEGV, 0x1000);
  const r = doMmap(mm, 0, PAGE_SIZE, PROT_READ, ANON);
  expectSignal(t, () => userStore(mm, r + 8, new Uint8Array(1)), SIGSEGV, r + 8);
  t.equal(k.pageAlloc.nrAllocated, 0, 'nothing was allocated');
  t.equal(mm.pgtable.tables.size, 0, 'no page table');
});

t.test('copy_to_user/copy_from_user return the bytes not copied', async (t) => {
  const k = new Kernel();
  const mm = new MmStruct(k);
  const a = doMmap(mm, 0, PAGE_SIZE, RW, ANON);
  t.equal(a + PAGE_SIZE, MMAP_BASE, 'the page above is unmapped');
  const src = pattern(11, 300);
  t.equal(copyToUser(mm, a + PAGE_SIZE - 100, src), 200, '100 bytes fit, 200 not copied');
  const back = new Uint8Array(300).fill(0xee);
  t.equal(copyFromUser(mm, back, a + PAGE_SIZE - 100), 200, 'same on the way back');
  t.same(back.subarray(0, 100), src.subarray(0, 100), 'the part that was copied');
  t.equal(copyToUser(mm, a, src), 0, 'fully inside: 0');
  t.equal(copyToUser(mm, 0x2000, src), 300, 'entirely unmapped: nothing copied');
  const ro = doMmap(mm, 0, PAGE_SIZE, PROT_READ, ANON);
  t.equal(copyToUser(mm, ro, src), 300, 'read-only mapping: nothing copied, no signal');
  t.equal(copyFromUser(mm, back, ro), 0, 'but it can be read (zero page)');
  t.same(back, new Uint8Array(300), 'zeroes');
  const none = doMmap(mm, 0, PAGE_SIZE, PROT_NONE, ANON);
  t.equal(copyFromUser(mm, back, none), 300, 'PROT_NONE: nothing copied, no signal');
});

t.test('a 1 TiB mapping with three touched pages costs three page tables', async (t) => {
  const k = new Kernel();
  const mm = new MmStruct(k);
  const TiB = 2 ** 40;
  const a = doMmap(mm, 0, TiB, RW, ANON);
  t.equal(a, MMAP_BASE - TiB, 'placed below the mmap base');
  t.ok(a + TiB <= TASK_SIZE);
  const addrs = [a, a + TiB / 2 + 12345 * PAGE_SIZE, a + TiB - PAGE_SIZE];
  for (const [i, x] of addrs.entries()) userStore(mm, x, Uint8Array.of(i + 1));
  t.equal(mm.pgtable.tables.size, 3, 'three PteTables');
  t.equal(k.pageAlloc.nrAllocated, 3, 'three pages');
  userStore(mm, a + PAGE_SIZE, Uint8Array.of(4));
  t.equal(mm.pgtable.tables.size, 3, 'a neighbour in the same 2 MiB shares its table');
  t.equal(Math.floor(a / PMD_SIZE), Math.floor((a + PAGE_SIZE) / PMD_SIZE));
  for (const [i, x] of addrs.entries()) {
    const b = new Uint8Array(1);
    userLoad(mm, x, b);
    t.equal(b[0], i + 1, `page ${i} keeps its byte`);
  }
  t.equal(doMunmap(mm, a, TiB), 0);
  t.equal(mm.pgtable.tables.size, 0, 'all tables freed');
  t.equal(k.pageAlloc.nrAllocated, 0, 'all pages freed');
});

t.test('a broken refcount is caught at unmap time', async (t) => {
  const k = new Kernel();
  const mm = new MmStruct(k);
  const a = doMmap(mm, 0, PAGE_SIZE, RW, ANON);
  userStore(mm, a, Uint8Array.of(1));
  const p = pte(mm, a)![1];
  k.memmap.block(p).refcount[p % 512] = 0; // a reference dropped by somebody who did not own it
  let caught: unknown = null;
  try { doMunmap(mm, a, PAGE_SIZE); } catch (e) { caught = e; }
  t.match(String(caught), /model: put_page\(\): refcount underflow/, 'zap_pte_range\'s put_page underflows');
});

t.test('exit_mmap (last mmput) frees everything; interval notifiers hear it as UNMAP', async (t) => {
  const k = new Kernel();
  const mm = new MmStruct(k);
  const a = doMmap(mm, 0, 2 * PAGE_SIZE, RW, ANON);
  userStore(mm, a, Uint8Array.of(1));
  userStore(mm, a + PAGE_SIZE, Uint8Array.of(1));
  const { seen } = recordingNotifier(mm, a, PAGE_SIZE);
  mm.mmput();
  // 6.12: unmap_vmas() invalidates with MMU_NOTIFY_UNMAP; RELEASE goes to ->release(), not interval notifiers.
  t.same(seen.map((s) => s.event), ['UNMAP'], 'one UNMAP');
  t.ok(seen[0].start <= a && seen[0].end >= a + 2 * PAGE_SIZE, 'covering the mapping');
  t.equal(mm.mmUsers, 0, 'no user left');
  t.equal(k.pageAlloc.nrAllocated, 0);
  t.equal(mm.vmas.length, 0);
  t.equal(mm.rssAnon, 0);
});
