// SPDX-License-Identifier: GPL-2.0-only
/*
 * The mm's rss counters (MmStruct.rssAnon = MM_ANONPAGES) through a page's
 * life: counted where 6.12 counts them, by the code that sets or clears a
 * page table entry (do_anonymous_page(), migrate_vma_insert_page(),
 * copy_present_ptes()/copy_nonpresent_pte(), zap_pte_range()), never by
 * rmap. A migration, device-private or device-exclusive entry stands for a
 * mapping and stays counted, so setting one up and restoring it
 * (migrate_vma_setup()/remove_migration_ptes(), make_device_exclusive_range()
 * /restore_exclusive_pte()) leaves rss as it was.
 *
 *   Four pages at addr:   0 1 2 3
 *                         a a a z     a anon page (written), z zero page (read)
 */
import t from 'tap';
import { Kernel } from '../../src/kernel-model/kernel.js';
import { PAGE_SIZE } from '../../src/kernel-model/page.js';
import { MmStruct, doMunmap } from '../../src/kernel-model/mm.js';
import { userLoad, userStore } from '../../src/kernel-model/memory.js';
import { isDeviceExclusiveEntry, isDevicePrivateEntry, isMigrationEntry, pteIndex, ptePresent } from '../../src/kernel-model/pgtable.js';
import { putPage, unlockPage } from '../../src/kernel-model/page_alloc.js';
import { makeDeviceExclusiveRange } from '../../src/kernel-model/rmap.js';
import { MIGRATE_PFN_MIGRATE, MIGRATE_VMA_SELECT_SYSTEM, migrateVmaFinalize,
  migrateVmaSetup } from '../../src/kernel-model/migrate_device.js';
import { dupMm } from '../../src/kernel-model/fork.js';
import { IS_ERR } from '../../src/kernel-model/errno.js';
import { migrateToDevice, mmapAnon, newMigrateVma, pattern, registeredDevice } from './fixtures/fake_device.js';
import { auditFolios } from './fixtures/folio_audit.js';

const P = PAGE_SIZE;
const OWNER = { name: 'the device' };
const pteVal = (mm: MmStruct, a: number): number => mm.pgtable.lookup(a)!.val[pteIndex(a)];

t.test('rss across fault, migration, device-exclusive entries, fork and zap: counted by the page-table code, as 6.12', async (t) => {
  const k = new Kernel();
  const mm = new MmStruct(k);
  const { addr, vma } = mmapAnon(mm, 4);
  for (let i = 0; i < 3; i++) userStore(mm, addr + i * P, pattern(i, 16));
  userLoad(mm, addr + 3 * P, new Uint8Array(1));
  t.equal(mm.rssAnon, 3, 'do_anonymous_page(): three anon pages, the zero page not counted');

  // migrate_vma_setup() turns page 0's pte into a migration entry; a failed migration restores it.
  const m = newMigrateVma(vma, addr, 1, null, MIGRATE_VMA_SELECT_SYSTEM);
  t.equal(migrateVmaSetup(k, m), 0);
  t.ok(m.src[0] & MIGRATE_PFN_MIGRATE, 'collected');
  t.ok(isMigrationEntry(pteVal(mm, addr)), 'a migration entry');
  t.equal(mm.rssAnon, 3, 'a migration entry still counts');
  t.same(auditFolios(k, [mm]), [], 'the audit agrees');
  migrateVmaFinalize(k, m); // no destination: remove_migration_ptes() puts the page back
  t.ok(ptePresent(pteVal(mm, addr)), 'restored');
  t.equal(mm.rssAnon, 3, 'remove_migration_pte() does not count it again');

  // To device-private memory: page 0, and the zero page's slot (migrate_vma_insert_page()).
  const dev = registeredDevice(k);
  t.ok(migrateToDevice(dev, vma, addr, 1).args.src[0] & MIGRATE_PFN_MIGRATE, 'page 0 migrated');
  t.ok(isDevicePrivateEntry(pteVal(mm, addr)), 'a device-private entry');
  t.equal(mm.rssAnon, 3, 'a device-private entry counts as the page it replaced');
  t.ok(migrateToDevice(dev, vma, addr + 3 * P, 1).args.src[0] & MIGRATE_PFN_MIGRATE, 'the zero page\'s slot migrated');
  t.equal(mm.rssAnon, 4, 'migrate_vma_insert_page() counts the new mapping');

  // Device-exclusive entries for pages 1 and 2; a CPU access restores page 1.
  const pages = new Float64Array(2);
  t.equal(makeDeviceExclusiveRange(mm, addr + P, addr + 3 * P, pages, OWNER), 2);
  for (const p of pages) { unlockPage(k, p); putPage(k, p); }
  t.ok(isDeviceExclusiveEntry(pteVal(mm, addr + P)), 'exclusive entries');
  t.equal(mm.rssAnon, 4, 'device-exclusive entries still count');
  t.same(auditFolios(k, [mm]), [], 'the audit agrees');
  userLoad(mm, addr + P, new Uint8Array(1));
  t.ok(ptePresent(pteVal(mm, addr + P)), 'page 1 restored');
  t.equal(mm.rssAnon, 4, 'restore_exclusive_pte() does not count it again');

  // fork: page 2's exclusive entry is restored first, then everything is copied.
  const child = dupMm(k, mm);
  if (IS_ERR(child)) throw new Error('fork failed');
  t.equal(mm.rssAnon, 4, 'the parent unchanged');
  t.equal(child.rssAnon, 4, 'copy_present_ptes()/copy_nonpresent_pte() count the child\'s mappings');
  t.same(auditFolios(k, [mm, child]), [], 'the audit agrees');

  // zap: the child's device-private entry and present ptes, then the parent's.
  t.equal(doMunmap(child, addr, 2 * P), 0);
  t.equal(child.rssAnon, 2, 'zap_pte_range() takes a device-private entry and a pte off');
  child.mmput();
  t.equal(child.rssAnon, 0, 'exit: nothing left');
  mm.mmput();
  t.equal(mm.rssAnon, 0);
  t.equal(k.pageAlloc.nrAllocated, 0, 'every page back');
});

t.test('zap of a migration entry takes it off rss; the migration then finds nothing to restore', async (t) => {
  const k = new Kernel();
  const mm = new MmStruct(k);
  const { addr, vma } = mmapAnon(mm, 2);
  userStore(mm, addr, pattern(1, 16));
  userStore(mm, addr + P, pattern(2, 16));
  const m = newMigrateVma(vma, addr, 1, null, MIGRATE_VMA_SELECT_SYSTEM);
  t.equal(migrateVmaSetup(k, m), 0);
  t.ok(isMigrationEntry(pteVal(mm, addr)), 'a migration entry in flight');
  t.equal(mm.rssAnon, 2, 'the migration entry still counts');
  t.equal(doMunmap(mm, addr, P), 0, 'munmap of the page being migrated');
  t.equal(mm.rssAnon, 1, 'zap_pte_range() dropped the migration entry from rss');
  migrateVmaFinalize(k, m);
  t.equal(mm.rssAnon, 1, 'finalize maps nothing back');
  mm.mmput();
  t.equal(mm.rssAnon, 0);
  t.equal(k.pageAlloc.nrAllocated, 0, 'the page is freed by the migration\'s last reference');
});
