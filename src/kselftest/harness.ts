// SPDX-License-Identifier: GPL-2.0-only
/*
 * The test runner of tools/testing/selftests/kselftest_harness.h (Linux 6.12):
 * FIXTURE / FIXTURE_VARIANT_ADD / TEST_F registration and test_harness_run()
 * with __run_test(), printing the same TAP as the C binary.
 *
 * There are no processes here: where the C harness forks one child per case
 * (and a grandchild for setup + body + teardown) this runs the case inline
 * and turns what the parent would learn from waitpid() into the same
 * messages. Callers that need per-case isolation (one simulated kernel per
 * case) pass `caseContext`, see RunOptions.
 *
 * This layer never imports the kernel model.
 */
import { performance } from 'node:perf_hooks';
import {
  AssertionAbort, KSFT_FAIL, KSFT_PASS, KSFT_SKIP, KSFT_XFAIL, KSFT_XPASS, Metadata, SkipSignal,
  type CaseFailure, type FailureKind, type Provenance,
} from './assert.js';

export type { CaseFailure, FailureKind } from './assert.js';

/*
 * Map stacks of modules loaded from now on to their .ts sources. Modules of
 * the same static import graph were loaded before this line ran; callsite.ts
 * maps those itself through their .js.map files.
 */
process.setSourceMapsEnabled(true);

/** FIXTURE(name) with its FIXTURE_SETUP / FIXTURE_TEARDOWN and the zeroed `self`. */
export interface FixtureDef<Self, Variant> {
  /** A fresh, "zeroed" FIXTURE_DATA for one case. */
  create(): Self;
  setup(self: Self, variant: Variant, t: Metadata): void;
  teardown(self: Self, variant: Variant, t: Metadata): void;
}

/** A TEST_F body. Must be synchronous (a returned Promise fails the case). */
export type CaseFn<Self, Variant> = (self: Self, variant: Variant, t: Metadata) => void;

/**
 * Wraps one case, from just after the "#  RUN" line to just before the
 * verdict: enter() before setup, exit() after teardown. exit() returns
 * extra failure messages (e.g. a leak found when the simulated module is
 * unloaded); each is printed to the error stream as "# <msg>" and a
 * non-empty list fails the case. If enter() throws, the case fails without
 * running setup and exit() is not called; a throw from exit() fails the case.
 */
export interface CaseContext {
  enter(): void;
  /** Problems found after the case; a plain string is of kind `exception`. */
  exit(): Array<string | CaseFailure>;
  /** Lines shown under a failed case before its verdict (e.g. its last device commands). */
  notes?(): string[];
}

export interface CaseResult {
  /** "<fixture>.<variant>.<case>" */
  name: string;
  status: 'pass' | 'fail' | 'skip';
  /** The SKIP() reason, when one was given. */
  reason?: string;
  /** Every error-stream line of the case, in order. */
  messages: string[];
  /** What failed it, by kind (empty unless status is 'fail'). */
  failures: CaseFailure[];
  durationMs: number;
  /** A failed case whose process blocked for good in the kernel (a hung-task report is among the messages): the HANG verdict. */
  hang?: true;
}

export interface RunResult {
  /** ksft_exit(ret == 0): 0 when every case passed or skipped, else 1. */
  exitCode: 0 | 1;
  /** The cases the plan held (results may hold fewer after --bail). */
  planned: number;
  /** The run stopped at a failure (RunOptions.bail). */
  bailedOut?: boolean;
  pass: number;
  fail: number;
  skip: number;
  results: CaseResult[];
}

