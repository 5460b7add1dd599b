// SPDX-License-Identifier: GPL-2.0-only
/*
 * hmm-test fuzz's generator: random scenarios from a seed, each action
 * both as its scenario YAML lines (what a failure is saved as, what
 * --emit-c compiles) and as the checked Step parse.ts makes of those lines,
 * positions included, so the fuzzer runs scenarios without parsing YAML.
 * tests/fuzz.test.ts parses the text of whole batches and compares it with
 * the built steps: the two forms cannot drift apart unnoticed.
 */
import { Prng } from '../kernel-model/random.js';
import { PROT_NONE, PROT_READ, PROT_WRITE } from '../kernel-model/mm.js';
import { HPAGE_PMD_NR } from '../kernel-model/page.js';
import { MADVICE, REQUESTS } from './names.js';
import { parsePattern } from './pattern.js';
import { parseScenario } from './parse.js';
import type { BufferType, Pattern, PageRange, Scenario, ScenarioConfig, Step } from './scenario.js';

export type FuzzMode = { kind: 'private' } | { kind: 'coherent' | 'generic'; spm0: number; spm1: number };

/** One top-level action of a generated scenario. */
export interface Action {
  /** Its list item: one or more lines, the first at indent 2. */
  lines: string[];
  /** Its checked form, its first line being line `line` of `file`. */
  step: (file: string, line: number) => Step;
}

/** How long scenarios are: top-level actions, both ends included. */
export interface GenOptions {
  minActions: number;
  maxActions: number;
}
/** Long enough that boot, module load and the unload check are a small part of a scenario's time (README "Speed"). */
export const DEFAULT_GEN: GenOptions = { minActions: 100, maxActions: 300 };

interface GenBuf {
  name: string;
  pages: number;
  /** Per page: 0 unmapped, 1 PROT_NONE, 2 read-only, 3 read-write. */
  prot: Uint8Array;
}

const PROTS = [['none', PROT_NONE], ['r', PROT_READ], ['rw', PROT_READ | PROT_WRITE]] as const;
const CMDS = ['READ', 'WRITE', 'MIGRATE_TO_DEV', 'MIGRATE_TO_SYS', 'SNAPSHOT', 'EXCLUSIVE', 'CHECK_EXCLUSIVE'];
/** The seed's UAPI too on its GENERIC devices (the driver decodes both, test_hmm_uapi.ts). */
const GENERIC_CMDS = [...CMDS, 'V5_READ', 'V5_WRITE', 'V5_MIGRATE', 'V5_SNAPSHOT'];
const KINDS: Array<{ type: BufferType; shared: boolean }> = [
  { type: 'anon', shared: false }, { type: 'anon', shared: false }, { type: 'anon', shared: true },
  { type: 'file', shared: true }, { type: 'file', shared: false }, { type: 'thp', shared: false },
];

const patterns = new Map<string, Pattern>();
/** A pattern as parse.ts makes it (memoised: the same text is the same pure function). */
function pattern(text: string): Pattern {
  let p = patterns.get(text);
  if (p === undefined) patterns.set(text, p = parsePattern(text) as Pattern);
  return p;
}

const pagesOf = (first: number, count: number) => (count === 1 ? `${first}` : `"${first}-${first + count - 1}"`);
const rangeOf = (b: GenBuf, first: number, count: number): PageRange => ({ buf: b.name, first, count });

class Gen {
  readonly r: Prng;
  pat = 0;
  cmds = CMDS;
  constructor(seed: number, index: number) {
    this.r = new Prng((Math.imul(seed, 0x9e3779b1) ^ (index * 0x85ebca6b)) >>> 0);
  }
  below(n: number): number {
    return this.r.u32() % n;
  }
  pick<T>(xs: readonly T[]): T {
    return xs[this.below(xs.length)];
  }
  /** A run of up to 4 pages of one buffer whose every page has prot >= min; null when there is none. */
  range(bufs: GenBuf[], min: number): { b: GenBuf; first: number; count: number } | null {
    if (bufs.length === 0) return null;
    for (let tries = 0; tries < 8; tries++) {
      const b = this.pick(bufs);
      // A THP window is 512 pages: stay in its first 16 so that actions meet on the same pages.
      const first = this.below(Math.min(b.pages, 16));
      if (b.prot[first] < min) continue;
      let count = 1;
      const want = 1 + this.below(4);
      while (count < want && first + count < b.pages && b.prot[first + count] >= min) count++;
      return { b, first, count };
    }
    return null;
  }
}

