// SPDX-License-Identifier: GPL-2.0-only
/*
 * What CI tools read: the TAP output through an npm TAP parser, and the
 * JUnit XML through an XML parser, on a run with a pass, a failure and a
 * skip-free result, and on a run with a failure.
 */
import t from 'tap';
import { Parser } from 'tap-parser';
import { XMLParser, XMLValidator } from 'fast-xml-parser';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { smoke, PRIVATE, SHARED } from './helpers.js';
import { junitXml } from '../src/cli/junit.js';
import { runInfo } from '../src/cli/run-info.js';
import { defaultMachine } from '../src/kernel-model/machine.js';
import { junitSchemaErrors } from './junit-schema.js';
import type { TestHmmParams } from '../src/dmirror/test_hmm.js';

const info = (params: TestHmmParams = PRIVATE) => runInfo({
  params, machine: defaultMachine(), filters: [], configFile: null, paramsFromConfig: false, argv: ['smoke'], timeoutS: 30, bail: false,
});

function parseTap(text: string): Promise<{ ok: boolean; count: number; pass: number; fail: number; skip: number; names: string[] }> {
  return new Promise((resolve) => {
    const names: string[] = [];
    const p = new Parser((r) => resolve({ ok: r.ok, count: r.count, pass: r.pass, fail: r.fail, skip: r.skip, names }));
    p.on('assert', (a: { name: string }) => names.push(a.name));
    p.end(text);
  });
}

t.test('a TAP parser reads hmm-test smoke output with the right counts and names', async (t) => {
  const { out, result } = smoke({ params: PRIVATE });
  const r = await parseTap(out.join('\n') + '\n');
  const n = result.results.length;
  t.same([r.ok, r.count, r.pass, r.fail, r.skip], [true, n, n, 0, n / 2], 'private variants pass, coherent variants skip');
  // The real harness's order (fixture, variant, case), from the real kernel's log: our names in the same order,
  // with the seed's migrate_ping_pong last in each hmm variant.
  const real = readFileSync(join(SHARED, 'reference', 'private.thp-madvise.tap.log'), 'utf8').split('\n')
    .map((l) => /^(?:not )?ok \d+ (\S+)/.exec(l)?.[1]).filter((x): x is string => x !== undefined);
  t.equal(real.length, 58);
  const ours = new Set(r.names);
  const expected: string[] = [];
  for (const name of real) {
    if (ours.has(name)) expected.push(name);
    const next = real[real.indexOf(name) + 1];
    if (name.startsWith('hmm.') && (next === undefined || next.split('.')[1] !== name.split('.')[1])) {
      expected.push(`hmm.${name.split('.')[1]}.migrate_ping_pong`);
    }
  }
  t.same(r.names, expected);
});

t.test('a failing run: the TAP parser and the JUnit XML both see the failure', async (t) => {
  const run = smoke({ params: PRIVATE, filter: (_f, v, c) => v === 'hmm_device_private' && (c === 'migrate' || c === 'open_close'), onKernel: (k) => { k.arch.copyPage = () => {}; } });
  const r = await parseTap(run.out.join('\n') + '\n');
  t.same([r.ok, r.count, r.pass, r.fail], [false, 2, 1, 1]);
  const xml = junitXml(info(), run.result);
  t.equal(XMLValidator.validate(xml), true, 'well-formed XML');
  t.same(junitSchemaErrors(xml), [], 'valid by the Jenkins xunit schema');
  const doc = new XMLParser({ ignoreAttributes: false, attributeNamePrefix: '' }).parse(xml);
  t.equal(doc.testsuites.tests, '2');
  t.equal(doc.testsuites.failures, '1');
  const suite = doc.testsuites.testsuite;
  t.equal(suite.name, 'hmm-tests.private.hmm.hmm_device_private');
  const [pass, fail] = suite.testcase;
  t.same([pass.classname, pass.name, pass.failure], ['hmm-tests.private.hmm.hmm_device_private', 'open_close', undefined]);
  t.equal(fail.name, 'migrate');
  t.match(fail.failure.message, /Expected ptr\[i\] \(0\) == i \(1\)/);
  t.equal(fail.failure.type, 'AssertionFailure');
});

t.test('JUnit XML escapes what XML cannot hold and reports skips', (t) => {
  const i = info();
  i.argv = ['smoke', '--config', 'a<&>"b.yaml'];
  const xml = junitXml(i, { exitCode: 0, planned: 1, pass: 0, fail: 0, skip: 1, results: [
    { name: 'f.v.c', status: 'skip', reason: 'no "device" & <memory>\u0001', messages: [], failures: [], durationMs: 1 }] });
  t.equal(XMLValidator.validate(xml), true);
  t.same(junitSchemaErrors(xml), []);
  const doc = new XMLParser({ ignoreAttributes: false, attributeNamePrefix: '' }).parse(xml);
  t.equal(doc.testsuites.testsuite.properties.property.find((p: { name: string }) => p.name === 'command.line').value, `hmm-test smoke --config 'a<&>"b.yaml'`);
  t.equal(doc.testsuites.testsuite.testcase.skipped.message, 'no "device" & <memory>');
  t.end();
});

