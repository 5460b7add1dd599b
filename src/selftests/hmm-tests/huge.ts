// SPDX-License-Identifier: GPL-2.0-only
/*
 * The large-page cases of hmm-tests.c (6.12): anon_write_huge (a THP the
 * device writes through madvise(MADV_HUGEPAGE)), anon_write_hugetlbfs (a
 * MAP_HUGETLB page the device writes) and compound (hmm_range_fault()
 * reporting a hugetlb page at PMD level). Both hugetlb cases skip, as
 * upstream, when /proc/meminfo gives no huge page size; anon_write_hugetlbfs
 * skips and compound returns (passes) when the pool has no huge page left.
 * Bodies stay line-parallel with the C.
 */
import { MAP_ANONYMOUS, MAP_HUGETLB, MAP_PRIVATE, PROT_READ, PROT_WRITE } from '../../kernel-model/mm.js';
import { MADV_HUGEPAGE } from '../../kernel-model/madvise.js';
import { HMM_DMIRROR_SNAPSHOT, HMM_DMIRROR_WRITE, HMM_DMIRROR_PROT_PMD, HMM_DMIRROR_PROT_PUD, HMM_DMIRROR_PROT_READ,
  HMM_DMIRROR_PROT_WRITE } from '../../dmirror/test_hmm_uapi.js';
import { MAP_FAILED, NULL, sizeof_int } from './libc.js';
import { type HmmEnv, ALIGN, TWOMEG, newHmmBuffer } from './common.js';

