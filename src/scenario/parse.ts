// SPDX-License-Identifier: GPL-2.0-only
/*
 * The scenario file: YAML read into a Scenario, every key checked. An error
 * is a ScenarioError with the file:line:column of the node that is wrong,
 * what was found there and what was expected; nothing past this file sees
 * a bad scenario. The format is described in the README ("Scenarios").
 */
import { parseScheduleId } from '../explore/explore.js';
import { createRequire } from 'node:module';
import { MREMAP_MAYMOVE, MREMAP_FIXED, MREMAP_DONTUNMAP } from '../kernel-model/mremap.js';
const MREMAP_FLAGS: Record<string, number> = { MREMAP_MAYMOVE, MREMAP_FIXED, MREMAP_DONTUNMAP };
import type { Node as YamlNode, YAMLMap, Pair, LineCounter as LineCounterT } from 'yaml';
import { UsageError } from '../cli/args.js';
import { parseMachine, parseModuleParams } from '../cli/config.js';
import { defaultMachine } from '../kernel-model/machine.js';
import { PROT_EXEC, PROT_NONE, PROT_READ, PROT_WRITE } from '../kernel-model/mm.js';
import { HPAGE_PMD_NR } from '../kernel-model/page.js';
import { ERRNOS, MADVICE, SIGNALS, REQUESTS, PROT_NAMES, protByte } from './names.js';
import { parsePattern } from './pattern.js';
import { type Pos, type Scenario, type ScenarioConfig, type Step, type Expect, type PageRange, type BufferType,
  type ReportKind, type Pattern, ScenarioError, REPORT_KINDS } from './scenario.js';
import { composeKernel, kernelProfiles } from '../kernel-model/changes.js';

const yaml = (): typeof import('yaml') => createRequire(import.meta.url)('yaml') as typeof import('yaml');

/** A YAML node and how to say where it is. */
class At {
  constructor(readonly node: YamlNode | null, readonly pos: Pos, readonly path: string) {}
}

/** The names visible at a point of the program: buffers with their size, open devices, children, threads. */
interface Scope {
  bufs: Map<string, number>;
  fds: Set<string>;
  children: Map<string, { waited: boolean }>;
  threads: Set<string>;
  inChild: boolean;
  inThread: boolean;
}

const copyScope = (s: Scope, extra: Partial<Scope>): Scope => ({
  bufs: new Map(s.bufs), fds: new Set(s.fds), children: new Map(), threads: new Set(), inChild: s.inChild, inThread: s.inThread, ...extra,
});

class Parser {
  private readonly Y = yaml();
  constructor(private readonly file: string, private readonly lc: LineCounterT) {}

  posOf(node: YamlNode | null | undefined, fallback: Pos): Pos {
    const off = node?.range?.[0];
    if (off === undefined) return fallback;
    const { line, col } = this.lc.linePos(off);
    return { file: this.file, line, col };
  }

  fail(at: At, found: string, expected: string): never {
    throw new ScenarioError(at.pos, `${at.path}: found ${found}, expected ${expected}`);
  }

  describe(at: At): string {
    const n = at.node;
    if (n === null) return 'nothing';
    if (this.Y.isScalar(n)) return n.value === null ? 'an empty value' : JSON.stringify(n.value);
    if (this.Y.isMap(n)) return 'a mapping';
    if (this.Y.isSeq(n)) return 'a list';
    return 'an alias';
  }

  /** The keys of a mapping, each with its value, after checking every key is one of `keys`. */
  map(at: At, keys: readonly string[], what: string): Map<string, At> {
    if (!this.Y.isMap(at.node)) this.fail(at, this.describe(at), `${what}, a mapping with the keys ${keys.join(', ')}`);
    const out = new Map<string, At>();
    for (const pair of (at.node as YAMLMap).items as Pair<YamlNode, YamlNode>[]) {
      const key = this.Y.isScalar(pair.key) ? String(pair.key.value) : null;
      const keyAt = new At(pair.key, this.posOf(pair.key, at.pos), at.path);
      if (key === null || !keys.includes(key)) this.fail(keyAt, `the key ${key === null ? this.describe(keyAt) : `'${key}'`}`, `one of ${keys.join(', ')}`);
      out.set(key, new At(pair.value ?? null, this.posOf(pair.value, keyAt.pos), `${at.path}.${key}`));
    }
    return out;
  }

