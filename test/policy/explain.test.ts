import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { isJitkeyError } from '../../exchanger/errors.js';
import { explain, explainDecision } from '../../exchanger/policy/evaluate/explain.js';
import { loadPolicy } from '../../exchanger/policy/load/load-policy.js';

const policy = loadPolicy(
  readFileSync(new URL('../fixtures/policies/spec-example.yaml', import.meta.url), 'utf8'),
  'spec.yaml',
);

describe('explain', () => {
  it.each([
    {
      name: 'a denial, per rule and per condition',
      role: 'deploy-web-prod',
      claims: {
        repository: 'ACME/web',
        repository_id: '123456',
        repository_owner_id: 7890,
        ref: 'refs/heads/dev',
        event_name: 'push',
      },
      want: [
        "role 'deploy-web-prod' (aws) at spec.yaml:8:3",
        'allow[0] at spec.yaml:18:9: did not hold',
        "  repository: held (token has 'ACME/web')",
        "  repository_id: held (token has '123456')",
        '  repository_owner_id: failed (not a string: the token has number)',
        "  ref: failed (token has 'refs/heads/dev')",
        '  environment: failed (missing from the token)',
        "  event_name: held (token has 'push')",
        'deny[0] at spec.yaml:25:9: did not hold',
        "  event_name: failed (token has 'push')",
        'decision: DENIED',
        "reason: role 'deploy-web-prod' denied: no allow rule held — allow[0]: repository_owner_id was not a string (number); ref was 'refs/heads/dev'; environment was missing",
      ],
    },
    {
      name: 'a deny rule that holds',
      role: 'deploy-web-prod',
      claims: {
        repository: 'acme/web',
        repository_id: '123456',
        repository_owner_id: '7890',
        ref: 'refs/heads/main',
        environment: 'production',
        event_name: 'pull_request_target',
      },
      want: [
        "role 'deploy-web-prod' (aws) at spec.yaml:8:3",
        'allow[0] at spec.yaml:18:9: did not hold',
        "  repository: held (token has 'acme/web')",
        "  repository_id: held (token has '123456')",
        "  repository_owner_id: held (token has '7890')",
        "  ref: held (token has 'refs/heads/main')",
        "  environment: held (token has 'production')",
        "  event_name: failed (token has 'pull_request_target')",
        'deny[0] at spec.yaml:25:9: held (the role is denied)',
        "  event_name: held (token has 'pull_request_target')",
        'decision: DENIED',
        "reason: role 'deploy-web-prod' denied: deny[0] held: event_name was 'pull_request_target'",
      ],
    },
    {
      name: 'a grant',
      role: 'bump-deps',
      claims: {
        repository_owner_id: '7890',
        job_workflow_ref: 'acme/workflows/.github/workflows/bump.yml@refs/heads/main',
      },
      want: [
        "role 'bump-deps' (github) at spec.yaml:32:3",
        'allow[0] at spec.yaml:36:9: held',
        "  repository_owner_id: held (token has '7890')",
        "  job_workflow_ref: held (token has 'acme/workflows/.github/workflows/bump.yml@refs/heads/main')",
        'deny: none',
        'decision: GRANTED',
        "reason: role 'bump-deps' granted: allow[0] held",
      ],
    },
  ])('$name', ({ role, claims, want }) => {
    expect(explain(policy, role, claims).split('\n')).toEqual(want);
  });

  it('gives the structured decision for --json', () => {
    const d = explainDecision(policy, 'read-artifacts', { repository: 'acme/site', ref: 'refs/tags/v2' });
    expect(d).toEqual({
      role: 'read-artifacts',
      granted: true,
      code: 'granted',
      allow: [
        {
          kind: 'allow',
          index: 0,
          held: true,
          conditions: [
            { claim: 'repository', held: true, reason: 'held', actual: 'acme/site' },
            { claim: 'ref', held: true, reason: 'held', actual: 'refs/tags/v2' },
          ],
        },
      ],
      deny: [],
      reason: "role 'read-artifacts' granted: allow[0] held",
    });
  });

  it('names the nearest role when the role is unknown', () => {
    let error: unknown;
    try {
      explain(policy, 'deploy-web-pord', {});
    } catch (e) {
      error = e;
    }
    expect(isJitkeyError(error) && [error.code, error.message]).toEqual([
      'invalid_request',
      "no role 'deploy-web-pord' in the policy; did you mean 'deploy-web-prod'?",
    ]);
  });
});
