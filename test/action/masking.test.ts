/**
 * "Mask first, always": for every secret, the first recorded call whose arguments contain it is
 * `setSecret(secret)` itself; every log line, output, export, state write, summary and request
 * comes after. The recording covers core calls and the requests sent (send) in one sequence.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { run } from '../../src/main/run.js';
import { runPost } from '../../src/post/run.js';
import { startTokenEndpoint, type TokenEndpoint } from '../support/token-endpoint.js';
import {
  AWS_LEASE,
  type Call,
  type FakeServer,
  fakeCore,
  fakeDeps,
  fakeJwt,
  startFakeServer,
} from './fakes.js';

let server: FakeServer | undefined;
let tokens: TokenEndpoint | undefined;
afterEach(async () => {
  await server?.stop();
  await tokens?.stop();
  server = tokens = undefined;
});

/** Throws naming the first call that saw a secret before it was masked. */
function expectMaskedFirst(calls: Call[], secrets: string[]) {
  for (const secret of secrets) {
    const first = calls.findIndex((c) => c.args.some((a) => a.includes(secret)));
    expect(first, `secret ${secret} never appears`).toBeGreaterThanOrEqual(0);
    expect(calls[first], `secret ${secret} first seen in ${calls[first]?.method}`).toEqual({
      method: 'setSecret',
      args: [secret],
    });
  }
}

const LEASES = {
  aws: AWS_LEASE,
  gcp: {
    ...AWS_LEASE,
    provider: 'gcp',
    credentials: {
      access_token: 'ya29.gcp-s3cr3t',
      token_type: 'Bearer',
      service_account: 'ci@p.iam.gserviceaccount.com',
    },
  },
  github: {
    ...AWS_LEASE,
    provider: 'github',
    credentials: { token: 'ghs_gh_s3cr3t', permissions: { contents: 'read' }, repositories: ['acme/web'] },
  },
};
const SECRETS = {
  aws: [
    AWS_LEASE.credentials.access_key_id,
    AWS_LEASE.credentials.secret_access_key,
    AWS_LEASE.credentials.session_token,
  ],
  gcp: ['ya29.gcp-s3cr3t'],
  github: ['ghs_gh_s3cr3t'],
};

async function start(handler: Parameters<typeof startFakeServer>[0]) {
  server = await startFakeServer(handler);
  tokens = await startTokenEndpoint({ token: (aud) => fakeJwt({ aud, repository: 'acme/web' }) });
}

describe('masking order', () => {
  it.each(['aws', 'gcp', 'github'] as const)(
    '%s: the OIDC token, revoke token and credentials are masked before any other use',
    async (provider) => {
      await start(() => ({ status: 200, body: LEASES[provider] }));
      const fc = fakeCore({ 'exchanger-url': server!.url, role: 'r', 'output-credentials': 'true' });
      await run(fakeDeps(fc, tokens!.env));
      expect(fc.failed).toEqual([]);
      expectMaskedFirst(fc.calls, [tokens!.issued[0]!, AWS_LEASE.revoke_token, ...SECRETS[provider]]);
      // and each was used afterwards: sent, exported, output or saved
      expect(
        fc.calls.filter((c) => c.method !== 'setSecret').some((c) => c.args.includes(AWS_LEASE.revoke_token)),
      ).toBe(true);
    },
  );

  it('approval: the poll token and the fresh redeem token are masked first', async () => {
    const pollToken = 'pt_poll_s3cr3t';
    await start((req) => {
      if (req.path === '/v1/exchange') {
        return {
          status: 202,
          body: {
            status: 'pending',
            request_id: 'q1',
            poll_token: pollToken,
            expires_at: '',
            approvers: ['a'],
            required: 1,
          },
        };
      }
      if (req.method === 'GET')
        return { status: 200, body: { status: 'approved', approvals: [{ login: 'a', at: '' }] } };
      return { status: 200, body: AWS_LEASE };
    });
    const fc = fakeCore({ 'exchanger-url': server!.url, role: 'r' });
    await run(fakeDeps(fc, tokens!.env));
    expect(fc.failed).toEqual([]);
    expect(tokens!.issued).toHaveLength(2);
    expectMaskedFirst(fc.calls, [...tokens!.issued, pollToken, AWS_LEASE.revoke_token, ...SECRETS.aws]);
  });

  it('a denial masks the token before sending it and never prints it', async () => {
    await start(() => ({ status: 403, body: { error: 'access_denied', message: 'no' } }));
    const fc = fakeCore({ 'exchanger-url': server!.url, role: 'r' });
    await run(fakeDeps(fc, tokens!.env));
    expectMaskedFirst(fc.calls, [tokens!.issued[0]!]);
    expect(
      fc.calls
        .filter((c) => c.method !== 'send' && c.method !== 'setSecret')
        .flatMap((c) => c.args)
        .join(),
    ).not.toContain(tokens!.issued[0]!);
  });

  it('post masks the revoke token before sending it', async () => {
    await start(() => ({ status: 204 }));
    const fc = fakeCore(
      {},
      { lease_id: 'l1', revoke_token: 'rvk_post_s3cr3t', exchanger_url: server!.url, revoke: 'true' },
    );
    await runPost(fakeDeps(fc));
    expectMaskedFirst(fc.calls, ['rvk_post_s3cr3t']);
    expect(server!.requests[0]!.json).toEqual({ lease_id: 'l1', revoke_token: 'rvk_post_s3cr3t' });
  });
});