  list(at: At, what: string): At[] {
    if (!this.Y.isSeq(at.node)) this.fail(at, this.describe(at), what);
    return at.node.items.map((n, i) => new At(n as YamlNode, this.posOf(n as YamlNode, at.pos), `${at.path}[${i}]`));
  }

  scalar(at: At): unknown {
    return this.Y.isScalar(at.node) ? at.node.value : undefined;
  }

  str(at: At, expected: string): string {
    const v = this.scalar(at);
    if (typeof v !== 'string' && typeof v !== 'number') this.fail(at, this.describe(at), expected);
    return String(v);
  }

  name(at: At): string {
    const s = this.str(at, 'a name (letters, digits, _ or -)');
    if (!/^[A-Za-z_][A-Za-z0-9_-]*$/.test(s)) this.fail(at, JSON.stringify(s), 'a name (letters, digits, _ or -, starting with a letter)');
    return s;
  }

  int(at: At, min: number, max: number, expected: string): number {
    const v = this.scalar(at);
    const n = typeof v === 'number' ? v : typeof v === 'string' && /^(0x[0-9a-f]+|\d+)$/i.test(v.trim()) ? Number(v.trim()) : NaN;
    if (!Number.isSafeInteger(n) || n < min || n > max) this.fail(at, this.describe(at), expected);
    return n;
  }

  /** A config value parsed by the --config code: its one-line error gets this node's position. */
  withConfigErrors<T>(at: At, f: () => T): T {
    try {
      return f();
    } catch (e) {
      if (e instanceof UsageError) throw new ScenarioError(at.pos, e.message);
      throw e;
    }
  }

  config(at: At | undefined, start: Pos): ScenarioConfig {
    const cfg: ScenarioConfig = { pos: at?.pos ?? start, kernel: '6.12', patches: [], machine: defaultMachine(), params: { spm_addr_dev0: 0, spm_addr_dev1: 0, spm_type: 'generic' }, seed: undefined };
    if (at === undefined || at.node === null) return cfg;
    const m = this.map(at, ['kernel', 'patches', 'machine', 'module', 'thp', 'seed', 'schedule'], 'the configuration');
    const kernel = m.get('kernel');
    const names = kernelProfiles().map((p) => p.name);
    if (kernel) {
      const v = this.str(kernel, `a kernel version: ${names.join(', ')}`);
      if (!names.includes(v)) this.fail(kernel, JSON.stringify(v), `a kernel version the model has a profile for: ${names.join(', ')} (write it quoted, "6.12")`);
      cfg.kernel = v;
    }
    const patches = m.get('patches');
    if (patches) {
      const list = patches.node?.toJSON();
      if (!Array.isArray(list) || list.some((x) => typeof x !== 'string')) this.fail(patches, this.describe(patches), 'a list of patch names (hmm-test kernels lists them)');
      const v = composeKernel(cfg.kernel, list as string[]);
      if ('error' in v) throw new ScenarioError(patches.pos, v.error);
      cfg.patches = list as string[];
    }
    const machine = m.get('machine');
    if (machine) cfg.machine = this.withConfigErrors(machine, () => parseMachine(machine.path, machine.node?.toJSON()));
    const module = m.get('module');
    if (module) cfg.params = this.withConfigErrors(module, () => parseModuleParams(module.path, module.node?.toJSON()));
    const thp = m.get('thp');
    if (thp) {
      const v = this.str(thp, 'always, madvise or never');
      if (v !== 'always' && v !== 'madvise' && v !== 'never') this.fail(thp, JSON.stringify(v), 'always, madvise or never (/sys/kernel/mm/transparent_hugepage/enabled)');
      cfg.machine = { ...cfg.machine, transparentHugepage: v };
    }
    const seed = m.get('seed');
    if (seed) cfg.seed = this.int(seed, 0, 0xffffffff, 'a seed from 0 to 4294967295');
    const schedule = m.get('schedule');
    if (schedule) {
      // A number would lose digits (4.10 is 4.1): the ID is a string, quoted.
      const v = this.scalar(schedule);
      const expected = 'a schedule ID hmm-test explore printed for this file, quoted (DECISION.OPTION pairs joined by -, e.g. "4.1", or "0")';
      if (typeof v !== 'string') this.fail(schedule, this.describe(schedule), expected);
      const id = v as string, choices = parseScheduleId(id);
      if ('error' in choices) this.fail(schedule, JSON.stringify(id), expected);
      cfg.schedule = { id, choices };
    }
    return cfg;
  }

