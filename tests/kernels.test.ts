// SPDX-License-Identifier: GPL-2.0-only
/*
 * The suite under the mainline profile (--kernel 7.2) is the newest
 * hmm-tests.c's (38 cases and migrate_ping_pong): every case passes in
 * private and coherent mode but those that wait for the device-private THP
 * series (WAITING_FOR_THP, each with its reason), and the cases whose C did
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
 * Cases of the newest hmm-tests.c that need the device-private THP series
 * (helper thp's branch), and why they fail without it. When it merges,
 * this list shrinks to nothing.
 */
const WAITING_FOR_THP: Record<string, { variants: string[]; why: string }> = {
  migrate_anon_huge_fault: { variants: ['hmm_device_private'], why: 'SNAPSHOT must report a PMD-level device-private entry (DEV_PRIVATE_LOCAL|WRITE|PMD)' },
  migrate_remap_fault: { variants: ['hmm_device_private', 'hmm_device_coherent'], why: 'a THP split to ptes by mremap() to an unaligned address is a PTE-mapped large folio: migrate_vma_collect of 6.12 does not split it (-ENOENT)' },
  migrate_anon_huge_err: { variants: ['hmm_device_private', 'hmm_device_coherent'], why: 'HMM_DMIRROR_FLAGS is not in the driver yet (-EINVAL)' },
  migrate_anon_huge_zero_err: { variants: ['hmm_device_private', 'hmm_device_coherent'], why: 'HMM_DMIRROR_FLAGS is not in the driver yet (-EINVAL)' },
};
const EXCLUSIVE = ['exclusive', 'exclusive_mprotect', 'exclusive_cow'];

for (const [mode, params] of [['private', PRIVATE], ['coherent', COHERENT]] as const) {
  t.test(`${mode} mode, kernel 7.2: every case passes and traces like the 6.12 reference`, (t) => {
    const refLines = readFileSync(join(SHARED, 'reference', `${mode}.thp-madvise.trace.log`), 'utf8').split('\n');
    const ref = tracesByCase(refLines);
    const run = smoke({ params, trace: true, kernel: mainline });
    const failed = run.result.results.filter((r) => r.status === 'fail').map((r) => r.name.split('.').slice(1).join('.')).sort();
    const ran = mode === 'private' ? ['hmm_device_private'] : ['hmm_device_private', 'hmm_device_coherent'];
    const waiting = Object.entries(WAITING_FOR_THP).flatMap(([c, w]) => w.variants.filter((v) => ran.includes(v)).map((v) => `${v}.${c}`)).sort();
    t.same(failed, waiting, `only the cases waiting for the THP series fail (${Object.entries(WAITING_FOR_THP).map(([c, w]) => `${c}: ${w.why}`).join('; ')})`);
    t.equal(run.result.pass, 39 * ran.length - waiting.length, 'the 38 cases and migrate_ping_pong in every available variant');
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
