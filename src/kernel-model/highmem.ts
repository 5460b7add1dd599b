// SPDX-License-Identifier: GPL-2.0-only
/*
 * Model of include/linux/highmem.h: the kernel touching page contents
 * (kmap_local_page(), copy_highpage(), clear_highpage(), memcpy_from_page(),
 * memcpy_to_page()).
 *
 * What the CPU can address is enforced here. System RAM and GENERIC or
 * COHERENT device pages have contents. A DEVICE_PRIVATE page has none: its
 * struct page stands for memory only the device reaches, with no kernel
 * mapping, so kernel code that copies to or from it takes a page fault in
 * kernel mode. That is an oops, thrown as a KernelBug naming the function and
 * the page, never served silently. (test_hmm keeps a private page's contents
 * in a separate system page, zone_device_data.)
 */
import { KernelBug } from './bug.js';
import type { Kernel } from './kernel.js';
import { Memmap, type Page, PAGE_SIZE } from './page.js';
import { MEMORY_DEVICE_PRIVATE } from './memremap.js';

function checkAddressable(k: Kernel, page: Page, fn: string, access: 'read' | 'write'): void {
  const pgmap = k.memmap.block(page).pgmap;
  if (pgmap !== null && pgmap.type === MEMORY_DEVICE_PRIVATE) {
    throw new KernelBug('Oops', fn,
      `BUG: unable to handle page fault: supervisor ${access} access in kernel mode to device-private page pfn 0x${page.toString(16)} (no kernel mapping)`);
  }
}

/** The page's bytes for reading, or null when it was never written (all zeroes). */
export function pageBytesRead(k: Kernel, page: Page, fn: string): Uint8Array | null {
  checkAddressable(k, page, fn, 'read');
  const b = k.memmap.block(page), slot = b.dataSlot[Memmap.slot(page)];
  return slot < 0 ? null : k.pageData.view(slot);
}

/**
 * The page's bytes for writing, giving it storage on first write; zeroed
 * storage unless `overwrite` says every byte is about to be written.
 */
export function pageBytesWrite(k: Kernel, page: Page, fn: string, overwrite = false): Uint8Array {
  checkAddressable(k, page, fn, 'write');
  const b = k.memmap.block(page), i = Memmap.slot(page);
  let slot = b.dataSlot[i];
  if (slot < 0) {
    slot = k.pageData.alloc(!overwrite);
    b.dataSlot[i] = slot;
  }
  return k.pageData.view(slot);
}

/** Model of copy_highpage(to, from). */
export function copyHighpage(k: Kernel, to: Page, from: Page): void {
  const src = pageBytesRead(k, from, 'copy_highpage');
  if (src === null) {
    clearHighpage(k, to, 'copy_highpage');
    return;
  }
  k.arch.copyPage(pageBytesWrite(k, to, 'copy_highpage', true), src);
}

/** Model of clear_highpage(). */
export function clearHighpage(k: Kernel, page: Page, fn = 'clear_highpage'): void {
  checkAddressable(k, page, fn, 'write');
  const b = k.memmap.block(page), i = Memmap.slot(page);
  if (b.dataSlot[i] >= 0) {
    k.pageData.release(b.dataSlot[i]);
    b.dataSlot[i] = -1;
  }
}

/** Model of memcpy_from_page(to, page, offset, len): `to` is a kernel buffer. */
export function memcpyFromPage(k: Kernel, to: Uint8Array, toOff: number, page: Page, offset: number, len: number): void {
  const src = pageBytesRead(k, page, 'memcpy_from_page');
  if (src === null) to.fill(0, toOff, toOff + len);
  else to.set(src.subarray(offset, offset + len), toOff);
}

/** Model of memcpy_to_page(page, offset, from, len). */
export function memcpyToPage(k: Kernel, page: Page, offset: number, from: Uint8Array, fromOff: number, len: number): void {
  pageBytesWrite(k, page, 'memcpy_to_page', offset === 0 && len === PAGE_SIZE).set(from.subarray(fromOff, fromOff + len), offset);
}

export { PAGE_SIZE };
