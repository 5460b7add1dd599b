// SPDX-License-Identifier: GPL-2.0-only
/*
 * Kernel changes as named switches (changes.ts): the registry, profile
 * composition with patches and reverts, Kernel.has(), `hmm-test kernels`,
 * and the one-line errors for unknown names.
 */
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { ROOT } from '../helpers.js';
import { Kernel } from '../../src/kernel-model/kernel.js';
import { type KernelChange, type KernelProfile, KernelVersion, composeKernel, describeKernels, kernelChanges, kernelProfiles,
  DEFAULT_KERNEL, MAINLINE, MAKE_DEVICE_EXCLUSIVE, DEVICE_EXCLUSIVE_NO_EBUSY, TEST_HMM_EVICT_ON_CLOSE,
  TEST_HMM_REDUCE_STACK } from '../../src/kernel-model/changes.js';

const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: '1' };
delete env.NODE_OPTIONS;
const cli = (args: string[]) => spawnSync(join(ROOT, 'bin/hmm-test'), args, { encoding: 'utf8', env });

const compose = (profile?: string, patches?: string[]): KernelVersion => {
  const v = composeKernel(profile, patches);
  if ('error' in v) throw new Error(v.error);
  return v;
};

t.test('the registry: unique names, indices in order, every change says what it is and where it comes from', (t) => {
  const all = kernelChanges();
  t.ok(all.length >= 9);
  t.same(all.map((c) => c.index), all.map((_c, i) => i), 'index = position: the byte a KernelVersion keeps for it');
  t.equal(new Set(all.map((c) => c.name)).size, all.length, 'names are unique');
  for (const c of all) {
    t.match(c.name, /^[a-z0-9_.-]+$/, `${c.name}: a name for the command line`);
    for (const f of ['subject', 'author', 'release', 'source', 'what'] as const) t.ok(c[f].length > 0, `${c.name}: ${f}`);
    for (const r of c.requires) t.ok(all.includes(r), `${c.name} needs a registered change`);
  }
  t.end();
});

t.test('profiles: 6.12 is the default and the reference; the mainline profile is named after 7.2', (t) => {
  t.equal(DEFAULT_KERNEL, '6.12');
  t.equal(MAINLINE, '7.2');
  t.same(kernelProfiles().map((p) => p.name), ['6.12', '7.2']);
  const v612 = compose(), main = compose(MAINLINE);
  t.same(v612.changes().map((c) => c.name), ['test_hmm-evict-on-close'], '6.12.117 has the evict-on-close backport only');
  t.ok(main.changes().length > v612.changes().length);
  for (const c of v612.changes()) t.ok(main.has(c), `mainline keeps ${c.name}`);
  for (const p of kernelProfiles()) {
    const v = compose(p.name);
    for (const c of v.changes()) for (const r of c.requires) t.ok(v.has(r), `${p.name}: ${c.name} has what it needs`);
  }
  t.equal(main.label, '7.2');
  t.end();
});

t.test('Kernel.has() reads the version it was booted with', (t) => {
  const k612 = new Kernel(), kmain = new Kernel({ version: compose(MAINLINE) });
  t.equal(k612.version.profile, '6.12', 'default: 6.12');
  t.ok(k612.has(TEST_HMM_EVICT_ON_CLOSE));
  t.notOk(k612.has(MAKE_DEVICE_EXCLUSIVE));
  t.ok(kmain.has(MAKE_DEVICE_EXCLUSIVE));
  t.ok(kmain.has(TEST_HMM_REDUCE_STACK));
  t.end();
});

t.test('patches: a change no profile has, added on top; requires checked', (t) => {
  const v = compose('6.12', ['make_device_exclusive']);
  t.ok(v.has(MAKE_DEVICE_EXCLUSIVE));
  t.notOk(v.has(DEVICE_EXCLUSIVE_NO_EBUSY));
  t.equal(v.label, '6.12 + make_device_exclusive');
  const e = composeKernel('6.12', ['make_device_exclusive-no-ebusy']);
  t.same(e, { error: "'make_device_exclusive-no-ebusy' needs 'make_device_exclusive', which kernel 6.12 + make_device_exclusive-no-ebusy does not have" });
  t.end();
});

