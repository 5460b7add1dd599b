// SPDX-License-Identifier: GPL-2.0-only
/*
 * Which C assertion a ported ASSERT_*() / EXPECT_*() stands for.
 *
 * The real harness prints __FILE__:__LINE__ of the C macro. A ported case
 * knows its own TypeScript line only, so the port keeps, per unit (a TEST_F
 * body, a FIXTURE_SETUP or a FIXTURE_TEARDOWN), the C line and argument
 * texts of its assertions in source order (a table the selftest layer owns,
 * checked against both sources by tests/c-lines.test.ts). At a failure the
 * failing call's position in its unit (its ordinal) picks the entry.
 *
 * The scanner here is shared by that lookup and by the test that builds
 * and checks the table, so both count assertions the same way.
 */

/** One unit of a selftest source: "anon_read", "hmm:setup", "hmm2:teardown". */
export type UnitKey = string;

/** What the table says about one ported assertion; null: the port's own (no C counterpart). */
export type COrigin = { line: number; args: string[] } | null;

/** Per unit, the C origin of each of its assertions in source order. */
export type COriginTable = Readonly<Record<UnitKey, readonly COrigin[]>>;

/** An assertion call found in a source: macro name, 1-based line and column, argument texts. */
export interface AssertionCall {
  macro: string;
  offset: number;
  line: number;
  col: number;
  args: string[];
}

/**
 * The source with comments and string literals blanked (same length, same
 * newlines), so braces and macro names inside them do not count.
 */
export function blankSource(src: string): string {
  return src.replace(/\/\*[\s\S]*?\*\/|\/\/[^\n]*|"(?:\\.|[^"\\\n])*"|'(?:\\.|[^'\\\n])*'|`(?:\\.|[^`\\])*`/g,
    (m) => m.replace(/[^\n]/g, ' '));
}

/** Offset of the `}` closing the block opened at `open`, or -1. */
export function blockEnd(blank: string, open: number): number {
  let depth = 0;
  for (let i = open; i < blank.length; i++) {
    if (blank[i] === '{') depth++;
    else if (blank[i] === '}' && --depth === 0) return i;
  }
  return -1;
}

/** Top-level argument texts of the call whose `(` is at `open`, whitespace runs as one space. */
function callArgs(src: string, blank: string, open: number): string[] {
  const out: string[] = [];
  let depth = 0, from = open + 1;
  for (let i = open + 1; i < blank.length; i++) {
    const ch = blank[i];
    if ((ch === ',' || ch === ')') && depth === 0) {
      out.push(src.slice(from, i).replace(/\s+/g, ' ').trim());
      if (ch === ')') break;
      from = i + 1;
    } else if ('([{'.includes(ch)) depth++;
    else if (')]}'.includes(ch)) depth--;
  }
  return out;
}

/** The assertion calls matched by `re` (its group 1 the macro name) between two offsets. */
export function assertionCalls(src: string, blank: string, from: number, to: number, re: RegExp): AssertionCall[] {
  const calls: AssertionCall[] = [];
  const g = new RegExp(re.source, 'g');
  g.lastIndex = from;
  for (let m = g.exec(blank); m && m.index < to; m = g.exec(blank)) {
    const at = m.index + m[0].indexOf(m[1]);
    const before = blank.slice(0, at);
    const line = before.split('\n').length;
    calls.push({ macro: m[1], offset: at, line, col: at - before.lastIndexOf('\n'), args: callArgs(src, blank, m.index + m[0].length - 1) });
  }
  return calls;
}

/** A ported assertion: `t.ASSERT_EQ(` (the Metadata methods). */
export const TS_ASSERTION = /\bt\.((?:ASSERT|EXPECT)_[A-Z]+)\s*\(/;

/**
 * The units of a ported source file and their spans: each
 * `testF('name', ... => { ... })` body, and each `fixture<...>('name', { setup(...) {...}, teardown(...) {...} })`.
 */
export function tsUnits(src: string, blank = blankSource(src)): Array<{ key: UnitKey; open: number; end: number }> {
  const units: Array<{ key: UnitKey; open: number; end: number }> = [];
  const add = (key: UnitKey, at: number) => {
    const open = blank.indexOf('{', at);
    const end = open < 0 ? -1 : blockEnd(blank, open);
    if (end > 0) units.push({ key, open, end });
  };
  for (const m of src.matchAll(/\btestF\((?:'\w+',\s*)?'(\w+)'/g)) add(m[1], m.index);
  for (const m of src.matchAll(/\bfixture<[^>]*>\('(\w+)'/g)) {
    for (const stage of ['setup', 'teardown']) {
      const at = blank.slice(m.index).search(new RegExp(`\\b${stage}\\s*\\(`));
      if (at >= 0) add(`${m[1]}:${stage}`, m.index + at);
    }
  }
  return units;
}

/**
 * The unit and ordinal of the assertion at 1-based (line, col) of a ported
 * source, or undefined when that position is not an assertion inside a unit.
 */
export function ordinalAt(src: string, line: number, col: number): { key: UnitKey; ordinal: number } | undefined {
  const blank = blankSource(src);
  const lines = src.split('\n');
  let offset = 0;
  for (let i = 0; i < line - 1 && i < lines.length; i++) offset += lines[i].length + 1;
  offset += col - 1;
  const unit = tsUnits(src, blank).filter((u) => u.open <= offset && offset <= u.end).sort((a, b) => b.open - a.open)[0];
  if (!unit) return undefined;
  const calls = assertionCalls(src, blank, unit.open, unit.end, TS_ASSERTION);
  // V8 reports the column of the method name; several calls can share a line.
  const i = calls.findIndex((c) => c.line === line && c.offset + c.macro.length >= offset && offset >= c.offset - 2);
  const j = i >= 0 ? i : calls.findIndex((c) => c.line === line);
  return j < 0 ? undefined : { key: unit.key, ordinal: j };
}
