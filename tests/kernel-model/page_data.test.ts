// SPDX-License-Identifier: GPL-2.0-only
/*
 * Tests of the model's page storage (src/kernel-model/page_data.ts) and of
 * the deferred page copies highmem.ts and copy_{to,from}_user() make with
 * it: whatever is copied, readers see the bytes of the moment of the copy,
 * whichever side is written or freed afterwards. And of vmalloc()/vfree()
 * (src/kernel-model/vmalloc.ts).
 */
import t from 'tap';
import { Kernel } from '../../src/kernel-model/kernel.js';
import { PAGE_SIZE } from '../../src/kernel-model/page.js';
import { HostMemory, PageDataPool, MAX_SHARERS } from '../../src/kernel-model/page_data.js';
import { copyHighpage, memcpyFromPage, memcpyToPage, pageBytesRead, pageBytesWrite } from '../../src/kernel-model/highmem.js';
import { vmalloc, vfree } from '../../src/kernel-model/vmalloc.js';
import { Task } from '../../src/kernel-model/task.js';
import { MAP_ANONYMOUS, MAP_PRIVATE, PROT_READ, PROT_WRITE } from '../../src/kernel-model/mm.js';
import { copyFromUser, copyToUser, userLoad, userStore } from '../../src/kernel-model/memory.js';
import { putPage, unlockPage } from '../../src/kernel-model/page_alloc.js';
import { smoke, PRIVATE } from '../helpers.js';
import { expectKernelBug, pattern, registeredDevice } from './fixtures/fake_device.js';
import { MEMORY_DEVICE_GENERIC, memunmapPages } from '../../src/kernel-model/memremap.js';

const read = (k: Kernel, page: number) => pageBytesRead(k, page, 'test') ?? new Uint8Array(PAGE_SIZE);

t.test('copy_highpage shares storage until either page is written, and each side keeps its bytes', async (t) => {
  const k = new Kernel();
  const a = k.pageAlloc.allocPage(), b = k.pageAlloc.allocPage(), c = k.pageAlloc.allocPage();
  pageBytesWrite(k, a, 'test').set(pattern(1));
  const inUse = k.pageData.inUse;
  copyHighpage(k, b, a);
  copyHighpage(k, c, a);
  t.equal(k.pageData.inUse, inUse, 'no bytes copied yet: the three pages share one slot');
  pageBytesWrite(k, a, 'test')[0] = 0xee;
  t.equal(read(k, a)[0], 0xee, 'the writer sees its write');
  t.same(read(k, b), pattern(1), 'b still holds the bytes of the copy');
  t.same(read(k, c), pattern(1), 'and so does c');
  t.equal(k.pageData.inUse, inUse + 1, 'the write gave a its own slot');
  pageBytesWrite(k, c, 'test')[1] = 0xdd;
  t.same(read(k, b), pattern(1), 'a write to c leaves b alone');
  t.equal(read(k, c)[1], 0xdd);
  t.equal(k.pageData.inUse, inUse + 2, 'c has its own slot too');
  putPage(k, b);
  t.equal(read(k, c)[1], 0xdd, 'freeing b leaves the others');
  t.equal(k.pageData.inUse, inUse + 1, 'b held the last share of the original slot: it is free');
});

t.test('freeing the source of a copy (a migration) moves the storage', async (t) => {
  const k = new Kernel();
  const src = k.pageAlloc.allocPage(), dst = k.pageAlloc.allocPage();
  pageBytesWrite(k, src, 'test').set(pattern(5));
  const inUse = k.pageData.inUse;
  copyHighpage(k, dst, src);
  putPage(k, src);
  t.same(read(k, dst), pattern(5), 'the destination holds the data');
  t.equal(k.pageData.inUse, inUse, 'one slot in use, as before the copy');
  pageBytesWrite(k, dst, 'test')[0] = 1;
  t.equal(k.pageData.inUse, inUse, 'its sole user writes in place');
});

t.test('a vmalloc() area takes and gives whole pages by sharing, parts by copying', async (t) => {
  const k = new Kernel();
  const a = k.pageAlloc.allocPage(), b = k.pageAlloc.allocPage();
  pageBytesWrite(k, a, 'test').set(pattern(2));
  const area = vmalloc(k, 3 * PAGE_SIZE)!;
  t.ok(area, 'vmalloc() of three pages');
  memcpyFromPage(k, area, PAGE_SIZE, a, 0, PAGE_SIZE);
  memcpyFromPage(k, area, 2 * PAGE_SIZE + 10, a, 0, 20);
  pageBytesWrite(k, a, 'test').fill(0);
  memcpyToPage(k, b, 0, area, PAGE_SIZE, PAGE_SIZE);
  t.same(read(k, b), pattern(2), 'the page went through the area unchanged by the later write to its source');
  memcpyToPage(k, b, 0, area, 2 * PAGE_SIZE + 10, 20);
  t.same(read(k, b).subarray(0, 20), pattern(2).subarray(0, 20), 'a part of a page, by bytes');
  memcpyToPage(k, b, 100, area, 0, 8);
  t.same(read(k, b).subarray(100, 108), new Uint8Array(8), 'an area page never written reads as zeroes');
  vfree(k, area);
  t.equal(k.vmallocd.size, 0, 'vfree() forgets it');
  t.same(read(k, b).subarray(0, 20), pattern(2).subarray(0, 20), 'b keeps its bytes after the area is gone');
  expectKernelBug(t, () => vfree(k, area), 'BUG', 'vfree', /nonexistent vm area/);
});

