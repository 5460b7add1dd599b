// SPDX-License-Identifier: GPL-2.0-only
/*
 * The real 6.12 kernel booted with transparent_hugepage=always
 * (../shared/reference/{private,coherent}.trace.log, without .thp-madvise):
 * the 4 MiB buffers of exclusive, exclusive_mprotect and exclusive_cow are
 * THPs, make_device_exclusive_range() splits their PMD and leaves the tail
 * pages' slots NULL, and EXCLUSIVE returns -EBUSY, failing the three cases.
 * The simulated machine with `transparentHugepage: 'always'` must do the
 * same, command by command; the huge-page, mixedmap and gup cases pass there
 * as on the real kernel.
 */
import t from 'tap';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { smoke, tracesByCase, PRIVATE, COHERENT, SHARED } from './helpers.js';
import { defaultMachine } from '../src/kernel-model/machine.js';

const EXCLUSIVE = ['exclusive', 'exclusive_mprotect', 'exclusive_cow'];
const PASSING = ['anon_write_huge', 'anon_write_hugetlbfs', 'mixedmap', 'compound', 'hmm_gup_test'];

for (const [mode, params] of [['private', PRIVATE], ['coherent', COHERENT]] as const) {
  t.test(`${mode} mode, THP always: the exclusive cases fail with EXCLUSIVE -EBUSY as on the real kernel`, (t) => {
    const refLines = readFileSync(join(SHARED, 'reference', `${mode}.trace.log`), 'utf8').split('\n');
    const ref = tracesByCase(refLines);
    const run = smoke({
      params, trace: true, machine: { ...defaultMachine(), transparentHugepage: 'always' },
      filter: (_f, _v, c) => EXCLUSIVE.includes(c) || PASSING.includes(c),
    });
    const ours = tracesByCase(run.all);
    const ran = run.result.results.filter((r) => r.status !== 'skip');
    t.equal(ran.length, (mode === 'private' ? 1 : 2) * (EXCLUSIVE.length + PASSING.length), 'every case ran in every available variant');
    for (const r of ran) {
      const c = r.name.split('.')[2];
      const refVerdict = refLines.find((l) => new RegExp(`^(not )?ok \\d+ ${r.name.replace(/\./g, '\\.')}$`).test(l));
      t.equal(r.status, EXCLUSIVE.includes(c) ? 'fail' : 'pass', `${r.name}: verdict`);
      t.equal(refVerdict?.startsWith('not ok') ? 'fail' : 'pass', r.status, `${r.name}: the real kernel's verdict`);
      t.same(ours.get(r.name), ref.get(r.name), `${r.name}: the real kernel's trace`);
    }
    for (const c of EXCLUSIVE) {
      t.ok(run.err.some((l) => l.endsWith(`:${c}:Expected ret (-16) == 0 (0)`)), `${c}: EXCLUSIVE returned -EBUSY`);
    }
    // A failed case still gives every page back and leaves no WARN: only the ASSERT fails it.
    t.notOk(run.err.some((l) => /leaked|WARN|KernelBug/.test(l)), 'no leak, no WARN, no BUG');
    t.end();
  });
}
