// SPDX-License-Identifier: GPL-2.0-only
/*
 * scripts/kbox's console parsing (src/scenario/kbox.ts), on consoles in the
 * shape the box's /init and a real 6.12 kernel print them: the program's
 * lines and the kernel's reports in one order, reports named and labelled
 * as diff wants them, and the ways a program can end (exited, killed by an
 * oops and stuck, guest dead before the dump, never reached).
 */
import t from 'tap';
import { collect, mergeReports, parseDmesgRaw } from '../src/scenario/kbox.js';
import { observations } from '../src/scenario/diff.js';

const U = (ts: number, s: string) => `<12>[${ts.toFixed(6).padStart(12)}] ${s}`;
const K = (ts: number, s: string, lvl = 4) => `<${lvl}>[${ts.toFixed(6).padStart(12)}] ${s}`;

const OOPS = [
  'BUG: unable to handle page fault for address: ff1100ffffff0000',
  '#PF: supervisor read access in kernel mode',
  'Oops: Oops: 0000 [#1] SMP',
  'CPU: 0 UID: 0 PID: 63 Comm: prog Not tainted 6.12.117 #1 ',
  'RIP: 0010:dmirror_do_read+0x68/0xd0',
  'Call Trace:',
  ' <TASK>',
  ' dmirror_fops_unlocked_ioctl+0x36a/0x4e0',
  ' </TASK>',
  '---[ end trace 0000000000000000 ]---',
];

t.test('a dump: the program\'s lines (facility user) and a kernel oops in their order; the report named by its RIP', (t) => {
  const lines = parseDmesgRaw([U(1, '# scenario s.yaml: s'), U(1.1, '# pid 63'), U(1.2, 'MPROTECT buf pages=0-3 ret=0'),
    ...OOPS.map((l, i) => K(1.3 + i / 100, l, i === 0 ? 1 : 4)), K(1.5, 'RIP: 0010:dmirror_do_read+0x68/0xd0'), K(1.6, '=== KBOX STUCK 1')]);
  t.equal(lines.filter((l) => l.user).length, 3);
  const { log, reports } = mergeReports(lines);
  t.same(reports.map((r) => [r.kind, r.where, r.label]), [['oops', 'dmirror_do_read', '']]);
  t.same(observations(log), ['MPROTECT buf pages=0-3 ret=0', 'REPORT oops']);
  t.equal(log[3], 'REPORT oops dmirror_do_read: BUG: unable to handle page fault for address: ff1100ffffff0000');
  t.ok(log.includes('# | RIP: 0010:dmirror_do_read+0x68/0xd0'), 'the full report follows as comments');
  t.ok(log.includes('# kernel: RIP: 0010:dmirror_do_read+0x68/0xd0'), 'kernel lines outside a report are comments');
  t.end();
});

t.test('a WARN in a child is labelled with the child (its "# pid" line); a hung task is named by its first non-sleeping frame', (t) => {
  const { log, reports } = mergeReports(parseDmesgRaw([U(1, '# pid 70'), U(1.1, 'FORK child'), U(1.2, '# pid 71 child'),
    K(1.3, 'WARNING: CPU: 1 PID: 71 at lib/test_hmm.c:1234 dmirror_do_fault+0x1a/0x340'), K(1.31, 'RIP: 0010:dmirror_do_fault+0x1a/0x340'),
    K(1.32, '---[ end trace 0000000000000000 ]---'), U(1.4, 'child: TRACE READ npages=1 ret=0 cpages=1 faults=1'),
    K(30, 'INFO: task prog:70 blocked for more than 10 seconds.', 3), K(30, '      Not tainted 6.12.117 #1'),
    K(30, 'task:prog state:D stack:0 pid:70'), K(30, 'Call Trace:'), K(30, ' <TASK>'), K(30, ' __schedule+0x2c1/0x650'),
    K(30, ' schedule+0x1f/0xa0'), K(30, ' __mutex_lock.constprop.0+0x25a/0x490'), K(30, ' dmirror_interval_invalidate+0xb6/0xd0'),
    K(30, ' </TASK>')]));
  t.same(reports.map((r) => [r.kind, r.where, r.label]), [['warn', 'dmirror_do_fault', 'child: '], ['hang', 'dmirror_interval_invalidate', '']]);
  t.same(observations(log), ['FORK child', 'child: REPORT warn', 'child: TRACE READ npages=1 ret=0 cpages=1 faults=1', 'REPORT hang']);
  t.end();
});

/** A hung-task report as 6.12.117 printed it for scenarios/release-after-exclusive-hang.yaml, `secs` after the hang. */
const HUNG = (secs: number): string[] => [`INFO: task release-after-e:56 blocked for more than ${secs} seconds.`, '      Not tainted 6.12.117 #1',
  'task:release-after-e state:D stack:0     pid:56    tgid:56    ppid:1      flags:0x00000002', 'Call Trace:', ' <TASK>',
  ' __schedule+0x2c1/0x650', ' ? usleep_range_state+0x60/0x60', ' schedule+0x1f/0xa0', ' schedule_timeout+0xd3/0xe0',
  ' __wait_for_common+0x76/0x170', ' memunmap_pages+0xb4/0x280', ' dmirror_device_remove_chunks+0xa7/0x130',
  ' dmirror_fops_unlocked_ioctl+0xfe/0x4e0', ' </TASK>'];

