// SPDX-License-Identifier: GPL-2.0-only
/*
 * Model of mm/gup_test.c (CONFIG_GUP_TEST): the debugfs file
 * /sys/kernel/debug/gup_test, whose ioctls get or pin a range of the
 * caller's pages through the gup entry points of gup.ts and release them
 * again (hmm-tests' hmm_gup_test uses it), plus the PIN_LONGTERM_TEST_*
 * commands that keep a long-term pin across calls.
 *
 * As with the other character devices of the model, the ioctl argument is
 * the command structure itself (struct gup_test, struct pin_longterm_test,
 * or { value } for a __u64), not a user pointer. Timings are 0: the model
 * has no clock worth reporting. DUMP_USER_PAGES_TEST gets and releases the
 * pages but prints no dump_page() (it logs one line per page asked for).
 */
import { EINVAL, EFAULT } from './errno.js';
import type { Kernel } from './kernel.js';
import { type CharDev, type File, type FileOperations, nonseekableOpen } from './chrdev.js';
import type { Task } from './task.js';
import { PAGE_SIZE, isPageAligned } from './page.js';
import { putPage } from './page_alloc.js';
import { copyToUser } from './memory.js';
import { pageBytesRead } from './highmem.js';
import { FOLL_LONGTERM, FOLL_WRITE, getUserPages, getUserPagesFast, pinUserPages, pinUserPagesFast, unpinUserPages,
  folioMaybeDmaPinned, folioIsLongtermPinnable } from './gup.js';

const _IOC = (dir: number, nr: number, size: number): number => ((dir << 30) >>> 0) + (size << 16) + (0x67 << 8) + nr;
/** sizeof(struct gup_test) == 80, sizeof(struct pin_longterm_test) == 24 (x86_64 padding). */
export const GUP_FAST_BENCHMARK = _IOC(3, 1, 80);
export const PIN_FAST_BENCHMARK = _IOC(3, 2, 80);
export const PIN_LONGTERM_BENCHMARK = _IOC(3, 3, 80);
export const GUP_BASIC_TEST = _IOC(3, 4, 80);
export const PIN_BASIC_TEST = _IOC(3, 5, 80);
export const DUMP_USER_PAGES_TEST = _IOC(3, 6, 80);
export const PIN_LONGTERM_TEST_START = _IOC(1, 7, 24);
export const PIN_LONGTERM_TEST_STOP = _IOC(0, 8, 0);
export const PIN_LONGTERM_TEST_READ = _IOC(1, 9, 8);

export const GUP_TEST_MAX_PAGES_TO_DUMP = 8;
export const GUP_TEST_FLAG_DUMP_PAGES_USE_PIN = 0x1;
export const PIN_LONGTERM_TEST_FLAG_USE_WRITE = 1;
export const PIN_LONGTERM_TEST_FLAG_USE_FAST = 2;

export const GUP_TEST_PATH = '/sys/kernel/debug/gup_test';

/** struct gup_test (mm/gup_test.h). */
export class GupTest {
  getDeltaUsec = 0;
  putDeltaUsec = 0;
  addr = 0;
  size = 0;
  nrPagesPerCall = 0;
  gupFlags = 0;
  testFlags = 0;
  /** 1-based page numbers to dump; 0 means none. */
  whichPages = new Uint32Array(GUP_TEST_MAX_PAGES_TO_DUMP);
}

/** struct pin_longterm_test. */
export interface PinLongtermTest {
  addr: number;
  size: number;
  flags: number;
}

/** The module's static state (pin_longterm_test_pages and its count), one per Kernel. */
interface GupTestState {
  k: Kernel;
  pinLongtermTestPages: Float64Array | null;
  pinLongtermTestNrPages: number;
}

/** Model of put_back_pages(). */
function putBackPages(k: Kernel, cmd: number, pages: Float64Array, nrPages: number, testFlags: number): void {
  const pin = cmd === PIN_FAST_BENCHMARK || cmd === PIN_BASIC_TEST || cmd === PIN_LONGTERM_BENCHMARK ||
    (cmd === DUMP_USER_PAGES_TEST && (testFlags & GUP_TEST_FLAG_DUMP_PAGES_USE_PIN) !== 0);
  if (pin) unpinUserPages(k, pages, nrPages);
  else for (let i = 0; i < nrPages; i++) putPage(k, pages[i]);
}

