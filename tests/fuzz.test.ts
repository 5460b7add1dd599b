// SPDX-License-Identifier: GPL-2.0-only
/*
 * hmm-test fuzz: a fixed-seed batch is deterministic and clean in private
 * in private, coherent and generic mode; built scenarios are what the
 * parser makes of their text; the known 6.12 dmirror_do_read() oops is
 * classified as such; the CLI. Broken models: fuzz_break.test.ts.
 */
import t from 'tap';
import { readFileSync, readdirSync, mkdtempSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT } from './helpers.js';
import { fuzz, runFuzzScenario, generate, scenarioText, buildScenario, DEFAULT_GEN, type FuzzMode, type GenOptions } from '../src/scenario/fuzz.js';
import { parseScenario } from '../src/scenario/parse.js';

const PRIVATE: FuzzMode = { kind: 'private' };
const COHERENT: FuzzMode = { kind: 'coherent', spm0: 0x100000000, spm1: 0x140000000 };
const GENERIC: FuzzMode = { kind: 'generic', spm0: 0x100000000, spm1: 0x140000000 };


for (const [name, mode] of [['private', PRIVATE], ['coherent', COHERENT], ['generic (both UAPIs)', GENERIC]] as const) {
  t.test(`a fixed-seed batch in ${name} mode completes, clean and deterministic`, (t) => {
    const a = fuzz(7, 2, mode), b = fuzz(7, 2, mode);
    const summary = (s: typeof a) => ({ ...s, actionMs: 0 });
    t.same(summary(a), summary(b), 'the same seed gives the same summary');
    t.equal(a.scenarios, 2);
    t.equal(a.passed + a.known, 2, 'every scenario passed or hit known 6.12 behaviour');
    t.same(a.failures.filter((f) => !f.known), [], 'no model failure');
    t.ok(a.actions >= 2 * DEFAULT_GEN.minActions / 2, `${a.actions} actions ran`);
    t.not(JSON.stringify(fuzz(8, 1, mode)), JSON.stringify(a), 'another seed, other scenarios');
    t.same(fuzz(7, 1, mode, { deep: true }).failures.filter((f) => !f.known), [], 'with the free lists walked too');
    t.end();
  });
}

t.test('the built scenario is what parse.ts makes of its text, for every kind of action, in the three modes', (t) => {
  const strip = (x: unknown) => JSON.parse(JSON.stringify(x));
  const kinds = new Set<string>();
  let thp = 0;
  for (const mode of [PRIVATE, COHERENT, GENERIC]) {
    for (let i = 0; i < 4; i++) {
      const acts = generate(5, i, mode), text = scenarioText(acts, mode, `fuzz seed 5 #${i}`);
      const built = buildScenario(acts, mode, `fuzz seed 5 #${i}`, 'f.yaml'), parsed = parseScenario(text, 'f.yaml');
      const walk = (xs: typeof built.steps): void => { for (const x of xs) { kinds.add(x.op); if (x.kind === 'fork' || x.kind === 'thread') walk(x.steps); } };
      walk(built.steps);
      thp += acts.filter((a) => /type: thp/.test(a.lines[0])).length;
      t.same(strip(built), strip(parsed), `seed 5 #${i} ${mode.kind}: ${acts.length} actions, the same steps, positions, names and config`);
    }
  }
  t.same([...kinds].sort(), ['CHECK_EXCLUSIVE', 'EXCLUSIVE', 'MIGRATE_TO_DEV', 'MIGRATE_TO_SYS', 'READ', 'RELEASE', 'SNAPSHOT', 'WRITE',
    'V5_MIGRATE', 'V5_READ', 'V5_SNAPSHOT', 'V5_WRITE', 'exit', 'fork', 'join', 'load', 'madvise', 'mmap', 'mprotect', 'munmap', 'open', 'store', 'thread'].filter((k) => kinds.has(k) || k !== 'exit').sort(), 'every kind of action is generated');
  t.ok(thp > 0, `THP windows too (${thp})`);
  t.end();
});

