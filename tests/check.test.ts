// SPDX-License-Identifier: GPL-2.0-only
/*
 * checkInvariants() (src/dmirror/check.ts over kernel-model/debug_vm.ts):
 * clean after every action of scenarios that reach each kind of entry
 * (ptes, THP PMDs, device-private and device-exclusive entries, fork, tmpfs,
 * both device kinds), and each invariant fires when its state is corrupted.
 */
import t, { type Test } from 'tap';
import { parseScenario } from '../src/scenario/parse.js';
import { runScenario } from '../src/scenario/run.js';
import type { BootedCase } from '../src/runner.js';
import { checkInvariants, openMirrors, loadedTestHmm } from '../src/dmirror/check.js';
import { Memmap, PAGE_SIZE, type Page } from '../src/kernel-model/page.js';
import { pteIndex, mkSwpEntry, SWP_MIGRATION_READ, isDevicePrivateEntry } from '../src/kernel-model/pgtable.js';
import { zoneDeviceData, setZoneDeviceData, dmirrorDevmemAllocPage } from '../src/dmirror/test_hmm.js';
import { xaUntagPointer, DPT_XA_TAG_WRITE } from '../src/dmirror/xarray.js';

const HEAD = 'config:\n  kernel: "6.12"\nsteps:\n  - open: 0\n  - open: 1\n';
const COHERENT_HEAD = 'config:\n  kernel: "6.12"\n  module: { spm_addr_dev0: 0x100000000, spm_addr_dev1: 0x110000000, spm_type: coherent }\nsteps:\n  - open: 2\n';

/** Run a scenario; after its last top-level action, `fn` gets the kernel and the buffers' addresses (by mmap order). */
function after(yaml: string, fn: (c: BootedCase, bufs: number[]) => void, every?: (c: BootedCase, what: string) => void): void {
  const sc = parseScenario(yaml, 'check.yaml');
  const top = sc.steps.length;
  let n = 0;
  const bufs: number[] = [];
  runScenario(sc, {
    line: () => {}, check: () => {},
    afterStep: (ev) => {
      every?.(ev.c, `${ev.label}${ev.step.op} at line ${ev.step.pos.line}`);
      if (ev.label === '' && ev.step.kind === 'mmap') bufs.push(ev.c.task.mm.vmas.at(-1)!.vmStart);
      if (ev.label === '' && ++n === top) fn(ev.c, bufs);
      return null;
    },
  });
}

const clean = (t: Test) => (c: BootedCase, what: string) => t.same(checkInvariants(c.k, { freeLists: true }), [], `clean after ${what}`);

/** The pte table and slot of addr in the scenario process's mm. */
function pte(c: BootedCase, addr: number) {
  const pt = c.task.mm.pgtable, tb = pt.lookup(addr)!;
  return { pt, tb, i: pteIndex(addr) };
}

function fires(t: Test, c: BootedCase, re: RegExp, what: string): void {
  const r = checkInvariants(c.k, { freeLists: true });
  t.ok(r.some((l) => re.test(l)), `${what}: ${r[0] ?? 'nothing reported'}`);
}

t.test('clean after every action: anon, tmpfs, THP, migration, mirror, exclusive, fork, release', (t) => {
  after(HEAD + [
    '  - mmap: { name: a, pages: 6 }', '  - mmap: { name: f, pages: 3, type: file, share: shared }', '  - mmap: { name: h, type: thp }',
    '  - store: { buf: a, pages: "0-5", pattern: index+1 }', '  - store: { buf: f, pages: "0-2", pattern: index+2 }',
    '  - store: { buf: h, pages: "0-3", pattern: index+3 }', '  - READ: { dev: dmirror0, buf: h, pages: "0-3" }',
    '  - MIGRATE_TO_DEV: { dev: dmirror0, buf: a, pages: "0-2" }', '  - READ: { dev: dmirror1, buf: a, pages: "3-5" }',
    '  - EXCLUSIVE: { dev: dmirror1, buf: a, pages: "4-5" }', '  - READ: { dev: dmirror0, buf: f, pages: "0-2" }',
    '  - fork:', '      name: c', '      steps:', '        - store: { buf: a, pages: "0-5", pattern: index+4 }', '        - load: { buf: h, pages: "0-1" }',
    '  - mprotect: { buf: a, pages: "3", prot: r }', '  - WRITE: { dev: dmirror1, buf: a, pages: "5", data: index+5 }',
    '  - madvise: { buf: h, pages: "1", advice: MADV_DONTNEED }', '  - MIGRATE_TO_SYS: { dev: dmirror0, buf: a, pages: "0-1" }',
    '  - RELEASE: { dev: dmirror0 }', '  - load: { buf: a, pages: "0-5" }', ''].join('\n'), () => {}, clean(t));
  after(COHERENT_HEAD + ['  - mmap: { name: a, pages: 4 }', '  - store: { buf: a, pages: "0-3", pattern: index+1 }',
    '  - MIGRATE_TO_DEV: { dev: dmirror2, buf: a, pages: "0-3" }', '  - READ: { dev: dmirror2, buf: a, pages: "0-3" }',
    '  - store: { buf: a, pages: "1", pattern: index+2 }', '  - READ: { dev: dmirror2, buf: a, pages: "1" }', ''].join('\n'), () => {}, clean(t));
  t.end();
});

