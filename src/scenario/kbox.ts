// SPDX-License-Identifier: GPL-2.0-only
/*
 * The serial consoles of scripts/kbox's boots of a real kernel, turned into
 * one observation log per program in the format `hmm-test diff` reads.
 *
 * The box's /init (scripts/kbox.d/init) runs each program with its stdout
 * on /dev/kmsg and then dumps the program's log records with `dmesg -r`:
 * "<prio>[time] text", where facility 1 (prio 8..15) is what the program
 * wrote and facility 0 what the kernel printed. Both kinds are records in
 * one ring buffer, so their order is the order they happened in: a kernel
 * report comes after the observation line of the last action that
 * completed, i.e. right where the action that caused it would have printed
 * its own line. When the guest died before the dump (a panic, a lockup of
 * every CPU), the live console lines are used instead, and a line is the
 * program's when it has the shape of an observation line.
 *
 * A report (oops, BUG, WARN, soft lockup, hung task, panic) becomes one
 * `REPORT <kind> <function>: <first line>` line, named by the RIP (the
 * WARNING line for a WARN), labelled with the scenario process the report's
 * PID belongs to (the program's "# pid" lines), its full text following as
 * "# |" comment lines, which diff leaves out.
 */

/** How a program's run ended in the box. */
export type KboxEnd =
  | { kind: 'exited'; rc: number }
  | { kind: 'timeout'; rc: number | null }
  | { kind: 'wedged'; afterOops: boolean }
  | { kind: 'died' }
  | { kind: 'not-run' };

export interface KboxProgram {
  index: number;
  name: string;
  end: KboxEnd;
  /** The diff-ready log. */
  log: string[];
  /** The console lines of its run, as they came. */
  console: string[];
  /** The kernel reports, in order. */
  reports: KboxReport[];
}

export interface KboxReport {
  kind: string;
  where: string;
  label: string;
  header: string;
  body: string[];
}

