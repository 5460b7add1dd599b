// SPDX-License-Identifier: GPL-2.0-only
/* The library entry point: the README's example, run as a user runs it, and the facade's argument checks. */
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from './helpers.js';
import { boot, HmmTestError, PROT_READ, PROT_WRITE, MAP_PRIVATE, MAP_ANONYMOUS } from '../src/index.js';

t.test("the README's example is examples/library.mjs, and it runs through the package's exports", (t) => {
  const file = readFileSync(join(ROOT, 'examples/library.mjs'), 'utf8');
  const body = file.split('\n').slice(2).join('\n');
  t.ok(readFileSync(join(ROOT, 'README.md'), 'utf8').includes(`\`\`\`js\n${body}\`\`\``), 'the README shows the file as it is');
  t.match(file, /from 'hmm-test';/, "it imports the package by its name");
  const env = { ...process.env };
  delete env.NODE_OPTIONS;
  const r = spawnSync(process.execPath, [join(ROOT, 'examples/library.mjs')], { encoding: 'utf8', env, cwd: ROOT });
  t.equal(r.status, 0, r.stderr);
  t.same(r.stdout.trimEnd().split('\n'), [
    'TRACE MIGRATE_TO_DEV npages=4 ret=0 cpages=4 faults=0',
    'TRACE READ npages=4 ret=0 cpages=4 faults=0 data ok',
    Array(4).fill('DEV_PRIVATE_LOCAL|WRITE').join(' '),
    'clean unload',
  ]);
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
  t.equal(pkg.exports['.'].types, './dist/src/index.d.ts');
  t.ok(readFileSync(join(ROOT, 'dist/src/index.d.ts'), 'utf8').includes('export declare function boot('), 'types are built');
  t.end();
});

t.test('wrong arguments: HmmTestError, one line naming the call', (t) => {
  const bad: Array<[() => unknown, RegExp]> = [
    [() => boot({ bogus: 1 } as never), /^hmm-test: boot: unknown option 'bogus'/],
    [() => boot({ machine: { ram: '1K' } }), /^hmm-test: boot: machine\.ram must be a multiple of 2M/],
    [() => boot({ module: { spm_addr_dev0: 0x100000000 } }), /^hmm-test: boot: spm_addr_dev0 and spm_addr_dev1 go together/],
    [() => boot({ seed: -1 }), /^hmm-test: boot: seed: /],
  ];
  for (const [f, want] of bad) {
    let err: unknown = null;
    try {
      f();
    } catch (e) {
      err = e;
    }
    t.type(err, HmmTestError, String(want));
    t.match((err as Error).message, want);
    t.notMatch((err as Error).message, /\n/);
  }
  const sys = boot();
  t.throws(() => sys.dmirrorCmd(3, 'REED', { addr: 0, npages: 1 }), /dmirrorCmd: request "REED": give one of READ, WRITE/);
  t.throws(() => sys.dmirrorCmd(3, 'READ', { addr: -4, npages: 1 }), /dmirrorCmd: args: give \{ addr, npages \}/);
  t.throws(() => sys.openDevice(7), /openDevice: device 7: give 0 to 3/);
  // Failures inside are C's: an ioctl on a bad fd is -EBADF, a failed mmap MAP_FAILED with errno.
  t.equal(sys.dmirrorCmd(42, 'READ', { addr: 0, npages: 1 }).errno, '-EBADF');
  t.equal(sys.libc.mmap(0, 0, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0), -1);
  t.equal(sys.libc.errno, 22, 'mmap of length 0: EINVAL');
  t.same(sys.shutdown(), []);
  t.throws(() => sys.shutdown(), /shutdown: the system was shut down/);
  t.end();
});
