// SPDX-License-Identifier: GPL-2.0-only
/*
 * hmm_gup_test of hmm-tests.c (6.12): get_user_pages() and
 * pin_user_pages() on pages the device holds, through the gup_test debugfs
 * file (CONFIG_GUP_TEST). A plain get or pin leaves a coherent page where it
 * is and faults a private one back; a FOLL_LONGTERM pin migrates both kinds
 * back to system memory, which the SNAPSHOT then shows.
 *
 * The seed's generic mode (v5 build) is not upstream's: its GENERIC pages
 * are coherent and long-term pinnable (folio_is_longterm_pinnable() refuses
 * only DEVICE_PRIVATE and DEVICE_COHERENT), so the model leaves all four
 * pages in device memory and SNAPSHOT reports DEV_GENERIC for each.
 */
import { MAP_ANONYMOUS, MAP_PRIVATE, PROT_READ, PROT_WRITE } from '../../kernel-model/mm.js';
import { FOLL_LONGTERM, FOLL_WRITE } from '../../kernel-model/gup.js';
import { GupTest, GUP_BASIC_TEST, GUP_FAST_BENCHMARK, PIN_FAST_BENCHMARK,
  PIN_LONGTERM_BENCHMARK } from '../../kernel-model/gup_test.js';
import { HMM_DMIRROR_SNAPSHOT, HMM_DMIRROR_PROT_DEV_COHERENT_LOCAL, HMM_DMIRROR_PROT_DEV_GENERIC,
  HMM_DMIRROR_PROT_WRITE } from '../../dmirror/test_hmm_uapi.js';
import { MAP_FAILED, NULL, O_RDWR, sizeof_int } from './libc.js';
import { type HmmEnv, newHmmBuffer } from './common.js';

export function gupCases(env: HmmEnv): Record<string, () => void> {
  const { libc, hmm, hmm_dmirror_cmd, hmm_buffer_free, hmm_migrate_sys_to_dev, hmm_is_coherent_type, hmm_is_generic_type } = env;
  const { open, close, ioctl, mmap, malloc, loadInts, loadBytes, storeInts } = libc;

  /** gup_test_exec(): one gup_test ioctl over [addr, addr + size); errno on failure, else 0. */
  function gup_test_exec(gup_fd: number, addr: number, cmd: number, npages: number, size: number, flags: number): number {
    const gup = new GupTest();
    gup.nrPagesPerCall = npages;
    gup.addr = addr;
    gup.gupFlags = FOLL_WRITE | flags;
    gup.size = size;

    if (ioctl(gup_fd, cmd, gup)) {
      libc.stderr(`ioctl on error\n: errno ${libc.errno}`);
      return libc.errno;
    }

    return 0;
  }

  return {
    /*
     * get/pin user pages of device memory through gup_test. The
     * PIN_LONGTERM ones must bring private and coherent pages back to
     * system memory. Needs CONFIG_GUP_TEST.
     */
    hmm_gup_test: () => hmm.testF('hmm_gup_test', (self, variant, t) => {
      let ptr: Int32Array;
      let i: number;
      let ret: number;

      const gup_fd = open('/sys/kernel/debug/gup_test', O_RDWR);
      if (gup_fd === -1) return t.SKIP('Skipping test, could not find gup_test driver');

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
      /* Check what the device read. */
      for (i = 0, ptr = loadInts(buffer.mirror, size / sizeof_int); i < size / sizeof_int; ++i) t.ASSERT_EQ(ptr[i], i);

      t.ASSERT_EQ(gup_test_exec(gup_fd, buffer.ptr, GUP_BASIC_TEST, 1, self.page_size, 0), 0);
      t.ASSERT_EQ(gup_test_exec(gup_fd, buffer.ptr + 1 * self.page_size, GUP_FAST_BENCHMARK, 1, self.page_size, 0), 0);
      t.ASSERT_EQ(gup_test_exec(gup_fd, buffer.ptr + 2 * self.page_size, PIN_FAST_BENCHMARK, 1, self.page_size,
        FOLL_LONGTERM), 0);
      t.ASSERT_EQ(gup_test_exec(gup_fd, buffer.ptr + 3 * self.page_size, PIN_LONGTERM_BENCHMARK, 1, self.page_size, 0), 0);

      /* Snapshot the CPU page tables. */
      ret = hmm_dmirror_cmd(self.fd, HMM_DMIRROR_SNAPSHOT, buffer, npages);
      t.ASSERT_EQ(ret, 0);
      t.ASSERT_EQ(buffer.cpages, npages);
      const m = loadBytes(buffer.mirror, npages);
      if (hmm_is_generic_type(variant.device_number)) {
        /* The seed's GENERIC pages: pinnable long-term, so all four stay on the device. */
        t.ASSERT_EQ(HMM_DMIRROR_PROT_DEV_GENERIC | HMM_DMIRROR_PROT_WRITE, m[0]);
        t.ASSERT_EQ(HMM_DMIRROR_PROT_DEV_GENERIC | HMM_DMIRROR_PROT_WRITE, m[1]);
        t.ASSERT_EQ(HMM_DMIRROR_PROT_DEV_GENERIC | HMM_DMIRROR_PROT_WRITE, m[2]);
        t.ASSERT_EQ(HMM_DMIRROR_PROT_DEV_GENERIC | HMM_DMIRROR_PROT_WRITE, m[3]);
      } else {
        if (hmm_is_coherent_type(variant.device_number)) {
          t.ASSERT_EQ(HMM_DMIRROR_PROT_DEV_COHERENT_LOCAL | HMM_DMIRROR_PROT_WRITE, m[0]);
          t.ASSERT_EQ(HMM_DMIRROR_PROT_DEV_COHERENT_LOCAL | HMM_DMIRROR_PROT_WRITE, m[1]);
        } else {
          t.ASSERT_EQ(HMM_DMIRROR_PROT_WRITE, m[0]);
          t.ASSERT_EQ(HMM_DMIRROR_PROT_WRITE, m[1]);
        }
        t.ASSERT_EQ(HMM_DMIRROR_PROT_WRITE, m[2]);
        t.ASSERT_EQ(HMM_DMIRROR_PROT_WRITE, m[3]);
      }
      /* Read the pages again: no data may have been lost on the way. */
      for (i = 0, ptr = loadInts(buffer.ptr, size / sizeof_int); i < size / sizeof_int; ++i) t.ASSERT_EQ(ptr[i], i);

      close(gup_fd);
      hmm_buffer_free(buffer);
    }),
  };
}
