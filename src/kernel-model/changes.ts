// SPDX-License-Identifier: GPL-2.0-only
/*
 * Kernel changes as named switches: every behaviour that differs between
 * the kernel versions the model knows is one KernelChange, named after its
 * upstream commit or series, and asked for where it matters with
 * `k.has(CHANGE)` (a typed-array read: cheap enough for per-page paths).
 * A kernel profile is a list of changes; a patch is a change that no
 * profile carries (or one that takes a profile's change out again), added
 * on top of a profile. The kernel's own habit for optional behaviour, one
 * Kconfig symbol tested with IS_ENABLED() at the few places it touches, is
 * the model: grep the change's constant to find every place it switches.
 *
 * Sources are those of ../shared/upstream/README.md: a mail's Message-ID
 * and the index id `[id N]` that reopens the stored copy; commit ids where
 * one was seen (the mm trees rebase, so rev-list ids are not given).
 */

/** One upstream commit or series whose behaviour the model can switch. */
export interface KernelChange {
  /** The switch's name at the command line (--patch NAME, `hmm-test kernels`). */
  readonly name: string;
  /** Position in the registry: the index of its byte in a kernel's switch array. */
  readonly index: number;
  /** Upstream subject(s), as in the commit(s). */
  readonly subject: string;
  readonly author: string;
  /** The first mainline release with it (or a stable release for a backport), or 'none' for a patch never merged. */
  readonly release: string;
  /** Where to read it: Message-ID, commit id, stored-copy id. */
  readonly source: string;
  /** What differs, as the model switches it. */
  readonly what: string;
  /** Changes this one builds on: enabling it without them is an error. */
  readonly requires: readonly KernelChange[];
  /** For a patch that undoes a change of a profile: the change it takes out. */
  readonly reverts: KernelChange | null;
}

type ChangeSpec = Omit<KernelChange, 'index' | 'requires' | 'reverts'> & { requires?: KernelChange[]; reverts?: KernelChange };

/** The registry: every change the model knows, in the order they were defined. */
const registry: KernelChange[] = [];

/** Add a change to the registry. Names are unique. */
export function defineChange(spec: ChangeSpec): KernelChange {
  if (registry.some((c) => c.name === spec.name)) throw new Error(`kernel change ${spec.name} defined twice`);
  const c: KernelChange = { ...spec, index: registry.length, requires: spec.requires ?? [], reverts: spec.reverts ?? null };
  registry.push(c);
  return c;
}

/** Every change the model knows (profiles' and patches'). */
export function kernelChanges(): readonly KernelChange[] {
  return registry;
}

/* ---- In 6.12 (the stable release the reference ran) ---- */

export const TEST_HMM_EVICT_ON_CLOSE = defineChange({
  name: 'test_hmm-evict-on-close',
  subject: 'lib: test_hmm: evict device pages on file close to avoid use-after-free',
  author: 'Alistair Popple',
  release: '7.1 (inferred; stable backports: 7.0.y, 6.18.y, 6.12.117)',
  source: 'series "Minor hmm_test fixes and cleanups" 20260331063445.3551404-1-apopple@nvidia.com; 6.18.y backport [id 61477476726]',
  what: 'dmirror_fops_release() migrates every chunk of the device back to system memory before it frees the mirror',
});

/* ---- 6.15: David Hildenbrand's device-exclusive rework ---- */

export const MAKE_DEVICE_EXCLUSIVE = defineChange({
  name: 'make_device_exclusive',
  subject: 'mm/rmap: convert make_device_exclusive_range() to make_device_exclusive(); ' +
    'mm/rmap: implement make_device_exclusive() using folio_walk instead of rmap walk; ' +
    'lib/test_hmm: make dmirror_atomic_map() consume a single page',
  author: 'David Hildenbrand',
  release: '6.15',
  source: 'series "mm: fixes for device-exclusive entries (hmm)" v2 20250210193801.781278-1-david@redhat.com; ' +
    'v1 04/12 20250129115411.2077152-5-david@redhat.com [id 4772452200]; MM pull for 6.15 [id 42486914675]',
  what: 'one page at a time: GUP with FOLL_GET|FOLL_WRITE|FOLL_SPLIT_PMD (a THP is split to PTEs), then a walk of that ' +
    'one PTE (not an rmap walk of every PTE of the folio) made a writable device-exclusive entry under MMU_NOTIFY_EXCLUSIVE ' +
    'of one page; test_hmm maps each page as it gets it',
});