  /** pages: N, "A-B" (inclusive) or all (the default): a range inside the buffer. */
  range(buf: At | undefined, pages: At | undefined, scope: Scope, at: At): PageRange {
    if (buf === undefined) this.fail(at, 'no buf', 'buf: <the name of a buffer made by an earlier mmap>');
    const name = this.name(buf);
    const size = scope.bufs.get(name);
    if (size === undefined) {
      this.fail(buf, `'${name}'`, scope.bufs.size ? `a buffer made earlier: ${[...scope.bufs.keys()].join(', ')}` : 'a buffer made by an earlier mmap (there is none yet)');
    }
    if (pages === undefined) return { buf: name, first: 0, count: size };
    const v = this.scalar(pages);
    const s = typeof v === 'number' ? String(v) : typeof v === 'string' ? v.trim() : '';
    const m = /^(\d+)(?:\s*-\s*(\d+))?$/.exec(s);
    if (s === 'all') return { buf: name, first: 0, count: size };
    if (!m) this.fail(pages, this.describe(pages), 'a page (3), an inclusive range ("0-15") or all');
    const first = Number(m[1]), last = m[2] === undefined ? first : Number(m[2]);
    if (last < first || last >= size) this.fail(pages, JSON.stringify(s), `pages inside ${name}, which has ${size} (0-${size - 1})`);
    return { buf: name, first, count: last - first + 1 };
  }

  prot(at: At): number {
    const s = this.str(at, 'a protection: none, r, rw, rwx or a list of PROT_READ, PROT_WRITE, PROT_EXEC');
    if (/^(none|PROT_NONE)$/.test(s)) return PROT_NONE;
    if (/^r?w?x?$/.test(s) && s !== '') return (s.includes('r') ? PROT_READ : 0) | (s.includes('w') ? PROT_WRITE : 0) | (s.includes('x') ? PROT_EXEC : 0);
    let v = 0;
    for (const p of s.split('|').map((x) => x.trim())) {
      const f = ({ PROT_READ, PROT_WRITE, PROT_EXEC, PROT_NONE } as Record<string, number>)[p];
      if (f === undefined) this.fail(at, JSON.stringify(s), 'none, r, rw, rwx or PROT_* names joined by |');
      v |= f;
    }
    return v;
  }

  pattern(at: At): Pattern {
    // As written: YAML reads 0x5a as the number 90.
    const src = this.Y.isScalar(at.node) && typeof at.node.value === 'number' ? at.node.source : undefined;
    const s = typeof src === 'string' ? src : this.str(at, 'a pattern');
    const p = parsePattern(s);
    if (typeof p === 'string') this.fail(at, JSON.stringify(s), p);
    return p;
  }

  errno(at: At): number {
    const v = this.scalar(at);
    if (v === 0 || v === '0') return 0;
    const s = typeof v === 'string' ? v.trim().replace(/^-/, '') : '';
    const n = ERRNOS.get(s);
    if (n === undefined) this.fail(at, this.describe(at), `0 or an errno name (${[...ERRNOS.keys()].slice(0, 6).join(', ')}, ...)`);
    return -n;
  }

  signal(at: At): number {
    const s = this.str(at, 'a signal name');
    const n = SIGNALS.get(s);
    if (n === undefined) this.fail(at, JSON.stringify(s), `a signal: ${[...SIGNALS.keys()].join(', ')}`);
    return n;
  }

