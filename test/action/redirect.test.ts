/**
 * No redirect is ever followed (issue 16 item 6): a 3xx from the exchanger or the runner's token
 * endpoint fails the call with a message naming where it pointed, and the address it names
 * receives nothing — not the OIDC token, not the revoke token, not the request at all. (fetch
 * followed a 307 and re-sent the body, revoke token included, to the other origin.)
 */
import { afterEach, describe, expect, it } from 'vitest';
import { exchange, pollRequest, revoke } from '../../src/client/exchanger.js';
import { requestIdToken } from '../../src/client/oidc.js';
import { ActionError } from '../../src/shared/errors.js';
import { errors, runMain } from '../support/runner.js';
import { startTokenEndpoint, type TokenEndpoint } from '../support/token-endpoint.js';
import { type FakeServer, fakeCore, fakeDeps, fakeJwt, startFakeServer } from './fakes.js';

let servers: FakeServer[] = [];
let tokens: TokenEndpoint | undefined;
afterEach(async () => {
  await Promise.all(servers.map((s) => s.stop()));
  await tokens?.stop();
  servers = [];
  tokens = undefined;
});

/** `elsewhere` records what reaches it; `redirector` answers every request with `status` to it. */
async function setup(status: number) {
  const elsewhere = await startFakeServer(() => ({ status: 200, body: {} }));
  const redirector = await startFakeServer((req) => ({
    status,
    headers: { location: `${elsewhere.url}${req.path}?copy=1` },
  }));
  servers.push(elsewhere, redirector);
  tokens = await startTokenEndpoint({ token: (aud) => fakeJwt({ aud, repository: 'acme/web' }) });
  const fc = fakeCore();
  const deps = fakeDeps(fc, tokens.env);
  const client = { baseUrl: new URL(`${redirector.url}/`), retries: 3 };
  return { elsewhere, redirector, deps, client };
}

async function refusal(call: Promise<unknown>): Promise<ActionError> {
  const error = await call.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ActionError);
  expect((error as ActionError).code).toBe('redirected');
  return error as ActionError;
}

describe('redirects are refused, never followed', () => {
  it.each([301, 302, 303, 307, 308])('exchange: %i, and the token goes nowhere else', async (status) => {
    const { elsewhere, redirector, deps, client } = await setup(status);
    const error = await refusal(
      exchange(deps, client, () => requestIdToken(deps, 'jitkey', 3), { role: 'deploy' }),
    );
    expect(error.message).toBe(
      `The exchanger at ${redirector.url} answered ${status} with a redirect to ${elsewhere.url}/v1/exchange; ` +
        'jitkey does not follow redirects, so no token is sent to another address. ' +
        'Use the URL that answers directly (the final address, with https).',
    );
    expect(elsewhere.requests).toEqual([]);
    // Not retried either: a redirect is an answer about the address, not a passing failure.
    expect(redirector.requests).toHaveLength(1);
    expect(redirector.requests[0]!.headers.authorization).toBe(`Bearer ${tokens!.issued[0]}`);
  });

  it('revoke: the revoke token stays with the exchanger it was issued by', async () => {
    const { elsewhere, redirector, deps, client } = await setup(307);
    await refusal(revoke(deps, client, { leaseId: 'lease_1', revokeToken: 'rvk_never_elsewhere' }));
    expect(redirector.requests.map((r) => r.json)).toEqual([
      { lease_id: 'lease_1', revoke_token: 'rvk_never_elsewhere' },
    ]);
    expect(elsewhere.requests).toEqual([]);
  });

  it('approval polls: the poll token is not re-sent', async () => {
    const { elsewhere, deps, client } = await setup(308);
    await refusal(pollRequest(deps, client, { requestId: 'req_1', pollToken: 'poll_secret' }));
    expect(elsewhere.requests).toEqual([]);
  });

  it("the runner's token endpoint: the request token is not re-sent", async () => {
    const { elsewhere, redirector, deps } = await setup(302);
    const env = {
      ACTIONS_ID_TOKEN_REQUEST_URL: `${redirector.url}/token`,
      ACTIONS_ID_TOKEN_REQUEST_TOKEN: 'rt',
    };
    const error = await refusal(requestIdToken({ ...deps, env }, 'jitkey', 3));
    expect(error.message).toMatch(/^The runner's OIDC token endpoint answered 302 with a redirect to /);
    expect(elsewhere.requests).toEqual([]);
  });

  it('the built Action fails the step and the other server receives nothing', async () => {
    const { elsewhere, redirector } = await setup(307);
    const main = await runMain({
      inputs: { 'exchanger-url': redirector.url, role: 'deploy' },
      env: tokens!.env,
    });
    expect(main.exitCode).toBe(1);
    expect(errors(main)).toEqual([
      `The exchanger at ${redirector.url} answered 307 with a redirect to ${elsewhere.url}/v1/exchange; ` +
        'jitkey does not follow redirects, so no token is sent to another address. ' +
        'Use the URL that answers directly (the final address, with https).',
    ]);
    expect(redirector.requests).toHaveLength(1);
    expect(elsewhere.requests).toEqual([]);
  });
});
