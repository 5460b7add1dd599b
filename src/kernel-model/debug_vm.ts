// SPDX-License-Identifier: GPL-2.0-only
/*
 * The model's CONFIG_DEBUG_VM: a whole-state check of struct pages against
 * the page tables that map them, for hmm-test fuzz and for tests (never on
 * a system-call path). The kernel checks these piecemeal (VM_BUG_ON_PAGE()
 * in the rmap helpers, bad_page() at free, check_mm()'s "Bad rss-counter
 * state" at exit); here they are checked all at once, between two actions,
 * when no page is in flight:
 *  - every page a pte, a PMD, a device-private or a device-exclusive entry
 *    names is live (refcount > 0, not on a free list), and its refcount
 *    covers what holds it: each entry one reference, the page cache one;
 *  - page_mapcount() equals the ptes and entries that map the page (a
 *    device-exclusive entry counts only with DEVICE_EXCLUSIVE_KEEP_MAPCOUNT,
 *    6.12 drops the rmap when it installs one); a large folio's
 *    _entire_mapcount, _large_mapcount and _nr_pages_mapped equal its PMD
 *    mappings, all its mappings and its pages mapped by a pte;
 *  - only a device-private entry names a device-private page (the CPU
 *    cannot map one);
 *  - each mm's rss counters equal the entries counted (check_mm()).
 * Cost: one pass over the pte tables and huge PMDs that exist, O(mapped
 * memory), and a table of the pages found (PageUses); struct pages no entry names are
 * not visited (the unload check and bad_page() cover those).
 * Reports read as the kernel prints them: dump_page()'s line and the
 * VM_BUG_ON_PAGE() condition that failed, or check_mm()'s line.
 */
import type { Kernel } from './kernel.js';
import { Memmap, type Page, PAGE_SIZE, PMD_SIZE, PTRS_PER_PTE, HPAGE_PMD_NR, PG_anon, PG_buddy, PG_compound } from './page.js';
import { ptePresent, pteSpecial, swpType, isDevicePrivateEntry, isDeviceExclusiveEntry, isMigrationEntry } from './pgtable.js';
import { compoundHead, folioOrder } from './page_alloc.js';
import { isDevicePrivatePage } from './memremap.js';
import type { MmStruct } from './mm.js';
import { DEVICE_EXCLUSIVE_KEEP_MAPCOUNT } from './changes.js';

/** What the page tables hold of one page, counted by the walk. */
export interface PageUse {
  page: Page;
  /** Present ptes (not special). */
  ptes: number;
  /** Device-private entries. */
  devicePrivate: number;
  /** Device-exclusive entries. */
  exclusive: number;
  /** PMD (or hugetlb) mappings of the folio, counted on its head. */
  pmds: number;
  /** The first entry found, for a report ("mm 3 0x7f0000001000 pte"): its mm, address and kind. */
  mm: number;
  addr: number;
  kind: string;
}

/**
 * The pages the walk found, in the order it first found them, each with
 * its PageUse: an open-addressing table on the pfn whose records and slots
 * outlive the walk, so a check after every action allocates nothing per
 * page (a Map cleared and refilled each time reallocates its table).
 */
export class PageUses {
  private readonly recs: PageUse[] = [];
  private n = 0;
  /** Per slot, the record's index + 1, valid where gens[] holds this walk's generation. */
  private slots = new Int32Array(1024);
  private gens = new Int32Array(1024);
  private gen = 1;

