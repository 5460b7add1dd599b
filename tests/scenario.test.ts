// SPDX-License-Identifier: GPL-2.0-only
/*
 * Scenarios: the parser's one-line errors, the interpreter's observations
 * and checks, `hmm-test run` as a user runs it, the examples in
 * scenarios/, and break-it tests showing the checks catch a broken model.
 */
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { readFileSync, readdirSync, writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { XMLParser } from 'fast-xml-parser';
import { parse as parseYaml } from 'yaml';
import { ROOT } from './helpers.js';
import { parseScenario } from '../src/scenario/parse.js';
import { runScenario, type Check } from '../src/scenario/run.js';
import { MADVICE } from '../src/scenario/names.js';
import type { BootedCase } from '../src/runner.js';
import { loadScenarios } from '../src/cli/run.js';
import { UsageError } from '../src/cli/args.js';

const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: '1' };
delete env.NODE_OPTIONS;
const hmmTest = (args: string[]) => spawnSync(join(ROOT, 'bin/hmm-test'), args, { encoding: 'utf8', env, cwd: ROOT });
const tmp = mkdtempSync(join(tmpdir(), 'hmm-scenario-'));
const examples = readdirSync(join(ROOT, 'scenarios')).filter((f) => f.endsWith('.yaml')).sort().map((f) => join('scenarios', f));
const example = (name: string) => readFileSync(join(ROOT, 'scenarios', name), 'utf8');

/** Run a scenario text in this process: its lines and checks. */
function run(text: string, onKernel?: (c: BootedCase) => void, showPages = false): { lines: string[]; checks: Check[] } {
  const lines: string[] = [];
  const r = runScenario(parseScenario(text, 'x.yaml'), { line: (l) => lines.push(l), check: () => {}, onKernel, showPages });
  return { lines, checks: r.checks };
}
const failedChecks = (checks: Check[]) => checks.filter((c) => !c.ok).map((c) => c.name);

