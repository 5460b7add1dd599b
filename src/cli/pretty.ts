// SPDX-License-Identifier: GPL-2.0-only
/*
 * --format pretty (the default on a terminal): one coloured line per case
 * with its duration, the failing assertion under it, and a summary. The
 * only place that prints with colour; chalk turns colour off by itself for
 * NO_COLOR or a dumb terminal.
 */
import chalk from 'chalk';
import type { CaseResult, RunResult } from '../kselftest/harness.js';

export function prettyCase(r: CaseResult): string[] {
  const ms = chalk.dim(`(${r.durationMs.toFixed(0)} ms)`);
  if (r.status === 'pass') return [`${chalk.green('✓')} ${r.name} ${ms}`];
  if (r.status === 'skip') return [`${chalk.yellow('-')} ${r.name} ${chalk.yellow(`skipped: ${r.reason ?? ''}`)}`];
  return [`${chalk.red('✗')} ${r.name} ${r.hang ? `${chalk.red('HANG')} ` : ''}${ms}`, ...r.messages.map((m) => `    ${chalk.red(m.replace(/^# /, ''))}`)];
}

export function prettySummary(r: RunResult): string {
  const parts = [chalk.green(`${r.pass} passed`), r.fail ? chalk.red(`${r.fail} failed`) : `${r.fail} failed`];
  if (r.skip) parts.push(chalk.yellow(`${r.skip} skipped`));
  return `${parts.join(', ')}`;
}
