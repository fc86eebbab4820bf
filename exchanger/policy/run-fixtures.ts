/**
 * Runs `jitkey test` cases against a compiled policy (pure) and renders the results as TAP 14 or
 * JUnit XML for CI. A case passes when the decision matches `expect`, and, when given, the
 * reason code and the guardrail that decided.
 */
import { evaluate } from './evaluate.js';
import type { TestCase } from './fixtures.js';
import type { Decision, Policy } from './types.js';

export interface CaseResult {
  case: TestCase;
  passed: boolean;
  /** Why it failed, in one line; undefined when it passed. */
  failure?: string;
  decision: Decision;
}

export function runCases(policy: Policy, cases: readonly TestCase[]): CaseResult[] {
  return cases.map((c) => {
    const role = policy.roles.get(c.role);
    if (!role) throw new Error(`internal: fixture role '${c.role}' was checked when the fixture was read`);
    const decision = evaluate(role, c.claims);
    const failure = mismatch(c, decision);
    return failure ? { case: c, passed: false, failure, decision } : { case: c, passed: true, decision };
  });
}

function mismatch(c: TestCase, d: Decision): string | undefined {
  const got = `${d.granted ? 'allow' : 'deny'} (${d.code}${d.guardrail ? ` '${d.guardrail}'` : ''})`;
  const want = `${c.expect}${c.reason ? ` (${c.reason}${c.guardrail ? ` '${c.guardrail}'` : ''})` : ''}`;
  const same =
    (c.expect === 'allow') === d.granted &&
    (c.reason === undefined || c.reason === d.code) &&
    (c.guardrail === undefined || c.guardrail === d.guardrail);
  return same ? undefined : `expected ${want}, got ${got}`;
}

function title(r: CaseResult): string {
  return `${r.case.file}: ${r.case.name}`;
}

/** TAP 14: a YAML diagnostic block under each failure (where, what, the decision's reason). */
export function tapReport(results: readonly CaseResult[]): string {
  const lines = ['TAP version 14', `1..${results.length}`];
  results.forEach((r, i) => {
    lines.push(`${r.passed ? 'ok' : 'not ok'} ${i + 1} - ${tapDescription(title(r))}`);
    if (!r.passed) {
      const p = r.case.position;
      lines.push(
        '  ---',
        `  message: ${JSON.stringify(r.failure)}`,
        `  at: ${JSON.stringify(`${r.case.file}:${p.line}:${p.col}`)}`,
        `  role: ${JSON.stringify(r.case.role)}`,
        `  reason: ${JSON.stringify(r.decision.reason)}`,
        '  ...',
      );
    }
  });
  const failed = results.filter((r) => !r.passed).length;
  lines.push(`# pass ${results.length - failed}`, `# fail ${failed}`);
  return `${lines.join('\n')}\n`;
}

/**
 * A test point's description as TAP 14 reads it: `\` escapes `\` and `#`, and an unescaped `#`
 * starts a directive. Escaping only `#` let a name with `\#` in it end in a real directive:
 * `C:\ci\# TODO` became `C:\ci\\# TODO`, an escaped backslash and then a TODO, which hides a
 * failure (TAP consumers do not count a failing TODO). One line: a newline ends the test point.
 */
export function tapDescription(text: string): string {
  return text
    .replace(/\\/g, '\\\\')
    .replace(/#/g, '\\#')
    .replace(/[\r\n]+/g, ' ');
}

/** JUnit XML as GitHub's and GitLab's test reporters read it: one testsuite per fixture file. */
export function junitReport(results: readonly CaseResult[]): string {
  const files = [...new Set(results.map((r) => r.case.file))];
  const failures = results.filter((r) => !r.passed).length;
  const out = [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<testsuites name="jitkey policy tests" tests="${results.length}" failures="${failures}">`,
  ];
  for (const file of files) {
    const mine = results.filter((r) => r.case.file === file);
    const failed = mine.filter((r) => !r.passed).length;
    out.push(`  <testsuite name="${xml(file)}" tests="${mine.length}" failures="${failed}">`);
    for (const r of mine) {
      const open = `    <testcase name="${xml(r.case.name)}" classname="${xml(file)}"`;
      if (r.passed) out.push(`${open}/>`);
      else {
        const p = r.case.position;
        const body = `${file}:${p.line}:${p.col}: role '${r.case.role}': ${r.decision.reason}`;
        out.push(
          `${open}>`,
          `      <failure message="${xml(r.failure ?? '')}">${xml(body)}</failure>`,
          '    </testcase>',
        );
      }
    }
    out.push('  </testsuite>');
  }
  out.push('</testsuites>');
  return `${out.join('\n')}\n`;
}

/** XML 1.0 text: the five entities, and characters XML cannot carry dropped to U+FFFD. */
function xml(text: string): string {
  return text
    .replace(/[^\t\n\r\u0020-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/gu, '\uFFFD')
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&apos;');
}