export const DEVICE_EXCLUSIVE_NO_EBUSY = defineChange({
  name: 'make_device_exclusive-no-ebusy',
  subject: 'mm/rmap: avoid -EBUSY from make_device_exclusive()',
  author: 'David Hildenbrand',
  release: '6.15',
  source: 'v2 17/17 20250210193801.781278-18-david@redhat.com [id 19088782098]',
  what: 'folio_lock_killable() instead of folio_trylock(), and GUP again instead of -EBUSY when the PTE changed under it',
  requires: [MAKE_DEVICE_EXCLUSIVE],
});

export const RESTORE_EXCLUSIVE_PTE_WRITABLE = defineChange({
  name: 'restore_exclusive_pte-writability',
  subject: 'mm/memory: detect writability in restore_exclusive_pte() through can_change_pte_writable()',
  author: 'David Hildenbrand',
  release: '6.15',
  source: 'series "mm: fixes for device-exclusive entries (hmm)" v2 [id 42486914675]',
  what: 'the restored PTE is writable when the VMA is and can_change_pte_writable() allows it (an exclusive anon page), ' +
    'dirty when the folio is, instead of following the entry\'s own write bit',
});

export const SINGLE_SWP_DEVICE_EXCLUSIVE = defineChange({
  name: 'single-swp-device-exclusive',
  subject: 'mm: use single SWP_DEVICE_EXCLUSIVE entry type',
  author: 'David Hildenbrand',
  release: '6.15',
  source: 'series "mm: fixes for device-exclusive entries (hmm)" v2 [id 42486914675]',
  what: 'one device-exclusive entry type instead of a readable and a writable one; mprotect() leaves the entry alone',
  requires: [MAKE_DEVICE_EXCLUSIVE, RESTORE_EXCLUSIVE_PTE_WRITABLE],
});

export const DEVICE_EXCLUSIVE_KEEP_MAPCOUNT = defineChange({
  name: 'device-exclusive-keep-mapcount',
  subject: 'mm/rmap: keep mapcount untouched for device-exclusive entries',
  author: 'David Hildenbrand',
  release: '6.15',
  source: 'series "mm: fixes for device-exclusive entries (hmm)" v2 [id 42486914675]',
  what: 'a device-exclusive entry still counts as a mapping of its page: making and restoring it leave the mapcount alone, ' +
    'zapping it removes the rmap as for a present PTE',
  requires: [MAKE_DEVICE_EXCLUSIVE],
});

export const TRY_TO_MIGRATE_DEVICE_EXCLUSIVE = defineChange({
  name: 'try_to_migrate-device-exclusive',
  subject: 'mm/rmap: handle device-exclusive entries correctly in try_to_migrate_one()',
  author: 'David Hildenbrand',
  release: '6.15',
  source: 'series "mm: fixes for device-exclusive entries (hmm)" v2 [id 19621444423]; MM pull for 6.15 [id 42486914675]',
  what: 'try_to_migrate_one() takes a device-exclusive entry the rmap walk finds like the other non-present entries: it ' +
    'clears it and sets a migration entry (readable, exclusive when the page was; is_writable_device_private_entry() is ' +
    'false for it), dropping the mapping and the reference the entry held, so eviction (migrate_device_range()) moves a ' +
    'page a device holds exclusive instead of leaving it referenced (a COHERENT RELEASE after EXCLUSIVE then returns)',
});

