// SPDX-License-Identifier: GPL-2.0-only
/*
 * The device-mirror cases of hmm-tests.c (6.12): open_close, mixedmap,
 * snapshot and double_map. snapshot's expected values follow the memory type: 6.12's
 * PRIVATE and COHERENT LOCAL/REMOTE values, or the seed's GENERIC value for
 * both devices (000 patch 12).
 */
import { MAP_ANONYMOUS, MAP_PRIVATE, PROT_NONE, PROT_READ, PROT_WRITE } from '../../kernel-model/mm.js';
import { HMM_DMIRROR_READ, HMM_DMIRROR_SNAPSHOT, HMM_DMIRROR_PROT_ERROR, HMM_DMIRROR_PROT_ZERO, HMM_DMIRROR_PROT_READ,
  HMM_DMIRROR_PROT_WRITE, HMM_DMIRROR_PROT_DEV_PRIVATE_LOCAL, HMM_DMIRROR_PROT_NONE, HMM_DMIRROR_PROT_DEV_COHERENT_LOCAL,
  HMM_DMIRROR_PROT_DEV_COHERENT_REMOTE, HMM_DMIRROR_PROT_DEV_GENERIC } from '../../dmirror/test_hmm_uapi.js';
import { MAP_FAILED, NULL, sizeof_int } from './libc.js';
import { type HmmEnv, newHmmBuffer } from './common.js';