t.test('every example in scenarios/ runs and passes: hmm-test run scenarios/*.yaml', (t) => {
  t.ok(examples.length >= 8, 'the examples are there');
  const r = hmmTest(['run', ...examples]);
  t.equal(r.status, 0, r.stderr);
  t.equal(r.stderr, '');
  t.notMatch(r.stdout, /^not ok/m);
  const n = Number(/^1\.\.(\d+)$/m.exec(r.stdout)?.[1]);
  t.equal((r.stdout.match(/^ok \d+ /gm) ?? []).length, n, 'the plan counts every check');
  for (const f of examples) t.match(r.stdout, new RegExp(`^# scenario ${f}: `, 'm'), `${f} ran`);
  // The 6.12 dmirror_do_read() oops, in each of its three ways in.
  t.equal((r.stdout.match(/^REPORT oops dmirror_do_read: BUG: unable to handle page fault for address: \w+ \(model: memcpy_from_page\(\): read of device-private page/gm) ?? []).length, 3);
  // Four oops examples: the three above and dmirror-do-write-oops (memcpy_to_page(), the same 6.12 bug on a WRITE).
  t.equal((r.stdout.match(/unload: every page back, no report # SKIP after the oops at /g) ?? []).length, 4);
  t.end();
});

t.test('a failing expectation fails the run, saying what was seen', (t) => {
  const f = join(tmp, 'wrong.yaml');
  writeFileSync(f, example('migrate-read-back.yaml').replace('cpages: 16 } }', 'cpages: 15 } }'));
  const r = hmmTest(['run', f]);
  t.equal(r.status, 1);
  t.match(r.stdout, /^not ok \d+ - wrong\.yaml:\d+:\d+ MIGRATE_TO_DEV cpages 15\n# {3}got 16, expected 15$/m);
  t.match(r.stdout, /^# FAILED: /m);
  t.end();
});

t.test('a bad file: one line with file:line:column, what was found and what was expected; exit 1 (bad usage); nothing runs', (t) => {
  const cases: Array<[string, RegExp]> = [
    ['steps: [ { mmap: { name: a, pages: x } } ]', /^bad\.yaml:1:36: scenario\.steps\[0\]\.mmap\.pages: found "x", expected a number of 4 KiB pages/],
    ['steps:\n  - mmap: { name: a, pages: 4 }\n  - load: { buf: b }', /^bad\.yaml:3:18: .*found 'b', expected a buffer made earlier: a$/],
    ['config: { kernel: "6.6" }\nsteps: []', /^bad\.yaml:1:19: scenario\.config\.kernel: found "6\.6", expected a kernel version .*6\.12/],
    ['steps:\n  - READ: { dev: d0, buf: a }', /^bad\.yaml:2:18: .*found 'd0', expected an open device/],
    ['steps: [ {foo: 1} ]', /^bad\.yaml:1:11: scenario\.steps\[0\]: found the action 'foo', expected an action: mmap/],
    ['steps:\n  - open: 0\n  - mmap: { name: a }\n  - SNAPSHOT: { dev: dmirror0, buf: a, expect: { snapshot: [READ, READ] } }',
      /^bad\.yaml:4:60: .*snapshot: found 2 page\(s\), expected one entry per page of the command: 1$/],
    ['steps:\n  - open: 0\n  - mmap: { name: a }\n  - SNAPSHOT: { dev: dmirror0, buf: a, expect: { snapshot: [BOGUS] } }',
      /^bad\.yaml:4:61: .*found "BOGUS", expected HMM_DMIRROR_PROT_\* names/],
    ['steps:\n  - mmap: { name: a }\n  - madvise: { buf: a, advice: MADV_BOGUS }', /^bad\.yaml:3:32: .*found "MADV_BOGUS", expected an advice the model knows: MADV_/],
    ['steps:\n  - open: 0\n  - mmap: { name: a }\n  - READ: { dev: dmirror0, buf: a, expect: { ret: EWHAT } }', /^bad\.yaml:4:51: .*found "EWHAT", expected 0 or an errno name/],
    ['steps:\n  - mmap: { name: a }\n  - store: { buf: a, expect: { signal: SIGSEGV } }\n  - load: { buf: a }', /^bad\.yaml:4:5: .*found another action, expected nothing after an action that kills the process/],
    ['steps:\n  - exit: 0', /^bad\.yaml:2:5: .*found exit, expected exit only as a forked child's last action/],
    ['steps: [ ', /^bad\.yaml:\d+:\d+: not valid YAML: /],
    ['config:\n  machine: { ram: 3 }\nsteps: []', /^bad\.yaml:2:12: scenario\.config\.machine\.ram must be a multiple of 2M/],
    ['config:\n  module: { spm_addr_dev0: 0x100000000 }\nsteps: []', /^bad\.yaml:2:3: config\.module: spm_addr_dev0 and spm_addr_dev1 go together/],
    ['steps:\n  - mmap: { name: a, pages: 3 }\n  - load: { buf: a, pages: 2-3 }', /^bad\.yaml:3:28: .*found "2-3", expected pages inside a, which has 3 \(0-2\)$/],
    ['', /^bad\.yaml:1:1: found an empty file, expected a scenario/],
  ];
  // The CLI's own path (read, parse, check the module parameters), in this process; the CLI itself below.
  for (const [text, want] of cases) {
    const f = join(tmp, 'bad.yaml');
    writeFileSync(f, text);
    let msg = '';
    try {
      loadScenarios([f]);
    } catch (e) {
      t.type(e, UsageError, text);
      msg = (e as Error).message;
    }
    t.notMatch(msg, /\n/, 'one line');
    t.match(msg.replace(`${tmp}/`, ''), want);
  }
  writeFileSync(join(tmp, 'bad.yaml'), cases[0][0]);
  for (const args of [['run', join(tmp, 'bad.yaml')], ['run'], ['run', join(tmp, 'missing.yaml')], ['run', '--show', 'vmas', examples[0]]]) {
    const r = hmmTest(args);
    t.equal(r.status, 1, args.join(' '));
    t.equal(r.stdout, '', 'nothing ran');
    t.equal(r.stderr.trimEnd().split('\n').length, 1, r.stderr);
    t.notMatch(r.stderr, /\n {4}at /, 'no stack trace');
  }
  t.end();
});

t.test('madvise takes every advice madvise.ts knows, by its C name, and passes it through', (t) => {
  t.ok(MADVICE.has('MADV_HUGEPAGE') && MADVICE.has('MADV_NOHUGEPAGE'));
  for (const name of MADVICE.keys()) {
    const { lines } = run(`steps:\n  - mmap: { name: a, pages: 4 }\n  - madvise: { buf: a, advice: ${name} }`);
    t.match(lines.join('\n'), new RegExp(`^MADVISE a pages=0-3 ${name} ret=`, 'm'), name);
  }
  t.end();
});

t.test('observations: TRACE lines as --trace prints them, DATA lines, SIGNAL and EXIT', (t) => {
  const { lines, checks } = run(example('fork-half-migrated.yaml'));
  t.same(failedChecks(checks), []);
  t.ok(lines.includes('TRACE MIGRATE_TO_DEV npages=4 ret=0 cpages=4 faults=0'));
  t.ok(lines.includes('child: DATA LOAD buf pages=0-7 = index'));
  t.ok(lines.includes('EXIT child exited 0'));
  t.ok(lines.includes('DATA SNAPSHOT buf pages=0-7 READ*8'));
  const sig = run('steps:\n  - mmap: { name: a, pages: 2 }\n  - mprotect: { buf: a, pages: 1, prot: r }\n  - store: { buf: a, expect: { signal: SIGSEGV } }');
  t.ok(sig.lines.includes('SIGNAL SIGSEGV a page 1'), 'the store faults on the read-only page');
  t.same(failedChecks(sig.checks), []);
  const unexpected = run('steps:\n  - mmap: { name: a, pages: 2 }\n  - munmap: { buf: a, pages: 0 }\n  - load: { buf: a }\n  - load: { buf: a }');
  t.same(failedChecks(unexpected.checks), ['x.yaml:4:5 load no signal'], 'an unexpected signal fails, and the process is gone');
  t.equal(unexpected.lines.filter((l) => l.startsWith('DATA LOAD')).length, 0);
  t.end();
});

t.test('threads interleave under the scheduler: the same seed gives the same run, other seeds other outcomes', (t) => {
  const text = (seed: number) => `config: { seed: ${seed} }
steps:
  - open: 0
  - mmap: { name: a, pages: 1024 }
  - store: { buf: a }
  - thread: { name: unmapper, steps: [ { sleep: { upto: 32000 } }, { munmap: { buf: a, pages: 512-1023 } } ] }
  - READ: { dev: dmirror0, buf: a }
  - join: unmapper`;
  t.same(run(text(5)).lines, run(text(5)).lines);
  const outcomes = new Set<string>();
  for (let seed = 1; seed <= 12; seed++) {
    const { lines, checks } = run(text(seed));
    t.same(failedChecks(checks), [], `seed ${seed}`);
    outcomes.add(lines.find((l) => l.startsWith('TRACE READ'))!.replace(/cpages=\d+ faults=\d+/, ''));
  }
  t.ok(outcomes.has('TRACE READ npages=1024 ret=0 '), 'READ first');
  t.ok([...outcomes].some((o) => o.includes('ret=-14')), 'unmap first: -EFAULT');
  t.end();
});

t.test('--show pages: the whiteboard picture after each action', (t) => {
  const r = hmmTest(['run', '--show', 'pages', 'scenarios/snapshot-mixed.yaml']);
  t.equal(r.status, 0, r.stderr);
  t.match(r.stdout, /^# page map: one character a page/m);
  t.match(r.stdout, /^MAP {3}buf {10}\|\.\.zrw01\|\nMAP {5}dmirror0 {3}\|\.\.\.\.\.w\.\|\nMAP {5}dmirror1 {3}\|\.\.\.\.\.\.w\|$/m);
  const excl = run(example('exclusive-then-cpu-write.yaml'), undefined, true).lines;
  t.ok(excl.includes('MAP   buf          |XXXX|') && excl.includes('MAP     dmirror0   |aaaa|'), 'device-exclusive entries, atomic mirror entries');
  t.ok(excl.includes('MAP   buf          |wXXX|') && excl.includes('MAP     dmirror0   |..aa|'));
  t.end();
});

t.test('--report and --junit: one case per scenario, readable by a YAML and an XML parser', (t) => {
  const f = join(tmp, 'wrong2.yaml');
  writeFileSync(f, example('snapshot-mixed.yaml').replace('"ZERO|READ", READ', '"ZERO|READ", WRITE'));
  const rep = join(tmp, 'r.yaml'), xml = join(tmp, 'r.xml');
  const r = hmmTest(['run', '--report', rep, '--junit', xml, 'scenarios/migrate-read-back.yaml', f]);
  t.equal(r.status, 1);
  const doc = parseYaml(readFileSync(rep, 'utf8'));
  t.same(doc.scenarios.map((s: { status: string }) => s.status), ['pass', 'fail']);
  t.match(doc.scenarios[1].checks.find((c: { status: string }) => c.status === 'fail').detail, /page 3 is READ, expected WRITE/);
  const j = new XMLParser({ ignoreAttributes: false, attributeNamePrefix: '' }).parse(readFileSync(xml, 'utf8'));
  t.equal(j.testsuites.tests, '2');
  t.equal(j.testsuites.failures, '1');
  t.end();
});

t.test('break it: the checks catch a broken model', (t) => {
  // A copy_page that copies nothing: the device reads zeroes after the migration.
  const nocopy = run(example('migrate-read-back.yaml'), (c) => { c.k.arch.copyPage = () => {}; });
  t.ok(failedChecks(nocopy.checks).some((n) => / READ data index$/.test(n)), 'the READ data check fails');
  t.ok(nocopy.lines.some((l) => /^DATA READ buf pages=0-15 != index: page 0 int 1 is 0, expected 1$/.test(l)));
  // A page_free that loses device pages: the unload check reports them.
  const lost = run(example('migrate-read-back.yaml'), (c) => { c.mod.devmemOps.pageFree = () => {}; });
  t.same(failedChecks(lost.checks), ['x.yaml unload: every page back, no report']);
  t.ok(lost.lines.some((l) => /^UNLOAD .*device pages not back on the free list/.test(l)));
  // An oops expected where none comes: the run fails, saying so.
  const noOops = run(example('dmirror-do-read-oops-mprotect.yaml').replace(/ {2}- mprotect:.*\n/, ''));
  t.same(failedChecks(noOops.checks), ['x.yaml:28:5 READ report oops dmirror_do_read']);
  // An oops nobody expected fails the action that caused it.
  const oops = run(example('dmirror-do-read-oops-mprotect.yaml').replace(/, expect: \{ report: \{ oops: dmirror_do_read \} \} \}/, ' }'));
  t.same(failedChecks(oops.checks), ['x.yaml:29:5 READ no kernel report']);
  t.end();
});