t.test('vmalloc() fails as the kernel does: a size of 0, or more pages than the machine has', async (t) => {
  const k = new Kernel();
  t.equal(vmalloc(k, 0), null);
  t.equal(vmalloc(k, 1024 * 1024 * 1024 * 1024), null, '1 TiB on a machine with 4 GiB of RAM');
  t.match(k.log.at(-1), /vmalloc error: size 1099511627776, exceeds total pages/);
  t.equal(k.vmallocd.size, 0);
});

t.test('copy_to_user()/copy_from_user() with a vmalloc() area, aligned and not', async (t) => {
  const k = new Kernel();
  const task = new Task(k);
  const size = 4 * PAGE_SIZE;
  const u = task.mmap(0, size + PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS);
  const bytes = new Uint8Array(size + PAGE_SIZE);
  for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 7) & 0xff;
  userStore(task.mm, u, bytes);
  for (const off of [0, 100]) {
    const area = vmalloc(k, size - 8)!;
    t.equal(copyFromUser(task.mm, area, u + off), 0, `copy_from_user at offset ${off}`);
    const dst = task.mmap(0, 2 * size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS);
    t.equal(copyToUser(task.mm, dst + off, area), 0, 'copy_to_user');
    userStore(task.mm, u + off, new Uint8Array(16).fill(0x55)); // the source changes after the copies
    const out = new Uint8Array(size - 8);
    userLoad(task.mm, dst + off, out);
    t.same(out, bytes.subarray(off, off + size - 8), 'the bytes arrived as they were at the copy');
    vfree(k, area);
    userStore(task.mm, u + off, bytes.subarray(off, off + 16));
  }
});

t.test('areas and slots come back to the host memory for the next kernel', async (t) => {
  const host = new HostMemory();
  for (let i = 0; i < 2; i++) {
    const k = new Kernel({ hostMemory: host });
    const p = k.pageAlloc.allocPage();
    pageBytesWrite(k, p, 'test').set(pattern(i + 1));
    const area = vmalloc(k, PAGE_SIZE)!;
    memcpyFromPage(k, area, 0, p, 0, PAGE_SIZE);
    putPage(k, p);
    vfree(k, area);
    t.equal(host.pages.inUse, 0, `kernel ${i}: every slot is back`);
  }
  t.equal(host.pages.bytesReserved, 256 * PAGE_SIZE, 'the second kernel reused the first one\'s slab');
});

t.test('the pool refuses to share or release a free slot (a broken refcount is a kernel bug)', async (t) => {
  const pool = new PageDataPool();
  const s = pool.alloc();
  pool.release(s);
  expectKernelBug(t, () => pool.release(s), 'BUG', 'page_data', /releasing free slot/);
  expectKernelBug(t, () => pool.share(s), 'BUG', 'page_data', /sharing free slot/);
});

t.test('an unshare that hands back the shared slot (writes through a deferred copy) fails the cases that check copies', (t) => {
  const r = smoke({ params: PRIVATE, onKernel: (k) => { k.pageData.unshare = (slot) => slot; } });
  t.equal(r.result.exitCode, 1, 'the run fails');
  const failed = [...new Set(r.result.results.filter((c) => c.status === 'fail').map((c) => c.name.split('.')[2]))];
  // The cases that write a page after it was copied, while the copy is still read.
  t.same(failed, ['exclusive_cow', 'hmm_gup_test'], 'the cases whose pages are copied and then written');
  t.end();
});

t.test('a slot at its sharer limit is copied instead of shared', async (t) => {
  const pool = new PageDataPool();
  const s = pool.alloc();
  pool.view(s)[7] = 42;
  let same = 0;
  for (let i = 1; i < MAX_SHARERS; i++) if (pool.share(s) === s) same++;
  t.equal(same, MAX_SHARERS - 1, 'shared up to the limit');
  const c = pool.share(s);
  t.not(c, s, 'the next copy gets a slot of its own');
  t.equal(pool.view(c)[7], 42, 'holding the bytes');
  t.equal(pool.inUse, 2);
});

t.test('what a device page still holds goes back to the host memory with its struct pages, and so does a powered-off kernel\'s RAM', async (t) => {
  const host = new HostMemory();
  const k = new Kernel({ hostMemory: host });
  const dev = registeredDevice(k, MEMORY_DEVICE_GENERIC);
  const g = dev.allocPage();
  pageBytesWrite(k, g, 'test').set(pattern(4));
  unlockPage(k, g);
  putPage(k, g); // free: device memory keeps its contents
  t.equal(host.pages.inUse, 1, 'the free device page still holds its slot');
  t.doesNotThrow(() => memunmapPages(k, dev.pgmap), 'memunmap_pages() with every page free');
  t.equal(host.pages.inUse, 0, 'the slot went back with the struct pages');
  const p = k.pageAlloc.allocPage();
  pageBytesWrite(k, p, 'test')[0] = 1; // never freed: the kernel's own leak, reported by the runner
  t.equal(host.pages.inUse, 1);
  k.poweroff();
  t.equal(host.pages.inUse, 0, 'poweroff gives back what was left');
});
