import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { checkPolicy } from '../../exchanger/policy/lint/check.js';
import { lintPolicy } from '../../exchanger/policy/lint/lint.js';
import { parsePolicyText } from '../../exchanger/policy/validate/parse.js';
import { validatePolicy } from '../../exchanger/policy/validate/validate.js';

interface Case {
  name: string;
  policy: string;
  warnings: string[];
}
const cases = parse(
  readFileSync(new URL('../fixtures/policies/lint-cases.yaml', import.meta.url), 'utf8'),
) as Case[];

describe('lint warnings (via check)', () => {
  it.each(cases)('$name', ({ policy, warnings }) => {
    expect(checkPolicy(policy, 'policy.yaml')).toEqual({ ok: true, errors: [], warnings });
  });
});

describe('lintPolicy', () => {
  it('gives each warning a stable code', () => {
    const all = cases.map((c) =>
      lintPolicy(validatePolicy(parsePolicyText(c.policy, 'policy.yaml').parsed).doc),
    );
    expect([...new Set(all.flat().map((w) => w.code))].sort()).toEqual([
      'actor-login',
      'github-org-permission',
      'kubernetes-unapproved',
      'no-allow',
      'owner-glob',
      'pull-request-reachable',
      'repository-without-id',
      'workflow-name',
      'workflow-run-reachable',
      'write-unpinned',
    ]);
  });
});
