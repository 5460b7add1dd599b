// SPDX-License-Identifier: GPL-2.0-only
/*
 * hmm-test run --emit-c: the C program of every example compiles with
 * gcc -static -pthread (-Wall -Werror) and runs. This test needs gcc and
 * the static libc (Debian: gcc libc6-dev); .ci/run installs them when they
 * are missing. On this machine there is no test_hmm, so the program's
 * first lines show the open failing and the commands failing with -EBADF,
 * in the interpreter's line format.
 */
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { readdirSync, writeFileSync, mkdtempSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT } from './helpers.js';

const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: '1' };
delete env.NODE_OPTIONS;
const tmp = mkdtempSync(join(tmpdir(), 'hmm-emit-c-'));
const examples = readdirSync(join(ROOT, 'scenarios')).filter((f) => f.endsWith('.yaml')).sort();

t.test('gcc is there (the C reproducers are compiled in the tests; .ci/run installs gcc and libc6-dev)', (t) => {
  const r = spawnSync('gcc', ['--version'], { encoding: 'utf8' });
  t.equal(r.status, 0, 'this test needs gcc and libc6-dev: apt-get install -y gcc libc6-dev');
  t.end();
});

t.test('every example: --emit-c writes a program that builds static and runs', (t) => {
  for (const f of examples) {
    const e = spawnSync(join(ROOT, 'bin/hmm-test'), ['run', '--emit-c', join('scenarios', f)], { encoding: 'utf8', env, cwd: ROOT });
    t.equal(e.status, 0, `${f}: ${e.stderr}`);
    t.match(e.stdout, /struct dmirror_cmd \{ uint64_t addr, ptr, npages, cpages, faults; \};/);
    t.notMatch(e.stdout, /GENERIC_MODE|ERRNO_CASES|SIGNAL_CASES/, 'no placeholder left');
    const c = join(tmp, f.replace(/\.yaml$/, '.c')), exe = c.replace(/\.c$/, '');
    writeFileSync(c, e.stdout);
    const cc = spawnSync('gcc', ['-static', '-pthread', '-Wall', '-Wextra', '-Werror', '-Wno-unused-function', '-Wno-unused-parameter', '-O1', '-o', exe, c], { encoding: 'utf8' });
    t.equal(cc.status, 0, `${f} compiles: ${cc.stderr}`);
    if (!existsSync('/dev/hmm_dmirror0') && existsSync(exe)) {
      const r = spawnSync(exe, [], { encoding: 'utf8', timeout: 20000 });
      t.match(r.stdout, /^# scenario scenarios\/[^\n]+\n# pid \d+\nOPEN dmirror(\d) \/dev\/hmm_dmirror\1 ret=-ENOENT\n/, `${f} runs: it finds no test_hmm here`);
      t.match(r.stdout, /^TRACE [A-Z_]+ npages=\d+ ret=-9 cpages=0 faults=0$/m, 'the commands fail with -EBADF, traced');
    }
  }
  t.end();
});

t.test('--emit-c takes one file and nothing else', (t) => {
  for (const args of [['run', '--emit-c', 'scenarios/migrate-read-back.yaml', 'scenarios/snapshot-mixed.yaml'],
    ['run', '--emit-c', '--show', 'pages', 'scenarios/migrate-read-back.yaml']]) {
    const r = spawnSync(join(ROOT, 'bin/hmm-test'), args, { encoding: 'utf8', env, cwd: ROOT });
    t.equal(r.status, 1);
    t.equal(r.stderr.trimEnd().split('\n').length, 1, r.stderr);
  }
  t.end();
});
