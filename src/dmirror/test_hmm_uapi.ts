// SPDX-License-Identifier: GPL-2.0-only
/*
 * The test_hmm UAPI, in the two versions the simulated driver answers:
 *
 *  - 6.12 (lib/test_hmm_uapi.h upstream): a 40-byte struct hmm_dmirror_cmd and
 *    READ, WRITE, MIGRATE_TO_DEV, MIGRATE_TO_SYS, SNAPSHOT, EXCLUSIVE,
 *    CHECK_EXCLUSIVE, RELEASE. This is what the real hmm-tests of the
 *    reference runs speaks, in private and coherent mode.
 *  - v5 (seed 000 patches 09 and 11, on 5.14): a 48-byte struct with
 *    zone_device_type and alloc_to_devmem, and READ, WRITE, MIGRATE (the
 *    direction in alloc_to_devmem), SNAPSHOT, GET_MEM_DEV_TYPE. The seed's
 *    generic mode speaks it.
 *
 * _IOWR() puts the argument's size in the request number, so the two sets
 * never collide and one driver can decode both (the way the kernel keeps an
 * old ioctl ABI next to a new one). The V5_ names are the seed's, renamed
 * so that the plain names grep to 6.12.
 */

/** struct hmm_dmirror_cmd: 6.12's five __u64, plus the v5 fields (read and written only by v5 requests). */
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
  /** (out, v5) zone device memory type (V5_GET_MEM_DEV_TYPE) */
  zone_device_type: number;
  /** (in, v5) V5_MIGRATE: 1 to migrate to device memory, 0 back to system memory */
  alloc_to_devmem: number;
}

export function newHmmDmirrorCmd(): HmmDmirrorCmd {
  return { addr: 0, ptr: 0, npages: 0, cpages: 0, faults: 0, zone_device_type: 0, alloc_to_devmem: 0 };
}

/** _IOWR('H', nr, size). */
const _IOWR = (nr: number, size: number): number => ((3 << 30) >>> 0) + (size << 16) + (0x48 << 8) + nr;
/** sizeof(struct hmm_dmirror_cmd): 6.12 and v5. */
export const HMM_DMIRROR_CMD_SIZE = 40;
export const HMM_DMIRROR_V5_CMD_SIZE = 48;

export const HMM_DMIRROR_READ = _IOWR(0x00, HMM_DMIRROR_CMD_SIZE);
export const HMM_DMIRROR_WRITE = _IOWR(0x01, HMM_DMIRROR_CMD_SIZE);
export const HMM_DMIRROR_MIGRATE_TO_DEV = _IOWR(0x02, HMM_DMIRROR_CMD_SIZE);
export const HMM_DMIRROR_MIGRATE_TO_SYS = _IOWR(0x03, HMM_DMIRROR_CMD_SIZE);
export const HMM_DMIRROR_SNAPSHOT = _IOWR(0x04, HMM_DMIRROR_CMD_SIZE);
export const HMM_DMIRROR_EXCLUSIVE = _IOWR(0x05, HMM_DMIRROR_CMD_SIZE);
export const HMM_DMIRROR_CHECK_EXCLUSIVE = _IOWR(0x06, HMM_DMIRROR_CMD_SIZE);
export const HMM_DMIRROR_RELEASE = _IOWR(0x07, HMM_DMIRROR_CMD_SIZE);
/** Mainline (TEST_HMM_FAIL_ALLOC, "lib/test_hmm: add large page allocation failure testing"): dmirror->flags = cmd.npages. */
export const HMM_DMIRROR_FLAGS = _IOWR(0x08, HMM_DMIRROR_CMD_SIZE);
/** HMM_DMIRROR_FLAGS bit: the next device-side (large) allocation fails, once. */
export const HMM_DMIRROR_FLAG_FAIL_ALLOC = 1;