/** A step builder at column `col` (5 at top level, 9 in a child's or a thread's list). */
type Build = (file: string, line: number, col: number) => Step;
interface Item { text: string; build: Build }

const at = (file: string, line: number, col: number) => ({ file, line, col });

function store(g: Gen, bufs: GenBuf[]): Item | null {
  const rg = g.range(bufs, 3);
  if (!rg) return null;
  const p = `index+${++g.pat}`, range = rangeOf(rg.b, rg.first, rg.count);
  return { text: `store: { buf: ${rg.b.name}, pages: ${pagesOf(rg.first, rg.count)}, pattern: ${p} }`,
    build: (f, l, c) => ({ pos: at(f, l, c), op: 'store', expect: null, kind: 'store', range, pattern: pattern(p) }) };
}

function load(g: Gen, bufs: GenBuf[]): Item | null {
  const rg = g.range(bufs, 2);
  if (!rg) return null;
  const range = rangeOf(rg.b, rg.first, rg.count);
  return { text: `load: { buf: ${rg.b.name}, pages: ${pagesOf(rg.first, rg.count)} }`,
    build: (f, l, c) => ({ pos: at(f, l, c), op: 'load', expect: null, kind: 'load', range }) };
}

function command(g: Gen, bufs: GenBuf[], dev: string): Item | null {
  const rg = g.range(bufs, 1);
  if (!rg) return null;
  const op = g.pick(g.cmds), range = rangeOf(rg.b, rg.first, rg.count), request = REQUESTS.get(op)!.request;
  const p = op.endsWith('WRITE') ? `index+${++g.pat}` : null;
  const to = op === 'V5_MIGRATE' ? g.below(2) : null;
  return { text: `${op}: { dev: ${dev}, buf: ${rg.b.name}, pages: ${pagesOf(rg.first, rg.count)}${p ? `, data: ${p}` : ''}${to === null ? '' : `, to: ${to ? 'device' : 'system'}`} }`,
    build: (f, l, c) => ({ pos: at(f, l, c), op, expect: null, kind: 'cmd', request, dev, range, data: p ? pattern(p) : null, allocToDevmem: to }) };
}

/** A nested list (a child's or a thread's actions) under `head` lines. */
function nested(head: string[], items: Item[], whole: (steps: Step[], f: string, l: number) => Step): Action {
  const lines = [...head, ...items.map((it) => `      - ${it.text}`)];
  return {
    lines,
    step: (f, l) => whole(items.map((it, j) => it.build(f, l + head.length + j, 9)), f, l),
  };
}

const top = (it: Item): Action => ({ lines: [`  - ${it.text}`], step: (f, l) => it.build(f, l, 5) });