  get size(): number { return this.n; }
  /** The i-th page found (i < size). */
  at(i: number): PageUse { return this.recs[i]; }
  clear(): void {
    this.n = 0;
    if (++this.gen === 0x7fffffff) { this.gens.fill(0); this.gen = 1; }
  }
  /** The slot of page, or of the free slot where it goes. */
  private slot(page: Page): number {
    const mask = this.slots.length - 1;
    let h = Math.imul((page | 0) ^ ((page / 0x100000000) | 0), 0x9e3779b1);
    h = (h ^ (h >>> 15)) & mask;
    while (this.gens[h] === this.gen && this.recs[this.slots[h] - 1].page !== page) h = (h + 1) & mask;
    return h;
  }
  get(page: Page): PageUse | undefined {
    const h = this.slot(page);
    return this.gens[h] === this.gen ? this.recs[this.slots[h] - 1] : undefined;
  }
  has(page: Page): boolean { return this.gens[this.slot(page)] === this.gen; }
  /** The record of page, a fresh one (counts 0, first entry mm/addr/kind) if the walk had not found it. */
  take(page: Page, mm: number, addr: number, kind: string): PageUse {
    let h = this.slot(page);
    if (this.gens[h] === this.gen) return this.recs[this.slots[h] - 1];
    if (2 * (this.n + 1) > this.slots.length) { this.grow(); h = this.slot(page); }
    let u = this.recs[this.n];
    if (u === undefined) this.recs.push(u = { page, ptes: 0, devicePrivate: 0, exclusive: 0, pmds: 0, mm, addr, kind });
    else { u.page = page; u.ptes = u.devicePrivate = u.exclusive = u.pmds = 0; u.mm = mm; u.addr = addr; u.kind = kind; }
    this.slots[h] = ++this.n;
    this.gens[h] = this.gen;
    return u;
  }
  private grow(): void {
    this.slots = new Int32Array(this.slots.length * 2);
    this.gens = new Int32Array(this.slots.length);
    this.gen = 1;
    for (let i = 0; i < this.n; i++) {
      const h = this.slot(this.recs[i].page);
      this.slots[h] = i + 1;
      this.gens[h] = 1;
    }
  }
}

/** The walk's result: every page an entry names, and what is wrong. One per kernel, reused by the next walk. */
export interface VmWalk {
  uses: PageUses;
  reports: string[];
}

const walks = new WeakMap<Kernel, VmWalk>();

const hex = (n: number) => `0x${n.toString(16)}`;

/** The mms of the kernel's live tasks, each once (threads share theirs). */
export function liveMms(k: Kernel): MmStruct[] {
  const mms = new Set<MmStruct>();
  for (const t of k.tasks.values()) if (t.mm !== null && t.mm.mmUsers > 0) mms.add(t.mm);
  return [...mms];
}

/** dump_page()'s first line (mm/debug.c: __dump_page()). */
export function dumpPageLine(k: Kernel, page: Page): string {
  const b = k.memmap.block(page), i = Memmap.slot(page);
  return `page: refcount:${b.refcount[i]} mapcount:${b.mapcount[i]} mapping:${b.mapping[i] ? hex(Math.abs(b.mapping[i])) : '0000000000000000'} ` +
    `index:${hex(b.index[i])} pfn:${hex(page)}`;
}

const use = (w: VmWalk, page: Page, mm: number, addr: number, kind: string): PageUse => w.uses.take(page, mm, addr, kind);

/** Whether the page (the head's flag for a folio's page) is anon: which rss counter it is in. */
function anonPage(k: Kernel, page: Page): boolean {
  const b = k.memmap.block(page), i = Memmap.slot(page);
  if (!(b.flags[i] & PG_compound)) return (b.flags[i] & PG_anon) !== 0;
  const head = compoundHead(k, page);
  return (k.memmap.block(head).flags[Memmap.slot(head)] & PG_anon) !== 0;
}

