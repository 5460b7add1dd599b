// SPDX-License-Identifier: GPL-2.0-only
/*
 * The top of tools/testing/selftests/mm/hmm-tests.c (6.12): struct
 * hmm_buffer, the fixtures hmm (one device) and hmm2 (two devices) with their
 * private and coherent variants, hmm_open(), hmm_dmirror_cmd() and the
 * migrate helpers.
 *
 * One program, two builds. Against 6.12's driver it speaks 6.12's UAPI, as
 * upstream does. In the seed's generic mode (variant hmm_device_generic, the
 * only one that mode offers) it is the seed's hmm-tests (000 patch 12): READ,
 * WRITE and SNAPSHOT in the v5 numbering, migrations through v5's MIGRATE
 * with alloc_to_devmem, and the device's type from GET_MEM_DEV_TYPE; the
 * commands 6.12 added later (EXCLUSIVE, CHECK_EXCLUSIVE, RELEASE) have no v5
 * number and go out in 6.12's, which the driver also answers.
 */
import type { Harness, Fixture } from '../../kselftest/harness.js';
import type { Metadata } from '../../kselftest/assert.js';
import { EINTR } from '../../kernel-model/errno.js';
import { type Libc, NULL, O_RDWR, _SC_PAGE_SIZE } from './libc.js';
import { type HmmDmirrorCmd, newHmmDmirrorCmd, hmmDmirrorRequestName, HMM_DMIRROR_READ, HMM_DMIRROR_WRITE,
  HMM_DMIRROR_SNAPSHOT, HMM_DMIRROR_MIGRATE_TO_DEV, HMM_DMIRROR_MIGRATE_TO_SYS, HMM_DMIRROR_V5_READ,
  HMM_DMIRROR_V5_WRITE, HMM_DMIRROR_V5_SNAPSHOT, HMM_DMIRROR_V5_MIGRATE, HMM_DMIRROR_V5_GET_MEM_DEV_TYPE,
  HMM_DMIRROR_MEMORY_DEVICE_PRIVATE } from '../../dmirror/test_hmm_uapi.js';

export interface HmmBuffer {
  ptr: number;
  mirror: number;
  size: number;
  fd: number;
  cpages: number;
  faults: number;
  /** v5 build only (the seed's field): what GET_MEM_DEV_TYPE returned. */
  zone_device_type: number;
}

export function newHmmBuffer(): HmmBuffer {
  return { ptr: 0, mirror: 0, size: 0, fd: -1, cpages: 0, faults: 0, zone_device_type: 0 };
}

/** The device numbers (enum in hmm-tests.c). */
export const HMM_PRIVATE_DEVICE_ONE = 0;
export const HMM_PRIVATE_DEVICE_TWO = 1;
export const HMM_COHERENCE_DEVICE_ONE = 2;
export const HMM_COHERENCE_DEVICE_TWO = 3;

export const TWOMEG = 1 << 21;
export const HMM_BUFFER_SIZE = 1024 << 12;
export const NTIMES = 10;

export const ALIGN = (x: number, a: number): number => Math.ceil(x / a) * a;
/** ffs(): 1-based index of the lowest set bit. */
export const ffs = (x: number): number => (x === 0 ? 0 : 31 - Math.clz32(x & -x) + 1);

export interface HmmSelf { fd: number; page_size: number; page_shift: number }
export interface Hmm2Self { fd0: number; fd1: number; page_size: number; page_shift: number }
export interface HmmVariant { device_number: number }
export interface Hmm2Variant { device_number0: number; device_number1: number }

/** A fixture variant pair (FIXTURE_VARIANT_ADD for hmm and hmm2). */
export interface VariantSpec { hmm: string; hmm2: string; dev0: number; dev1: number }
export const PRIVATE_VARIANT: VariantSpec = { hmm: 'hmm_device_private', hmm2: 'hmm2_device_private',
  dev0: HMM_PRIVATE_DEVICE_ONE, dev1: HMM_PRIVATE_DEVICE_TWO };
export const COHERENT_VARIANT: VariantSpec = { hmm: 'hmm_device_coherent', hmm2: 'hmm2_device_coherent',
  dev0: HMM_COHERENCE_DEVICE_ONE, dev1: HMM_COHERENCE_DEVICE_TWO };
/**
 * Not in hmm-tests.c: seed 004's PUBLIC memory on devices 2 and 3
 * (spm_type=public). The device numbers are the coherent ones, so every
 * hmm_is_coherent_type() branch of the C takes the CPU-coherent side.
 */
export const PUBLIC_VARIANT: VariantSpec = { hmm: 'hmm_device_public', hmm2: 'hmm2_device_public',
  dev0: HMM_COHERENCE_DEVICE_ONE, dev1: HMM_COHERENCE_DEVICE_TWO };
