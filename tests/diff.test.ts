// SPDX-License-Identifier: GPL-2.0-only
/* hmm-test diff: two observation logs lined up by scenario, what legitimately differs left out, the first difference shown. */
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT } from './helpers.js';
import { diffLogs, observations } from '../src/scenario/diff.js';

const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: '1' };
delete env.NODE_OPTIONS;
const hmmTest = (args: string[]) => spawnSync(join(ROOT, 'bin/hmm-test'), args, { encoding: 'utf8', env, cwd: ROOT });
const tmp = mkdtempSync(join(tmpdir(), 'hmm-diff-'));

t.test('what legitimately differs is left out; the first real difference of each scenario is shown', (t) => {
  const model = hmmTest(['run', '--show', 'pages', 'scenarios/migrate-read-back.yaml', 'scenarios/dmirror-do-read-oops-mprotect.yaml']).stdout;
  t.match(model, /^REPORT oops dmirror_do_read: /m);
  // A real kernel's log of the same runs: no TAP, no maps, no UNLOAD lines, another function in the oops, other addresses.
  const real = model.split('\n').filter((l) => !/^(ok|not ok|MAP|UNLOAD|#  |1\.\.)/.test(l))
    .map((l) => l.replace(/^REPORT oops .*/, 'REPORT oops memcpy_orig+0x9/0x120: BUG: unable to handle page fault for address: ffffea0000400000'))
    .join('\n');
  const same = diffLogs(model, real, 'model', 'real');
  t.ok(same.same, same.lines.join('\n'));
  t.same(same.lines.map((l) => l.replace(/ \(\d+ observations\)/, '')), ['migrate-read-back: same', 'dmirror-do-read-oops-mprotect: same']);
  const off = real.replace('TRACE READ npages=16 ret=0 cpages=16', 'TRACE READ npages=16 ret=0 cpages=15');
  const d = diffLogs(model, off, 'model', 'real');
  t.notOk(d.same);
  t.same(d.lines.slice(0, 3), ['migrate-read-back: observation 7 differs', '  model: TRACE READ npages=16 ret=0 cpages=16 faults=0',
    '  real: TRACE READ npages=16 ret=0 cpages=15 faults=0']);
  t.same(observations(['ok 1 - x', '# c', 'MAP   a |..|', 'child: UNLOAD x', 'child: REPORT warn f: y', 'MMAP a ret=0 at 0x7fff12345000']),
    ['child: REPORT warn', 'MMAP a ret=0 at 0x…']);
  t.end();
});

t.test('hmm-test diff: the model against the C program run here (no test_hmm): scenarios line up, the first difference shown, exit 1', (t) => {
  const c = join(tmp, 'm.c'), exe = join(tmp, 'm');
  writeFileSync(c, hmmTest(['run', '--emit-c', 'scenarios/migrate-read-back.yaml']).stdout);
  t.equal(spawnSync('gcc', ['-static', '-pthread', '-o', exe, c]).status, 0, 'needs gcc (.ci/run installs it)');
  writeFileSync(join(tmp, 'real.log'), spawnSync(exe, [], { encoding: 'utf8' }).stdout);
  writeFileSync(join(tmp, 'model.log'), hmmTest(['run', 'scenarios/migrate-read-back.yaml']).stdout);
  const r = hmmTest(['diff', join(tmp, 'model.log'), join(tmp, 'real.log')]);
  t.equal(r.status, 1);
  t.match(r.stdout, /^migrate-read-back: observation 1 differs\n {2}\S+model\.log: OPEN dmirror0 \/dev\/hmm_dmirror0 ret=0\n {2}\S+real\.log: OPEN dmirror0 \/dev\/hmm_dmirror0 ret=-ENOENT\n$/);
  t.equal(hmmTest(['diff', join(tmp, 'model.log'), join(tmp, 'model.log')]).status, 0);
  const bad = hmmTest(['diff', join(tmp, 'model.log'), join(tmp, 'nope.log')]);
  t.equal(bad.status, 1);
  t.equal(bad.stderr.trimEnd().split('\n').length, 1);
  t.end();
});
