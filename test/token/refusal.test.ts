/**
 * Every refusal of a token is a TokenRefusal: API code `invalid_token`, and a `reason` and
 * `claim` that say what failed. These rows assert the codes only; verify-token.test.ts keeps
 * checking that the messages say what to change.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TokenRefusal } from '../../exchanger/token/refusal.js';
import {
  type ClaimOverrides,
  generateSigningKey,
  type MintOptions,
  type OidcIssuer,
  startOidcIssuer,
} from '../support/oidc-issuer.js';
import { harness, NOW } from './setup.js';

const T = NOW / 1000;
let idp: OidcIssuer;

beforeAll(async () => {
  idp = await startOidcIssuer({ now: () => NOW });
});
afterAll(() => idp.stop());

describe('typed token refusals', () => {
  it.each<{
    name: string;
    token?: string;
    claims?: ClaimOverrides;
    options?: MintOptions;
    reason: string;
    claim?: string;
  }>([
    { name: 'no token', token: '', reason: 'missing_token' },
    { name: 'two parts', token: 'a.b', reason: 'malformed' },
    { name: 'oversize', token: 'x'.repeat(16 * 1024 + 1), reason: 'oversize' },
    { name: 'alg none', options: { alg: 'none' }, reason: 'algorithm_refused', claim: 'alg' },
    {
      name: 'HMAC with the public key',
      options: { alg: 'HS256' },
      reason: 'algorithm_refused',
      claim: 'alg',
    },
    {
      name: 'a jwk in the header',
      options: { header: { jwk: { kty: 'RSA' } } },
      reason: 'header_refused',
      claim: 'jwk',
    },
    { name: 'crit', options: { header: { crit: ['b64'] } }, reason: 'header_refused', claim: 'crit' },
    { name: 'no kid', options: { header: { kid: undefined } }, reason: 'missing', claim: 'kid' },
    { name: 'no iss', options: { omit: ['iss'] }, reason: 'missing', claim: 'iss' },
    {
      name: 'another issuer',
      claims: { iss: 'https://evil.example' },
      reason: 'untrusted_issuer',
      claim: 'iss',
    },
    { name: 'an unknown kid', options: { kid: 'nope' }, reason: 'unknown_key', claim: 'kid' },
    {
      name: 'signed by another key',
      options: { key: generateSigningKey().privateKey },
      reason: 'bad_signature',
    },
    { name: 'no aud', options: { omit: ['aud'] }, reason: 'missing', claim: 'aud' },
    {
      name: 'another audience',
      claims: { aud: 'sts.amazonaws.com' },
      reason: 'audience_mismatch',
      claim: 'aud',
    },
    {
      name: 'expired',
      claims: { iat: T - 400, nbf: T - 400, exp: T - 100 },
      reason: 'expired',
      claim: 'exp',
    },
    { name: 'not yet valid', claims: { nbf: T + 120 }, reason: 'not_yet_valid', claim: 'nbf' },
    {
      name: 'issued in the future',
      claims: { iat: T + 120, nbf: T, exp: T + 400 },
      reason: 'issued_in_future',
      claim: 'iat',
    },
    { name: 'exp as a string', claims: { exp: String(T + 300) }, reason: 'invalid', claim: 'exp' },
    { name: 'no exp', options: { omit: ['exp'] }, reason: 'missing', claim: 'exp' },
    { name: 'a one-hour lifetime', options: { lifetimeSeconds: 3600 }, reason: 'lifetime', claim: 'exp' },
    { name: 'no jti', options: { omit: ['jti'] }, reason: 'missing', claim: 'jti' },
  ])('$name: $reason $claim', async ({ token, claims, options, reason, claim }) => {
    const { verifier } = harness(idp);
    const err = await verifier.verify(token ?? idp.mint(claims ?? {}, options)).then(
      () => expect.fail('the token was accepted'),
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(TokenRefusal);
    expect(err).toMatchObject({ code: 'invalid_token', status: 401, reason });
    expect((err as TokenRefusal).claim).toBe(claim);
  });
});