  snapshot(at: At, count: number | null): number[] {
    const out: number[] = [];
    for (const e of this.list(at, 'a list of HMM_DMIRROR_PROT_* names, one a page ("ZERO|READ"; "READ|WRITE*4" for four pages)')) {
      const s = this.str(e, 'HMM_DMIRROR_PROT_* names joined by |');
      const m = /^(.*?)(?:\s*\*\s*(\d+))?$/.exec(s)!;
      const v = protByte(m[1]);
      if (v === null) this.fail(e, JSON.stringify(s), `HMM_DMIRROR_PROT_* names joined by | (${PROT_NAMES.join(', ')}), with *N for N pages`);
      for (let i = 0; i < Number(m[2] ?? 1); i++) out.push(v);
    }
    if (count !== null && out.length !== count) this.fail(at, `${out.length} page(s)`, `one entry per page of the command: ${count}`);
    return out;
  }

  report(at: At): { kind: ReportKind; where: string | null } {
    const kinds = REPORT_KINDS.join(', ');
    if (this.Y.isScalar(at.node)) {
      const s = this.str(at, kinds);
      if (!(REPORT_KINDS as readonly string[]).includes(s)) this.fail(at, JSON.stringify(s), `a kernel report kind: ${kinds}`);
      return { kind: s as ReportKind, where: null };
    }
    const m = this.map(at, REPORT_KINDS, `a report kind with the kernel function it names ({ oops: dmirror_do_read })`);
    if (m.size !== 1) this.fail(at, `${m.size} kinds`, 'one kind');
    const [kind, where] = [...m][0];
    return { kind: kind as ReportKind, where: this.str(where, 'the kernel function the report names') };
  }

  /** expect: what the action must observe; `allowed` are the keys this action can have. */
  expect(at: At | undefined, allowed: readonly string[], npages: number | null): Expect | null {
    if (at === undefined) return null;
    const m = this.map(at, allowed, 'expectations');
    const e: Expect = { pos: at.pos };
    for (const [k, v] of m) {
      switch (k) {
        case 'ret': e.ret = this.errno(v); break;
        case 'cpages': e.cpages = this.int(v, 0, 2 ** 40, 'a number of pages'); break;
        case 'faults': e.faults = this.int(v, 0, 2 ** 40, 'a number of faults'); break;
        case 'snapshot': e.snapshot = this.snapshot(v, npages); break;
        case 'data': e.data = this.pattern(v); break;
        case 'zone_device_type': e.zone_device_type = this.int(v, 0, 255, 'a memory type number (1 private, 2 generic or coherent in the seed\'s numbering)'); break;
        case 'signal': e.signal = this.signal(v); break;
        case 'exit': e.exit = this.int(v, 0, 255, 'an exit code from 0 to 255'); break;
        case 'report': e.report = this.report(v); break;
      }
    }
    return e;
  }

  steps(at: At, scope: Scope): Step[] {
    const out: Step[] = [];
    for (const s of this.list(at, 'a list of actions (- mmap: {...}, - READ: {...}, ...)')) {
      const prev = out.at(-1);
      if (prev && (prev.kind === 'exit' || prev.expect?.signal !== undefined && prev.kind !== 'fork' && prev.kind !== 'wait')) {
        this.fail(s, 'another action', `nothing after ${prev.kind === 'exit' ? 'exit' : 'an action that kills the process'} (line ${prev.pos.line})`);
      }
      out.push(this.step(s, scope));
    }
    return out;
  }

