// SPDX-License-Identifier: GPL-2.0-only
/*
 * --show pages: the whiteboard picture after an action. One character a
 * page for what the process's page table holds at each page of every
 * buffer, and, under it, what each open mirror's device page table holds
 * there. Read-only: it looks at the page tables and struct pages the way
 * a debugger would, faulting nothing in and taking no reference.
 */
import type { BootedCase } from '../runner.js';
import type { Task } from '../kernel-model/task.js';
import { vmaLookup } from '../kernel-model/mm.js';
import { PAGE_SIZE } from '../kernel-model/page.js';
import { pteIndex, ptePresent, pteNone, pteProtnone, pteWrite, pteSpecial, pteDevmap, isDevicePrivateEntry, isDeviceExclusiveEntry,
  isWritableDeviceExclusiveEntry, isMigrationEntry } from '../kernel-model/pgtable.js';
import { isDevicePage } from '../kernel-model/memremap.js';
import { Dmirror, dmirrorPageToDevice } from '../dmirror/test_hmm.js';
import { DPT_XA_TAG_ATOMIC, DPT_XA_TAG_WRITE, xaPointerTag, xaUntagPointer } from '../dmirror/xarray.js';

export interface MappedBuffer {
  name: string;
  /** 0 when its mmap failed. */
  addr: number;
  pages: number;
}

export const PAGE_LEGEND = [
  'page map: one character a page. CPU page table:',
  '  -  no VMA (unmapped)      .  pte none (never touched)    z  the zero page',
  '  r  system RAM, read-only  w  system RAM, writable        p  present, PROT_NONE',
  '  0-3  on device N (a device-private entry, or a present COHERENT/GENERIC page)',
  '  x  device-exclusive (X writable)  m  migration entry     H  huge PMD (THP or hugetlb)  Z  huge zero page',
  'mirror (the device page table of an open dmirror):',
  '  .  no entry  r  read-only  w  writable  a  atomic (EXCLUSIVE); 0-3 instead of r/w: the page is device N\'s memory',
];

/** How many characters a map line holds before it wraps. */
const WIDTH = 64;

function cpuChar(c: BootedCase, task: Task, addr: number): string {
  const mm = task.mm, k = c.k;
  const vma = vmaLookup(mm, addr);
  if (vma === null) return '-';
  const huge = mm.pgtable.lookupHuge(addr);
  if (huge !== undefined) return huge.pfn === k.hugeZeroPfn ? 'Z' : 'H';
  const t = mm.pgtable.lookup(addr);
  if (t === undefined) return '.';
  const i = pteIndex(addr), v = t.val[i], pfn = t.pfn[i];
  if (pteNone(v)) return '.';
  if (ptePresent(v)) {
    if (pfn === k.zeroPfn) return 'z';
    if (pteProtnone(v)) return 'p';
    if ((!pteSpecial(v) || pteDevmap(v)) && isDevicePage(k, pfn)) return String(dmirrorPageToDevice(c.mod, pfn).id);
    return pteWrite(v) ? 'w' : 'r';
  }
  if (isDevicePrivateEntry(v)) return String(dmirrorPageToDevice(c.mod, pfn).id);
  if (isDeviceExclusiveEntry(v)) return isWritableDeviceExclusiveEntry(v) ? 'X' : 'x';
  if (isMigrationEntry(v)) return 'm';
  return '?';
}

function mirrorChar(c: BootedCase, d: Dmirror, vpn: number): string {
  const e = d.pt.load(vpn);
  if (e === 0) return '.';
  const page = xaUntagPointer(e), tag = xaPointerTag(e);
  if (tag === DPT_XA_TAG_ATOMIC) return 'a';
  if (isDevicePage(c.k, page)) return String(dmirrorPageToDevice(c.mod, page).id);
  return tag === DPT_XA_TAG_WRITE ? 'w' : 'r';
}

/**
 * "  name     |....|" lines, wrapped at WIDTH pages with the first page's
 * index; a run of equal lines is one, labelled with the range it covers.
 */
function rows(label: string, chars: string, pad: number): string[] {
  const out: string[] = [];
  for (let i = 0; i < chars.length;) {
    const row = chars.slice(i, i + WIDTH);
    let j = i + WIDTH;
    while (j < chars.length && chars.slice(j, j + WIDTH) === row) j += WIDTH;
    const span = j - i > WIDTH ? `+${i}..+${Math.min(j, chars.length) - WIDTH}` : i === 0 ? '' : `+${i}`;
    const head = i === 0 ? `${label}${span ? ` ${span}` : ''}` : `  ${span}`;
    out.push(`${head.padEnd(pad)}|${row}|`);
    i = j;
  }
  return out;
}

/** The map of every buffer, and of each open mirror over it. */
export function drawPages(c: BootedCase, task: Task, bufs: Map<string, MappedBuffer>, fds: Map<string, number>, _generic: boolean): string[] {
  const mirrors: Array<[string, Dmirror]> = [];
  for (const [name, fd] of fds) {
    const d = task.files.get(fd)?.privateData;
    if (d instanceof Dmirror) mirrors.push([name, d]);
  }
  const pad = 2 + Math.max(12, ...[...bufs.keys()].map((n) => n.length), ...mirrors.map(([n]) => n.length + 2)) + 1;
  const out: string[] = [];
  for (const b of bufs.values()) {
    if (b.addr === 0) continue;
    let cpu = '';
    for (let i = 0; i < b.pages; i++) cpu += cpuChar(c, task, b.addr + i * PAGE_SIZE);
    out.push(...rows(`  ${b.name}`, cpu, pad).map((l) => `MAP ${l}`));
    for (const [name, d] of mirrors) {
      let m = '';
      for (let i = 0; i < b.pages; i++) m += mirrorChar(c, d, b.addr / PAGE_SIZE + i);
      if (/[^.]/.test(m)) out.push(...rows(`    ${name}`, m, pad).map((l) => `MAP ${l}`));
    }
  }
  return out;
}
