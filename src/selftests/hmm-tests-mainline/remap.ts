// SPDX-License-Identifier: GPL-2.0-only
/*
 * The partial-unmap and mremap cases of the newest hmm-tests.c
 * ("selftests/mm/hmm-tests: partial unmap, mremap and anon_write tests",
 * Matthew Brost): a PMD-sized range of 4K pages or a THP, migrated to the
 * device, then half of it unmapped at three offsets, or moved with
 * mremap(MREMAP_MAYMOVE | MREMAP_FIXED [| MREMAP_DONTUNMAP]) before or after
 * the migration to three destinations; what is left is faulted back and
 * checked. Bodies stay line-parallel with that C.
 */
import { MAP_ANONYMOUS, MAP_PRIVATE, PROT_READ, PROT_WRITE } from '../../kernel-model/mm.js';
import { MADV_HUGEPAGE, MADV_NOHUGEPAGE } from '../../kernel-model/madvise.js';
import { MREMAP_DONTUNMAP, MREMAP_FIXED, MREMAP_MAYMOVE } from '../../kernel-model/mremap.js';
import { MAP_FAILED, NULL, sizeof_int } from '../hmm-tests/libc.js';
import { type HmmEnv, ALIGN, TWOMEG, newHmmBuffer } from '../hmm-tests/common.js';

export function remapCases(env: HmmEnv): Record<string, () => void> {
  const { libc, hmm, hmm_buffer_free, hmm_migrate_sys_to_dev } = env;
  const { mmap, munmap, mremap, madvise, malloc, loadInts, storeInts, memset, read_pmd_pagesize } = libc;

  return {
    /* Migrate memory and fault back to sysmem after partially unmapping. */
    migrate_partial_unmap_fault: () => hmm.testF('migrate_partial_unmap_fault', (self, _variant, t) => {
      let ptr: Int32Array;
      let i: number, j: number, use_thp: number;
      let ret: number;
      let size = read_pmd_pagesize();

      if (!size) size = TWOMEG;

      const unmap_size = size / 2;
      const offsets = [0, size / 4, size / 2];

      for (use_thp = 0; use_thp < 2; ++use_thp) {
        for (j = 0; j < offsets.length; ++j) {
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
          if (use_thp) ret = madvise(map, size, MADV_HUGEPAGE);
          else ret = madvise(map, size, MADV_NOHUGEPAGE);
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

          munmap(buffer.ptr + offsets[j], unmap_size);

          /* Fault pages back to system memory and check them: only what is still mapped is loaded. */
          ptr = new Int32Array(size / sizeof_int);
          ptr.set(loadInts(buffer.ptr, offsets[j] / sizeof_int));
          const tail = offsets[j] + unmap_size;
          ptr.set(loadInts(buffer.ptr + tail, (size - tail) / sizeof_int), tail / sizeof_int);
          for (i = 0; i < size / sizeof_int; ++i) {
            if (i * sizeof_int < offsets[j] || i * sizeof_int >= offsets[j] + unmap_size) t.ASSERT_EQ(ptr[i], i);
          }

          buffer.ptr = old_ptr;
          hmm_buffer_free(buffer);
        }
      }
    }),

    migrate_remap_fault: () => hmm.testF('migrate_remap_fault', (self, _variant, t) => {
      let ptr: Int32Array;
      let i: number, j: number, use_thp: number, dont_unmap: number, before: number;
      let ret: number;
      let new_ptr = NULL;
      let size = read_pmd_pagesize();

      if (!size) size = TWOMEG;

      const offsets = [0, size / 4, size / 2];

      for (before = 0; before < 2; ++before) {
        for (dont_unmap = 0; dont_unmap < 2; ++dont_unmap) {
          for (use_thp = 0; use_thp < 2; ++use_thp) {
            for (j = 0; j < offsets.length; ++j) {
              let flags = MREMAP_MAYMOVE | MREMAP_FIXED;

              if (dont_unmap) flags |= MREMAP_DONTUNMAP;

              const buffer = newHmmBuffer();
              buffer.fd = -1;
              buffer.size = 8 * size;
              buffer.mirror = malloc(size);
              t.ASSERT_NE(buffer.mirror, NULL);
              memset(buffer.mirror, 0xFF, size);

              buffer.ptr = mmap(NULL, buffer.size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, buffer.fd, 0);
              t.ASSERT_NE(buffer.ptr, MAP_FAILED);

              const npages = size >> self.page_shift;
              const map = ALIGN(buffer.ptr, size);
              if (use_thp) ret = madvise(map, size, MADV_HUGEPAGE);
              else ret = madvise(map, size, MADV_NOHUGEPAGE);
              t.ASSERT_EQ(ret, 0);
              const old_ptr = buffer.ptr;
              munmap(map + size, size * 2);
              buffer.ptr = map;

              /* Initialize buffer in system memory. */
              storeInts(buffer.ptr, size / sizeof_int, (i) => i);

              if (before) {
                new_ptr = mremap(map, size, size, flags, map + size + offsets[j]);
                t.ASSERT_NE(new_ptr, MAP_FAILED);
                buffer.ptr = new_ptr;
              }

              /* Migrate memory to device. */
              ret = hmm_migrate_sys_to_dev(self.fd, buffer, npages);
              t.ASSERT_EQ(ret, 0);
              t.ASSERT_EQ(buffer.cpages, npages);

              /* Check what the device read. */
              for (i = 0, ptr = loadInts(buffer.mirror, size / sizeof_int); i < size / sizeof_int; ++i) t.ASSERT_EQ(ptr[i], i);

              if (!before) {
                new_ptr = mremap(map, size, size, flags, map + size + offsets[j]);
                t.ASSERT_NE(new_ptr, MAP_FAILED);
                buffer.ptr = new_ptr;
              }

              /* Fault pages back to system memory and check them. */
              for (i = 0, ptr = loadInts(buffer.ptr, size / sizeof_int); i < size / sizeof_int; ++i) t.ASSERT_EQ(ptr[i], i);

              munmap(new_ptr, size);
              buffer.ptr = old_ptr;
              hmm_buffer_free(buffer);
            }
          }
        }
      }
    }),
  };
}
