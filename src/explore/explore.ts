// SPDX-License-Identifier: GPL-2.0-only
/*
 * The systematic explorer: every interleaving of a program's threads at the
 * model's preemption points, up to a bound on preemptions (CHESS's iterative
 * context bounding, Musuvathi and Qadeer, PLDI 2007), each schedule run to
 * its end on a freshly booted kernel.
 *
 * A schedule is the list of choices the scheduler made at its decisions
 * (kernel-model/sched.ts: SchedDecision), option 0 being the default (go on
 * with the thread that ran last). Its ID writes the non-default choices as
 * `DECISION.OPTION` joined by `-` (`0` when there is none): `4.1-9.2`. The
 * program is deterministic, so replaying the choices replays the schedule.
 *
 * Enumeration: bound 0 first (only free switches: a thread sleeps, waits
 * or ends), then 1, 2, ... A run whose first F decisions are fixed tries, at
 * every later decision, each other option: a free one is explored within the
 * same bound (depth first), a preemptive one is queued for the next bound. A
 * choice sequence is thus made by exactly one run (the one whose fixed
 * prefix ends at its last non-default choice), and each bound's schedules
 * are all run before the next bound's first.
 *
 * Partial-order reduction: sleep sets (Godefroid 1996). Two steps (a
 * thread's code from one decision to the next) are independent when what
 * they touch is disjoint (SchedExplorer.access(): 'mm' is every system call
 * and user memory access, 'urandom' a read of /dev/urandom): entering the
 * kernel reaches page tables, mmap_lock, the mirrors' mutexes and page
 * tables through the notifiers, folio locks and the page allocator, which
 * the model does not tell apart, so all kernel steps of a process conflict,
 * and only steps that stay in user space, sleep, or just read /dev/urandom
 * commute with them. After the subtree of option t at a decision, t is
 * asleep in the later siblings' subtrees for as long as the steps taken
 * there are independent of t's; a decision where every option is asleep
 * ends the run early as redundant (it is a reordering of a schedule already
 * run). A thread is asleep only within one bound's depth-first search, so
 * the equivalent schedule already run never needs more preemptions
 * (the pitfall of Coons et al., 2010).
 *
 * Blocked threads. At a point where the stack thread holds sleeping locks
 * (SchedDecision.holds), a thread whose step would sleep on one of them
 * cannot run: its code runs a system call in one piece and cannot stop in
 * the middle to wait. Its step throws (sched.ts: ThreadBlocked) and the run
 * is abandoned; the explorer runs the same prefix again on a fresh kernel
 * with that thread disabled from that decision on, until a decision where
 * the stack thread no longer holds that lock (a Block). The step then runs
 * later from its start, GUP and all, which is what the C's waiter does in
 * effect: it sleeps before it changed anything the holder sees, and after
 * the lock it re-checks what it found (7.2's make_device_exclusive() looks
 * at the pte again and retries GUP when it changed; folio_lock_or_retry()
 * drops the fault and retries it). A disabled option stays in the options
 * (its index does not move) and is never chosen, so a schedule's ID is its
 * choices as before, and replaying it never reaches the block. Where the
 * default is disabled the first enabled option runs, which is no
 * preemption (the thread left cannot go on). A branch that chooses a
 * blocked thread at its own decision is cut: that interleaving does not
 * exist. One thing is not enumerated: a waiter that takes the lock between
 * the stack thread's release and its re-acquisition before its next point.
 */

/** What a run of the program ends as. */
export type BadKind = 'oops' | 'bug' | 'warn' | 'deadlock' | 'livelock' | 'leak' | 'assertion' | 'signal' | 'exception' | 'timeout';

/** One run's result, as the target reports it. */
export interface TargetResult {
  /** Observation lines with the schedule-dependent noise taken out (the outcome). */
  outcome: string[];
  /** Everything the run printed, for --schedule (TRACE, SCHED, observation and report lines). */
  log: string[];
  pass: boolean;
  /** What went wrong, by kind, one line each. */
  problems: Array<{ kind: BadKind; message: string }>;
}

