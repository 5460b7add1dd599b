// SPDX-License-Identifier: GPL-2.0-only
/*
 * The interpreter: a checked Scenario run on a freshly booted kernel with
 * test_hmm loaded (runner.ts's bootCase()/shutdownCase(), as every smoke
 * case), through the libc the ported cases use and hmm-tests.c's
 * hmm_dmirror_cmd(). Each action writes its observation lines (the
 * --trace TRACE line of a device command, DATA lines for what the CPU or
 * the device read, SIGNAL, EXIT and REPORT lines), then its expectations
 * are checked; a kernel report or a leak at unload that no expectation
 * asked for is a failure.
 */
import { Libc, MAP_FAILED, O_RDWR } from '../selftests/hmm-tests/libc.js';
import { hmmDmirrorCmd, newHmmBuffer, ALIGN, TWOMEG, type HmmDmirrorCmdResult } from '../selftests/hmm-tests/common.js';
import { hmm_create_file } from '../selftests/hmm-tests/file.js';
import { pthreads, newPthread, type pthread_t } from '../selftests/hmm-tests/pthread.js';
import { bootCase, shutdownCase, type BootedCase } from '../runner.js';
import { composeKernel } from '../kernel-model/changes.js';
import type { HostMemory } from '../kernel-model/page_data.js';
import { FatalSignal, HungTask, KernelBug } from '../kernel-model/bug.js';
import { MAP_ANONYMOUS, MAP_HUGETLB, MAP_PRIVATE, MAP_SHARED } from '../kernel-model/mm.js';
import { MADV_HUGEPAGE } from '../kernel-model/madvise.js';
import { PAGE_SIZE } from '../kernel-model/page.js';
import { PinnedSchedule, BadScheduleId, ScheduleTooLong } from '../explore/explore.js';
import { THREAD_PREEMPT, type ThreadBlock } from '../kernel-model/sched.js';
import { WIFSIGNALED, WTERMSIG, WEXITSTATUS } from '../kernel-model/task.js';
import { memoryMode } from '../dmirror/test_hmm.js';
import { REQUESTS, errnoName, signame, protName } from './names.js';
import { firstMismatch } from './pattern.js';
import { type Scenario, type Step, type Expect, type PageRange, type ReportKind, fmtPos } from './scenario.js';
import { drawPages, type MappedBuffer } from './pagemap.js';

/** A kernel report as the scenario sees it. */
export interface KernelReport {
  kind: ReportKind;
  /** The kernel function it names. */
  where: string;
  text: string;
}

/** The model's kernel bugs by report kind: a new kind of report is one line here (and its name in REPORT_KINDS). */
function classify(e: KernelBug): KernelReport {
  const kind: ReportKind = e.kind === 'Oops' ? 'oops' : 'bug';
  // Named as the real kernel's RIP names it (inlined helpers folded into their caller: bug.ts), on one line.
  return { kind, where: e.trace[0] ?? e.where, text: `${e.message.split('\n')[0]} (model: ${e.where}(): ${e.detail})` };
}

/**
 * A task blocked for good (the hung-task report): named, as the kbox names
 * a real one, by its first frame that is not a sleeping primitive. The
 * process never comes back from the call, so the run ends there as after
 * an oops, and shutdownCase() leaves the process and test_hmm as they are.
 */
function hangReport(e: HungTask): KernelReport {
  return { kind: 'hang', where: e.where, text: e.report.split('\n')[0] };
}

function warnReport(line: string): KernelReport {
  const m = /^WARNING: ([^:]+): /.exec(line);
  return { kind: 'warn', where: m?.[1] ?? '', text: line };
}

export interface Check {
  ok: boolean;
  /** "file:line:col OP what". */
  name: string;
  /** Why it failed, or a SKIP reason. */
  detail: string | null;
  skip?: boolean;
}

export interface ScenarioResult {
  file: string;
  name: string;
  /** The kernel profile and the patches it ran on. */
  kernel: string;
  patches: string[];
  checks: Check[];
  durationMs: number;
}