t.test('break it: page counts against the page tables', (t) => {
  const y = HEAD + '  - mmap: { name: a, pages: 2 }\n  - store: { buf: a, pages: "0-1", pattern: index+1 }\n';
  after(y, (c, [a]) => {
    const { tb, i } = pte(c, a), b = c.k.memmap.block(tb.pfn[i]), s = Memmap.slot(tb.pfn[i]);
    b.mapcount[s]++;
    fires(t, c, /^VM_BUG_ON_PAGE\(page_mapcount\(page\) != 1\): page: refcount:1 mapcount:2 .*pfn:0x/, 'a mapcount one too high');
    b.mapcount[s]--;
    b.refcount[s] = 0;
    fires(t, c, /^VM_BUG_ON_PAGE\(page_ref_count\(page\) < 1\)/, 'a mapped page with no reference');
    b.refcount[s] = 1;
    t.same(checkInvariants(c.k), [], 'and clean once restored');
    c.task.mm.rssAnon++;
    fires(t, c, /^BUG: Bad rss-counter state mm:\d+ type:MM_ANONPAGES val:3 \(model: the page tables map 2\)$/, 'an rss counter off by one');
    c.task.mm.rssAnon--;
  });
  after(y, (c, [a]) => {
    const { pt, tb, i } = pte(c, a + PAGE_SIZE);
    pt.set(tb, i, tb.pfn[i], mkSwpEntry(SWP_MIGRATION_READ));
    fires(t, c, /^BUG: migration entry left in place/, 'a migration entry nobody removes');
  });
  after(HEAD + '  - mmap: { name: a, pages: 2 }\n  - MIGRATE_TO_DEV: { dev: dmirror0, buf: a, pages: "0-1" }\n', (c, [a]) => {
    const { pt, tb, i } = pte(c, a);
    t.ok(isDevicePrivateEntry(tb.val[i]), 'the page is on the device');
    const dpage = tb.pfn[i];
    pt.set(tb, i, dpage, 0x01 | 0x02); // a present, writable pte of the device-private page
    fires(t, c, /^VM_BUG_ON_PAGE\(is_device_private_page\(page\)\).*the CPU maps a device-private page/, 'the CPU mapping a device-private page');
  });
  t.end();
});

t.test('break it: large folio counts', (t) => {
  after(HEAD + '  - mmap: { name: h, type: thp }\n  - store: { buf: h, pages: "0", pattern: index+1 }\n', (c, [h]) => {
    const head = c.task.mm.pgtable.lookupHuge(h)!.pfn as Page, lf = c.k.pageAlloc.large.get(head)!;
    t.equal(lf.entireMapcount, 1, 'a THP mapped by a PMD');
    lf.largeMapcount++;
    fires(t, c, /^VM_BUG_ON_PAGE\(folio_mapcount\(folio\) != 1\): .*_large_mapcount 2; folio of 512 pages: 1 PMD mapping/, '_large_mapcount off');
    lf.largeMapcount--;
    lf.entireMapcount = 0;
    fires(t, c, /^VM_BUG_ON_PAGE\(folio_entire_mapcount\(folio\) != 1\)/, '_entire_mapcount lost');
  });
  t.end();
});