export function mirrorCases(env: HmmEnv): Record<string, () => void> {
  const { libc, hmm, hmm2, hmm_dmirror_cmd, hmm_buffer_free, hmm_migrate_sys_to_dev, hmm_is_coherent_type, hmm_is_generic_type } = env;
  const { mmap, munmap, mprotect, malloc, loadInts, storeInts, loadBytes } = libc;

  return {
    /* Simple NULL test of device open/close. */
    open_close: () => hmm.testF('open_close', () => {}),

    /* Snapshot a VM_MIXEDMAP mapping of the device file (dmirror_fops_mmap()'s vm_insert_page()s). */
    mixedmap: () => hmm.testF('mixedmap', (self, _variant, t) => {
      const npages = 1;
      const size = npages << self.page_shift;

      const buffer = newHmmBuffer();
      buffer.fd = -1;
      buffer.size = size;
      buffer.mirror = malloc(npages);
      t.ASSERT_NE(buffer.mirror, NULL);

      /* Map the device file. */
      buffer.ptr = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE, self.fd, 0);
      t.ASSERT_NE(buffer.ptr, MAP_FAILED);

      /* Simulate a device snapshotting CPU pagetables. */
      const ret = hmm_dmirror_cmd(self.fd, HMM_DMIRROR_SNAPSHOT, buffer, npages);
      t.ASSERT_EQ(ret, 0);
      t.ASSERT_EQ(buffer.cpages, npages);

      /* Check what the device saw. */
      const m = loadBytes(buffer.mirror, npages);
      t.ASSERT_EQ(m[0], HMM_DMIRROR_PROT_READ);

      hmm_buffer_free(buffer);
    }),

    /* Test memory snapshot without faulting in pages accessed by the device. */
    snapshot: () => hmm2.testF('snapshot', (self, variant, t) => {
      let ret: number;
      const npages = 7;
      const size = npages << self.page_shift;

      const buffer = newHmmBuffer();
      buffer.fd = -1;
      buffer.size = size;
      buffer.mirror = malloc(npages);
      t.ASSERT_NE(buffer.mirror, NULL);

      /* Reserve a range of addresses. */
      buffer.ptr = mmap(NULL, size, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, buffer.fd, 0);
      t.ASSERT_NE(buffer.ptr, MAP_FAILED);
      const p = buffer.ptr;

      /* Punch a hole after the first page address. */
      ret = munmap(buffer.ptr + self.page_size, self.page_size);
      t.ASSERT_EQ(ret, 0);

      /* Page 2 will be read-only zero page. */
      ret = mprotect(buffer.ptr + 2 * self.page_size, self.page_size, PROT_READ);
      t.ASSERT_EQ(ret, 0);
      let ptr = buffer.ptr + 2 * self.page_size;
      const val = loadInts(ptr, 1)[0] + 3;
      t.ASSERT_EQ(val, 3);

      /* Page 3 will be read-only. */
      ret = mprotect(buffer.ptr + 3 * self.page_size, self.page_size, PROT_READ | PROT_WRITE);
      t.ASSERT_EQ(ret, 0);
      ptr = buffer.ptr + 3 * self.page_size;
      storeInts(ptr, 1, () => val);
      ret = mprotect(buffer.ptr + 3 * self.page_size, self.page_size, PROT_READ);
      t.ASSERT_EQ(ret, 0);

      /* Page 4-6 will be read-write. */
      ret = mprotect(buffer.ptr + 4 * self.page_size, 3 * self.page_size, PROT_READ | PROT_WRITE);
      t.ASSERT_EQ(ret, 0);
      ptr = buffer.ptr + 4 * self.page_size;
      storeInts(ptr, 1, () => val);

      /* Page 5 will be migrated to device 0. */
      buffer.ptr = p + 5 * self.page_size;
      ret = hmm_migrate_sys_to_dev(self.fd0, buffer, 1);
      t.ASSERT_EQ(ret, 0);
      t.ASSERT_EQ(buffer.cpages, 1);

      /* Page 6 will be migrated to device 1. */
      buffer.ptr = p + 6 * self.page_size;
      ret = hmm_migrate_sys_to_dev(self.fd1, buffer, 1);
      t.ASSERT_EQ(ret, 0);
      t.ASSERT_EQ(buffer.cpages, 1);

      /* Simulate a device snapshotting CPU pagetables. */
      buffer.ptr = p;
      ret = hmm_dmirror_cmd(self.fd0, HMM_DMIRROR_SNAPSHOT, buffer, npages);
      t.ASSERT_EQ(ret, 0);
      t.ASSERT_EQ(buffer.cpages, npages);

      /* Check what the device saw. */
      const m = loadBytes(buffer.mirror, npages);
      t.ASSERT_EQ(m[0], HMM_DMIRROR_PROT_ERROR);
      t.ASSERT_EQ(m[1], HMM_DMIRROR_PROT_ERROR);
      t.ASSERT_EQ(m[2], HMM_DMIRROR_PROT_ZERO | HMM_DMIRROR_PROT_READ);
      t.ASSERT_EQ(m[3], HMM_DMIRROR_PROT_READ);
      t.ASSERT_EQ(m[4], HMM_DMIRROR_PROT_WRITE);
      if (!hmm_is_coherent_type(variant.device_number0)) {
        t.ASSERT_EQ(m[5], HMM_DMIRROR_PROT_DEV_PRIVATE_LOCAL | HMM_DMIRROR_PROT_WRITE);
        t.ASSERT_EQ(m[6], HMM_DMIRROR_PROT_NONE);
      } else if (!hmm_is_generic_type(variant.device_number0)) {
        t.ASSERT_EQ(m[5], HMM_DMIRROR_PROT_DEV_COHERENT_LOCAL | HMM_DMIRROR_PROT_WRITE);
        t.ASSERT_EQ(m[6], HMM_DMIRROR_PROT_DEV_COHERENT_REMOTE | HMM_DMIRROR_PROT_WRITE);
      } else {
        /* The seed's GENERIC pages read the same whichever device holds them. */
        t.ASSERT_EQ(m[5], HMM_DMIRROR_PROT_DEV_GENERIC | HMM_DMIRROR_PROT_WRITE);
        t.ASSERT_EQ(m[6], HMM_DMIRROR_PROT_DEV_GENERIC | HMM_DMIRROR_PROT_WRITE);
      }

      hmm_buffer_free(buffer);
    }),

    /* Test two devices reading the same memory (double mapped). */
    double_map: () => hmm2.testF('double_map', (self, _variant, t) => {
      let ptr: Int32Array;
      let i: number;
      let ret: number;
      const npages = 6;
      const size = npages << self.page_shift;

      const buffer = newHmmBuffer();
      buffer.fd = -1;
      buffer.size = size;
      buffer.mirror = malloc(size);
      t.ASSERT_NE(buffer.mirror, NULL);

      /* Reserve a range of addresses. */
      buffer.ptr = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, buffer.fd, 0);
      t.ASSERT_NE(buffer.ptr, MAP_FAILED);

      /* Initialize buffer in system memory. */
      storeInts(buffer.ptr, size / sizeof_int, (i) => i);

      /* Make region read-only. */
      ret = mprotect(buffer.ptr, size, PROT_READ);
      t.ASSERT_EQ(ret, 0);

      /* Simulate device 0 reading system memory. */
      ret = hmm_dmirror_cmd(self.fd0, HMM_DMIRROR_READ, buffer, npages);
      t.ASSERT_EQ(ret, 0);
      t.ASSERT_EQ(buffer.cpages, npages);
      t.ASSERT_EQ(buffer.faults, 1);

      /* Check what the device read. */
      for (i = 0, ptr = loadInts(buffer.mirror, size / sizeof_int); i < size / sizeof_int; ++i) t.ASSERT_EQ(ptr[i], i);

      /* Simulate device 1 reading system memory. */
      ret = hmm_dmirror_cmd(self.fd1, HMM_DMIRROR_READ, buffer, npages);
      t.ASSERT_EQ(ret, 0);
      t.ASSERT_EQ(buffer.cpages, npages);
      t.ASSERT_EQ(buffer.faults, 1);

      /* Check what the device read. */
      for (i = 0, ptr = loadInts(buffer.mirror, size / sizeof_int); i < size / sizeof_int; ++i) t.ASSERT_EQ(ptr[i], i);

      /* Migrate pages to device 1 and try to read from device 0. */
      ret = hmm_migrate_sys_to_dev(self.fd1, buffer, npages);
      t.ASSERT_EQ(ret, 0);
      t.ASSERT_EQ(buffer.cpages, npages);

      ret = hmm_dmirror_cmd(self.fd0, HMM_DMIRROR_READ, buffer, npages);
      t.ASSERT_EQ(ret, 0);
      t.ASSERT_EQ(buffer.cpages, npages);
      t.ASSERT_EQ(buffer.faults, 1);

      /* Check what device 0 read. */
      for (i = 0, ptr = loadInts(buffer.mirror, size / sizeof_int); i < size / sizeof_int; ++i) t.ASSERT_EQ(ptr[i], i);

      hmm_buffer_free(buffer);
    }),
  };
}