export interface RunScenarioOptions {
  /** Every observation line, and each check as it is made. */
  line: (l: string) => void;
  check: (c: Check) => void;
  /** Draw the page map after each action (--show pages). */
  showPages?: boolean;
  hostMemory?: HostMemory;
  /** Write SCHED lines (--trace). */
  trace?: boolean;
  /** Called after boot, before the first action: tests break the model here. */
  onKernel?: (c: BootedCase) => void;
  /**
   * Called after every action that completed (hmm-test fuzz's invariants);
   * a string it returns is a failed check of that action.
   */
  afterStep?: (ev: StepEvent) => string | null;
  /**
   * false: a DATA line without an expectation leaves out the fnv1a digest
   * of what was read (hmm-test fuzz reads only the REPORT lines, and the
   * data through afterStep). Default true.
   */
  digests?: boolean;
}

/** What an action did, for an afterStep hook. */
export interface StepEvent {
  step: Step;
  /** '' for the scenario's process, 'NAME: ' for a child or thread. */
  label: string;
  c: BootedCase;
  /** The action's return value (0 or -errno) when it has one. */
  ret: number | null;
  /** What a load or a device READ read. */
  data: Int32Array | null;
}

/** What one process (the scenario's, or a forked child) holds by name. */
interface Proc {
  label: string;
  fds: Map<string, number>;
  children: Map<string, number>;
  threads: Map<string, pthread_t>;
}

/** Thrown out of every action when the kernel reported a bug: the scenario's run ends there, as the oops kills the process. */
class Reported extends Error {
  constructor(readonly report: KernelReport, readonly stack_: Step[]) {
    super(report.text);
  }
}

/** Decisions a pinned schedule may take before its run counts as a livelock (hmm-test explore's default --max-steps). */
const PINNED_MAX_STEPS = 10000;

/**
 * Run a scenario: with the time scheduler, or, when its config pins a
 * schedule (and `unpinned` is not set: the explorer runs its own), with
 * that schedule replayed by the explorer (PinnedSchedule). A run abandoned
 * for a blocked thread is run again on a fresh kernel, so its lines are
 * held back until the run that counts.
 */
export function runScenario(sc: Scenario, opts: RunScenarioOptions & { unpinned?: boolean }): ScenarioResult {
  const pin = sc.config.schedule;
  if (pin === undefined || opts.unpinned) return runScenarioOnce(sc, opts);
  const pinned = new PinnedSchedule(pin.choices, PINNED_MAX_STEPS);
  for (;;) {
    const said: Array<string | Check> = [];
    let kernel: BootedCase | null = null, result: ScenarioResult | null = null, error: unknown = null;
    try {
      result = runScenarioOnce(sc, { ...opts, line: (l) => said.push(l), check: (c) => said.push(c),
        onKernel: (b) => { kernel = b; b.k.sched.explorer = pinned.controller(); opts.onKernel?.(b); } });
    } catch (e) {
      error = e;
    }
    if (pinned.again()) {
      (kernel as BootedCase | null)?.k.poweroff();
      continue;
    }
    for (const x of said) if (typeof x === 'string') opts.line(x); else opts.check(x);
    if (error !== null && !(error instanceof BadScheduleId || error instanceof ScheduleTooLong)) throw error;
    const misfit = error instanceof BadScheduleId ? error.message : pinned.misfit();
    if (misfit === null) return result!;
    // The program is not the one the ID was found for: the pin is a failed check, the run's own checks stand.
    const c: Check = { ok: false, name: `${sc.file.replace(/^.*\//, '')} config.schedule ${pin.id}`, detail: misfit };
    opts.check(c);
    if (error !== null) (kernel as BootedCase | null)?.k.poweroff();
    const checks = [...said.filter((x): x is Check => typeof x !== 'string'), c];
    return { file: sc.file, name: sc.name, kernel: sc.config.kernel, patches: sc.config.patches, checks, durationMs: result?.durationMs ?? 0 };
  }
}