export const PVMW_DEVICE_EXCLUSIVE_NOT_MIGRATION = defineChange({
  name: 'page_vma_mapped-exclusive-not-migration',
  subject: 'mm/page_vma_mapped: device-exclusive entries are not migration entries',
  author: 'David Hildenbrand',
  release: '6.15',
  source: 'series "mm: fixes for device-exclusive entries (hmm)" v2 [id 42486914675]',
  what: 'check_pte() with PVMW_MIGRATION matches migration entries only: remove_migration_ptes() no longer turns a ' +
    'device-exclusive entry into a present pte with a leaked reference (6.12 does, which makes a COHERENT RELEASE after ' +
    'EXCLUSIVE hang in memunmap_pages())',
});

export const REMOVE_DEVICE_EXCLUSIVE_CLEAR = defineChange({
  name: 'remove_device_exclusive_entry-clear',
  subject: 'mm/mmu_notifier: drop owner from MMU_NOTIFY_EXCLUSIVE; ' +
    'mm/mmu_notifier: use MMU_NOTIFY_CLEAR in remove_device_exclusive_entry()',
  author: 'David Hildenbrand',
  release: '6.15',
  source: 'series "mm: cleanups for device-exclusive entries (hmm)" 20250129115803.2084769-1-david@redhat.com [id 19114225569]',
  what: 'a CPU fault that restores a device-exclusive entry invalidates with MMU_NOTIFY_CLEAR (no owner) instead of ' +
    'MMU_NOTIFY_EXCLUSIVE; MMU_NOTIFY_EXCLUSIVE is left to make_device_exclusive()',
});

/* ---- test_hmm after 6.15 ---- */

export const TEST_HMM_REDUCE_STACK = defineChange({
  name: 'test_hmm-reduce-stack-usage',
  subject: 'lib/test_hmm: reduce stack usage',
  author: 'Arnd Bergmann',
  release: '6.17 (inferred: mailed June 2025)',
  source: '20250610092159.2639515-1-arnd@kernel.org [id 43679029689]',
  what: 'the pfn arrays of dmirror_fault(), dmirror_snapshot(), dmirror_migrate_to_device() and ' +
    'dmirror_migrate_to_system() have 32 entries instead of 64: windows of 32 pages',
});

export const TEST_HMM_ALLOC_OOM = defineChange({
  name: 'test_hmm-alloc-page-vma-oom',
  subject: 'lib/test_hmm: check alloc_page_vma() return value and handle OOM',
  author: '(mm-stable, June 2026)',
  release: '7.2 (inferred: mm-stable June 2026)',
  source: 'mm-stable rev-lists [id 66620256437, 66555088201]; resulting code: linux-mm lib/test_hmm.c blob 05ab5121 [id 58875650829]',
  what: 'when alloc_page_vma() fails, dmirror_devmem_fault_alloc_and_copy() returns VM_FAULT_OOM: the CPU fault ' +
    'fails with it and MIGRATE_TO_SYS returns -ENOMEM (6.12 skips the page and reports success)',
});

/* ---- 6.19: Balbir Singh's "mm: support device-private THP" (and the hmm patch it builds on) ---- */

const THP_SERIES = 'series "mm: support device-private THP" v6 20250916122128.2098535-1-balbirs@nvidia.com [id 7340019822], v7 2025-10-01';

export const ZONE_DEVICE_LARGE_FOLIOS = defineChange({
  name: 'zone_device-large-folios',
  subject: 'mm/zone_device: support large zone device private folios; mm/memremap: add driver callback support for folio splitting',
  author: 'Balbir Singh',
  release: '6.19 (inferred)',
  source: THP_SERIES + '; resulting driver: linux-mm lib/test_hmm.c blob 05ab5121 [id 58875650829]',
  what: 'zone_device_folio_init(folio, pgmap, order) hands out a compound device folio (pgmap->ref taken once per page); ' +
    'its last put calls dev_pagemap_ops.folio_free() for the whole folio; split_folio() of a device-private folio calls ' +
    'dev_pagemap_ops.folio_split(head, tail) for every new folio and folio_split(head, NULL) at the end',
});

