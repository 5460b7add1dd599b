// SPDX-License-Identifier: GPL-2.0-only
/*
 * The historical and proposed patches (kernel-model/changes.ts, "Patches"):
 * each one's scenario behaves differently with it, the mechanism it
 * switches differs where the patch says, --patch and `patches:` reach the
 * kernel and the reports, and `hmm-test catch`'s matrix (on stub runners
 * and on real runs) including a patch that changes nothing.
 */
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { ROOT } from './helpers.js';
import { parseScenario } from '../src/scenario/parse.js';
import { runScenario, type Check } from '../src/scenario/run.js';
import type { Scenario } from '../src/scenario/scenario.js';
import { HostMemory } from '../src/kernel-model/page_data.js';
import { Kernel } from '../src/kernel-model/kernel.js';
import { type KernelVersion, composeKernel, defineChange, MAINLINE, DMIRROR_CHUNK_FORCE_PRIVATE } from '../src/kernel-model/changes.js';
import { catchMatrix, scenarioVerdicts, registeredPatches, formatMatrix, type Verdicts } from '../src/cli/catch.js';
import { EBUSY } from '../src/kernel-model/errno.js';
import { userStore } from '../src/kernel-model/memory.js';
import { MmStruct } from '../src/kernel-model/mm.js';
import { pteIndex } from '../src/kernel-model/pgtable.js';
import { lockPage } from '../src/kernel-model/page_alloc.js';
import { makeDeviceExclusive } from '../src/kernel-model/rmap.js';
import { KernelBug } from '../src/kernel-model/bug.js';
import { MEMORY_DEVICE_PRIVATE, MEMORY_DEVICE_GENERIC } from '../src/kernel-model/memremap.js';
import { bootCase } from '../src/runner.js';
import { defaultMachine } from '../src/kernel-model/machine.js';
import { mmapAnon, pattern } from './kernel-model/fixtures/fake_device.js';

const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: '1' };
delete env.NODE_OPTIONS;
const cli = (args: string[]) => spawnSync(join(ROOT, 'bin/hmm-test'), args, { encoding: 'utf8', env });
const load = (name: string): Scenario => {
  const f = join(ROOT, 'scenarios', name);
  return parseScenario(readFileSync(f, 'utf8'), f);
};
/** The scenario's checks and lines on its config's kernel with `add` patches on top (or `only` instead of the config's). */
const run = (sc: Scenario, add: string[] = [], only?: string[]): { checks: Check[]; lines: string[] } => {
  const checks: Check[] = [], lines: string[] = [];
  const patches = only ?? [...sc.config.patches, ...add];
  runScenario({ ...sc, config: { ...sc.config, patches } }, { line: (l) => lines.push(l), check: (c) => checks.push(c), hostMemory: new HostMemory() });
  return { checks, lines };
};
const failed = (r: { checks: Check[] }) => r.checks.filter((c) => !c.ok).map((c) => c.name);
const version = (profile: string, patches: string[] = []): KernelVersion => composeKernel(profile, patches) as KernelVersion;

/** Each patch, the scenario that tells it apart, and which way (passes on the plain kernel, or only with the patch). */
const SCENARIOS: Array<[string, string, 'fails with it' | 'passes with it']> = [
  ['migrate_vma_pages-no-invalidate', 'stale-zero-page-second-device.yaml', 'fails with it'],
  ['dmirror_allocate_chunk-force-private', 'generic-chunk-type.yaml', 'fails with it'],
  ['dmirror_allocate_chunk-force-private', 'device-public-fork-write.yaml', 'fails with it'],
  ['zone_device-one-based-refcount', 'device-page-refcount.yaml', 'fails with it'],
  ['test_hmm-no-evict-on-close', 'close-then-cpu-write.yaml', 'fails with it'],
  ['test_hmm-no-evict-on-close', 'close-use-after-free.yaml', 'passes with it'],
  ['dmirror_do_fault-backing-page', 'dmirror-do-read-oops-cpu-write.yaml', 'fails with it'],
  ['dmirror_do_fault-backing-page', 'dmirror-do-read-fixed.yaml', 'passes with it'],
  // Its config pins the schedule (schedule: "4.1") where the thread's EXCLUSIVE meets the folio main locked.
  ['make_device_exclusive-ebusy', 'make-device-exclusive-ebusy.yaml', 'fails with it'],
];

t.test('every patch is registered with what, source and release, and no profile carries it', async (t) => {
  const names = registeredPatches();
  for (const p of ['migrate_vma_pages-no-invalidate', 'dmirror_allocate_chunk-force-private', 'zone_device-one-based-refcount',
    'make_device_exclusive-ebusy', 'test_hmm-no-evict-on-close', 'dmirror_do_fault-backing-page']) {
    t.ok(names.includes(p), `${p} is a patch`);
  }
});

