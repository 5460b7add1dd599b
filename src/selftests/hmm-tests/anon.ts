// SPDX-License-Identifier: GPL-2.0-only
/*
 * The anonymous-memory cases of hmm-tests.c (6.12): the device reading and
 * writing private anonymous memory through its mirror, with and without
 * the CPU's permission. Bodies stay line-parallel with the C; a C loop over
 * `ptr[i]` becomes one loadInts()/storeInts() plus the same ASSERT loop.
 */
import { EFAULT, EPERM } from '../../kernel-model/errno.js';
import { MAP_ANONYMOUS, MAP_PRIVATE, PROT_NONE, PROT_READ, PROT_WRITE } from '../../kernel-model/mm.js';
import { HMM_DMIRROR_READ, HMM_DMIRROR_WRITE } from '../../dmirror/test_hmm_uapi.js';
import { MAP_FAILED, NULL, sizeof_int } from './libc.js';
import { type HmmEnv, ALIGN, HMM_BUFFER_SIZE, NTIMES, newHmmBuffer } from './common.js';

export function anonCases(env: HmmEnv): Record<string, () => void> {
  const { libc, hmm, hmm_dmirror_cmd, hmm_buffer_free } = env;
  const { mmap, mprotect, malloc, loadInts, storeInts } = libc;

  return {
    /* Read private anonymous memory. */
    anon_read: () => hmm.testF('anon_read', (self, _variant, t) => {
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

      /* Initialize buffer in system memory but leave the first two pages zero (pte_none and pfn_zero). */
      i = 2 * self.page_size / sizeof_int;
      storeInts(buffer.ptr + i * sizeof_int, size / sizeof_int - i, (j) => i + j);

      /* Set buffer permission to read-only. */
      let ret = mprotect(buffer.ptr, size, PROT_READ);
      t.ASSERT_EQ(ret, 0);

      /* Populate the CPU page table with a special zero page. */
      const val = loadInts(buffer.ptr + self.page_size, 1)[0];
      t.ASSERT_EQ(val, 0);

      /* Simulate a device reading system memory. */
      ret = hmm_dmirror_cmd(self.fd, HMM_DMIRROR_READ, buffer, npages);
      t.ASSERT_EQ(ret, 0);
      t.ASSERT_EQ(buffer.cpages, npages);
      t.ASSERT_EQ(buffer.faults, 1);

      /* Check what the device read. */
      ptr = loadInts(buffer.mirror, size / sizeof_int);
      for (i = 0; i < 2 * self.page_size / sizeof_int; ++i) t.ASSERT_EQ(ptr[i], 0);
      for (; i < size / sizeof_int; ++i) t.ASSERT_EQ(ptr[i], i);

      hmm_buffer_free(buffer);
    }),

    /* Read private anonymous memory which has been protected with mprotect() PROT_NONE. */
    anon_read_prot: () => hmm.testF('anon_read_prot', (self, _variant, t) => {
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

      /* Initialize mirror buffer so we can verify it isn't written. */
      storeInts(buffer.mirror, size / sizeof_int, (i) => -i);

      /* Protect buffer from reading. */
      let ret = mprotect(buffer.ptr, size, PROT_NONE);
      t.ASSERT_EQ(ret, 0);

      /* Simulate a device reading system memory. */
      ret = hmm_dmirror_cmd(self.fd, HMM_DMIRROR_READ, buffer, npages);
      t.ASSERT_EQ(ret, -EFAULT);

      /* Allow CPU to read the buffer so we can check it. */
      ret = mprotect(buffer.ptr, size, PROT_READ);
      t.ASSERT_EQ(ret, 0);
      for (i = 0, ptr = loadInts(buffer.ptr, size / sizeof_int); i < size / sizeof_int; ++i) t.ASSERT_EQ(ptr[i], i);

      /* Check what the device read. */
      for (i = 0, ptr = loadInts(buffer.mirror, size / sizeof_int); i < size / sizeof_int; ++i) t.ASSERT_EQ(ptr[i], -i);

      hmm_buffer_free(buffer);
    }),

    /* Write private anonymous memory. */
    anon_write: () => hmm.testF('anon_write', (self, _variant, t) => {
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

      /* Initialize data that the device will write to buffer->ptr. */
      storeInts(buffer.mirror, size / sizeof_int, (i) => i);

      /* Simulate a device writing system memory. */
      const ret = hmm_dmirror_cmd(self.fd, HMM_DMIRROR_WRITE, buffer, npages);
      t.ASSERT_EQ(ret, 0);
      t.ASSERT_EQ(buffer.cpages, npages);
      t.ASSERT_EQ(buffer.faults, 1);

      /* Check what the device wrote. */
      for (i = 0, ptr = loadInts(buffer.ptr, size / sizeof_int); i < size / sizeof_int; ++i) t.ASSERT_EQ(ptr[i], i);

      hmm_buffer_free(buffer);
    }),

    /* Write private anonymous memory which has been protected with mprotect() PROT_READ. */
    anon_write_prot: () => hmm.testF('anon_write_prot', (self, _variant, t) => {
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

      buffer.ptr = mmap(NULL, size, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, buffer.fd, 0);
      t.ASSERT_NE(buffer.ptr, MAP_FAILED);

      /* Simulate a device reading a zero page of memory. */
      let ret = hmm_dmirror_cmd(self.fd, HMM_DMIRROR_READ, buffer, 1);
      t.ASSERT_EQ(ret, 0);
      t.ASSERT_EQ(buffer.cpages, 1);
      t.ASSERT_EQ(buffer.faults, 1);

      /* Initialize data that the device will write to buffer->ptr. */
      storeInts(buffer.mirror, size / sizeof_int, (i) => i);

      /* Simulate a device writing system memory. */
      ret = hmm_dmirror_cmd(self.fd, HMM_DMIRROR_WRITE, buffer, npages);
      t.ASSERT_EQ(ret, -EPERM);

      /* Check what the device wrote. */
      for (i = 0, ptr = loadInts(buffer.ptr, size / sizeof_int); i < size / sizeof_int; ++i) t.ASSERT_EQ(ptr[i], 0);

      /* Now allow writing and see that the zero page is replaced. */
      ret = mprotect(buffer.ptr, size, PROT_WRITE | PROT_READ);
      t.ASSERT_EQ(ret, 0);

      /* Simulate a device writing system memory. */
      ret = hmm_dmirror_cmd(self.fd, HMM_DMIRROR_WRITE, buffer, npages);
      t.ASSERT_EQ(ret, 0);
      t.ASSERT_EQ(buffer.cpages, npages);
      t.ASSERT_EQ(buffer.faults, 1);

      /* Check what the device wrote. */
      for (i = 0, ptr = loadInts(buffer.ptr, size / sizeof_int); i < size / sizeof_int; ++i) t.ASSERT_EQ(ptr[i], i);

      hmm_buffer_free(buffer);
    }),

    /* Read anonymous memory multiple times. */
    anon_read_multiple: () => hmm.testF('anon_read_multiple', (self, _variant, t) => {
      let ptr: Int32Array;
      let i: number;
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
        storeInts(buffer.ptr, size / sizeof_int, (i) => i + c);

        /* Simulate a device reading system memory. */
        const ret = hmm_dmirror_cmd(self.fd, HMM_DMIRROR_READ, buffer, npages);
        t.ASSERT_EQ(ret, 0);
        t.ASSERT_EQ(buffer.cpages, npages);
        t.ASSERT_EQ(buffer.faults, 1);

        /* Check what the device read. */
        for (i = 0, ptr = loadInts(buffer.mirror, size / sizeof_int); i < size / sizeof_int; ++i) t.ASSERT_EQ(ptr[i], i + c);

        hmm_buffer_free(buffer);
      }
    }),
  };
}