export interface RunOptions {
  /** stdout: TAP lines and ksft_print_msg() output. */
  out: (line: string) => void;
  /** stderr (TH_LOG_STREAM): assertion messages, SKIP reasons, crash reports. */
  err: (line: string) => void;
  /** test_enabled(): false leaves the case out of the plan and the numbering. */
  filter?: (fixture: string, variant: string, test: string) => boolean;
  hooks?: {
    /** Before the "#  RUN" line; `num` is the case's number in the plan (from 1), `timeoutS` its own TEST_F_TIMEOUT, if it has one. */
    beforeCase?(name: string, num: number, timeoutS?: number): void;
    /** After the "ok N" line. */
    afterCase?(name: string, result: CaseResult): void;
  };
  /** Called once per case with its full name; see CaseContext. */
  caseContext?: (name: string) => CaseContext;
  /** The C lines of the ported assertions and errno names, for failure messages. */
  provenance?: Provenance;
  /** The kind of failure a thrown error is (a kernel oops, a signal...); `exception` when undefined. */
  classify?: (e: unknown) => FailureKind | undefined;
  /** Stop after the first failed case ("Bail out!" in TAP). */
  bail?: boolean;
  /**
   * Go on with a run another process began: skip the header and the first
   * `next` cases of the plan, count `prior` in the totals (a run resumed
   * after a case was stopped by the per-test timeout).
   */
  resume?: { next: number; prior: CaseResult[] };
  /**
   * Run only the cases of the plan whose 0-based place is `index` modulo
   * `count` (one of `count` threads running the suite; the numbering is the
   * whole plan's). Shard 0 prints the header; no shard prints the closing
   * lines or stops for `bail`: whoever puts the shards' lines back in plan
   * order does (finishRun()).
   */
  shard?: { count: number; index: number };
}

interface FixtureRec {
  name: string;
  def: FixtureDef<any, any>;
  variants: { name: string; data: unknown }[];
  tests: { name: string; fn: CaseFn<any, any>; timeoutS?: number }[];
}

interface PlannedCase {
  fixture: FixtureRec;
  variant: { name: string; data: unknown };
  test: { name: string; fn: CaseFn<any, any>; timeoutS?: number };
}

/** Typed handle returned by Harness.fixture(). */
export interface Fixture<Self, Variant> {
  readonly name: string;
  variant(variantName: string, data: Variant): Fixture<Self, Variant>;
  /** TEST_F(fixture, case), or TEST_F_TIMEOUT(fixture, case, timeoutS). */
  testF(caseName: string, fn: CaseFn<Self, Variant>, timeoutS?: number): Fixture<Self, Variant>;
}

/* The variant a fixture without FIXTURE_VARIANT_ADD runs under (no_variant). */
const NO_VARIANT = { name: '', data: undefined };

export class Harness {
  private readonly fixtures: FixtureRec[] = [];

  /** FIXTURE + FIXTURE_SETUP + FIXTURE_TEARDOWN. Fixtures run in declaration order. */
  fixture<Self, Variant>(name: string, def: FixtureDef<Self, Variant>): Fixture<Self, Variant> {
    if (this.fixtures.some((f) => f.name === name)) throw new Error(`fixture ${name} declared twice`);
    this.fixtures.push({ name, def, variants: [], tests: [] });
    const handle: Fixture<Self, Variant> = {
      name,
      variant: (v, data) => (this.variant(name, v, data), handle),
      testF: (c, fn, timeoutS) => (this.testF(name, c, fn, timeoutS), handle),
    };
    return handle;
  }

  /** FIXTURE_VARIANT_ADD(fixture, variant) = data. Variants run in declaration order. */
  variant<Variant>(fixtureName: string, variantName: string, data: Variant): void {
    const f = this.lookup(fixtureName);
    if (f.variants.some((v) => v.name === variantName)) {
      throw new Error(`variant ${fixtureName}.${variantName} declared twice`);
    }
    f.variants.push({ name: variantName, data });
  }

  /** TEST_F(fixture, case). Cases of a fixture run in declaration order. */
  testF<Self, Variant>(fixtureName: string, caseName: string, fn: CaseFn<Self, Variant>, timeoutS?: number): void {
    const f = this.lookup(fixtureName);
    if (f.tests.some((t) => t.name === caseName)) throw new Error(`test ${fixtureName}.${caseName} declared twice`);
    f.tests.push({ name: caseName, fn, timeoutS });
  }

