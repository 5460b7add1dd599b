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
 * kernel mode at page_address(): an oops, thrown as a KernelBug with that
 * address and the page, never served silently. (test_hmm keeps a private page's contents
 * in a separate system page, zone_device_data.)
 *
 * Whole-page copies (copy_highpage(), and memcpy_{from,to}_page() or
 * copy_{to,from}_user() of a whole page to or from a vmalloc() area) share
 * the source's storage instead of copying 4 KiB; writes unshare it (see
 * page_data.ts). What any reader sees is the same as after a byte copy.
 */
import { KernelBug, PAGE_OFFSET } from './bug.js';
import type { Kernel } from './kernel.js';
import { Memmap, type Page, PAGE_SIZE } from './page.js';
import { VmArea } from './page_data.js';
import { MEMORY_DEVICE_PRIVATE } from './memremap.js';

function checkAddressable(k: Kernel, page: Page, fn: string, access: 'read' | 'write'): void {
  const pgmap = k.memmap.block(page).pgmap;
  if (pgmap !== null && pgmap.type === MEMORY_DEVICE_PRIVATE) {
    // page_address() of a page with no direct map: the kernel's access faults there, not-present.
    throw new KernelBug('Oops', fn, `${access} of device-private page pfn 0x${page.toString(16)}, which has no kernel mapping`,
      { task: k.currentTask(), fault: { address: PAGE_OFFSET + BigInt(page) * BigInt(PAGE_SIZE), write: access === 'write' } });
  }
}

/** The bytes in slots[i] for reading, or null when never written (all zeroes). */
function slotRead(k: Kernel, slots: Int32Array, i: number): Uint8Array | null {
  const slot = slots[i];
  return slot < 0 ? null : k.pageData.view(slot);
}

/**
 * The bytes in slots[i] for writing: storage of their own (a new slot on
 * first write, a private copy of a shared one), zeroed or copied unless
 * `overwrite` says every byte is about to be written.
 */
function slotWrite(k: Kernel, slots: Int32Array, i: number, overwrite: boolean): Uint8Array {
  let slot = slots[i];
  if (slot < 0) slot = slots[i] = k.pageData.alloc(!overwrite);
  else if (k.pageData.shared(slot)) slot = slots[i] = k.pageData.unshare(slot, !overwrite);
  return k.pageData.view(slot);
}

/** A whole-page copy from one slot holder to another: the destination shares the source's slot (page_data.ts). */
function slotCopy(k: Kernel, to: Int32Array, ti: number, from: Int32Array, fi: number): void {
  const slot = from[fi], old = to[ti];
  if (slot === old) return;
  to[ti] = slot >= 0 ? k.pageData.share(slot) : -1;
  if (old >= 0) k.pageData.release(old);
}

/** The page's bytes for reading, or null when it was never written (all zeroes). */
export function pageBytesRead(k: Kernel, page: Page, fn: string): Uint8Array | null {
  checkAddressable(k, page, fn, 'read');
  return slotRead(k, k.memmap.block(page).dataSlot, Memmap.slot(page));
}

/**
 * The page's bytes for writing, giving it storage of its own on first
 * write (or when its slot is shared); zeroed storage unless `overwrite`
 * says every byte is about to be written.
 */
export function pageBytesWrite(k: Kernel, page: Page, fn: string, overwrite = false): Uint8Array {
  checkAddressable(k, page, fn, 'write');
  return slotWrite(k, k.memmap.block(page).dataSlot, Memmap.slot(page), overwrite);
}

/**
 * The model's copy_page() (Kernel.arch.copyPage): `to` takes `from`'s
 * contents by sharing its slot, the copy deferred to the first write of
 * either (page_data.ts).
 */
export function copyPageDeferred(k: Kernel, to: Page, from: Page): void {
  slotCopy(k, k.memmap.block(to).dataSlot, Memmap.slot(to), k.memmap.block(from).dataSlot, Memmap.slot(from));
}

