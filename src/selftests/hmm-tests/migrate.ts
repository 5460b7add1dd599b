// SPDX-License-Identifier: GPL-2.0-only
/*
 * The migration cases of hmm-tests.c (6.12) on anonymous memory: migrate,
 * migrate_fault, migrate_release, migrate_mixed, migrate_multiple, and the
 * seed's migrate_ping_pong (000 patch 12). Bodies stay line-parallel with
 * the C; a C loop over `ptr[i]` becomes one loadInts()/storeInts() plus the
 * same ASSERT loop.
 */
import { EINVAL, ENOENT } from '../../kernel-model/errno.js';
import { MAP_ANONYMOUS, MAP_PRIVATE, PROT_NONE, PROT_READ, PROT_WRITE } from '../../kernel-model/mm.js';
import { HMM_DMIRROR_RELEASE } from '../../dmirror/test_hmm_uapi.js';
import { MAP_FAILED, NULL, sizeof_int } from './libc.js';
import { type HmmEnv, ALIGN, HMM_BUFFER_SIZE, NTIMES, newHmmBuffer } from './common.js';

export function migrateCases(env: HmmEnv): Record<string, () => void> {
  const { libc, hmm, hmm2, hmm_dmirror_cmd, hmm_buffer_free, hmm_migrate_sys_to_dev, hmm_migrate_dev_to_sys,
    hmm_is_coherent_type } = env;
  const { mmap, munmap, mprotect, malloc, loadInts, storeInts } = libc;

  return {
    /* Migrate anonymous memory to device memory. */
    migrate: () => hmm.testF('migrate', (self, _variant, t) => {
      let ptr: Int32Array;
      let i: number;
      const npages = ALIGN(HMM_BUFFER_SIZE, self.page_size) >> self.page_shift;
      t.ASSERT_NE(npages, 0);
      const size = npages << self.page_shift;

      const buffer = newHmmBuffer();
      buffer.fd = -1;
      buffer.size = size;
      buffer.mirror = malloc(size);
      t.ASSERT_NE(buffer.mirror, NULL);

      buffer.ptr = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, buffer.fd, 0);
      t.ASSERT_NE(buffer.ptr, MAP_FAILED);

      /* Initialize buffer in system memory. */
      storeInts(buffer.ptr, size / sizeof_int, (i) => i);

      /* Migrate memory to device. */
      const ret = hmm_migrate_sys_to_dev(self.fd, buffer, npages);
      t.ASSERT_EQ(ret, 0);
      t.ASSERT_EQ(buffer.cpages, npages);

      /* Check what the device read. */
      for (i = 0, ptr = loadInts(buffer.mirror, size / sizeof_int); i < size / sizeof_int; ++i) t.ASSERT_EQ(ptr[i], i);

      hmm_buffer_free(buffer);
    }),

    /*
     * Migrate anonymous memory to device memory and fault some of it back to
     * system memory, then try migrating the resulting mix of system and
     * device memory to the device.
     */
    migrate_fault: () => hmm.testF('migrate_fault', (self, _variant, t) => {
      let ptr: Int32Array;
      let i: number;
      let ret: number;
      const npages = ALIGN(HMM_BUFFER_SIZE, self.page_size) >> self.page_shift;
      t.ASSERT_NE(npages, 0);
      const size = npages << self.page_shift;

      const buffer = newHmmBuffer();
      buffer.fd = -1;
      buffer.size = size;
      buffer.mirror = malloc(size);
      t.ASSERT_NE(buffer.mirror, NULL);

      buffer.ptr = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, buffer.fd, 0);
      t.ASSERT_NE(buffer.ptr, MAP_FAILED);

      /* Initialize buffer in system memory. */
      storeInts(buffer.ptr, size / sizeof_int, (i) => i);

      /* Migrate memory to device. */
      ret = hmm_migrate_sys_to_dev(self.fd, buffer, npages);
      t.ASSERT_EQ(ret, 0);
      t.ASSERT_EQ(buffer.cpages, npages);

      /* Check what the device read. */
      for (i = 0, ptr = loadInts(buffer.mirror, size / sizeof_int); i < size / sizeof_int; ++i) t.ASSERT_EQ(ptr[i], i);

      /* Fault half the pages back to system memory and check them. */
      for (i = 0, ptr = loadInts(buffer.ptr, size / (2 * sizeof_int)); i < size / (2 * sizeof_int); ++i) t.ASSERT_EQ(ptr[i], i);

      /* Migrate memory to the device again. */
      ret = hmm_migrate_sys_to_dev(self.fd, buffer, npages);
      t.ASSERT_EQ(ret, 0);
      t.ASSERT_EQ(buffer.cpages, npages);

      /* Check what the device read. */
      for (i = 0, ptr = loadInts(buffer.mirror, size / sizeof_int); i < size / sizeof_int; ++i) t.ASSERT_EQ(ptr[i], i);

      hmm_buffer_free(buffer);
    }),

    /* Migrate anonymous memory to device memory, release the device's memory (RELEASE), and fault the pages back. */
    migrate_release: () => hmm.testF('migrate_release', (self, _variant, t) => {
      let ptr: Int32Array;
      let i: number;
      let ret: number;
      const npages = ALIGN(HMM_BUFFER_SIZE, self.page_size) >> self.page_shift;
      t.ASSERT_NE(npages, 0);
      const size = npages << self.page_shift;

      const buffer = newHmmBuffer();
      buffer.fd = -1;
      buffer.size = size;
      buffer.mirror = malloc(size);
      t.ASSERT_NE(buffer.mirror, NULL);

      buffer.ptr = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, buffer.fd, 0);
      t.ASSERT_NE(buffer.ptr, MAP_FAILED);

      /* Initialize buffer in system memory. */
      storeInts(buffer.ptr, size / sizeof_int, (i) => i);

      /* Migrate memory to device. */
      ret = hmm_migrate_sys_to_dev(self.fd, buffer, npages);
      t.ASSERT_EQ(ret, 0);
      t.ASSERT_EQ(buffer.cpages, npages);

      /* Check what the device read. */
      for (i = 0, ptr = loadInts(buffer.mirror, size / sizeof_int); i < size / sizeof_int; ++i) t.ASSERT_EQ(ptr[i], i);

      /* Release device memory. */
      ret = hmm_dmirror_cmd(self.fd, HMM_DMIRROR_RELEASE, buffer, npages);
      t.ASSERT_EQ(ret, 0);

      /* Fault pages back to system memory and check them. */
      for (i = 0, ptr = loadInts(buffer.ptr, size / (2 * sizeof_int)); i < size / (2 * sizeof_int); ++i) t.ASSERT_EQ(ptr[i], i);

      hmm_buffer_free(buffer);
    }),

    /* Migrate a mix of protected, unmapped, zero, read-only and writable pages; a page on one device cannot go to the other. */
    migrate_mixed: () => hmm2.testF('migrate_mixed', (self, _variant, t) => {
      let ret: number;
      const npages = 6;
      const size = npages << self.page_shift;

      const buffer = newHmmBuffer();
      buffer.fd = -1;
      buffer.size = size;
      buffer.mirror = malloc(size);
      t.ASSERT_NE(buffer.mirror, NULL);

      /* Reserve a range of addresses. */
      buffer.ptr = mmap(NULL, size, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, buffer.fd, 0);
      t.ASSERT_NE(buffer.ptr, MAP_FAILED);
      const p = buffer.ptr;

      /* Migrating a protected area should be an error. */
      ret = hmm_migrate_sys_to_dev(self.fd1, buffer, npages);
      t.ASSERT_EQ(ret, -EINVAL);

      /* Punch a hole after the first page address. */
      ret = munmap(buffer.ptr + self.page_size, self.page_size);
      t.ASSERT_EQ(ret, 0);

      /* We expect an error if the vma doesn't cover the range. */
      ret = hmm_migrate_sys_to_dev(self.fd1, buffer, 3);
      t.ASSERT_EQ(ret, -EINVAL);

      /* Page 2 will be a read-only zero page. */
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

      /* Page 4-5 will be read-write. */
      ret = mprotect(buffer.ptr + 4 * self.page_size, 2 * self.page_size, PROT_READ | PROT_WRITE);
      t.ASSERT_EQ(ret, 0);
      ptr = buffer.ptr + 4 * self.page_size;
      storeInts(ptr, 1, () => val);
      ptr = buffer.ptr + 5 * self.page_size;
      storeInts(ptr, 1, () => val);

      /* Now try to migrate pages 2-5 to device 1. */
      buffer.ptr = p + 2 * self.page_size;
      ret = hmm_migrate_sys_to_dev(self.fd1, buffer, 4);
      t.ASSERT_EQ(ret, 0);
      t.ASSERT_EQ(buffer.cpages, 4);

      /* Page 5 won't be migrated to device 0 because it's on device 1. */
      buffer.ptr = p + 5 * self.page_size;
      ret = hmm_migrate_sys_to_dev(self.fd0, buffer, 1);
      t.ASSERT_EQ(ret, -ENOENT);
      buffer.ptr = p;

      buffer.ptr = p;
      hmm_buffer_free(buffer);
    }),

    /*
     * Migrate anonymous memory to device memory and back to system memory
     * multiple times. With private memory the way back is CPU faults; coherent
     * memory never faults, so it is migrated back explicitly.
     */
    migrate_multiple: () => hmm.testF('migrate_multiple', (self, variant, t) => {
      let ptr: Int32Array;
      let i: number;
      let ret: number;
      const npages = ALIGN(HMM_BUFFER_SIZE, self.page_size) >> self.page_shift;
      t.ASSERT_NE(npages, 0);
      const size = npages << self.page_shift;

      for (let c = 0; c < NTIMES; c++) {
        const buffer = newHmmBuffer();
        buffer.fd = -1;
        buffer.size = size;
        buffer.mirror = malloc(size);
        t.ASSERT_NE(buffer.mirror, NULL);

        buffer.ptr = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, buffer.fd, 0);
        t.ASSERT_NE(buffer.ptr, MAP_FAILED);

        /* Initialize buffer in system memory. */
        storeInts(buffer.ptr, size / sizeof_int, (i) => i);

        /* Migrate memory to device. */
        ret = hmm_migrate_sys_to_dev(self.fd, buffer, npages);
        t.ASSERT_EQ(ret, 0);
        t.ASSERT_EQ(buffer.cpages, npages);

        /* Check what the device read. */
        for (i = 0, ptr = loadInts(buffer.mirror, size / sizeof_int); i < size / sizeof_int; ++i) t.ASSERT_EQ(ptr[i], i);

        /* Migrate back to system memory and check them. */
        if (hmm_is_coherent_type(variant.device_number)) {
          ret = hmm_migrate_dev_to_sys(self.fd, buffer, npages);
          t.ASSERT_EQ(ret, 0);
          // The seed's MIGRATE back leaves GENERIC pages in device memory (cpages 0): see src/dmirror/README.md.
          if (!env.hmm_is_generic_type(variant.device_number)) t.ASSERT_EQ(buffer.cpages, npages);
        }

        for (i = 0, ptr = loadInts(buffer.ptr, size / sizeof_int); i < size / sizeof_int; ++i) t.ASSERT_EQ(ptr[i], i);

        hmm_buffer_free(buffer);
      }
    }),

    /* Migrate anonymous memory to device memory and back to system memory explicitly, without a page fault (seed 000 patch 12). */
    migrate_ping_pong: () => hmm.testF('migrate_ping_pong', (self, _variant, t) => {
      let ptr: Int32Array;
      let i: number;
      let ret: number;
      const npages = ALIGN(HMM_BUFFER_SIZE, self.page_size) >> self.page_shift;
      t.ASSERT_NE(npages, 0);
      const size = npages << self.page_shift;

      const buffer = newHmmBuffer();
      buffer.fd = -1;
      buffer.size = size;
      buffer.mirror = malloc(size);
      t.ASSERT_NE(buffer.mirror, NULL);

      buffer.ptr = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, buffer.fd, 0);
      t.ASSERT_NE(buffer.ptr, MAP_FAILED);

      /* Initialize buffer in system memory. */
      storeInts(buffer.ptr, size / sizeof_int, (i) => i);

      /* Migrate memory to device. */
      ret = hmm_migrate_sys_to_dev(self.fd, buffer, npages);
      t.ASSERT_EQ(ret, 0);
      t.ASSERT_EQ(buffer.cpages, npages);
      /* Check what the device read. */
      for (i = 0, ptr = loadInts(buffer.mirror, size / sizeof_int); i < size / sizeof_int; ++i) t.ASSERT_EQ(ptr[i], i);

      /* Migrate memory back to system mem. */
      ret = hmm_migrate_dev_to_sys(self.fd, buffer, npages);
      t.ASSERT_EQ(ret, 0);

      /* Check the buffer migrated back to system memory. */
      for (i = 0, ptr = loadInts(buffer.ptr, size / sizeof_int); i < size / sizeof_int; ++i) t.ASSERT_EQ(ptr[i], i);

      hmm_buffer_free(buffer);
    }),
  };
}
