// SPDX-License-Identifier: GPL-2.0-only
/*
 * The harness filters checked against what the suite declares: a name that
 * names nothing (a typo in -t, -T, -v, -V, -f, -F or -r) and filters that
 * leave no test to run are errors that list the close names, where the C
 * harness would quietly run nothing and pass.
 */
import { testEnabled, type HarnessFilter } from '../kselftest/options.js';

type Declared = Array<{ fixture: string; variants: string[]; tests: string[] }>;

function distance(a: string, b: string): number {
  const d = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let prev = d[0];
    d[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const here = d[j];
      d[j] = Math.min(d[j] + 1, d[j - 1] + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = here;
    }
  }
  return d[b.length];
}

/** Up to five names near `name`: a small edit distance, or one containing the other. */
export function closeNames(name: string, names: string[]): string[] {
  const scored = [...new Set(names)].map((n) => ({ n, d: n.includes(name) || name.includes(n) ? 0.5 : distance(name, n) }))
    .filter((x) => x.d <= Math.max(2, Math.floor(name.length / 3)))
    .sort((a, b) => a.d - b.d || a.n.localeCompare(b.n));
  return scored.slice(0, 5).map((x) => x.n);
}

/** An error message for the first filter that names nothing, or for filters that select nothing; null when fine. */
export function checkFilters(filters: HarnessFilter[], declared: Declared): string | null {
  const fixtures = declared.map((d) => d.fixture);
  const variants = declared.flatMap((d) => d.variants);
  const tests = declared.flatMap((d) => d.tests);
  const full = declared.flatMap((d) => (d.variants.length ? d.variants : ['']).flatMap((v) => d.tests.map((t) => `${d.fixture}.${v ? `${v}.` : ''}${t}`)));
  const kinds: Record<string, [string, string[]]> = {
    t: ['test', tests], T: ['test', tests], v: ['variant', variants], V: ['variant', variants],
    f: ['fixture', fixtures], F: ['fixture', fixtures], r: ['fixture.variant.test', full],
  };
  for (const f of filters) {
    const [what, names] = kinds[f.opt];
    if (names.includes(f.name)) continue;
    const near = closeNames(f.name, names);
    return `-${f.opt} ${f.name}: no ${what} of that name in this mode` +
      (near.length ? `; did you mean ${near.join(', ')}?` : `; 'hmm-test smoke -l' lists them`);
  }
  const any = declared.some((d) => (d.variants.length ? d.variants : ['']).some((v) => d.tests.some((t) => testEnabled(filters, d.fixture, v, t))));
  if (!any) return `the filters ${filters.map((f) => `-${f.opt} ${f.name}`).join(' ')} leave no test to run; 'hmm-test smoke -l' lists them`;
  return null;
}