/** The seed's generic mode: devices 0 and 1, both GENERIC. */
export const GENERIC_VARIANT: VariantSpec = { hmm: 'hmm_device_generic', hmm2: 'hmm2_device_generic',
  dev0: HMM_PRIVATE_DEVICE_ONE, dev1: HMM_PRIVATE_DEVICE_TWO };

/** Which build of the program: 6.12's, or the seed's (v5 UAPI). */
export type HmmTestsBuild = '6.12' | 'v5';

/** Everything a ported case calls: libc, the command helpers, the harness handles. */
export interface HmmEnv {
  libc: Libc;
  build: HmmTestsBuild;
  hmm: Fixture<HmmSelf, HmmVariant>;
  hmm2: Fixture<Hmm2Self, Hmm2Variant>;
  hmm_open(unit: number): number;
  hmm_is_coherent_type(dev_num: number): boolean;
  /** v5 only: the device's memory is the seed's GENERIC (SNAPSHOT reports DEV_GENERIC for every device). */
  hmm_is_generic_type(dev_num: number): boolean;
  hmm_dmirror_cmd(fd: number, request: number, buffer: HmmBuffer, npages: number): number;
  hmm_buffer_free(buffer: HmmBuffer | null): void;
  hmm_migrate_sys_to_dev(fd: number, buffer: HmmBuffer, npages: number): number;
  hmm_migrate_dev_to_sys(fd: number, buffer: HmmBuffer, npages: number): number;
}

/** What one device command did, for observers (the TRACE line is made from it). */
export interface HmmDmirrorCmdResult {
  /** The request's name as the trace prints it (READ, MIGRATE_TO_DEV, ...). */
  name: string;
  npages: number;
  /** 0 or -errno. */
  ret: number;
  /** The command structure after the ioctl (cpages, faults, zone_device_type). */
  cmd: HmmDmirrorCmd;
}

/** The request as the v5 build numbers it (6.12's later commands keep their number). */
function v5Request(request: number, cmd: HmmDmirrorCmd): number {
  switch (request) {
    case HMM_DMIRROR_READ: return HMM_DMIRROR_V5_READ;
    case HMM_DMIRROR_WRITE: return HMM_DMIRROR_V5_WRITE;
    case HMM_DMIRROR_SNAPSHOT: return HMM_DMIRROR_V5_SNAPSHOT;
    case HMM_DMIRROR_MIGRATE_TO_DEV: cmd.alloc_to_devmem = 1; return HMM_DMIRROR_V5_MIGRATE;
    case HMM_DMIRROR_MIGRATE_TO_SYS: cmd.alloc_to_devmem = 0; return HMM_DMIRROR_V5_MIGRATE;
    default: return request;
  }
}

/**
 * hmm_dmirror_cmd() of one build: one ioctl, restarted on EINTR. With
 * tracing, one TRACE line per command, from a command structure zeroed
 * first (as the reference's patched copy does, so a failed command shows
 * cpages=0). `prepare` may set fields of the command before it goes out
 * (the seed's alloc_to_devmem); `observe` sees every command's result.
 */
export function hmmDmirrorCmd(libc: Libc, build: HmmTestsBuild,
  observe?: (r: HmmDmirrorCmdResult) => void, prepare?: (cmd: HmmDmirrorCmd) => void) {
  return function hmm_dmirror_cmd(fd: number, request: number, buffer: HmmBuffer, npages: number): number {
    const cmd: HmmDmirrorCmd = newHmmDmirrorCmd();
    /* Simulate a device reading system memory. */
    cmd.addr = buffer.ptr;
    cmd.ptr = buffer.mirror;
    cmd.npages = npages;
    prepare?.(cmd);
    const req = build === 'v5' ? v5Request(request, cmd) : request;
    let ret: number;
    for (;;) {
      ret = libc.ioctl(fd, req, cmd);
      if (ret === 0) break;
      if (libc.errno === EINTR) continue;
      ret = -libc.errno;
      break;
    }
    const name = hmmDmirrorRequestName(req, cmd);
    libc.trace?.(`TRACE ${name} npages=${npages} ret=${ret} cpages=${cmd.cpages} faults=${cmd.faults}`);
    observe?.({ name, npages, ret, cmd });
    if (ret) return ret;
    buffer.cpages = cmd.cpages;
    buffer.faults = cmd.faults;
    buffer.zone_device_type = cmd.zone_device_type;
    return 0;
  };
}

