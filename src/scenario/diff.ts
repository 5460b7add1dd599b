// SPDX-License-Identifier: GPL-2.0-only
/*
 * hmm-test diff A B: two observation logs (the model's `hmm-test run`, a
 * real kernel's run of the --emit-c program) lined up scenario by
 * scenario, the first difference of each shown. What may legitimately
 * differ is left out before comparing:
 *  - TAP lines, comments and --show pages maps (only the model has them);
 *  - UNLOAD lines (the model's unload check; a real kernel says it in dmesg);
 *  - in a REPORT line everything after its kind: the function names and
 *    offsets a real oops or WARN prints are not the model's;
 *  - hexadecimal addresses (0x7f...), which differ from run to run.
 * A log's scenarios start at "# scenario <file>:" lines; a log without
 * them is one scenario.
 */

export interface DiffResult {
  /** One line per scenario: "same", or where and how they first differ. */
  lines: string[];
  same: boolean;
}

/** The lines of a log that are observations, as they are compared. */
export function observations(lines: string[]): string[] {
  const out: string[] = [];
  for (const l of lines) {
    if (l === '' || l.startsWith('#') || /^(not )?ok \d+/.test(l) || /^1\.\.\d+$/.test(l) || l.startsWith('TAP version')) continue;
    const body = l;
    if (/^(?:[\w-]+: )?(MAP |UNLOAD )/.test(body)) continue;
    const report = /^((?:[\w-]+: )?REPORT \w+)/.exec(body);
    out.push(report ? report[1] : body.replace(/0x[0-9a-f]{6,}/gi, '0x…'));
  }
  return out;
}

/** Split a log into scenarios by their "# scenario FILE:" header (the file's base name is the key). */
export function scenarios(text: string): Map<string, string[]> {
  const m = new Map<string, string[]>();
  let cur: string[] = [];
  m.set('', cur);
  for (const l of text.split('\n')) {
    const h = /^# scenario (?:.*\/)?([^/:]+?)(?:\.ya?ml)?: /.exec(l);
    if (h) {
      cur = [];
      m.set(h[1], cur);
    } else {
      cur.push(l);
    }
  }
  if (m.get('')!.every((l) => observations([l]).length === 0)) m.delete('');
  return m;
}

export function diffLogs(a: string, b: string, nameA: string, nameB: string): DiffResult {
  const sa = scenarios(a), sb = scenarios(b);
  const out: string[] = [];
  let same = true;
  for (const key of new Set([...sa.keys(), ...sb.keys()])) {
    const label = key || '(log)';
    const la = sa.get(key), lb = sb.get(key);
    if (la === undefined || lb === undefined) {
      out.push(`${label}: only in ${la === undefined ? nameB : nameA}`);
      same = false;
      continue;
    }
    const oa = observations(la), ob = observations(lb);
    const i = oa.findIndex((l, j) => l !== ob[j]);
    const at = i >= 0 ? i : oa.length === ob.length ? -1 : Math.min(oa.length, ob.length);
    if (at < 0) {
      out.push(`${label}: same (${oa.length} observations)`);
      continue;
    }
    same = false;
    out.push(`${label}: observation ${at + 1} differs`, `  ${nameA}: ${oa[at] ?? '(ends)'}`, `  ${nameB}: ${ob[at] ?? '(ends)'}`);
  }
  return { lines: out, same };
}
