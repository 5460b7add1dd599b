// SPDX-License-Identifier: GPL-2.0-only
/*
 * benchmark_thp_migration of the newest hmm-tests.c ("selftests/mm/hmm-tests:
 * new throughput tests including THP"), TEST_F_TIMEOUT(..., 120): for
 * buffers of PMD/4 ... 128 x PMD (those up to INT_MAX bytes), with
 * MADV_HUGEPAGE and with MADV_NOHUGEPAGE, one warm-up round trip and 5
 * timed ones (system to device, device to system), printed as the C prints
 * them. The times are the model's own wall-clock time (the C's
 * gettimeofday()), so the figures say how fast the simulation migrates,
 * and the THP/4K ratio what the model's THP path saves.
 */
import { MAP_ANONYMOUS, MAP_PRIVATE, PROT_READ, PROT_WRITE } from '../../kernel-model/mm.js';
import { MADV_HUGEPAGE, MADV_NOHUGEPAGE } from '../../kernel-model/madvise.js';
import { _SC_PAGE_SIZE, MAP_FAILED, sizeof_int } from '../hmm-tests/libc.js';
import { type HmmEnv, type HmmBuffer, TWOMEG, newHmmBuffer } from '../hmm-tests/common.js';

export const TEST_F_TIMEOUT_BENCHMARK = 120;
const INT_MAX = 0x7fffffff;

export interface BenchmarkResults {
  sys_to_dev_time: number;
  dev_to_sys_time: number;
  throughput_s2d: number;
  throughput_d2s: number;
}

/** The C's get_time_ms(): wall-clock milliseconds. */
const get_time_ms = (): number => performance.now();

/** The sizes and names of the C's table. */
export function benchmarkSizes(thp_size: number): Array<{ name: string; size: number }> {
  const sizes = [thp_size / 4, thp_size / 2, thp_size, thp_size * 2, thp_size * 4, thp_size * 8, thp_size * 128];
  const names = ['Small Buffer', 'Half THP Size', 'Single THP Size', 'Two THP Size', 'Four THP Size', 'Eight THP Size',
    'One twenty eight THP Size'];
  return sizes.map((size, i) => ({ name: names[i], size }));
}

/** print_benchmark_results(): the block the C prints for one size. */
export function benchmarkResultLines(test_name: string, buffer_size: number, thp: BenchmarkResults, regular: BenchmarkResults): string[] {
  const pct = (a: number, b: number, base: number): string => (((a - b) / base) * 100).toFixed(1);
  return [
    '',
    `=== ${test_name} (${(buffer_size / (1024 * 1024)).toFixed(1)} MB) ===`,
    '                     | With THP        | Without THP     | Improvement',
    '---------------------------------------------------------------------',
    `Sys->Dev Migration   | ${thp.sys_to_dev_time.toFixed(3)} ms        | ${regular.sys_to_dev_time.toFixed(3)} ms        | ${pct(regular.sys_to_dev_time, thp.sys_to_dev_time, regular.sys_to_dev_time)}%`,
    `Dev->Sys Migration   | ${thp.dev_to_sys_time.toFixed(3)} ms        | ${regular.dev_to_sys_time.toFixed(3)} ms        | ${pct(regular.dev_to_sys_time, thp.dev_to_sys_time, regular.dev_to_sys_time)}%`,
    `S->D Throughput      | ${thp.throughput_s2d.toFixed(2)} GB/s      | ${regular.throughput_s2d.toFixed(2)} GB/s      | ${pct(thp.throughput_s2d, regular.throughput_s2d, regular.throughput_s2d)}%`,
    `D->S Throughput      | ${thp.throughput_d2s.toFixed(2)} GB/s      | ${regular.throughput_d2s.toFixed(2)} GB/s      | ${pct(thp.throughput_d2s, regular.throughput_d2s, regular.throughput_d2s)}%`,
  ];
}