export const HMM_DMIRROR_V5_READ = _IOWR(0x00, HMM_DMIRROR_V5_CMD_SIZE);
export const HMM_DMIRROR_V5_WRITE = _IOWR(0x01, HMM_DMIRROR_V5_CMD_SIZE);
export const HMM_DMIRROR_V5_MIGRATE = _IOWR(0x02, HMM_DMIRROR_V5_CMD_SIZE);
export const HMM_DMIRROR_V5_SNAPSHOT = _IOWR(0x03, HMM_DMIRROR_V5_CMD_SIZE);
export const HMM_DMIRROR_V5_GET_MEM_DEV_TYPE = _IOWR(0x04, HMM_DMIRROR_V5_CMD_SIZE);

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
export const HMM_DMIRROR_PROT_DEV_COHERENT_LOCAL = 0x40;
export const HMM_DMIRROR_PROT_DEV_COHERENT_REMOTE = 0x50;
/** v5: any GENERIC page, whichever device owns it (the value 6.12 reuses for COHERENT_LOCAL). */
export const HMM_DMIRROR_PROT_DEV_GENERIC = 0x40;

/** Device memory types (dmirror_device.zone_device_type); 0 is reserved to catch uninitialized fields. */
export const HMM_DMIRROR_MEMORY_DEVICE_PRIVATE = 1;
/** 6.12's second type. */
export const HMM_DMIRROR_MEMORY_DEVICE_COHERENT = 2;
/**
 * The seed's second type. v5 gives it the value 2, which 6.12 gave to
 * COHERENT; inside the driver GENERIC is 3 so all three differ, and
 * V5_GET_MEM_DEV_TYPE reports the seed's 2 for it.
 */
export const HMM_DMIRROR_MEMORY_DEVICE_GENERIC = 3;
export const HMM_DMIRROR_V5_MEMORY_DEVICE_GENERIC = 2;
/**
 * Not in any UAPI: seed 004's PUBLIC memory (2017) on devices 2 and 3
 * (spm_type=public, the simulation's own parameter). test_hmm is younger
 * than the type, so no kernel gave it a number.
 */
export const HMM_DMIRROR_MEMORY_DEVICE_PUBLIC = 4;
/** Not in the seed: what V5_GET_MEM_DEV_TYPE answers on a 6.12 COHERENT device. */
export const HMM_DMIRROR_V5_MEMORY_DEVICE_COHERENT = 3;

/** The request's name, as the trace prints it (a v5 MIGRATE is named by its direction). */
export function hmmDmirrorRequestName(request: number, cmd: HmmDmirrorCmd): string {
  switch (request) {
    case HMM_DMIRROR_READ: case HMM_DMIRROR_V5_READ: return 'READ';
    case HMM_DMIRROR_WRITE: case HMM_DMIRROR_V5_WRITE: return 'WRITE';
    case HMM_DMIRROR_MIGRATE_TO_DEV: return 'MIGRATE_TO_DEV';
    case HMM_DMIRROR_MIGRATE_TO_SYS: return 'MIGRATE_TO_SYS';
    case HMM_DMIRROR_V5_MIGRATE: return cmd.alloc_to_devmem ? 'MIGRATE_TO_DEV' : 'MIGRATE_TO_SYS';
    case HMM_DMIRROR_SNAPSHOT: case HMM_DMIRROR_V5_SNAPSHOT: return 'SNAPSHOT';
    case HMM_DMIRROR_EXCLUSIVE: return 'EXCLUSIVE';
    case HMM_DMIRROR_CHECK_EXCLUSIVE: return 'CHECK_EXCLUSIVE';
    case HMM_DMIRROR_RELEASE: return 'RELEASE';
    case HMM_DMIRROR_FLAGS: return 'FLAGS';
    case HMM_DMIRROR_V5_GET_MEM_DEV_TYPE: return 'GET_MEM_DEV_TYPE';
    default: return 'UNKNOWN';
  }
}
