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
import type { BootedCase } from '../runner.js';
import { HostMemory } from '../kernel-model/page_data.js';
import { checkInvariants } from '../dmirror/check.js';
import { parseScenario } from './parse.js';
import { runScenario, type StepEvent } from './run.js';
import type { Scenario, Step } from './scenario.js';
import { type Action, type FuzzMode, type GenOptions, DEFAULT_GEN, generate, scenarioText, buildScenario } from './fuzz_gen.js';

export { type Action, type FuzzMode, type GenOptions, DEFAULT_GEN, generate, scenarioText, buildScenario };

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
  /** With `deep`, the scenario's last top-level action, after which the device free lists are walked. */
  last: Step | null = null;
  /** The labels of the scenario's threads ('t0: '): they share the process's memory, so its shadow. */
  readonly threads = new Set<string>();

  private shadow(label: string): Map<string, ShadowBuf> {
    if (this.threads.has(label)) label = '';
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
        if (s.op.endsWith('WRITE') && ev.ret === 0 && s.range && s.data) sh.get(s.range.buf)!.k.fill(patternK(s.data.text), s.range.first, s.range.first + s.range.count);
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
    // With `deep`, the device free lists are walked (O(free pages)) after the scenario's last action, before the process exits.
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

export interface FuzzRunOptions {
  onKernel?: (c: BootedCase) => void;
  hostMemory?: HostMemory;
  /** Walk the device free lists after the last action too (O(free device pages): not on by default). */
  deep?: boolean;
}

/** A scenario (or its text) run with the invariants; what kind of failure it had. */
export function runFuzzScenario(scenario: Scenario | string, file: string, opts: FuzzRunOptions = {}): FuzzOutcome {
  let sc: Scenario;
  try {
    sc = typeof scenario === 'string' ? parseScenario(scenario, file) : scenario;
  } catch (e) {
    return { kind: `parse`, known: false, detail: (e as Error).message, actions: 0, actionMs: 0, dataFault: null };
  }
  const { onKernel, hostMemory = new HostMemory() } = opts;
  const inv = new Invariants();
  if (opts.deep) inv.last = sc.steps.at(-1) ?? null;
  for (const st of sc.steps) if (st.kind === 'thread') inv.threads.add(`${st.name}: `);
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
      afterStep: hook, onKernel: booted, hostMemory, digests: false,
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
export function minimise(acts: Action[], mode: FuzzMode, kind: string, opts: FuzzRunOptions = {}): { acts: Action[]; outcome: FuzzOutcome } {
  // A run is a function of its text: a candidate met again (the last single-action pass repeats the one before
  // it from the last drop on) is not run again.
  const seen = new Map<string, FuzzOutcome | null>();
  const fails = (xs: Action[]) => {
    // Parsed, not built: dropping an mmap, a thread or its join leaves a scenario parse.ts refuses (kind 'parse').
    const text = scenarioText(xs, mode, 'min');
    let o = seen.get(text);
    if (o === undefined) {
      const r = runFuzzScenario(text, 'min.yaml', opts);
      seen.set(text, o = r.kind === kind ? r : null);
    }
    return o;
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
  /** Scenarios that hit known 6.12 behaviour; the first of each kind is minimised into `failures`. */
  known: number;
  failures: FuzzFailure[];
}

export interface FuzzOptions {
  onKernel?: (c: BootedCase) => void;
  /** See FuzzRunOptions.deep. */
  deep?: boolean;
  /** Scenario lengths (default DEFAULT_GEN). */
  gen?: GenOptions;
}

/** A batch: `count` scenarios of `seed`, each failure minimised. */
export function fuzz(seed: number, count: number, mode: FuzzMode, opts: FuzzOptions = {}): FuzzSummary {
  const sum: FuzzSummary = { scenarios: count, actions: 0, actionMs: 0, passed: 0, known: 0, failures: [] };
  // One host's memory for the batch, as `hmm-test run` has: each kernel takes back the buffers the last one gave up.
  const run: FuzzRunOptions = { onKernel: opts.onKernel, deep: opts.deep, hostMemory: new HostMemory() };
  const knownSeen = new Set<string>();
  for (let i = 0; i < count; i++) {
    const acts = generate(seed, i, mode, opts.gen);
    const name = `fuzz seed ${seed} #${i}`, file = `fuzz-${seed}-${i}.yaml`;
    const o = runFuzzScenario(buildScenario(acts, mode, name, file), file, run);
    sum.actions += o.actions;
    sum.actionMs += o.actionMs;
    if (o.kind === null) { sum.passed++; continue; }
    if (o.known) {
      sum.known++;
      // Known 6.12 behaviour is minimised once per kind and batch: one reproducer says it all.
      if (knownSeen.has(o.kind)) continue;
      knownSeen.add(o.kind);
    }
    const m = minimise(acts, mode, o.kind, run);
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
