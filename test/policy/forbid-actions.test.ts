/**
 * `forbid_actions:` (issue 26, item 3): per AWS role, the actions whose use with its credentials
 * is flagged; what a CloudTrail event's action is, and which entry it matches.
 */
import { describe, expect, it } from 'vitest';
import { actionOf, forbiddenMatch } from '../../exchanger/activity/forbidden.js';
import { loadPolicy } from '../../exchanger/policy/load/load-policy.js';
import { loadErrors } from '../support/policy-issues.js';

const HEAD = `version: 1
issuers:
  - { url: https://token.actions.githubusercontent.com, audience: jitkey }
roles:
`;
const aws = (forbid: string) => `  deploy:
    provider: aws
    aws: { role_arn: "arn:aws:iam::111122223333:role/deploy" }
    forbid_actions: ${forbid}
    allow:
      - { repository_id: "2" }
`;

describe('forbid_actions in the policy', () => {
  it('is kept on the compiled role as written', () => {
    const p = loadPolicy(HEAD + aws('[iam:CreateUser, s3:Delete*]'), 'p.yaml');
    expect(p.roles.get('deploy')?.forbidActions).toEqual(['iam:CreateUser', 's3:Delete*']);
  });

  it('refuses what is not service:Action, saying what to write', () => {
    expect(loadErrors(HEAD + aws('[CreateUser]'))).toContain(
      "p.yaml:8:22: roles.deploy.forbid_actions: 'CreateUser' is not an AWS action: write service:Action, e.g. iam:CreateUser or s3:Delete*",
    );
  });

  it('is for aws and kubernetes roles only, for now', () => {
    const github = `  web:
    provider: github
    github: { repositories: [acme/web], permissions: { contents: read } }
    forbid_actions: [contents:write]
    allow:
      - { repository_id: "2" }
`;
    expect(loadErrors(HEAD + github).join('\n')).toContain(
      'roles.web.forbid_actions: only aws and kubernetes roles can forbid actions yet (their activity is read from CloudTrail and the Kubernetes audit webhook)',
    );
  });
});

describe('matching an event', () => {
  const createUser = { source: 'iam.amazonaws.com', name: 'CreateUser' };
  it('names the action as IAM does', () => {
    expect(actionOf(createUser)).toBe('iam:CreateUser');
  });
  it.each([
    { forbid: ['iam:CreateUser'], want: 'iam:CreateUser' },
    { forbid: ['IAM:createuser'], want: 'IAM:createuser' },
    { forbid: ['iam:Create*'], want: 'iam:Create*' },
    { forbid: ['iam:*'], want: 'iam:*' },
    { forbid: ['iam:CreateUserX', 's3:CreateUser', 'iam:Delete*'], want: undefined },
  ])('$forbid → $want', ({ forbid, want }) => {
    expect(forbiddenMatch(forbid, createUser)).toBe(want);
  });
});
