// SPDX-License-Identifier: GPL-2.0-only
/*
 * The rules of the Jenkins xunit plugin's JUnit schema (junit-10.xsd, the
 * one GitLab and many readers follow), written out as a checker over
 * fast-xml-parser's tree: which elements may appear where, which
 * attributes each may carry and which it must, and the time format.
 * Returns the violations (empty: valid).
 */
import { XMLParser, XMLValidator } from 'fast-xml-parser';

interface Rule { attrs: string[]; required: string[]; children: string[]; text: boolean }

const RESULT: Rule = { attrs: ['type', 'message'], required: [], children: [], text: true };
const RERUN: Rule = { attrs: ['type', 'message'], required: ['type'], children: ['stackTrace', 'system-out', 'system-err'], text: true };
const TEXT_ONLY: Rule = { attrs: [], required: [], children: [], text: true };

const RULES: Record<string, Rule> = {
  testsuites: { attrs: ['name', 'time', 'tests', 'failures', 'errors'], required: [], children: ['testsuite'], text: false },
  testsuite: {
    attrs: ['name', 'tests', 'failures', 'errors', 'group', 'time', 'skipped', 'timestamp', 'hostname', 'id', 'package', 'file', 'log', 'url'],
    required: ['name', 'tests', 'failures', 'errors'],
    children: ['testsuite', 'properties', 'testcase', 'system-out', 'system-err'], text: false,
  },
  properties: { attrs: [], required: [], children: ['property'], text: false },
  property: { attrs: ['name', 'value'], required: ['name', 'value'], children: [], text: false },
  testcase: {
    attrs: ['name', 'time', 'classname', 'group'], required: ['name'],
    children: ['skipped', 'error', 'failure', 'rerunFailure', 'rerunError', 'flakyFailure', 'flakyError', 'system-out', 'system-err'], text: false,
  },
  failure: RESULT, error: RESULT, skipped: RESULT,
  rerunFailure: RERUN, rerunError: RERUN, flakyFailure: RERUN, flakyError: RERUN,
  'system-out': TEXT_ONLY, 'system-err': TEXT_ONLY, stackTrace: TEXT_ONLY,
};

/** SUREFIRE_TIME: digits with optional thousands commas and a fraction. */
const TIME = /^(?:(?:[0-9]{0,3},)*[0-9]{3}|[0-9]{0,3})*(?:\.[0-9]*)?$/;

type Node = Record<string, unknown>;

export function junitSchemaErrors(xml: string): string[] {
  const wellFormed = XMLValidator.validate(xml);
  if (wellFormed !== true) return [`not well-formed: ${JSON.stringify(wellFormed)}`];
  const doc = new XMLParser({ ignoreAttributes: false, attributeNamePrefix: '@', preserveOrder: true, trimValues: false }).parse(xml) as Node[];
  const errors: string[] = [];
  const roots = doc.filter((n) => !('?xml' in n) && !('#text' in n && String(n['#text']).trim() === ''));
  if (roots.length !== 1 || !('testsuites' in roots[0] || 'testsuite' in roots[0])) errors.push('the root must be one <testsuites> or <testsuite>');
  const walk = (node: Node, path: string) => {
    const name = Object.keys(node).find((k) => k !== ':@')!;
    if (name === '#text') return;
    const rule = RULES[name];
    const at = `${path}/${name}`;
    if (!rule) return void errors.push(`${at}: no such element in the schema`);
    const attrs = Object.keys((node[':@'] as Node | undefined) ?? {}).map((a) => a.slice(1));
    for (const a of attrs) if (!rule.attrs.includes(a)) errors.push(`${at}: attribute ${a} is not allowed`);
    for (const a of rule.required) if (!attrs.includes(a)) errors.push(`${at}: attribute ${a} is required`);
    const time = (node[':@'] as Node | undefined)?.['@time'];
    if (time !== undefined && (name === 'testsuite' || name === 'testsuites') && !TIME.test(String(time))) errors.push(`${at}: time "${time}" is not a SUREFIRE_TIME`);
    for (const child of (node[name] as Node[]) ?? []) {
      const cname = Object.keys(child).find((k) => k !== ':@')!;
      if (cname === '#text') {
        if (!rule.text && String(child['#text']).trim() !== '') errors.push(`${at}: text is not allowed here`);
        continue;
      }
      if (!rule.children.includes(cname)) errors.push(`${at}: <${cname}> is not allowed here`);
      walk(child, at);
    }
  };
  for (const r of roots) walk(r, '');
  return errors;
}