export function defineFixtures(h: Harness, libc: Libc, variants: VariantSpec[], build: HmmTestsBuild): HmmEnv {
  const { open, close, munmap, free, sysconf } = libc;

  function hmm_open(unit: number): number {
    const pathname = `/dev/hmm_dmirror${unit}`;
    const fd = open(pathname, O_RDWR, 0);
    if (fd < 0) libc.stderr(`could not open hmm dmirror driver (${pathname})`);
    return fd;
  }

  /** v5 build: each device's type, asked once per case with GET_MEM_DEV_TYPE on the fixture's file. */
  const deviceTypes = new Map<number, number>();
  function hmm_query_type(fd: number, dev_num: number): void {
    if (build !== 'v5' || fd < 0) return;
    const buffer = newHmmBuffer();
    buffer.ptr = NULL;
    if (hmm_dmirror_cmd(fd, HMM_DMIRROR_V5_GET_MEM_DEV_TYPE, buffer, 1) === 0) deviceTypes.set(dev_num, buffer.zone_device_type);
  }

  /** 6.12: devices 2 and 3 are the coherent ones. v5: any device whose memory is not private is CPU-coherent. */
  function hmm_is_coherent_type(dev_num: number): boolean {
    if (build === '6.12') return dev_num >= HMM_COHERENCE_DEVICE_ONE;
    return hmm_is_generic_type(dev_num);
  }

  function hmm_is_generic_type(dev_num: number): boolean {
    if (build === '6.12') return false;
    const type = deviceTypes.get(dev_num);
    return type !== undefined && type !== HMM_DMIRROR_MEMORY_DEVICE_PRIVATE;
  }

  const hmm = h.fixture<HmmSelf, HmmVariant>('hmm', {
    create: () => ({ fd: -1, page_size: 0, page_shift: 0 }),
    setup(self, variant, t: Metadata) {
      deviceTypes.clear();
      self.page_size = sysconf(_SC_PAGE_SIZE);
      self.page_shift = ffs(self.page_size) - 1;
      self.fd = hmm_open(variant.device_number);
      hmm_query_type(self.fd, variant.device_number);
      if (self.fd < 0 && hmm_is_coherent_type(variant.device_number)) return t.SKIP('DEVICE_COHERENT not available');
      t.ASSERT_GE(self.fd, 0);
    },
    teardown(self, _variant, t: Metadata) {
      const ret = close(self.fd);
      t.ASSERT_EQ(ret, 0);
      self.fd = -1;
    },
  });
  const hmm2 = h.fixture<Hmm2Self, Hmm2Variant>('hmm2', {
    create: () => ({ fd0: -1, fd1: -1, page_size: 0, page_shift: 0 }),
    setup(self, variant, t: Metadata) {
      deviceTypes.clear();
      self.page_size = sysconf(_SC_PAGE_SIZE);
      self.page_shift = ffs(self.page_size) - 1;
      self.fd0 = hmm_open(variant.device_number0);
      hmm_query_type(self.fd0, variant.device_number0);
      if (self.fd0 < 0 && hmm_is_coherent_type(variant.device_number0)) return t.SKIP('DEVICE_COHERENT not available');
      t.ASSERT_GE(self.fd0, 0);
      self.fd1 = hmm_open(variant.device_number1);
      hmm_query_type(self.fd1, variant.device_number1);
      t.ASSERT_GE(self.fd1, 0);
    },
    teardown(self, _variant, t: Metadata) {
      let ret = close(self.fd0);
      t.ASSERT_EQ(ret, 0);
      self.fd0 = -1;
      ret = close(self.fd1);
      t.ASSERT_EQ(ret, 0);
      self.fd1 = -1;
    },
  });
  for (const v of variants) hmm.variant(v.hmm, { device_number: v.dev0 });
  for (const v of variants) hmm2.variant(v.hmm2, { device_number0: v.dev0, device_number1: v.dev1 });

  const hmm_dmirror_cmd = hmmDmirrorCmd(libc, build);

  function hmm_buffer_free(buffer: HmmBuffer | null): void {
    if (buffer === null) return;
    if (buffer.ptr) munmap(buffer.ptr, buffer.size);
    free(buffer.mirror);
  }

  function hmm_migrate_sys_to_dev(fd: number, buffer: HmmBuffer, npages: number): number {
    return hmm_dmirror_cmd(fd, HMM_DMIRROR_MIGRATE_TO_DEV, buffer, npages);
  }

  function hmm_migrate_dev_to_sys(fd: number, buffer: HmmBuffer, npages: number): number {
    return hmm_dmirror_cmd(fd, HMM_DMIRROR_MIGRATE_TO_SYS, buffer, npages);
  }

  return { libc, build, hmm, hmm2, hmm_open, hmm_is_coherent_type, hmm_is_generic_type, hmm_dmirror_cmd, hmm_buffer_free,
    hmm_migrate_sys_to_dev, hmm_migrate_dev_to_sys };
}

