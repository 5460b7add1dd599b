// SPDX-License-Identifier: GPL-2.0-only
/*
 * The model against the real 6.12 kernel, without QEMU: every example in
 * scenarios/ was run in scripts/kbox's box (`scripts/kbox check`); its
 * logs are kept in scenarios/real-6.12/NAME.log. Each example's model run
 * now must diff the same against them, or differ exactly where the README's
 * table says the real 6.12 kernel cannot agree (and why).
 */
import t from 'tap';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from './helpers.js';
import { loadScenarios, runScenarios } from '../src/cli/run.js';
import { runScenario } from '../src/scenario/run.js';
import { diffLogs } from '../src/scenario/diff.js';
import type { Scenario } from '../src/scenario/scenario.js';
import type { BootedCase } from '../src/runner.js';

const REAL = join(ROOT, 'scenarios/real-6.12');

/**
 * Examples the real 6.12 kernel is not the kernel of: the patched ones run
 * on the model without their patches (the box runs plain 6.12); the rest
 * differ where they must, their first difference pinned here.
 */
const UNPATCHED = new Set(['close-use-after-free', 'dmirror-do-read-fixed']);
const DIFFERS: Record<string, { why: string; first: string[] }> = {
  'generic-chunk-type': {
    why: "the seed's generic mode and v5 UAPI are not in 6.12: its larger command structure makes other request numbers, which 6.12's dmirror_fops_unlocked_ioctl() rejects with -EINVAL",
    first: ['generic-chunk-type: observation 4 differs', '  model: TRACE MIGRATE_TO_DEV npages=4 ret=0 cpages=4 faults=0',
      '  real: TRACE MIGRATE_TO_DEV npages=4 ret=-22 cpages=0 faults=0'],
  },
  'device-public-fork-write': {
    why: "seed 004's DEVICE_PUBLIC is in no kernel with test_hmm: the box runs the program on 6.12's COHERENT devices, whose write fault reuses page 0 in place (the test below: the model on COHERENT agrees with it throughout)",
    first: ['device-public-fork-write: observation 16 differs', '  model: DATA SNAPSHOT buf pages=0-3 WRITE DEV_COHERENT_LOCAL|READ*3',
      '  real: DATA SNAPSHOT buf pages=0-3 DEV_COHERENT_LOCAL|WRITE DEV_COHERENT_LOCAL|READ*3'],
  },
  'stale-zero-page-second-device': {
    why: "a race by design: seed 1 runs thread t's READ inside MIGRATE_TO_DEV's window; in the box the thread ran after the migration",
    first: ['stale-zero-page-second-device: observation 4 differs', '  model: t: SLEEP ns=1500', '  real: THREAD t'],
  },
};

function modelLog(sc: Scenario): string {
  const lines: string[] = [];
  runScenarios([sc], { say: (l) => lines.push(l) });
  return lines.join('\n');
}

const load = (name: string): Scenario => loadScenarios([join(ROOT, 'scenarios', `${name}.yaml`)])[0];
// The box runs 6.12: an example on another kernel profile (make-device-exclusive-ebusy, 7.2) has no log of it.
const examples = readdirSync(join(ROOT, 'scenarios')).filter((f) => f.endsWith('.yaml')).map((f) => f.replace(/\.yaml$/, ''))
  .filter((n) => load(n).config.kernel === '6.12').sort();

t.test('every example has a log of its run on the real 6.12 kernel (scripts/kbox check)', (t) => {
  const logs = new Set(readdirSync(REAL).filter((f) => f.endsWith('.log')).map((f) => f.replace(/\.log$/, '')));
  for (const e of examples) t.ok(logs.has(e), `${e}: scenarios/real-6.12/${e}.log`);
  for (const l of logs) t.ok(examples.includes(l), `${l}.log belongs to an example`);
  t.end();
});

for (const name of examples) {
  t.test(`${name}: the model against the real 6.12 kernel`, (t) => {
    const real = readFileSync(join(REAL, `${name}.log`), 'utf8');
    t.match(real, /^# kbox: 6\.12\.\d+ /m, 'the log is a kbox run of 6.12');
    const sc = load(name);
    if (UNPATCHED.has(name)) {
      t.not(sc.config.patches.length, 0);
      const patched = diffLogs(modelLog(sc), real, 'model', 'real');
      t.notOk(patched.same, 'with its patch the model is not plain 6.12');
      sc.config.patches = [];
    }
    const d = diffLogs(modelLog(sc), real, 'model', 'real');
    const known = DIFFERS[name];
    if (known) t.same(d.lines, known.first, known.why);
    else t.ok(d.same, d.lines.join('\n'));
    t.end();
  });
}

t.test('device-public-fork-write on the model\'s COHERENT devices: the same as the real 6.12 run of it', (t) => {
  const sc = load('device-public-fork-write');
  sc.config.params = { ...sc.config.params, spm_type: 'coherent' };
  const d = diffLogs(modelLog(sc), readFileSync(join(REAL, 'device-public-fork-write.log'), 'utf8'), 'model', 'real');
  t.ok(d.same, d.lines.join('\n'));
  t.end();
});

t.test('break it: a model whose copy_page() copies nothing no longer agrees with the real kernel', (t) => {
  const sc = load('migrate-read-back');
  const lines: string[] = [`# scenario ${sc.file}: ${sc.name}`];
  runScenario(sc, { line: (l) => lines.push(l), check: () => {}, onKernel: (c: BootedCase) => { c.k.arch.copyPage = () => {}; } });
  const d = diffLogs(lines.join('\n'), readFileSync(join(REAL, 'migrate-read-back.log'), 'utf8'), 'model', 'real');
  t.notOk(d.same);
  t.match(d.lines[1], /model: DATA READ buf pages=0-15 != index/);
  t.end();
});
