// SPDX-License-Identifier: GPL-2.0-only
/*
 * hmm-test explore in the SPM variants: a case explored with --coherent,
 * --public or two addresses alone runs its hmm_device_coherent, _public or
 * _generic variant on devices of that type; the replay command the report
 * prints gives the same program back (devices, patches, kernel, seed); bad
 * input is one line, as for smoke.
 */
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { ROOT } from './helpers.js';
import { explore, replay, parseScheduleId } from '../src/explore/explore.js';
import { caseTarget } from '../src/explore/targets.js';
import { composeKernel } from '../src/kernel-model/changes.js';
import type { Dmirror, TestHmmParams } from '../src/dmirror/test_hmm.js';
import { HMM_DMIRROR_MEMORY_DEVICE_COHERENT } from '../src/dmirror/test_hmm_uapi.js';

const OPTS = { maxPreemptions: 1, maxSchedules: 8, maxTimeMs: 600000, maxSteps: 10000 };
const SPM = ['0x100000000', '0x140000000'];
const COHERENT: TestHmmParams = { spm_addr_dev0: 0x100000000, spm_addr_dev1: 0x140000000, spm_type: 'coherent' };
const kernel = (() => { const k = composeKernel('6.12', []); if ('error' in k) throw new Error(k.error); return k; })();
const run = (...args: string[]) => spawnSync(join(ROOT, 'bin/hmm-test'), ['explore', ...args], { encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' } });

t.test('anon_teardown in the coherent variant: its READs go to a DEVICE_COHERENT device, both READ outcomes found', (t) => {
  const types = new Set<number>();
  const target = caseTarget({
    name: 'hmm.hmm_device_coherent.anon_teardown', params: COHERENT, kernel,
    onKernel: (_k, mod) => {
      const ioctl = mod.fops.unlockedIoctl;
      mod.fops.unlockedIoctl = (filp, cmd, arg, cur) => { types.add((filp.privateData as Dmirror).mdevice.zone_device_type); return ioctl(filp, cmd, arg, cur); };
    },
  });
  const r = explore(target, OPTS);
  t.same([...types], [HMM_DMIRROR_MEMORY_DEVICE_COHERENT], 'every command on a coherent device (/dev/hmm_dmirror2)');
  t.equal(r.hit, '--max-schedules 8');
  const efault = r.lines.find((l) => /^TRACE READ npages=1024 ret=-14 /.test(l.line));
  t.ok(r.lines.some((l) => l.line === 'TRACE READ npages=1024 ret=0 cpages=1024 faults=1') && efault, 'READ returns 0 and -EFAULT');
  t.ok(r.outcomes.every((o) => o.pass));
  t.ok(replay(target, parseScheduleId(efault!.id) as number[], 10000).result.outcome.includes(efault!.line), 'the -EFAULT replays');
  // Break it: the same case without the SPM addresses has no coherent device; the C skips it, so no thread starts.
  const bare = caseTarget({ name: 'hmm.hmm_device_coherent.anon_teardown', params: { spm_addr_dev0: 0, spm_addr_dev1: 0 }, kernel });
  t.throws(() => explore(bare, { ...OPTS, maxPreemptions: 0 }), /starts no thread: nothing to interleave/);
  t.end();
});

t.test('at the command line: the devices choose the variant; the replay command repeats them', (t) => {
  for (const [args, name] of [
    [['anon_teardown'], 'hmm.hmm_device_private.anon_teardown'],
    [['anon_teardown', '--coherent', ...SPM], 'hmm.hmm_device_coherent.anon_teardown'],
    [['anon_teardown', '--public', ...SPM], 'hmm.hmm_device_public.anon_teardown'],
    [['anon_teardown', ...SPM], 'hmm.hmm_device_generic.anon_teardown'],
    [['hmm.hmm_device_private.anon_teardown', '--coherent', ...SPM], 'hmm.hmm_device_private.anon_teardown'],
  ] as Array<[string[], string]>) {
    const r = run(...args, '--max-preemptions', '0');
    t.equal(r.status, 0, `${args.join(' ')}: ${r.stderr}`);
    t.match(r.stdout, new RegExp(`^# explore ${name.replace(/\./g, '\\.')}: `, 'm'), `${args.join(' ')} explores ${name}`);
    t.match(r.stdout, new RegExp(`^ok 1 explore ${name.replace(/\./g, '\\.')}$`, 'm'));
    t.match(r.stdout, /^# Totals: schedules:1 outcomes:1 pass:1 fail:0 /m);
  }
  const coh = run('anon_teardown', '--coherent', ...SPM, '--max-preemptions', '0');
  const cmd = /e\.g\. hmm-test explore (.*) --schedule (\S+) /.exec(coh.stdout)!;
  t.equal(cmd[1], `anon_teardown --coherent ${SPM.join(' ')}`, 'the replay command names the coherent devices');
  const again = run(...cmd[1].split(' '), '--schedule', cmd[2]);
  t.equal(again.status, 0, again.stderr);
  t.match(again.stdout, /^ok 1 hmm\.hmm_device_coherent\.anon_teardown schedule 0$/m);

  const file = join(ROOT, 'scenarios/stale-zero-page-second-device.yaml');
  const patched = run(file, '--patch', 'migrate_vma_pages-no-invalidate', '--max-preemptions', '0');
  t.match(patched.stdout, new RegExp(`e\\.g\\. hmm-test explore ${file} --patch migrate_vma_pages-no-invalidate --schedule 0 `), 'and the patches');
  t.end();
});

t.test('bad input: one line each, as smoke says it', (t) => {
  const scenario = join(ROOT, 'scenarios/stale-zero-page-second-device.yaml');
  for (const [args, msg] of [
    [['anon_teardown', '0x100000000'], /explore takes no address \(private devices\) or two \(spm_addr_dev0 spm_addr_dev1\), not 1/],
    [['anon_teardown', '--coherent'], /--coherent needs the two SPM addresses the coherent devices use: hmm-test explore CASE --coherent <spm_addr_dev0> <spm_addr_dev1>/],
    [['anon_teardown', '--public'], /--public needs the two SPM addresses/],
    [['anon_teardown', '--coherent', '--public', ...SPM], /--coherent and --public both choose what devices 2 and 3 are: give one/],
    [['anon_teardown', '--coherent', 'zz', '0x140000000'], /spm_addr_dev0 "zz" is not an address/],
    [['anon_teardown', '--coherent', '0x100000000', '0x100000000'], /cannot load test_hmm with spm_addr_dev0=0x100000000 spm_addr_dev1=0x100000000: .*the two ranges must not overlap/],
    [['anon_teardown', '--coherent', '0x100000000', '0x1000000000000'], /spm_addr_dev1=0x1000000000000 is beyond the machine's \d+ physical address bits/],
    [['hmm.hmm_device_coherent.anon_teardown'], /hmm\.hmm_device_coherent\.anon_teardown is not a case of the private devices the command line gives: its coherent devices need --coherent and two SPM addresses/],
    [['hmm.hmm_device_public.anon_teardown', '--coherent', ...SPM], /is not a case of the coherent devices .*: its public devices need --public/],
    [['hmm.hmm_device_generic.anon_teardown', '--public', ...SPM], /its generic devices need two SPM addresses/],
    [[scenario, '--coherent', ...SPM], /is a scenario: its devices are its config's module: \{ spm_addr_dev0, spm_addr_dev1, spm_type \}/],
    [[scenario, ...SPM], /is a scenario: its devices are its config's module/],
  ] as Array<[string[], RegExp]>) {
    const r = run(...args);
    t.equal(r.status, 1, args.join(' '));
    t.match(r.stderr, msg, args.join(' '));
    t.equal(r.stderr.trim().split('\n').length, 1, 'one line');
    t.notMatch(r.stderr, /\n\s+at /, 'no stack trace');
  }
  t.end();
});
