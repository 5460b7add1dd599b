// SPDX-License-Identifier: GPL-2.0-only
/*
 * Model of kernel/resource.c: the iomem resource tree (/proc/iomem).
 *
 * In Linux: struct resource with parent/sibling/child links under the root
 * iomem_resource. Here: the same shape, children kept sorted by start.
 */
import { ERANGE, ERR_PTR, type ErrPtr } from './errno.js';

export const IORESOURCE_MEM = 0x00000200;
export const IORESOURCE_SYSRAM = 0x01000000;
export const IORESOURCE_SYSTEM_RAM = IORESOURCE_MEM | IORESOURCE_SYSRAM;
export const IORESOURCE_BUSY = 0x80000000;

export const IORES_DESC_NONE = 0;
export const IORES_DESC_SOFT_RESERVED = 7;
export const IORES_DESC_DEVICE_PRIVATE_MEMORY = 6;

export class Resource {
  parent: Resource | null = null;
  children: Resource[] = [];
  constructor(public start: number, public end: number, public name: string,
    public flags: number = IORESOURCE_MEM, public desc: number = IORES_DESC_NONE) {}
  get size(): number { return this.end - this.start + 1; }
}

export const REGION_INTERSECTS = 0;
export const REGION_DISJOINT = 1;
export const REGION_MIXED = 2;

export class IomemResource {
  readonly root: Resource;

  /** physBits: the CPU's physical address width (x86: from CPUID; 40 under QEMU). */
  constructor(physBits: number) {
    this.root = new Resource(0, 2 ** physBits - 1, 'PCI mem');
  }

  /** Model of __request_resource(): insert `res` under `parent` unless it overlaps a sibling. Returns the conflict or null. */
  requestResource(parent: Resource, res: Resource): Resource | null {
    if (res.start > res.end || res.start < parent.start || res.end > parent.end) return parent;
    const kids = parent.children;
    let i = 0;
    while (i < kids.length && kids[i].end < res.start) i++;
    if (i < kids.length && kids[i].start <= res.end) return kids[i];
    res.parent = parent;
    kids.splice(i, 0, res);
    return null;
  }

  /**
   * Model of __request_region() as request_mem_region() uses it: descend into
   * the non-busy resource that contains the range and claim it there as busy.
   */
  requestMemRegion(start: number, n: number, name: string): Resource | null {
    const res = new Resource(start, start + n - 1, name, IORESOURCE_MEM | IORESOURCE_BUSY);
    let parent = this.root;
    for (;;) {
      const conflict = this.requestResource(parent, res);
      if (conflict === null) return res;
      if (conflict === parent) return null;
      if (conflict.flags & IORESOURCE_BUSY) return null;
      if (conflict.start > res.start || conflict.end < res.end) return null;
      parent = conflict;
    }
  }

  /** Model of release_mem_region(): find the busy region with that exact span and unlink it. */
  releaseMemRegion(start: number, n: number): boolean {
    const end = start + n - 1;
    const walk = (p: Resource): boolean => {
      for (let i = 0; i < p.children.length; i++) {
        const c = p.children[i];
        if (c.start === start && c.end === end && (c.flags & IORESOURCE_BUSY)) {
          p.children.splice(i, 1);
          c.parent = null;
          return true;
        }
        if (c.start <= start && c.end >= end && walk(c)) return true;
      }
      return false;
    };
    return walk(this.root);
  }

  /**
   * Model of region_intersects() (__region_intersects()): among the top-level
   * resources overlapping [start, start+size), do those of this type cover
   * it entirely, not at all, or partly? A non-matching resource counts as
   * covered when matching descendants cover its overlap.
   */
  regionIntersects(start: number, size: number, flags: number, desc: number): number {
    const end = start + size - 1;
    const match = (r: Resource) => (r.flags & flags) === flags && (desc === IORES_DESC_NONE || desc === r.desc);
    const descendants = (r: Resource): Resource[] => r.children.flatMap((c) => [c, ...descendants(c)]);
    let type = 0, other = 0;
    for (const p of this.root.children) {
      if (p.end < start || p.start > end) continue;
      if (match(p)) {
        type++;
        continue;
      }
      let oStart = Math.max(p.start, start);
      const oEnd = Math.min(p.end, end);
      let covered = false;
      for (const dp of descendants(p)) {
        if (dp.end < start || dp.start > end || !match(dp)) continue;
        type++;
        if (dp.start > oStart) break;
        if (dp.end >= oEnd) {
          covered = true;
          break;
        }
        oStart = Math.max(oStart, dp.end + 1);
      }
      if (!covered) other++;
    }
    if (type === 0) return REGION_DISJOINT;
    return other === 0 ? REGION_INTERSECTS : REGION_MIXED;
  }

  /**
   * Model of request_free_mem_region() (get_free_mem_region() with
   * GFR_DESCENDING | GFR_REQUEST_REGION): the highest free, `align`-aligned
   * range of `size` bytes below the top of the physical address space,
   * claimed as a busy region described as device-private memory; -ERANGE
   * when no such range is left.
   */
  requestFreeMemRegion(size: number, name: string, align: number): ErrPtr<Resource> {
    size = Math.ceil(size / align) * align;
    for (let addr = Math.floor((this.root.end + 1 - size) / align) * align; addr >= 0; addr -= align) {
      if (this.overlapsAny(addr, size)) continue;
      const res = this.requestMemRegion(addr, size, name);
      if (res) {
        res.desc = IORES_DESC_DEVICE_PRIVATE_MEMORY;
        return res;
      }
    }
    return ERR_PTR(-ERANGE);
  }

  private overlapsAny(start: number, size: number): boolean {
    const end = start + size - 1;
    return this.root.children.some((c) => c.start <= end && c.end >= start);
  }

  /** Model of lookup_resource(): a top-level resource (a child of the root only) starting exactly at `start`, or null. */
  lookupResource(start: number): Resource | null {
    for (const c of this.root.children) if (c.start === start) return c;
    return null;
  }

  /** /proc/iomem, two spaces of indent per level. */
  format(): string[] {
    const out: string[] = [];
    const hex = (n: number) => n.toString(16).padStart(8, '0');
    const walk = (p: Resource, depth: number) => {
      for (const c of p.children) {
        out.push(`${'  '.repeat(depth)}${hex(c.start)}-${hex(c.end)} : ${c.name}`);
        walk(c, depth + 1);
      }
    };
    walk(this.root, 0);
    return out;
  }
}