/** One mm's entries into the walk; returns the rss the entries stand for. */
function walkMm(k: Kernel, mm: MmStruct, w: VmWalk): { anon: number; file: number } {
  // Called after every fuzz action: no closure or string per entry, only in a report.
  let anon = 0, file = 0;
  for (const [key, t] of mm.pgtable.tables) {
    if (t.used === 0) continue;
    const val = t.val, pfn = t.pfn, base = key * PMD_SIZE;
    for (let i = 0; i < PTRS_PER_PTE; i++) {
      const v = val[i];
      if (v === 0) continue;
      const page = pfn[i], addr = base + i * PAGE_SIZE;
      if (ptePresent(v)) {
        if (pteSpecial(v)) continue; // the zero page, a VM_PFNMAP pfn: no struct page counts
        use(w, page, mm.id, addr, 'pte').ptes++;
      } else if (isDevicePrivateEntry(v)) {
        use(w, page, mm.id, addr, 'device-private entry').devicePrivate++;
      } else if (isDeviceExclusiveEntry(v)) {
        use(w, page, mm.id, addr, 'device-exclusive entry').exclusive++;
      } else {
        w.reports.push(isMigrationEntry(v)
          ? `BUG: migration entry left in place: mm ${mm.id} ${hex(addr)} names pfn ${hex(page)} between two system calls (model: no migration is running)`
          : `BUG: Bad swap entry type ${swpType(v)} at mm ${mm.id} ${hex(addr)}`);
        continue;
      }
      if (anonPage(k, page)) anon++;
      else file++;
    }
  }
  for (const [key, h] of mm.pgtable.huge) {
    if (!ptePresent(h.val)) {
      w.reports.push(`BUG: non-present huge PMD left in place at mm ${mm.id} ${hex(key * PMD_SIZE)} (model: no migration is running)`);
      continue;
    }
    if (pteSpecial(h.val)) continue; // the huge zero page
    const head = compoundHead(k, h.pfn);
    use(w, head, mm.id, key * PMD_SIZE, 'pmd').pmds++;
    // A hugetlb mapping is not in rss (hugetlb_usage); a THP PMD is HPAGE_PMD_NR pages of it.
    if (k.pageAlloc.large.get(head)?.hugetlb) continue;
    if (anonPage(k, head)) anon += HPAGE_PMD_NR;
    else file += HPAGE_PMD_NR;
  }
  return { anon, file };
}

/** Walk every live mm's page tables; the per-page and per-folio checks follow in checkVmInvariants(). */
export function walkVm(k: Kernel): VmWalk {
  let w = walks.get(k);
  if (w === undefined) walks.set(k, w = { uses: new PageUses(), reports: [] });
  w.uses.clear();
  w.reports = [];
  for (const mm of liveMms(k)) {
    const rss = walkMm(k, mm, w);
    if (rss.anon !== mm.rssAnon) w.reports.push(`BUG: Bad rss-counter state mm:${mm.id} type:MM_ANONPAGES val:${mm.rssAnon} (model: the page tables map ${rss.anon})`);
    if (rss.file !== mm.rssFile) w.reports.push(`BUG: Bad rss-counter state mm:${mm.id} type:MM_FILEPAGES+MM_SHMEMPAGES val:${mm.rssFile} (model: the page tables map ${rss.file})`);
  }
  return w;
}

/** What holds a page, for its report. */
const holds = (u: PageUse): string =>
  `${u.ptes} pte(s), ${u.devicePrivate} device-private, ${u.exclusive} device-exclusive entr(y/ies)${u.pmds ? `, ${u.pmds} PMD(s)` : ''}; first mm ${u.mm} ${hex(u.addr)} ${u.kind}`;

/** The report of one page whose counts do not match what maps it. */
function bad(k: Kernel, page: Page, cond: string, why: string): string {
  return `VM_BUG_ON_PAGE(${cond}): ${dumpPageLine(k, page)}: ${why}`;
}

/**
 * Check the struct pages every entry names against the entries (see the
 * file comment). Returns the walk, whose `reports` are the broken
 * invariants, one line each, empty when all hold.
 */
