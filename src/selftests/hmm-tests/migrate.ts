// SPDX-License-Identifier: GPL-2.0-only
/*
 * The migration cases of hmm-tests.c as the seed leaves them (000 patch 12):
 * migrate, migrate_fault, migrate_multiple and the seed's migrate_ping_pong.
 * Bodies stay line-parallel with the C; a C loop over `ptr[i]` becomes one
 * loadInts()/storeInts() plus the same ASSERT loop.
 */
import { MAP_ANONYMOUS, MAP_PRIVATE, PROT_READ, PROT_WRITE } from '../../kernel-model/mm.js';
import { MAP_FAILED, NULL, sizeof_int } from './libc.js';
import { type HmmEnv, ALIGN, HMM_BUFFER_SIZE, NTIMES, newHmmBuffer } from './common.js';

export function registerMigrateCases(env: HmmEnv): void {
  const { libc, hmm, hmm_buffer_free, hmm_migrate_sys_to_dev, hmm_migrate_dev_to_sys, hmm_is_private_device } = env;
  const { mmap, malloc, loadInts, storeInts } = libc;

  /* Migrate anonymous memory to device private memory. */
  hmm.testF('migrate', (self, _variant, t) => {
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
  });

  /* Migrate anonymous memory to device private memory and fault some of it back to system memory, then try migrating the resulting mix of system and device private memory to the device. */
  hmm.testF('migrate_fault', (self, _variant, t) => {
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
  });

  /*
   * Migrate anonymous memory to device memory and back to system memory
   * multiple times. In case of private zone configuration, this is done
   * through fault pages accessed by CPU. In case of generic zone configuration,
   * the pages from the device should be explicitly migrated back to system memory.
   * The reason is Generic device zone has coherent access to CPU, therefore
   * it will not generate any page fault.
   */
  hmm.testF('migrate_multiple', (self, _variant, t) => {
    let ptr: Int32Array;
    let i: number;
    let ret: number;
    const is_private = { value: false };

    t.ASSERT_EQ(hmm_is_private_device(self.fd, is_private), 0);
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
      if (!is_private.value) {
        ret = hmm_migrate_dev_to_sys(self.fd, buffer, npages);
        t.ASSERT_EQ(ret, 0);
      }

      for (i = 0, ptr = loadInts(buffer.ptr, size / sizeof_int); i < size / sizeof_int; ++i) t.ASSERT_EQ(ptr[i], i);

      hmm_buffer_free(buffer);
    }
  });

  /*
   * Migrate anonymous memory to device memory and migrate back to system memory
   * explicitly, without generating a page fault.
   */
  hmm.testF('migrate_ping_pong', (self, _variant, t) => {
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
    buffer.alloc_to_devmem = true;
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
  });
}