  /** test_harness_run() without the getopt part (see RunOptions.filter). */
  run(opts: RunOptions): RunResult {
    const { plan, caseCount } = this.plan(opts.filter);
    const res: RunResult = { exitCode: 0, planned: plan.length, pass: 0, fail: 0, skip: 0, results: [] };
    const shard = opts.shard ?? { count: 1, index: 0 };
    if (opts.resume) {
      for (const r of opts.resume.prior) (res.results.push(r), res[r.status]++);
    } else if (shard.index === 0) {
      // ksft_print_header(), ksft_set_plan(), then the "Starting" message.
      opts.out('TAP version 13');
      opts.out(`1..${plan.length}`);
      opts.out(`# Starting ${plan.length} tests from ${caseCount} test cases.`);
    }
    for (let i = opts.resume?.next ?? 0; i < plan.length; i++) {
      if (i % shard.count !== shard.index) continue;
      const r = runCase(plan[i], i + 1, opts);
      res.results.push(r);
      res[r.status]++;
      if (r.status === 'fail' && opts.bail && shard.count === 1 && i + 1 < plan.length) {
        // TAP's own way to end a run early; the real harness has no --bail.
        opts.out(`Bail out! ${r.name} failed (--bail): ${plan.length - i - 1} of ${plan.length} tests not run`);
        res.bailedOut = true;
        res.exitCode = 1;
        return res;
      }
    }
    return shard.count === 1 ? finishRun(res, opts.out) : res;
  }

  /** What is declared, in order: for test_harness_list_tests() (-l). */
  declared(): Array<{ fixture: string; variants: string[]; tests: string[] }> {
    return this.fixtures.map((f) => ({ fixture: f.name, variants: f.variants.map((v) => v.name), tests: f.tests.map((t) => t.name) }));
  }

  private lookup(name: string): FixtureRec {
    const f = this.fixtures.find((x) => x.name === name);
    if (!f) throw new Error(`fixture ${name} is not declared`);
    return f;
  }

  /**
   * Kernel order: fixture, then variant, then case. A "test case" is a
   * fixture-variant pair with at least one enabled test (case_count).
   */
  private plan(filter: RunOptions['filter']): { plan: PlannedCase[]; caseCount: number } {
    const plan: PlannedCase[] = [];
    let caseCount = 0;
    for (const fixture of this.fixtures) {
      const variants = fixture.variants.length ? fixture.variants : [NO_VARIANT];
      for (const variant of variants) {
        const before = plan.length;
        for (const test of fixture.tests) {
          if (!filter || filter(fixture.name, variant.name, test.name)) plan.push({ fixture, variant, test });
        }
        if (plan.length !== before) caseCount++;
      }
    }
    return { plan, caseCount };
  }
}

/** The closing lines of test_harness_run() and ksft_exit(): prints them and sets exitCode. */
export function finishRun(res: RunResult, out: (line: string) => void): RunResult {
  // __test_passed() counts skips as passed.
  out(`# ${res.fail ? 'FAILED' : 'PASSED'}: ${res.pass + res.skip} / ${res.planned} tests passed.`);
  // ksft_exit() -> ksft_print_cnts(); xfail/xpass/error are never produced here.
  out(`# Totals: pass:${res.pass} fail:${res.fail} xfail:0 xpass:0 skip:${res.skip} error:0`);
  res.exitCode = res.fail ? 1 : 0;
  return res;
}

/**
 * The verdict of a case the per-test timeout stopped (__wait_for_test()
 * with t->timed_out): its lines, and its result.
 */
/** The "#  RUN" line __run_test() prints before it forks the case. */
export function runLine(name: string): string {
  return `#  RUN           ${name} ...`;
}

export function timedOutCase(name: string, num: number, messages: string[], durationMs: number, timeoutS: number, commands: string[] = []): { err: string[]; out: string[]; result: CaseResult } {
  const short = name.split('.').at(-1)!;
  const first = `${short}: Test terminated by timeout`;
  const err = [`#   no verdict after ${timeoutS} s (--timeout)`];
  if (commands.length) err.push('#   last device commands:', ...commands.map((c) => `#     ${c}`));
  err.push(`# ${first}`);
  return {
    err,
    out: [`#          FAIL  ${name}`, resultLine(KSFT_FAIL, num, name, '')],
    result: { name, status: 'fail', messages: [...messages, ...err], failures: [{ kind: 'timeout', message: first }], durationMs },
  };
}

/* ------------------------------------------------------------------ */
/* One case: __run_test() + the TEST_F wrapper + __wait_for_test().    */
/* ------------------------------------------------------------------ */