  step(at: At, scope: Scope): Step {
    if (!this.Y.isMap(at.node) || at.node.items.length !== 1) this.fail(at, this.describe(at), 'one action: a mapping with one key (mmap, munmap, mremap, store, load, open, READ, fork, ...)');
    const pair = at.node.items[0] as Pair<YamlNode, YamlNode>;
    const op = this.Y.isScalar(pair.key) ? String(pair.key.value) : '';
    const keyAt = new At(pair.key, this.posOf(pair.key, at.pos), at.path);
    const arg = new At(pair.value ?? null, this.posOf(pair.value, keyAt.pos), `${at.path}.${op}`);
    const pos = keyAt.pos;
    const base = (expect: Expect | null) => ({ pos, op, expect });
    const rangeKeys = ['buf', 'pages', 'expect'];
    const get = (keys: string[], what: string) => this.map(arg, keys, what);
    const req = REQUESTS.get(op);
    if (req !== undefined) return this.command(op, req, arg, scope, base);
    switch (op) {
      case 'mmap': {
        const m = get(['name', 'pages', 'type', 'share', 'prot', 'device', 'expect'], 'a new buffer');
        if (!m.has('name')) this.fail(arg, 'no name', 'name: <the buffer\'s name>');
        const name = this.name(m.get('name')!);
        if (scope.bufs.has(name)) this.fail(m.get('name')!, `'${name}' again`, 'a new buffer name');
        const type = (m.get('type') ? this.str(m.get('type')!, 'anon, file, thp, hugetlb or dmirror') : 'anon') as BufferType;
        if (!['anon', 'file', 'thp', 'hugetlb', 'dmirror'].includes(type)) this.fail(m.get('type')!, JSON.stringify(type), 'anon, file (tmpfs), thp (a 2 MiB-aligned MADV_HUGEPAGE window), hugetlb (MAP_HUGETLB) or dmirror (the device file)');
        const pages = m.get('pages') ? this.int(m.get('pages')!, 1, 2 ** 28, 'a number of 4 KiB pages (1 or more)') : (type === 'thp' || type === 'hugetlb' ? HPAGE_PMD_NR : 1);
        if ((type === 'hugetlb' || type === 'thp') && pages % HPAGE_PMD_NR) this.fail(m.get('pages')!, String(pages), `a multiple of ${HPAGE_PMD_NR} pages for a ${type} buffer (2 MiB each)`);
        const share = m.get('share') ? this.str(m.get('share')!, 'private or shared') : 'private';
        if (share !== 'private' && share !== 'shared') this.fail(m.get('share')!, JSON.stringify(share), 'private (MAP_PRIVATE) or shared (MAP_SHARED)');
        if (share === 'shared' && (type === 'thp' || type === 'hugetlb')) this.fail(m.get('share')!, 'shared', `private: the model has no shared ${type} mappings`);
        let device: string | null = null;
        if (type === 'dmirror') {
          if (!m.has('device')) this.fail(arg, 'no device', 'device: <an open device> for a mapping of the device file');
          device = this.fdName(m.get('device')!, scope);
        } else if (m.has('device')) this.fail(m.get('device')!, 'device', 'no device: only type dmirror maps a device file');
        const prot = m.get('prot') ? this.prot(m.get('prot')!) : PROT_READ | PROT_WRITE;
        scope.bufs.set(name, pages);
        return { ...base(this.expect(m.get('expect'), ['ret', 'report'], null)), kind: 'mmap', name, pages, type, shared: share === 'shared', prot, device };
      }
      case 'munmap': case 'load': {
        const m = get(rangeKeys, `the pages to ${op === 'load' ? 'load' : 'unmap'} (buf, pages)`);
        const range = this.range(m.get('buf'), m.get('pages'), scope, arg);
        const allowed = op === 'load' ? ['data', 'signal', 'report'] : ['ret', 'report'];
        return { ...base(this.expect(m.get('expect'), allowed, range.count)), kind: op, range };
      }
      case 'store': {
        const m = get(['buf', 'pages', 'pattern', 'expect'], 'the pages to store to and the pattern (buf, pages, pattern)');
        const range = this.range(m.get('buf'), m.get('pages'), scope, arg);
        const pattern = m.get('pattern') ? this.pattern(m.get('pattern')!) : parsePattern('index') as Pattern;
        return { ...base(this.expect(m.get('expect'), ['signal', 'report'], range.count)), kind: 'store', range, pattern };
      }
      case 'mprotect': {
        const m = get(['buf', 'pages', 'prot', 'expect'], 'the pages and their new protection (buf, pages, prot)');
        const range = this.range(m.get('buf'), m.get('pages'), scope, arg);
        if (!m.has('prot')) this.fail(arg, 'no prot', 'prot: none, r, rw, ...');
        return { ...base(this.expect(m.get('expect'), ['ret', 'report'], null)), kind: 'mprotect', range, prot: this.prot(m.get('prot')!) };
      }
      case 'mremap': {
        const m = get(['buf', 'pages', 'size', 'flags', 'to', 'as', 'expect'],
          'the pages to move, where and under which name (buf, pages, size, flags, to: {buf, pages}, as)');
        const range = this.range(m.get('buf'), m.get('pages'), scope, arg);
        const size = m.get('size') ? this.int(m.get('size')!, 1, 1 << 28, 'the new length in pages, from 1') : range.count;
        const names = m.get('flags') ? this.str(m.get('flags')!, 'MREMAP_* names joined by |').split('|').map((x) => x.trim()).filter((x) => x) : [];
        let flags = 0;
        for (const n of names) {
          const f = MREMAP_FLAGS[n.startsWith('MREMAP_') ? n : `MREMAP_${n}`];
          if (f === undefined) this.fail(m.get('flags')!, JSON.stringify(n), `MREMAP_MAYMOVE, MREMAP_FIXED, MREMAP_DONTUNMAP (or MAYMOVE, FIXED, DONTUNMAP), joined by |`);
          flags |= f;
        }
        let to: PageRange | null = null;
        const toAt = m.get('to');
        if (toAt !== undefined) {
          if (!this.Y.isMap(toAt.node)) this.fail(toAt, this.describe(toAt), 'to: {buf: <buffer>, pages: <its first page of the new place>}');
          const tm = new Map((toAt.node.items as any[]).map((it) => [String(it.key.value), { node: it.value } as At]));
          to = this.range(tm.get('buf'), tm.get('pages'), scope, toAt);
        }
        const name = m.get('as') ? this.name(m.get('as')!) : range.buf;
        scope.bufs.set(name, size);
        return { ...base(this.expect(m.get('expect'), ['ret', 'report'], null)), kind: 'mremap', range, pages: size, flags,
          flagNames: names.map((n) => (n.startsWith('MREMAP_') ? n : `MREMAP_${n}`)).join('|') || '0', to, name };
      }
      case 'madvise': {
        const m = get(['buf', 'pages', 'advice', 'expect'], 'the pages and the advice (buf, pages, advice)');
        const range = this.range(m.get('buf'), m.get('pages'), scope, arg);
        const a = m.get('advice');
        if (a === undefined) this.fail(arg, 'no advice', 'advice: MADV_HUGEPAGE, ...');
        const adviceName = this.str(a, 'an MADV_* name');
        const advice = MADVICE.get(adviceName);
        if (advice === undefined) this.fail(a, JSON.stringify(adviceName), `an advice the model knows: ${[...MADVICE.keys()].join(', ')}`);
        return { ...base(this.expect(m.get('expect'), ['ret', 'report'], null)), kind: 'madvise', range, advice, adviceName };
      }
      case 'open': {
        let device: number, name: string | null = null, expect: Expect | null = null;
        if (this.Y.isScalar(arg.node)) device = this.int(arg, 0, 3, 'a dmirror device number, 0 to 3');
        else {
          const m = get(['device', 'name', 'expect'], 'a device to open (device, name)');
          if (!m.has('device')) this.fail(arg, 'no device', 'device: 0 to 3 (/dev/hmm_dmirrorN)');
          device = this.int(m.get('device')!, 0, 3, 'a dmirror device number, 0 to 3');
          if (m.has('name')) name = this.name(m.get('name')!);
          expect = this.expect(m.get('expect'), ['ret', 'report'], null);
        }
        name ??= `dmirror${device}`;
        if (scope.fds.has(name)) this.fail(arg, `'${name}' open already`, 'another name (name: ...) or a close first');
        scope.fds.add(name);
        return { ...base(expect), kind: 'open', device, name };
      }
      case 'close': {
        const name = this.fdName(arg, scope);
        scope.fds.delete(name);
        return { ...base(null), kind: 'close', name };
      }
      case 'fork': {
        const m = get(['name', 'steps', 'wait', 'expect'], "the child's actions (steps) and, optionally, name, wait, expect");
        const name = m.get('name') ? this.name(m.get('name')!) : `child${scope.children.size + 1}`;
        if (scope.children.has(name)) this.fail(m.get('name') ?? arg, `'${name}' again`, 'a new child name');
        const wait = m.get('wait') ? this.str(m.get('wait')!, 'now or later') : 'now';
        if (wait !== 'now' && wait !== 'later') this.fail(m.get('wait')!, JSON.stringify(wait), "now (the parent waits for the child at once) or later (at a '- wait: <name>')");
        const childScope = copyScope(scope, { inChild: true, inThread: false });
        const steps = m.get('steps') ? this.steps(m.get('steps')!, childScope) : [];
        scope.children.set(name, { waited: wait === 'now' });
        const expect = this.expect(m.get('expect'), ['exit', 'signal', 'report'], null);
        if (expect && wait === 'later' && (expect.exit !== undefined || expect.signal !== undefined)) {
          this.fail(m.get('expect')!, 'an exit expectation on a fork that waits later', 'it on the wait action');
        }
        return { ...base(expect), kind: 'fork', name, steps, wait: wait === 'now' };
      }
      case 'wait': case 'kill': {
        const m = this.Y.isScalar(arg.node) ? new Map([['child', arg]]) : get(['child', 'signal', 'expect'], 'a child (child)');
        const c = m.get('child');
        if (c === undefined) this.fail(arg, 'no child', 'child: <the name of a fork>');
        const child = this.name(c);
        const info = scope.children.get(child);
        if (info === undefined || (op === 'wait' && info.waited)) this.fail(c, `'${child}'`, `a child forked earlier with wait: later and not waited for yet${[...scope.children].filter(([, v]) => !v.waited).map(([k]) => ` (${k})`).join('')}`);
        if (op === 'wait') {
          info.waited = true;
          return { ...base(this.expect(m.get('expect'), ['exit', 'signal', 'report'], null)), kind: 'wait', child };
        }
        const signal = m.get('signal') ? this.signal(m.get('signal')!) : SIGNALS.get('SIGTERM')!;
        return { ...base(this.expect(m.get('expect'), ['ret'], null)), kind: 'kill', child, signal };
      }
      case 'exit': {
        if (!scope.inChild || scope.inThread) this.fail(keyAt, 'exit', "exit only as a forked child's last action (the scenario's process exits after its last action)");
        return { ...base(null), kind: 'exit', code: this.int(arg, 0, 255, 'an exit code from 0 to 255') };
      }
      case 'thread': {
        const m = get(['name', 'steps'], "a thread's actions (steps) and its name");
        const name = m.get('name') ? this.name(m.get('name')!) : `thread${scope.threads.size + 1}`;
        if (scope.threads.has(name)) this.fail(m.get('name') ?? arg, `'${name}' again`, 'a new thread name');
        const steps = m.get('steps') ? this.steps(m.get('steps')!, copyScope(scope, { inThread: true })) : [];
        for (const s of steps) if (s.kind === 'fork' || s.kind === 'thread') this.fail(new At(null, s.pos, ''), `${s.kind} in a thread`, 'fork and thread only in the process\'s main code');
        scope.threads.add(name);
        return { ...base(null), kind: 'thread', name, steps };
      }
      case 'join': {
        const thread = this.name(arg);
        if (!scope.threads.has(thread)) this.fail(arg, `'${thread}'`, `a thread started earlier and not joined${[...scope.threads].map((t) => ` (${t})`).join('')}`);
        scope.threads.delete(thread);
        return { ...base(null), kind: 'join', thread };
      }
      case 'sleep': {
        if (this.Y.isScalar(arg.node)) return { ...base(null), kind: 'sleep', ns: this.int(arg, 0, 1e12, 'nanoseconds'), random: false };
        const m = get(['upto'], 'nanoseconds, or { upto: N } for a random sleep below N (hmm_random() % N)');
        return { ...base(null), kind: 'sleep', ns: this.int(m.get('upto') ?? arg, 1, 1e12, 'nanoseconds (1 or more)'), random: true };
      }
      default:
        this.fail(keyAt, `the action '${op}'`, `an action: mmap, munmap, mremap, mprotect, madvise, store, load, open, close, fork, wait, kill, exit, thread, join, sleep, or a device command (${[...REQUESTS.keys()].join(', ')})`);
    }
  }