/** A random scenario's actions (seeded by seed and index): a few buffers, then stores, loads, device commands, VMA changes, forks and threads. */
export function generate(seed: number, index: number, mode: FuzzMode = { kind: 'private' }, opts: GenOptions = DEFAULT_GEN): Action[] {
  const g = new Gen(seed, index);
  if (mode.kind === 'generic') g.cmds = GENERIC_CMDS;
  // 6.12's coherent devices are /dev/hmm_dmirror2 and 3 (0 and 1 stay private); the seed's generic ones are 0 and 1.
  const d0 = mode.kind === 'coherent' ? 2 : 0;
  const devName = () => `dmirror${d0 + g.below(2)}`;
  const acts: Action[] = [];
  for (const d of [d0, d0 + 1]) {
    acts.push(top({ text: `open: ${d}`, build: (f, l, c) => ({ pos: at(f, l, c), op: 'open', expect: null, kind: 'open', device: d, name: `dmirror${d}` }) }));
  }
  const bufs: GenBuf[] = [];
  let nbuf = 0, threads = 0, live: { name: string; buf: GenBuf; joinAt: number } | null = null;
  const mmap = (kinds = KINDS, pages?: number): GenBuf => {
    const k = g.pick(kinds), name = `b${nbuf++}`;
    const n = k.type === 'thp' ? HPAGE_PMD_NR : pages ?? 1 + g.below(8);
    const b: GenBuf = { name, pages: n, prot: new Uint8Array(n).fill(3) };
    acts.push(top({ text: `mmap: { name: ${name}, pages: ${n}, type: ${k.type}, share: ${k.shared ? 'shared' : 'private'} }`,
      build: (f, l, c) => ({ pos: at(f, l, c), op: 'mmap', expect: null, kind: 'mmap', name, pages: n, type: k.type, shared: k.shared, prot: PROT_READ | PROT_WRITE, device: null }) }));
    return b;
  };
  for (let i = 1 + g.below(3); i > 0; i--) bufs.push(mmap());
  const total = opts.minActions + g.below(opts.maxActions - opts.minActions + 1);
  for (let i = 0; acts.length < total; i++) {
    if (live !== null && i >= live.joinAt) {
      const t = live.name;
      acts.push(top({ text: `join: ${t}`, build: (f, l, c) => ({ pos: at(f, l, c), op: 'join', expect: null, kind: 'join', thread: t }) }));
      bufs.push(live.buf);
      live = null;
      continue;
    }
    const what = g.below(200);
    let it: Item | null = null;
    if (what < 44) it = store(g, bufs);
    else if (what < 72) it = load(g, bufs);
    else if (what < 142) it = command(g, bufs, devName());
    else if (what < 145 && live === null) {
      // RELEASE evicts and frees every chunk of the device (65,536 pages each): rare, as in a real driver's life.
      const dev = devName(), request = REQUESTS.get('RELEASE')!.request;
      it = { text: `RELEASE: { dev: ${dev} }`, build: (f, l, c) => ({ pos: at(f, l, c), op: 'RELEASE', expect: null, kind: 'cmd', request, dev, range: null, data: null, allocToDevmem: null }) };
    } else if (what < 160) {
      const rg = g.range(bufs, 1);
      if (rg) {
        const adviceName = g.pick(['MADV_DONTNEED', 'MADV_FREE']), advice = MADVICE.get(adviceName)!, range = rangeOf(rg.b, rg.first, rg.count);
        it = { text: `madvise: { buf: ${rg.b.name}, pages: ${pagesOf(rg.first, rg.count)}, advice: ${adviceName} }`,
          build: (f, l, c) => ({ pos: at(f, l, c), op: 'madvise', expect: null, kind: 'madvise', range, advice, adviceName }) };
      }
    } else if (what < 176) {
      const rg = g.range(bufs, 1);
      if (rg) {
        const [name, prot] = g.pick(PROTS), range = rangeOf(rg.b, rg.first, rg.count);
        rg.b.prot.fill(prot === PROT_NONE ? 1 : prot === PROT_READ ? 2 : 3, rg.first, rg.first + rg.count);
        it = { text: `mprotect: { buf: ${rg.b.name}, pages: ${pagesOf(rg.first, rg.count)}, prot: ${name} }`,
          build: (f, l, c) => ({ pos: at(f, l, c), op: 'mprotect', expect: null, kind: 'mprotect', range, prot }) };
      }
    } else if (what < 182) {
      const rg = g.range(bufs, 1);
      if (rg) {
        rg.b.prot.fill(0, rg.first, rg.first + rg.count);
        const range = rangeOf(rg.b, rg.first, rg.count);
        it = { text: `munmap: { buf: ${rg.b.name}, pages: ${pagesOf(rg.first, rg.count)} }`,
          build: (f, l, c) => ({ pos: at(f, l, c), op: 'munmap', expect: null, kind: 'munmap', range }) };
      }
    } else if (what < 186) {
      if (bufs.length < 6) bufs.push(mmap());
    } else if (what < 194) {
      // A short child: CPU stores and loads of its copy (its dmirror fds reach the parent's mm's mirrors).
      const items: Item[] = [];
      for (let j = 1 + g.below(3); j > 0; j--) {
        const x = g.below(2) === 0 ? store(g, bufs) : load(g, bufs);
        if (x) items.push(x);
      }
      if (!items.length) items.push({ text: 'exit: 0', build: (f, l, c) => ({ pos: at(f, l, c), op: 'exit', expect: null, kind: 'exit', code: 0 }) });
      const name = `c${i}`;
      acts.push(nested(['  - fork:', `      name: ${name}`, '      steps:'], items,
        (steps, f, l) => ({ pos: at(f, l, 5), op: 'fork', expect: null, kind: 'fork', name, steps, wait: true })));
      continue;
    } else if (live === null) {
      // A thread on a buffer of its own (so the shadow stays exact), running under the scheduler beside the main
      // thread's next actions on the other buffers and the same devices, until a join.
      const b = mmap(KINDS.slice(0, 2), 1 + g.below(4)), items: Item[] = [];
      for (let j = 2 + g.below(4); j > 0; j--) {
        const x = g.below(3) === 0 ? store(g, [b]) : g.below(2) === 0 ? load(g, [b]) : command(g, [b], devName());
        if (x) items.push(x);
      }
      const name = `t${threads++}`;
      acts.push(nested(['  - thread:', `      name: ${name}`, '      steps:'], items,
        (steps, f, l) => ({ pos: at(f, l, 5), op: 'thread', expect: null, kind: 'thread', name, steps })));
      live = { name, buf: b, joinAt: i + 1 + g.below(6) };
      continue;
    }
    if (it) acts.push(top(it));
  }
  if (live !== null) {
    const t = live.name;
    acts.push(top({ text: `join: ${t}`, build: (f, l, c) => ({ pos: at(f, l, c), op: 'join', expect: null, kind: 'join', thread: t }) }));
  }
  return acts;
}