t.test('pretty format: one line per case, the failed assertion under it, a summary', async (t) => {
  const { prettyCase, prettySummary } = await import('../src/cli/pretty.js');
  const strip = (s: string) => s.replace(/\u001b\[[0-9;]*m/g, '');
  const { Chalk } = await import('chalk');
  const c = new Chalk({ level: 1 });
  const fail = prettyCase({ name: 'hmm.v.migrate', status: 'fail', messages: ['# hmm-tests.c:41:migrate:Expected ptr[i] (0) == i (1)'], failures: [{ kind: 'assertion', message: '' }], durationMs: 12.4 }, c);
  t.same(fail.map(strip), ['✗ hmm.v.migrate (12 ms) [assertion]', '    hmm-tests.c:41:migrate:Expected ptr[i] (0) == i (1)']);
  t.same(prettyCase({ name: 'a.b.c', status: 'skip', reason: 'no device', messages: [], failures: [], durationMs: 0 }, c).map(strip), ['- a.b.c skipped: no device']);
  t.equal(strip(prettySummary({ exitCode: 1, planned: 0, pass: 4, fail: 1, skip: 1, results: [] }, c, () => '').join('\n')), '4 passed, 1 failed, 1 skipped');
  const { spawnSync } = await import('node:child_process');
  const { join } = await import('node:path');
  const { ROOT } = await import('./helpers.js');
  const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: '1' };
  delete env.NODE_OPTIONS;
  const r = spawnSync(join(ROOT, 'bin/hmm-test'), ['smoke', '--format', 'pretty', '-r', 'hmm.hmm_device_private.open_close'], { encoding: 'utf8', env });
  t.equal(r.status, 0);
  t.match(r.stdout, /^✓ hmm\.hmm_device_private\.open_close \(\d+ ms\)\n1 passed, 0 failed\n$/);
  t.notMatch(r.stdout, /\u001b\[/, 'NO_COLOR: no colour');
  const piped = spawnSync(join(ROOT, 'bin/hmm-test'), ['smoke', '-t', 'open_close'], { encoding: 'utf8', env });
  t.match(piped.stdout, /^TAP version 13\n/, 'TAP when stdout is not a terminal');
});

t.test('kernel reports are their own failure kinds in TAP comments, pretty, JUnit and YAML', async (t) => {
  const { parse } = await import('yaml');
  const { smokeReport } = await import('../src/cli/report.js');
  const { prettyCase } = await import('../src/cli/pretty.js');
  const { Chalk } = await import('chalk');
  const { KernelBug } = await import('../src/kernel-model/bug.js');
  const only = (c: string) => (_f: string, v: string, x: string) => v === 'hmm_device_private' && x === c;
  // A leaked system page, a WARN at unload, an oops in the middle of a case.
  const leak = smoke({ params: PRIVATE, filter: only('open_close'), onKernel: (k) => { k.pageAlloc.allocPage(); } });
  const warn = smoke({ params: PRIVATE, filter: only('open_close'), onKernel: (k) => { k.warn(true, 'test_warn', 'a WARN_ON fired'); } });
  const oops = smoke({ params: PRIVATE, filter: only('migrate'), onKernel: (_k, mod) => { mod.devmemOps.pageFree = () => { throw new KernelBug('Oops', 'dmirror_devmem_free', 'a bad pointer'); }; } });
  const cases: Array<[typeof leak, string, string]> = [[leak, 'leak', 'MemoryLeak'], [warn, 'warn', 'KernelWARNING'], [oops, 'oops', 'KernelOops']];
  for (const [r, kind, type] of cases) {
    const res = r.result.results[0];
    t.equal(res.status, 'fail');
    t.equal(res.failures[0].kind, kind, `${kind}: the first failure's kind`);
    t.ok(r.err.some((l) => l.startsWith('#   failure kinds: ') && l.includes(kind)), `${kind}: a TAP comment names the kind`);
    t.match(prettyCase(res, new Chalk({ level: 0 }))[0], new RegExp(`\\[.*${kind === 'warn' ? 'kernel WARNING' : kind === 'oops' ? 'kernel oops' : 'leak'}.*\\]`), `${kind}: pretty names it`);
    const xml = junitXml(info(), r.result);
    t.same(junitSchemaErrors(xml), []);
    t.match(xml, new RegExp(`<failure message="[^"]*" type="${type}">`), `${kind}: JUnit type ${type}`);
    t.equal(parse(smokeReport(info(), r.result)).cases[0].failures[0].kind, kind, `${kind}: YAML`);
  }
});

t.test('the JUnit schema checker catches what the schema refuses', (t) => {
  t.match(junitSchemaErrors('<testsuites skipped="1"><testsuite name="a" tests="1" failures="0" errors="0"/></testsuites>'), [/attribute skipped is not allowed/]);
  t.match(junitSchemaErrors('<testsuites><testsuite name="a" tests="1" errors="0"/></testsuites>'), [/attribute failures is required/]);
  t.match(junitSchemaErrors('<testsuites><testsuite name="a" tests="1" failures="0" errors="0" time="1s"/></testsuites>'), [/not a SUREFIRE_TIME/]);
  t.match(junitSchemaErrors('<testsuites><testsuite name="a" tests="1" failures="0" errors="0"><testcase name="x"><property name="a" value="b"/></testcase></testsuite></testsuites>'), [/<property> is not allowed here/]);
  t.end();
});
