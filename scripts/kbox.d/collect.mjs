// SPDX-License-Identifier: GPL-2.0-only
// scripts/kbox's last step: the boots' consoles into NAME.real.log and
// NAME.console per program (src/scenario/kbox.ts does the parsing).
// Usage: node collect.mjs LISTFILE HEADERFILE CONSOLE...   (LISTFILE: "name<TAB>outdir" a line)
import { readFileSync, writeFileSync } from 'node:fs';
import { collect, endText } from '../../dist/src/scenario/kbox.js';

const [list, headerFile, ...consoles] = process.argv.slice(2);
const rows = readFileSync(list, 'utf8').split('\n').filter(Boolean).map((l) => l.split('\t'));
const header = readFileSync(headerFile, 'utf8').split('\n').filter(Boolean);
const progs = collect(consoles.map((f) => readFileSync(f, 'utf8')), rows.map((r) => r[0]), header);
let bad = 0;
for (const p of progs) {
  const dir = rows[p.index][1];
  writeFileSync(`${dir}/${p.name}.real.log`, p.log.join('\n') + '\n');
  writeFileSync(`${dir}/${p.name}.console`, p.console.join('\n') + '\n');
  const reps = p.reports.map((r) => `${r.kind} in ${r.where}`).join(', ');
  if (p.end.kind !== 'exited') bad++;
  console.log(`kbox: ${p.name}: ${endText(p.end)}${reps ? `; kernel: ${reps}` : ''} -> ${dir}/${p.name}.real.log`);
}
process.exitCode = bad ? 1 : 0;
