// SPDX-License-Identifier: GPL-2.0-only
/*
 * The THP migration cases of the newest hmm-tests.c ("selftests/mm/hmm-tests:
 * new tests for zone device THP migration", Balbir Singh; the pagemap check
 * of migrate_anon_huge_fault from 2026): a PMD-sized, PMD-aligned range,
 * empty, the huge zero page, or a THP, migrated to the device and back,
 * MADV_FREE'd on the device, collapsed first (MADV_COLLAPSE), or migrated
 * with the driver's one-shot allocation failure (HMM_DMIRROR_FLAGS). Bodies
 * stay line-parallel with that C.
 */
import { MAP_ANONYMOUS, MAP_PRIVATE, PROT_READ, PROT_WRITE } from '../../kernel-model/mm.js';
import { MADV_COLLAPSE, MADV_FREE, MADV_HUGEPAGE } from '../../kernel-model/madvise.js';
import { O_RDONLY } from '../../kernel-model/fcntl.js';
import { HMM_DMIRROR_FLAGS, HMM_DMIRROR_FLAG_FAIL_ALLOC, HMM_DMIRROR_SNAPSHOT, HMM_DMIRROR_PROT_DEV_PRIVATE_LOCAL,
  HMM_DMIRROR_PROT_PMD, HMM_DMIRROR_PROT_WRITE } from '../../dmirror/test_hmm_uapi.js';
import { MAP_FAILED, NULL, sizeof_int, PM_SWAP, PAGEMAP_PRESENT } from '../hmm-tests/libc.js';
import { type HmmEnv, ALIGN, newHmmBuffer } from '../hmm-tests/common.js';

