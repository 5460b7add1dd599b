// SPDX-License-Identifier: GPL-2.0-only
/*
 * One simulated kernel: everything a test case touches hangs off one Kernel
 * (memmap, page allocator, iomem, dev_pagemaps, tasks, character devices,
 * the log). No module-level mutable state, so cases cannot leak into each
 * other. In Linux these are globals (mem_map, iomem_resource, ...).
 */
import { KernelBug, type ReportTask, kernelReport } from './bug.js';
import { callTrace } from './kallsyms.js';
import { copyPageDeferred } from './highmem.js';
import { PageAllocator } from './page_alloc.js';
import { HostMemory, type PageDataPool, type VmArea } from './page_data.js';
import { Memmap, physToPfn, MEMBLOCK_PAGES, PG_reserved } from './page.js';
import { IomemResource, Resource, IORESOURCE_SYSTEM_RAM, IORESOURCE_MEM, IORESOURCE_BUSY, IORES_DESC_SOFT_RESERVED } from './resource.js';
import { type MachineConfig, type ThpMode, defaultMachine, DEFAULT_THP_MODE, DEFAULT_NR_HUGEPAGES } from './machine.js';
import { Hstate } from './hugetlb.js';
import { Sched } from './sched.js';
import { Prng, DEFAULT_SEED, deriveSeed } from './random.js';
import type { DevPagemap } from './memremap.js';
import type { CharDev } from './chrdev.js';
import type { Task } from './task.js';
import type { Page } from './page.js';
import type { VmAreaStruct } from './mm.js';
import type { PteTable } from './pgtable.js';
import type { HmmRange } from './hmm.js';
import type { KernelEntry } from './hung_task.js';
import type { Completion } from './completion.js';
import type { MmuNotifierRange } from './mmu_notifier.js';
import { type KernelChange, KernelVersion, composeKernel } from './changes.js';

/** A pointer stored in page->zone_device_data: 0 NULL, >0 a struct page (pfn), <0 an object id. */
export type KPtr = number;

/**
 * The architecture's page primitives (arch/x86/lib/copy_page_64.S,
 * clear_page_64.S), behind copy_highpage()/clear_highpage(). Replaceable so
 * that the project's tests can show a broken copy is caught.
 */
export interface ArchOps {
  /** copy_page() between the two pages' kernel mappings (both CPU-addressable: copy_highpage() checked). */
  copyPage(k: Kernel, to: Page, from: Page): void;
}

/**
 * Steps of mm paths that a test may replace, to break one mechanism on
 * purpose and show the tests catch it (customised for testing, like the
 * kernel's userland shims' fault-injection knobs). Empty in normal runs;
 * each member names the function it stands in for.
 */
export interface KernelInject {
  /** gup.ts: check_and_migrate_movable_pages(). */
  checkAndMigrateMovablePages?: (k: Kernel, nrPages: number, pages: Float64Array) => number;
  /** gup.ts: try_grab_folio(). */
  tryGrabFolio?: (k: Kernel, page: Page, refs: number, flags: number) => number;
  /** memory.ts: restore_exclusive_pte(). */
  restoreExclusivePte?: (vma: VmAreaStruct, page: Page, addr: number, t: PteTable, i: number) => void;
  /** memory.ts: zap_page_range_single(), what MADV_DONTNEED calls (a test may make it do nothing). */
  zapPageRangeSingle?: (vma: VmAreaStruct, address: number, size: number) => void;
  /** madvise.ts: folio_mark_lazyfree(), what MADV_FREE does to each clean folio. */
  folioMarkLazyfree?: (k: Kernel, folio: Page) => void;
  /** huge_memory.ts: vma_adjust_trans_huge() at a VMA split (a test may leave out the PMD-range invalidation). */
  vmaAdjustTransHuge?: (vma: VmAreaStruct, addr: number) => void;
  /**
   * hmm.ts: called as hmm_range_fault() starts each page-table walk, where
   * its caller holds mmap_lock for read; a test may put a preemption point
   * there to break the scheduler's rule (sched.ts) on purpose.
   */
  hmmWalkStart?: (range: HmmRange) => void;
  /**
   * page_alloc.ts: should_fail_alloc_page() (mm/fail_page_alloc.c,
   * CONFIG_FAIL_PAGE_ALLOC): true makes this allocation of 2^order pages
   * fail as if memory were exhausted.
   */
  shouldFailAllocPage?: (order: number) => boolean;
  /** mremap.ts: copy_vma()'s anon_vma_clone() of the moved VMA (a test may leave it out: the moved pages lose their rmap). */
  copyVmaAnonVmaClone?: (dst: VmAreaStruct, src: VmAreaStruct) => void;
  /** mremap.ts: move_page_tables()'s notifier bracket around the move (a test may move without telling the notifiers). */
  movePageTablesInvalidate?: (range: MmuNotifierRange, move: () => void) => void;
  /**
   * memremap.ts: the refcount at which put_page() frees a ZONE_DEVICE page
   * (zoneDeviceFreeRefcount()); a test may free PUBLIC pages at the wrong one.
   */
  zoneDeviceFreeRefcount?: (k: Kernel, pgmap: DevPagemap) => number;
  /**
   * memory.ts: the pte_devmap() branch seed 004 adds to copy_one_pte(): the
   * device page a fork shares for a pte vm_normal_page() gives no page for
   * (0: the pte is copied as a raw pfn, as without the hunk).
   */
  copyPteDevmap?: (k: Kernel, pfn: Page) => Page;
  /** completion.ts: wait_for_completion(); a test replaces it (e.g. one that returns at once) to show a missing wait is caught. */
  waitForCompletion?: (k: Kernel, x: Completion) => void;
}