t.test('a hung task: a "? " frame is not a caller; the detector\'s reports of it every interval are one observation', (t) => {
  const { log, reports } = mergeReports(parseDmesgRaw([U(1, '# pid 56'), U(1.1, 'TRACE EXCLUSIVE npages=1 ret=0 cpages=1 faults=0'),
    ...HUNG(10).map((l) => K(21, l, 3)), ...HUNG(20).map((l) => K(31, l, 3)), ...HUNG(30).map((l) => K(41, l, 3))]));
  t.same(reports.map((r) => [r.kind, r.where]), [['hang', 'memunmap_pages']], 'named by memunmap_pages(), not the stale usleep_range_state address');
  t.same(observations(log), ['TRACE EXCLUSIVE npages=1 ret=0 cpages=1 faults=0', 'REPORT hang']);
  t.equal(log.filter((l) => l.startsWith('# kbox: again: INFO: task release-after-e:56 blocked')).length, 2, 'the repeats stay in the log as comments');
  t.end();
});

const BOOT = '=== KBOX BOOT 6.12.117 cpus=2 thp=always [madvise] never devices=2 tainted=0';

t.test('collect: programs across boots; a marker sharing a line with the kernel; stuck after an oops; dead guest; never reached', (t) => {
  const boot1 = [
    'SeaBIOS noise', BOOT,
    '[    1.0] === KBOX BEGIN 0 a', '[    1.1] # scenario a.yaml: a', '[    1.2] OPEN dmirror0 /dev/hmm_dmirror0 ret=0',
    '=== KBOX DMESG 0', U(1.1, '# scenario a.yaml: a'), U(1.2, 'OPEN dmirror0 /dev/hmm_dmirror0 ret=0'), '=== KBOX END 0 rc=0',
    '[    2.0] === KBOX BEGIN 1 b', '[    2.1] # scenario b.yaml: b', ...OOPS.map((l) => `[    2.2] ${l}`),
    '=== KBOX STUCK[    5.3] sysrq: Show Blocked State', '[    8.0] === KBOX WEDGED 1',
    '=== KBOX DMESG 1', U(2.1, '# scenario b.yaml: b'), ...OOPS.map((l) => K(2.2, l)), K(5.2, '=== KBOX STUCK 1'), K(5.3, 'sysrq: Show Blocked State'),
    '=== KBOX WEDGED-END 1', '[    8.5] reboot: Restarting system',
  ].join('\r\n');
  const boot2 = [BOOT, '[    1.0] === KBOX BEGIN 2 c', '[    1.1] # scenario c.yaml: c', '[    1.2] MMAP buf pages=1 type=anon ret=0',
    '[    1.3] Kernel panic - not syncing: Fatal exception', '[    1.3] RIP: 0010:copy_page+0x7/0x10'].join('\n');
  const p = collect([boot1, boot2], ['a', 'b', 'c', 'd'], ['# kbox: header']);
  t.same(p.map((x) => x.end.kind), ['exited', 'wedged', 'died', 'not-run']);
  t.same(p[1].end, { kind: 'wedged', afterOops: true });
  t.same(observations(p[0].log), ['OPEN dmirror0 /dev/hmm_dmirror0 ret=0']);
  t.equal(p[0].log[0], '# kbox: header');
  t.same(observations(p[1].log), ['REPORT oops'], 'the dump is used, markers in it are not program lines');
  t.match(p[1].log.join('\n'), /# kbox: WEDGED: the kernel died in the program/);
  t.same(observations(p[2].log), ['MMAP buf pages=1 type=anon ret=0', 'REPORT panic'], 'no dump: the live console, lines told by their shape');
  t.equal(p[2].reports[0].where, 'copy_page');
  t.match(p[3].log.join('\n'), /not run/);
  t.end();
});

t.test('scripts/kbox: a bad command line is one line on stderr and exit 2, before anything is built or booted', async (t) => {
  const { spawnSync } = await import('node:child_process');
  const { join } = await import('node:path');
  const { ROOT } = await import('./helpers.js');
  const kbox = (...args: string[]) => spawnSync(join(ROOT, 'scripts/kbox'), args, { encoding: 'utf8', env: { ...process.env, KBOX_CACHE: '/nonexistent/kbox' } });
  for (const [args, msg] of [
    [['frob'], /unknown command 'frob'/],
    [['run'], /run needs one or more PROG\.c files/],
    [['run', 'README.md'], /'README\.md' is not a C file/],
    [['run', '--thp', 'sometimes', 'x.c'], /--thp: 'sometimes' is not always, madvise or never/],
    [['run', '--timeout', '0', 'x.c'], /--timeout needs a number of seconds/],
    [['check', 'scenarios/migrate-read-back.yaml'], /check needs --out DIR/],
    [['build', 'extra'], /build takes no arguments/],
  ] as [string[], RegExp][]) {
    const r = kbox(...args);
    t.equal(r.status, 2, args.join(' '));
    t.equal(r.stderr.trimEnd().split('\n').length, 1, `${args.join(' ')}: one line`);
    t.match(r.stderr, msg);
  }
  t.equal(kbox('help').status, 0);
  t.end();
});
