/**
 * The security floor of reference.md §3, each rule a real HTTP request against `jitkey serve`
 * started as a process, with tokens from a real issuer serving discovery and JWKS over HTTP.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateSigningKey } from '../support/oidc-issuer.js';
import { type Stack, startStack } from '../support/stack.js';

let stack: Stack;
beforeAll(async () => {
  stack = await startStack();
});
afterAll(() => stack?.stop());

const now = () => Math.floor(Date.now() / 1000);

async function refusedWith(token: string, message: RegExp) {
  const res = await stack.exchange(token, { role: 'deploy' });
  expect(res.status).toBe(401);
  expect(res.body.error).toBe('invalid_token');
  expect(res.body.message).toMatch(message);
  expect(res.body.message).not.toContain(token.slice(-20));
  return res;
}

describe('token security floor, over HTTP', () => {
  it.each([
    [
      'a token signed by another key',
      () => stack.idp.mint({}, { key: generateSigningKey().privateKey }),
      /signature/i,
    ],
    ['alg: none', () => stack.idp.mint({}, { alg: 'none' }), /alg|algorithm/i],
    ['HS256 signed with the public key', () => stack.idp.mint({}, { alg: 'HS256' }), /alg|algorithm/i],
    ['a jku header', () => stack.idp.mint({}, { header: { jku: 'http://127.0.0.1:1/jwks' } }), /jku/],
    [
      'a jwk header',
      () => stack.idp.mint({}, { header: { jwk: { kty: 'RSA', n: 'AQAB', e: 'AQAB' } } }),
      /jwk/,
    ],
    ['an x5u header', () => stack.idp.mint({}, { header: { x5u: 'http://127.0.0.1:1/cert' } }), /x5u/],
    [
      'another issuer',
      () => stack.idp.mint({ iss: 'https://token.actions.githubusercontent.com.evil' }),
      /issuer|iss/,
    ],
    ['another audience', () => stack.idp.mint({ aud: 'sts.amazonaws.com' }), /aud/],
    ['an audience list with another entry', () => stack.idp.mint({ aud: ['jitkey', 'other'] }), /aud/],
    [
      'an expired token',
      () => stack.idp.mint({ iat: now() - 600, nbf: now() - 600, exp: now() - 120 }),
      /expired|exp/,
    ],
    [
      'nbf ahead',
      () => stack.idp.mint({ nbf: now() + 300, exp: now() + 600 }),
      /nbf|not yet valid|not valid before/i,
    ],
    ['no jti', () => stack.idp.mint({}, { omit: ['jti'] }), /jti/],
    ['a lifetime over 15 minutes', () => stack.idp.mint({}, { lifetimeSeconds: 16 * 60 }), /960 s/],
    ['garbage', () => 'not.a.jwt', /malformed|JWT|token/i],
  ])('refuses %s with 401 invalid_token', async (_name, make, message) => {
    await refusedWith(make(), message);
  });

  it('refuses a token over 16 KiB', async () => {
    const token = stack.idp.mint({ pad: 'x'.repeat(17 * 1024) });
    const res = await stack.exchange(token, { role: 'deploy' });
    expect(res.status).toBe(401);
    expect(res.body.message).toMatch(/16 KiB/);
  });

  it('accepts a token within the 60 s clock skew', async () => {
    const res = await stack.exchange(stack.idp.mint({ iat: now() + 30, nbf: now() + 30, exp: now() + 330 }), {
      role: 'deploy',
    });
    expect(res.status).toBe(200);
  });

  it('accepts tokens from a rotated key without a restart; concurrent unknown kids share one JWKS fetch', async () => {
    // Cooldown 0 so the refetch does not depend on how long ago the start-up fetch was;
    // the cooldown itself is covered by the verifier's own tests with an injected clock.
    const fresh = await startStack({ exchanger: { env: { JITKEY_JWKS_COOLDOWN_MS: '0' } } });
    try {
      expect((await fresh.exchange(fresh.idp.mint(), { role: 'deploy' })).status).toBe(200);
      const fetchesBefore = fresh.idp.jwksFetches;
      fresh.idp.rotate({ retire: true });
      const answers = await Promise.all(
        Array.from({ length: 5 }, () => fresh.exchange(fresh.idp.mint(), { role: 'deploy' })),
      );
      expect(answers.map((a) => a.status)).toEqual([200, 200, 200, 200, 200]);
      expect(fresh.idp.jwksFetches - fetchesBefore).toBe(1);
    } finally {
      await fresh.stop();
    }
  });
});