export interface KernelOptions {
  machine?: MachineConfig;
  /** panic_on_warn: a WARN becomes a kernel BUG (the case fails). */
  panicOnWarn?: boolean;
  /** Seeds the kernel's random numbers and its scheduler's choices (default DEFAULT_SEED): same seed, same run. */
  seed?: number;
  /** The host memory behind RAM and vmalloc (page_data.ts): a runner passes one to every kernel it boots. Default: its own. */
  hostMemory?: HostMemory;
  /** Which kernel this is: a profile and patches (changes.ts). Default: 6.12. */
  version?: KernelVersion;
}

export class Kernel {
  readonly machine: MachineConfig;
  readonly memmap: Memmap;
  readonly host: HostMemory;
  /** The contents of CPU-addressable pages (the host's page slabs). */
  readonly pageData: PageDataPool;
  /** vmalloc()ed buffers not yet vfree()d (vmalloc.ts): module unload and process exit must leave none. */
  readonly vmallocd = new Set<VmArea>();
  readonly iomem: IomemResource;
  readonly pageAlloc: PageAllocator;
  /** pgmap_array: the dev_pagemaps that memremap_pages() registered. */
  readonly pgmaps: DevPagemap[] = [];
  /** Registered character devices by path (/dev/hmm_dmirror0 ...). */
  readonly chrdevs = new Map<string, CharDev>();
  /** Tasks by pid, from creation until release_task() (a zombie stays until its parent reaps it). */
  readonly tasks = new Map<number, Task>();
  private current_: Task | null = null;
  /**
   * current: the task whose system call runs (set by Task at each entry),
   * for the PID of reports. Setting it is entering the kernel, which the
   * explorer counts as touching shared state (sched.ts: SchedExplorer.access()).
   */
  get current(): Task | null {
    return this.current_;
  }
  set current(t: Task | null) {
    this.current_ = t;
    this.sched?.access('mm');
  }
  /** The last pid handed out (alloc_pid()); the first task gets 100. */
  lastPid = 99;
  /** The kernel log (dmesg), in order. */
  readonly log: string[] = [];
  /** WARN()s that fired: each is also in the log. */
  readonly warnings: string[] = [];
  /** The shared zero page (ZERO_PAGE(0)): in the kernel image's bss, never freed. */
  readonly zeroPfn: number;
  /**
   * The huge zero page (huge_zero_folio), 2 MiB of zeroes a read fault maps
   * by one PMD. The kernel allocates it on first use and a shrinker frees
   * it; here it is 512 reserved pages of the kernel image, so it never
   * shows in nrAllocated.
   */
  readonly hugeZeroPfn: number;
  /** /sys/kernel/mm/transparent_hugepage/enabled. */
  transparentHugepage: ThpMode;
  /** The default hstate (2 MiB): the hugetlb pool. */
  readonly hugetlb: Hstate;
  readonly panicOnWarn: boolean;
  readonly arch: ArchOps = { copyPage: copyPageDeferred };
  readonly inject: KernelInject = {};
  /** The seed this kernel was booted with. */
  readonly seed: number;
  /** The source of /dev/urandom's bytes (random.ts). */
  readonly urandom: Prng;
  /**
   * The task in the kernel with the frames of its way in, while it is in a
   * system call that can block there (set by Task's entry points; null
   * otherwise): who a hung-task report names and the bottom of its trace
   * (hung_task.ts). `current` above is the task alone, for other reports.
   */
  entry: KernelEntry | null = null;
  /** Hung-task reports (hung_task.ts), in order: a task that blocked for good; the kernel is left as it is. */
  readonly hung: string[] = [];
  /** The threads of the processes and the virtual clock (sched.ts). */
  readonly sched: Sched;
  /** The kernel version: which named changes (changes.ts) this kernel has. */
  readonly version: KernelVersion;
  /** version.on, for has(). */
  private readonly changeOn: Uint8Array;
  private readonly objects = new Map<number, object>();
  private readonly objectIds = new WeakMap<object, number>();
  private nextObjectId = 1;