/** run_migration_benchmark(): 0, or the failing call's -errno (-1 when the mmap failed). */
export function runMigrationBenchmark(env: HmmEnv, fd: number, use_thp: number, buffer_size: number, iterations: number,
  results: BenchmarkResults): number {
  const { libc, hmm_buffer_free, hmm_migrate_sys_to_dev, hmm_migrate_dev_to_sys } = env;
  const npages = buffer_size / libc.sysconf(_SC_PAGE_SIZE);
  let s2d_total = 0, d2s_total = 0;
  let ret: number, i: number;

  const buffer: HmmBuffer = newHmmBuffer(); // hmm_buffer_alloc()
  buffer.fd = -1;
  buffer.size = buffer_size;
  buffer.mirror = libc.malloc(buffer_size);
  libc.memset(buffer.mirror, 0xFF, buffer_size);

  /* Map memory */
  buffer.ptr = libc.mmap(0, buffer_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (buffer.ptr === MAP_FAILED) return -1;

  /* Apply THP hint if requested */
  if (use_thp) ret = libc.madvise(buffer.ptr, buffer_size, MADV_HUGEPAGE);
  else ret = libc.madvise(buffer.ptr, buffer_size, MADV_NOHUGEPAGE);
  if (ret) return ret;

  /* Initialize memory to make sure pages are allocated */
  libc.storeInts(buffer.ptr, buffer_size / sizeof_int, (i) => i & 0xff);

  /* Warmup iteration */
  ret = hmm_migrate_sys_to_dev(fd, buffer, npages);
  if (ret) return ret;
  ret = hmm_migrate_dev_to_sys(fd, buffer, npages);
  if (ret) return ret;

  /* Benchmark iterations */
  for (i = 0; i < iterations; i++) {
    let start = get_time_ms();
    ret = hmm_migrate_sys_to_dev(fd, buffer, npages);
    if (ret) return ret;
    let end = get_time_ms();
    s2d_total += end - start;

    start = get_time_ms();
    ret = hmm_migrate_dev_to_sys(fd, buffer, npages);
    if (ret) return ret;
    end = get_time_ms();
    d2s_total += end - start;
  }

  /* Calculate average times and throughput */
  results.sys_to_dev_time = s2d_total / iterations;
  results.dev_to_sys_time = d2s_total / iterations;
  results.throughput_s2d = buffer_size / (1024 * 1024 * 1024) / (results.sys_to_dev_time / 1000);
  results.throughput_d2s = buffer_size / (1024 * 1024 * 1024) / (results.dev_to_sys_time / 1000);

  /* Cleanup */
  hmm_buffer_free(buffer);
  return 0;
}

const newResults = (): BenchmarkResults => ({ sys_to_dev_time: 0, dev_to_sys_time: 0, throughput_s2d: 0, throughput_d2s: 0 });

export function benchmarkCases(env: HmmEnv): Record<string, () => void> {
  const { libc, hmm } = env;

  return {
    /* Benchmark THP migration with different buffer sizes. */
    benchmark_thp_migration: () => hmm.testF('benchmark_thp_migration', (self, _variant, t) => {
      const thp_results = newResults(), regular_results = newResults();
      let thp_size = libc.read_pmd_pagesize();
      const iterations = 5;

      if (!thp_size) thp_size = TWOMEG;

      t.printf('\nHMM THP Migration Benchmark\n');
      t.printf('---------------------------\n');
      t.printf(`System page size: ${libc.sysconf(_SC_PAGE_SIZE)} bytes\n`);

      /* Test different buffer sizes */
      const tests = benchmarkSizes(thp_size);

      /* Run all tests */
      for (let i = 0; i < tests.length; i++) {
        /* Skip test sizes exceeding INT_MAX to avoid overflow */
        if (tests[i].size > INT_MAX) break;

        /* Test with THP */
        t.ASSERT_EQ(runMigrationBenchmark(env, self.fd, 1, tests[i].size, iterations, thp_results), 0);

        /* Test without THP */
        t.ASSERT_EQ(runMigrationBenchmark(env, self.fd, 0, tests[i].size, iterations, regular_results), 0);

        /* Print results */
        for (const l of benchmarkResultLines(tests[i].name, tests[i].size, thp_results, regular_results)) t.printf(`${l}\n`);
      }
    }, TEST_F_TIMEOUT_BENCHMARK),
  };
}