/** What ended a stage abnormally, other than ASSERT/SKIP (a "signal"). */
interface Crash {
  signal?: number;
  /** The test process blocked for good in the kernel (a HungTask: the kernel's hung-task report was printed). */
  hang?: boolean;
}

/** The failure kinds that are the kernel's own reports. */
const KERNEL_REPORTS: FailureKind[] = ['oops', 'bug', 'warn', 'hang', 'leak'];

function runCase(c: PlannedCase, num: number, opts: RunOptions): CaseResult {
  const t = new Metadata(c.fixture.name, c.variant.name, c.test.name, opts.err);
  t.provenance = opts.provenance;
  t.stdout = opts.out;
  const name = t.fullName;
  opts.hooks?.beforeCase?.(name, num, c.test.timeoutS);
  opts.out(runLine(name));
  const start = performance.now();

  let crash: Crash | undefined;
  let ctx: CaseContext | undefined;
  try {
    ctx = opts.caseContext?.(name);
    ctx?.enter();
  } catch (e) {
    crash = reportCrash(t, e, opts.classify);
    ctx = undefined;
  }
  if (!crash) crash = runFixture(c, t, opts.classify);
  if (ctx) {
    const late = leaveContext(ctx, t, opts.classify);
    crash ??= late;
  }
  if (t.exitCode === KSFT_FAIL || crash) {
    // A TAP reader sees a kernel report's kind as well as its text.
    const kinds = [...new Set(t.failures.map((f) => f.kind))];
    if (kinds.some((k) => KERNEL_REPORTS.includes(k))) t.err(`#   failure kinds: ${kinds.join(', ')}`);
    if (ctx) for (const l of safeNotes(ctx)) t.err(`#   ${l}`);
  }
  waitStatus(t, crash);

  const passed = t.exitCode !== KSFT_FAIL && t.exitCode <= KSFT_SKIP;
  // ksft_print_msg("         %4s  %s\n", ...)
  opts.out(`#          ${passed ? '  OK' : 'FAIL'}  ${name}`);
  opts.out(resultLine(t.exitCode, num, name, t.reason));

  const status = !passed ? 'fail' : t.exitCode === KSFT_SKIP ? 'skip' : 'pass';
  const result: CaseResult = { name, status, messages: t.messages, failures: status === 'fail' ? t.failures : [], durationMs: performance.now() - start };
  if (t.reason) result.reason = t.reason;
  if (crash?.hang) result.hang = true;
  opts.hooks?.afterCase?.(name, result);
  return result;
}

/**
 * The TEST_F wrapper. Followed from 6.12: setup runs; if it left a non-zero
 * exit code (ASSERT/EXPECT failure or SKIP) the grandchild exits at once, so
 * neither the body nor the teardown runs. Otherwise setup_completed is set,
 * the body runs, and the teardown runs exactly once afterwards whether the
 * body returned, SKIPped or failed an ASSERT (the longjmp lands before the
 * teardown call). Deviation asked for by the simulator: a body that throws
 * (a kernel oops, which would kill the C grandchild) still gets its teardown.
 */
function runFixture(c: PlannedCase, t: Metadata, classify: RunOptions['classify']): Crash | undefined {
  const self: unknown = c.fixture.def.create();
  const data = c.variant.data;
  t.stage = 'setup';
  let crash = stage(t, () => c.fixture.def.setup(self, data, t), classify);
  if (crash || t.exitCode !== KSFT_PASS || t.aborted) return crash;
  t.setupCompleted = true;
  t.stage = 'body';
  crash = stage(t, () => c.test.fn(self, data, t), classify);
  // A body blocked for good in the kernel (a hung task) never gets to its teardown, as in C.
  if (crash?.hang) return crash;
  t.stage = 'teardown';
  const late = stage(t, () => c.fixture.def.teardown(self, data, t), classify);
  t.stage = 'body';
  return late ?? crash;
}

function safeNotes(ctx: CaseContext): string[] {
  try {
    return ctx.notes?.() ?? [];
  } catch {
    return [];
  }
}