export const HUGE_PMD_DEVICE_PRIVATE = defineChange({
  name: 'huge_memory-device-private-pmd',
  subject: 'mm/huge_memory: add device-private THP support to PMD operations; mm/rmap: extend rmap and migration support ' +
    'device-private entries; mm/huge_memory: implement device-private THP splitting; ' +
    'mm/memory/fault: add THP fault handling for zone device private pages',
  author: 'Balbir Singh',
  release: '6.19 (inferred)',
  source: THP_SERIES,
  what: 'a device-private folio may be mapped by one PMD-level device-private entry: zap, split (to PTE device-private ' +
    'entries), fork (both made readable), try_to_migrate()/remove_migration_ptes() (PMD migration entries) and a CPU ' +
    'fault through the PMD (do_huge_pmd_device_private() -> migrate_to_ram()) handle it',
  requires: [ZONE_DEVICE_LARGE_FOLIOS],
});

export const MIGRATE_DEVICE_THP = defineChange({
  name: 'migrate_device-thp',
  subject: 'mm/migrate_device: implement THP migration of zone device pages; mm/migrate_device: handle partially mapped ' +
    'folios during collection; mm/migrate_device: add THP splitting during migration',
  author: 'Balbir Singh',
  release: '6.19 (inferred; commit a30b48bf1b24 is a later Fixes: target)',
  source: THP_SERIES,
  what: 'with MIGRATE_VMA_SELECT_COMPOUND a PMD-aligned THP, device-private PMD, huge zero PMD or empty PMD is one ' +
    'MIGRATE_PFN_COMPOUND entry moved as a whole (a PMD migration entry while it moves); a destination that is not ' +
    'compound splits the source folio (migrate_vma_split_pages) or fills the hole page by page; a PTE-mapped large ' +
    'folio met during collection is split first instead of skipped',
  requires: [HUGE_PMD_DEVICE_PRIVATE],
});

export const HMM_PMD_SWAP_ENTRY = defineChange({
  name: 'hmm-pmd-swap-entry',
  subject: 'mm/hmm: populate PFNs from PMD swap entry',
  author: 'Francois Dugast',
  release: '6.19 (inferred: mm-unstable Sept 2025, cited by the THP series v6)',
  source: '20250902130713.1644661-1-francois.dugast@intel.com; mm rev-lists [id 66022992363]',
  what: 'hmm_range_fault() reports a device-private PMD entry of the range\'s owner page by page with PMD order (and ' +
    'faults one of another owner when asked to) instead of HMM_PFN_ERROR',
});

export const TEST_HMM_THP = defineChange({
  name: 'test_hmm-thp',
  subject: 'lib/test_hmm: add zone device private THP test infrastructure',
  author: 'Balbir Singh',
  release: '6.19 (inferred)',
  source: THP_SERIES + '; linux-mm lib/test_hmm.c blob 05ab5121 [id 58875650829]',
  what: 'the driver keeps a free list of PMD-order device folios (free_folios, chunks made for a large allocation are ' +
    'carved into them), migrates with MIGRATE_VMA_SELECT_COMPOUND in PTRS_PER_PTE-page windows, copies whole folios, ' +
    'migrates the whole folio back on a CPU fault through a PMD (one page through a PTE), and splits the backing ' +
    'folio in step (folio_split)',
  requires: [MIGRATE_DEVICE_THP, ZONE_DEVICE_LARGE_FOLIOS],
});

