/**
 * Issue 16, item 3: a GitHub token must die at revoke whatever the policy says by then. The role
 * that minted it may have been renamed or removed (SIGHUP) while the job ran; the token is sealed
 * under the lease's revoke_token and needs nothing from the role to be revoked.
 */
import { writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '../approvals/support.js';
import { githubRole, startGithubStack } from '../support/github-stack.js';
import type { GithubStandin } from '../support/github-standin.js';
import { policyFor, type Stack } from '../support/stack.js';

const botRole = (name: string) => githubRole(name, 'repository_id: "123456"');

let gh: GithubStandin;
let stack: Stack;

beforeAll(async () => {
  ({ gh, stack } = await startGithubStack({ roles: botRole('bump-deps') }));
});
afterAll(async () => {
  await stack?.stop();
  await gh?.stop();
});

async function reload(policy: string): Promise<void> {
  const before = stack.exchanger.output().split('"policy reloaded"').length;
  writeFileSync(stack.exchanger.policyPath, policy);
  stack.exchanger.signal('SIGHUP');
  await eventually(
    async () => (stack.exchanger.output().split('"policy reloaded"').length > before ? true : undefined),
    'the policy reload',
  );
}

describe('revoke after the role changed (issue 16, item 3)', () => {
  it.each([
    ['removed', ''],
    ['renamed', botRole('bump-deps-v2')],
  ])('revokes the GitHub token upstream when its role was %s', async (_how, replacement) => {
    await reload(policyFor(stack.idp.url, botRole('bump-deps')));
    const grant = await stack.exchange(stack.idp.mint(), { role: 'bump-deps' });
    expect(grant.status).toBe(200);
    const token: string = grant.body.credentials.token;
    expect(gh.tokenInfo(token)).toBeDefined();

    await reload(policyFor(stack.idp.url, replacement));
    const res = await stack.post('/v1/revoke', {
      lease_id: grant.body.lease_id,
      revoke_token: grant.body.revoke_token,
    });
    expect(res.status).toBe(204);
    expect(gh.revocations).toContain(token);
    expect(gh.tokenInfo(token)).toBeUndefined();
  });
});
