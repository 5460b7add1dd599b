// SPDX-License-Identifier: GPL-2.0-only
/*
 * The cases of the newest hmm-tests.c whose bodies differ from 6.12's:
 * anon_write_child (migrate × THP, Matthew Brost), anon_write_huge (the PMD
 * size read from the system, "don't hardcode THP size"), the hugetlb cases
 * (HUGETLB_SETUP_DEFAULT_PAGES(1): the page the test reserved itself, and
 * skip "Not enough huge pages" without it), compound (PMD or PUD level,
 * every page the same) and hmm_cow_in_device (SIGKILL). Bodies stay
 * line-parallel with that C; the cases it did not change are 6.12's ports
 * (../hmm-tests/).
 */
import { MAP_ANONYMOUS, MAP_HUGETLB, MAP_PRIVATE, PROT_READ, PROT_WRITE } from '../../kernel-model/mm.js';
import { MADV_HUGEPAGE } from '../../kernel-model/madvise.js';
import { SIGKILL } from '../../kernel-model/task.js';
import { HMM_DMIRROR_SNAPSHOT, HMM_DMIRROR_WRITE, HMM_DMIRROR_PROT_PMD, HMM_DMIRROR_PROT_PUD, HMM_DMIRROR_PROT_READ,
  HMM_DMIRROR_PROT_WRITE } from '../../dmirror/test_hmm_uapi.js';
import { MAP_FAILED, NULL, sizeof_int, WIFEXITED, WIFSIGNALED, WTERMSIG } from '../hmm-tests/libc.js';
import { type HmmEnv, ALIGN, HMM_BUFFER_SIZE, TWOMEG, newHmmBuffer } from '../hmm-tests/common.js';

