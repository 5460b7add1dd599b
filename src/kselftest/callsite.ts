// SPDX-License-Identifier: GPL-2.0-only
/*
 * Where was an ASSERT_*() / EXPECT_*() / TH_LOG() called from, and what did
 * the caller write between its parentheses?
 *
 * In C the harness gets this for free: __FILE__ and __LINE__ name the call,
 * and the preprocessor's # operator turns each macro argument into a string.
 * TypeScript has neither, so on the failure path only we:
 *   1. capture one stack frame above the public assertion method,
 *   2. map a dist/...js position back to the .ts source through the emitted
 *      source map (needed even with process.setSourceMapsEnabled(true): Node
 *      only maps modules that were loaded after the switch, and a statically
 *      imported test module is loaded before harness.ts gets to run),
 *   3. read that source line and split the call's argument list.
 * Everything here is best effort: any problem yields "unknown", never a throw.
 */
import { readFileSync } from 'node:fs';
import { SourceMap, type SourceMapPayload } from 'node:module';
import { basename, dirname, isAbsolute, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** A resolved call site: file basename, its path and 1-based line and column. */
export interface CallSite {
  file: string;
  /** The source's absolute path (the .ts file when a source map says so). */
  path: string;
  /** The path from the package's root (src/selftests/...): what a reader can open in a clone or the package. */
  shown: string;
  line: number;
  col: number;
  /** Argument texts as the C # operator would give them, when recovered. */
  args?: string[];
}

interface Position {
  path: string;
  line: number; // 1-based
  col: number; // 1-based
}

/* Only module-level mutable state: file texts and source maps, read once. */
const textCache = new Map<string, string[] | null>();
const mapCache = new Map<string, { map: SourceMap; dir: string } | null>();

function sourceLines(path: string): string[] | null {
  let lines = textCache.get(path);
  if (lines === undefined) {
    try {
      lines = readFileSync(path, 'utf8').split(/\r?\n/);
    } catch {
      lines = null;
    }
    textCache.set(path, lines);
  }
  return lines;
}

function loadMap(jsPath: string): { map: SourceMap; dir: string } | null {
  let entry = mapCache.get(jsPath);
  if (entry !== undefined) return entry;
  entry = null;
  try {
    const js = sourceLines(jsPath);
    const url = js?.map((l) => /^\/\/# sourceMappingURL=(\S+)/.exec(l)?.[1]).filter(Boolean).pop();
    if (url !== undefined) {
      let text: string;
      let dir = dirname(jsPath);
      const inline = /^data:application\/json[^,]*base64,(.*)$/.exec(url);
      if (inline) {
        text = Buffer.from(inline[1], 'base64').toString('utf8');
      } else {
        const mapPath = url.startsWith('file:') ? fileURLToPath(url) : resolve(dir, url);
        text = readFileSync(mapPath, 'utf8');
        dir = dirname(mapPath);
      }
      const payload = JSON.parse(text) as SourceMapPayload;
      entry = { map: new SourceMap(payload), dir: resolve(dir, payload.sourceRoot ?? '') };
    }
  } catch {
    entry = null;
  }
  mapCache.set(jsPath, entry);
  return entry;
}

/* The package root: this file is <root>/dist/src/kselftest/callsite.js (or .ts under <root>/src when run from source). */
const here = dirname(fileURLToPath(import.meta.url));
const ROOT = resolve(here, basename(resolve(here, '..', '..')) === 'dist' ? '../../..' : '../..');

/** `path` from the package root when it lies inside it. */
export function fromRoot(path: string): string {
  const rel = relative(ROOT, path);
  return rel && !rel.startsWith('..') && !isAbsolute(rel) ? rel : path;
}

/** A source file's lines (cached), for callers that look further into the source of a site. */
export function sourceText(path: string): string | null {
  return sourceLines(path)?.join('\n') ?? null;
}

function toPath(file: string): string {
  return file.startsWith('file:') ? fileURLToPath(file) : file;
}

/** Map a compiled-JS position to its original source; identity otherwise. */
function original(pos: Position): Position {
  if (!/\.[cm]?js$/.test(pos.path)) return pos;
  const m = loadMap(pos.path);
  if (!m) return pos;
  const e = m.map.findEntry(pos.line - 1, pos.col - 1) as {
    originalSource?: string;
    originalLine?: number;
    originalColumn?: number;
  };
  if (e.originalSource === undefined || e.originalLine === undefined) return pos;
  const src = toPath(e.originalSource);
  return {
    path: isAbsolute(src) ? src : resolve(m.dir, src),
    line: e.originalLine + 1,
    col: (e.originalColumn ?? 0) + 1,
  };
}

/** First stack frame strictly below `below` (V8 drops `below` and everything above it). */
function callerFrame(below: Function): Position | undefined {
  const holder: { stack?: string } = {};
  const saved = Error.stackTraceLimit;
  Error.stackTraceLimit = 1;
  try {
    Error.captureStackTrace(holder, below);
  } finally {
    Error.stackTraceLimit = saved;
  }
  const frame = holder.stack?.split('\n').find((l) => /^\s+at /.test(l));
  // "at fn (file:///x.js:1:2)" or "at file:///x.js:1:2"; ESM paths are URLs, so no spaces.
  const m = frame && /([^\s()]+):(\d+):(\d+)\)?$/.exec(frame);
  if (!m) return undefined;
  return { path: toPath(m[1]), line: Number(m[2]), col: Number(m[3]) };
}

/**
 * Locate the caller of `below` (a public assertion method). When `macro` is
 * given, also recover its argument texts and keep them only if there are
 * exactly `nargs` of them.
 */
export function locateCaller(below: Function, macro?: string, nargs = 0): CallSite | undefined {
  try {
    const gen = callerFrame(below);
    if (!gen) return undefined;
    const src = original(gen);
    const site: CallSite = { file: basename(src.path), path: src.path, shown: fromRoot(src.path), line: src.line, col: src.col };
    if (macro !== undefined) {
      // Prefer the original source; the compiled JS keeps the same expressions.
      const args = argsAt(src, macro) ?? (src === gen ? undefined : argsAt(gen, macro));
      if (args && args.length === nargs) site.args = args;
    }
    return site;
  } catch {
    return undefined;
  }
}

function argsAt(pos: Position, macro: string): string[] | undefined {
  const lines = sourceLines(pos.path);
  const text = lines?.[pos.line - 1];
  if (lines == null || text === undefined) return undefined;
  const at = findMacro(text, pos.col - 1, macro);
  if (at < 0) return undefined;
  // A call may span lines; 40 lines is plenty for an assertion.
  const joined = lines.slice(pos.line - 1, pos.line + 39).join('\n');
  return splitCall(joined, at + macro.length);
}

/** Occurrence of `macro(` nearest to the reported column (V8 points at the name). */
function findMacro(text: string, col: number, macro: string): number {
  const re = new RegExp(`\\b${macro}\\s*\\(`, 'g');
  let best = -1;
  for (let m = re.exec(text); m; m = re.exec(text)) {
    if (best < 0 || Math.abs(m.index - col) < Math.abs(best - col)) best = m.index;
  }
  return best;
}

/** End index (exclusive) of the string literal opening at `i`. */
function skipString(text: string, i: number): number {
  const quote = text[i];
  for (let j = i + 1; j < text.length; j++) {
    if (text[j] === '\\') j++;
    else if (text[j] === quote) return j + 1;
  }
  return text.length;
}

/**
 * Split "(a, f(b, c), [d, e])" starting at `from` (just after the callee
 * name) into top-level arguments. Comments count as whitespace; whitespace
 * runs become one space, as the C # operator does.
 */
export function splitCall(text: string, from: number): string[] | undefined {
  let i = from;
  while (i < text.length && /\s/.test(text[i])) i++;
  if (text[i] !== '(') return undefined;
  const args: string[] = [];
  let cur = '';
  let depth = 0;
  for (i++; i < text.length; ) {
    const ch = text[i];
    if (ch === '"' || ch === "'" || ch === '`') {
      const end = skipString(text, i);
      cur += text.slice(i, end);
      i = end;
      continue;
    }
    if (ch === '/' && (text[i + 1] === '/' || text[i + 1] === '*')) {
      const end = text[i + 1] === '/' ? text.indexOf('\n', i) : text.indexOf('*/', i + 2) + 2;
      if (end <= 1) return undefined;
      cur += ' ';
      i = end;
      continue;
    }
    if (ch === ',' && depth === 0) {
      args.push(cur);
      cur = '';
    } else if (ch === ')' && depth === 0) {
      args.push(cur);
      const out = args.map((a) => a.replace(/\s+/g, ' ').trim());
      if (out.length > 0 && out[out.length - 1] === '') out.pop(); // trailing comma
      return out;
    } else {
      if (ch === '(' || ch === '[' || ch === '{') depth++;
      else if (ch === ')' || ch === ']' || ch === '}') depth--;
      cur += ch;
    }
    i++;
  }
  return undefined;
}
