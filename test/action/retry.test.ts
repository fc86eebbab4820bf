import { afterEach, describe, expect, it } from 'vitest';
import { exchange } from '../../src/client/exchanger.js';
import { requestIdToken } from '../../src/client/oidc.js';
import { ActionError, ExchangerError } from '../../src/shared/errors.js';
import { jittered, retryAfterMs } from '../../src/transport/call.js';
import { startTokenEndpoint, type TokenEndpoint } from '../support/token-endpoint.js';
import {
  AWS_LEASE,
  type FakeServer,
  fakeCore,
  fakeDeps,
  fakeJwt,
  type Reply,
  startFakeServer,
} from './fakes.js';

let server: FakeServer | undefined;
let tokens: TokenEndpoint | undefined;
afterEach(async () => {
  await server?.stop();
  await tokens?.stop();
  server = tokens = undefined;
});

/** An exchanger that gives `failures` answers (or dropped connections) first, then a lease. */
async function setup(failures: Reply[], retries = 3) {
  let n = 0;
  server = await startFakeServer(() => failures[n++] ?? { status: 200, body: AWS_LEASE });
  tokens = await startTokenEndpoint({
    token: (aud) => fakeJwt({ aud, repository: 'acme/web', n: tokens!.issued.length }),
  });
  const fc = fakeCore();
  const deps = fakeDeps(fc, tokens.env);
  const options = { baseUrl: new URL(`${server.url}/`), retries };
  const run = () =>
    exchange(deps, options, () => requestIdToken(deps, 'jitkey', retries), {
      role: 'deploy-web-prod',
      durationSeconds: 900,
    });
  return { fc, deps, run };
}

describe('exchange retries', () => {
  it.each([500, 502, 503, 504, 429])(
    'retries %i until the exchanger answers, with a fresh token each time',
    async (status) => {
      const { deps, run } = await setup([
        { status, body: { error: 'unavailable', message: 'busy', request_id: 'r1' } },
        { status, body: { error: 'unavailable', message: 'busy', request_id: 'r2' } },
      ]);
      const outcome = await run();
      expect(outcome.kind).toBe('issued');
      expect(server!.requests).toHaveLength(3);
      expect(deps.sleeps).toHaveLength(2);
      // Each attempt spent its own single-use token.
      const bearers = server!.requests.map((r) => r.headers.authorization);
      expect(new Set(bearers).size).toBe(3);
      expect(bearers).toEqual(tokens!.issued.map((t) => `Bearer ${t}`));
      expect(server!.requests[0]!.json).toEqual({ role: 'deploy-web-prod', duration_seconds: 900 });
    },
  );

  it('retries network errors (a dropped connection)', async () => {
    const { run, deps } = await setup([
      { status: 0, destroy: true },
      { status: 0, destroy: true },
    ]);
    expect((await run()).kind).toBe('issued');
    expect(server!.requests).toHaveLength(3);
    expect(deps.sleeps).toHaveLength(2);
  });

  it('backs off exponentially with jitter', async () => {
    const { run, deps } = await setup([{ status: 503 }, { status: 503 }, { status: 503 }]);
    await run();
    // random() = 0.5: three quarters of 1 s, 2 s, 4 s.
    expect(deps.sleeps).toEqual([750, 1500, 3000]);
    expect(jittered(8000, () => 0)).toBe(4000);
    expect(jittered(8000, () => 0.999999)).toBe(8000);
  });

  it('gives up after `retries` retries with the last answer', async () => {
    const { run, deps } = await setup(
      Array.from({ length: 5 }, () => ({
        status: 503,
        body: { error: 'unavailable', message: 'store down', request_id: 'req_9' },
      })),
      2,
    );
    const e = await run().catch((x: unknown) => x);
    expect(e).toBeInstanceOf(ExchangerError);
    expect((e as ExchangerError).status).toBe(503);
    expect((e as ExchangerError).message).toContain('store down');
    expect((e as ExchangerError).message).toContain('req_9');
    expect(server!.requests).toHaveLength(3);
    expect(deps.sleeps).toHaveLength(2);
  });

  it('with retries 0 makes exactly one attempt', async () => {
    const { run, deps } = await setup([{ status: 503 }], 0);
    await expect(run()).rejects.toBeInstanceOf(ExchangerError);
    expect(server!.requests).toHaveLength(1);
    expect(deps.sleeps).toEqual([]);
  });

  it.each([
    { status: 400, error: 'invalid_request' },
    { status: 401, error: 'invalid_token' },
    { status: 401, error: 'token_replayed' },
    { status: 403, error: 'access_denied' },
    { status: 404, error: 'not_found' },
    { status: 409, error: 'already_redeemed' },
  ])('never retries $status $error', async ({ status, error }) => {
    const { run, deps } = await setup([{ status, body: { error, message: 'no', request_id: 'req_1' } }]);
    const e = await run().catch((x: unknown) => x);
    expect(e).toBeInstanceOf(ExchangerError);
    expect(e).toMatchObject({ status, apiCode: error, requestId: 'req_1', apiMessage: 'no' });
    expect(server!.requests).toHaveLength(1);
    expect(deps.sleeps).toEqual([]);
  });

  it('honours Retry-After on 429', async () => {
    const { run, deps } = await setup([
      { status: 429, headers: { 'retry-after': '7' }, body: { error: 'rate_limited' } },
    ]);
    await run();
    expect(deps.sleeps).toEqual([7000]);
  });

  it('caps a long Retry-After', async () => {
    const { run, deps } = await setup([{ status: 429, headers: { 'retry-after': '3600' } }]);
    await run();
    expect(deps.sleeps).toEqual([60_000]);
  });

  it('reads Retry-After as seconds or an HTTP date', () => {
    const now = Date.parse('2030-01-01T00:00:00Z');
    expect(retryAfterMs('12', now)).toBe(12_000);
    expect(retryAfterMs('Tue, 01 Jan 2030 00:00:30 GMT', now)).toBe(30_000);
    expect(retryAfterMs('Mon, 31 Dec 2029 00:00:00 GMT', now)).toBe(0);
    expect(retryAfterMs('soon', now)).toBeUndefined();
    expect(retryAfterMs(null, now)).toBeUndefined();
  });

  it('fails with a clear message when the exchanger cannot be reached', async () => {
    const { run, deps } = await setup([]);
    await server!.stop(); // nothing listens on the port any more
    const e = await run().catch((x: unknown) => x);
    expect(e).toBeInstanceOf(ActionError);
    expect((e as ActionError).code).toBe('unreachable');
    expect((e as ActionError).message).toMatch(
      /^Could not reach the exchanger at http:\/\/127\.0\.0\.1:\d+ after 4 attempts: connect ECONNREFUSED 127\.0\.0\.1:\d+$/,
    );
    expect(deps.sleeps).toHaveLength(3);
    server = undefined;
  });

  it('retries the runner token endpoint too, and sends the audience', async () => {
    const { run, deps } = await setup([]);
    tokens!.failNext(2, 503);
    await run();
    expect(tokens!.requests.map((r) => r.status)).toEqual([503, 503, 200]);
    expect(tokens!.requests.every((r) => r.audience === 'jitkey' && r.authorized)).toBe(true);
    expect(deps.sleeps).toHaveLength(2);
  });
});
