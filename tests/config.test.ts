// SPDX-License-Identifier: GPL-2.0-only
/* --config: the simulated machine and module parameters from YAML, and its errors. */
import t from 'tap';
import { Kernel } from '../src/kernel-model/kernel.js';
import { procMeminfo } from '../src/kernel-model/hugetlb.js';
import { loadConfig } from '../src/cli/config.js';
import { defaultMachine } from '../src/kernel-model/machine.js';
import { smoke } from './helpers.js';

const GiB = 1024 ** 3;

t.test('an empty file is the default machine and no parameters', (t) => {
  t.same(loadConfig('', 'c.yaml'), { machine: defaultMachine(), params: null });
  t.end();
});

t.test('machine and module keys build the memory map and the parameters', (t) => {
  const c = loadConfig('machine:\n  physBits: 44\n  ram: 8G\n  spm:\n    - { start: 0x200000000, size: 512M }\nmodule:\n  spm_addr_dev0: 0x200000000\n  spm_addr_dev1: "8589934592"\n', 'c.yaml');
  t.equal(c.machine.physBits, 44);
  t.same(c.machine.memoryMap.filter((e) => e.type === 'Soft Reserved'), [{ start: 8 * GiB, size: 512 * 1024 ** 2, type: 'Soft Reserved' }]);
  const ram = c.machine.memoryMap.filter((e) => e.type === 'System RAM').reduce((a, e) => a + e.size, 0);
  t.equal(ram, 8 * GiB - 1024 ** 2 + 0x9f000, '8 GiB less the first MiB, plus the low 636 KiB');
  t.ok(c.machine.memoryMap.some((e) => e.type === 'System RAM' && e.start === 9 * GiB), 'high RAM above the SPM');
  t.same(c.params, { spm_addr_dev0: 8 * GiB, spm_addr_dev1: 8 * GiB, spm_type: 'generic' });
  t.end();
});

t.test('bad files give one message that says what would be right', (t) => {
  const bad: Array<[string, RegExp]> = [
    ['machine:\n  rom: 1\n', /machine: unknown key 'rom'; the keys are physBits, ram, spm, transparent_hugepage, hugepages/],
    ['machine:\n  transparent_hugepage: sometimes\n', /machine\.transparent_hugepage "sometimes": say always, madvise or never/],
    ['machine:\n  hugepages: -1\n', /machine\.hugepages -1: give a whole number of 2M pages from 0 to 4096/],
    ['other: 1\n', /unknown key 'other'; the keys are machine, module/],
    ['machine:\n  physBits: 99\n', /physBits 99: give a whole number from 36 to 52/],
    ['machine:\n  ram: lots\n', /machine\.ram: "lots" is not a size: write it like 1G/],
    ['machine:\n  spm: [{ start: 0x100000000, size: 1G }, { start: 0x120000000, size: 1G }]\n', /overlap/],
    ['machine:\n  spm: [{ start: 0x10000000, size: 1G }]\n', /inside the low RAM and I\/O hole/],
    ['machine:\n  spm: [{ start: 0x100000000, size: 1G, kind: x }]\n', /unknown key 'kind'/],
    ['module:\n  spm_addr_dev0: zz\n', /spm_addr_dev0 "zz" is not an address/],
    ['machine:\n  physBits: 36\n  ram: 64G\n', /beyond 36 physical address bits/],
    ['module: [', /not valid YAML: /],
  ];
  for (const [text, msg] of bad) t.throws(() => loadConfig(text, 'c.yaml'), { name: 'UsageError', message: msg }, text);
  t.end();
});

t.test('transparent_hugepage and hugepages reach the simulated kernel', (t) => {
  const c = loadConfig('machine:\n  transparent_hugepage: always\n  hugepages: 3\n', 'c.yaml');
  t.equal(c.machine.transparentHugepage, 'always');
  t.equal(c.machine.nrHugepages, 3);
  const k = new Kernel({ machine: c.machine });
  t.equal(k.transparentHugepage, 'always');
  t.match(procMeminfo(k), /HugePages_Total: +3\n/);
  t.end();
});

t.test('a configured machine runs the generic smoke suite on its own SPM ranges', (t) => {
  const c = loadConfig('machine:\n  spm: [{ start: 0x200000000, size: 256M }, { start: 0x210000000, size: 256M }]\nmodule:\n  spm_addr_dev0: 0x200000000\n  spm_addr_dev1: 0x210000000\n', 'c.yaml');
  const r = smoke({ params: c.params!, machine: c.machine });
  t.equal(r.result.exitCode, 0, r.err.join('\n'));
  t.equal(r.result.pass, r.result.results.length);
  t.ok(r.result.results.every((c) => c.name.includes('_device_generic.')), 'generic variants only');
  const coherent = loadConfig('machine:\n  spm: [{ start: 0x200000000, size: 256M }, { start: 0x210000000, size: 256M }]\nmodule:\n  spm_addr_dev0: 0x200000000\n  spm_addr_dev1: 0x210000000\n  spm_type: coherent\n', 'c.yaml');
  const rc = smoke({ params: coherent.params!, machine: coherent.machine, filter: (_f, _v, n) => n === 'migrate' });
  t.same(rc.result.results.map((x) => `${x.name} ${x.status}`), ['hmm.hmm_device_private.migrate pass', 'hmm.hmm_device_coherent.migrate pass']);
  const pub = loadConfig('machine:\n  spm: [{ start: 0x200000000, size: 256M }, { start: 0x210000000, size: 256M }]\nmodule:\n  spm_addr_dev0: 0x200000000\n  spm_addr_dev1: 0x210000000\n  spm_type: public\n', 'c.yaml');
  const rp = smoke({ params: pub.params!, machine: pub.machine, filter: (_f, _v, n) => n === 'migrate' });
  t.same(rp.result.results.map((x) => `${x.name} ${x.status}`), ['hmm.hmm_device_private.migrate pass', 'hmm.hmm_device_public.migrate pass']);
  t.throws(() => loadConfig('module:\n  spm_addr_dev0: 0x200000000\n  spm_addr_dev1: 0x210000000\n  spm_type: cxl\n', 'c.yaml'),
    { message: 'c.yaml: module.spm_type is "cxl"; say generic or coherent or public' });
  t.end();
});
