// SPDX-License-Identifier: GPL-2.0-only
/*
 * hmm-test fuzz: random scenarios from a seeded generator, written as
 * scenario YAML and parsed back (so generator and format cannot drift),
 * run by the interpreter with invariants checked after every action:
 * checkInvariants() (src/dmirror/check.ts: struct pages against the page
 * tables, mirrors against the CPU page table, device pages; the device
 * free lists walked after the last action), what the CPU and the device
 * read against a shadow of what was last written, and the unload check
 * (every page back). A failure is minimised by dropping actions
 * while the same kind of failure recurs.
 */
import { Prng } from '../kernel-model/random.js';
import type { BootedCase } from '../runner.js';
import { HostMemory } from '../kernel-model/page_data.js';
import { checkInvariants } from '../dmirror/check.js';
import { parseScenario } from './parse.js';
import { runScenario, type StepEvent } from './run.js';
import type { Scenario, Step } from './scenario.js';

export type FuzzMode = { kind: 'private' } | { kind: 'coherent' | 'generic'; spm0: number; spm1: number };

/** One top-level action of a generated scenario; `yaml(expect)` is its list item (one or more lines). */
interface Action {
  yaml: (expect?: string) => string;
}

interface GenBuf {
  name: string;
  pages: number;
  /** Per page: 0 unmapped, 1 PROT_NONE, 2 read-only, 3 read-write. */
  prot: Uint8Array;
}

const PROTS = ['none', 'r', 'rw'] as const;
const CMDS = ['READ', 'WRITE', 'MIGRATE_TO_DEV', 'MIGRATE_TO_SYS', 'SNAPSHOT', 'EXCLUSIVE', 'CHECK_EXCLUSIVE'];
const KINDS: Array<{ type: string; share: string }> = [
  { type: 'anon', share: 'private' }, { type: 'anon', share: 'private' }, { type: 'anon', share: 'shared' },
  { type: 'file', share: 'shared' }, { type: 'file', share: 'private' },
];

class Gen {
  constructor(readonly r: Prng) {}
  below(n: number): number {
    return this.r.u32() % n;
  }
  pick<T>(xs: readonly T[]): T {
    return xs[this.below(xs.length)];
  }
  /** A run of up to 4 pages of one buffer whose every page has prot >= min; null when there is none. */
  range(bufs: GenBuf[], min: number): { b: GenBuf; first: number; count: number } | null {
    for (let tries = 0; tries < 8; tries++) {
      const b = this.pick(bufs);
      const first = this.below(b.pages);
      if (b.prot[first] < min) continue;
      let count = 1;
      const want = 1 + this.below(4);
      while (count < want && first + count < b.pages && b.prot[first + count] >= min) count++;
      return { b, first, count };
    }
    return null;
  }
}

const pagesOf = (first: number, count: number) => (count === 1 ? `${first}` : `"${first}-${first + count - 1}"`);
const withExpect = (body: string, expect?: string) => (expect ? `${body}, expect: { ${expect} }` : body);

/** The module block of a mode. */
function moduleYaml(mode: FuzzMode): string {
  if (mode.kind === 'private') return '';
  return `  module: { spm_addr_dev0: 0x${mode.spm0.toString(16)}, spm_addr_dev1: 0x${mode.spm1.toString(16)}, spm_type: ${mode.kind} }\n`;
}

