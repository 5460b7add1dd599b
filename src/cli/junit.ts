// SPDX-License-Identifier: GPL-2.0-only
/*
 * --junit FILE: the run as JUnit XML, in the shape the Jenkins xunit
 * plugin's schema (junit-10.xsd) allows and GitHub Actions' and GitLab's
 * test reports read: one <testsuite> per fixture variant, named with the
 * memory mode so a private and a coherent run's results stay apart, with
 * the run's identity as <properties>; one <testcase> per case; <failure>
 * with the kind of failure as its type (an ASSERT, a leak, a WARN, an
 * oops, ...) and the harness's messages; <skipped> with the reason. The
 * schema has no `skipped` on <testsuites>, so the totals there are tests,
 * failures and errors only.
 */
import type { CaseResult, FailureKind, RunResult } from '../kselftest/harness.js';
import type { RunInfo } from './run-info.js';
import { runProperties } from './report.js';

/** The failure types a JUnit reader sees, one per FailureKind. */
export const JUNIT_FAILURE_TYPE: Record<FailureKind, string> = {
  assertion: 'AssertionFailure',
  signal: 'FatalSignal',
  exception: 'Exception',
  oops: 'KernelOops',
  bug: 'KernelBUG',
  warn: 'KernelWARNING',
  hang: 'KernelHang',
  leak: 'MemoryLeak',
  timeout: 'Timeout',
};

const esc = (s: string): string =>
  s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' })[c]!)
    // XML 1.0 has no place for most control characters.
    .replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f\ufffe\uffff]/g, '');

/** The smoke run as JUnit: suites named by memory mode, the run's identity as each suite's <properties>. */
export function junitXml(info: RunInfo, result: RunResult, incomplete: string | null = null): string {
  return junitDocument(`hmm-tests ${info.mode}`, `hmm-tests.${info.mode}`, runProperties(info, incomplete), info.started, result);
}

/**
 * Any run as JUnit (smoke's, or `hmm-test run`'s scenarios): one
 * <testsuite> per group of case names (all but the last dot-separated
 * part), `suitePrefix` before the group, `properties` in each suite.
 */
export function junitDocument(name: string, suitePrefix: string, properties: Record<string, string>, started: string, result: RunResult): string {
  const secs = (ms: number) => (ms / 1000).toFixed(3);
  const groups = new Map<string, CaseResult[]>();
  for (const r of result.results) {
    const key = r.name.split('.').slice(0, -1).join('.');
    groups.set(key, [...(groups.get(key) ?? []), r]);
  }
  const total = (rs: CaseResult[]) => rs.reduce((a, r) => a + r.durationMs, 0);
  const props = Object.entries(properties)
    .map(([k, v]) => `      <property name="${esc(k)}" value="${esc(v)}"/>`);
  const lines = ['<?xml version="1.0" encoding="UTF-8"?>',
    `<testsuites name="${esc(name)}" tests="${result.results.length}" failures="${result.fail}" errors="0" time="${secs(total(result.results))}">`];
  for (const [group, rs] of groups) {
    const suite = group ? `${suitePrefix}.${group}` : suitePrefix;
    const fails = rs.filter((r) => r.status === 'fail').length, skips = rs.filter((r) => r.status === 'skip').length;
    lines.push(`  <testsuite name="${esc(suite)}" tests="${rs.length}" failures="${fails}" errors="0" skipped="${skips}" time="${secs(total(rs))}" timestamp="${esc(started)}">`,
      '    <properties>', ...props, '    </properties>');
    for (const r of rs) {
      const open = `    <testcase classname="${esc(suite)}" name="${esc(r.name.split('.').at(-1)!)}" time="${secs(r.durationMs)}"`;
      if (r.status === 'pass') {
        lines.push(`${open}/>`);
      } else if (r.status === 'skip') {
        lines.push(`${open}>`, `      <skipped message="${esc(r.reason ?? '')}"/>`, '    </testcase>');
      } else {
        const first = r.failures[0] ?? { kind: 'exception' as const, message: r.messages[0]?.replace(/^# /, '') ?? 'failed' };
        lines.push(`${open}>`,
          `      <failure message="${esc(first.message)}" type="${JUNIT_FAILURE_TYPE[first.kind]}">${esc(r.messages.join('\n'))}</failure>`,
          '    </testcase>');
      }
    }
    lines.push('  </testsuite>');
  }
  lines.push('</testsuites>', '');
  return lines.join('\n');
}