for (const [patch, file, way] of SCENARIOS) {
  t.test(`${file}: ${way} ${patch}`, async (t) => {
    const sc = load(file);
    const plain = sc.config.patches.filter((p) => p !== patch), withIt = [...plain, patch];
    const a = run(sc, [], plain), b = run(sc, [], withIt);
    const [good, bad] = way === 'fails with it' ? [a, b] : [b, a];
    t.same(failed(good), [], `passes ${way === 'fails with it' ? 'without' : 'with'} the patch`);
    t.ok(failed(bad).length > 0, `fails ${way === 'fails with it' ? 'with' : 'without'} it: ${failed(bad).join('; ')}`);
    // The oops examples came first (their headers explain the oops); the README's Patches table ties them to the fix.
    const doc = file.startsWith('dmirror-do-read-oops-') ? readFileSync(join(ROOT, 'README.md'), 'utf8') : readFileSync(join(ROOT, 'scenarios', file), 'utf8');
    t.match(doc, new RegExp(patch.replace(/[.-]/g, '\\$&')), 'its header (or the README) names the patch');
  });
}

t.test('no evict-on-close: the later fault reads the freed dmirror, reported as KASAN would, in dmirror_devmem_fault()', async (t) => {
  const r = run(load('close-use-after-free.yaml'));
  const report = r.lines.find((l) => l.startsWith('REPORT '));
  t.match(report, /^REPORT bug dmirror_devmem_fault: .*KASAN: slab-use-after-free/);
});

t.test('the backing-page fix: the re-faulted mirror holds system pages, and the READ copies them', async (t) => {
  const sc = load('dmirror-do-read-oops-cpu-write.yaml');
  t.match(run(sc).lines.join('\n'), /REPORT oops dmirror_do_read/, '6.12: the oops');
  const fixed = run(sc, ['dmirror_do_fault-backing-page']);
  t.notMatch(fixed.lines.join('\n'), /REPORT/, 'fixed: no report');
  t.match(fixed.lines.join('\n'), /DATA READ buf pages=0-3 fnv1a=/, 'the READ returned the data');
});

t.test('one-based refcount: every migrated page is freed while mapped (a WARN each)', async (t) => {
  const r = run(load('device-page-refcount.yaml'), ['zone_device-one-based-refcount']);
  t.equal(r.lines.filter((l) => /REPORT warn free_zone_device_page: .*freed while mapped/.test(l)).length, 4);
});

t.test('force-private: a GENERIC device\'s chunk is mapped as MEMORY_DEVICE_PRIVATE', async (t) => {
  const params = { spm_addr_dev0: 0x100000000, spm_addr_dev1: 0x140000000, spm_type: 'generic' as const };
  for (const [patches, type] of [[[], MEMORY_DEVICE_GENERIC], [[DMIRROR_CHUNK_FORCE_PRIVATE.name], MEMORY_DEVICE_PRIVATE]] as const) {
    const c = bootCase({ machine: defaultMachine(), params, version: version('6.12', [...patches]) });
    t.same(c.k.pgmaps.map((p) => p.type), [type, type], `${patches.join(' ') || 'plain'}: both devices' chunks`);
  }
});

// The unit view of the scenario's race: the folio locked from the test, no thread (the scenario's thread waits instead).
t.test('make_device_exclusive-ebusy on 7.2: a locked folio is -EBUSY again instead of waited for', async (t) => {
  for (const patches of [['make_device_exclusive-ebusy'], []]) {
    const k = new Kernel({ version: version(MAINLINE, patches) });
    const mm = new MmStruct(k);
    const { addr } = mmapAnon(mm, 1);
    userStore(mm, addr, pattern(0));
    lockPage(k, mm.pgtable.lookup(addr)!.pfn[pteIndex(addr)]);
    if (patches.length) t.equal(makeDeviceExclusive(mm, addr, null), -EBUSY, 'folio_trylock() failed');
    else t.throws(() => makeDeviceExclusive(mm, addr, null), KernelBug, 'folio_lock_killable(): one thread, a deadlock');
  }
  t.match((composeKernel('6.12', ['make_device_exclusive-ebusy']) as { error: string }).error,
    /reverts 'make_device_exclusive-no-ebusy', which kernel 6.12 does not have/, 'on 6.12: nothing to revert, one line');
});

t.test('catchMatrix: a stub runner; a patch that changes nothing is caught by nothing', async (t) => {
  const plain: Verdicts = new Map([['a', 'pass'], ['b', 'pass'], ['c', 'skip']]);
  const runs = new Map<string, Verdicts | { error: string }>([
    ['', plain],
    ['breaks-a', new Map([['a', 'fail'], ['b', 'pass'], ['c', 'skip']])],
    ['noop', new Map(plain)],
    ['elsewhere', { error: 'not for this kernel' }],
  ]);
  const rows = catchMatrix(['breaks-a', 'noop', 'elsewhere'], (ps) => runs.get(ps.join(','))!);
  t.same(rows, [
    { patch: 'breaks-a', applicable: true, caught: [{ name: 'a', plain: 'pass', patched: 'fail' }] },
    { patch: 'noop', applicable: true, caught: [] },
    { patch: 'elsewhere', applicable: false, why: 'not for this kernel' },
  ]);
  const text = formatMatrix(rows, '6.12', 0).join('\n');
  t.match(text, /noop\s+caught by nothing/);
  t.match(text, /breaks-a\s+caught by 1 case\(s\) and 0 scenario\(s\)\n\s+a {2}pass -> fail/);
});

