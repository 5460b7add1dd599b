// SPDX-License-Identifier: GPL-2.0-only
/*
 * The per-case state of kselftest_harness.h (struct __test_metadata, the
 * `_metadata` every TEST_F body receives) together with the ASSERT_*,
 * EXPECT_*, SKIP and TH_LOG operators.
 *
 * Why methods on Metadata (`t.ASSERT_EQ(ret, 0)`) rather than free functions
 * (`ASSERT_EQ(t, ret, 0)`): the C macros reach `_metadata` implicitly, so a
 * ported line keeps exactly the C argument list and only gains the `t.`
 * prefix, which also makes the dependency on the current case visible. Free
 * functions would put an extra first argument into every one of the ~300
 * assertions of hmm-tests and into the recovered argument texts.
 *
 * Semantics follow __EXPECT()/__bail() of the 6.12 header:
 *  - the comparison is `expected <op> seen`;
 *  - on failure one line "# <file>:<line>:<case>:Expected <e> (<ev>) <op> <s> (<sv>)"
 *    goes to the error stream (TH_LOG_STREAM is stderr) and exit_code
 *    becomes KSFT_FAIL;
 *  - ASSERT_* then sets `aborted` and leaves the function (the longjmp of
 *    __bail); here that is a thrown AssertionAbort the harness catches;
 *  - EXPECT_* returns and the case goes on.
 * The success path is a compare and a return; the stack walk, source-map
 * lookup and source read happen only when a check fails.
 */
import { locateCaller, sourceText, type CallSite } from './callsite.js';
import { ordinalAt, type COriginTable } from './c_origin.js';

/* Exit codes of kselftest.h. */
export const KSFT_PASS = 0;
export const KSFT_FAIL = 1;
export const KSFT_XFAIL = 2;
export const KSFT_XPASS = 3;
export const KSFT_SKIP = 4;

/** What can be compared for (in)equality; null/undefined stand for NULL. */
export type Value = number | bigint | boolean | null | undefined | object;
/** What can be ordered (LT/LE/GT/GE). */
export type Ordered = number | bigint;

/**
 * Thrown by a failed ASSERT_* (the __bail() longjmp). Deliberately not an
 * Error: code that catches errors from the simulated kernel must let it pass
 * (see isHarnessSignal).
 */
export class AssertionAbort {
  readonly kind = 'assertion-abort';
}

/** Thrown by SKIP(): the `return` statement of SKIP(return, fmt). Not an Error either. */
export class SkipSignal {
  readonly kind = 'skip';
}

/** True for the harness's own control-flow signals; rethrow these from any catch-all. */
export function isHarnessSignal(e: unknown): e is AssertionAbort | SkipSignal {
  return e instanceof AssertionAbort || e instanceof SkipSignal;
}

/** Print a value as __EXPECT does: signed decimal (%jd); NULL and false are 0. */
export function formatValue(v: Value): string {
  switch (typeof v) {
    case 'number':
      if (Number.isInteger(v) && !Number.isSafeInteger(v)) return BigInt(v).toString();
      return Object.is(v, -0) ? '0' : String(v);
    case 'bigint':
      return v.toString();
    case 'boolean':
      return v ? '1' : '0';
    case 'undefined':
      return '0';
    default:
      // An object has no address to print; name its kind instead.
      return v === null ? '0' : `<${(v as object).constructor?.name ?? 'object'}>`;
  }
}

/** Names of the comparing methods, used to find the call in the source. */
type Macro =
  | 'ASSERT_EQ' | 'ASSERT_NE' | 'ASSERT_LT' | 'ASSERT_LE' | 'ASSERT_GT' | 'ASSERT_GE'
  | 'ASSERT_TRUE' | 'ASSERT_FALSE' | 'ASSERT_NULL'
  | 'EXPECT_EQ' | 'EXPECT_NE' | 'EXPECT_LT' | 'EXPECT_LE' | 'EXPECT_GT' | 'EXPECT_GE'
  | 'EXPECT_TRUE' | 'EXPECT_FALSE' | 'EXPECT_NULL';

/**
 * What failed a case. `assertion`: an ASSERT/EXPECT; `signal`: the test
 * process died of one (SIGSEGV, SIGBUS); `exception`: the port threw
 * something else; the kernel's own reports: `oops`, `bug` (BUG()/BUG_ON()),
 * `warn` (WARN()), `hang`, `leak` (pages or vmalloc areas not back at module
 * unload); `timeout`: the per-test time limit.
 */
export type FailureKind = 'assertion' | 'signal' | 'exception' | 'oops' | 'bug' | 'warn' | 'hang' | 'leak' | 'timeout';

export interface CaseFailure {
  kind: FailureKind;
  /** The failure's first line as printed, without the "# ". */
  message: string;
}

