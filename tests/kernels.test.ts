// SPDX-License-Identifier: GPL-2.0-only
/*
 * The suite under the mainline profile (--kernel 7.2) is the newest
 * hmm-tests.c's (38 cases and migrate_ping_pong): every case passes in
 * private mode, and in coherent mode all but the THP cases, where the
 * driver WARNs (COHERENT_LARGE_CHUNK_WARN, with the reason), and the cases whose C did
 * not change trace as on the real 6.12 kernel (the 32-page windows and the
 * per-page EXCLUSIVE change no cpages= or faults= count); with THP always the three
 * exclusive* cases pass, and the change that makes them pass is
 * make_device_exclusive (6.12 plus that one change passes them too, 6.12
 * fails them: tests/thp-always.test.ts). The reports say which kernel ran.
 */
import t from 'tap';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { XMLParser } from 'fast-xml-parser';
import { smoke, tracesByCase, PRIVATE, COHERENT, SHARED } from './helpers.js';
import { defaultMachine } from '../src/kernel-model/machine.js';
import { type KernelVersion, composeKernel, MAINLINE } from '../src/kernel-model/changes.js';
import { smokeReport } from '../src/cli/report.js';
import { junitXml } from '../src/cli/junit.js';
import { yaml } from '../src/cli/yaml.js';
import { runInfo } from '../src/cli/run-info.js';
import { MAINLINE_OWN_CASES } from '../src/selftests/hmm-tests-mainline/index.js';

const mainline = composeKernel(MAINLINE) as KernelVersion;

/*
 * What the newest lib/test_hmm.c does with a COHERENT device and a THP
 * (linux-mm blob 05ab5121): dmirror_devmem_alloc_page(is_large) finds no
 * free folio (the module-init chunk is carved into 4 KiB pages only) and
 * calls dmirror_allocate_chunk(is_large), which memremap_pages() the
 * device's one SPM range a second time: pagemap_range() WARNs "Conflicting
 * mapping in same section" and fails, and the migration falls back to
 * 4 KiB pages. The case's checks pass, but the kernel WARNed, which fails
 * the case here. migrate_anon_huge_err fails its check as well: its device
 * pages are 4 KiB, so HMM_DMIRROR_FLAG_FAIL_ALLOC on the way back leaves
 * dmirror_devmem_fault_alloc_and_copy() no smaller size to fall back to
 * (order 0, no page: VM_FAULT_OOM, MIGRATE_TO_SYS -ENOMEM).
 */
const COHERENT_LARGE_CHUNK_WARN: Record<string, string> = {
  anon_write_child: 'warn',
  migrate_anon_huge_empty: 'warn',
  migrate_anon_huge_zero: 'warn',
  migrate_anon_huge_free: 'warn',
  migrate_anon_huge_fault: 'warn',
  migrate_partial_unmap_fault: 'warn',
  migrate_remap_fault: 'warn',
  migrate_anon_huge_err: 'assertion, warn',
  benchmark_thp_migration: 'warn',
};
const EXCLUSIVE = ['exclusive', 'exclusive_mprotect', 'exclusive_cow'];

for (const [mode, params] of [['private', PRIVATE], ['coherent', COHERENT]] as const) {
  t.test(`${mode} mode, kernel 7.2: every case passes and traces like the 6.12 reference`, (t) => {
    const refLines = readFileSync(join(SHARED, 'reference', `${mode}.thp-madvise.trace.log`), 'utf8').split('\n');
    const ref = tracesByCase(refLines);
    const run = smoke({ params, trace: true, kernel: mainline });
    const failed = run.result.results.filter((r) => r.status === 'fail').map((r) => r.name.split('.').slice(1).join('.')).sort();
    const ran = mode === 'private' ? ['hmm_device_private'] : ['hmm_device_private', 'hmm_device_coherent'];
    const expected = mode === 'private' ? [] : Object.keys(COHERENT_LARGE_CHUNK_WARN).map((c) => `hmm_device_coherent.${c}`).sort();
    t.same(failed, expected, mode === 'private' ? 'every case passes' : 'only the THP cases of the coherent variant fail, on the WARN of the second chunk');
    if (mode === 'coherent') {
      for (const [c, kinds] of Object.entries(COHERENT_LARGE_CHUNK_WARN)) {
        const out = run.all.join('\n').split(`#  RUN           hmm.hmm_device_coherent.${c} ...`)[1]?.split('#  RUN')[0] ?? '';
        t.match(out, /WARNING: pagemap_range: Conflicting mapping in same section/, `${c}: the WARN of memremap_pages() on the device's SPM range`);
        t.match(out, new RegExp(`failure kinds: ${kinds}\n`), `${c}: fails of ${kinds}`);
      }
    }
    t.equal(run.result.pass, 39 * ran.length - expected.length, 'the 38 cases and migrate_ping_pong in every available variant');
    const ours = tracesByCase(run.all);
    for (const [name, lines] of ref) {
      if (name.endsWith('.anon_teardown')) continue; // races on the real kernel too
      if ((MAINLINE_OWN_CASES as readonly string[]).includes(name.split('.')[2])) continue; // a newer C body
      t.same(ours.get(name), lines, `${name}: same commands, cpages and faults`);
    }
    t.end();
  });
}

for (const [kernel, label] of [[mainline, '7.2'], [composeKernel('6.12', ['make_device_exclusive']) as KernelVersion, '6.12 + make_device_exclusive']] as const) {
  t.test(`THP always, kernel ${label}: the exclusive cases pass`, (t) => {
    const run = smoke({
      params: PRIVATE, kernel, machine: { ...defaultMachine(), transparentHugepage: 'always' },
      filter: (_f, _v, c) => EXCLUSIVE.includes(c),
    });
    const ran = run.result.results.filter((r) => r.status !== 'skip');
    t.same(ran.map((r) => [r.name.split('.')[2], r.status, r.messages]), EXCLUSIVE.map((c) => [c, 'pass', []]));
    t.end();
  });
}

t.test('the YAML and JUnit reports say which kernel ran', (t) => {
  const run = smoke({ params: PRIVATE, kernel: mainline, filter: (_f, _v, c) => c === 'open_close' });
  const info = runInfo({
    params: PRIVATE, machine: defaultMachine(), filters: [], configFile: null, paramsFromConfig: false, argv: ['smoke', '--kernel', '7.2'],
    timeoutS: 30, bail: false, kernelName: mainline.profile, patches: [...mainline.patches],
  });
  const doc = yaml().parse(smokeReport(info, run.result)) as { run: { kernel: string } };
  t.equal(doc.run.kernel, '7.2');
  const xml = new XMLParser({ ignoreAttributes: false }).parse(junitXml(info, run.result));
  const suites = [xml.testsuites.testsuite].flat();
  t.ok(suites.length > 0);
  for (const s of suites) {
    const props = [s.properties.property].flat() as Array<Record<string, string>>;
    t.equal(props.find((p) => p['@_name'] === 'kernel.profile')?.['@_value'], '7.2', `${s['@_name']}: kernel property`);
  }
  t.end();
});