t.test('break it: mirror entries against the CPU page table', (t) => {
  const y = HEAD + '  - mmap: { name: a, pages: 3 }\n  - store: { buf: a, pages: "0-2", pattern: index+1 }\n  - mprotect: { buf: a, pages: "2", prot: r }\n' +
    '  - READ: { dev: dmirror0, buf: a, pages: "0-2" }\n';
  after(y, (c, [a]) => {
    const [d] = openMirrors(c.k).filter((m) => m.mdevice.id === 0), idx = a / PAGE_SIZE;
    const e0 = d.pt.load(idx), e1 = d.pt.load(idx + 1), e2 = d.pt.load(idx + 2);
    t.ok(e0 && e1 && e2, 'the mirror holds the three pages');
    d.pt.store(idx, xaUntagPointer(e1), DPT_XA_TAG_WRITE);
    fires(t, c, /^WARNING: dmirror: hmm_dmirror0 mirror of mm \d+: entry 0x[0-9a-f]+ -> pfn 0x[0-9a-f]+ WRITE is stale: the CPU maps pfn 0x/, 'an entry naming another page');
    d.pt.store(idx, xaUntagPointer(e0), DPT_XA_TAG_WRITE);
    d.pt.store(idx + 2, xaUntagPointer(e2), DPT_XA_TAG_WRITE);
    fires(t, c, /is stale: the entry is WRITE and the CPU pte read-only$/, 'a WRITE entry over a read-only pte');
    d.pt.store(idx + 2, xaUntagPointer(e2), 0);
    d.pt.store(idx + 3, xaUntagPointer(e2), 0);
    fires(t, c, /is stale: the CPU page table maps nothing there$/, 'an entry where the CPU maps nothing');
    d.pt.erase(idx + 3);
    t.same(checkInvariants(c.k), [], 'and clean once restored');
  });
  t.end();
});

t.test('the 6.12 dmirror_do_fault() state: the device-private page itself in the mirror is legal, not with the fix', (t) => {
  const steps = 'steps:\n  - open: 0\n  - mmap: { name: a, pages: 1 }\n  - MIGRATE_TO_DEV: { dev: dmirror0, buf: a, pages: "0" }\n';
  for (const patches of ['', '  patches: [dmirror_do_fault-backing-page]\n']) {
    after(`config:\n  kernel: "6.12"\n${patches}${steps}`, (c, [a]) => {
      const [d] = openMirrors(c.k), dpage = pte(c, a).tb.pfn[pte(c, a).i];
      t.equal(xaUntagPointer(d.pt.load(a / PAGE_SIZE)), zoneDeviceData(c.k, dpage), 'the migration stored BACKING_PAGE(dpage)');
      d.pt.store(a / PAGE_SIZE, dpage, DPT_XA_TAG_WRITE); // what 6.12's dmirror_do_fault() stores after an invalidation
      if (patches === '') t.same(checkInvariants(c.k), [], '6.12: legal state');
      else fires(t, c, /is stale: the CPU has a device-private entry of pfn 0x[0-9a-f]+, whose backing page is 0x/, 'with the fix: a stale entry');
    });
  }
  t.end();
});

t.test('break it: device pages and free lists', (t) => {
  const y = HEAD + '  - mmap: { name: a, pages: 2 }\n  - MIGRATE_TO_DEV: { dev: dmirror0, buf: a, pages: "0-1" }\n';
  after(y, (c) => {
    const mdev = loadedTestHmm(c.k)!.devices[1];
    const lost = dmirrorDevmemAllocPage(mdev);
    fires(t, c, /^BUG: hmm_dmirror1: device page in use that no page table maps \(lost\): page: refcount:1 mapcount:0/, 'a device page handed out and dropped');
    t.ok(lost > 0);
    mdev.freePages = zoneDeviceData(c.k, mdev.freePages); // a free page dropped off the list
    fires(t, c, /^BUG: hmm_dmirror1: 65534 free \+ 1 in use != 65536 device pages$/, 'the free list and the pages in use disagree');
  });
  after(y, (c, [a]) => {
    const mdev = loadedTestHmm(c.k)!.devices[0], dpage = pte(c, a).tb.pfn[pte(c, a).i];
    // dpage pushed onto the free list while mapped: a double free.
    setZoneDeviceData(c.k, dpage, mdev.freePages);
    mdev.freePages = dpage;
    fires(t, c, /^BUG: hmm_dmirror0: free page in use: page: refcount:1 mapcount:1 /, 'a mapped page on the free list');
    fires(t, c, /device-private page without a live backing page/, 'and its backing page link lost with it');
  });
  after(y, (c) => {
    const mdev = loadedTestHmm(c.k)!.devices[0], head = mdev.freePages, second = zoneDeviceData(c.k, head);
    setZoneDeviceData(c.k, second, head);
    fires(t, c, /^BUG: hmm_dmirror0: free list lists pfn 0x[0-9a-f]+ twice \(after 2 entries\)$/, 'a loop in the free list');
  });
  t.end();
});