t.test('the 6.12 dmirror_do_read() oops is known 6.12 behaviour, not a model failure', (t) => {
  const text = readFileSync(join(ROOT, 'scenarios/dmirror-do-read-oops-mprotect.yaml'), 'utf8').replace(/, expect: \{ report: \{ oops: dmirror_do_read \} \} \}/, ' }');
  const o = runFuzzScenario(text, 'x.yaml');
  t.equal(o.kind, 'report oops dmirror_do_read');
  t.equal(o.known, true);
  // Found by seed 2: hmm_range_fault() hands the device its own read-only device-private page for a write; 6.12 WARNs.
  const warn = runFuzzScenario(['config:', '  kernel: "6.12"', 'steps:', '  - open: 0', '  - mmap: { name: b0, pages: 5 }',
    '  - mprotect: { buf: b0, pages: "3-4", prot: r }', '  - MIGRATE_TO_DEV: { dev: dmirror0, buf: b0, pages: "1-3" }',
    '  - WRITE: { dev: dmirror0, buf: b0, pages: "2-3", data: index+8 }', ''].join('\n'), 'w.yaml');
  t.equal(warn.kind, 'report warn dmirror_do_fault');
  t.equal(warn.known, true, 'dmirror_do_fault()\'s WARN_ON for a read-only entry is 6.12 behaviour with private devices');
  t.end();
});

t.test('hmm-test fuzz as a user runs it', (t) => {
  const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: '1' };
  delete env.NODE_OPTIONS;
  const out = mkdtempSync(join(tmpdir(), 'hmm-fuzz-'));
  const hmm = (args: string[]) => spawnSync(join(ROOT, 'bin/hmm-test'), args, { encoding: 'utf8', env, cwd: ROOT });
  const ok = hmm(['fuzz', '--seed', '7', '--count', '2', '--deep', '--coherent', '0x100000000', '0x140000000', '--out', out]);
  t.equal(ok.status, 0, ok.stderr);
  t.match(ok.stdout, /^fuzz seed 7 coherent: 2 scenarios, \d+ actions: \d+ passed, \d+ known 6\.12 behaviour, 0 model failure\(s\) \(\d+ actions\/s\)\n$/m);
  const c = hmm(['fuzz', '--seed', '2', '--count', '2', '--emit-c', '--out', out]);
  t.equal(c.status, 0, c.stderr);
  t.same(readdirSync(out).filter((f) => f.startsWith('fuzz-2-')).sort(), ['fuzz-2-0.c', 'fuzz-2-0.yaml', 'fuzz-2-1.c', 'fuzz-2-1.yaml']);
  for (const f of ['fuzz-2-0', 'fuzz-2-1']) {
    // As tests/emit_c.test.ts compiles the examples' programs.
    const cc = spawnSync('gcc', ['-static', '-pthread', '-Wall', '-Wextra', '-Werror', '-Wno-unused-function', '-Wno-unused-parameter', '-O1',
      '-o', join(out, f), join(out, `${f}.c`)], { encoding: 'utf8' });
    t.equal(cc.status, 0, `${f}.c compiles: ${cc.stderr}`);
  }
  const replayed = hmm(['run', join(out, 'fuzz-2-0.yaml')]);
  t.equal(replayed.status, 0, 'a generated scenario replays with hmm-test run');
  for (const [args, msg] of [
    [['fuzz', '--count', '0'], /^hmm-test: --count "0" is not a count: give an integer from 1 to 9999999\n$/],
    [['fuzz', '--coherent'], /^hmm-test: --coherent needs the two SPM addresses/],
    [['fuzz', '0x100000000'], /^hmm-test: fuzz takes no address \(private devices\) or two/],
    [['fuzz', '--seed', 'x'], /^hmm-test: --seed "x" is not a seed/],
  ] as const) {
    const r = hmm([...args]);
    t.equal(r.status, 1, args.join(' '));
    t.match(r.stderr, msg);
  }
  t.end();
});
