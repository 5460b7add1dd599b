// SPDX-License-Identifier: GPL-2.0-only
/*
 * The simulated machine: what firmware tells the kernel about physical
 * memory (the e820/EFI memory map) and the CPU's physical address width.
 *
 * Special-purpose memory (SPM, EFI_MEMORY_SP) is what the seed's
 * DEVICE_GENERIC mode needs: on a real machine the BIOS advertises device
 * memory that way, or `efi_fake_mem=1G@0x100000000:0x40000` fakes it. The
 * kernel does not online it as System RAM; it shows in /proc/iomem as
 * "Soft Reserved", where lookup_resource() finds it.
 */
export type E820Type = 'System RAM' | 'Reserved' | 'Soft Reserved';

export interface MemoryMapEntry {
  start: number;
  size: number;
  type: E820Type;
}

/** /sys/kernel/mm/transparent_hugepage/enabled (the transparent_hugepage= boot parameter). */
export type ThpMode = 'always' | 'madvise' | 'never';

export interface MachineConfig {
  /** Physical address bits: the top of iomem_resource (QEMU's default CPU has 40). */
  physBits: number;
  memoryMap: MemoryMapEntry[];
  /** THP mode at boot; default 'madvise' (the reference's thp-madvise runs, where every case passes). */
  transparentHugepage?: ThpMode;
  /** 2 MiB hugetlb pages reserved at boot (hugepages=N; the reference's init sets 16). Default 16. */
  nrHugepages?: number;
}

export const DEFAULT_THP_MODE: ThpMode = 'madvise';
export const DEFAULT_NR_HUGEPAGES = 16;

const GiB = 1024 ** 3;

/**
 * The default machine: QEMU's x86 layout (as in ../shared/reference) with
 * 4 GiB of RAM, and the two 1 GiB SPM ranges of the seed's efi_fake_mem
 * example at 0x100000000 and 0x140000000, so that
 * `hmm-test smoke 0x100000000 0x140000000` works out of the box.
 */
export function defaultMachine(): MachineConfig {
  return {
    physBits: 40,
    memoryMap: [
      { start: 0x0, size: 0x1000, type: 'Reserved' },
      { start: 0x1000, size: 0x9f000, type: 'System RAM' },
      { start: 0xf0000, size: 0x10000, type: 'Reserved' },
      { start: 0x100000, size: 0xbfee0000, type: 'System RAM' },
      { start: 0xfffc0000, size: 0x40000, type: 'Reserved' },
      { start: 4 * GiB, size: GiB, type: 'Soft Reserved' },
      { start: 5 * GiB, size: GiB, type: 'Soft Reserved' },
      { start: 6 * GiB, size: GiB, type: 'System RAM' },
    ],
  };
}

/** The SPM ranges of a machine, for error messages that say what would be right. */
export function spmRanges(m: MachineConfig): MemoryMapEntry[] {
  return m.memoryMap.filter((e) => e.type === 'Soft Reserved');
}

export const hex = (n: number): string => `0x${n.toString(16)}`;
