// SPDX-License-Identifier: GPL-2.0-only
/*
 * Model of vmalloc()/vfree() (mm/vmalloc.c): virtually contiguous kernel
 * buffers made of pages. Here a VmArea (page_data.ts): one data slot per
 * page, so whole pages go in and out by sharing slots (highmem.ts,
 * memory.ts's copy_{to,from}_user()). The host memory reuses the areas
 * earlier vfree()s gave back. A new area reads as zeroes; the kernel
 * leaves vmalloc() contents undefined, and nothing the model does reads
 * an area before writing it.
 *
 * Every buffer is counted from vmalloc() to vfree() (Kernel.vmallocd), so
 * one never freed is reported like a leaked page, and a vfree() of a buffer
 * that is not live is the kernel's "Trying to vfree() nonexistent vm area".
 */
import { KernelBug } from './bug.js';
import type { Kernel } from './kernel.js';
import { PAGE_SIZE } from './page.js';
import type { VmArea } from './page_data.js';
import { totalramPages } from './page_alloc.js';

/**
 * Model of vmalloc(): a buffer of `size` bytes, or null. Like
 * __vmalloc_node_range_noprof(), a size of 0 or of more pages than the
 * machine has fails (with the kernel's warning for the latter); so does a
 * size the host cannot back.
 */
export function vmalloc(k: Kernel, size: number): VmArea | null {
  if (size <= 0) return null;
  if (Math.ceil(size / PAGE_SIZE) > totalramPages(k)) {
    k.printk(`vmalloc error: size ${size}, exceeds total pages, mode:0xcc0(GFP_KERNEL), nodemask=(null)`);
    return null;
  }
  // The area's pages are not taken from the modelled RAM; an injected page-allocation failure (fail_page_alloc)
  // stands for the failure of its page allocations (__vmalloc_area_node()), asked once per area.
  if (k.inject.shouldFailAllocPage?.(0)) {
    k.printk(`vmalloc error: size ${size}, failed to allocate pages, mode:0xcc0(GFP_KERNEL), nodemask=(null)`);
    return null;
  }
  const buf = k.host.takeArea(size);
  if (buf === null) {
    k.printk(`vmalloc error: size ${size}, vm_struct allocation failed, mode:0xcc0(GFP_KERNEL), nodemask=(null)`);
    return null;
  }
  k.vmallocd.add(buf);
  return buf;
}

/** Model of vfree(): NULL is a no-op; freeing a buffer that is not live is a kernel bug. */
export function vfree(k: Kernel, buf: VmArea | null): void {
  if (buf === null) return;
  if (!k.vmallocd.delete(buf)) {
    throw new KernelBug('BUG', 'vfree', `Trying to vfree() nonexistent vm area (${buf.size} bytes)`);
  }
  k.host.giveArea(buf);
}
