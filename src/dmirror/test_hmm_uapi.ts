// SPDX-License-Identifier: GPL-2.0-only
/*
 * The test_hmm UAPI as the seed defines it (000 patches 09 and 11, on
 * lib/test_hmm_uapi.h of 5.14): READ, WRITE, MIGRATE with alloc_to_devmem
 * choosing the direction, SNAPSHOT, GET_MEM_DEV_TYPE.
 */

/** struct hmm_dmirror_cmd (seed 000 patch 11 layout: 5 __u64 and 2 __u32, 48 bytes). */
export interface HmmDmirrorCmd {
  /** (in) user address the device will read/write */
  addr: number;
  /** (in) user address where device data is copied to/from */
  ptr: number;
  /** (in) number of pages to read/write */
  npages: number;
  /** (out) number of pages copied */
  cpages: number;
  /** (out) number of device page faults seen */
  faults: number;
  /** (out) zone device memory type (GET_MEM_DEV_TYPE) */
  zone_device_type: number;
  /** (in) MIGRATE: true to migrate to device memory, false back to system memory */
  alloc_to_devmem: number;
}

export function newHmmDmirrorCmd(): HmmDmirrorCmd {
  return { addr: 0, ptr: 0, npages: 0, cpages: 0, faults: 0, zone_device_type: 0, alloc_to_devmem: 0 };
}

/** _IOWR('H', nr, struct hmm_dmirror_cmd) with sizeof == 48. */
const _IOWR = (nr: number): number => ((3 << 30) >>> 0) + (48 << 16) + (0x48 << 8) + nr;

export const HMM_DMIRROR_READ = _IOWR(0x00);
export const HMM_DMIRROR_WRITE = _IOWR(0x01);
export const HMM_DMIRROR_MIGRATE = _IOWR(0x02);
export const HMM_DMIRROR_SNAPSHOT = _IOWR(0x03);
export const HMM_DMIRROR_GET_MEM_DEV_TYPE = _IOWR(0x04);

/** Values SNAPSHOT writes, one byte per page, at cmd.ptr. */
export const HMM_DMIRROR_PROT_ERROR = 0xff;
export const HMM_DMIRROR_PROT_NONE = 0x00;
export const HMM_DMIRROR_PROT_READ = 0x01;
export const HMM_DMIRROR_PROT_WRITE = 0x02;
export const HMM_DMIRROR_PROT_PMD = 0x04;
export const HMM_DMIRROR_PROT_PUD = 0x08;
export const HMM_DMIRROR_PROT_ZERO = 0x10;
export const HMM_DMIRROR_PROT_DEV_PRIVATE_LOCAL = 0x20;
export const HMM_DMIRROR_PROT_DEV_PRIVATE_REMOTE = 0x30;
export const HMM_DMIRROR_PROT_DEV_GENERIC = 0x40;

/** GET_MEM_DEV_TYPE results; 0 is reserved to catch uninitialized fields. */
export const HMM_DMIRROR_MEMORY_DEVICE_PRIVATE = 1;
export const HMM_DMIRROR_MEMORY_DEVICE_GENERIC = 2;

/** The request's name, as the trace prints it (a MIGRATE is named by its direction). */
export function hmmDmirrorRequestName(request: number, cmd: HmmDmirrorCmd): string {
  switch (request) {
    case HMM_DMIRROR_READ: return 'READ';
    case HMM_DMIRROR_WRITE: return 'WRITE';
    case HMM_DMIRROR_MIGRATE: return cmd.alloc_to_devmem ? 'MIGRATE_TO_DEV' : 'MIGRATE_TO_SYS';
    case HMM_DMIRROR_SNAPSHOT: return 'SNAPSHOT';
    case HMM_DMIRROR_GET_MEM_DEV_TYPE: return 'GET_MEM_DEV_TYPE';
    default: return 'UNKNOWN';
  }
}