  constructor(opts: KernelOptions = {}) {
    this.machine = opts.machine ?? defaultMachine();
    this.version = opts.version ?? (composeKernel() as KernelVersion);
    this.changeOn = this.version.on;
    this.host = opts.hostMemory ?? new HostMemory();
    this.pageData = this.host.pages;
    this.memmap = new Memmap(this.host);
    this.panicOnWarn = opts.panicOnWarn ?? false;
    this.seed = (opts.seed ?? DEFAULT_SEED) >>> 0;
    this.urandom = new Prng(deriveSeed(this.seed, 0));
    this.sched = new Sched(this, this.seed);
    this.iomem = new IomemResource(this.machine.physBits);
    const ram: Array<[number, number]> = [];
    for (const e of this.machine.memoryMap) {
      const end = e.start + e.size - 1;
      if (e.type === 'System RAM') {
        this.iomem.requestResource(this.iomem.root, new Resource(e.start, end, 'System RAM', IORESOURCE_SYSTEM_RAM));
        ram.push([e.start, e.start + e.size]);
      } else if (e.type === 'Soft Reserved') {
        this.iomem.requestResource(this.iomem.root, new Resource(e.start, end, 'Soft Reserved', IORESOURCE_MEM, IORES_DESC_SOFT_RESERVED));
      } else {
        this.iomem.requestResource(this.iomem.root, new Resource(e.start, end, 'Reserved', IORESOURCE_MEM));
      }
    }
    // Struct pages for RAM cover whole 2 MiB blocks (merged where rounding makes RAM ranges touch); only RAM pfns are handed out.
    const blocks = ram.map(([s, e]) => [Math.floor(physToPfn(s) / MEMBLOCK_PAGES) * MEMBLOCK_PAGES,
      Math.ceil(physToPfn(e) / MEMBLOCK_PAGES) * MEMBLOCK_PAGES]).sort((a, b) => a[0] - b[0]);
    const merged: number[][] = [];
    for (const b of blocks) {
      const last = merged[merged.length - 1];
      if (last && b[0] <= last[1]) last[1] = Math.max(last[1], b[1]);
      else merged.push([...b]);
    }
    for (const [first, last] of merged) this.memmap.addRange(first, last, null);
    // The kernel image sits at 16 MiB, as on x86_64; the zero page is in its bss.
    const image = this.reserveKernelImage();
    this.zeroPfn = image.bss;
    const b = this.memmap.block(this.zeroPfn);
    b.flags[Memmap.slot(this.zeroPfn)] |= PG_reserved;
    this.hugeZeroPfn = physToPfn(0x1800000);
    for (let i = 0; i < MEMBLOCK_PAGES; i++) this.memmap.block(this.hugeZeroPfn).flags[i] |= PG_reserved;
    this.pageAlloc = new PageAllocator(this, ram, image.start, image.end);
    this.transparentHugepage = this.machine.transparentHugepage ?? DEFAULT_THP_MODE;
    this.hugetlb = new Hstate(this, this.machine.nrHugepages ?? DEFAULT_NR_HUGEPAGES);
  }