export const TEST_HMM_FAIL_ALLOC = defineChange({
  name: 'test_hmm-fail-alloc',
  subject: 'lib/test_hmm: add large page allocation failure testing',
  author: 'Balbir Singh',
  release: '6.19 (inferred)',
  source: THP_SERIES + '; lib/test_hmm_uapi.h blob 6d177139 [id 58440015634]',
  what: 'HMM_DMIRROR_FLAGS (0x08) sets dmirror->flags from cmd.npages; HMM_DMIRROR_FLAG_FAIL_ALLOC makes the next ' +
    'device-side allocation fail once (the flag clears): a large one falls back to PAGE_SIZE pages',
  requires: [TEST_HMM_THP],
});

/* ---- Patches: historical and proposed changes no profile carries (--patch NAME) ---- */

export const MIGRATE_VMA_PAGES_NO_INVALIDATE = defineChange({
  name: 'migrate_vma_pages-no-invalidate',
  subject: 'mm/migrate: remove range invalidation in migrate_vma_pages()',
  author: 'Ralph Campbell',
  release: 'none (dropped in review: Jason Gunthorpe, 2020-07-31)',
  source: 'seed 001 (/work/shared/seeds/001_c0c463fae742e279.txt), [PATCH v4 6/6] and its review thread',
  what: 'migrate_vma_pages() installs the new page over a pte_none()/zero-page entry without the second ' +
    'MMU_NOTIFY_MIGRATE invalidation: a secondary MMU that re-faulted the zero page after migrate_vma_setup() ' +
    'keeps mirroring it',
});

export const DMIRROR_CHUNK_FORCE_PRIVATE = defineChange({
  name: 'dmirror_allocate_chunk-force-private',
  subject: 'lib: test_hmm add support for device generic memory (v4)',
  author: 'Alex Sierra',
  release: 'none (the v4 bug fixed in v5)',
  source: 'seed 000 (/work/shared/seeds/000_6885d5b06d71151c.txt), cover letter v5 changelog: ' +
    '"remove devmem->pagemap.type = MEMORY_DEVICE_PRIVATE at dmirror_allocate_chunk"',
  what: 'dmirror_allocate_chunk() sets pagemap.type = MEMORY_DEVICE_PRIVATE after choosing the type: ' +
    'GENERIC and COHERENT devices get device-private chunks',
});

export const ZONE_DEVICE_ONE_BASED_REFCOUNT = defineChange({
  name: 'zone_device-one-based-refcount',
  subject: 'revert of "mm: remove extra ZONE_DEVICE struct page refcount" (the core half)',
  author: 'Ralph Campbell / Alex Sierra',
  release: 'none (the rule before seed 000 patch 02)',
  source: 'seed 000 (/work/shared/seeds/000_6885d5b06d71151c.txt), [PATCH v5 02/13]',
  what: 'put_page() hands a ZONE_DEVICE page to pgmap->ops->page_free() when its refcount drops to 1 ' +
    '(put_devmap_managed_page()), while the drivers hand pages out at refcount 1 as patch 02 made them: ' +
    'a device page is freed while its last mapping still holds it',
});

export const DEVICE_EXCLUSIVE_EBUSY = defineChange({
  name: 'make_device_exclusive-ebusy',
  subject: 'revert of "mm/rmap: avoid -EBUSY from make_device_exclusive()"',
  author: 'David Hildenbrand (the reverted patch)',
  release: 'none (before 6.15: make_device_exclusive_range() tried the folio lock)',
  source: 'v2 17/17 20250210193801.781278-18-david@redhat.com [id 19088782098], reverted',
  what: 'folio_trylock() instead of folio_lock_killable(), and -EBUSY when the folio is locked or the PTE changed after GUP',
  reverts: DEVICE_EXCLUSIVE_NO_EBUSY,
});

export const TEST_HMM_NO_EVICT_ON_CLOSE = defineChange({
  name: 'test_hmm-no-evict-on-close',
  subject: 'revert of "lib: test_hmm: evict device pages on file close to avoid use-after-free"',
  author: 'Alistair Popple (the reverted patch)',
  release: 'none (6.12 before 6.12.117, mainline before 7.1)',
  source: 'series "Minor hmm_test fixes and cleanups" 20260331063445.3551404-1-apopple@nvidia.com, reverted',
  what: 'dmirror_fops_release() frees the mirror and leaves its device pages mapped: a later CPU fault on one ' +
    'reads the freed dmirror through rpage->zone_device_data (a KASAN slab-use-after-free in dmirror_devmem_fault())',
  reverts: TEST_HMM_EVICT_ON_CLOSE,
});

