// SPDX-License-Identifier: GPL-2.0-only
/*
 * scenarios/device-public-fork-write.yaml, seed 004's DEVICE_PUBLIC type
 * across fork and a CPU write: it passes as the seed defines the type, and
 * fails when one of the mechanisms its header names is broken on purpose
 * (Kernel.inject), or when the same steps run on 6.12's DEVICE_COHERENT.
 */
import t from 'tap';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { ROOT } from './helpers.js';
import { loadScenarios } from '../src/cli/run.js';
import { runScenario } from '../src/scenario/run.js';
import type { BootedCase } from '../src/runner.js';

const FILE = join(ROOT, 'scenarios/device-public-fork-write.yaml');

function run(onKernel?: (c: BootedCase) => void, edit?: (sc: ReturnType<typeof loadScenarios>[0]) => void) {
  const [sc] = loadScenarios([FILE]);
  edit?.(sc);
  const lines: string[] = [];
  const r = runScenario(sc, { line: (l) => lines.push(l), check: () => {}, onKernel });
  return { lines, failed: r.checks.filter((c) => !c.ok && !c.skip), checks: r.checks };
}

t.test('as the seed defines the type: every expectation holds, every page back at unload', (t) => {
  const r = run();
  t.same(r.failed, []);
  t.equal(r.checks.length, 17);
  t.ok(r.lines.includes('DATA SNAPSHOT buf pages=0-3 WRITE DEV_COHERENT_LOCAL|READ*3'), 'the parent\'s write copied page 0 to system memory');
  t.end();
});

t.test('on 6.12\'s DEVICE_COHERENT the same steps fail where the types differ: the write reuses page 0 in place', (t) => {
  const r = run(undefined, (sc) => { sc.config.params = { ...sc.config.params, spm_type: 'coherent' }; });
  t.same(r.failed.map((c) => c.name), ['device-public-fork-write.yaml:44:5 SNAPSHOT snapshot WRITE DEV_COHERENT_LOCAL|READ*3',
    'device-public-fork-write.yaml:45:5 MIGRATE_TO_SYS cpages 3']);
  t.match(r.failed[0].detail, /DEV_COHERENT_LOCAL\|WRITE/);
  t.end();
});

t.test('BROKEN: fork without seed 004\'s pte_devmap() branch of copy_one_pte() fails it', (t) => {
  const r = run((c) => { c.k.inject.copyPteDevmap = () => 0; });
  t.equal(r.failed[0]?.name, 'device-public-fork-write.yaml:42:5 store no kernel report');
  t.ok(r.lines.includes('REPORT bug folio_remove_rmap_pte: BUG: mapcount underflow on pfn 0x11ffff (model: folio_remove_rmap_pte(): mapcount underflow on pfn 0x11ffff)'),
    'the child\'s exit took the parent\'s mapcount: the parent\'s write underflows it');
  t.end();
});

t.test('BROKEN: PUBLIC pages freed at refcount 0 (not the one-based rule) fail it: the unload waits for them', (t) => {
  const r = run((c) => { c.k.inject.zoneDeviceFreeRefcount = () => 0; });
  t.same(r.failed.map((c) => c.name), ['device-public-fork-write.yaml unload: every page back, no report']);
  t.match(r.failed[0].detail, /^INFO: task rmmod:\d+ blocked for more than 120 seconds/, 'memunmap_pages() waits for pages no put_page() frees');
  t.end();
});

t.test('--emit-c of it says what a real kernel runs instead: 6.12 has COHERENT devices there, no PUBLIC ones', (t) => {
  const c = spawnSync(join(ROOT, 'bin/hmm-test'), ['run', '--emit-c', FILE], { encoding: 'utf8' });
  t.equal(c.status, 0, c.stderr);
  t.match(c.stdout, /^ \* The scenario is for seed 004's DEVICE_PUBLIC devices .*\n .*no kernel with test_hmm has them\. With spm_addr_dev0\/1 set, 6\.12's devices 2 and 3 are DEVICE_COHERENT/m);
  const plain = spawnSync(join(ROOT, 'bin/hmm-test'), ['run', '--emit-c', join(ROOT, 'scenarios/migrate-read-back.yaml')], { encoding: 'utf8' });
  t.notMatch(plain.stdout, /DEVICE_PUBLIC|DEVICE_GENERIC/, 'a 6.12 scenario gets no such note');
  t.end();
});