/** Model of verify_dma_pinned(): a WARN for a page a PIN command left unpinned, or long-term pinned where it may not be. */
function verifyDmaPinned(k: Kernel, cmd: number, pages: Float64Array, nrPages: number): void {
  if (cmd !== PIN_FAST_BENCHMARK && cmd !== PIN_BASIC_TEST && cmd !== PIN_LONGTERM_BENCHMARK) return;
  for (let i = 0; i < nrPages; i++) {
    if (k.warn(!folioMaybeDmaPinned(k, pages[i]), 'verify_dma_pinned', `pages[${i}] is NOT dma-pinned`)) break;
    if (cmd === PIN_LONGTERM_BENCHMARK &&
      k.warn(!folioIsLongtermPinnable(k, pages[i]), 'verify_dma_pinned', `pages[${i}] is NOT pinnable but pinned`)) break;
  }
}

/** Model of __gup_test_ioctl(): get or pin [addr, addr + size) nr_pages_per_call at a time, check, release. */
function __gupTestIoctl(k: Kernel, cmd: number, gup: GupTest, current: Task): number {
  const mm = current.mm;
  let nrPages = Math.floor(gup.size / PAGE_SIZE);
  const pages = new Float64Array(nrPages);
  let i = 0, nr = gup.nrPagesPerCall, addr = gup.addr, next = 0;
  const end = gup.addr + gup.size;
  for (; addr < end; addr = next) {
    if (nr !== gup.nrPagesPerCall) break;
    next = addr + nr * PAGE_SIZE;
    if (next > end) {
      next = end;
      nr = Math.floor((next - addr) / PAGE_SIZE);
    }
    const into = pages.subarray(i);
    switch (cmd) {
      case GUP_FAST_BENCHMARK: nr = getUserPagesFast(mm, addr, nr, gup.gupFlags, into); break;
      case GUP_BASIC_TEST: nr = getUserPages(mm, addr, nr, gup.gupFlags, into); break;
      case PIN_FAST_BENCHMARK: nr = pinUserPagesFast(mm, addr, nr, gup.gupFlags, into); break;
      case PIN_BASIC_TEST: nr = pinUserPages(mm, addr, nr, gup.gupFlags, into); break;
      case PIN_LONGTERM_BENCHMARK: nr = pinUserPages(mm, addr, nr, gup.gupFlags | FOLL_LONGTERM, into); break;
      case DUMP_USER_PAGES_TEST:
        nr = gup.testFlags & GUP_TEST_FLAG_DUMP_PAGES_USE_PIN ? pinUserPages(mm, addr, nr, gup.gupFlags, into)
          : getUserPages(mm, addr, nr, gup.gupFlags, into);
        break;
      default:
        return -EINVAL;
    }
    if (nr <= 0) break;
    i += nr;
  }
  nrPages = i; // now: how many were actually got
  gup.getDeltaUsec = 0;
  gup.size = addr - gup.addr;
  verifyDmaPinned(k, cmd, pages, nrPages);
  if (cmd === DUMP_USER_PAGES_TEST) {
    for (let j = 0; j < GUP_TEST_MAX_PAGES_TO_DUMP; j++) {
      if (gup.whichPages[j] > nrPages) gup.whichPages[j] = 0;
      const n = gup.whichPages[j];
      if (n) k.printk(`gup_test: dump_pages() test: page #${n - 1} pfn 0x${pages[n - 1].toString(16)}`);
    }
  }
  putBackPages(k, cmd, pages, nrPages, gup.testFlags);
  gup.putDeltaUsec = 0;
  return 0;
}

/** Model of pin_longterm_test_stop(). */
function pinLongtermTestStop(s: GupTestState): void {
  if (s.pinLongtermTestPages === null) return;
  if (s.pinLongtermTestNrPages) unpinUserPages(s.k, s.pinLongtermTestPages, s.pinLongtermTestNrPages);
  s.pinLongtermTestPages = null;
  s.pinLongtermTestNrPages = 0;
}

