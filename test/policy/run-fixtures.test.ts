/**
 * `jitkey test`'s TAP 14 output: a case's name can never become a directive. TAP 14 escapes `#`
 * and `\` in a description with `\`; a consumer reads `# TODO` / `# SKIP` after an unescaped `#`
 * as a directive and does not count a failing TODO.
 */
import { describe, expect, it } from 'vitest';
import type { TestCase } from '../../exchanger/policy/fixtures/fixtures.js';
import { runCases, tapDescription, tapReport } from '../../exchanger/policy/fixtures/run-fixtures.js';
import { loadPolicy } from '../../exchanger/policy/load/load-policy.js';

const policy = loadPolicy(
  `version: 1
issuers:
  - { url: "https://token.actions.githubusercontent.com", audience: jitkey }
roles:
  deploy:
    provider: aws
    aws: { role_arn: "arn:aws:iam::111122223333:role/deploy" }
    allow:
      - { repository: acme/app, ref: refs/heads/main }
`,
  'policy.yaml',
);

const failing = (name: string): TestCase => ({
  file: 'ci.test.yaml',
  name,
  role: 'deploy',
  claims: { repository: 'acme/app', ref: 'refs/heads/dev' },
  expect: 'allow',
  position: { line: 3, col: 5 },
});

/** The directive a TAP 14 consumer finds in a test point line, if any (the spec's grammar). */
function directiveOf(line: string): string | undefined {
  // Description up to the first `#` not escaped by `\` (an escaped `\` escapes nothing after it).
  const m = /^(?:not )?ok \d+ - (?:[^\\#]|\\.)*#\s*(TODO|SKIP)\b/i.exec(line);
  return m?.[1]?.toUpperCase();
}

describe('tapReport', () => {
  it.each([
    'C:\\ci\\# TODO',
    'C:\\ci\\#TODO',
    'ends in a backslash \\',
    'trailing \\\\# SKIP',
    'plain # TODO',
  ])('a failing case named %j stays a failure, not a directive', (name) => {
    const report = tapReport(runCases(policy, [failing(name)]));
    const point = report.split('\n').find((l) => l.startsWith('not ok 1 - '));
    expect(point).toBeDefined();
    expect(directiveOf(point!)).toBeUndefined();
    expect(report).toContain('# fail 1');
  });

  it('escapes backslash before hash, so the description reads back as the name', () => {
    expect(tapDescription('C:\\ci\\# TODO')).toBe('C:\\\\ci\\\\\\# TODO');
    // Unescaping as TAP 14 does gives the name back.
    const back = tapDescription('a\\b#c\\#d').replace(/\\(.)/g, '$1');
    expect(back).toBe('a\\b#c\\#d');
    expect(tapDescription('two\nlines')).toBe('two lines');
  });
});
