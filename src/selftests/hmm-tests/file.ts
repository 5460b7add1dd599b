// SPDX-License-Identifier: GPL-2.0-only
/*
 * The file and shared-memory cases of hmm-tests.c (6.12): the device reading
 * and writing a MAP_SHARED tmpfs file (file_read, file_write), migrating a
 * MAP_PRIVATE file mapping once the CPU has written it (migrate_file_private:
 * the pages are then anonymous COW copies), and migrating shared anonymous
 * memory, which migrate_vma_setup() refuses (migrate_shared). Bodies stay
 * line-parallel with the C; memset() and the C's loops over `ptr[i]` become
 * storeInts()/loadInts().
 */
import { EINTR, ENOENT } from '../../kernel-model/errno.js';
import { MAP_ANONYMOUS, MAP_PRIVATE, MAP_SHARED, PROT_READ, PROT_WRITE } from '../../kernel-model/mm.js';
import { HMM_DMIRROR_READ, HMM_DMIRROR_WRITE } from '../../dmirror/test_hmm_uapi.js';
import { type Libc, MAP_FAILED, NULL, O_EXCL, O_RDWR, O_TMPFILE, sizeof_int } from './libc.js';
import { type HmmEnv, ALIGN, HMM_BUFFER_SIZE, newHmmBuffer } from './common.js';

/**
 * hmm_create_file(): an unnamed file of `size` bytes in /tmp (O_TMPFILE,
 * then ftruncate(), restarted on EINTR); its fd, or -1.
 */
export function hmm_create_file(libc: Libc, size: number): number {
  const path = '/tmp';
  const fd = libc.open(path, O_TMPFILE | O_EXCL | O_RDWR, 0o600);
  if (fd >= 0) {
    let r: number;
    do {
      r = libc.ftruncate(fd, size);
    } while (r === -1 && libc.errno === EINTR);
    if (!r) return fd;
    libc.close(fd);
  }
  return -1;
}

export function fileCases(env: HmmEnv): Record<string, () => void> {
  const { libc, hmm, hmm_dmirror_cmd, hmm_buffer_free, hmm_migrate_sys_to_dev } = env;
  const { mmap, malloc, pwrite, pread, loadInts, storeInts } = libc;

  return {
    /* The device reads a shared file mapping. */
    file_read: () => hmm.testF('file_read', (self, _variant, t) => {
      let ptr: Int32Array;
      let i: number;
      const npages = ALIGN(HMM_BUFFER_SIZE, self.page_size) >> self.page_shift;
      t.ASSERT_NE(npages, 0);
      const size = npages << self.page_shift;

      const fd = hmm_create_file(libc, size);
      t.ASSERT_GE(fd, 0);

      const buffer = newHmmBuffer();
      buffer.fd = fd;
      buffer.size = size;
      buffer.mirror = malloc(size);
      t.ASSERT_NE(buffer.mirror, NULL);

      /* Give the file its contents through write(), not through a mapping. */
      storeInts(buffer.mirror, size / sizeof_int, (i) => i);
      const len = pwrite(fd, buffer.mirror, size, 0);
      t.ASSERT_EQ(len, size);
      storeInts(buffer.mirror, size / sizeof_int, () => 0);

      buffer.ptr = mmap(NULL, size, PROT_READ, MAP_SHARED, buffer.fd, 0);
      t.ASSERT_NE(buffer.ptr, MAP_FAILED);

      /* Simulate a device reading system memory. */
      const ret = hmm_dmirror_cmd(self.fd, HMM_DMIRROR_READ, buffer, npages);
      t.ASSERT_EQ(ret, 0);
      t.ASSERT_EQ(buffer.cpages, npages);
      t.ASSERT_EQ(buffer.faults, 1);

      /* Check what the device read. */
      for (i = 0, ptr = loadInts(buffer.mirror, size / sizeof_int); i < size / sizeof_int; ++i) t.ASSERT_EQ(ptr[i], i);

      hmm_buffer_free(buffer);
    }),

    /* The device writes a shared file mapping. */
    file_write: () => hmm.testF('file_write', (self, _variant, t) => {
      let ptr: Int32Array;
      let i: number;
      const npages = ALIGN(HMM_BUFFER_SIZE, self.page_size) >> self.page_shift;
      t.ASSERT_NE(npages, 0);
      const size = npages << self.page_shift;

      const fd = hmm_create_file(libc, size);
      t.ASSERT_GE(fd, 0);

      const buffer = newHmmBuffer();
      buffer.fd = fd;
      buffer.size = size;
      buffer.mirror = malloc(size);
      t.ASSERT_NE(buffer.mirror, NULL);

      buffer.ptr = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, buffer.fd, 0);
      t.ASSERT_NE(buffer.ptr, MAP_FAILED);

      /* What the device will write to buffer->ptr. */
      storeInts(buffer.mirror, size / sizeof_int, (i) => i);

      /* Simulate a device writing system memory. */
      const ret = hmm_dmirror_cmd(self.fd, HMM_DMIRROR_WRITE, buffer, npages);
      t.ASSERT_EQ(ret, 0);
      t.ASSERT_EQ(buffer.cpages, npages);
      t.ASSERT_EQ(buffer.faults, 1);

      /* Check what the device wrote. */
      for (i = 0, ptr = loadInts(buffer.ptr, size / sizeof_int); i < size / sizeof_int; ++i) t.ASSERT_EQ(ptr[i], i);

      /* The write is in the file too: read() sees it. */
      const len = pread(fd, buffer.mirror, size, 0);
      t.ASSERT_EQ(len, size);
      for (i = 0, ptr = loadInts(buffer.mirror, size / sizeof_int); i < size / sizeof_int; ++i) t.ASSERT_EQ(ptr[i], i);

      hmm_buffer_free(buffer);
    }),

    /* Migrate a private file mapping, once written, to device memory. */
    migrate_file_private: () => hmm.testF('migrate_file_private', (self, _variant, t) => {
      let ptr: Int32Array;
      let i: number;
      const npages = ALIGN(HMM_BUFFER_SIZE, self.page_size) >> self.page_shift;
      t.ASSERT_NE(npages, 0);
      const size = npages << self.page_shift;

      const fd = hmm_create_file(libc, size);
      t.ASSERT_GE(fd, 0);

      const buffer = newHmmBuffer();
      buffer.fd = fd;
      buffer.size = size;
      buffer.mirror = malloc(size);
      t.ASSERT_NE(buffer.mirror, NULL);

      buffer.ptr = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE, buffer.fd, 0);
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

    /* Shared anonymous memory cannot migrate to device memory. */
    migrate_shared: () => hmm.testF('migrate_shared', (self, _variant, t) => {
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

      /* Migrate memory to device. */
      const ret = hmm_migrate_sys_to_dev(self.fd, buffer, npages);
      t.ASSERT_EQ(ret, -ENOENT);

      hmm_buffer_free(buffer);
    }),
  };
}