/** The scheduler's side of a run: what the target hands to Kernel.sched.explorer. */
export interface Controller {
  choose(d: { options: readonly number[]; preemptive: boolean; where: string; holds: readonly string[] }): number;
  access(what: string): void;
  noProgress(where: string, detail: string): void;
  blocked(tid: number, lock: string): void;
  /** Where a replay writes a DECISION line for each decision (the target points it at its log), or null. */
  note: ((line: string) => void) | null;
}

/** A program to explore: runs once with the controller as its kernel's scheduler explorer. */
export interface Target {
  name: string;
  run(c: Controller, trace: boolean): TargetResult;
}

/** A thread disabled from decision `from` on, while the stack thread holds `lock` (see the file comment). */
export interface Block {
  tid: number;
  lock: string;
  from: number;
}

/** A run to make: a fixed choice prefix, the sleep set at its last decision, the blocks known for the prefix. */
interface Item {
  prefix: number[];
  sleep: Map<number, Set<string>>;
  blocks: Block[];
}

/** A decision as a run met it. */
interface Decision {
  options: number[];
  /** Leaving option 0 costs a preemption: the thread could go on and is not blocked. */
  preemptive: boolean;
  /** Tids blocked here (never chosen). */
  disabled: Set<number>;
  where: string;
  chosen: number;
  /** Preemptions before this decision. */
  cost: number;
  /** What the step that followed touched. */
  footprint: Set<string>;
  /** Tids asleep here (sleep set), with the footprint their step had. */
  sleep: Map<number, Set<string>>;
}

/** Thrown at a decision past the step bound: the schedule makes no progress. */
export class ScheduleTooLong extends Error {}

/** Thrown by replay when the ID does not fit the program. */
export class BadScheduleId extends Error {}

class Run implements Controller {
  readonly decisions: Decision[] = [];
  livelock: string | null = null;
  /** The first new decision whose default option was asleep (the run is redundant from there), or -1. */
  redundantAt = -1;
  private stopped = false;
  note: ((line: string) => void) | null = null;
  private step: Set<string> = new Set();
  /** The thread that found a lock of the stack thread held, at which decision: the run is abandoned from there. */
  blockedAt: { tid: number; lock: string; at: number } | null = null;
  /** Decisions since the run was abandoned (its teardown). */
  private afterBlock = 0;
  /** Blocks that ended (the stack thread released the lock). */
  private readonly ended = new Set<Block>();
  constructor(private readonly prefix: readonly number[], private readonly initialSleep: Map<number, Set<string>>,
    private readonly maxSteps: number, private readonly replay: boolean, private readonly por = true,
    private readonly blocks: readonly Block[] = []) {}

  get cost(): number {
    const d = this.decisions.at(-1);
    return d === undefined ? 0 : d.cost + (d.preemptive && d.chosen !== 0 ? 1 : 0);
  }

