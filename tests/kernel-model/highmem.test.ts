// SPDX-License-Identifier: GPL-2.0-only
/*
 * Tests of src/kernel-model/highmem.ts (include/linux/highmem.h): the
 * kernel touching page contents. DEVICE_PRIVATE pages have no kernel
 * mapping (an oops); system and GENERIC pages hold their own bytes.
 */
import t from 'tap';
import { Kernel } from '../../src/kernel-model/kernel.js';
import { PAGE_SIZE, physToPfn } from '../../src/kernel-model/page.js';
import { MEMORY_DEVICE_GENERIC } from '../../src/kernel-model/memremap.js';
import { clearHighpage, copyHighpage, memcpyFromPage, memcpyToPage, pageBytesRead,
  pageBytesWrite } from '../../src/kernel-model/highmem.js';
import { registeredDevice, PRIVATE_BASE, expectKernelBug, pattern } from './fixtures/fake_device.js';

function privatePage(k: Kernel): number {
  const dev = registeredDevice(k);
  return dev.allocPage();
}

t.test('memcpy_to_page on a DEVICE_PRIVATE page is an oops naming the function and pfn', async (t) => {
  const k = new Kernel();
  const d = privatePage(k);
  const hexPfn = `pfn 0x${d.toString(16)}`;
  expectKernelBug(t, () => memcpyToPage(k, d, 0, pattern(1), 0, 16), 'Oops', 'memcpy_to_page',
    new RegExp(`#PF: supervisor write access in kernel mode\n[^]*write of device-private page ${hexPfn}`));
  t.equal(d, physToPfn(PRIVATE_BASE), 'the device page');
  t.equal(k.pageData.inUse, 0, 'no data slot was given to it');
});

t.test('memcpy_from_page on a DEVICE_PRIVATE page is an oops', async (t) => {
  const k = new Kernel();
  const d = privatePage(k);
  const buf = new Uint8Array(64).fill(7);
  expectKernelBug(t, () => memcpyFromPage(k, buf, 0, d, 0, 64), 'Oops', 'memcpy_from_page',
    new RegExp(`#PF: supervisor read access in kernel mode\n[^]*read of device-private page pfn 0x${d.toString(16)}`));
  t.equal(buf[0], 7, 'the buffer is untouched');
});

t.test('copy_highpage and clear_highpage with a DEVICE_PRIVATE page on either side', async (t) => {
  const k = new Kernel();
  const d = privatePage(k);
  const s = k.pageAlloc.allocPage();
  memcpyToPage(k, s, 0, pattern(3), 0, PAGE_SIZE);
  expectKernelBug(t, () => copyHighpage(k, d, s), 'Oops', 'copy_highpage', /write access/);
  expectKernelBug(t, () => copyHighpage(k, s, d), 'Oops', 'copy_highpage', /read access/);
  expectKernelBug(t, () => clearHighpage(k, d), 'Oops', 'clear_highpage', /write access/);
  expectKernelBug(t, () => pageBytesRead(k, d, 'dmirror_do_read'), 'Oops', 'dmirror_do_read');
  const out = new Uint8Array(PAGE_SIZE);
  memcpyFromPage(k, out, 0, s, 0, PAGE_SIZE);
  t.same(out, pattern(3), 'the system page still holds its data');
});

t.test('GENERIC pages are CPU-addressable and hold their own data', async (t) => {
  const k = new Kernel();
  const dev = registeredDevice(k, MEMORY_DEVICE_GENERIC);
  const g1 = dev.allocPage(), g2 = dev.allocPage();
  t.equal(g2, g1 + 1, 'two adjacent device pages');
  t.equal(pageBytesRead(k, g1, 'test'), null, 'never written: reads as zeroes');
  memcpyToPage(k, g1, 100, pattern(9, 200), 0, 200);
  const out = new Uint8Array(300);
  memcpyFromPage(k, out, 0, g1, 0, 300);
  t.same(out.subarray(0, 100), new Uint8Array(100), 'bytes before the write are zero');
  t.same(out.subarray(100, 300), pattern(9, 200), 'the written bytes');
  t.equal(pageBytesRead(k, g2, 'test'), null, 'the neighbour is untouched');
  copyHighpage(k, g2, g1);
  t.same(pageBytesRead(k, g2, 'test')!.subarray(100, 300), pattern(9, 200), 'copy_highpage between GENERIC pages');
  const s = k.pageAlloc.allocPage();
  copyHighpage(k, s, g2);
  t.same(pageBytesRead(k, s, 'test')!.subarray(100, 300), pattern(9, 200), 'and from GENERIC to system RAM');
  clearHighpage(k, g2);
  t.equal(pageBytesRead(k, g2, 'test'), null, 'clear_highpage empties it');
  t.same(pageBytesRead(k, g1, 'test')!.subarray(100, 300), pattern(9, 200), 'g1 is unaffected');
});

t.test('copy_highpage from a never-written page clears the destination', async (t) => {
  const k = new Kernel();
  const a = k.pageAlloc.allocPage(), b = k.pageAlloc.allocPage();
  pageBytesWrite(k, b, 'test').fill(0xff);
  const inUse = k.pageData.inUse;
  copyHighpage(k, b, a);
  t.equal(pageBytesRead(k, b, 'test'), null, 'b reads as zeroes');
  t.equal(k.pageData.inUse, inUse - 1, 'and its data slot was released');
});
