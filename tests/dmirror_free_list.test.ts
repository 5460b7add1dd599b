// SPDX-License-Identifier: GPL-2.0-only
/*
 * The device's free list (dmirror_allocate_chunk(), dmirror_devmem_alloc_page(),
 * dmirror_devmem_free(), dmirror_remove_free_pages()) kept as a run that is
 * not written out (test_hmm.ts FreeRun) must hand out exactly the pages 6.12's
 * eagerly linked list does, in the same order, with the same counts, and read
 * the same links. The reference here is the C's list as an array (a stack).
 */
import t from 'tap';
import { Kernel } from '../src/kernel-model/kernel.js';
import { putPage } from '../src/kernel-model/page_alloc.js';
import { physToPfn } from '../src/kernel-model/page.js';
import { rangeLen } from '../src/kernel-model/memremap.js';
import { hmmDmirrorInit, hmmDmirrorExit, dmirrorDevmemAllocPage, dmirrorFreeNext, zoneDeviceData,
  type DmirrorDevice } from '../src/dmirror/test_hmm.js';
import { Prng } from '../src/kernel-model/random.js';
import { PRIVATE } from './helpers.js';

/** The free list as the C links it, head first, by following zone_device_data (through the model's reader). */
function walk(mdevice: DmirrorDevice): number[] {
  const out: number[] = [];
  for (let p = mdevice.freePages; p !== 0 && out.length < 1 << 20; p = dmirrorFreeNext(mdevice, p)) out.push(p);
  return out;
}

function boot() {
  const k = new Kernel();
  const { ret, mod } = hmmDmirrorInit(k, PRIVATE);
  if (ret || !mod) throw new Error(`load failed ${ret}`);
  return { k, mod, dev: mod.devices[0] };
}

t.test('pages come off in the eager list\'s order, frees go on its head, counts as the C\'s', (t) => {
  const { k, mod, dev } = boot();
  const range = dev.devmemChunks[0].pagemap.range;
  const first = physToPfn(range.start), n = physToPfn(rangeLen(range));
  // 6.12's loop: every pfn pushed in order, so the list is last pfn .. first pfn.
  const ref: number[] = [];
  for (let i = n - 1; i >= 0; i--) ref.push(first + i);
  t.same(walk(dev).slice(0, 5), ref.slice(0, 5));
  t.equal(walk(dev).length, n, 'every page of the chunk is on the list');
  const rnd = new Prng(5), below = (n: number) => rnd.u32() % n;
  const held: number[] = [];
  let calloc = 0, cfree = 0;
  for (let step = 0; step < 3000; step++) {
    if (held.length === 0 || below(3) !== 0) {
      const page = dmirrorDevmemAllocPage(dev);
      t.equal(page, ref.shift(), `step ${step}: the page 6.12 hands out`);
      held.push(page);
      calloc++;
    } else {
      const page = held.splice(below(held.length), 1)[0];
      putPage(k, page);
      ref.unshift(page);
      cfree++;
    }
    if (step % 1500 === 0) t.same(walk(dev), ref, `step ${step}: the whole list, link by link`);
  }
  t.equal(dev.calloc, calloc);
  t.equal(dev.cfree, cfree);
  // A page handed out holds the C's link until the driver sets its rpage: here the rpage (a system page).
  t.ok(zoneDeviceData(k, held[0]) > 0);
  for (const p of held) putPage(k, p);
  t.same(hmmDmirrorExit(mod), [], 'unload finds every page back');
  t.end();
});

t.test('a new chunk made when the list is empty: its pages from its top; unload walks both chunks', (t) => {
  const { k, mod, dev } = boot();
  const n = physToPfn(rangeLen(dev.devmemChunks[0].pagemap.range));
  const pages: number[] = [];
  for (let i = 0; i < n + 3; i++) pages.push(dmirrorDevmemAllocPage(dev));
  t.equal(dev.devmemChunks.length, 2, 'the first chunk ran out: a second one');
  const second = physToPfn(dev.devmemChunks[1].pagemap.range.start) + n - 1;
  t.same(pages.slice(n, n + 3), [second, second - 1, second - 2], 'its pages from the top, as the C pushes them');
  for (const p of pages) putPage(k, p);
  t.equal(walk(dev).length, 2 * n, 'the freed pages, then the rest of the second chunk\'s run');
  t.equal(dev.calloc, n + 3);
  t.equal(dev.cfree, n + 3);
  t.same(hmmDmirrorExit(mod), []);
  t.end();
});

t.test('break it: a run that loses its lowest page is caught by the walk and by unload', (t) => {
  const { mod, dev } = boot();
  const n = physToPfn(rangeLen(dev.devmemChunks[0].pagemap.range));
  dev.freeRun!.first++;
  t.equal(walk(dev).length, n - 1, 'the list is one page short');
  t.match(hmmDmirrorExit(mod)[0], /1 of 65536 device pages not back on the free list/);
  t.end();
});