  choose(d: { options: readonly number[]; preemptive: boolean; where: string; holds: readonly string[] }): number {
    const n = this.decisions.length;
    if (this.blockedAt !== null) {
      // Abandoned: its teardown runs the stack thread first, and is stopped if it would not end.
      if (++this.afterBlock > this.maxSteps) throw new ScheduleTooLong(`teardown after a blocked thread at decision ${this.blockedAt.at}`);
      return Math.max(d.options.indexOf(0), 0);
    }
    if (n >= this.maxSteps) {
      if (this.livelock === null) this.livelock = `no progress within ${this.maxSteps} scheduling decisions (last at ${d.where})`;
      // Once: the program is stopped where it is; its teardown then runs the stack thread first, and is stopped too if it would not end.
      if (!this.stopped || n >= 3 * this.maxSteps) {
        this.stopped = true;
        throw new ScheduleTooLong(this.livelock);
      }
      const main = d.options.indexOf(0);
      this.decisions.push({ options: [...d.options], preemptive: d.preemptive, disabled: new Set(), where: d.where, chosen: Math.max(main, 0), cost: this.cost, footprint: this.step = new Set(), sleep: new Map() });
      return Math.max(main, 0);
    }
    const prev = this.decisions.at(-1);
    let sleep: Map<number, Set<string>>;
    if (!this.por || n < this.prefix.length - 1 || prev === undefined && this.prefix.length === 0) sleep = new Map();
    else if (n === this.prefix.length - 1) sleep = this.initialSleep;
    else {
      // Asleep threads stay asleep across a step independent of theirs (the step of the thread that ran).
      sleep = new Map();
      for (const [tid, fp] of prev!.sleep) {
        if (tid !== prev!.options[prev!.chosen] && disjoint(fp, prev!.footprint)) sleep.set(tid, fp);
      }
    }
    const cost = this.cost;
    const disabled = this.disabledAt(n, d.holds);
    const preemptive = d.preemptive && !disabled.has(d.options[0]);
    let chosen: number;
    if (n < this.prefix.length) {
      chosen = this.prefix[n];
      if (this.replay && chosen >= d.options.length) {
        throw new BadScheduleId(`decision ${n} (at ${d.where}) has ${d.options.length} options (0-${d.options.length - 1}), the schedule chooses ${chosen}`);
      }
      // Only a pinned schedule meets this (PinnedSchedule): the thread it chooses waits for the lock.
      if (disabled.has(d.options[chosen])) chosen = d.options.findIndex((t) => !disabled.has(t));
    } else {
      chosen = d.options.findIndex((t) => !disabled.has(t));
      if (chosen < 0) return -1;
      // The default is asleep: every schedule going on from here by it is a reordering of one already run.
      if (!this.replay && this.redundantAt < 0 && sleep.has(d.options[chosen])) this.redundantAt = n;
    }
    this.decisions.push({ options: [...d.options], preemptive, disabled, where: d.where, chosen, cost, footprint: this.step = new Set(), sleep });
    this.note?.(`DECISION ${n} at ${d.where}: threads ${d.options.map((t) => (t === 0 ? 'main' : `tid=${t}`) + (disabled.has(t) ? ' (blocked)' : '')).join(' ')}; ` +
      `option ${chosen} runs${chosen !== 0 && preemptive ? ' (a preemption)' : ''}${d.holds.length ? `; main holds ${d.holds.join(', ')}` : ''}`);
    return chosen;
  }

  /** The threads blocked at decision n: each block from n or before whose lock the stack thread still holds. */
  private disabledAt(n: number, holds: readonly string[]): Set<number> {
    const out = new Set<number>();
    for (const b of this.blocks) {
      if (b.from > n || this.ended.has(b)) continue;
      if (holds.includes(b.lock)) out.add(b.tid);
      else this.ended.add(b);
    }
    return out;
  }

  blocked(tid: number, lock: string): void {
    if (this.blockedAt === null) this.blockedAt = { tid, lock, at: this.decisions.length - 1 };
  }

  access(what: string): void {
    this.step.add(what);
  }

  noProgress(where: string, detail: string): void {
    if (this.livelock === null) this.livelock = `${where}(): ${detail}`;
  }

  /** The choices made, as an ID. */
  id(): string {
    return scheduleId(this.decisions.map((d) => d.chosen));
  }
}

const disjoint = (a: Set<string>, b: Set<string>): boolean => {
  for (const x of a) if (b.has(x)) return false;
  return true;
};

/** The ID of a choice sequence: the non-default choices as DECISION.OPTION joined by '-', '0' when there is none. */
export function scheduleId(choices: readonly number[]): string {
  const parts: string[] = [];
  choices.forEach((c, i) => { if (c !== 0) parts.push(`${i}.${c}`); });
  return parts.length ? parts.join('-') : '0';
}

