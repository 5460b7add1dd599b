// SPDX-License-Identifier: GPL-2.0-only
/*
 * hmm-test fuzz on a broken model: a copy_page that copies nothing, an
 * MADV_DONTNEED that zaps nothing, a lost page reference, mirrors the mmu
 * notifier never reaches, a leaked page are each caught by an invariant and
 * minimised to a short scenario that still fails when replayed (and passes
 * on the unbroken model).
 */
import t, { type Test } from 'tap';
import { fuzz, runFuzzScenario, type FuzzMode, type GenOptions } from '../src/scenario/fuzz.js';
import { parseScenario } from '../src/scenario/parse.js';
import { runScenario } from '../src/scenario/run.js';
import type { BootedCase } from '../src/runner.js';

const PRIVATE: FuzzMode = { kind: 'private' };
/** Short scenarios: each failure is minimised, many replays. */
const SHORT: GenOptions = { minActions: 10, maxActions: 40 };

/** A saved scenario replayed as `hmm-test run` does (no invariant hook): its failed checks. */
function replay(yaml: string, onKernel?: (c: BootedCase) => void): string[] {
  const failed: string[] = [];
  runScenario(parseScenario(yaml, 'min.yaml'), { line: () => {}, check: (c) => { if (!c.ok && !c.skip) failed.push(c.name); }, onKernel });
  return failed;
}

/** A batch on a broken model: its failures, each checked to be minimised and to replay. */
function caught(t: Test, what: string, brk: (c: BootedCase) => void, kind: RegExp, count = 30): void {
  const s = fuzz(3, count, PRIVATE, { onKernel: brk, gen: SHORT });
  const model = s.failures.filter((f) => !f.known);
  t.ok(model.length > 0, `${what}: the fuzzer reports model failures (${model.length} of ${count})`);
  const f = model[0];
  t.match(f.kind, kind, `${what}: ${f.kind}: ${f.detail}`);
  t.ok(f.steps <= 8, `${what}: minimised to ${f.steps} actions`);
  t.ok(replay(f.yaml, brk).length > 0, `${what}: the minimised scenario fails when replayed with hmm-test run`);
  t.same(replay(f.yaml), [], `${what}: and passes on the unbroken model`);
  t.equal(runFuzzScenario(f.yaml, 'min.yaml', { onKernel: brk }).kind, f.kind, `${what}: the same failure recurs`);
}

t.test('break it: broken mechanisms are caught and minimised', (t) => {
  caught(t, 'copy_page copies nothing', (c) => { c.k.arch.copyPage = () => {}; }, /^invariant data$/);
  caught(t, 'MADV_DONTNEED zaps nothing', (c) => { c.k.inject.zapPageRangeSingle = () => {}; }, /^invariant data$/);
  t.end();
});

t.test('break it: a migration that loses the new page\'s reference is caught by the page-count invariant', (t) => {
  const brk = (c: BootedCase) => {
    const copy = c.k.arch.copyPage;
    c.k.arch.copyPage = (k, to, from) => { copy(k, to, from); const b = k.memmap.block(to); b.refcount[to - b.basePfn]--; };
  };
  const s = fuzz(3, 30, PRIVATE, { onKernel: brk, gen: SHORT });
  t.ok(s.failures.length > 0 && s.failures.every((f) => !f.known), 'every failure is a model failure');
  const kind = 'invariant VM_BUG_ON_PAGE(page_ref_count(page) < N)';
  const f = s.failures.find((x) => x.kind === kind);
  t.ok(f, 'a mapped page without its reference is found before a put_page() underflows');
  t.match(f!.detail, /invariant: VM_BUG_ON_PAGE\(page_ref_count\(page\) < 1\): page: refcount:0 mapcount:1 .* pfn:0x[0-9a-f]+: 1 pte\(s\)/);
  t.ok(f!.steps <= 8, `minimised to ${f!.steps} actions`);
  t.equal(runFuzzScenario(f!.yaml, 'min.yaml', { onKernel: brk }).kind, kind, 'the minimised scenario fails the same way');
  t.equal(runFuzzScenario(f!.yaml, 'min.yaml').kind, null, 'and passes on the unbroken model');
  t.end();
});

t.test('break it: a lost mirror invalidation and a leaked page are caught and minimised', (t) => {
  // The mmu notifier never reaches the mirrors: entries go stale after munmap, mprotect, MADV_DONTNEED, fork.
  const deaf = (c: BootedCase) => { for (const n of c.task.mm.intervalNotifiers) n.ops = { invalidate: () => true }; };
  const brk = (c: BootedCase) => {
    const insert = c.task.mm.intervalNotifiers.push.bind(c.task.mm.intervalNotifiers);
    c.task.mm.intervalNotifiers.push = (...xs) => { const r = insert(...xs); deaf(c); return r; };
  };
  const s = fuzz(3, 30, PRIVATE, { onKernel: brk, gen: SHORT });
  const f = s.failures.find((x) => x.kind.startsWith('invariant stale mirror entry'));
  t.ok(f, `a stale mirror entry is found (${s.failures.map((x) => x.kind).join(', ')})`);
  t.ok(f!.steps <= 8, `minimised to ${f!.steps} actions: ${f!.detail}`);
  t.equal(runFuzzScenario(f!.yaml, 'min.yaml', { onKernel: brk }).kind, f!.kind, 'the minimised scenario fails the same way');
  t.equal(runFuzzScenario(f!.yaml, 'min.yaml').kind, null, 'and passes on the unbroken model');
  // A page taken from the allocator and never given back: the unload check.
  const leak = fuzz(3, 2, PRIVATE, { onKernel: (c) => { c.k.pageAlloc.allocPage(); }, gen: SHORT });
  t.ok(leak.failures.length === 2 && leak.failures.every((x) => x.kind === 'leak at unload'), leak.failures.map((x) => x.kind).join(', '));
  t.end();
});