export function hugeCases(env: HmmEnv): Record<string, () => void> {
  const { libc, hmm, hmm_dmirror_cmd, hmm_buffer_free } = env;
  const { mmap, munmap, mprotect, madvise, malloc, loadInts, loadBytes, storeInts, file_read_ulong } = libc;

  return {
    /* Write private anonymous huge page. */
    anon_write_huge: () => hmm.testF('anon_write_huge', (self, _variant, t) => {
      let ptr: Int32Array;
      let i: number;
      let size = 2 * TWOMEG;

      const buffer = newHmmBuffer();
      buffer.fd = -1;
      buffer.size = size;
      buffer.mirror = malloc(size);
      t.ASSERT_NE(buffer.mirror, NULL);

      buffer.ptr = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, buffer.fd, 0);
      t.ASSERT_NE(buffer.ptr, MAP_FAILED);

      size = TWOMEG;
      const npages = size >> self.page_shift;
      const map = ALIGN(buffer.ptr, size);
      let ret = madvise(map, size, MADV_HUGEPAGE);
      t.ASSERT_EQ(ret, 0);
      const old_ptr = buffer.ptr;
      buffer.ptr = map;

      /* Initialize data that the device will write to buffer->ptr. */
      storeInts(buffer.mirror, size / sizeof_int, (i) => i);

      /* Simulate a device writing system memory. */
      ret = hmm_dmirror_cmd(self.fd, HMM_DMIRROR_WRITE, buffer, npages);
      t.ASSERT_EQ(ret, 0);
      t.ASSERT_EQ(buffer.cpages, npages);
      t.ASSERT_EQ(buffer.faults, 1);

      /* Check what the device wrote. */
      for (i = 0, ptr = loadInts(buffer.ptr, size / sizeof_int); i < size / sizeof_int; ++i) t.ASSERT_EQ(ptr[i], i);

      buffer.ptr = old_ptr;
      hmm_buffer_free(buffer);
    }),

    /* Write a hugetlbfs page. */
    anon_write_hugetlbfs: () => hmm.testF('anon_write_hugetlbfs', (self, _variant, t) => {
      let ptr: Int32Array;
      let i: number;

      let default_hsize = file_read_ulong('/proc/meminfo', 'Hugepagesize:');
      if (default_hsize < 0 || default_hsize * 1024 < default_hsize) return t.SKIP('Huge page size could not be determined');
      default_hsize = default_hsize * 1024; /* KB to B */

      const size = ALIGN(TWOMEG, default_hsize);
      const npages = size >> self.page_shift;

      const buffer = newHmmBuffer();

      buffer.ptr = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB, -1, 0);
      if (buffer.ptr === MAP_FAILED) return t.SKIP('Huge page could not be allocated');

      buffer.fd = -1;
      buffer.size = size;
      buffer.mirror = malloc(size);
      t.ASSERT_NE(buffer.mirror, NULL);

      /* Initialize data that the device will write to buffer->ptr. */
      storeInts(buffer.mirror, size / sizeof_int, (i) => i);

      /* Simulate a device writing system memory. */
      const ret = hmm_dmirror_cmd(self.fd, HMM_DMIRROR_WRITE, buffer, npages);
      t.ASSERT_EQ(ret, 0);
      t.ASSERT_EQ(buffer.cpages, npages);
      t.ASSERT_EQ(buffer.faults, 1);

      /* Check what the device wrote. */
      for (i = 0, ptr = loadInts(buffer.ptr, size / sizeof_int); i < size / sizeof_int; ++i) t.ASSERT_EQ(ptr[i], i);

      munmap(buffer.ptr, buffer.size);
      buffer.ptr = NULL;
      hmm_buffer_free(buffer);
    }),

    /*
     * hmm_range_fault() on a large page (PMD or PUD) must report it at the
     * level of the page table entry that maps it.
     */
    compound: () => hmm.testF('compound', (self, _variant, t) => {
      let m: Uint8Array;
      let prot: number;
      let ret: number;
      let i: number;

      /* Without a hugetlbfs page there is nothing to test. */

      let default_hsize = file_read_ulong('/proc/meminfo', 'Hugepagesize:');
      if (default_hsize < 0 || default_hsize * 1024 < default_hsize) return t.SKIP('Huge page size could not be determined');
      default_hsize = default_hsize * 1024; /* KB to B */

      const size = ALIGN(TWOMEG, default_hsize);
      const npages = size >> self.page_shift;

      const buffer = newHmmBuffer();

      buffer.ptr = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB, -1, 0);
      if (buffer.ptr === MAP_FAILED) return;

      buffer.size = size;
      buffer.mirror = malloc(npages);
      t.ASSERT_NE(buffer.mirror, NULL);

      /* Fill the pages the device will snapshot. */
      storeInts(buffer.ptr, size / sizeof_int, (i) => i);

      /* Simulate a device snapshotting CPU pagetables. */
      ret = hmm_dmirror_cmd(self.fd, HMM_DMIRROR_SNAPSHOT, buffer, npages);
      t.ASSERT_EQ(ret, 0);
      t.ASSERT_EQ(buffer.cpages, npages);

      /*
       * One huge page backs the whole range, reported at PMD or PUD level
       * depending on the default huge page size: take the level from the
       * first page and require the same exact value for every page, so a
       * mapping split across levels or without the large-page bit fails.
       */
      m = loadBytes(buffer.mirror, npages);
      prot = HMM_DMIRROR_PROT_WRITE | (m[0] & HMM_DMIRROR_PROT_PUD ? HMM_DMIRROR_PROT_PUD : HMM_DMIRROR_PROT_PMD);
      for (i = 0; i < npages; ++i) t.ASSERT_EQ(m[i], prot);

      /* Make the region read-only. */
      ret = mprotect(buffer.ptr, size, PROT_READ);
      t.ASSERT_EQ(ret, 0);

      /* Simulate a device snapshotting CPU pagetables. */
      ret = hmm_dmirror_cmd(self.fd, HMM_DMIRROR_SNAPSHOT, buffer, npages);
      t.ASSERT_EQ(ret, 0);
      t.ASSERT_EQ(buffer.cpages, npages);

      /* The same check after mprotect(PROT_READ): one level, every page equal. */
      m = loadBytes(buffer.mirror, npages);
      prot = HMM_DMIRROR_PROT_READ | (m[0] & HMM_DMIRROR_PROT_PUD ? HMM_DMIRROR_PROT_PUD : HMM_DMIRROR_PROT_PMD);
      for (i = 0; i < npages; ++i) t.ASSERT_EQ(m[i], prot);

      munmap(buffer.ptr, buffer.size);
      buffer.ptr = NULL;
      hmm_buffer_free(buffer);
    }),
  };
}
