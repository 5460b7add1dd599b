// SPDX-License-Identifier: GPL-2.0-only
/*
 * The device-mirror cases of hmm-tests.c as the seed leaves them:
 * open_close and snapshot (000 patch 12: expected values per memory type).
 */
import { MAP_ANONYMOUS, MAP_PRIVATE, PROT_NONE, PROT_READ, PROT_WRITE } from '../../kernel-model/mm.js';
import { HMM_DMIRROR_SNAPSHOT, HMM_DMIRROR_PROT_ERROR, HMM_DMIRROR_PROT_ZERO, HMM_DMIRROR_PROT_READ,
  HMM_DMIRROR_PROT_WRITE, HMM_DMIRROR_PROT_DEV_PRIVATE_LOCAL, HMM_DMIRROR_PROT_NONE,
  HMM_DMIRROR_PROT_DEV_GENERIC } from '../../dmirror/test_hmm_uapi.js';
import { MAP_FAILED, NULL } from './libc.js';
import { type HmmEnv, newHmmBuffer } from './common.js';

export function registerOpenClose(env: HmmEnv): void {
  /* Simple NULL test of device open/close. */
  env.hmm.testF('open_close', () => {});
}

export function registerSnapshot(env: HmmEnv): void {
  const { libc, hmm2, hmm_dmirror_cmd, hmm_buffer_free, hmm_migrate_sys_to_dev, hmm_is_private_device } = env;
  const { mmap, munmap, mprotect, malloc, loadInts, storeInts, loadBytes } = libc;

  /* Test memory snapshot without faulting in pages accessed by the device. */
  hmm2.testF('snapshot', (self, _variant, t) => {
    let ret: number;
    const is_private = { value: false };

    const npages = 7;
    const size = npages << self.page_shift;

    t.ASSERT_EQ(hmm_is_private_device(self.fd0, is_private), 0);
    const buffer = newHmmBuffer();
    buffer.fd = -1;
    buffer.size = size;
    buffer.mirror = malloc(npages);
    t.ASSERT_NE(buffer.mirror, NULL);

    /* Reserve a range of addresses. */
    buffer.ptr = mmap(NULL, size, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, buffer.fd, 0);
    t.ASSERT_NE(buffer.ptr, MAP_FAILED);
    const p = buffer.ptr;

    /* Punch a hole after the first page address. */
    ret = munmap(buffer.ptr + self.page_size, self.page_size);
    t.ASSERT_EQ(ret, 0);

    /* Page 2 will be read-only zero page. */
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

    /* Page 4-6 will be read-write. */
    ret = mprotect(buffer.ptr + 4 * self.page_size, 3 * self.page_size, PROT_READ | PROT_WRITE);
    t.ASSERT_EQ(ret, 0);
    ptr = buffer.ptr + 4 * self.page_size;
    storeInts(ptr, 1, () => val);

    /* Page 5 will be migrated to device 0. */
    buffer.ptr = p + 5 * self.page_size;
    ret = hmm_migrate_sys_to_dev(self.fd0, buffer, 1);
    t.ASSERT_EQ(ret, 0);
    t.ASSERT_EQ(buffer.cpages, 1);

    /* Page 6 will be migrated to device 1. */
    buffer.ptr = p + 6 * self.page_size;
    ret = hmm_migrate_sys_to_dev(self.fd1, buffer, 1);
    t.ASSERT_EQ(ret, 0);
    t.ASSERT_EQ(buffer.cpages, 1);

    /* Simulate a device snapshotting CPU pagetables. */
    buffer.ptr = p;
    ret = hmm_dmirror_cmd(self.fd0, HMM_DMIRROR_SNAPSHOT, buffer, npages);
    t.ASSERT_EQ(ret, 0);
    t.ASSERT_EQ(buffer.cpages, npages);

    /* Check what the device saw. */
    const m = loadBytes(buffer.mirror, npages);
    t.ASSERT_EQ(m[0], HMM_DMIRROR_PROT_ERROR);
    t.ASSERT_EQ(m[1], HMM_DMIRROR_PROT_ERROR);
    t.ASSERT_EQ(m[2], HMM_DMIRROR_PROT_ZERO | HMM_DMIRROR_PROT_READ);
    t.ASSERT_EQ(m[3], HMM_DMIRROR_PROT_READ);
    t.ASSERT_EQ(m[4], HMM_DMIRROR_PROT_WRITE);
    if (is_private.value) {
      t.ASSERT_EQ(m[5], HMM_DMIRROR_PROT_DEV_PRIVATE_LOCAL | HMM_DMIRROR_PROT_WRITE);
      t.ASSERT_EQ(m[6], HMM_DMIRROR_PROT_NONE);
    } else {
      t.ASSERT_EQ(m[5], HMM_DMIRROR_PROT_DEV_GENERIC | HMM_DMIRROR_PROT_WRITE);
      t.ASSERT_EQ(m[6], HMM_DMIRROR_PROT_DEV_GENERIC | HMM_DMIRROR_PROT_WRITE);
    }

    hmm_buffer_free(buffer);
  });
}
