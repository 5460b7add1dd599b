// SPDX-License-Identifier: GPL-2.0-only
/*
 * The top of tools/testing/selftests/vm/hmm-tests.c as the seed leaves it
 * (000 patch 12): struct hmm_buffer, the fixtures hmm (one device) and hmm2
 * (two devices), hmm_dmirror_cmd() and the migrate helpers.
 *
 * Fixture variants follow upstream's shape (hmm.hmm_device_private.<case>):
 * the runner adds the variants the loaded module supports, which in the
 * seed's driver means both devices private, or both generic.
 */
import type { Harness, Fixture } from '../../kselftest/harness.js';
import type { Metadata } from '../../kselftest/assert.js';
import { EINTR } from '../../kernel-model/errno.js';
import { type Libc, NULL, O_RDWR, _SC_PAGE_SIZE } from './libc.js';
import { type HmmDmirrorCmd, newHmmDmirrorCmd, hmmDmirrorRequestName, HMM_DMIRROR_MIGRATE,
  HMM_DMIRROR_GET_MEM_DEV_TYPE, HMM_DMIRROR_MEMORY_DEVICE_PRIVATE } from '../../dmirror/test_hmm_uapi.js';

export interface HmmBuffer {
  ptr: number;
  mirror: number;
  size: number;
  fd: number;
  cpages: number;
  faults: number;
  zone_device_type: number;
  alloc_to_devmem: boolean;
}

export function newHmmBuffer(): HmmBuffer {
  return { ptr: 0, mirror: 0, size: 0, fd: -1, cpages: 0, faults: 0, zone_device_type: 0, alloc_to_devmem: false };
}

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

/** The variants a loaded configuration offers: name and devices. */
export interface VariantSpec { hmm: string; hmm2: string; dev0: number; dev1: number }
export const PRIVATE_VARIANT: VariantSpec = { hmm: 'hmm_device_private', hmm2: 'hmm2_device_private', dev0: 0, dev1: 1 };
export const GENERIC_VARIANT: VariantSpec = { hmm: 'hmm_device_generic', hmm2: 'hmm2_device_generic', dev0: 0, dev1: 1 };

/** Everything a ported case calls: libc, the command helpers, the harness handles. */
export interface HmmEnv {
  libc: Libc;
  hmm: Fixture<HmmSelf, HmmVariant>;
  hmm2: Fixture<Hmm2Self, Hmm2Variant>;
  hmm_dmirror_cmd(fd: number, request: number, buffer: HmmBuffer, npages: number): number;
  hmm_buffer_free(buffer: HmmBuffer | null): void;
  hmm_migrate_sys_to_dev(fd: number, buffer: HmmBuffer, npages: number): number;
  hmm_migrate_dev_to_sys(fd: number, buffer: HmmBuffer, npages: number): number;
  hmm_is_private_device(fd: number, res: { value: boolean }): number;
}

export function defineFixtures(h: Harness, libc: Libc, variants: VariantSpec[]): HmmEnv {
  const { open, close, ioctl, munmap, free, sysconf } = libc;

  function hmm_open(unit: number): number {
    const pathname = `/dev/hmm_dmirror${unit}`;
    const fd = open(pathname, O_RDWR, 0);
    if (fd < 0) libc.stderr(`could not open hmm dmirror driver (${pathname})`);
    return fd;
  }

  const hmm = h.fixture<HmmSelf, HmmVariant>('hmm', {
    create: () => ({ fd: -1, page_size: 0, page_shift: 0 }),
    setup(self, variant, t: Metadata) {
      self.page_size = sysconf(_SC_PAGE_SIZE);
      self.page_shift = ffs(self.page_size) - 1;
      self.fd = hmm_open(variant.device_number);
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
      self.page_size = sysconf(_SC_PAGE_SIZE);
      self.page_shift = ffs(self.page_size) - 1;
      self.fd0 = hmm_open(variant.device_number0);
      t.ASSERT_GE(self.fd0, 0);
      self.fd1 = hmm_open(variant.device_number1);
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

  /** hmm_dmirror_cmd(): one ioctl, restarted on EINTR; with tracing, one TRACE line per command. */
  function hmm_dmirror_cmd(fd: number, request: number, buffer: HmmBuffer, npages: number): number {
    const cmd: HmmDmirrorCmd = newHmmDmirrorCmd();
    cmd.addr = buffer.ptr;
    cmd.ptr = buffer.mirror;
    cmd.npages = npages;
    cmd.alloc_to_devmem = buffer.alloc_to_devmem ? 1 : 0;
    let ret: number;
    for (;;) {
      ret = ioctl(fd, request, cmd);
      if (ret === 0) break;
      if (libc.errno === EINTR) continue;
      ret = -libc.errno;
      break;
    }
    libc.trace?.(`TRACE ${hmmDmirrorRequestName(request, cmd)} npages=${npages} ret=${ret} cpages=${cmd.cpages} faults=${cmd.faults}`);
    if (ret) return ret;
    buffer.cpages = cmd.cpages;
    buffer.faults = cmd.faults;
    buffer.zone_device_type = cmd.zone_device_type;
    return 0;
  }

  function hmm_buffer_free(buffer: HmmBuffer | null): void {
    if (buffer === null) return;
    if (buffer.ptr) munmap(buffer.ptr, buffer.size);
    free(buffer.mirror);
  }

  function hmm_migrate_sys_to_dev(fd: number, buffer: HmmBuffer, npages: number): number {
    buffer.alloc_to_devmem = true;
    return hmm_dmirror_cmd(fd, HMM_DMIRROR_MIGRATE, buffer, npages);
  }

  function hmm_migrate_dev_to_sys(fd: number, buffer: HmmBuffer, npages: number): number {
    buffer.alloc_to_devmem = false;
    return hmm_dmirror_cmd(fd, HMM_DMIRROR_MIGRATE, buffer, npages);
  }

  function hmm_is_private_device(fd: number, res: { value: boolean }): number {
    const buffer = newHmmBuffer();
    buffer.ptr = NULL;
    const ret = hmm_dmirror_cmd(fd, HMM_DMIRROR_GET_MEM_DEV_TYPE, buffer, 1);
    res.value = buffer.zone_device_type === HMM_DMIRROR_MEMORY_DEVICE_PRIVATE;
    return ret;
  }

  return { libc, hmm, hmm2, hmm_dmirror_cmd, hmm_buffer_free, hmm_migrate_sys_to_dev, hmm_migrate_dev_to_sys, hmm_is_private_device };
}