export function changedCases(env: HmmEnv): Record<string, () => void> {
  const { libc, hmm, hmm_open, hmm_dmirror_cmd, hmm_buffer_free, hmm_migrate_sys_to_dev } = env;
  const { mmap, munmap, mprotect, madvise, malloc, close, loadInts, loadBytes, storeInts, fork, waitpid, kill, exit, spin,
    read_pmd_pagesize, default_huge_page_size, hugetlb_free_default_pages } = libc;

  return {
    /*
     * A device writing a private anonymous mapping a child inherited copies
     * on write; after fork() the child's device can read it, also when the
     * memory was on the device before the fork (4K pages and a THP).
     */
    anon_write_child: () => hmm.testF('anon_write_child', (self, _variant, t) => {
      let ptr: Int32Array;
      let i: number;
      let ret: number;
      let use_thp: number, migrate: number;
      const status = { value: 0 };

      for (migrate = 0; migrate < 2; ++migrate) {
        for (use_thp = 0; use_thp < 2; ++use_thp) {
          const npages = ALIGN(use_thp ? read_pmd_pagesize() : HMM_BUFFER_SIZE, self.page_size) >> self.page_shift;
          t.ASSERT_NE(npages, 0);
          const size = npages << self.page_shift;

          const buffer = newHmmBuffer();
          buffer.fd = -1;
          buffer.size = size * 2;
          buffer.mirror = malloc(size);
          t.ASSERT_NE(buffer.mirror, NULL);

          buffer.ptr = mmap(NULL, size * 2, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, buffer.fd, 0);
          t.ASSERT_NE(buffer.ptr, MAP_FAILED);

          const old_ptr = buffer.ptr;
          if (use_thp) {
            const map = ALIGN(buffer.ptr, size);
            ret = madvise(map, size, MADV_HUGEPAGE);
            t.ASSERT_EQ(ret, 0);
            buffer.ptr = map;
          }

          /* Fill buffer->ptr, so that a write to it shows. */
          storeInts(buffer.ptr, size / sizeof_int, (i) => i);

          /* What the device will write to buffer->ptr. */
          storeInts(buffer.mirror, size / sizeof_int, (i) => -i);

          if (migrate) {
            ret = hmm_migrate_sys_to_dev(self.fd, buffer, npages);
            t.ASSERT_EQ(ret, 0);
            t.ASSERT_EQ(buffer.cpages, npages);
          }

          const pid = fork(() => {
            /* The child starts with the parent's contents. */
            for (i = 0, ptr = loadInts(buffer.ptr, size / sizeof_int); i < size / sizeof_int; ++i) t.ASSERT_EQ(ptr[i], i);
            if (!migrate) {
              for (i = 0, ptr = loadInts(buffer.mirror, size / sizeof_int); i < size / sizeof_int; ++i) t.ASSERT_EQ(ptr[i], -i);
            }

            /* A mirror belongs to the mm that opened it: the child opens its own. */
            const child_fd = hmm_open(0);
            t.ASSERT_GE(child_fd, 0);

            /* Simulate a device writing system memory. */
            ret = hmm_dmirror_cmd(child_fd, HMM_DMIRROR_WRITE, buffer, npages);
            t.ASSERT_EQ(ret, 0);
            t.ASSERT_EQ(buffer.cpages, npages);
            t.ASSERT_EQ(buffer.faults, 1);

            /* Check what the device wrote. */
            if (!migrate) {
              for (i = 0, ptr = loadInts(buffer.ptr, size / sizeof_int); i < size / sizeof_int; ++i) t.ASSERT_EQ(ptr[i], -i);
            }

            close(child_fd);
            exit(0);
          });
          if (pid === -1) t.ASSERT_EQ(pid, 0);
          waitpid(pid, status, 0);
          t.ASSERT_EQ(WIFEXITED(status.value), 1);

          /* The child's device write went to the child's copies: the parent's buffer is unchanged. */
          for (i = 0, ptr = loadInts(buffer.ptr, size / sizeof_int); i < size / sizeof_int; ++i) t.ASSERT_EQ(ptr[i], i);

          buffer.ptr = old_ptr;
          hmm_buffer_free(buffer);
        }
      }
    }),

    /* Write private anonymous huge page. */
    anon_write_huge: () => hmm.testF('anon_write_huge', (self, _variant, t) => {
      let ptr: Int32Array;
      let i: number;
      let size = 2 * read_pmd_pagesize();

      const buffer = newHmmBuffer();
      buffer.fd = -1;
      buffer.size = size;
      buffer.mirror = malloc(size);
      t.ASSERT_NE(buffer.mirror, NULL);

      buffer.ptr = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, buffer.fd, 0);
      t.ASSERT_NE(buffer.ptr, MAP_FAILED);

      size /= 2;
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

    /* Write huge TLBFS page. */
    anon_write_hugetlbfs: () => hmm.testF('anon_write_hugetlbfs', (self, _variant, t) => {
      let ptr: Int32Array;
      let i: number;
      const default_hsize = default_huge_page_size();

      if (!hugetlb_free_default_pages()) return t.SKIP('Not enough huge pages');

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
      const default_hsize = default_huge_page_size();

      /* Without a free hugetlbfs page there is nothing to test. */
      if (!hugetlb_free_default_pages()) return t.SKIP('Not enough huge pages');

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
       * first page and require the same exact value for every page.
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

    /*
     * Copy-on-write of pages in device memory: the parent writes pages it
     * shares with a child (SIGKILLed afterwards).
     */
    hmm_cow_in_device: () => hmm.testF('hmm_cow_in_device', (self, _variant, t) => {
      let i: number;
      let ret: number;
      const status = { value: 0 };

      const npages = 4;
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

      const pid = fork(() => {
        /* The child spins until the parent's SIGKILL (here: it is killed before it ever runs). */
        for (;;) spin();
      });
      if (pid === -1) t.ASSERT_EQ(pid, 0);
      /* The parent's writes get it private copies in system memory (device-private pages migrate back first). */
      storeInts(buffer.ptr, size / sizeof_int, (i) => i);

      /* End the child and reap it. */
      t.EXPECT_EQ(0, kill(pid, SIGKILL));
      t.EXPECT_EQ(pid, waitpid(pid, status, 0));
      t.EXPECT_NE(0, WIFSIGNALED(status.value));
      t.EXPECT_EQ(SIGKILL, WTERMSIG(status.value));

      /* Snapshot the CPU page table: every page writable system memory now. */
      ret = hmm_dmirror_cmd(self.fd, HMM_DMIRROR_SNAPSHOT, buffer, npages);
      t.ASSERT_EQ(ret, 0);
      t.ASSERT_EQ(buffer.cpages, npages);
      const m = loadBytes(buffer.mirror, npages);
      for (i = 0; i < npages; i++) t.ASSERT_EQ(HMM_DMIRROR_PROT_WRITE, m[i]);

      hmm_buffer_free(buffer);
    }),
  };
}