export function checkVmInvariants(k: Kernel): VmWalk {
  const w = walkVm(k);
  const keep = k.has(DEVICE_EXCLUSIVE_KEEP_MAPCOUNT);
  const folios = new Map<Page, { ptes: number; pagesMapped: number; refs: number; pmds: number }>();
  for (let r = 0; r < w.uses.size; r++) {
    const u = w.uses.at(r), page = u.page;
    const b = k.memmap.block(page), i = Memmap.slot(page);
    if (b.flags[i] & PG_buddy) { w.reports.push(bad(k, page, 'PageBuddy(page)', `a free page is mapped: ${holds(u)}`)); continue; }
    if (isDevicePrivatePage(k, page) !== (u.devicePrivate > 0) && (u.devicePrivate > 0 || u.ptes > 0 || u.pmds > 0)) {
      w.reports.push(bad(k, page, u.devicePrivate ? '!is_device_private_page(page)' : 'is_device_private_page(page)',
        u.devicePrivate ? `a device-private entry names a page that is not device-private: ${holds(u)}` : `the CPU maps a device-private page: ${holds(u)}`));
    }
    const pteMaps = u.ptes + u.devicePrivate + (keep ? u.exclusive : 0);
    const refs = u.ptes + u.devicePrivate + u.exclusive + u.pmds;
    if (b.flags[i] & PG_compound) {
      const head = compoundHead(k, page);
      let f = folios.get(head);
      if (f === undefined) folios.set(head, f = { ptes: 0, pagesMapped: 0, refs: 0, pmds: 0 });
      f.ptes += pteMaps;
      f.pagesMapped += pteMaps > 0 ? 1 : 0;
      f.refs += refs;
      f.pmds += u.pmds;
      // A large folio's page keeps its pte mappings in its own mapcount, its PMD mappings in the folio's.
      if (b.mapcount[i] !== pteMaps) w.reports.push(bad(k, page, `page_mapcount(page) != ${pteMaps + (page === head ? lfEntire(k, head) : 0)}`, holds(u)));
      continue;
    }
    if (b.mapcount[i] !== pteMaps) w.reports.push(bad(k, page, `page_mapcount(page) != ${pteMaps}`, holds(u)));
    const cache = !(b.flags[i] & PG_anon) && b.mapping[i] !== 0 ? 1 : 0;
    if (b.refcount[i] < refs + cache) {
      w.reports.push(bad(k, page, `page_ref_count(page) < ${refs + cache}`, `${holds(u)}${cache ? ', and the page cache' : ''}`));
    }
  }
  for (const [head, f] of folios) checkFolio(k, head, f, w);
  return w;
}

const lfEntire = (k: Kernel, head: Page) => k.pageAlloc.large.get(head)?.entireMapcount ?? 0;

function checkFolio(k: Kernel, head: Page, f: { ptes: number; pagesMapped: number; refs: number; pmds: number }, w: VmWalk): void {
  const lf = k.pageAlloc.large.get(head);
  if (lf === undefined) { w.reports.push(bad(k, head, 'folio_test_large(folio)', 'a large folio\'s page has no folio')); return; }
  const b = k.memmap.block(head), i = Memmap.slot(head);
  const nr = 1 << folioOrder(k, head);
  const cache = !(b.flags[i] & PG_anon) && b.mapping[i] !== 0 ? nr : 0;
  const what = `folio of ${nr} pages: ${f.pmds} PMD mapping(s), ${f.ptes} pte mapping(s) of ${f.pagesMapped} page(s)`;
  if (lf.entireMapcount !== f.pmds) w.reports.push(bad(k, head, `folio_entire_mapcount(folio) != ${f.pmds}`, `_entire_mapcount ${lf.entireMapcount}; ${what}`));
  if (lf.largeMapcount !== f.pmds + f.ptes) w.reports.push(bad(k, head, `folio_mapcount(folio) != ${f.pmds + f.ptes}`, `_large_mapcount ${lf.largeMapcount}; ${what}`));
  if (lf.nrPagesMapped !== f.pagesMapped) w.reports.push(bad(k, head, `folio_nr_pages_mapped(folio) != ${f.pagesMapped}`, `_nr_pages_mapped ${lf.nrPagesMapped}; ${what}`));
  if (b.refcount[i] < f.refs + cache) w.reports.push(bad(k, head, `folio_ref_count(folio) < ${f.refs + cache}`, `${what}${cache ? ', and the page cache' : ''}`));
}