export function thpCases(env: HmmEnv): Record<string, () => void> {
  const { libc, hmm, hmm_dmirror_cmd, hmm_buffer_free, hmm_migrate_sys_to_dev, hmm_migrate_dev_to_sys, hmm_is_coherent_type } = env;
  const { mmap, munmap, madvise, malloc, open, close, loadInts, loadBytes, storeInts, memset, read_pmd_pagesize,
    pagemap_get_entry } = libc;

  return {
    /* Migrate private anonymous huge empty page. */
    migrate_anon_huge_empty: () => hmm.testF('migrate_anon_huge_empty', (self, _variant, t) => {
      let ptr: Int32Array;
      let i: number;
      const size = read_pmd_pagesize();

      const buffer = newHmmBuffer();
      buffer.fd = -1;
      buffer.size = 2 * size;
      buffer.mirror = malloc(size);
      t.ASSERT_NE(buffer.mirror, NULL);
      memset(buffer.mirror, 0xFF, size);

      buffer.ptr = mmap(NULL, 2 * size, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, buffer.fd, 0);
      t.ASSERT_NE(buffer.ptr, MAP_FAILED);

      const npages = size >> self.page_shift;
      const map = ALIGN(buffer.ptr, size);
      let ret = madvise(map, size, MADV_HUGEPAGE);
      t.ASSERT_EQ(ret, 0);
      const old_ptr = buffer.ptr;
      buffer.ptr = map;

      /* Migrate memory to device. */
      ret = hmm_migrate_sys_to_dev(self.fd, buffer, npages);
      t.ASSERT_EQ(ret, 0);
      t.ASSERT_EQ(buffer.cpages, npages);

      /* Check what the device read. */
      for (i = 0, ptr = loadInts(buffer.mirror, size / sizeof_int); i < size / sizeof_int; ++i) t.ASSERT_EQ(ptr[i], 0);

      buffer.ptr = old_ptr;
      hmm_buffer_free(buffer);
    }),

    /* Migrate private anonymous huge zero page. */
    migrate_anon_huge_zero: () => hmm.testF('migrate_anon_huge_zero', (self, _variant, t) => {
      let ptr: Int32Array;
      let i: number;
      const size = read_pmd_pagesize();

      const buffer = newHmmBuffer();
      buffer.fd = -1;
      buffer.size = 2 * size;
      buffer.mirror = malloc(size);
      t.ASSERT_NE(buffer.mirror, NULL);
      memset(buffer.mirror, 0xFF, size);

      buffer.ptr = mmap(NULL, 2 * size, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, buffer.fd, 0);
      t.ASSERT_NE(buffer.ptr, MAP_FAILED);

      const npages = size >> self.page_shift;
      const map = ALIGN(buffer.ptr, size);
      let ret = madvise(map, size, MADV_HUGEPAGE);
      t.ASSERT_EQ(ret, 0);
      const old_ptr = buffer.ptr;
      buffer.ptr = map;

      /* Initialize a read-only zero huge page. */
      const val = loadInts(buffer.ptr, 1)[0];
      t.ASSERT_EQ(val, 0);

      /* Migrate memory to device. */
      ret = hmm_migrate_sys_to_dev(self.fd, buffer, npages);
      t.ASSERT_EQ(ret, 0);
      t.ASSERT_EQ(buffer.cpages, npages);

      /* Check what the device read. */
      for (i = 0, ptr = loadInts(buffer.mirror, size / sizeof_int); i < size / sizeof_int; ++i) t.ASSERT_EQ(ptr[i], 0);

      /* Fault pages back to system memory and check them. */
      for (i = 0, ptr = loadInts(buffer.ptr, size / sizeof_int); i < size / sizeof_int; ++i) {
        t.ASSERT_EQ(ptr[i], 0);
        /* One wrong value is enough. */
        if (ptr[i] !== 0) break;
      }

      buffer.ptr = old_ptr;
      hmm_buffer_free(buffer);
    }),

    /* Migrate private anonymous huge page and free. */
    migrate_anon_huge_free: () => hmm.testF('migrate_anon_huge_free', (self, _variant, t) => {
      let ptr: Int32Array;
      let i: number;
      const size = read_pmd_pagesize();

      const buffer = newHmmBuffer();
      buffer.fd = -1;
      buffer.size = 2 * size;
      buffer.mirror = malloc(size);
      t.ASSERT_NE(buffer.mirror, NULL);
      memset(buffer.mirror, 0xFF, size);

      buffer.ptr = mmap(NULL, 2 * size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, buffer.fd, 0);
      t.ASSERT_NE(buffer.ptr, MAP_FAILED);

      const npages = size >> self.page_shift;
      const map = ALIGN(buffer.ptr, size);
      let ret = madvise(map, size, MADV_HUGEPAGE);
      t.ASSERT_EQ(ret, 0);
      const old_ptr = buffer.ptr;
      buffer.ptr = map;

      /* Initialize buffer in system memory. */
      storeInts(buffer.ptr, size / sizeof_int, (i) => i);

      /* Migrate memory to device. */
      ret = hmm_migrate_sys_to_dev(self.fd, buffer, npages);
      t.ASSERT_EQ(ret, 0);
      t.ASSERT_EQ(buffer.cpages, npages);

      /* Check what the device read. */
      for (i = 0, ptr = loadInts(buffer.mirror, size / sizeof_int); i < size / sizeof_int; ++i) t.ASSERT_EQ(ptr[i], i);

      /* Try freeing it. */
      ret = madvise(map, size, MADV_FREE);
      t.ASSERT_EQ(ret, 0);

      buffer.ptr = old_ptr;
      hmm_buffer_free(buffer);
    }),

    /* Migrate private anonymous huge page and fault back to sysmem. */
    migrate_anon_huge_fault: () => hmm.testF('migrate_anon_huge_fault', (self, variant, t) => {
      let ptr: Int32Array;
      let m: Uint8Array;
      let i: number;
      const size = read_pmd_pagesize();

      const buffer = newHmmBuffer();
      buffer.fd = -1;
      buffer.size = 2 * size;
      buffer.mirror = malloc(size);
      t.ASSERT_NE(buffer.mirror, NULL);
      memset(buffer.mirror, 0xFF, size);

      buffer.ptr = mmap(NULL, 2 * size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, buffer.fd, 0);
      t.ASSERT_NE(buffer.ptr, MAP_FAILED);

      const npages = size >> self.page_shift;
      const map = ALIGN(buffer.ptr, size);
      const old_ptr = buffer.ptr;
      buffer.ptr = map;

      /* Initialize buffer in system memory. */
      storeInts(buffer.ptr, size / sizeof_int, (i) => i);

      let ret = madvise(map, size, MADV_COLLAPSE);
      t.ASSERT_EQ(ret, 0);

      /* Migrate memory to device. */
      ret = hmm_migrate_sys_to_dev(self.fd, buffer, npages);
      t.ASSERT_EQ(ret, 0);
      t.ASSERT_EQ(buffer.cpages, npages);

      /* Check what the device read. */
      for (i = 0, ptr = loadInts(buffer.mirror, size / sizeof_int); i < size / sizeof_int; ++i) t.ASSERT_EQ(ptr[i], i);

      if (!hmm_is_coherent_type(variant.device_number)) {
        ret = hmm_dmirror_cmd(self.fd, HMM_DMIRROR_SNAPSHOT, buffer, npages);
        t.ASSERT_EQ(ret, 0);
        t.ASSERT_EQ(buffer.cpages, npages);

        m = loadBytes(buffer.mirror, npages);
        for (i = 0; i < npages; ++i) {
          t.ASSERT_EQ(m[i], HMM_DMIRROR_PROT_DEV_PRIVATE_LOCAL | HMM_DMIRROR_PROT_WRITE | HMM_DMIRROR_PROT_PMD);
        }

        const pagemap_fd = open('/proc/self/pagemap', O_RDONLY);
        t.ASSERT_GE(pagemap_fd, 0);

        for (i = 0; i < npages; ++i) {
          const entry = pagemap_get_entry(pagemap_fd, buffer.ptr + i * self.page_size);

          t.ASSERT_NE(entry & PM_SWAP, 0n);
          t.ASSERT_FALSE(PAGEMAP_PRESENT(entry));
        }

        close(pagemap_fd);
      }

      /* Fault pages back to system memory and check them. */
      for (i = 0, ptr = loadInts(buffer.ptr, size / sizeof_int); i < size / sizeof_int; ++i) t.ASSERT_EQ(ptr[i], i);

      buffer.ptr = old_ptr;
      hmm_buffer_free(buffer);
    }),

    /* Migrate private anonymous huge page with allocation errors. */
    migrate_anon_huge_err: () => hmm.testF('migrate_anon_huge_err', (self, _variant, t) => {
      let ptr: Int32Array;
      let i: number;
      const size = read_pmd_pagesize();

      const buffer = newHmmBuffer();
      buffer.fd = -1;
      buffer.size = 2 * size;
      buffer.mirror = malloc(2 * size);
      t.ASSERT_NE(buffer.mirror, NULL);
      memset(buffer.mirror, 0xFF, 2 * size);

      let old_ptr = mmap(NULL, 2 * size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, buffer.fd, 0);
      t.ASSERT_NE(old_ptr, MAP_FAILED);

      const npages = size >> self.page_shift;
      let map = ALIGN(old_ptr, size);
      let ret = madvise(map, size, MADV_HUGEPAGE);
      t.ASSERT_EQ(ret, 0);
      buffer.ptr = map;

      /* Initialize buffer in system memory. */
      storeInts(buffer.ptr, size / sizeof_int, (i) => i);

      /* Migrate memory to device but force a THP allocation error. */
      ret = hmm_dmirror_cmd(self.fd, HMM_DMIRROR_FLAGS, buffer, HMM_DMIRROR_FLAG_FAIL_ALLOC);
      t.ASSERT_EQ(ret, 0);
      ret = hmm_migrate_sys_to_dev(self.fd, buffer, npages);
      t.ASSERT_EQ(ret, 0);
      t.ASSERT_EQ(buffer.cpages, npages);

      /* Check what the device read. */
      for (i = 0, ptr = loadInts(buffer.mirror, size / sizeof_int); i < size / sizeof_int; ++i) {
        t.ASSERT_EQ(ptr[i], i);
        if (ptr[i] !== i) break;
      }

      /* Try faulting back a single (PAGE_SIZE) page. */
      ptr = loadInts(buffer.ptr, 2049);
      t.ASSERT_EQ(ptr[2048], 2048);

      /* unmap and remap the region to reset things. */
      ret = munmap(old_ptr, 2 * size);
      t.ASSERT_EQ(ret, 0);
      old_ptr = mmap(NULL, 2 * size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, buffer.fd, 0);
      t.ASSERT_NE(old_ptr, MAP_FAILED);
      map = ALIGN(old_ptr, size);
      ret = madvise(map, size, MADV_HUGEPAGE);
      t.ASSERT_EQ(ret, 0);
      buffer.ptr = map;

      /* Initialize buffer in system memory. */
      storeInts(buffer.ptr, size / sizeof_int, (i) => i);

      /* Migrate THP to device. */
      ret = hmm_migrate_sys_to_dev(self.fd, buffer, npages);
      t.ASSERT_EQ(ret, 0);
      t.ASSERT_EQ(buffer.cpages, npages);

      /* Force an allocation error when faulting back a THP resident in the device. */
      ret = hmm_dmirror_cmd(self.fd, HMM_DMIRROR_FLAGS, buffer, HMM_DMIRROR_FLAG_FAIL_ALLOC);
      t.ASSERT_EQ(ret, 0);

      ret = hmm_migrate_dev_to_sys(self.fd, buffer, npages);
      t.ASSERT_EQ(ret, 0);
      ptr = loadInts(buffer.ptr, 2049);
      t.ASSERT_EQ(ptr[2048], 2048);

      buffer.ptr = old_ptr;
      hmm_buffer_free(buffer);
    }),

    /* Migrate private anonymous huge zero page with allocation errors. */
    migrate_anon_huge_zero_err: () => hmm.testF('migrate_anon_huge_zero_err', (self, _variant, t) => {
      let ptr: Int32Array;
      let i: number;
      const size = read_pmd_pagesize();

      const buffer = newHmmBuffer();
      buffer.fd = -1;
      buffer.size = 2 * size;
      buffer.mirror = malloc(2 * size);
      t.ASSERT_NE(buffer.mirror, NULL);
      memset(buffer.mirror, 0xFF, 2 * size);

      let old_ptr = mmap(NULL, 2 * size, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, buffer.fd, 0);
      t.ASSERT_NE(old_ptr, MAP_FAILED);

      const npages = size >> self.page_shift;
      let map = ALIGN(old_ptr, size);
      let ret = madvise(map, size, MADV_HUGEPAGE);
      t.ASSERT_EQ(ret, 0);
      buffer.ptr = map;

      /* Migrate memory to device but force a THP allocation error. */
      ret = hmm_dmirror_cmd(self.fd, HMM_DMIRROR_FLAGS, buffer, HMM_DMIRROR_FLAG_FAIL_ALLOC);
      t.ASSERT_EQ(ret, 0);
      ret = hmm_migrate_sys_to_dev(self.fd, buffer, npages);
      t.ASSERT_EQ(ret, 0);
      t.ASSERT_EQ(buffer.cpages, npages);

      /* Check what the device read. */
      for (i = 0, ptr = loadInts(buffer.mirror, size / sizeof_int); i < size / sizeof_int; ++i) t.ASSERT_EQ(ptr[i], 0);

      /* Try faulting back a single (PAGE_SIZE) page. */
      const p = buffer.ptr;
      ptr = loadInts(p, 2049);
      t.ASSERT_EQ(ptr[2048], 0);

      /* unmap and remap the region to reset things. */
      ret = munmap(old_ptr, 2 * size);
      t.ASSERT_EQ(ret, 0);
      old_ptr = mmap(NULL, 2 * size, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, buffer.fd, 0);
      t.ASSERT_NE(old_ptr, MAP_FAILED);
      map = ALIGN(old_ptr, size);
      ret = madvise(map, size, MADV_HUGEPAGE);
      t.ASSERT_EQ(ret, 0);
      buffer.ptr = map;

      /* Initialize buffer in system memory (zero THP page): through the old ptr, as the C does. */
      ret = loadInts(p, 1)[0];
      t.ASSERT_EQ(ret, 0);

      /* Migrate memory to device but force a THP allocation error. */
      ret = hmm_dmirror_cmd(self.fd, HMM_DMIRROR_FLAGS, buffer, HMM_DMIRROR_FLAG_FAIL_ALLOC);
      t.ASSERT_EQ(ret, 0);
      ret = hmm_migrate_sys_to_dev(self.fd, buffer, npages);
      t.ASSERT_EQ(ret, 0);
      t.ASSERT_EQ(buffer.cpages, npages);

      /* Fault the device memory back and check it. */
      for (i = 0, ptr = loadInts(buffer.ptr, size / sizeof_int); i < size / sizeof_int; ++i) t.ASSERT_EQ(ptr[i], 0);

      buffer.ptr = old_ptr;
      hmm_buffer_free(buffer);
    }),
  };
}