/** The choice sequence of an ID, or an error line. */
export function parseScheduleId(id: string): number[] | { error: string } {
  const bad = { error: `--schedule "${id}" is not a schedule ID: give one the explorer printed, DECISION.OPTION pairs joined by - in increasing order (e.g. 4.1-9.2), or 0` };
  if (id === '0') return [];
  if (!/^\d{1,7}\.[1-9]\d{0,3}(-\d{1,7}\.[1-9]\d{0,3})*$/.test(id)) return bad;
  const out: number[] = [];
  for (const p of id.split('-')) {
    const [d, o] = p.split('.').map(Number);
    if (d < out.length) return bad;
    while (out.length < d) out.push(0);
    out.push(o);
  }
  return out;
}

export interface ExploreOptions {
  maxPreemptions: number;
  maxSchedules: number;
  /** Wall-clock bound in ms. */
  maxTimeMs: number;
  /** Decisions one schedule may take before it counts as a livelock. */
  maxSteps: number;
  /** Partial-order reduction by sleep sets (default on). */
  por?: boolean;
  /** Called after each schedule (progress). */
  onSchedule?: (n: number) => void;
}

/** A distinct outcome: its lines, verdict and the schedules that reach it. */
export interface Outcome {
  key: string;
  lines: string[];
  pass: boolean;
  problems: Array<{ kind: BadKind; message: string }>;
  count: number;
  /** The first schedule that reached it, and its preemptions. */
  id: string;
  preemptions: number;
  /** Up to MAX_IDS schedule IDs that reach it. */
  ids: string[];
}

const MAX_IDS = 10;

export interface ExploreReport {
  target: string;
  schedules: number;
  /** Runs cut short by the sleep sets (a reordering of a schedule already run), not counted in `schedules`. */
  pruned: number;
  /** Runs abandoned because a thread would sleep on a lock of the stack thread, then run again with it disabled. */
  blockedReruns: number;
  /** Branches that chose a thread blocked there: no such interleaving, not counted in `schedules`. */
  blockedCut: number;
  /** Schedules by their number of preemptions. */
  byPreemptions: number[];
  outcomes: Outcome[];
  /** Bound 0..this were explored completely. */
  completeBound: number;
  /** Why the run stopped before its preemption bound was covered, or null. */
  hit: string | null;
  /** Schedules with more preemptions waiting when the preemption bound stopped the run. */
  beyondBound: number;
  ms: number;
  maxDecisions: number;
  /** Each distinct outcome line (e.g. one device command's TRACE line): in how many schedules it appears, and the first of them. */
  lines: Array<{ line: string; count: number; id: string }>;
}

/**
 * runOnce(), where a run that ended because a thread blocked (the throw of
 * the blocked step may come out of the target as it is) is an empty result:
 * the caller looks at run.blockedAt and runs the prefix again.
 */
function runOrBlocked(target: Target, run: Run, trace: boolean): TargetResult {
  try {
    return runOnce(target, run, trace);
  } catch (e) {
    if (run.blockedAt === null) throw e;
    return { outcome: [], log: [], pass: false, problems: [] };
  }
}

/** Run one schedule (a choice sequence) with its full log. */
export function replay(target: Target, choices: number[], maxSteps: number): { result: TargetResult; id: string; preemptions: number; decisions: number } {
  const run = new Run(choices, new Map(), maxSteps, true);
  const result = runOrBlocked(target, run, true);
  if (run.blockedAt !== null) {
    const b = run.blockedAt;
    throw new BadScheduleId(`decision ${b.at} runs tid=${b.tid}, which would sleep on ${b.lock} held by the main thread there (the explorer never chooses it)`);
  }
  if (run.decisions.length < choices.length) {
    throw new BadScheduleId(`the schedule has choices up to decision ${choices.length - 1}, but the program makes ${run.decisions.length} decisions`);
  }
  return { result, id: run.id(), preemptions: run.cost, decisions: run.decisions.length };
}