/** A random scenario: a few buffers and 10-40 actions. */
export function generate(seed: number, index: number, mode: FuzzMode = { kind: 'private' }): Action[] {
  const g = new Gen(new Prng((Math.imul(seed, 0x9e3779b1) ^ (index * 0x85ebca6b)) >>> 0));
  // 6.12's coherent devices are /dev/hmm_dmirror2 and 3 (0 and 1 stay private); the seed's generic ones are 0 and 1.
  const d0 = mode.kind === 'coherent' ? 2 : 0;
  const devName = () => `dmirror${d0 + g.below(2)}`;
  const acts: Action[] = [
    { yaml: () => `  - open: ${d0}` }, { yaml: () => `  - open: ${d0 + 1}` },
  ];
  const bufs: GenBuf[] = [];
  const nbufs = 1 + g.below(3);
  for (let i = 0; i < nbufs; i++) {
    const k = g.pick(KINDS), pages = 1 + g.below(8), name = `b${i}`;
    bufs.push({ name, pages, prot: new Uint8Array(pages).fill(3) });
    acts.push({ yaml: () => `  - mmap: { name: ${name}, pages: ${pages}, type: ${k.type}, share: ${k.share} }` });
  }
  const nsteps = 10 + g.below(31) - acts.length;
  let pat = 0;
  for (let i = 0; i < nsteps; i++) {
    const what = g.below(100);
    if (what < 22) {
      const rg = g.range(bufs, 3);
      if (!rg) continue;
      const body = `store: { buf: ${rg.b.name}, pages: ${pagesOf(rg.first, rg.count)}, pattern: index+${++pat} }`;
      acts.push({ yaml: () => `  - ${body}` });
    } else if (what < 36) {
      const rg = g.range(bufs, 2);
      if (!rg) continue;
      const { b } = rg;
      acts.push({ yaml: (e) => `  - ${withExpect(`load: { buf: ${b.name}, pages: ${pagesOf(rg.first, rg.count)}`, e)} }` });
    } else if (what < 70) {
      const rg = g.range(bufs, 1);
      if (!rg) continue;
      const op = g.pick(CMDS), dev = devName(), b = rg.b.name, pages = pagesOf(rg.first, rg.count);
      const data = op === 'WRITE' ? `, data: index+${++pat}` : '';
      acts.push({ yaml: (e) => `  - ${withExpect(`${op}: { dev: ${dev}, buf: ${b}, pages: ${pages}${data}`, e)} }` });
    } else if (what < 74) {
      const dev = devName();
      acts.push({ yaml: () => `  - RELEASE: { dev: ${dev} }` });
    } else if (what < 82) {
      const rg = g.range(bufs, 1);
      if (!rg) continue;
      const advice = g.pick(['MADV_DONTNEED', 'MADV_FREE']);
      acts.push({ yaml: () => `  - madvise: { buf: ${rg.b.name}, pages: ${pagesOf(rg.first, rg.count)}, advice: ${advice} }` });
    } else if (what < 90) {
      const rg = g.range(bufs, 1);
      if (!rg) continue;
      const p = g.below(3);
      rg.b.prot.fill(p + 1, rg.first, rg.first + rg.count);
      acts.push({ yaml: () => `  - mprotect: { buf: ${rg.b.name}, pages: ${pagesOf(rg.first, rg.count)}, prot: ${PROTS[p]} }` });
    } else if (what < 94) {
      const rg = g.range(bufs, 1);
      if (!rg) continue;
      rg.b.prot.fill(0, rg.first, rg.first + rg.count);
      acts.push({ yaml: () => `  - munmap: { buf: ${rg.b.name}, pages: ${pagesOf(rg.first, rg.count)} }` });
    } else {
      // A short child: CPU stores and loads of its copy (its dmirror fds are the parent's mm's mirrors).
      const lines: string[] = [];
      for (let j = 1 + g.below(3); j > 0; j--) {
        const w = g.below(2) === 0, rg = g.range(bufs, w ? 3 : 2);
        if (!rg) continue;
        const pages = pagesOf(rg.first, rg.count);
        lines.push(w ? `      - store: { buf: ${rg.b.name}, pages: ${pages}, pattern: index+${++pat} }` : `      - load: { buf: ${rg.b.name}, pages: ${pages} }`);
      }
      const name = `c${i}`;
      acts.push({ yaml: () => [`  - fork:`, `      name: ${name}`, `      steps:`, ...(lines.length ? lines : ['      - exit: 0'])].join('\n') });
    }
  }
  return acts;
}

export function scenarioText(acts: Action[], mode: FuzzMode, name: string, expectAt = -1, expect?: string): string {
  const body = acts.map((a, i) => a.yaml(i === expectAt ? expect : undefined)).join('\n');
  return `name: ${name}\nconfig:\n  kernel: "6.12"\n${moduleYaml(mode)}steps:\n${body}\n`;
}

/** Per buffer, per page: the K of the `index+K` last written there, 0 for zeroes. */
interface ShadowBuf {
  k: Int32Array;
  private_: boolean;
}

const patternK = (text: string): number => {
  const m = /^index\+(\d+)$/.exec(text);
  return m ? Number(m[1]) : 0;
};

/** A data mismatch: where, and what the shadow says. */
export interface DataFault {
  line: number;
  label: string;
  buf: string;
  page: number;
  k: number;
}

/** The invariants, as an afterStep hook: a shadow per process, struct page counts. */
export class Invariants {
  private readonly shadows = new Map<string, Map<string, ShadowBuf>>();
  dataFault: DataFault | null = null;
  /** How many actions the hook saw. */
  actions = 0;
  /** Walk the device free lists after every action too (tests; fuzz walks them once, before the process exits). */
  freeListsEvery = false;
  /** The scenario's last top-level action. */
  last: Step | null = null;

  private shadow(label: string): Map<string, ShadowBuf> {
    let s = this.shadows.get(label);
    if (s === undefined) {
      // A child starts with a copy of its parent's private memory and shares its shared mappings.
      const parent = this.shadows.get('') ?? new Map<string, ShadowBuf>();
      s = new Map([...parent].map(([n, b]) => [n, b.private_ ? { k: b.k.slice(), private_: true } : b]));
      this.shadows.set(label, s);
    }
    return s;
  }

  hook = (ev: StepEvent): string | null => {
    this.actions++;
    const s = ev.step, sh = this.shadow(ev.label);
    switch (s.kind) {
      case 'mmap':
        if (ev.ret === 0) sh.set(s.name, { k: new Int32Array(s.pages), private_: !s.shared });
        break;
      case 'store':
        sh.get(s.range.buf)!.k.fill(patternK(s.pattern.text), s.range.first, s.range.first + s.range.count);
        break;
      case 'madvise': {
        // MADV_DONTNEED drops a private mapping's pages (anon: zeroes; a private file mapping: the file's, zeroes
        // here); MADV_FREE changes nothing without reclaim, which the model has not.
        const b = sh.get(s.range.buf)!;
        if (ev.ret === 0 && s.adviceName === 'MADV_DONTNEED' && b.private_) b.k.fill(0, s.range.first, s.range.first + s.range.count);
        break;
      }
      case 'cmd':
        if (s.op === 'WRITE' && ev.ret === 0 && s.range && s.data) sh.get(s.range.buf)!.k.fill(patternK(s.data.text), s.range.first, s.range.first + s.range.count);
        break;
      case 'fork':
        this.shadows.delete(`${s.name}: `);
        break;
      default:
    }
    if (ev.data !== null && (s.kind === 'load' || s.kind === 'cmd') && 'range' in s && s.range) {
      const bad = this.compare(sh.get(s.range.buf)!, s.range.first, ev.data);
      if (bad !== null) {
        const { page, k, detail } = bad;
        this.dataFault ??= { line: s.pos.line, label: ev.label, buf: s.range.buf, page, k };
        return `data: ${detail}`;
      }
    }
    // The device free lists are walked (O(free pages)) after the scenario's last action, before the process exits.
    const bad = checkInvariants(ev.c.k, { freeLists: this.freeListsEvery || (ev.label === '' && ev.step === this.last) });
    return bad.length ? `${bad[0]}${bad.length > 1 ? ` (and ${bad.length - 1} more)` : ''}` : null;
  };

  private compare(b: ShadowBuf, first: number, got: Int32Array): { page: number; k: number; detail: string } | null {
    for (let p = 0; p * 1024 < got.length; p++) {
      const k = b.k[first + p], base = (first + p) * 1024;
      for (let i = 0; i < 1024; i++) {
        const want = k === 0 ? 0 : base + i + k;
        if (got[p * 1024 + i] !== want) {
          return { page: first + p, k, detail: `page ${first + p} int ${i} is ${got[p * 1024 + i]}, the last write there was ${k === 0 ? 'zeroes' : `index+${k}`}` };
        }
      }
    }
    return null;
  }
}

/**
 * The kind of a broken invariant, the same whichever pfn, address or count
 * it names (minimise() keeps a reduction while the kind recurs).
 */
export function invariantKind(detail: string): string {
  const norm = (x: string) => x.replace(/0x[0-9a-f]+|\d+/g, 'N');
  if (detail.startsWith('data:')) return 'data';
  const vm = /^(VM_BUG_ON_PAGE\(.*?\)): page:/.exec(detail);
  if (vm) return norm(vm[1]);
  const one = detail.replace(/ \(and \d+ more\)$/, '');
  if (/ is stale: /.test(one)) return `stale mirror entry: ${norm(one.replace(/^.* is stale: /, '').replace(/,? (there|whose backing page is \S+)\b/g, ''))}`;
  const m = /^(?:BUG|WARNING): (?:hmm_dmirror\d+: )?([^:(]+)/.exec(detail);
  return norm(m ? m[1].trim() : detail.slice(0, 40));
}

export interface FuzzOutcome {
  /** null: passed. */
  kind: string | null;
  known: boolean;
  detail: string;
  actions: number;
  /** Time from boot done to the last action (boot, unload and leak check left out). */
  actionMs: number;
  dataFault: DataFault | null;
}

/**
 * Real 6.12 behaviour, not a model failure: after a mirror entry of a migrated
 * page is invalidated, dmirror_fault() stores the device-private page itself
 * (hmm_range_fault() returns this device's own pages untouched) and
 * dmirror_do_read() memcpy_from_page()s from it: an oops, the issue's example.
 * dmirror_do_write() does the same with memcpy_to_page() (lib/test_hmm.c,
 * no BACKING_PAGE() in either); its RIP is the ioctl, into which it is inlined.
 */
function known612(line: string, privateDevices: boolean): boolean {
  // hmm_vma_handle_pte() (mm/hmm.c) returns this owner's device-private entry as it is, read-only (migrated from a
  // read-only page, or write-protected by fork) even when the device asked for write: dmirror_do_fault()'s WARN_ON.
  if (privateDevices && /REPORT warn dmirror_do_fault: .*read-only entry for a write fault/.test(line)) return true;
  return /REPORT oops \S+: .*\(model: memcpy_(from|to)_page\(\): .* device-private page/.test(line) ||
    /REPORT oops dmirror_do_read:/.test(line);
}

/** One scenario text run with the invariants; what kind of failure it had. */
export function runFuzzScenario(text: string, file: string, onKernel?: (c: BootedCase) => void, hostMemory = new HostMemory()): FuzzOutcome {
  let sc: Scenario;
  try {
    sc = parseScenario(text, file);
  } catch (e) {
    return { kind: `parse`, known: false, detail: (e as Error).message, actions: 0, actionMs: 0, dataFault: null };
  }
  const inv = new Invariants();
  inv.last = sc.steps.at(-1) ?? null;
  let t0 = 0, t1 = 0;
  const hook = (ev: StepEvent) => { const r = inv.hook(ev); t1 = performance.now(); return r; };
  const booted = (c: BootedCase) => { onKernel?.(c); t0 = t1 = performance.now(); };
  let report: string | null = null, reportText = '';
  const failed: Array<{ name: string; detail: string }> = [];
  try {
    runScenario(sc, {
      line: (l) => {
        const m = /^(?:\S+: )?REPORT (\w+) (\S+?):/.exec(l);
        if (m && report === null) { report = `report ${m[1]} ${m[2]}`; reportText = l; }
      },
      check: (c) => { if (!c.ok && !c.skip) failed.push({ name: c.name, detail: c.detail ?? '' }); },
      afterStep: hook, onKernel: booted, hostMemory,
    });
  } catch (e) {
    return { kind: `crash ${(e as Error).name}`, known: false, detail: (e as Error).message.split('\n')[0], actions: inv.actions, actionMs: t1 - t0, dataFault: null };
  }
  const base = { actions: inv.actions, actionMs: t1 - t0, dataFault: inv.dataFault };
  if (report !== null) return { ...base, kind: report, known: known612(reportText, sc.config.params.spm_addr_dev0 === 0), detail: reportText };
  // An invariant names the failure even when an expectation on the same action (a restated one) failed first.
  const f = failed.find((x) => / invariant$/.test(x.name)) ?? failed[0];
  if (f === undefined) return { ...base, kind: null, known: false, detail: '' };
  const inv_ = / invariant$/.test(f.name) ? `invariant ${invariantKind(f.detail)}` : / unload: /.test(f.name) ? 'leak at unload' : `check ${f.name.replace(/^\S+ /, '')}`;
  return { ...base, kind: inv_, known: false, detail: `${f.name}: ${f.detail}` };
}

/** Delta debugging over the top-level actions: drop chunks while the same kind of failure recurs. */
export function minimise(acts: Action[], mode: FuzzMode, kind: string, onKernel?: (c: BootedCase) => void, host = new HostMemory()): { acts: Action[]; outcome: FuzzOutcome } {
  const fails = (xs: Action[]) => {
    const o = runFuzzScenario(scenarioText(xs, mode, 'min'), 'min.yaml', onKernel, host);
    return o.kind === kind ? o : null;
  };
  let cur = acts, last = fails(cur)!;
  // Halving chunks, then single actions until none can go: a buffer's mmap goes once the actions on it have.
  for (let chunk = Math.max(1, cur.length >> 1), dropped = true; chunk > 1 || dropped; chunk = Math.max(1, chunk >> 1)) {
    dropped = false;
    for (let i = 0; i < cur.length;) {
      const next = [...cur.slice(0, i), ...cur.slice(i + chunk)];
      const o = next.length ? fails(next) : null;
      if (o) { cur = next; last = o; dropped = true; } else i += chunk;
    }
    if (chunk > 1) dropped = true;
  }
  return { acts: cur, outcome: last };
}

export interface FuzzFailure {
  index: number;
  kind: string;
  known: boolean;
  detail: string;
  /** The minimised scenario, replayable with hmm-test run (a data fault restated as an expectation). */
  yaml: string;
  steps: number;
}

export interface FuzzSummary {
  scenarios: number;
  actions: number;
  /** Wall time of the actions alone (FuzzOutcome.actionMs), summed. */
  actionMs: number;
  passed: number;
  known: number;
  failures: FuzzFailure[];
}

/** A batch: `count` scenarios of `seed`, each failure minimised. */
export function fuzz(seed: number, count: number, mode: FuzzMode, opts: { onKernel?: (c: BootedCase) => void } = {}): FuzzSummary {
  const sum: FuzzSummary = { scenarios: count, actions: 0, actionMs: 0, passed: 0, known: 0, failures: [] };
  // One host's memory for the batch, as `hmm-test run` has: each kernel takes back the buffers the last one gave up.
  const host = new HostMemory();
  for (let i = 0; i < count; i++) {
    const acts = generate(seed, i, mode);
    const name = `fuzz seed ${seed} #${i}`;
    const o = runFuzzScenario(scenarioText(acts, mode, name), `fuzz-${seed}-${i}.yaml`, opts.onKernel, host);
    sum.actions += o.actions;
    sum.actionMs += o.actionMs;
    if (o.kind === null) { sum.passed++; continue; }
    if (o.known) sum.known++;
    const m = minimise(acts, mode, o.kind, opts.onKernel, host);
    const df = m.outcome.dataFault;
    const text = scenarioText(m.acts, mode, `${name} (minimised: ${o.kind})`);
    const yaml = df === null ? text : restate(text, df);
    sum.failures.push({ index: i, kind: o.kind, known: o.known, detail: m.outcome.detail, yaml, steps: m.acts.length });
  }
  return sum;
}

/** The failing read as a one-page read expecting what the shadow says, so `hmm-test run` fails on it too. */
function restate(text: string, df: DataFault): string {
  const lines = text.split('\n'), want = df.k === 0 ? 'zero' : `index+${df.k}`;
  const m = /^(\s*- (?:load|READ): \{ (?:dev: \S+, )?buf: \S+, )pages: [^,}]+/.exec(lines[df.line - 1] ?? '');
  if (m === null) return text;
  lines[df.line - 1] = `${m[1]}pages: ${df.page}, expect: { data: ${want} } }`;
  return lines.join('\n');
}

/** The one-line summary of a failure. */
export const failureLine = (f: FuzzFailure, file: string): string =>
  `${f.known ? 'known 6.12 behaviour' : 'FAIL'} #${f.index} ${f.kind} (${f.steps} actions): ${file}: ${f.detail}`;

export type { Step };
