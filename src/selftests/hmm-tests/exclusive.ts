// SPDX-License-Identifier: GPL-2.0-only
/*
 * The device-exclusive cases of hmm-tests.c (6.12): exclusive,
 * exclusive_mprotect and exclusive_cow. EXCLUSIVE makes the driver replace
 * the CPU's ptes by device-exclusive entries (make_device_exclusive_range());
 * the CPU then faults them back (exclusive), mprotect() revokes the device's
 * write access (exclusive_mprotect), or fork() copies the range and both
 * processes write their own copy (exclusive_cow).
 *
 * The C's `ASSERT_EQ(ptr[i]++, i)` loop is one loadInts(), the same ASSERT
 * loop, and a storeInts() of the incremented values.
 */
import { EPERM } from '../../kernel-model/errno.js';
import { MAP_ANONYMOUS, MAP_PRIVATE, PROT_READ, PROT_WRITE } from '../../kernel-model/mm.js';
import { WEXITSTATUS } from '../../kernel-model/task.js';
import { HMM_DMIRROR_CHECK_EXCLUSIVE, HMM_DMIRROR_EXCLUSIVE, HMM_DMIRROR_WRITE } from '../../dmirror/test_hmm_uapi.js';
import { MAP_FAILED, NULL, WIFEXITED, sizeof_int } from './libc.js';
import { type HmmEnv, ALIGN, HMM_BUFFER_SIZE, newHmmBuffer } from './common.js';

export function exclusiveCases(env: HmmEnv): Record<string, () => void> {
  const { libc, hmm, hmm_dmirror_cmd, hmm_buffer_free } = env;
  const { mmap, mprotect, malloc, loadInts, storeInts, fork, waitpid } = libc;

  return {
    /* Device-exclusive access, then the CPU faulting the pages back. */
    exclusive: () => hmm.testF('exclusive', (self, _variant, t) => {
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

      /* Give the device exclusive access. */
      ret = hmm_dmirror_cmd(self.fd, HMM_DMIRROR_EXCLUSIVE, buffer, npages);
      t.ASSERT_EQ(ret, 0);
      t.ASSERT_EQ(buffer.cpages, npages);

      /* Check what the device read. */
      for (i = 0, ptr = loadInts(buffer.mirror, size / sizeof_int); i < size / sizeof_int; ++i) t.ASSERT_EQ(ptr[i], i);

      /* The CPU faults the pages back: check and increment them. */
      for (i = 0, ptr = loadInts(buffer.ptr, size / sizeof_int); i < size / sizeof_int; ++i) t.ASSERT_EQ(ptr[i]++, i);
      storeInts(buffer.ptr, size / sizeof_int, (i) => ptr[i]);

      for (i = 0, ptr = loadInts(buffer.ptr, size / sizeof_int); i < size / sizeof_int; ++i) t.ASSERT_EQ(ptr[i], i + 1);

      /* The device's atomic access must be gone. */
      ret = hmm_dmirror_cmd(self.fd, HMM_DMIRROR_CHECK_EXCLUSIVE, buffer, npages);
      t.ASSERT_EQ(ret, 0);

      hmm_buffer_free(buffer);
    }),

    /* mprotect(PROT_READ) over device-exclusive entries: the device can no longer write. */
    exclusive_mprotect: () => hmm.testF('exclusive_mprotect', (self, _variant, t) => {
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

      /* Give the device exclusive access. */
      ret = hmm_dmirror_cmd(self.fd, HMM_DMIRROR_EXCLUSIVE, buffer, npages);
      t.ASSERT_EQ(ret, 0);
      t.ASSERT_EQ(buffer.cpages, npages);

      /* Check what the device read. */
      for (i = 0, ptr = loadInts(buffer.mirror, size / sizeof_int); i < size / sizeof_int; ++i) t.ASSERT_EQ(ptr[i], i);

      ret = mprotect(buffer.ptr, size, PROT_READ);
      t.ASSERT_EQ(ret, 0);

      /* Simulate a device writing system memory. */
      ret = hmm_dmirror_cmd(self.fd, HMM_DMIRROR_WRITE, buffer, npages);
      t.ASSERT_EQ(ret, -EPERM);

      hmm_buffer_free(buffer);
    }),

    /* fork() over device-exclusive entries: copy-on-write for parent and child. */
    exclusive_cow: () => hmm.testF('exclusive_cow', (self, _variant, t) => {
      let ptr: Int32Array;
      let i: number;
      let ret: number;
      const status = { value: 0 };
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

      /* Give the device exclusive access. */
      ret = hmm_dmirror_cmd(self.fd, HMM_DMIRROR_EXCLUSIVE, buffer, npages);
      t.ASSERT_EQ(ret, 0);
      t.ASSERT_EQ(buffer.cpages, npages);

      const pid = fork(() => {
        /*
         * The child checks its copy on its own and leaves with _exit(0),
         * skipping the teardown; a failed ASSERT here ends it with a
         * failure status, which the parent's checks below catch.
         */
        let cptr: Int32Array;
        let j: number;
        for (j = 0, cptr = loadInts(buffer.ptr, size / sizeof_int); j < size / sizeof_int; ++j) t.ASSERT_EQ(cptr[j]++, j);
        storeInts(buffer.ptr, size / sizeof_int, (j) => cptr[j]);

        for (j = 0, cptr = loadInts(buffer.ptr, size / sizeof_int); j < size / sizeof_int; ++j) t.ASSERT_EQ(cptr[j], j + 1);

        libc.exit(0);
      });
      if (pid === -1) t.ASSERT_EQ(pid, 0);

      /* The parent increments its copy too: COW must hold both ways. */
      for (i = 0, ptr = loadInts(buffer.ptr, size / sizeof_int); i < size / sizeof_int; ++i) t.ASSERT_EQ(ptr[i]++, i);
      storeInts(buffer.ptr, size / sizeof_int, (i) => ptr[i]);

      for (i = 0, ptr = loadInts(buffer.ptr, size / sizeof_int); i < size / sizeof_int; ++i) t.ASSERT_EQ(ptr[i], i + 1);

      /* Reap the child, then free the buffer. */
      t.ASSERT_EQ(waitpid(pid, status, 0), pid);
      t.ASSERT_TRUE(WIFEXITED(status.value));
      t.ASSERT_EQ(WEXITSTATUS(status.value), 0);

      hmm_buffer_free(buffer);
    }),
  };
}