/**
 * A schedule a scenario pins (config.schedule), replayed by `hmm-test run`:
 * its choices as --schedule replays them, and then the defaults, except
 * that a thread the schedule chooses while it is blocked on a lock the main
 * thread holds waits for it (the run goes again with the thread disabled
 * there, as the explorer does), so a schedule found with a patch also runs
 * without it. The caller runs the program with controller() until again()
 * is false.
 */
export class PinnedSchedule {
  private blocks: Block[] = [];
  private run: Run | null = null;
  constructor(private readonly choices: readonly number[], private readonly maxSteps: number) {}

  /** The scheduler explorer for the next run. */
  controller(): Controller {
    return this.run = new Run(this.choices, new Map(), this.maxSteps, true, false, this.blocks);
  }

  /** The run was abandoned for a blocked thread: run it again (with that thread waiting). */
  again(): boolean {
    const b = this.run?.blockedAt ?? null;
    if (b === null) return false;
    this.blocks = [...this.blocks, { tid: b.tid, lock: b.lock, from: b.at }];
    return true;
  }

  /** Why the schedule does not fit the run that ended (fewer decisions than it chooses at, a livelock), or null. */
  misfit(): string | null {
    const r = this.run!;
    if (r.livelock !== null) return `livelock: ${r.livelock}`;
    if (r.decisions.length < this.choices.length) return `it chooses up to decision ${this.choices.length - 1}, but the program makes ${r.decisions.length} decisions`;
    return null;
  }
}

function runOnce(target: Target, run: Run, trace: boolean): TargetResult {
  const r = target.run(run, trace);
  if (run.livelock !== null) {
    return { ...r, pass: false, problems: [{ kind: 'livelock', message: `livelock: ${run.livelock}` }, ...r.problems.filter((p) => p.kind !== 'exception')] };
  }
  return r;
}

/** Explore the target's schedules (see the file comment). */
export function explore(target: Target, o: ExploreOptions): ExploreReport {
  const t0 = performance.now();
  const outcomes = new Map<string, Outcome>();
  const lines = new Map<string, { line: string; count: number; id: string }>();
  const byPreemptions: number[] = [];
  let schedules = 0, pruned = 0, maxDecisions = 0, hit: string | null = null, completeBound = -1, blockedReruns = 0, blockedCut = 0;
  let queue: Item[] = [{ prefix: [], sleep: new Map(), blocks: [] }];
  const stop = (): string | null => {
    if (schedules >= o.maxSchedules) return `--max-schedules ${o.maxSchedules}`;
    if (performance.now() - t0 >= o.maxTimeMs) return `--max-time ${o.maxTimeMs / 1000}`;
    return null;
  };
  for (let b = 0; b <= o.maxPreemptions && hit === null; b++) {
    const next: Item[] = [];
    for (const first of queue) {
      const stack: Item[] = [first];
      while (stack.length > 0) {
        if ((hit = stop()) !== null) break;
        const item = stack.pop()!;
        const ran = runBlocking(target, item, o);
        blockedReruns += ran.reruns;
        if (ran.run === null) {
          blockedCut++;
          continue;
        }
        const { run, result } = ran;
        maxDecisions = Math.max(maxDecisions, run.decisions.length);
        if (run.redundantAt >= 0) pruned++;
        else {
          schedules++;
          byPreemptions[run.cost] = (byPreemptions[run.cost] ?? 0) + 1;
          const id = run.id();
          record(outcomes, result, id, run.cost);
          for (const l of new Set(result.outcome)) {
            const e = lines.get(l);
            if (e === undefined) lines.set(l, { line: l, count: 1, id });
            else e.count++;
          }
          o.onSchedule?.(schedules);
        }
        branch(run, item.prefix.length, ran.blocks, stack, next);
      }
      if (hit !== null) break;
    }
    if (hit === null) completeBound = b;
    queue = next;
  }
  return {
    target: target.name, schedules, pruned, blockedReruns, blockedCut, byPreemptions: Array.from(byPreemptions, (x) => x ?? 0), outcomes: [...outcomes.values()],
    completeBound, hit, beyondBound: hit === null ? queue.length : 0, ms: performance.now() - t0, maxDecisions,
    lines: [...lines.values()],
  };
}

