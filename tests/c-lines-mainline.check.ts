// SPDX-License-Identifier: GPL-2.0-only
/*
 * The table of C origins of the mainline suite
 * (src/selftests/hmm-tests-mainline/c_lines.ts) against both sources, as
 * tests/c-lines.test.ts checks 6.12's: every assertion of every case the
 * suite runs (its own files, and 6.12's ports of the cases the newest C did
 * not change) is paired with the C assertion of the same unit, macro and
 * arguments in the newest hmm-tests.c.
 *
 * That C is not in the repository (its code stays out of it): it is the
 * stored torvalds/linux copy (search tool read_file, repo torvalds/linux,
 * path tools/testing/selftests/mm/hmm-tests.c, id 54889213175, 74 478
 * characters), saved at HMM_TESTS_C_MAINLINE or
 * /tmp/ksrc/upstream/hmm-tests.c.
 *
 * Not part of `npm test` (CI has no copy of that C): run it by hand with
 * `npm run check:c-lines-mainline` after editing the mainline suite.
 *
 *   node dist/tests/c-lines-mainline.check.js --write    # rewrite the table after an intended edit
 */
import t from 'tap';
import { readFileSync, readdirSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from './helpers.js';
import { computeTable, render, type SuiteSources } from './c-lines.test.js';
import { HMM_TESTS_MAINLINE_C_LINES } from '../src/selftests/hmm-tests-mainline/c_lines.js';
import { MAINLINE_OWN_CASES } from '../src/selftests/hmm-tests-mainline/index.js';

const C_PATH = process.env.HMM_TESTS_C_MAINLINE ?? '/tmp/ksrc/upstream/hmm-tests.c';
const OLD = join(ROOT, 'src', 'selftests', 'hmm-tests');
const NEW = join(ROOT, 'src', 'selftests', 'hmm-tests-mainline');
const tsFiles = (dir: string) => readdirSync(dir).filter((x) => x.endsWith('.ts') && x !== 'c_lines.ts').sort().map((f) => join(dir, f));

/** The cases the mainline suite ports itself replace 6.12's: the later file's unit wins in computeTable(). */
const SUITE: SuiteSources = {
  files: [...tsFiles(OLD), ...tsFiles(NEW)],
  spellings: {
    exclusive_cow: { 'ASSERT_EQ(cptr[j]++,j)': 'ASSERT_EQ(ptr[i]++,i)', 'ASSERT_EQ(cptr[j],j+1)': 'ASSERT_EQ(ptr[i],i+1)' },
    anon_write_child: { 'ASSERT_EQ(WIFEXITED(status),1)': 'ASSERT_EQ(WIFEXITED(ret),1)' },
    anon_write_child_shared: { 'ASSERT_EQ(WIFEXITED(status),1)': 'ASSERT_EQ(WIFEXITED(ret),1)' },
    migrate_anon_huge_fault: { 'ASSERT_NE(entryPM_SWAP,0n)': 'ASSERT_NE(entryPM_SWAP,0)' },
    benchmark_thp_migration: {
      'ASSERT_EQ(runMigrationBenchmark(env,self.fd,1,tests[i].size,iterations,thp_results),0)':
        'ASSERT_EQ(run_migration_benchmark(self.fd,1,test_sizes[i],iterations,thp_results),0)',
      'ASSERT_EQ(runMigrationBenchmark(env,self.fd,0,tests[i].size,iterations,regular_results),0)':
        'ASSERT_EQ(run_migration_benchmark(self.fd,0,test_sizes[i],iterations,regular_results),0)',
    },
  },
  portOnly: { migrate_ping_pong: /./, hmm_gup_test: /HMM_DMIRROR_PROT_DEV_GENERIC/, snapshot: /HMM_DMIRROR_PROT_DEV_GENERIC/ },
  skipUnit: (path, key) => path.startsWith(OLD + '/') && (MAINLINE_OWN_CASES as readonly string[]).includes(key),
};
const RENDER = { cName: 'the newest tools/testing/selftests/mm/hmm-tests.c (torvalds/linux, stored copy)', version: 'mainline',
  exportName: 'HMM_TESTS_MAINLINE_C_LINES', writer: 'c-lines-mainline.check.js' };

function cSource(): string {
  if (!existsSync(C_PATH)) {
    throw new Error(`${C_PATH}: the newest hmm-tests.c is needed (read_file torvalds/linux tools/testing/selftests/mm/hmm-tests.c; or set HMM_TESTS_C_MAINLINE)`);
  }
  return readFileSync(C_PATH, 'utf8');
}

if (process.argv.includes('--write')) {
  const { table, problems } = computeTable(cSource(), SUITE);
  for (const p of problems) console.error(p);
  writeFileSync(join(NEW, 'c_lines.ts'), render(table, RENDER));
  console.error(`wrote ${join(NEW, 'c_lines.ts')}`);
  process.exit(problems.length ? 1 : 0);
}

t.test('the newest hmm-tests.c is the stored copy (74 478 characters, 38 TEST_F/TEST_F_TIMEOUT)', (t) => {
  const c = cSource();
  t.equal(c.length, 74478);
  t.equal([...c.matchAll(/^TEST_F(?:_TIMEOUT)?\(/gm)].length, 38);
  t.end();
});

t.test('every assertion of the mainline suite has its line in the newest hmm-tests.c', (t) => {
  const { table, problems } = computeTable(cSource(), SUITE);
  t.same(problems, [], 'each ported ASSERT/EXPECT matches a C one of its unit');
  t.same(HMM_TESTS_MAINLINE_C_LINES, table, 'the table is what the sources say (else: node dist/tests/c-lines-mainline.check.js --write)');
  for (const c of MAINLINE_OWN_CASES) t.ok(table[c] !== undefined && table[c].length > 0, `${c} is paired`);
  t.match(table.migrate_remap_fault?.[0], { line: Number }, 'migrate_remap_fault has C lines');
  t.end();
});

t.test('a drift is caught: a C line added above the new cases moves their lines', (t) => {
  const c = cSource();
  const shifted = c.replace('TEST_F(hmm, migrate_anon_huge_empty)\n', '\nTEST_F(hmm, migrate_anon_huge_empty)\n');
  t.notSame(computeTable(shifted, SUITE).table.migrate_anon_huge_empty, HMM_TESTS_MAINLINE_C_LINES.migrate_anon_huge_empty);
  t.end();
});
