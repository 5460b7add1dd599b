// SPDX-License-Identifier: GPL-2.0-only
/*
 * The suite on seed 004's DEVICE_PUBLIC devices (spm_type=public, `smoke
 * --public`): every case of the private and public variants passes, the
 * public variant's device commands are those of the coherent variant, and
 * breaking one PUBLIC mechanism fails exactly the cases that rely on it.
 */
import t from 'tap';
import { smoke, tracesByCase, COHERENT } from './helpers.js';
import { HMM_TESTS_CASES } from '../src/selftests/hmm-tests/index.js';
import { parseScenario } from '../src/scenario/parse.js';
import { runScenario } from '../src/scenario/run.js';

const PUBLIC = { ...COHERENT, spm_type: 'public' as const };
/** The cases that failed, as variant.case, once each. */
const failed = (r: ReturnType<typeof smoke>) => [...new Set(r.result.results.filter((c) => c.status === 'fail').map((c) => c.name.split('.').slice(1).join('.')))];

t.test('smoke --public: 60 cases, private and public variants, all pass; the public variant issues the coherent variant\'s commands', (t) => {
  const pub = smoke({ params: PUBLIC, trace: true });
  const { result, out, err } = pub;
  t.equal(result.exitCode, 0, err.join('\n'));
  t.equal(result.results.length, 2 * HMM_TESTS_CASES.length);
  t.same([...new Set(result.results.map((r) => r.name.split('.')[1].replace('hmm2_', 'hmm_')))], ['hmm_device_private', 'hmm_device_public']);
  t.ok(result.results.every((r) => r.status === 'pass'), result.results.filter((r) => r.status !== 'pass').map((r) => r.name).join(', '));
  t.same(out.slice(-1), ['# Totals: pass:60 fail:0 xfail:0 xpass:0 skip:0 error:0']);
  // Same commands, same ret/cpages/faults, case by case: the suite does not tell PUBLIC from COHERENT.
  const coh = tracesByCase(smoke({ params: COHERENT, trace: true, filter: (_f, v) => v.includes('coherent') }).all);
  let compared = 0;
  for (const [name, lines] of tracesByCase(pub.all)) {
    if (!name.includes('public')) continue;
    t.same(lines, coh.get(name.replace(/public/g, 'coherent')), name);
    compared++;
  }
  t.equal(compared, HMM_TESTS_CASES.length);
  t.end();
});

/** Only the public variant: the broken mechanisms below touch PUBLIC pages alone. */
const publicOnly = (_f: string, v: string) => v.includes('public');

t.test('BROKEN: fork without seed 004\'s pte_devmap branch fails hmm_cow_in_device', (t) => {
  const r = smoke({ params: PUBLIC, filter: publicOnly, onKernel: (k) => { k.inject.copyPteDevmap = () => 0; } });
  t.same(failed(r), ['hmm_device_public.hmm_cow_in_device']);
  t.ok(r.err.some((l) => l.includes('mapcount underflow')), 'the child\'s unmap underflows the mapcount');
  t.end();
});

t.test('BROKEN: PUBLIC pages freed at refcount 0 never come back: every public case that migrates fails', (t) => {
  const r = smoke({ params: PUBLIC, filter: publicOnly, onKernel: (k) => { k.inject.zoneDeviceFreeRefcount = () => 0; } });
  // The 11 that migrate: each device page keeps a reference, so memunmap_pages() waits for good (HANG).
  t.same(failed(r).map((c) => c.split('.')[1]), ['migrate', 'migrate_file_private', 'migrate_fault', 'migrate_release',
    'migrate_multiple', 'hmm_gup_test', 'hmm_cow_in_device', 'migrate_ping_pong', 'migrate_mixed', 'snapshot', 'double_map']);
  t.ok(r.result.results.filter((c) => c.status === 'fail').every((c) => c.failures.some((x) => x.kind === 'hang')), 'each a hung task');
  t.end();
});

t.test('BROKEN: a long-term pin left in PUBLIC memory fails hmm_gup_test', (t) => {
  const r = smoke({ params: PUBLIC, filter: publicOnly, onKernel: (k) => { k.inject.checkAndMigrateMovablePages = () => 0; } });
  t.same(failed(r), ['hmm_device_public.hmm_gup_test']);
  t.ok(r.err.some((l) => /hmm_gup_test:Expected HMM_DMIRROR_PROT_WRITE \(2\) == m\[2\] \(66\)/.test(l)), 'page 2 is still COHERENT_LOCAL|WRITE');
  t.end();
});

/**
 * What the suite cannot see, a scenario can: after fork and the child's exit
 * a CPU write to a write-protected page reuses a COHERENT page in place
 * (refcount 1, wp_can_reuse_anon_folio()) but copies a PUBLIC page to system
 * memory (its rest reference keeps the count at 2).
 */
const forkThenWrite = (type: string) => `
config:
  module: { spm_addr_dev0: 0x100000000, spm_addr_dev1: 0x110000000, spm_type: ${type} }
steps:
  - open: 2
  - mmap: { name: buf, pages: 4 }
  - store: { buf: buf, pattern: index }
  - MIGRATE_TO_DEV: { dev: dmirror2, buf: buf, expect: { ret: 0, cpages: 4 } }
  - fork: { name: child, steps: [ { load: { buf: buf, expect: { data: index } } } ] }
  - store: { buf: buf, pages: 0, pattern: 0x55 }
  - load: { buf: buf, pages: "1-3", expect: { data: index } }
  - SNAPSHOT: { dev: dmirror2, buf: buf }
  - MIGRATE_TO_SYS: { dev: dmirror2, buf: buf, expect: { ret: 0 } }
  - load: { buf: buf, pages: "1-3", expect: { data: index } }
`;

t.test('fork, child exit, parent write: COHERENT keeps the page on the device, PUBLIC copies it to system memory', (t) => {
  const snap: Record<string, string> = {};
  for (const type of ['coherent', 'public']) {
    const lines: string[] = [];
    const r = runScenario(parseScenario(forkThenWrite(type), `${type}.yaml`), { line: (l) => lines.push(l), check: () => {} });
    t.same(r.checks.filter((c) => !c.ok).map((c) => c.name), [], `${type}: every expectation holds, clean unload`);
    snap[type] = lines.find((l) => l.startsWith('DATA SNAPSHOT')) ?? '';
  }
  t.equal(snap.coherent, 'DATA SNAPSHOT buf pages=0-3 DEV_COHERENT_LOCAL|WRITE DEV_COHERENT_LOCAL|READ*3',
    'coherent: the write reused page 0 in device memory');
  t.equal(snap.public, 'DATA SNAPSHOT buf pages=0-3 WRITE DEV_COHERENT_LOCAL|READ*3', 'public: page 0 is a writable system page now');
  t.end();
});