/**
 * Run an item, again with each thread that blocks disabled (see the file
 * comment) until one run has none; null when the item's own last choice
 * is a thread blocked there.
 */
function runBlocking(target: Target, item: Item, o: ExploreOptions): { run: Run | null; result: TargetResult; blocks: Block[]; reruns: number } {
  let blocks = item.blocks;
  for (let reruns = 0; ; reruns++) {
    const run = new Run(item.prefix, item.sleep, o.maxSteps, false, o.por !== false, blocks);
    const result = runOrBlocked(target, run, false);
    const b = run.blockedAt;
    if (b === null) return { run, result, blocks, reruns };
    if (b.at < item.prefix.length) return { run: null, result, blocks, reruns };
    // The block found at this decision came back: the disabled thread ran there (an explorer bug), and would forever.
    if (blocks.some((x) => x.tid === b.tid && x.lock === b.lock && x.from === b.at)) {
      throw new Error(`explorer: tid=${b.tid} blocked again on ${b.lock} at decision ${b.at}, though disabled there`);
    }
    blocks = [...blocks, { tid: b.tid, lock: b.lock, from: b.at }];
  }
}

/**
 * The alternatives of a run's new decisions (from `fixed` on): free ones on
 * the stack with their sleep sets, preemptive ones in the next bound's queue.
 * Siblings pushed in reverse run in option order; option i's subtree has the
 * options before it asleep when their steps' footprints are known. A child
 * keeps the blocks found before its decision; blocked options are no
 * alternative.
 */
function branch(run: Run, fixed: number, blocks: readonly Block[], stack: Item[], next: Item[]): void {
  const ds = run.decisions;
  const choices = ds.map((d) => d.chosen);
  const last = run.redundantAt >= 0 ? run.redundantAt : ds.length - 1;
  // The next bound runs its prefixes earliest decision first.
  const preemptive: Item[] = [];
  for (let i = last; i >= fixed; i--) {
    const d = ds[i];
    const before = blocks.filter((b) => b.from < i);
    // Only the chosen one was run from here: its step's footprint is what that option touches.
    const explored = new Map<number, Set<string>>(i === run.redundantAt ? [] : [[d.options[d.chosen], d.footprint]]);
    const free: Item[] = [];
    for (let opt = 0; opt < d.options.length; opt++) {
      if (opt === d.chosen || d.disabled.has(d.options[opt])) continue;
      const prefix = [...choices.slice(0, i), opt];
      if (d.preemptive) {
        preemptive.push({ prefix, sleep: new Map(), blocks: before });
        continue;
      }
      if (d.sleep.has(d.options[opt])) continue;
      // The options before this one are asleep in its subtree: their subtrees hold every reordering that starts with them.
      const sleep = new Map(d.sleep);
      for (const [tid, fp] of explored) sleep.set(tid, fp);
      free.push({ prefix, sleep, blocks: before });
    }
    for (let j = free.length - 1; j >= 0; j--) stack.push(free[j]);
  }
  for (let j = preemptive.length - 1; j >= 0; j--) next.push(preemptive[j]);
}

function record(outcomes: Map<string, Outcome>, r: TargetResult, id: string, preemptions: number): void {
  const verdict = r.pass ? 'pass' : `fail: ${[...new Set(r.problems.map((p) => p.kind))].join(', ')}`;
  const key = `${verdict}\n${r.outcome.join('\n')}`;
  const o = outcomes.get(key);
  if (o !== undefined) {
    o.count++;
    if (o.ids.length < MAX_IDS) o.ids.push(id);
    return;
  }
  outcomes.set(key, { key, lines: r.outcome, pass: r.pass, problems: r.problems, count: 1, id, preemptions, ids: [id] });
}
