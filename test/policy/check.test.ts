import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { checkPolicy } from '../../exchanger/policy/lint/check.js';

const read = (path: string) => readFileSync(new URL(path, import.meta.url), 'utf8');

describe('checkPolicy', () => {
  it.each([
    {
      name: 'the shipped example is valid and clean',
      file: 'examples/policy.yaml',
      text: read('../../examples/policy.yaml'),
      want: { ok: true, errors: [], warnings: [] },
    },
    {
      name: "reference.md §2's example is valid, with warnings",
      file: 'spec.yaml',
      text: read('../fixtures/policies/spec-example.yaml'),
      want: {
        ok: true,
        errors: [],
        warnings: [
          "spec.yaml:30:9: warning: roles.read-artifacts.allow[0] names repository without repository_id: a renamed or deleted repository's name can be taken by another; add repository_owner_id (immutable) as well",
          "spec.yaml:30:9: warning: role 'read-artifacts' (privileged) is reachable from pull request events: allow[0] does not pin event_name and no deny rule refuses pull_request, pull_request_target, pull_request_review, pull_request_review_comment; pin event_name or deny those events",
          "spec.yaml:30:9: warning: role 'read-artifacts' (privileged) is reachable from workflow_run: allow[0] does not pin event_name and no deny rule refuses workflow_run; pin event_name or deny those events",
          "spec.yaml:36:9: warning: role 'bump-deps' (privileged) is reachable from pull request events: allow[0] does not pin event_name and no deny rule refuses pull_request, pull_request_target, pull_request_review, pull_request_review_comment; pin event_name or deny those events",
          "spec.yaml:36:9: warning: role 'bump-deps' (privileged) is reachable from workflow_run: allow[0] does not pin event_name and no deny rule refuses workflow_run; pin event_name or deny those events",
        ],
      },
    },
    {
      name: 'a YAML syntax error stops there',
      file: 'bad.yaml',
      text: 'version: 1\nroles: [\n',
      want: {
        ok: false,
        errors: [
          'bad.yaml:3:1: error: Flow sequence in block collection must be sufficiently indented and end with a ]',
        ],
        warnings: [],
      },
    },
    {
      name: 'errors and warnings together, each in file order',
      file: 'p.yaml',
      text: [
        'version: 1',
        'issuers: [ { url: https://token.actions.githubusercontent.com, audience: jitkey } ]',
        'roles:',
        '  r:',
        '    provider: aws',
        '    aws: { role_arn: "arn:aws:iam::111122223333:role/r" }',
        '    allow:',
        '      - { repository: acme/web, actor: octocat, event_name: push }',
        '      - { ref: refs/heads/main }',
        '',
      ].join('\n'),
      want: {
        ok: false,
        errors: [
          'p.yaml:9:9: error: roles.r.allow[1] must pin who may use it: add repository_id or repository_owner_id (or repository / repository_owner); a rule on ref or job_workflow_ref alone would admit any repository on GitHub',
        ],
        warnings: [
          "p.yaml:8:9: warning: role 'r' (privileged) allow[0] pins no ref: any branch can use it; add ref (e.g. refs/heads/main) or require_protected_environment: true",
          "p.yaml:8:11: warning: roles.r.allow[0] names repository without repository_id: a renamed or deleted repository's name can be taken by another; add repository_id (immutable) as well",
          'p.yaml:8:33: warning: roles.r.allow[0].actor matches a login, which can be renamed and re-registered: use actor_id',
          "p.yaml:9:9: warning: role 'r' (privileged) is reachable from pull request events: allow[1] does not pin event_name and no deny rule refuses pull_request, pull_request_target, pull_request_review, pull_request_review_comment; pin event_name or deny those events",
          "p.yaml:9:9: warning: role 'r' (privileged) is reachable from workflow_run: allow[1] does not pin event_name and no deny rule refuses workflow_run; pin event_name or deny those events",
        ],
      },
    },
  ])('$name', ({ file, text, want }) => {
    expect(checkPolicy(text, file)).toEqual(want);
  });
});
