// SPDX-License-Identifier: GPL-2.0-only
/*
 * --junit FILE: the run as JUnit XML, the shape GitHub Actions' and
 * GitLab's test reports read: one <testsuite> per fixture variant, one
 * <testcase> per case, <failure> with the harness's messages (the failed
 * assertion, a leak, an oops), <skipped> with the reason.
 */
import type { RunResult } from '../kselftest/harness.js';

const esc = (s: string): string =>
  s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' })[c]!)
    // XML 1.0 has no place for most control characters.
    .replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f]/g, '');

export function junitXml(suiteName: string, result: RunResult, properties: Record<string, string> = {}): string {
  const secs = (ms: number) => (ms / 1000).toFixed(3);
  const groups = new Map<string, RunResult['results']>();
  for (const r of result.results) {
    const parts = r.name.split('.');
    const key = parts.slice(0, -1).join('.');
    groups.set(key, [...(groups.get(key) ?? []), r]);
  }
  const total = (rs: RunResult['results']) => rs.reduce((a, r) => a + r.durationMs, 0);
  const lines = ['<?xml version="1.0" encoding="UTF-8"?>',
    `<testsuites name="${esc(suiteName)}" tests="${result.results.length}" failures="${result.fail}" errors="0" skipped="${result.skip}" time="${secs(total(result.results))}">`];
  for (const [suite, rs] of groups) {
    const fails = rs.filter((r) => r.status === 'fail').length, skips = rs.filter((r) => r.status === 'skip').length;
    lines.push(`  <testsuite name="${esc(suite)}" tests="${rs.length}" failures="${fails}" errors="0" skipped="${skips}" time="${secs(total(rs))}">`);
    const props = Object.entries(properties);
    if (props.length) {
      lines.push('    <properties>', ...props.map(([n, v]) => `      <property name="${esc(n)}" value="${esc(v)}"/>`), '    </properties>');
    }
    for (const r of rs) {
      const name = r.name.split('.').at(-1)!;
      const open = `    <testcase classname="${esc(suite)}" name="${esc(name)}" time="${secs(r.durationMs)}"`;
      if (r.status === 'pass') {
        lines.push(`${open}/>`);
      } else if (r.status === 'skip') {
        lines.push(`${open}>`, `      <skipped message="${esc(r.reason ?? '')}"/>`, '    </testcase>');
      } else {
        const first = r.messages[0] ?? 'failed';
        lines.push(`${open}>`, `      <failure message="${esc(first)}" type="${r.hang ? 'HungTask' : 'AssertionFailure'}">${esc(r.messages.join('\n'))}</failure>`, '    </testcase>');
      }
    }
    lines.push('  </testsuite>');
  }
  lines.push('</testsuites>', '');
  return lines.join('\n');
}
