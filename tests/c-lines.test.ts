// SPDX-License-Identifier: GPL-2.0-only
/*
 * The table of C origins (src/selftests/hmm-tests/c_lines.ts) against both
 * sources: every ported ASSERT/EXPECT is paired, in source order, with the
 * C assertion of the same unit (TEST_F body, FIXTURE_SETUP, FIXTURE_TEARDOWN)
 * that has the same macro and the same arguments, and the table must say
 * exactly that. A case edited on either side without the table fails here.
 *
 *   node dist/tests/c-lines.test.js --write    # rewrite the table after an intended edit
 */
import t from 'tap';
import { readFileSync, readdirSync, writeFileSync, existsSync, mkdtempSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT } from './helpers.js';
import { assertionCalls, blankSource, blockEnd, tsUnits, TS_ASSERTION, type COrigin, type AssertionCall } from '../src/kselftest/c_origin.js';
import { HMM_TESTS_C_LINES } from '../src/selftests/hmm-tests/c_lines.js';

const C_PATH = 'linux-source-6.12/tools/testing/selftests/mm/hmm-tests.c';

/** hmm-tests.c of 6.12: unpacked in /tmp/ksrc, or taken from Debian's linux-source-6.12 tarball. */
function cSource(): string {
  const unpacked = join('/tmp/ksrc', C_PATH);
  if (existsSync(unpacked)) return readFileSync(unpacked, 'utf8');
  const dir = mkdtempSync(join(tmpdir(), 'hmm-tests-c-'));
  execFileSync('tar', ['-C', dir, '-xf', '/usr/src/linux-source-6.12.tar.xz', C_PATH]);
  return readFileSync(join(dir, C_PATH), 'utf8');
}
const TS_DIR = join(ROOT, 'src', 'selftests', 'hmm-tests');

/** One spelling for both languages: no blanks, `->` as `.`, no `&`, casts and `.value` of a TS out-parameter. */
const norm = (c: { macro: string; args: string[] }): string =>
  `${c.macro}(${c.args.join(',')})`.replace(/\s+/g, '').replace(/->/g, '.').replace(/\((?:unsigned)?(?:long|int|char|void)\*?\)/g, '')
    .replace(/&(?=\w)/g, '').replace(/\.value\b/g, '');

/** Where the port spells an argument differently (a renamed variable), said once, with the C spelling. */
const SPELLINGS: Record<string, Record<string, string>> = {
  exclusive_cow: { 'ASSERT_EQ(cptr[j]++,j)': 'ASSERT_EQ(ptr[i]++,i)', 'ASSERT_EQ(cptr[j],j+1)': 'ASSERT_EQ(ptr[i],i+1)' },
  anon_write_child: { 'ASSERT_EQ(WIFEXITED(status),1)': 'ASSERT_EQ(WIFEXITED(ret),1)' },
  anon_write_child_shared: { 'ASSERT_EQ(WIFEXITED(status),1)': 'ASSERT_EQ(WIFEXITED(ret),1)' },
};

/** Assertions with no 6.12 counterpart: the seed's case and the seed's GENERIC branches. */
const PORT_ONLY: Record<string, RegExp> = {
  migrate_ping_pong: /./,
  hmm_gup_test: /HMM_DMIRROR_PROT_DEV_GENERIC/,
  snapshot: /HMM_DMIRROR_PROT_DEV_GENERIC/,
};