export const DMIRROR_DO_FAULT_BACKING_PAGE = defineChange({
  name: 'dmirror_do_fault-backing-page',
  subject: 'lib: test_hmm: store the backing page of a device-private page in the mirror (proposed)',
  author: '(proposed here)',
  release: 'none (6.12 and linux-mm lib/test_hmm.c blob 05ab5121 [id 58875650829] still store the device page)',
  source: 'proposed: 6.12 lib/test_hmm.c dmirror_do_fault() stores hmm_pfn_to_page() as is; ' +
    'dmirror_migrate_finalize_and_map() stores BACKING_PAGE(dpage), which dmirror_do_read() can copy',
  what: 'dmirror_do_fault() stores BACKING_PAGE(page) for a device-private page of this device, as ' +
    'dmirror_migrate_finalize_and_map() does: a READ after a re-fault copies the data instead of oopsing in memcpy_from_page()',
});

/* ---- Profiles ---- */

export interface KernelProfile {
  readonly name: string;
  readonly description: string;
  /** The hmm-tests.c its tools/testing/selftests carries: a suite of src/selftests/suites.ts. */
  readonly suite: string;
  readonly changes: readonly KernelChange[];
}

/**
 * The mainline profile is named after the release the stored upstream
 * sources correspond to (../shared/upstream/README.md): the newest
 * hmm-tests.c has the June 2026 mm-stable patches (HUGETLB_SETUP_DEFAULT_PAGES,
 * hugepage_settings.h), which went in after Linux 7.1 (released 14 June
 * 2026), and none of the July 2026 mm-new ones (HMM_DMIRROR_READ_UNLOCKED):
 * the 7.2 merge window. lib/test_hmm.c (linux-mm) matches.
 */
export const MAINLINE = '7.2';

const PROFILES: KernelProfile[] = [
  {
    name: '6.12',
    description: 'Linux 6.12.117 as the reference ran it (../shared/reference): the default',
    suite: '6.12',
    changes: [TEST_HMM_EVICT_ON_CLOSE],
  },
  {
    name: MAINLINE,
    description: 'mainline of the 7.2 merge window (June 2026), as far as the model has it',
    suite: 'mainline',
    changes: [TEST_HMM_EVICT_ON_CLOSE, MAKE_DEVICE_EXCLUSIVE, DEVICE_EXCLUSIVE_NO_EBUSY, RESTORE_EXCLUSIVE_PTE_WRITABLE,
      SINGLE_SWP_DEVICE_EXCLUSIVE, TRY_TO_MIGRATE_DEVICE_EXCLUSIVE, DEVICE_EXCLUSIVE_KEEP_MAPCOUNT, PVMW_DEVICE_EXCLUSIVE_NOT_MIGRATION,
      REMOVE_DEVICE_EXCLUSIVE_CLEAR, TEST_HMM_REDUCE_STACK,
      TEST_HMM_ALLOC_OOM, ZONE_DEVICE_LARGE_FOLIOS, HUGE_PMD_DEVICE_PRIVATE, MIGRATE_DEVICE_THP, HMM_PMD_SWAP_ENTRY,
      TEST_HMM_THP, TEST_HMM_FAIL_ALLOC],
  },
];

export const DEFAULT_KERNEL = '6.12';

export function kernelProfiles(): readonly KernelProfile[] {
  return PROFILES;
}

/** The profile a kernel was composed from. */
export function kernelProfile(version: KernelVersion): KernelProfile {
  return PROFILES.find((p) => p.name === version.profile)!;
}