t.test('catchMatrix on real runs of the scenarios: two patches, and a registered no-op patch caught by nothing', async (t) => {
  // Registered in this process only: a change no k.has() site asks for.
  defineChange({ name: 'test-noop-patch', subject: 'a patch that changes nothing', author: 'tests', release: 'none', source: 'tests/patches.test.ts', what: 'nothing' });
  const files = ['close-then-cpu-write.yaml', 'dmirror-do-read-oops-cpu-write.yaml', 'migrate-read-back.yaml', 'close-use-after-free.yaml'];
  const scenarios = files.map(load);
  const hm = new HostMemory();
  let plain: Verdicts | undefined;
  const rows = catchMatrix(['test_hmm-no-evict-on-close', 'dmirror_do_fault-backing-page', 'test-noop-patch'], (ps) => {
    const v = scenarioVerdicts(scenarios, ps, hm, plain);
    if (ps.length === 0) plain = v;
    return v;
  });
  const caught = (i: number) => (rows[i] as { caught: Array<{ name: string }> }).caught.map((h) => h.name);
  t.same(caught(0), ['scenario close-then-cpu-write.yaml'], 'no-evict: the close scenario (the UAF one has the patch already)');
  t.same(caught(1), ['scenario dmirror-do-read-oops-cpu-write.yaml'], 'the fix: the oops scenario');
  t.same(caught(2), [], 'the no-op patch: caught by nothing');
});

t.test('CLI: --patch for smoke and run, patches: in --config, the reports record them, unknown names are one line', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'hmm-patches-'));
  for (const args of [['catch', '--patch', 'nope'], ['catch', '--kernel', '5.0']]) {
    const c = cli(args);
    t.equal(c.status, 1, args.join(' '));
    t.equal(c.stderr.trim().split('\n').length, 1, `${args.join(' ')}: one line`);
    t.match(c.stderr, /^hmm-test: --(patch|kernel): unknown (patch 'nope'; the patches are migrate_vma_pages-no-invalidate|kernel '5.0'; the kernels are 6.12, 7.2)/);
  }
  const bad = cli(['smoke', '--patch', 'no-such-patch']);
  t.equal(bad.status, 1);
  t.match(bad.stderr, /^hmm-test: --patch: unknown patch 'no-such-patch'; the patches for kernel 6.12 are .*test_hmm-no-evict-on-close/);
  t.equal(bad.stderr.trim().split('\n').length, 1);
  const badRun = cli(['run', '--patch', 'nope', join(ROOT, 'scenarios/migrate-read-back.yaml')]);
  t.equal(badRun.status, 1);
  t.match(badRun.stderr, /unknown patch 'nope'/);
  const cfg = join(dir, 'c.yaml');
  writeFileSync(cfg, 'patches: [dmirror_do_fault-backing-page]\n');
  const rep = join(dir, 'r.yaml');
  const ok = cli(['smoke', '--config', cfg, '--patch', 'test_hmm-no-evict-on-close', '-t', 'open_close', '--report', rep]);
  t.equal(ok.status, 0, ok.stderr);
  t.same(parseYaml(readFileSync(rep, 'utf8')).configuration.patches, ['dmirror_do_fault-backing-page', 'test_hmm-no-evict-on-close']);
  writeFileSync(cfg, 'patches: [bogus]\n');
  const badCfg = cli(['smoke', '--config', cfg]);
  t.equal(badCfg.status, 1);
  t.match(badCfg.stderr, /c\.yaml: patches: unknown patch 'bogus'/);
  const twice = cli(['run', '--patch', 'dmirror_do_fault-backing-page', join(ROOT, 'scenarios/dmirror-do-read-fixed.yaml')]);
  t.equal(twice.status, 1, 'a patch its config has already: refused before anything runs');
  t.match(twice.stderr, /patch 'dmirror_do_fault-backing-page' is in kernel 6.12 already/);
  const srep = join(dir, 's.yaml');
  const junit = join(dir, 's.xml');
  const r = cli(['run', '--patch', 'dmirror_do_fault-backing-page', '--report', srep, '--junit', junit, join(ROOT, 'scenarios/migrate-read-back.yaml')]);
  t.match(readFileSync(junit, 'utf8'), /<property name="kernel.profile" value="6\.12 \+ dmirror_do_fault-backing-page"\/>/, 'JUnit: the kernel property names the patch');
  t.equal(r.status, 0, r.stderr);
  t.match(r.stdout, /\(kernel 6\.12 \+ dmirror_do_fault-backing-page, /, 'the scenario line names the patch');
  const sr = parseYaml(readFileSync(srep, 'utf8'));
  t.equal(sr.scenarios[0].kernel, '6.12');
  t.same(sr.scenarios[0].patches, ['dmirror_do_fault-backing-page']);
});