/** Where the harness finds the C line of a ported assertion, and names errno values. */
export interface Provenance {
  /** The C file the table speaks of, as __FILE__ shows it ("hmm-tests.c"). */
  cFile: string;
  table: COriginTable;
  /** "EBUSY" for -16; undefined for what is not an errno. */
  errnoName?: (value: number) => string | undefined;
}

/** struct __test_metadata, reduced to what a simulated run needs. */
export class Metadata {
  /** KSFT_PASS, KSFT_FAIL or KSFT_SKIP (exit_code). */
  exitCode = KSFT_PASS;
  /** results->reason: set by SKIP(), printed after "# SKIP". */
  reason = '';
  /** A failed ASSERT_* ended the case (aborted). */
  aborted = false;
  /** FIXTURE_SETUP returned without failing (setup_completed). */
  setupCompleted = false;
  /** Every error-stream line this case produced, in order. */
  readonly messages: string[] = [];
  /** What failed the case, in order, by kind. */
  readonly failures: CaseFailure[] = [];
  /** Which part of the case runs (the unit the C line table is looked up in). */
  stage: 'setup' | 'body' | 'teardown' = 'body';
  /** Set by the harness from RunOptions.provenance. */
  provenance?: Provenance;

  /**
   * @param fixture fixture name, e.g. "hmm"
   * @param variant variant name, "" when the fixture has none
   * @param name    case name, e.g. "anon_read" (the C _metadata->name)
   * @param sink    the error stream (stderr)
   */
  constructor(
    readonly fixture: string,
    readonly variant: string,
    readonly name: string,
    private readonly sink: (line: string) => void = () => {},
  ) {}

  /** "<fixture>[.<variant>].<case>", the name in RUN/OK/ok lines. */
  get fullName(): string {
    return `${this.fixture}${this.variant ? '.' : ''}${this.variant}.${this.name}`;
  }

  /** Write one line to the error stream (fprintf(stderr, ...) of a ported test). */
  err(line: string): void {
    this.messages.push(line);
    this.sink(line);
  }

  /** The test's stdout (printf() of a ported test): the harness's TAP stream, as the C child shares it. */
  stdout: (line: string) => void = () => {};

  /** printf(): text to stdout, one line per newline (a trailing newline ends the last line). */
  printf(text: string): void {
    const lines = text.split('\n');
    if (lines.at(-1) === '') lines.pop();
    for (const l of lines) this.stdout(l);
  }

  /** TH_LOG(fmt, ...): "# file:line:case:msg". */
  TH_LOG(msg: string): void {
    const site = locateCaller(Metadata.prototype.TH_LOG);
    this.err(`# ${site?.shown ?? '?'}:${site?.line ?? 0}:${this.name}:${msg}`);
  }

  /**
   * SKIP(return, reason): record the reason, log it, mark the case skipped
   * and leave the current function (setup or test body). Only the
   * `return` form exists; every SKIP in hmm-tests uses it.
   */
  SKIP(reason: string): never {
    this.reason = reason.slice(0, 1023); // results->reason is char[1024]
    this.err(`#      SKIP      ${this.reason}`);
    this.exitCode = KSFT_SKIP;
    throw new SkipSignal();
  }

  ASSERT_EQ(expected: Value, seen: Value): void {
    if (expected == seen) return;
    this.fail('ASSERT_EQ', '==', expected, seen);
  }
  ASSERT_NE(expected: Value, seen: Value): void {
    if (expected != seen) return;
    this.fail('ASSERT_NE', '!=', expected, seen);
  }
  ASSERT_LT(expected: Ordered, seen: Ordered): void {
    if (expected < seen) return;
    this.fail('ASSERT_LT', '<', expected, seen);
  }
  ASSERT_LE(expected: Ordered, seen: Ordered): void {
    if (expected <= seen) return;
    this.fail('ASSERT_LE', '<=', expected, seen);
  }
  ASSERT_GT(expected: Ordered, seen: Ordered): void {
    if (expected > seen) return;
    this.fail('ASSERT_GT', '>', expected, seen);
  }
  ASSERT_GE(expected: Ordered, seen: Ordered): void {
    if (expected >= seen) return;
    this.fail('ASSERT_GE', '>=', expected, seen);
  }
  /** __EXPECT(0, "0", seen, #seen, !=, 1): C truth, so 0, NULL and false fail. */
  ASSERT_TRUE(seen: Value): void {
    if (seen) return;
    this.fail1('ASSERT_TRUE', '0', '!=', seen);
  }
  ASSERT_FALSE(seen: Value): void {
    if (!seen) return;
    this.fail1('ASSERT_FALSE', '0', '==', seen);
  }
  /** __EXPECT(NULL, "NULL", seen, #seen, ==, 1); null and undefined are NULL. */
  ASSERT_NULL(seen: Value): void {
    if (seen == null) return;
    this.fail1('ASSERT_NULL', 'NULL', '==', seen);
  }