  private reserveKernelImage(): { start: number; end: number; bss: number } {
    const start = 0x1000000, end = 0x1c00000;
    const ram = this.iomem.root.children.find((r) => r.start <= start && r.end >= end - 1 && r.name === 'System RAM');
    if (ram) {
      // As in arch/x86/kernel/setup.c: the image is System RAM, busy.
      const flags = IORESOURCE_SYSTEM_RAM | IORESOURCE_BUSY;
      this.iomem.requestResource(ram, new Resource(start, 0x15fffff, 'Kernel code', flags));
      this.iomem.requestResource(ram, new Resource(0x1600000, 0x17fffff, 'Kernel rodata', flags));
      this.iomem.requestResource(ram, new Resource(0x1800000, 0x1afffff, 'Kernel data', flags));
      this.iomem.requestResource(ram, new Resource(0x1b00000, end - 1, 'Kernel bss', flags));
    }
    return { start: physToPfn(start), end: physToPfn(end), bss: physToPfn(0x1b00000) };
  }

  /**
   * Power the machine off: the struct pages go back to the host memory for
   * the next kernel booted on it (page.ts). Call it last: the kernel's
   * memory may not be looked at afterwards (its log and warnings may).
   */
  poweroff(): void {
    this.memmap.release();
  }

  /**
   * Whether this kernel has an upstream change (changes.ts), the
   * IS_ENABLED() of a kernel version: one byte read, for per-page paths too.
   */
  has(c: KernelChange): boolean {
    return this.changeOn[c.index] !== 0;
  }

  /** printk(): one line into the log. */
  printk(line: string): void {
    this.log.push(line);
  }

  /**
   * WARN()/WARN_ON(): logs the warning with the function it fired in and
   * returns the condition, as in C. Per-page paths write
   * `if (cond) k.warn(true, ...)` so the message is built only when it fires.
   */
  warn(cond: boolean, where: string, what: string): boolean {
    if (!cond) return false;
    const task = this.currentTask();
    this.warnings.push(`WARNING: ${where}: ${what}`);
    // __warn(): the report goes to the log as the kernel prints it, named by the call chain taken now.
    for (const line of kernelReport({ kind: 'WARNING', where, message: what, trace: callTrace(), task })) this.printk(line);
    if (this.panicOnWarn) throw new KernelBug('BUG', where, `panic_on_warn: ${what}`, { task, panic: true });
    return true;
  }

  /** current, for reports: the task whose system call the model is in (Task sets it on entry), or null. */
  currentTask(): ReportTask | null {
    const t = this.current;
    return t === null ? null : { pid: t.pid, comm: 'hmm-tests' };
  }

  /** Store an object in a KPtr (a void * in zone_device_data). */
  kptr(obj: object | null): KPtr {
    if (obj === null) return 0;
    let id = this.objectIds.get(obj);
    if (id === undefined) {
      id = this.nextObjectId++;
      this.objectIds.set(obj, id);
      this.objects.set(id, obj);
    }
    return -id;
  }

  /** The object a negative KPtr names (NULL for 0). A page pointer here is a type confusion: a kernel bug. */
  kobj<T extends object>(p: KPtr, where = 'kobj'): T | null {
    if (p === 0) return null;
    if (p > 0) throw new KernelBug('BUG', where, `pointer holds page 0x${p.toString(16)} where an object was expected`);
    const obj = this.objects.get(-p) as T | undefined;
    // What CONFIG_KASAN reports for a read through a pointer to kfree()d memory, in the function that reads it.
    if (obj === undefined) throw new KernelBug('BUG', where, `KASAN: slab-use-after-free: read of object ${-p}, freed by kfree()`);
    return obj;
  }

  /** Whether a KPtr still names a live object (not freed). */
  kalive(p: KPtr): boolean {
    return p < 0 && this.objects.has(-p);
  }

  /** Forget an object (kfree()): a later use of a KPtr to it is reported as a use after free. */
  kfree(obj: object): void {
    const id = this.objectIds.get(obj);
    if (id !== undefined) this.objects.delete(id);
  }
}