/** Model of pin_longterm_test_start(). */
function pinLongtermTestStart(s: GupTestState, args: PinLongtermTest, current: Task): number {
  if (s.pinLongtermTestPages !== null) return -EINVAL;
  if (args.flags & ~(PIN_LONGTERM_TEST_FLAG_USE_WRITE | PIN_LONGTERM_TEST_FLAG_USE_FAST)) return -EINVAL;
  if (!isPageAligned(args.addr) || !isPageAligned(args.size)) return -EINVAL;
  const nrPages = args.size / PAGE_SIZE;
  if (!nrPages) return -EINVAL;
  const pages = new Float64Array(nrPages);
  const flags = FOLL_LONGTERM | (args.flags & PIN_LONGTERM_TEST_FLAG_USE_WRITE ? FOLL_WRITE : 0);
  const fast = (args.flags & PIN_LONGTERM_TEST_FLAG_USE_FAST) !== 0;
  s.pinLongtermTestPages = pages;
  s.pinLongtermTestNrPages = 0;
  while (nrPages - s.pinLongtermTestNrPages) {
    const n = s.pinLongtermTestNrPages;
    const addr = args.addr + n * PAGE_SIZE, into = pages.subarray(n);
    const cur = fast ? pinUserPagesFast(current.mm, addr, nrPages - n, flags, into) : pinUserPages(current.mm, addr, nrPages - n, flags, into);
    if (cur < 0) {
      pinLongtermTestStop(s);
      return cur;
    }
    // (The C loop would spin forever on a 0 return; the model reports it instead.)
    if (cur === 0) {
      pinLongtermTestStop(s);
      return -EFAULT;
    }
    s.pinLongtermTestNrPages += cur;
  }
  return 0;
}

/** Model of pin_longterm_test_read(): copy the pinned pages' contents to user memory at value. */
function pinLongtermTestRead(s: GupTestState, arg: { value: number }, current: Task): number {
  if (s.pinLongtermTestPages === null) return -EINVAL;
  let userAddr = arg.value, zeroes: Uint8Array | undefined;
  for (let i = 0; i < s.pinLongtermTestNrPages; i++) {
    const src = pageBytesRead(s.k, s.pinLongtermTestPages[i], 'kmap_local_page') ?? (zeroes ??= new Uint8Array(PAGE_SIZE));
    if (copyToUser(current.mm, userAddr, src)) return -EFAULT;
    userAddr += PAGE_SIZE;
  }
  return 0;
}

/** Model of gup_test_ioctl(). */
function gupTestIoctl(filp: File, cmd: number, arg: object, current: Task): number {
  const s = filp.cdev.owner as GupTestState;
  switch (cmd) {
    case GUP_FAST_BENCHMARK: case PIN_FAST_BENCHMARK: case PIN_LONGTERM_BENCHMARK:
    case GUP_BASIC_TEST: case PIN_BASIC_TEST: case DUMP_USER_PAGES_TEST:
      break;
    case PIN_LONGTERM_TEST_START: return pinLongtermTestStart(s, arg as PinLongtermTest, current);
    case PIN_LONGTERM_TEST_STOP: pinLongtermTestStop(s); return 0;
    case PIN_LONGTERM_TEST_READ: return pinLongtermTestRead(s, arg as { value: number }, current);
    default: return -EINVAL;
  }
  if (!(arg instanceof GupTest)) return -EFAULT; // copy_from_user() of something that is not a struct gup_test
  return __gupTestIoctl(s.k, cmd, arg, current);
}

/**
 * Model of gup_test_init(): debugfs_create_file_unsafe("gup_test", 0600, ...)
 * with gup_test_fops (nonseekable_open, gup_test_ioctl, gup_test_release).
 * Returns the file's CharDev; open(GUP_TEST_PATH) then works on the Kernel.
 */
export function gupTestInit(k: Kernel): CharDev {
  const state: GupTestState = { k, pinLongtermTestPages: null, pinLongtermTestNrPages: 0 };
  const fops: FileOperations = {
    open: (_cdev, filp) => nonseekableOpen(filp),
    release: (cdev) => { pinLongtermTestStop(cdev.owner as GupTestState); return 0; },
    unlockedIoctl: gupTestIoctl,
  };
  const cdev: CharDev = { path: GUP_TEST_PATH, major: 0, minor: 0, fops, owner: state };
  k.chrdevs.set(GUP_TEST_PATH, cdev);
  return cdev;
}
