// SPDX-License-Identifier: GPL-2.0-only
/*
 * The fork cases of hmm-tests.c (6.12): a child's device writing a private
 * mapping it inherited (copy-on-write: the parent keeps its data), or a
 * shared one (no copy: the parent sees the write), and the parent writing
 * pages that sit in device memory while a child shares them
 * (hmm_cow_in_device). Bodies stay line-parallel with the C.
 *
 * `pid = fork(); if (pid != 0) {parent} else {child}` reads
 * `pid = fork(() => {child; exit(0)}); parent`: libc.fork() takes the child's
 * code and runs it when the parent waits for it (libc.ts).
 */
import { MAP_ANONYMOUS, MAP_PRIVATE, MAP_SHARED, PROT_READ, PROT_WRITE } from '../../kernel-model/mm.js';
import { HMM_DMIRROR_SNAPSHOT, HMM_DMIRROR_WRITE, HMM_DMIRROR_PROT_WRITE } from '../../dmirror/test_hmm_uapi.js';
import { MAP_FAILED, NULL, sizeof_int, WIFEXITED, WIFSIGNALED, WTERMSIG, SIGTERM } from './libc.js';
import { type HmmEnv, ALIGN, HMM_BUFFER_SIZE, newHmmBuffer } from './common.js';

export function forkCases(env: HmmEnv): Record<string, () => void> {
  const { libc, hmm, hmm_open, hmm_dmirror_cmd, hmm_buffer_free, hmm_migrate_sys_to_dev } = env;
  const { mmap, close, malloc, loadInts, loadBytes, storeInts, fork, waitpid, kill, exit, spin } = libc;

  return {
    /* A device writing a private anonymous mapping a child inherited copies on write. */
    anon_write_child: () => hmm.testF('anon_write_child', (self, _variant, t) => {
      let ptr: Int32Array;
      let i: number;
      const status = { value: 0 };
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

      /* Fill buffer->ptr, so that a write to it shows. */
      storeInts(buffer.ptr, size / sizeof_int, (i) => i);

      /* What the device will write to buffer->ptr. */
      storeInts(buffer.mirror, size / sizeof_int, (i) => -i);

      const pid = fork(() => {
        /* The child starts with the parent's contents in both buffers. */
        for (i = 0, ptr = loadInts(buffer.ptr, size / sizeof_int); i < size / sizeof_int; ++i) t.ASSERT_EQ(ptr[i], i);
        for (i = 0, ptr = loadInts(buffer.mirror, size / sizeof_int); i < size / sizeof_int; ++i) t.ASSERT_EQ(ptr[i], -i);

        /* A mirror belongs to the mm that opened it: the child opens its own. */
        const child_fd = hmm_open(0);
        t.ASSERT_GE(child_fd, 0);

        /* Simulate a device writing system memory. */
        ret = hmm_dmirror_cmd(child_fd, HMM_DMIRROR_WRITE, buffer, npages);
        t.ASSERT_EQ(ret, 0);
        t.ASSERT_EQ(buffer.cpages, npages);
        t.ASSERT_EQ(buffer.faults, 1);

        /* Check what the device wrote. */
        for (i = 0, ptr = loadInts(buffer.ptr, size / sizeof_int); i < size / sizeof_int; ++i) t.ASSERT_EQ(ptr[i], -i);

        close(child_fd);
        exit(0);
      });
      if (pid === -1) t.ASSERT_EQ(pid, 0);
      waitpid(pid, status, 0);
      t.ASSERT_EQ(WIFEXITED(status.value), 1);

      /* The child's device write went to the child's copies: the parent's buffer is unchanged. */
      for (i = 0, ptr = loadInts(buffer.ptr, size / sizeof_int); i < size / sizeof_int; ++i) t.ASSERT_EQ(ptr[i], i);
    }),

    /* A device writing a shared anonymous mapping a child inherited does not copy. */
    anon_write_child_shared: () => hmm.testF('anon_write_child_shared', (self, _variant, t) => {
      let ptr: Int32Array;
      let i: number;
      const status = { value: 0 };
      let ret: number;

      const npages = ALIGN(HMM_BUFFER_SIZE, self.page_size) >> self.page_shift;
      t.ASSERT_NE(npages, 0);
      const size = npages << self.page_shift;

      const buffer = newHmmBuffer();
      buffer.fd = -1;
      buffer.size = size;
      buffer.mirror = malloc(size);
      t.ASSERT_NE(buffer.mirror, NULL);

      buffer.ptr = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, buffer.fd, 0);
      t.ASSERT_NE(buffer.ptr, MAP_FAILED);

      /* Fill buffer->ptr, so that a write to it shows. */
      storeInts(buffer.ptr, size / sizeof_int, (i) => i);

      /* What the device will write to buffer->ptr. */
      storeInts(buffer.mirror, size / sizeof_int, (i) => -i);

      const pid = fork(() => {
        /* The child starts with the parent's contents in both buffers. */
        for (i = 0, ptr = loadInts(buffer.ptr, size / sizeof_int); i < size / sizeof_int; ++i) t.ASSERT_EQ(ptr[i], i);
        for (i = 0, ptr = loadInts(buffer.mirror, size / sizeof_int); i < size / sizeof_int; ++i) t.ASSERT_EQ(ptr[i], -i);

        /* A mirror belongs to the mm that opened it: the child opens its own. */
        const child_fd = hmm_open(0);
        t.ASSERT_GE(child_fd, 0);

        /* Simulate a device writing system memory. */
        ret = hmm_dmirror_cmd(child_fd, HMM_DMIRROR_WRITE, buffer, npages);
        t.ASSERT_EQ(ret, 0);
        t.ASSERT_EQ(buffer.cpages, npages);
        t.ASSERT_EQ(buffer.faults, 1);

        /* Check what the device wrote. */
        for (i = 0, ptr = loadInts(buffer.ptr, size / sizeof_int); i < size / sizeof_int; ++i) t.ASSERT_EQ(ptr[i], -i);

        close(child_fd);
        exit(0);
      });
      if (pid === -1) t.ASSERT_EQ(pid, 0);
      waitpid(pid, status, 0);
      t.ASSERT_EQ(WIFEXITED(status.value), 1);

      /* The child's device write reached the parent's pages too. */
      for (i = 0, ptr = loadInts(buffer.ptr, size / sizeof_int); i < size / sizeof_int; ++i) t.ASSERT_EQ(ptr[i], -i);
    }),

    /*
     * Copy-on-write of pages in device memory: the parent writes pages it
     * shares with a child. Device-private pages are first faulted back to
     * system memory, then copied; device-coherent pages are copied straight
     * from device memory.
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
        /* The child spins until the parent's SIGTERM ends it (here: it is killed before it ever runs). */
        for (;;) spin();
      });
      if (pid === -1) t.ASSERT_EQ(pid, 0);
      /*
       * The parent's writes hit pages it shares with the child: each gets a
       * private copy in system memory (device-private pages migrate back first).
       */
      storeInts(buffer.ptr, size / sizeof_int, (i) => i);

      /* End the child and reap it. */
      t.EXPECT_EQ(0, kill(pid, SIGTERM));
      t.EXPECT_EQ(pid, waitpid(pid, status, 0));
      t.EXPECT_NE(0, WIFSIGNALED(status.value));
      t.EXPECT_EQ(SIGTERM, WTERMSIG(status.value));

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