/** Run one of setup/body/teardown; ASSERT and SKIP end it quietly, anything else is a crash. */
function stage(t: Metadata, fn: () => unknown, classify: RunOptions['classify']): Crash | undefined {
  try {
    const ret = fn();
    if (ret instanceof Promise) {
      ret.catch(() => {}); // the case is over; do not leave an unhandled rejection
      throw new Error('asynchronous test function: the harness runs cases synchronously');
    }
    return undefined;
  } catch (e) {
    if (e instanceof AssertionAbort || e instanceof SkipSignal) return undefined;
    return reportCrash(t, e, classify);
  }
}

/** Print a thrown error's message lines as "# ..." on the error stream. */
function reportCrash(t: Metadata, e: unknown, classify: RunOptions['classify']): Crash {
  const err = e instanceof Error ? e : undefined;
  let text = err ? err.message : String(e);
  const reportKind = (e as { kind?: unknown } | null)?.kind;
  const hang = reportKind === 'HANG';
  // A kernel report (oops, BUG, hung task) is printed as the kernel prints it, without the error's name.
  const kernelReport = hang || reportKind === 'BUG' || reportKind === 'Oops';
  if (err && err.name && err.name !== 'Error' && !kernelReport) text = `${err.name}: ${text}`;
  const lines = text.split('\n');
  for (const line of lines) t.err(`# ${line}`);
  t.exitCode = KSFT_FAIL;
  const signal = (e as { signal?: unknown } | null)?.signal;
  let kind: FailureKind = typeof signal === 'number' ? 'signal' : 'exception';
  try {
    kind = classify?.(e) ?? kind;
  } catch { /* a classifier that throws leaves the default */ }
  t.failures.push({ kind, message: lines[0] });
  if (hang) return { hang: true };
  return typeof signal === 'number' ? { signal } : {};
}

function leaveContext(ctx: CaseContext, t: Metadata, classify: RunOptions['classify']): Crash | undefined {
  try {
    const extra = ctx.exit();
    for (const p of extra) {
      const f: CaseFailure = typeof p === 'string' ? { kind: 'exception', message: p } : p;
      for (const line of f.message.split('\n')) t.err(`# ${line}`);
      t.failures.push({ kind: f.kind, message: f.message.split('\n')[0] });
    }
    if (extra.length) t.exitCode = KSFT_FAIL;
    return undefined;
  } catch (e) {
    return reportCrash(t, e, classify);
  }
}

/**
 * What __wait_for_test() prints once the child is gone. An aborted case is
 * reported as killed by SIGABRT (the wrapper calls abort() after an ASSERT
 * failure); an EXPECT failure as a plain failed exit. A thrown exception
 * stands for an unexpected signal: the error's own `signal` number when it
 * carries one, the kernel's wording otherwise.
 */
function waitStatus(t: Metadata, crash: Crash | undefined): void {
  if (crash?.hang) {
    // The C harness would wait for this child forever (its timeout's SIGKILL cannot end a task in D state).
    t.err(`# ${t.name}: Test hung: the test process is blocked in the kernel for good (HANG)`);
    t.exitCode = KSFT_FAIL;
  } else if (crash) {
    const how = crash.signal !== undefined ? `signal ${crash.signal}` : 'exception';
    t.err(`# ${t.name}: Test terminated unexpectedly by ${how}`);
    t.exitCode = KSFT_FAIL;
  } else if (t.aborted) {
    t.err(`# ${t.name}: Test terminated by assertion`);
    t.exitCode = KSFT_FAIL;
  } else if (t.exitCode !== KSFT_PASS && t.exitCode !== KSFT_SKIP) {
    t.err(`# ${t.name}: Test failed`);
    t.exitCode = KSFT_FAIL;
  }
}

/** ksft_test_result_code() with __run_test()'s choice of diagnostic. */
export function resultLine(code: number, num: number, name: string, reason: string): string {
  const diagnostic = reason ? reason : code === KSFT_PASS || code === KSFT_FAIL ? undefined : 'unknown';
  let tap = 'ok';
  let directive = '';
  if (code === KSFT_SKIP) directive = ' # SKIP ';
  else if (code === KSFT_XFAIL) directive = ' # XFAIL ';
  else if (code === KSFT_XPASS) directive = ' # XPASS ';
  else if (code !== KSFT_PASS) tap = 'not ok';
  if (!directive && diagnostic !== undefined) directive = ' #  ';
  return `${tap} ${num} ${name}${directive}${diagnostic ?? ''}`;
}
