// SPDX-License-Identifier: GPL-2.0-only
/*
 * The suite must fail when the mechanism a case exercises is broken. Each
 * test breaks one mechanism of the model on purpose and checks that exactly
 * the cases relying on it fail, with the message a developer would need.
 */
import t from 'tap';
import { smoke, PRIVATE, GENERIC, COHERENT } from './helpers.js';
import { MMU_NOTIFY_MIGRATE } from '../src/kernel-model/mmu_notifier.js';
import { IS_ERR } from '../src/kernel-model/errno.js';

/** The cases that failed, by case name, once each (a case fails in every variant it runs in). */
const failed = (r: ReturnType<typeof smoke>) => [...new Set(r.result.results.filter((c) => c.status === 'fail').map((c) => c.name.split('.')[2]))];

t.test('a copy_page that copies nothing fails every case that checks migrated data', (t) => {
  for (const params of [PRIVATE, GENERIC, COHERENT]) {
    const r = smoke({ params, onKernel: (k) => { k.arch.copyPage = () => {}; } });
    t.equal(r.result.exitCode, 1);
    // migrate_release: RELEASE evicts the device's memory, copying every page back; double_map reads migrated pages.
    // migrate_file_private migrates the private copies of file pages; the fork cases overwrite whatever COW copied;
    // hmm_gup_test checks what the device read after its migration.
    t.same(failed(r), ['migrate', 'migrate_file_private', 'migrate_fault', 'migrate_release', 'migrate_multiple', 'hmm_gup_test',
      'migrate_ping_pong', 'double_map']);
    t.ok(r.err.some((l) => /:Expected ptr\[i\] \(0\) == i \(1\)$/.test(l)), 'the assertion names the mismatch');
  }
  t.end();
});

t.test('a page_free that loses device pages is reported at module unload', (t) => {
  const r = smoke({ params: PRIVATE, onKernel: (_k, mod) => { mod.devmemOps.pageFree = () => {}; } });
  t.same(failed(r), ['migrate', 'migrate_file_private', 'migrate_fault', 'migrate_release', 'migrate_multiple', 'hmm_gup_test',
    'hmm_cow_in_device', 'migrate_ping_pong', 'migrate_mixed', 'snapshot', 'double_map']);
  t.ok(r.err.some((l) => /hmm_dmirror0: \d+ of 65536 device pages not back on the free list at unload/.test(l)), 'device pages missing');
  t.ok(r.err.some((l) => /system page\(s\) still allocated .* \(leaked\)/.test(l)), 'backing pages leaked');
  t.end();
});

t.test('an MMU_NOTIFY_MIGRATE without its owner makes the mirror drop its own pages (seed 001)', (t) => {
  const r = smoke({
    params: PRIVATE,
    onKernel: (_k, _mod, task) => { task.mm.notifierLog = (range) => { if (range.event === MMU_NOTIFY_MIGRATE) range.owner = null; }; },
  });
  t.same(failed(r), ['migrate_fault']);
  t.ok(r.err.some((l) => /migrate_fault:Expected ret \(-2\) == 0 \(0\)$/.test(l)), 'the second MIGRATE returns -ENOENT');
  t.end();
});

t.test('a leaked system page fails the case that leaked it', (t) => {
  const r = smoke({ params: PRIVATE, filter: (_f, _v, c) => c === 'migrate', onKernel: (k) => { k.pageAlloc.allocPage(); } });
  t.same(failed(r), ['migrate']);
  t.ok(r.err.some((l) => l.includes('BUG: 1 system page(s) still allocated')));
  t.end();
});

t.test('a kill() that does not kill: hmm_cow_in_device fails, saying the child would spin forever, instead of hanging', (t) => {
  const r = smoke({
    params: PRIVATE,
    filter: (_f, v, c) => v === 'hmm_device_private' && c === 'hmm_cow_in_device',
    onKernel: (_k, _mod, task) => {
      const fork = task.fork.bind(task);
      task.fork = () => {
        const child = fork();
        if (!IS_ERR(child)) child.kill = () => 0;
        return child;
      };
    },
  });
  t.same(failed(r), ['hmm_cow_in_device']);
  t.ok(r.err.some((l) => /spins forever: nothing is left to end it/.test(l)));
  t.end();
});