t.test('a patch that reverts a profile change takes it out (the shape of issue 13\'s historical patches)', (t) => {
  // A registry of its own, so the test adds nothing to the real one.
  const mk = (index: number, name: string, extra: Partial<KernelChange> = {}): KernelChange => ({
    name, index, subject: name, author: 'a', release: 'r', source: 's', what: 'w', requires: [], reverts: null, ...extra,
  });
  const fix = mk(0, 'fix'), user = mk(1, 'user-of-fix', { requires: [fix] }), unfix = mk(2, 'unfix', { reverts: fix });
  const proposed = mk(3, 'proposed');
  const all = [fix, user, unfix, proposed];
  const profiles: KernelProfile[] = [{ name: 'old', description: 'd', suite: '6.12', changes: [] }, { name: 'new', description: 'd', suite: '6.12', changes: [fix] },
    { name: 'newer', description: 'd', suite: '6.12', changes: [fix, user] }];
  const v = composeKernel('new', ['unfix', 'proposed'], profiles, all) as KernelVersion;
  t.ok(v instanceof KernelVersion);
  t.same(v.changes(all).map((c) => c.name), ['proposed'], 'fix reverted, proposed added');
  t.match(composeKernel('old', ['unfix'], profiles, all), { error: "patch 'unfix' reverts 'fix', which kernel old does not have" });
  t.match(composeKernel('newer', ['unfix'], profiles, all), { error: /'user-of-fix' needs 'fix'/ }, 'a revert cannot leave a user behind');
  t.match(composeKernel('new', ['fix'], profiles, all), { error: "patch 'fix' is in kernel new already; the kernels and their changes: hmm-test kernels" });
  t.end();
});

t.test('unknown names are one-line errors that list the known ones', (t) => {
  const e1 = composeKernel('6.13');
  t.same(e1, { error: "unknown kernel '6.13'; the kernels are 6.12, 7.2 (hmm-test kernels lists them)" });
  const e2 = composeKernel('7.2', ['no-such-patch']) as { error: string };
  t.match(e2.error, /^unknown patch 'no-such-patch'; the patches for kernel 7\.2 are /);
  t.notMatch(e2.error, /make_device_exclusive[,]|\n/, 'lists only what the kernel does not have, on one line');
  const e3 = composeKernel('6.12', ['no-such-patch']) as { error: string };
  t.match(e3.error, /make_device_exclusive, make_device_exclusive-no-ebusy, /, 'for 6.12: the mainline changes');
  t.end();
});

t.test('hmm-test kernels lists each profile with its changes and their upstream sources, then the patches', (t) => {
  const lines = describeKernels();
  t.equal(lines[0], 'kernel 6.12 (default): Linux 6.12.117 as the reference ran it (../shared/reference): the default');
  const main = lines.findIndex((l) => l.startsWith('kernel 7.2: '));
  t.ok(main > 0);
  for (const c of compose(MAINLINE).changes()) {
    const at = lines.indexOf(`  ${c.name}  (${c.release}, ${c.author})`, main);
    t.ok(at > main, `${c.name} under 7.2`);
    t.equal(lines[at + 1], `      ${c.subject}`);
    t.equal(lines[at + 3], `      source: ${c.source}`);
  }
  // The patches (changes no profile carries) follow the profiles, each with its source.
  const head = lines.indexOf('patches (--patch NAME, on top of a kernel):');
  t.ok(head > main, 'the patches come after the profiles');
  const patches = kernelChanges().filter((c) => !kernelProfiles().some((p) => p.changes.includes(c)));
  t.ok(patches.length >= 6);
  for (const c of patches) {
    const at = lines.indexOf(`  ${c.name}  (${c.release}, ${c.author})`, head);
    t.ok(at > head, `${c.name} among the patches`);
    t.equal(lines[at + 3], `      source: ${c.source}`);
  }
  const r = cli(['kernels']);
  t.equal(r.status, 0, r.stderr);
  t.equal(r.stdout, `${lines.join('\n')}\n`, 'the command prints the same');
  t.end();
});

t.test('--kernel and the config key: bad names are one line and exit 1 (bad usage, KSFT_FAIL); the reports say which kernel ran', (t) => {
  const bad = cli(['smoke', '--kernel', '6.13']);
  t.equal(bad.status, 1);
  t.equal(bad.stderr, "hmm-test: --kernel: unknown kernel '6.13'; the kernels are 6.12, 7.2 (hmm-test kernels lists them)\n");
  t.end();
});
