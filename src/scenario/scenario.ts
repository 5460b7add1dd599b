// SPDX-License-Identifier: GPL-2.0-only
/*
 * A scenario as the parser hands it to the interpreter: one process's
 * actions in order, each with where it was written and what it expects.
 * Everything here is already checked (names resolve, ranges fit their
 * buffer, an expectation is one the action can have), so the interpreter
 * never meets a bad file.
 */
import type { MachineConfig } from '../kernel-model/machine.js';
import type { TestHmmParams } from '../dmirror/test_hmm.js';

/** Where something was written: file:line:column (1-based). */
export interface Pos {
  file: string;
  line: number;
  col: number;
}
export const fmtPos = (p: Pos): string => `${p.file}:${p.line}:${p.col}`;

/** A bad scenario file: one line, file:line:column, what was found, what was expected. */
export class ScenarioError extends Error {
  override name = 'ScenarioError';
  constructor(readonly pos: Pos, what: string) {
    super(`${fmtPos(pos)}: ${what}`);
  }
}


export interface ScenarioConfig {
  /** Where the config block is (the whole file when there is none). */
  pos: Pos;
  /** A kernel profile (kernel-model/changes.ts) and the patches on top of it, in order. */
  kernel: string;
  patches: string[];
  machine: MachineConfig;
  params: TestHmmParams;
  seed: number | undefined;
  /**
   * A schedule pinned by `schedule: ID` (an ID `hmm-test explore` printed for
   * this file): `run` replays it through the explorer instead of the time
   * scheduler (src/explore/explore.ts: PinnedSchedule).
   */
  schedule?: { id: string; choices: number[] };
}

/** Pages [first, first + count) of a named buffer. */
export interface PageRange {
  buf: string;
  first: number;
  count: number;
}

/**
 * What a store writes and a check expects, int by int: f(o) for the int at
 * offset o (in ints) from the start of the buffer, so a pattern means the
 * same bytes whichever range it is written or read through.
 */
export interface Pattern {
  text: string;
  at(o: number): number;
}

/** Kinds of kernel report an expectation can name; a new kind is one entry here and one in run.ts's classifier. */
export const REPORT_KINDS = ['oops', 'bug', 'warn', 'hang'] as const;
export type ReportKind = (typeof REPORT_KINDS)[number];

export interface ReportExpect {
  kind: ReportKind;
  /** The kernel function the report names (dmirror_do_read), or any. */
  where: string | null;
}

export interface Expect {
  pos: Pos;
  /** 0 or -errno. */
  ret?: number;
  cpages?: number;
  faults?: number;
  /** One HMM_DMIRROR_PROT_* byte per page. */
  snapshot?: number[];
  data?: Pattern;
  zone_device_type?: number;
  /** A fatal signal the action (or a child) gets: SIGSEGV, SIGBUS, ... */
  signal?: number;
  /** A child's exit code. */
  exit?: number;
  report?: ReportExpect;
}

export type BufferType = 'anon' | 'file' | 'thp' | 'hugetlb' | 'dmirror';

interface StepBase {
  pos: Pos;
  /** The action's key as written (mmap, READ, fork, ...). */
  op: string;
  expect: Expect | null;
}

export type Step = StepBase & (
  | { kind: 'mmap'; name: string; pages: number; type: BufferType; shared: boolean; prot: number; device: string | null }
  | { kind: 'munmap'; range: PageRange }
  | { kind: 'mprotect'; range: PageRange; prot: number }
  /** mremap(range, new length, flags, page `to.first` of buffer `to.buf`); the result is buffer `name`, `pages` long. */
  | { kind: 'mremap'; range: PageRange; pages: number; flags: number; flagNames: string; to: PageRange | null; name: string }
  | { kind: 'madvise'; range: PageRange; advice: number; adviceName: string }
  | { kind: 'store'; range: PageRange; pattern: Pattern }
  | { kind: 'load'; range: PageRange }
  | { kind: 'open'; device: number; name: string }
  | { kind: 'close'; name: string }
  /** A device command: `request` is the ioctl number as sent. */
  | { kind: 'cmd'; request: number; dev: string; range: PageRange | null; data: Pattern | null; allocToDevmem: number | null }
  | { kind: 'fork'; name: string; steps: Step[]; wait: boolean }
  | { kind: 'wait'; child: string }
  | { kind: 'kill'; child: string; signal: number }
  | { kind: 'exit'; code: number }
  | { kind: 'thread'; name: string; steps: Step[] }
  | { kind: 'join'; thread: string }
  | { kind: 'sleep'; ns: number; random: boolean }
);

export interface Scenario {
  file: string;
  name: string;
  config: ScenarioConfig;
  steps: Step[];
}