  EXPECT_EQ(expected: Value, seen: Value): void {
    if (expected == seen) return;
    this.fail('EXPECT_EQ', '==', expected, seen);
  }
  EXPECT_NE(expected: Value, seen: Value): void {
    if (expected != seen) return;
    this.fail('EXPECT_NE', '!=', expected, seen);
  }
  EXPECT_LT(expected: Ordered, seen: Ordered): void {
    if (expected < seen) return;
    this.fail('EXPECT_LT', '<', expected, seen);
  }
  EXPECT_LE(expected: Ordered, seen: Ordered): void {
    if (expected <= seen) return;
    this.fail('EXPECT_LE', '<=', expected, seen);
  }
  EXPECT_GT(expected: Ordered, seen: Ordered): void {
    if (expected > seen) return;
    this.fail('EXPECT_GT', '>', expected, seen);
  }
  EXPECT_GE(expected: Ordered, seen: Ordered): void {
    if (expected >= seen) return;
    this.fail('EXPECT_GE', '>=', expected, seen);
  }
  EXPECT_TRUE(seen: Value): void {
    if (seen) return;
    this.fail1('EXPECT_TRUE', '0', '!=', seen);
  }
  EXPECT_FALSE(seen: Value): void {
    if (!seen) return;
    this.fail1('EXPECT_FALSE', '0', '==', seen);
  }
  EXPECT_NULL(seen: Value): void {
    if (seen == null) return;
    this.fail1('EXPECT_NULL', 'NULL', '==', seen);
  }

  /* ---- failure path only ---- */

  /** Two-argument form: both texts come from the caller's source. */
  private fail(macro: Macro, op: string, expected: Value, seen: Value): void {
    const site = locateCaller(Metadata.prototype[macro], macro, 2);
    this.report(macro, site, [expected, seen], (e, s) => `${e} ${op} ${s}`);
  }

  /** One-argument form (TRUE/FALSE/NULL): the expected side is a fixed literal. */
  private fail1(macro: Macro, literal: string, op: string, seen: Value): void {
    const site = locateCaller(Metadata.prototype[macro], macro, 1);
    this.report(macro, site, [seen], (s) => `${literal} (0) ${op} ${s}`);
  }

  /** The C origin of the failing call, when the table knows it. */
  private cOrigin(site: CallSite | undefined): { line: number; args: string[] } | undefined {
    const p = this.provenance;
    const src = site && p ? sourceText(site.path) : null;
    if (!site || !p || src === null) return undefined;
    const at = ordinalAt(src, site.line, site.col);
    const key = this.stage === 'body' ? this.name : `${this.fixture}:${this.stage}`;
    if (!at || at.key !== key) return undefined;
    return p.table[key]?.[at.ordinal] ?? undefined;
  }

  /**
   * __TH_LOG("Expected ..."), exit_code = KSFT_FAIL, then __bail() for
   * ASSERT_*. The first line is the real harness's: the C file and line
   * and the C argument texts where the port has them, so it reads as the
   * real kernel's log does. A second line gives the TypeScript location and
   * names errno values; a port-only assertion has no C line and shows its
   * TypeScript location in the first line.
   */
  private report(macro: Macro, site: CallSite | undefined, values: Value[], form: (...sides: string[]) => string): void {
    const c = this.cOrigin(site);
    const texts = c?.args ?? site?.args ?? values.map(() => '?');
    const where = c ? `${this.provenance!.cFile}:${c.line}` : `${site?.shown ?? '?'}:${site?.line ?? 0}`;
    const message = `${where}:${this.name}:Expected ${form(...values.map((v, i) => `${texts[i]} (${formatValue(v)})`))}`;
    this.err(`# ${message}`);
    const notes: string[] = [];
    if (c && site) notes.push(`at ${site.shown}:${site.line}`);
    values.forEach((v, i) => {
      const other = values.length === 2 ? texts[1 - i] : '';
      const name = errnoLike(texts[i], other, v) ? this.provenance?.errnoName?.(v as number) : undefined;
      if (name) notes.push(`${texts[i]} = ${formatValue(v)} (${name})`);
    });
    if (notes.length) this.err(`#   ${notes.join('; ')}`);
    this.failures.push({ kind: 'assertion', message });
    this.exitCode = KSFT_FAIL;
    if (macro.startsWith('ASSERT_')) {
      this.aborted = true;
      throw new AssertionAbort();
    }
  }
}

/**
 * A value worth naming as an errno: negative and small, and either compared
 * with an errno constant (`-EFAULT`) or the result of a call or a `ret`.
 */
function errnoLike(text: string, other: string, v: Value): boolean {
  if (typeof v !== 'number' || !Number.isInteger(v) || v >= 0 || v < -4095) return false;
  if (/^-E[A-Z0-9]+$/.test(other)) return true;
  return !text.includes('[') && /^(?:ret|err|rc|error)\b|\)$/.test(text);
}
