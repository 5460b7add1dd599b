// SPDX-License-Identifier: GPL-2.0-only
/*
 * The harness's command-line options (kselftest_harness.h 6.12:
 * test_harness_argv_check(), test_enabled(), test_harness_list_tests()):
 *   -h  help           -l  list fixtures, variants and tests
 *   -t/-T name  include/exclude a test      -v/-V  a variant     -f/-F  a fixture
 *   -r fixture.variant.test  run that one
 * Filters are tried in the order given and the first that names the case
 * decides; with no including filter, every case not excluded runs.
 */
import type { Harness } from './harness.js';

export interface HarnessFilter { opt: 't' | 'T' | 'v' | 'V' | 'f' | 'F' | 'r'; name: string }

export interface HarnessArgs {
  help: boolean;
  list: boolean;
  filters: HarnessFilter[];
  /** What was not a harness option, in order (the caller's own arguments). */
  rest: string[];
}

export const HARNESS_USAGE = [
  'Usage: hmm-test smoke [spm_addr_dev0 spm_addr_dev1] [-h|-l] [-t|-T|-v|-V|-f|-F|-r name]',
  '\t-h       print help',
  '\t-l       list all tests',
  '',
  '\t-t name  include test',
  '\t-T name  exclude test',
  '\t-v name  include variant',
  '\t-V name  exclude variant',
  '\t-f name  include fixture',
  '\t-F name  exclude fixture',
  '\t-r name  run specified test',
  '',
  'Test filter options can be specified multiple times. The filtering stops',
  "at the first match. For example to include all tests from variant 'bla'",
  "but not test 'foo' specify '-T foo -v bla'.",
];

/**
 * getopt(argc, argv, "hlF:f:V:v:t:T:r:") over args; other words (and long
 * options) are passed through in `rest`. Returns an error message for a
 * filter option without its name.
 */
export function parseHarnessArgs(args: string[]): HarnessArgs | { error: string } {
  const out: HarnessArgs = { help: false, list: false, filters: [], rest: [] };
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (!/^-[hlFfVvtTr]/.test(a)) {
      out.rest.push(a);
      continue;
    }
    for (let j = 1; j < a.length; j++) {
      const c = a[j];
      if (c === 'h') out.help = true;
      else if (c === 'l') out.list = true;
      else if ('FfVvtTr'.includes(c)) {
        const name = j + 1 < a.length ? a.slice(j + 1) : args[++i];
        if (name === undefined || name === '') return { error: `option -${c} needs a name: -${c} <name>` };
        out.filters.push({ opt: c as HarnessFilter['opt'], name });
        break;
      } else {
        return { error: `unknown option -${c} in '${a}'; the harness options are -h -l -t -T -v -V -f -F -r` };
      }
    }
  }
  return out;
}

/** Model of test_enabled(). */
export function testEnabled(filters: HarnessFilter[], fixture: string, variant: string, test: string): boolean {
  let hasPositive = false;
  for (const { opt, name } of filters) {
    const positive = opt === opt.toLowerCase();
    hasPositive ||= positive;
    switch (opt.toLowerCase()) {
      case 't': if (name === test) return positive; break;
      case 'f': if (name === fixture) return positive; break;
      case 'v': if (name === variant) return positive; break;
      case 'r': if (name === `${fixture}.${variant ? `${variant}.` : ''}${test}`) return true; break;
    }
  }
  return !hasPositive;
}

/** Model of test_harness_list_tests(): the columns the C prints (to stderr). */
export function listTests(h: Harness): string[] {
  const col = (a: string, b: string, c: string) => `${a.padEnd(20)} ${b.padEnd(25)} ${c}`;
  const lines: string[] = [];
  h.declared().forEach((f, fi) => {
    lines.push(fi === 0 ? col('# FIXTURE', 'VARIANT', 'TEST') : '-'.repeat(80));
    const n = Math.max(f.variants.length, f.tests.length, 1);
    for (let i = 0; i < n; i++) lines.push(col(i === 0 ? f.fixture : '', f.variants[i] ?? '', f.tests[i] ?? ''));
  });
  return lines;
}
