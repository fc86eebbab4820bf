/**
 * Issue 16, item 3: a GitHub token must die at revoke whatever the policy says by then. The role
 * that minted it may have been renamed or removed (SIGHUP) while the job ran; the token is sealed
 * under the lease's revoke_token and needs nothing from the role to be revoked. And when GitHub
 * fails the DELETE, it is tried again (3 attempts in all) before the lease is left to expire.
 */
import { writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStore } from '../../exchanger/store/open.js';
import { eventually } from '../support/eventually.js';
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

describe('a failed upstream revoke', () => {
  const deletes = () =>
    gh.requests.filter((r) => r.method === 'DELETE' && r.path === '/installation/token').length;

  async function grantAndRevoke(failures: number) {
    await reload(policyFor(stack.idp.url, botRole('bump-deps')));
    const grant = await stack.exchange(stack.idp.mint(), { role: 'bump-deps' });
    expect(grant.status).toBe(200);
    const before = deletes();
    gh.failNext({ method: 'DELETE', path: /^\/installation\/token$/ }, 503, failures);
    const res = await stack.post('/v1/revoke', {
      lease_id: grant.body.lease_id,
      revoke_token: grant.body.revoke_token,
    });
    expect(res.status).toBe(204);
    const store = await openStore(stack.exchanger.store, { purgeIntervalMs: 0 });
    const [row] = await store.queryAudit({ outcome: 'revoked', limit: 1 }).finally(() => store.close());
    expect(row!.leaseId).toBe(grant.body.lease_id);
    return {
      token: grant.body.credentials.token as string,
      attempts: deletes() - before,
      reason: row!.reason,
    };
  }

  it('is tried again: two 503s, then the token is deleted', async () => {
    const { token, attempts, reason } = await grantAndRevoke(2);
    expect(attempts).toBe(3);
    expect(gh.tokenInfo(token)).toBeUndefined();
    expect(reason).toBe('lease revoked (revoked upstream at attempt 3)');
  });

  it('gives up after 3 attempts, says so in the audit, and still marks the lease revoked', async () => {
    const { token, attempts, reason } = await grantAndRevoke(5);
    expect(attempts).toBe(3);
    expect(gh.tokenInfo(token)).toBeDefined();
    expect(reason).toBe('lease revoked (upstream revocation failed after 3 attempts; it expires on its own)');
  });
});