/** Model of copy_highpage(to, from). */
export function copyHighpage(k: Kernel, to: Page, from: Page): void {
  checkAddressable(k, from, 'copy_highpage', 'read');
  checkAddressable(k, to, 'copy_highpage', 'write');
  k.arch.copyPage(k, to, from);
}

/** Model of clear_highpage(). */
export function clearHighpage(k: Kernel, page: Page, fn = 'clear_highpage'): void {
  checkAddressable(k, page, fn, 'write');
  k.pageData.drop(k.memmap.block(page).dataSlot, Memmap.slot(page));
}

/**
 * Model of memcpy_from_page(to, page, offset, len): `to` is a kernel
 * buffer, a vmalloc() area (a whole page there is shared, not copied) or
 * plain bytes.
 */
export function memcpyFromPage(k: Kernel, to: VmArea | Uint8Array, toOff: number, page: Page, offset: number, len: number): void {
  if (to instanceof VmArea) {
    if (offset === 0 && len === PAGE_SIZE && toOff % PAGE_SIZE === 0) {
      vmCopyPage(k, to, toOff / PAGE_SIZE, page, true, 'memcpy_from_page');
    } else {
      vmCopy(k, to, toOff, pageBytesRead(k, page, 'memcpy_from_page'), offset, len, true);
    }
    return;
  }
  const src = pageBytesRead(k, page, 'memcpy_from_page');
  if (src === null) to.fill(0, toOff, toOff + len);
  else to.set(src.subarray(offset, offset + len), toOff);
}

/** Model of memcpy_to_page(page, offset, from, len): `from` a vmalloc() area (whole pages shared) or plain bytes. */
export function memcpyToPage(k: Kernel, page: Page, offset: number, from: VmArea | Uint8Array, fromOff: number, len: number): void {
  if (from instanceof VmArea) {
    if (offset === 0 && len === PAGE_SIZE && fromOff % PAGE_SIZE === 0) {
      vmCopyPage(k, from, fromOff / PAGE_SIZE, page, false, 'memcpy_to_page');
    } else {
      vmCopy(k, from, fromOff, pageBytesWrite(k, page, 'memcpy_to_page', offset === 0 && len === PAGE_SIZE), offset, len, false);
    }
    return;
  }
  pageBytesWrite(k, page, 'memcpy_to_page', offset === 0 && len === PAGE_SIZE).set(from.subarray(fromOff, fromOff + len), offset);
}

/**
 * Bytes between a vmalloc() area at `areaOff` and `bytes` at `off` (null:
 * zeroes), `len` of them, into the area when `intoArea`. The area's pages
 * are written through slotWrite(), so a shared one is unshared first.
 */
export function vmCopy(k: Kernel, area: VmArea, areaOff: number, bytes: Uint8Array | null, off: number, len: number, intoArea: boolean): void {
  for (let done = 0; done < len;) {
    const a = areaOff + done, i = Math.floor(a / PAGE_SIZE), o = a % PAGE_SIZE, n = Math.min(PAGE_SIZE - o, len - done);
    if (intoArea) {
      const dst = slotWrite(k, area.slots, i, o === 0 && n === PAGE_SIZE);
      if (bytes === null) dst.fill(0, o, o + n);
      else dst.set(bytes.subarray(off + done, off + done + n), o);
    } else {
      const src = slotRead(k, area.slots, i);
      if (src === null) bytes!.fill(0, off + done, off + done + n);
      else bytes!.set(src.subarray(o, o + n), off + done);
    }
    done += n;
  }
}

/** A whole page between a page and page `i` of a vmalloc() area, by sharing its slot (memcpy_{from,to}_page(), copy_{to,from}_user()). */
export function vmCopyPage(k: Kernel, area: VmArea, i: number, page: Page, intoArea: boolean, fn: string): void {
  checkAddressable(k, page, fn, intoArea ? 'read' : 'write');
  const b = k.memmap.block(page);
  if (intoArea) slotCopy(k, area.slots, i, b.dataSlot, Memmap.slot(page));
  else slotCopy(k, b.dataSlot, Memmap.slot(page), area.slots, i);
}

export { PAGE_SIZE };
