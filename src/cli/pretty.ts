// SPDX-License-Identifier: GPL-2.0-only
/*
 * --format pretty (the default on a terminal): one line per case with its
 * duration and, for a failure, its kinds and messages under it; a line
 * that says which case runs now (on a terminal); and a summary that lists
 * the failed cases with the command that reruns each. Colour comes from
 * the caller's chalk instance (output.ts decides it).
 */
import type { ChalkInstance } from 'chalk';
import type { CaseResult, FailureKind, RunResult } from '../kselftest/harness.js';

/** What a reader calls each kind of failure. */
export const FAILURE_LABEL: Record<FailureKind, string> = {
  assertion: 'assertion', signal: 'signal', exception: 'exception', oops: 'kernel oops', bug: 'kernel BUG',
  warn: 'kernel WARNING', hang: 'kernel hang', leak: 'leak', timeout: 'timeout',
};

export function failureKinds(r: CaseResult): string {
  return [...new Set(r.failures.map((f) => FAILURE_LABEL[f.kind]))].join(', ');
}

export function prettyCase(r: CaseResult, c: ChalkInstance): string[] {
  const ms = c.dim(`(${r.durationMs.toFixed(0)} ms)`);
  if (r.status === 'pass') return [`${c.green('✓')} ${r.name} ${ms}`];
  if (r.status === 'skip') return [`${c.yellow('-')} ${r.name} ${c.yellow(`skipped: ${r.reason ?? ''}`)}`];
  const kinds = failureKinds(r);
  const lines = r.messages.filter((m) => !/: Test (failed|terminated)/.test(m)).map((m) => `    ${c.red(m.replace(/^# ?/, ''))}`);
  return [`${c.red('✗')} ${r.name} ${ms}${kinds ? ` ${c.red(`[${kinds}]`)}` : ''}`, ...lines];
}

/** "running hmm.x.y (3/60)": overwritten by the case's line when it ends. */
export function runningLine(name: string, index: number, planned: number, c: ChalkInstance): string {
  return `${c.cyan('…')} ${name} ${c.dim(`(${index + 1}/${planned})`)}`;
}

export function prettySummary(r: RunResult, c: ChalkInstance, rerun: (name: string) => string, incomplete: string | null = null): string[] {
  const parts = [c.green(`${r.pass} passed`), r.fail ? c.red(`${r.fail} failed`) : `${r.fail} failed`];
  if (r.skip) parts.push(c.yellow(`${r.skip} skipped`));
  const notRun = r.planned - r.results.length;
  if (notRun > 0) parts.push(c.yellow(`${notRun} not run`));
  const lines: string[] = [];
  const failed = r.results.filter((x) => x.status === 'fail');
  if (failed.length) {
    lines.push('', c.red.bold('Failed:'));
    for (const f of failed) lines.push(`  ${c.red('✗')} ${f.name}${f.failures.length ? ` [${failureKinds(f)}]` : ''}`, `      ${c.dim('rerun:')} ${rerun(f.name)}`);
    lines.push('');
  }
  if (incomplete) lines.push(c.yellow(`incomplete: ${incomplete}`));
  lines.push(parts.join(', '));
  return lines;
}
