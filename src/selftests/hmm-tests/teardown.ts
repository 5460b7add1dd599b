// SPDX-License-Identifier: GPL-2.0-only
/*
 * anon_teardown of hmm-tests.c (6.12): a second thread unmaps half of the
 * buffer while the device reads it. Which READs succeed depends on the
 * interleaving (the model's scheduler picks one from its seed, sched.ts);
 * the case checks what a READ returned only when it succeeded, so every
 * interleaving must pass. Line-parallel with the C; the thread's start
 * routine is a generator whose blocking call is a `yield*` (pthread.ts).
 */
import { MAP_ANONYMOUS, MAP_PRIVATE, PROT_READ, PROT_WRITE } from '../../kernel-model/mm.js';
import type { ThreadBlock } from '../../kernel-model/sched.js';
import { HMM_DMIRROR_READ } from '../../dmirror/test_hmm_uapi.js';
import { MAP_FAILED, NULL, sizeof_int } from './libc.js';
import { type HmmEnv, type HmmBuffer, ALIGN, HMM_BUFFER_SIZE, NTIMES, newHmmBuffer } from './common.js';
import { newPthread, pthreads } from './pthread.js';

export function teardownCases(env: HmmEnv): Record<string, () => void> {
  const { libc, hmm, hmm_dmirror_cmd, hmm_buffer_free } = env;
  const { mmap, munmap, malloc, loadInts, storeInts } = libc;
  const { pthread_create, pthread_join, hmm_random, hmm_nanosleep } = pthreads(libc);

  function* unmap_buffer(p: HmmBuffer): Generator<ThreadBlock, null, undefined> {
    const buffer = p;

    /* Sleep a random while, then take away the second half of what the device is reading. */
    yield* hmm_nanosleep(hmm_random() % 32000);
    munmap(buffer.ptr + buffer.size / 2, buffer.size / 2);
    buffer.ptr = NULL;

    return null;
  }

  return {
    /* The device reads anonymous memory that another thread is unmapping. */
    anon_teardown: () => hmm.testF('anon_teardown', (self, _variant, t) => {
      const ret = { value: null as unknown };

      const npages = ALIGN(HMM_BUFFER_SIZE, self.page_size) >> self.page_shift;
      t.ASSERT_NE(npages, 0);
      const size = npages << self.page_shift;

      for (let c = 0; c < NTIMES; ++c) {
        const thread = newPthread();
        let ptr: Int32Array;
        let i: number;
        let rc: number;

        const buffer = newHmmBuffer();

        buffer.fd = -1;
        buffer.size = size;
        buffer.mirror = malloc(size);
        t.ASSERT_NE(buffer.mirror, NULL);

        buffer.ptr = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, buffer.fd, 0);
        t.ASSERT_NE(buffer.ptr, MAP_FAILED);

        /* Fill the buffer in system memory. */
        storeInts(buffer.ptr, size / sizeof_int, (j) => j + c);

        rc = pthread_create(thread, null, unmap_buffer, buffer);
        t.ASSERT_EQ(rc, 0);

        /* The device reads system memory while the thread may be unmapping it. */
        rc = hmm_dmirror_cmd(self.fd, HMM_DMIRROR_READ, buffer, npages);
        if (rc === 0) {
          t.ASSERT_EQ(buffer.cpages, npages);
          t.ASSERT_EQ(buffer.faults, 1);

          /* Check what the device read. */
          ptr = loadInts(buffer.mirror, size / sizeof_int);
          for (i = 0; i < size / sizeof_int; ++i) t.ASSERT_EQ(ptr[i], i + c);
        }

        pthread_join(thread, ret);
        hmm_buffer_free(buffer);
      }
    }),
  };
}