/**
 * The kernel a Kernel is booted as: a profile plus patches, resolved to
 * one byte per registered change (`on[c.index]`), so `has()` is one read.
 */
export class KernelVersion {
  readonly on: Uint8Array;
  constructor(readonly profile: string, readonly patches: readonly string[], changes: readonly KernelChange[], size: number) {
    this.on = new Uint8Array(size);
    for (const c of changes) this.on[c.index] = 1;
  }

  has(c: KernelChange): boolean {
    return this.on[c.index] !== 0;
  }

  /** The changes switched on, in registry order. */
  changes(all: readonly KernelChange[] = registry): KernelChange[] {
    return all.filter((c) => this.on[c.index] !== 0);
  }

  /** "7.2" or "7.2 + patch-a + patch-b": what a report calls this kernel. */
  get label(): string {
    return [this.profile, ...this.patches].join(' + ');
  }
}

/**
 * Compose a profile and patches into a KernelVersion, or a one-line error
 * that names what is known. A patch is any registered change the profile
 * does not have; a patch with `reverts` takes its change out. Each
 * change's `requires` must hold in the result.
 */
export function composeKernel(profile: string = DEFAULT_KERNEL, patches: readonly string[] = [],
  profiles: readonly KernelProfile[] = PROFILES, all: readonly KernelChange[] = registry): KernelVersion | { error: string } {
  const p = profiles.find((x) => x.name === profile);
  if (p === undefined) {
    return { error: `unknown kernel '${profile}'; the kernels are ${profiles.map((x) => x.name).join(', ')} (hmm-test kernels lists them)` };
  }
  const set = new Set<KernelChange>(p.changes);
  for (const name of patches) {
    const c = all.find((x) => x.name === name);
    if (c === undefined) {
      const names = all.filter((x) => !p.changes.includes(x)).map((x) => x.name);
      return { error: `unknown patch '${name}'; the patches for kernel ${profile} are ${names.join(', ') || '(none)'}` };
    }
    if (set.has(c)) return { error: `patch '${name}' is in kernel ${profile} already; the kernels and their changes: hmm-test kernels` };
    if (c.reverts !== null) {
      if (!set.has(c.reverts)) return { error: `patch '${name}' reverts '${c.reverts.name}', which kernel ${profile} does not have` };
      set.delete(c.reverts);
    } else {
      set.add(c);
    }
  }
  for (const c of set) {
    for (const r of c.requires) {
      if (!set.has(r)) return { error: `'${c.name}' needs '${r.name}', which kernel ${[profile, ...patches].join(' + ')} does not have` };
    }
  }
  return new KernelVersion(profile, patches, [...set], all.length);
}

/** The lines of `hmm-test kernels`: each profile with its changes and their sources, then the changes no profile has. */
export function describeKernels(profiles: readonly KernelProfile[] = PROFILES, all: readonly KernelChange[] = registry): string[] {
  const out: string[] = [];
  const change = (c: KernelChange, indent: string) => {
    out.push(`${indent}${c.name}  (${c.release}, ${c.author})`);
    out.push(`${indent}    ${c.subject}`);
    out.push(`${indent}    ${c.what}`);
    out.push(`${indent}    source: ${c.source}`);
    if (c.requires.length) out.push(`${indent}    needs: ${c.requires.map((r) => r.name).join(', ')}`);
    if (c.reverts) out.push(`${indent}    reverts: ${c.reverts.name}`);
  };
  for (const p of profiles) {
    out.push(`kernel ${p.name}${p.name === DEFAULT_KERNEL ? ' (default)' : ''}: ${p.description}`);
    if (p.changes.length === 0) out.push('    (no changes)');
    for (const c of p.changes) change(c, '  ');
  }
  const patches = all.filter((c) => !profiles.some((p) => p.changes.includes(c)));
  out.push(patches.length ? 'patches (--patch NAME, on top of a kernel):' : 'patches: none registered');
  for (const c of patches) change(c, '  ');
  return out;
}