export function cUnits(src: string): Map<string, AssertionCall[]> {
  const blank = blankSource(src);
  const units = new Map<string, AssertionCall[]>();
  for (const m of src.matchAll(/^(TEST_F(?:_TIMEOUT)?|FIXTURE_SETUP|FIXTURE_TEARDOWN)\((\w+)(?:, (\w+))?(?:, \d+)?\)/gm)) {
    const key = m[1].startsWith('TEST_F') ? m[3] : `${m[2]}:${m[1] === 'FIXTURE_SETUP' ? 'setup' : 'teardown'}`;
    const open = blank.indexOf('{', m.index);
    units.set(key, assertionCalls(src, blank, open, blockEnd(blank, open), /\b((?:ASSERT|EXPECT)_[A-Z]+)\s*\(/));
  }
  return units;
}

/**
 * Pair each port assertion with a C one of the same spelling: the longest
 * common subsequence first (the port keeps the C's order), then what is
 * left in order (a check the port moved, such as fork()'s parent branch
 * written after the child's). -1: no counterpart.
 */
function align(ts: Array<string | null>, c: string[]): number[] {
  const n = ts.length, m = c.length;
  const L = Array.from({ length: n + 1 }, () => new Array<number>(m + 1).fill(0));
  for (let i = n - 1; i >= 0; i--) {
    for (let j = m - 1; j >= 0; j--) L[i][j] = ts[i] !== null && ts[i] === c[j] ? L[i + 1][j + 1] + 1 : Math.max(L[i + 1][j], L[i][j + 1]);
  }
  const pair = new Array<number>(n).fill(-1), used = new Set<number>();
  for (let i = 0, j = 0; i < n && j < m;) {
    // On a tie take the later C line: a block the port moved up (fork()'s child) then pairs with its own C block.
    if (L[i][j + 1] === L[i][j]) j++;
    else if (ts[i] !== null && ts[i] === c[j]) { pair[i++] = j; used.add(j++); } else i++;
  }
  for (let i = 0; i < n; i++) {
    if (pair[i] >= 0 || ts[i] === null) continue;
    const j = c.findIndex((x, k) => !used.has(k) && x === ts[i]);
    if (j >= 0) { pair[i] = j; used.add(j); }
  }
  return pair;
}

/** What one suite's table is made from: its ported files (a unit of an earlier file may be taken over by a later one). */
export interface SuiteSources {
  files: string[];
  spellings: Record<string, Record<string, string>>;
  portOnly: Record<string, RegExp>;
  /** Units of a file the suite does not run (a later file ports them anew). */
  skipUnit?: (path: string, key: string) => boolean;
}
const SUITE_612: SuiteSources = {
  files: readdirSync(TS_DIR).filter((x) => x.endsWith('.ts')).sort().map((f) => join(TS_DIR, f)),
  spellings: SPELLINGS, portOnly: PORT_ONLY,
};

/** The table as both sources give it, with every pairing problem found on the way. */
export function computeTable(cText: string, suite: SuiteSources = SUITE_612): { table: Record<string, COrigin[]>; problems: string[] } {
  const c = cUnits(cText);
  const table: Record<string, COrigin[]> = {};
  const problems: string[] = [];
  const SPELLINGS = suite.spellings, PORT_ONLY = suite.portOnly;
  for (const path of suite.files) {
    const f = path.slice(path.lastIndexOf('/') + 1);
    const src = readFileSync(path, 'utf8'), blank = blankSource(src);
    for (const u of tsUnits(src, blank)) {
      if (suite.skipUnit?.(path, u.key)) continue;
      const ts = assertionCalls(src, blank, u.open, u.end, TS_ASSERTION);
      const cs = c.get(u.key) ?? [];
      const want = ts.map((a) => (PORT_ONLY[u.key]?.test(norm(a)) ? null : SPELLINGS[u.key]?.[norm(a)] ?? norm(a)));
      const pair = align(want, cs.map(norm));
      table[u.key] = ts.map((a, i) => {
        if (want[i] === null) return null;
        const j = pair[i];
        if (j < 0) {
          problems.push(`${f}:${a.line}: ${u.key}: ${a.macro}(${a.args.join(', ')}) has no C counterpart in ${u.key}`);
          return null;
        }
        return { line: cs[j].line, args: cs[j].args };
      });
    }
  }
  for (const key of c.keys()) if (!(key in table)) problems.push(`hmm-tests.c unit ${key} has no port`);
  return { table, problems };
}

export function render(table: Record<string, COrigin[]>, o = { cName: 'tools/testing/selftests/mm/hmm-tests.c (6.12)', version: '6.12', exportName: 'HMM_TESTS_C_LINES', writer: 'c-lines.test.js' }): string {
  const rows = Object.entries(table).map(([k, v]) =>
    `  ${JSON.stringify(k)}: [${v.map((o) => (o ? `[${o.line}, ${o.args.map((a) => JSON.stringify(a)).join(', ')}]` : 'null')).join(', ')}],`);
  return `// SPDX-License-Identifier: GPL-2.0-only
/*
 * Generated by \`node dist/tests/${o.writer} --write\` from the ported
 * cases and ${o.cName}; checked by
 * tests/${o.writer.replace('.js', '.ts')}. Per unit, for each ported assertion in source
 * order: [C line, C argument texts...], or null for the port's own
 * (the seed's migrate_ping_pong and GENERIC checks).
 */
import type { COriginTable } from '../../kselftest/c_origin.js';

type Row = [number, ...string[]] | null;
const ROWS: Record<string, Row[]> = {
${rows.join('\n')}
};

/** hmm-tests.c (${o.version}) line and argument texts of each ported assertion, by unit and ordinal. */
export const ${o.exportName}: COriginTable = Object.fromEntries(Object.entries(ROWS).map(([k, v]) =>
  [k, v.map((r) => (r === null ? null : { line: r[0], args: r.slice(1) as string[] }))]));
`;
}

if (process.argv.includes('--write') && process.argv[1]?.endsWith('c-lines.test.js')) {
  const { table, problems } = computeTable(cSource());
  for (const p of problems) console.error(p);
  writeFileSync(join(TS_DIR, 'c_lines.ts'), render(table));
  console.error(`wrote ${join(TS_DIR, 'c_lines.ts')}`);
  process.exit(problems.length ? 1 : 0);
}

if (process.argv[1]?.endsWith('c-lines.test.js')) {
const C_TEXT = cSource();

t.test('every ported assertion has its hmm-tests.c line, paired by macro and arguments', (t) => {
  const { table, problems } = computeTable(C_TEXT);
  t.same(problems, [], 'each ported ASSERT/EXPECT matches a C one of its unit');
  t.same(HMM_TESTS_C_LINES, table, 'the table is what the sources say (else: node dist/tests/c-lines.test.js --write)');
  t.same(table.exclusive[3], { line: 1817, args: ['ret', '0'] }, "exclusive's EXCLUSIVE check is the real log's hmm-tests.c:1817");
  t.end();
});

t.test('a drift on either side is caught', (t) => {
  // A line added above the exclusive cases: the lines of the table no longer hold.
  const shifted = C_TEXT.replace('TEST_F(hmm, exclusive)\n', '\nTEST_F(hmm, exclusive)\n');
  t.not(shifted, C_TEXT);
  t.notSame(computeTable(shifted).table.exclusive, HMM_TESTS_C_LINES.exclusive, 'moved C lines change the table');
  // An assertion whose arguments changed on one side: no counterpart, a problem named by file and line.
  const edited = C_TEXT.replace(/(TEST_F\(hmm, anon_read\)[\s\S]*?)ASSERT_EQ\(val, 0\)/, '$1ASSERT_EQ(val, 1)');
  t.not(edited, C_TEXT);
  t.match(computeTable(edited).problems, [/^anon\.ts:\d+: anon_read: ASSERT_EQ\(val, 0\) has no C counterpart/]);
  t.end();
});
}