  fdName(at: At, scope: Scope): string {
    const name = this.name(at);
    if (!scope.fds.has(name)) this.fail(at, `'${name}'`, scope.fds.size ? `an open device: ${[...scope.fds].join(', ')}` : 'an open device (there is none: open one first)');
    return name;
  }

  command(op: string, req: { request: number; mirror: string; needsRange: boolean }, arg: At, scope: Scope,
    base: (e: Expect | null) => { pos: Pos; op: string; expect: Expect | null }): Step {
    const keys = ['dev', 'buf', 'pages', 'expect', ...(op.endsWith('WRITE') ? ['data'] : []), ...(op === 'V5_MIGRATE' ? ['to'] : [])];
    const m = this.map(arg, keys, `the device command's arguments (${keys.join(', ')})`);
    if (!m.has('dev')) this.fail(arg, 'no dev', 'dev: <an open device>');
    const dev = this.fdName(m.get('dev')!, scope);
    const range = req.needsRange || m.has('buf') ? this.range(m.get('buf'), m.get('pages'), scope, arg) : null;
    const data = m.get('data') ? this.pattern(m.get('data')!) : null;
    let allocToDevmem: number | null = null;
    if (op === 'V5_MIGRATE') {
      const to = m.get('to') ? this.str(m.get('to')!, 'device or system') : '';
      if (to !== 'device' && to !== 'system') this.fail(m.get('to') ?? arg, to ? JSON.stringify(to) : 'no to', 'to: device (alloc_to_devmem = 1) or system (0)');
      allocToDevmem = to === 'device' ? 1 : 0;
    }
    const allowed = ['ret', 'cpages', 'faults', 'report', ...(req.mirror === 'bytes' ? ['snapshot'] : []),
      ...(op.endsWith('READ') ? ['data'] : []), ...(op === 'V5_GET_MEM_DEV_TYPE' ? ['zone_device_type'] : [])];
    const expect = this.expect(m.get('expect'), allowed, range?.count ?? null);
    return { ...base(expect), kind: 'cmd', request: req.request, dev, range, data, allocToDevmem };
  }
}