/** init's markers (scripts/kbox.d/init); a marker may share its console line with the kernel's output. */
const MARK = /=== KBOX (BEGIN|TIMEOUT|STUCK|WEDGED-END|WEDGED|DMESG|END|REBOOT|DONE|BOOT)(?![\w-]) ?(.*)$/;
/** The observation lines a program prints (src/scenario/README.md), for the live-console fallback. */
const OBSERVATION = /^(?:[\w-]+: )?(?:# |TRACE |DATA |MMAP |MUNMAP |MPROTECT |MADVISE |OPEN |CLOSE |KILL |STORE |FORK |THREAD |JOIN |SLEEP |EXIT |SIGNAL |END$)/;

/** The first line of each kind of report, and its kind. */
const HEADERS: [RegExp, string][] = [
  [/^BUG: (?:unable to handle|kernel NULL pointer dereference)/, 'oops'],
  [/^(?:general protection fault|stack segment|Oops: )/, 'oops'],
  [/^kernel BUG at /, 'bug'],
  [/^WARNING: CPU: \d+ PID: \d+ at /, 'warn'],
  [/^watchdog: BUG: soft lockup/, 'lockup'],
  [/^INFO: task \S+ blocked for more than/, 'hang'],
  [/^INFO: rcu_\w+ (?:self-)?detected stall/, 'stall'],
  [/^Kernel panic - not syncing/, 'panic'],
  [/^BUG: /, 'bug'],
];
/** Frames of a blocked task's stack that say only that it sleeps. */
const SLEEPING = /^(?:__schedule|schedule\w*|io_schedule\w*|__mutex_lock\w*|mutex_lock\w*|rwsem_down\w*|down_\w+|__down\w*|wait_for_\w+|__wait\w*|\w*_wait_\w*|rt_mutex\w*|__rt_mutex\w*)$/;

/** A function as the source names it: without the compiler's clone suffixes (.constprop.0, .isra.0, .part.0, .cold). */
const fnName = (f: string): string => f.replace(/\.(?:constprop|isra|part|cold|llvm)\b.*$/, '');

function reportKind(text: string): string | null {
  for (const [re, kind] of HEADERS) if (re.test(text)) return kind;
  return null;
}

/** Where a report happened, as the real kernel names it: the RIP, the WARNING line's function, or a blocked task's first non-sleeping frame. */
function reportWhere(kind: string, header: string, body: string[]): string {
  if (kind === 'warn') {
    const m = /^WARNING: CPU: \d+ PID: \d+ at \S+ ([\w.]+)\+0x/.exec(header);
    if (m) return fnName(m[1]);
  }
  if (kind === 'hang') {
    for (const l of body) {
      // A frame printed with "? " is a stale address the unwinder found on the stack, not a caller.
      const m = /^\s+([\w.]+)\+0x[0-9a-f]+\/0x[0-9a-f]+/.exec(l);
      if (m && !SLEEPING.test(fnName(m[1]))) return fnName(m[1]);
    }
  }
  for (const l of body) {
    const m = /^RIP: \d+:([\w.]+)\+0x/.exec(l);
    if (m) return fnName(m[1]);
  }
  return '?';
}

function reportPid(header: string, body: string[]): number | null {
  const t = /^INFO: task \S+:(\d+) blocked/.exec(header) ?? /\[\S+:(\d+)\]$/.exec(header);
  if (t) return Number(t[1]);
  for (const l of [header, ...body]) {
    const m = /\bPID: (\d+)/.exec(l);
    if (m) return Number(m[1]);
  }
  return null;
}

/** One record or console line: the program's, or the kernel's. */
interface Line {
  user: boolean;
  text: string;
}

/** `dmesg -r` lines: "<prio>[ time] text"; a line without the prefix continues the record before it. */
export function parseDmesgRaw(lines: string[]): Line[] {
  const out: Line[] = [];
  for (const l of lines) {
    const m = /^<(\d+)>\[\s*[\d.]+\] ?(.*)$/.exec(l);
    if (m && MARK.test(m[2])) continue;
    if (m) out.push({ user: Number(m[1]) >> 3 === 1, text: m[2] });
    else if (out.length) out.push({ user: out.at(-1)!.user, text: l });
  }
  return out;
}

/** Live console lines "[ time] text" (the fallback): the program's lines told by their shape. */
function parseLive(lines: string[]): Line[] {
  const out: Line[] = [];
  for (const l of lines) {
    const m = /^\[\s*[\d.]+\] ?(.*)$/.exec(l);
    if (!m || MARK.test(l)) continue;
    out.push({ user: OBSERVATION.test(m[1]), text: m[1] });
  }
  return out;
}

/** Program lines with the kernel's reports placed among them. */
export function mergeReports(lines: Line[]): { log: string[]; reports: KboxReport[] } {
  const log: string[] = [];
  const reports: KboxReport[] = [];
  const labels = new Map<number, string>();
  let cur: KboxReport | null = null;
  let at = 0;
  /** Tasks already reported hung, by pid. */
  const hung = new Set<number>();
  const finish = (): void => {
    if (!cur) return;
    const r = cur;
    cur = null;
    r.where = reportWhere(r.kind, r.header, r.body);
    const pid = reportPid(r.header, r.body);
    r.label = pid !== null ? labels.get(pid) ?? '' : '';
    if (r.kind === 'hang' && pid !== null) {
      // khungtaskd reports a task that stays blocked again at each check (up to hung_task_warnings): one hang, one observation.
      if (hung.has(pid)) {
        log.splice(at, 0, `# kbox: again: ${r.header}`);
        return;
      }
      hung.add(pid);
    }
    reports.push(r);
    log.splice(at, 0, `${r.label}REPORT ${r.kind} ${r.where}: ${r.header}`, ...[r.header, ...r.body].map((b) => `# | ${b}`));
  };
  for (const { user, text } of lines) {
    if (user) {
      finish();
      const p = /^# pid (\d+)(?: (\S+))?$/.exec(text);
      if (p) labels.set(Number(p[1]), p[2] ? `${p[2]}: ` : '');
      log.push(text);
      continue;
    }
    const kind = reportKind(text);
    // An oops's "Oops:" line and a WARN's "BUG:"-less body belong to the report they are in.
    if (kind !== null && !(cur && (kind === 'oops' && /^Oops: /.test(text)))) {
      finish();
      at = log.length;
      cur = { kind, where: '', label: '', header: text, body: [] };
      continue;
    }
    if (cur) {
      cur.body.push(text);
      if (/^---\[ end trace/.test(text) || (/^\s*<\/TASK>$/.test(text) && (cur.kind === 'hang' || cur.kind === 'lockup'))) finish();
    } else {
      log.push(`# kernel: ${text}`);
    }
  }
  finish();
  return { log, reports };
}

interface Window {
  index: number;
  name: string;
  console: string[];
  dmesg: string[] | null;
  rc: number | null;
  timeout: boolean;
  stuck: boolean;
  wedged: boolean;
}

/** The programs' windows in one boot's console. */
function windows(text: string): Window[] {
  const out: Window[] = [];
  let w: Window | null = null;
  let inDmesg = false;
  for (const raw of text.replace(/\r/g, '').split('\n')) {
    // Inside a dump every record line is the dump's, whatever it says.
    if (inDmesg && raw.startsWith('<')) { w!.dmesg!.push(raw); continue; }
    const m = MARK.exec(raw);
    if (m) {
      const [, what, rest] = m;
      const idx = Number(/^\d+/.exec(rest)?.[0] ?? NaN);
      if (what === 'BEGIN') {
        w = { index: idx, name: rest.split(' ').slice(1).join(' '), console: [], dmesg: null, rc: null, timeout: false, stuck: false, wedged: false };
        out.push(w);
        inDmesg = false;
        continue;
      }
      if (what === 'DONE' || what === 'BOOT') { w = null; inDmesg = false; continue; }
      // A marker cut by the kernel's output has lost its index: it is the current program's.
      if (!w || (!Number.isNaN(idx) && idx !== w.index)) continue;
      if (what === 'DMESG') { w.dmesg = []; inDmesg = true; continue; }
      inDmesg = false;
      if (what === 'END') w.rc = Number(/rc=(\d+)/.exec(rest)?.[1] ?? NaN);
      if (what === 'TIMEOUT') w.timeout = true;
      if (what === 'WEDGED') w.wedged = true;
      if (what === 'STUCK') w.stuck = true;
      continue;
    }
    if (!w) continue;
    if (inDmesg) w.dmesg!.push(raw);
    else w.console.push(raw);
  }
  return out;
}

/**
 * The programs of a kbox run from its boots' consoles (in boot order): each
 * program's last window wins (a program is run again only when an earlier
 * boot never reached it).
 */
export function collect(consoles: string[], names: string[], header: string[] = []): KboxProgram[] {
  const byIndex = new Map<number, Window>();
  for (const c of consoles) for (const w of windows(c)) byIndex.set(w.index, w);
  return names.map((name, index) => {
    const w = byIndex.get(index);
    if (!w) return { index, name, end: { kind: 'not-run' }, log: [...header, '# kbox: not run (the box never reached it)'], console: [], reports: [] };
    const end: KboxEnd = w.wedged ? { kind: 'wedged', afterOops: w.stuck }
      : w.timeout ? { kind: 'timeout', rc: w.rc }
        : w.rc !== null ? { kind: 'exited', rc: w.rc } : { kind: 'died' };
    const lines = w.dmesg !== null && w.dmesg.length ? parseDmesgRaw(w.dmesg) : parseLive(w.console);
    const { log, reports } = mergeReports(lines);
    return { index, name, end, log: [...header, `# kbox: ${endText(end)}`, ...log], console: w.console, reports };
  });
}

export function endText(e: KboxEnd): string {
  switch (e.kind) {
    case 'exited': return e.rc > 128 ? `the program was killed by signal ${e.rc - 128}` : `the program exited ${e.rc}`;
    case 'timeout': return 'the program outlived the timeout and was killed';
    case 'wedged': return e.afterOops ? 'WEDGED: the kernel died in the program and left it stuck, unkillable; the box was rebooted'
      : 'WEDGED: the program outlived the timeout and could not be killed; the box was rebooted';
    case 'died': return 'WEDGED: the guest died while the program ran (panic or lockup); the box was rebooted';
    case 'not-run': return 'not run';
  }
}
