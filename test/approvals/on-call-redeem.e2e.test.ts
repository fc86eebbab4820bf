/**
 * On-call auto-approval end to end (`jitkey serve` as a process, the GitHub and PagerDuty
 * stand-ins): the job of someone on call is approved at once, and the job then redeems that
 * approval for credentials, though its actor is none of the role's approvers and whatever the
 * role requires of people.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '../support/eventually.js';
import { type GithubStandin, githubAppEnv, startGithubStandin } from '../support/github-standin.js';
import { type PagerDutyStandin, startPagerDutyStandin } from '../support/pagerduty-standin.js';
import { policyFor, ROLE_ARN, type Stack, startStack } from '../support/stack.js';

let gh: GithubStandin;
let pd: PagerDutyStandin;
let stack: Stack;

beforeAll(async () => {
  gh = await startGithubStandin({
    installations: [
      { owner: 'acme', permissions: { members: 'read', actions: 'read' }, repositories: ['web'] },
    ],
  });
  pd = await startPagerDutyStandin();
  const hour = 3600_000;
  pd.oncalls.push({
    user: { id: 'PJANE01', summary: 'Jane', email: 'jane@acme.com' },
    schedule: { id: 'PSCHED1' },
    start: new Date(Date.now() - hour).toISOString(),
    end: new Date(Date.now() + hour).toISOString(),
  });
  // octocat (the test issuer's actor, id 1) is on call; only alice and bob approve by hand.
  const role = (name: string, required: number) => `  ${name}:
    provider: aws
    aws: { role_arn: ${ROLE_ARN} }
    approval:
      approvers: [alice, bob]
      required: ${required}
      auto_approve_on_call:
        pagerduty: { schedule_ids: [PSCHED1] }
        oncall_users: { octocat: jane@acme.com }
    allow:
      - repository_id: "123456"
`;
  const roles = role('db-admin', 1) + role('db-admin-two', 2);
  stack = await startStack({
    policy: (issuer) => policyFor(issuer, roles),
    exchanger: {
      env: { ...githubAppEnv(gh), JITKEY_PAGERDUTY_TOKEN: pd.token, JITKEY_PAGERDUTY_API_URL: pd.url },
    },
  });
});
afterAll(async () => {
  await stack?.stop();
  await Promise.all([gh?.stop(), pd?.stop()]);
});

describe('on-call auto-approval', () => {
  it.each([
    { role: 'db-admin', runId: '9001' },
    { role: 'db-admin-two', runId: '9002' },
  ])('approves the on-call actor at once, and the job redeems it: $role', async ({ role, runId }) => {
    const pending = await stack.exchange(stack.idp.mint({ run_id: runId }), { role });
    expect(pending.status, JSON.stringify(pending.body)).toBe(202);
    const { request_id: id, poll_token: pollToken } = pending.body;
    await eventually(async () => {
      const res = await fetch(`${stack.exchanger.url}/v1/requests/${id}`, {
        headers: { authorization: `Bearer ${pollToken}` },
      });
      const body = (await res.json()) as { status: string };
      return body.status === 'approved' ? body : undefined;
    }, 'the on-call approval');
    const redeemed = await stack.post(
      `/v1/requests/${id}/redeem`,
      { poll_token: pollToken },
      { authorization: `Bearer ${stack.idp.mint({ run_id: runId })}` },
    );
    expect(redeemed.status, JSON.stringify(redeemed.body)).toBe(200);
    expect(redeemed.body.credentials.access_key_id).toMatch(/^ASIA/);
  });
});