/** The module block of a mode. */
function moduleYaml(mode: FuzzMode): string {
  if (mode.kind === 'private') return '';
  return `  module: { spm_addr_dev0: 0x${mode.spm0.toString(16)}, spm_addr_dev1: 0x${mode.spm1.toString(16)}, spm_type: ${mode.kind} }\n`;
}

const header = (mode: FuzzMode, name: string) => `name: ${JSON.stringify(name)}\nconfig:\n  kernel: "6.12"\n${moduleYaml(mode)}steps:\n`;

/** The scenario file of a list of actions. */
export function scenarioText(acts: Action[], mode: FuzzMode, name: string): string {
  return `${header(mode, name)}${acts.map((a) => a.lines.join('\n')).join('\n')}\n`;
}

const configs = new Map<string, ScenarioConfig>();
/** The config block of a mode as parse.ts checks it (memoised: a pure function of the mode). */
function configOf(mode: FuzzMode): ScenarioConfig {
  const key = JSON.stringify(mode);
  let c = configs.get(key);
  if (c === undefined) configs.set(key, c = parseScenario(`${header(mode, '')}  - open: 0\n`, 'config.yaml').config);
  return c;
}

/** The Scenario parseScenario() makes of scenarioText(acts, mode, name) as `file`, built without parsing. */
export function buildScenario(acts: Action[], mode: FuzzMode, name: string, file: string): Scenario {
  const base = configOf(mode), config = { ...base, pos: { ...base.pos, file } };
  let line = header(mode, name).split('\n').length;
  const steps = acts.map((a) => { const s = a.step(file, line); line += a.lines.length; return s; });
  return { file, name, config, steps };
}