function runScenarioOnce(sc: Scenario, opts: RunScenarioOptions): ScenarioResult {
  const t0 = performance.now();
  const checks: Check[] = [];
  const check = (c: Check) => { checks.push(c); opts.check(c); };
  // __warn() prints as it fires, inside the system call, before the call returns and the action prints its line:
  // a WARN raised in an action is a REPORT line before the next line said, labelled with the process of the action running.
  const actionLabels: string[] = [];
  let warningsSaid = 0;
  const sayWarnings = (): void => {
    if (actionLabels.length === 0) return;
    while (warningsSaid < c.k.warnings.length) {
      const r = warnReport(c.k.warnings[warningsSaid++]);
      opts.line(`${actionLabels.at(-1)}REPORT warn ${r.where}: ${r.text}`);
    }
  };
  const say = (l: string): void => { sayWarnings(); opts.line(l); };
  const version = composeKernel(sc.config.kernel, sc.config.patches);
  if ('error' in version) throw new Error(`${sc.file}: ${version.error}`); // parse.ts and the CLI checked it
  const c = bootCase({ machine: sc.config.machine, params: sc.config.params, seed: sc.config.seed, hostMemory: opts.hostMemory, version,
    schedTrace: opts.trace ? say : null });
  opts.onKernel?.(c);
  warningsSaid = c.k.warnings.length;
  const libc = new Libc();
  libc.attach(c.task);
  const generic = memoryMode(sc.config.params) === 'generic';
  const bufs = new Map<string, MappedBuffer>();
  const file = sc.file.replace(/^.*\//, '');
  const where = (s: Step) => `${file}:${s.pos.line}:${s.pos.col} ${s.op}`;
  const stack: Step[] = [];
  let lastCmd: HmmDmirrorCmdResult | null = null;
  let lastPicture: string | null = null;
  let allocToDevmem: number | null = null;
  const cmdPrefix = { value: '' };
  libc.trace = (l) => say(`${cmdPrefix.value}${l}`);
  const hmm_dmirror_cmd = hmmDmirrorCmd(libc, '6.12', (r) => { lastCmd = r; },
    (cmd) => { if (allocToDevmem !== null) cmd.alloc_to_devmem = allocToDevmem; });
  const { pthread_create, pthread_join, hmm_random } = pthreads(libc);

  const expectEq = (s: Step, what: string, got: string | number, want: string | number) => {
    check({ ok: got === want, name: `${where(s)} ${what} ${want}`, detail: got === want ? null : `got ${got}, expected ${want}` });
  };
  const addrOf = (r: PageRange) => bufs.get(r.buf)!.addr + r.first * PAGE_SIZE;
  const pagesText = (r: PageRange) => `${r.buf} pages=${r.first}${r.count > 1 ? `-${r.first + r.count - 1}` : ''}`;

  let stepRet: number | null = null;
  let stepData: Int32Array | null = null;
  function checkRet(s: Step, ret: number): void {
    stepRet = ret;
    if (s.expect?.ret !== undefined) expectEq(s, 'ret', errnoName(ret), errnoName(s.expect.ret));
  }

  /** What the CPU or the device read, against the expected pattern (or its checksum when none is expected). */
  function dataLine(p: Proc, s: Step, what: string, r: PageRange, got: Int32Array): void {
    stepData = got;
    const want = s.expect?.data;
    const head = `${p.label}DATA ${what} ${pagesText(r)}`;
    if (want === undefined) {
      if (opts.digests === false) return say(head);
      let h = 0x811c9dc5;
      const b = new Uint8Array(got.buffer, got.byteOffset, got.byteLength);
      for (let i = 0; i < b.length; i++) h = Math.imul(h ^ b[i], 0x01000193) >>> 0;
      say(`${head} fnv1a=0x${h.toString(16).padStart(8, '0')}`);
      return;
    }
    const i = firstMismatch(want, got, r.first * (PAGE_SIZE / 4));
    const detail = i < 0 ? null : `page ${r.first + Math.floor(i / 1024)} int ${i % 1024} is ${got[i]}, expected ${want.at(r.first * 1024 + i)}`;
    say(i < 0 ? `${head} = ${want.text}` : `${head} != ${want.text}: ${detail}`);
    check({ ok: i < 0, name: `${where(s)} data ${want.text}`, detail });
  }

  function command(p: Proc, s: Step & { kind: 'cmd' }): void {
    const info = REQUESTS.get(s.op)!;
    const buffer = newHmmBuffer();
    const npages = s.range?.count ?? 0;
    buffer.fd = p.fds.get(s.dev)!;
    buffer.ptr = s.range ? addrOf(s.range) : 0;
    buffer.size = npages * PAGE_SIZE;
    const mirrorSize = info.mirror === 'pages' ? buffer.size : info.mirror === 'bytes' ? npages : 0;
    if (mirrorSize) buffer.mirror = libc.malloc(mirrorSize);
    if (s.data && s.range) {
      const base = s.range.first * (PAGE_SIZE / 4), data = s.data;
      libc.storeInts(buffer.mirror, buffer.size / 4, (i) => data.at(base + i));
    }
    allocToDevmem = s.allocToDevmem;
    cmdPrefix.value = p.label;
    lastCmd = null;
    try {
      hmm_dmirror_cmd(buffer.fd, info.request, buffer, npages);
    } finally {
      allocToDevmem = null;
      cmdPrefix.value = '';
    }
    const r = lastCmd as HmmDmirrorCmdResult | null;
    if (r === null) return;
    checkRet(s, r.ret);
    if (s.expect?.cpages !== undefined) expectEq(s, 'cpages', r.cmd.cpages, s.expect.cpages);
    if (s.expect?.faults !== undefined) expectEq(s, 'faults', r.cmd.faults, s.expect.faults);
    if (s.op === 'V5_GET_MEM_DEV_TYPE') {
      say(`${p.label}DATA GET_MEM_DEV_TYPE ${s.dev} zone_device_type=${r.cmd.zone_device_type}`);
      if (s.expect?.zone_device_type !== undefined) expectEq(s, 'zone_device_type', r.cmd.zone_device_type, s.expect.zone_device_type);
    }
    if (r.ret === 0 && s.range && info.mirror === 'bytes') {
      const bytes = libc.loadBytes(buffer.mirror, npages);
      const names = [...bytes].map((b) => protName(b, generic));
      say(`${p.label}DATA SNAPSHOT ${pagesText(s.range)} ${runs(names)}`);
      const want = s.expect?.snapshot;
      if (want) {
        const wantNames = want.map((b) => protName(b, generic));
        const i = wantNames.findIndex((n, j) => n !== names[j]);
        check({ ok: i < 0, name: `${where(s)} snapshot ${runs(wantNames)}`, detail: i < 0 ? null : `page ${s.range.first + i} is ${names[i]}, expected ${wantNames[i]}` });
      }
    } else if (s.expect?.snapshot) {
      check({ ok: false, name: `${where(s)} snapshot`, detail: `the command failed (${errnoName(r.ret)}): nothing to compare` });
    }
    if (s.range && info.mirror === 'pages' && s.op.endsWith('READ') && (r.ret === 0 || s.expect?.data)) {
      if (r.ret === 0) dataLine(p, s, s.op, s.range, libc.loadInts(buffer.mirror, buffer.size / 4));
      else check({ ok: false, name: `${where(s)} data ${s.expect!.data!.text}`, detail: `the command failed (${errnoName(r.ret)}): the device read nothing` });
    }
    // The mirror buffer stays until the process exits: freeing it would unmap it, and 6.12's dmirror_do_update()
    // also erases the page past an invalidated range, i.e. the first page of a buffer mapped just above it.
  }

  function mmapStep(p: Proc, s: Step & { kind: 'mmap' }): void {
    const size = s.pages * PAGE_SIZE, share = s.shared ? MAP_SHARED : MAP_PRIVATE;
    let addr: number;
    switch (s.type) {
      case 'anon': addr = libc.mmap(0, size, s.prot, share | MAP_ANONYMOUS, -1, 0); break;
      case 'hugetlb': addr = libc.mmap(0, size, s.prot, MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB, -1, 0); break;
      case 'dmirror': addr = libc.mmap(0, size, s.prot, share, p.fds.get(s.device!)!, 0); break;
      case 'file': {
        // hmm-tests.c's hmm_create_file(): an O_TMPFILE in /tmp; the mapping keeps it once the fd is closed.
        const fd = hmm_create_file(libc, size);
        addr = fd < 0 ? MAP_FAILED : libc.mmap(0, size, s.prot, share, fd, 0);
        if (fd >= 0) libc.close(fd);
        break;
      }
      case 'thp': {
        // As anon_write_huge: twice what is needed, trimmed to a 2 MiB-aligned window, MADV_HUGEPAGE on it.
        const raw = libc.mmap(0, size + TWOMEG, s.prot, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        addr = raw;
        if (raw !== MAP_FAILED) {
          addr = ALIGN(raw, TWOMEG);
          if (addr > raw) libc.munmap(raw, addr - raw);
          if (raw + TWOMEG > addr) libc.munmap(addr + size, raw + TWOMEG - addr);
          if (libc.madvise(addr, size, MADV_HUGEPAGE) !== 0) {
            libc.munmap(addr, size);
            addr = MAP_FAILED;
          }
        }
        break;
      }
    }
    const ret = addr === MAP_FAILED ? -libc.errno : 0;
    bufs.set(s.name, { name: s.name, addr: addr === MAP_FAILED ? 0 : addr, pages: s.pages });
    say(`${p.label}MMAP ${s.name} pages=${s.pages} type=${s.type}${s.shared ? ' shared' : ''} ret=${errnoName(ret)}`);
    checkRet(s, ret);
  }

  /** One action; false when the process died in it (a fatal signal). */
  function step(p: Proc, s: Step): boolean {
    const warned = c.k.warnings.length;
    stack.push(s);
    actionLabels.push(p.label);
    stepRet = null;
    stepData = null;
    try {
      act(p, s);
    } catch (e) {
      if (e instanceof FatalSignal) {
        const b = [...bufs.values()].find((x) => e.addr >= x.addr && e.addr < x.addr + x.pages * PAGE_SIZE);
        say(`${p.label}SIGNAL ${signame(e.signal)}${b ? ` ${b.name} page ${Math.floor((e.addr - b.addr) / PAGE_SIZE)}` : ''}`);
        const want = s.expect?.signal;
        check({ ok: want === e.signal, name: `${where(s)} ${want === undefined ? 'no signal' : `signal ${signame(want)}`}`,
          detail: want === e.signal ? null : `the process got ${e.message}` });
        libc.current.kill(e.signal);
        return false;
      }
      if (e instanceof KernelBug) throw new Reported(classify(e), [...stack]);
      if (e instanceof HungTask) throw new Reported(hangReport(e), [...stack]);
      throw e;
    } finally {
      stack.pop();
      warnings(p, s, warned);
      actionLabels.pop();
    }
    const broken = opts.afterStep?.({ step: s, label: p.label, c, ret: stepRet, data: stepData }) ?? null;
    if (broken !== null) check({ ok: false, name: `${where(s)} invariant`, detail: broken });
    const want = s.expect?.report;
    if (want !== undefined && want.kind !== 'warn') {
      check({ ok: false, name: `${where(s)} report ${want.kind}${want.where ? ` ${want.where}` : ''}`, detail: 'no report' });
    }
    if (s.expect?.signal !== undefined && s.kind !== 'fork' && s.kind !== 'wait') {
      check({ ok: false, name: `${where(s)} signal ${signame(s.expect.signal)}`, detail: 'the process got no signal' });
    }
    if (opts.showPages) {
      const pic = drawPages(c, libc.current, bufs, p.fds, generic).map((l) => `${p.label}${l}`);
      if (pic.length === 0) { /* no buffer yet */ } else if (pic.join('\n') === lastPicture) say(`${p.label}MAP (unchanged)`);
      else pic.forEach(say);
      lastPicture = pic.join('\n');
    }
    return true;
  }

  /** WARNs the action caused: REPORT lines, checked against the action's report expectation. */
  function warnings(p: Proc, s: Step, from: number): void {
    const fresh = c.k.warnings.slice(from).map(warnReport);
    sayWarnings();
    const want = s.expect?.report;
    if (want?.kind === 'warn') {
      const hit = fresh.some((r) => want.where === null || r.where === want.where);
      if (hit) for (const r of fresh) expectedWarnings.add(r.text);
      check({ ok: hit, name: `${where(s)} report warn${want.where ? ` ${want.where}` : ''}`, detail: hit ? null : fresh.length ? `the WARNs were in ${fresh.map((r) => r.where).join(', ')}` : 'no WARN' });
    } else if (fresh.length) {
      check({ ok: false, name: `${where(s)} no kernel report`, detail: fresh[0].text });
    }
  }

  function exitLine(p: Proc, s: Step, name: string, status: number): void {
    const signaled = WIFSIGNALED(status);
    say(`${p.label}EXIT ${name} ${signaled ? `killed by ${signame(WTERMSIG(status))}` : `exited ${WEXITSTATUS(status)}`}`);
    const e: Expect | null = s.expect;
    if (e?.signal !== undefined) expectEq(s, 'killed by', signaled ? signame(WTERMSIG(status)) : 'no signal', signame(e.signal));
    if (e?.exit !== undefined) expectEq(s, 'exit', signaled ? `killed by ${signame(WTERMSIG(status))}` : WEXITSTATUS(status), e.exit);
  }

  function runSteps(p: Proc, steps: Step[]): boolean {
    for (const s of steps) if (!step(p, s)) return false;
    return true;
  }

  function* threadBody(p: Proc, steps: Step[]): Generator<ThreadBlock, unknown, undefined> {
    for (const [i, s] of steps.entries()) {
      // Between two actions the real thread may be preempted: a point of its own (only the explorer switches there).
      if (i > 0 && s.kind !== 'sleep' && steps[i - 1].kind !== 'sleep') yield THREAD_PREEMPT;
      if (s.kind === 'sleep') {
        const ns = s.random ? hmm_random() % s.ns : s.ns;
        say(`${p.label}SLEEP ${s.random ? `upto=${s.ns}` : `ns=${ns}`}`);
        yield { nanosleep: ns };
      } else if (!step(p, s)) {
        return null;
      }
    }
    return null;
  }

  function act(p: Proc, s: Step): void {
    switch (s.kind) {
      case 'mmap': return mmapStep(p, s);
      case 'munmap': case 'mprotect': case 'madvise': {
        const a = addrOf(s.range), len = s.range.count * PAGE_SIZE;
        const r = s.kind === 'munmap' ? libc.munmap(a, len) : s.kind === 'mprotect' ? libc.mprotect(a, len, s.prot) : libc.madvise(a, len, s.advice);
        const ret = r < 0 ? -libc.errno : 0;
        say(`${p.label}${s.kind.toUpperCase()} ${pagesText(s.range)}${s.kind === 'madvise' ? ` ${s.adviceName}` : ''} ret=${errnoName(ret)}`);
        return checkRet(s, ret);
      }
      case 'mremap': {
        const r = libc.mremap(addrOf(s.range), s.range.count * PAGE_SIZE, s.pages * PAGE_SIZE, s.flags, s.to ? addrOf(s.to) : 0);
        const ret = r === MAP_FAILED ? -libc.errno : 0;
        bufs.set(s.name, { name: s.name, addr: r === MAP_FAILED ? 0 : r, pages: s.pages });
        say(`${p.label}MREMAP ${pagesText(s.range)} ${s.flagNames}${s.to ? ` to ${pagesText(s.to)}` : ''} as ${s.name} ret=${errnoName(ret)}`);
        return checkRet(s, ret);
      }
      case 'store': {
        const base = s.range.first * (PAGE_SIZE / 4), pat = s.pattern;
        libc.storeInts(addrOf(s.range), s.range.count * (PAGE_SIZE / 4), (i) => pat.at(base + i));
        say(`${p.label}STORE ${pagesText(s.range)} ${pat.text}`);
        return;
      }
      case 'load': return dataLine(p, s, 'LOAD', s.range, libc.loadInts(addrOf(s.range), s.range.count * (PAGE_SIZE / 4)));
      case 'open': {
        const fd = libc.open(`/dev/hmm_dmirror${s.device}`, O_RDWR, 0);
        const ret = fd < 0 ? -libc.errno : 0;
        p.fds.set(s.name, fd); // -1 when it failed: later calls on it get -EBADF, as in C
        say(`${p.label}OPEN ${s.name} /dev/hmm_dmirror${s.device} ret=${errnoName(ret)}`);
        return checkRet(s, ret);
      }
      case 'close': {
        const fd = p.fds.get(s.name);
        const ret = libc.close(fd ?? -1) < 0 ? -libc.errno : 0;
        p.fds.delete(s.name);
        say(`${p.label}CLOSE ${s.name} ret=${errnoName(ret)}`);
        return;
      }
      case 'cmd': return command(p, s);
      case 'fork': {
        const child: Proc = { label: `${s.name}: `, fds: new Map(p.fds), children: new Map(), threads: new Map() };
        const pid = libc.fork(() => {
          if (runSteps(child, s.steps)) say(`${child.label}END`);
        });
        if (pid < 0) {
          say(`${p.label}FORK ${s.name} ret=${errnoName(-libc.errno)}`);
          return checkRet(s, -libc.errno);
        }
        say(`${p.label}FORK ${s.name}`);
        p.children.set(s.name, pid);
        if (!s.wait) return;
        return waitChild(p, s, s.name);
      }
      case 'wait': return waitChild(p, s, s.child);
      case 'kill': {
        const r = libc.kill(p.children.get(s.child)!, s.signal);
        const ret = r < 0 ? -libc.errno : 0;
        say(`${p.label}KILL ${s.child} ${signame(s.signal)} ret=${errnoName(ret)}`);
        return checkRet(s, ret);
      }
      case 'exit':
        say(`${p.label}EXIT ${s.code}`);
        return libc.exit(s.code);
      case 'thread': {
        const th = newPthread();
        const tp: Proc = { label: `${s.name}: `, fds: p.fds, children: new Map(), threads: new Map() };
        pthread_create(th, null, (steps: Step[]) => threadBody(tp, steps), s.steps);
        p.threads.set(s.name, th);
        say(`${p.label}THREAD ${s.name}`);
        return;
      }
      case 'join': {
        pthread_join(p.threads.get(s.thread)!, null);
        p.threads.delete(s.thread);
        say(`${p.label}JOIN ${s.thread}`);
        return;
      }
      case 'sleep': {
        const ns = s.random ? hmm_random() % s.ns : s.ns;
        c.k.sched.nanosleep(ns);
        say(`${p.label}SLEEP ${s.random ? `upto=${s.ns}` : `ns=${ns}`}`);
        return;
      }
    }
  }

  function waitChild(p: Proc, s: Step, name: string): void {
    const status = { value: 0 };
    libc.waitpid(p.children.get(name)!, status, 0);
    p.children.delete(name);
    exitLine(p, s, name, status.value);
  }

  // WARNs an action asked for were judged there; the unload check lists them, it does not fail for them again.
  const expectedWarnings = new Set<string>();
  const main: Proc = { label: '', fds: new Map(), children: new Map(), threads: new Map() };
  let oops: Reported | null = null;
  try {
    runSteps(main, sc.steps);
  } catch (e) {
    if (!(e instanceof Reported)) throw e;
    oops = e;
    reportLine(e);
  }
  const problems = shutdownCase(c, libc);
  libc.attach(null);
  // A problem may be a whole kernel report: every line of it is an UNLOAD line, so a log stays one observation a line.
  for (const l of problems) for (const part of l.split('\n')) say(`UNLOAD ${part}`);
  const unload = `${file} unload: every page back, no report`;
  if (oops !== null) {
    // A real oops leaves what the dying task held (here the driver's bounce buffer) behind: the unload check cannot be clean.
    check({ ok: true, name: unload, detail: `after the ${oops.report.kind} at ${fmtPos(oops.stack_.at(-1)!.pos)}${problems.length ? `: ${problems.length} problem(s) at unload` : ''}`, skip: true });
  } else {
    const unexpected = problems.filter((l) => !expectedWarnings.has(l));
    check({ ok: unexpected.length === 0, name: unload, detail: unexpected[0] ?? null });
  }
  return { file: sc.file, name: sc.name, kernel: sc.config.kernel, patches: sc.config.patches, checks, durationMs: performance.now() - t0 };

  /** The kernel report that ended the run, checked against the innermost action that expects one. */
  function reportLine(e: Reported): void {
    const r = e.report, at = e.stack_.at(-1)!;
    say(`REPORT ${r.kind} ${r.where}: ${r.text}`);
    const s = [...e.stack_].reverse().find((x) => x.expect?.report !== undefined) ?? at;
    const want = s.expect?.report;
    if (want === undefined || want.kind === 'warn') {
      check({ ok: false, name: `${where(at)} no kernel report`, detail: r.text });
      return;
    }
    const ok = want.kind === r.kind && (want.where === null || want.where === r.where);
    check({ ok, name: `${where(s)} report ${want.kind}${want.where ? ` ${want.where}` : ''}`, detail: ok ? null : `the kernel reported: ${r.text}` });
  }
}

/** "READ|WRITE*4 NONE": equal neighbours as one entry with a count. */
export function runs(names: string[]): string {
  const out: string[] = [];
  for (let i = 0; i < names.length;) {
    let j = i;
    while (j < names.length && names[j] === names[i]) j++;
    out.push(j - i > 1 ? `${names[i]}*${j - i}` : names[i]);
    i = j;
  }
  return out.join(' ');
}