/** Parse and check a scenario file's text; throws a ScenarioError (one line, with the position) for a bad one. */
export function parseScenario(text: string, file: string): Scenario {
  const Y = yaml();
  const lc = new Y.LineCounter();
  const doc = Y.parseDocument(text, { lineCounter: lc, prettyErrors: false });
  const start: Pos = { file, line: 1, col: 1 };
  if (doc.errors.length) {
    const e = doc.errors[0];
    const lp = e.linePos?.[0];
    throw new ScenarioError(lp ? { file, line: lp.line, col: lp.col } : start, `not valid YAML: ${e.message.split('\n')[0].replace(/ at line \d+, column \d+:?$/, '')}`);
  }
  const p = new Parser(file, lc);
  const top = new At(doc.contents as YamlNode | null, p.posOf(doc.contents as YamlNode | null, start), 'scenario');
  if (top.node === null) throw new ScenarioError(start, 'found an empty file, expected a scenario (config and steps; see the README)');
  const m = p.map(top, ['name', 'config', 'steps'], 'a scenario');
  const name = m.get('name') ? p.str(m.get('name')!, 'the scenario\'s name') : file.replace(/^.*\//, '').replace(/\.ya?ml$/, '');
  const config = p.config(m.get('config'), start);
  if (!m.has('steps')) p.fail(top, 'no steps', 'steps: the list of actions');
  const scope: Scope = { bufs: new Map(), fds: new Set(), children: new Map(), threads: new Set(), inChild: false, inThread: false };
  const steps = p.steps(m.get('steps')!, scope);
  return { file, name, config, steps };
}
