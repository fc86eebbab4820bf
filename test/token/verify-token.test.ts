/**
 * The security floor (reference.md §3), against a real loopback OIDC issuer over HTTP.
 * Each row is a token and the refusal it must get.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TokenRefusal } from '../../exchanger/token/refusal.js';
import { createVerifier } from '../../exchanger/token/verify-token.js';
import {
  type ClaimOverrides,
  generateSigningKey,
  type MintOptions,
  type OidcIssuer,
  signJwt,
  startOidcIssuer,
} from '../support/oidc-issuer.js';
import { expectAccepted, expectRefused, harness, NOW } from './setup.js';

const T = NOW / 1000;
let idp: OidcIssuer;

/** The longest valid token of at most `max` bytes, or with `over`, the shortest one above it. */
function sizedToken(max: number, over = false): string {
  const base = idp.mint({ padding: '' }).length;
  let pad = Math.max(0, Math.floor(((max - base) * 3) / 4) - 4);
  let token = idp.mint({ padding: 'x'.repeat(pad) });
  while (token.length <= max) {
    const next = idp.mint({ padding: 'x'.repeat(++pad) });
    if (next.length > max && !over) break;
    token = next;
  }
  return token;
}

beforeAll(async () => {
  idp = await startOidcIssuer({ now: () => NOW });
});
afterAll(() => idp.stop());

describe('accepted tokens', () => {
  it('accepts a GitHub-shaped token and returns its claims, jti, issuer and expiry', async () => {
    const { verifier } = harness(idp);
    const token = idp.mint({ jti: 'run-1-token' });
    const verified = await verifier.verify(token);
    expect(verified.jti).toBe('run-1-token');
    expect(verified.issuer).toBe(idp.url);
    expect(verified.expiresAt).toEqual(new Date((T + 300) * 1000));
    expect(verified.claims).toMatchObject({ repository: 'acme/web', repository_id: '123456', aud: 'jitkey' });
  });

  it.each<{ name: string; claims?: ClaimOverrides; options?: MintOptions; at?: number }>([
    { name: 'aud as an array holding only the audience', claims: { aud: ['jitkey'] } },
    {
      name: 'exp 59 s in the past (within the 60 s skew)',
      claims: { iat: T - 359, nbf: T - 359, exp: T - 59 },
    },
    { name: 'nbf 59 s ahead', claims: { nbf: T + 59 } },
    { name: 'iat 59 s ahead', claims: { iat: T + 59, nbf: T + 59, exp: T + 359 } },
    { name: 'exp - iat exactly 15 minutes', options: { lifetimeSeconds: 900 } },
    { name: 'no nbf', options: { omit: ['nbf'] } },
    { name: 'header without typ or x5t', options: { header: { typ: undefined, x5t: undefined } } },
  ])('accepts $name', async ({ claims, options }) => {
    const { verifier } = harness(idp);
    await expect(verifier.verify(idp.mint(claims, options))).resolves.toMatchObject({ issuer: idp.url });
  });

  it('accepts a token of up to 16 KiB', async () => {
    const { verifier } = harness(idp);
    const token = sizedToken(16_384);
    expect(token.length).toBeGreaterThan(16_380);
    expect(token.length).toBeLessThanOrEqual(16_384);
    await expectAccepted(verifier, token);
  });

  it('accepts an issuer with a path (GHES: https://HOST/_services/token)', async () => {
    const ghes = await startOidcIssuer({ path: '/_services/token', now: () => NOW });
    try {
      const { verifier, fetched } = harness(ghes);
      await expect(verifier.verify(ghes.mint())).resolves.toMatchObject({ issuer: ghes.url });
      expect(fetched).toEqual([
        `${ghes.url}/.well-known/openid-configuration`,
        `${ghes.url}/.well-known/jwks`,
      ]);
    } finally {
      await ghes.stop();
    }
  });
});

describe('refused tokens', () => {
  const attacker = generateSigningKey();
  const sig = (): { key: typeof attacker.privateKey } => ({ key: attacker.privateKey });

  const cases: { name: string; token: () => string; message: RegExp }[] = [
    // signature and algorithm
    {
      name: 'signed by another key under the issuer kid',
      token: () => idp.mint({}, sig()),
      message: /signature does not verify/,
    },
    {
      name: 'payload altered after signing',
      token: () => {
        const [h, , s] = idp.mint().split('.');
        const forged = Buffer.from(JSON.stringify(idp.claims({ repository: 'acme/infra' }))).toString(
          'base64url',
        );
        return `${h}.${forged}.${s}`;
      },
      message: /signature does not verify/,
    },
    { name: 'alg none', token: () => idp.mint({}, { alg: 'none' }), message: /alg "none"/ },
    { name: 'alg None (case variant)', token: () => idp.mint({}, { alg: 'None' }), message: /alg "none"/ },
    {
      name: 'HS256 signed with the public key PEM',
      token: () => idp.mint({}, { alg: 'HS256' }),
      message: /HMAC/,
    },
    {
      name: 'HS512 signed with the public key PEM',
      token: () => idp.mint({}, { alg: 'HS512' }),
      message: /HMAC/,
    },
    {
      name: 'RS384, not in the default allow-list',
      token: () => idp.mint({}, { alg: 'RS384' }),
      message: /'RS384' is not allowed; allowed: RS256/,
    },
    {
      name: 'PS256, not in the default allow-list',
      token: () => idp.mint({}, { alg: 'PS256' }),
      message: /not allowed/,
    },
    { name: 'no alg', token: () => idp.mint({}, { header: { alg: undefined } }), message: /no "alg"/ },
    {
      name: 'empty signature with alg RS256',
      token: () => `${idp.mint().split('.').slice(0, 2).join('.')}.`,
      message: /signature does not verify/,
    },
    // header-supplied keys, even when the signature is the issuer's own
    {
      name: 'jku header',
      token: () => idp.mint({}, { header: { jku: `${idp.url}/.well-known/jwks` } }),
      message: /carries "jku"/,
    },
    {
      name: 'x5u header',
      token: () => idp.mint({}, { header: { x5u: 'https://evil.example/cert.pem' } }),
      message: /carries "x5u"/,
    },
    {
      name: 'x5c header',
      token: () => idp.mint({}, { header: { x5c: ['MIIB'] } }),
      message: /carries "x5c"/,
    },
    {
      name: 'jwk header with the attacker key that signed it',
      token: () =>
        idp.mint({}, { key: attacker.privateKey, kid: attacker.kid, header: { jwk: attacker.jwk } }),
      message: /carries "jwk"/,
    },
    {
      name: 'crit header',
      token: () => idp.mint({}, { header: { crit: ['b64'], b64: false } }),
      message: /"crit"/,
    },
    { name: 'no kid', token: () => idp.mint({}, { header: { kid: undefined } }), message: /no "kid"/ },
    {
      name: 'kid the issuer never published',
      token: () => idp.mint({}, { kid: 'not-a-published-kid' }),
      message: /publishes no key 'not-a-published-kid'/,
    },
    // issuer and audience
    { name: 'iss missing', token: () => idp.mint({}, { omit: ['iss'] }), message: /no "iss"/ },
    {
      name: 'iss with a trailing slash',
      token: () => idp.mint({ iss: `${idp.url}/` }),
      message: /issuer '.*\/' is not one this exchanger trusts/,
    },
    {
      name: 'iss in another case',
      token: () => idp.mint({ iss: idp.url.toUpperCase() }),
      message: /is not one this exchanger trusts/,
    },
    {
      name: 'aud missing',
      token: () => idp.mint({}, { omit: ['aud'] }),
      message: /no "aud".*audience 'jitkey'/,
    },
    {
      name: 'aud another audience',
      token: () => idp.mint({ aud: 'sts.amazonaws.com' }),
      message: /audience 'sts.amazonaws.com' is not 'jitkey'/,
    },
    { name: 'aud in another case', token: () => idp.mint({ aud: 'Jitkey' }), message: /is not 'jitkey'/ },
    {
      name: 'aud array with an extra element',
      token: () => idp.mint({ aud: ['jitkey', 'other'] }),
      message: /must hold only 'jitkey'/,
    },
    { name: 'aud empty array', token: () => idp.mint({ aud: [] }), message: /must hold only 'jitkey'/ },
    // times
    {
      name: 'expired',
      token: () => idp.mint({ iat: T - 400, nbf: T - 400, exp: T - 100 }),
      message: /expired 100 s ago/,
    },
    {
      name: 'exp 61 s in the past (beyond the skew)',
      token: () => idp.mint({ iat: T - 361, nbf: T - 361, exp: T - 61 }),
      message: /expired 61 s ago/,
    },
    {
      name: 'exp exactly 60 s in the past',
      token: () => idp.mint({ iat: T - 360, nbf: T - 360, exp: T - 60 }),
      message: /expired/,
    },
    { name: 'nbf 61 s ahead', token: () => idp.mint({ nbf: T + 61 }), message: /not valid for another 61 s/ },
    {
      name: 'iat 61 s ahead',
      token: () => idp.mint({ iat: T + 61, nbf: T, exp: T + 300 }),
      message: /issued 61 s in the future/,
    },
    { name: 'iat missing', token: () => idp.mint({}, { omit: ['iat'] }), message: /no "iat"/ },
    { name: 'iat a string', token: () => idp.mint({ iat: String(T) }), message: /"iat" is not a number/ },
    { name: 'exp missing', token: () => idp.mint({}, { omit: ['exp'] }), message: /no "exp"/ },
    {
      name: 'exp - iat over 15 minutes',
      token: () => idp.mint({}, { lifetimeSeconds: 901 }),
      message: /valid for 901 s.*at most 900 s/,
    },
    {
      name: 'exp before iat',
      token: () => idp.mint({ iat: T, exp: T - 1 }),
      message: /expires before it was issued/,
    },
    // token id
    { name: 'jti missing', token: () => idp.mint({}, { omit: ['jti'] }), message: /no "jti"/ },
    { name: 'jti empty', token: () => idp.mint({ jti: '' }), message: /no "jti"/ },
    { name: 'jti a number', token: () => idp.mint({ jti: 42 }), message: /no "jti"/ },
    // shape
    {
      name: 'just over 16 KiB',
      token: () => sizedToken(16_384, true),
      message: /1638[5-7] bytes; the limit is 16384/,
    },
    { name: 'empty', token: () => '', message: /no token/ },
    {
      name: 'two parts',
      token: () => idp.mint().split('.').slice(0, 2).join('.'),
      message: /three dot-separated parts/,
    },
    { name: 'four parts', token: () => `${idp.mint()}.abc`, message: /three dot-separated parts/ },
    { name: 'JWE-like five parts', token: () => 'a.b.c.d.e', message: /three dot-separated parts/ },
    { name: 'not base64url', token: () => idp.mint().replace('.', '+.'), message: /not base64url/ },
    { name: 'whitespace around it', token: () => ` ${idp.mint()}`, message: /not base64url/ },
    {
      name: 'header not JSON',
      token: () =>
        `${Buffer.from('{"alg":').toString('base64url')}.${idp.mint().split('.').slice(1).join('.')}`,
      message: /header is not UTF-8 JSON/,
    },
    {
      name: 'payload a JSON array',
      token: () =>
        signJwt({ alg: 'RS256', kid: idp.kid }, [] as unknown as Record<string, unknown>, {
          key: attacker.privateKey,
        }),
      message: /payload is not a JSON object/,
    },
  ];

  it.each(cases)('refuses: $name', async ({ token, message }) => {
    const { verifier } = harness(idp);
    const t = token();
    await expectRefused(verifier.verify(t), t, message);
  });

  it('refuses an oversize token before parsing or fetching anything', async () => {
    const { verifier, fetched } = harness(idp);
    const t = `${'a'.repeat(16_385)}`;
    await expectRefused(verifier.verify(t), t, /16385 bytes; the limit is 16384/);
    expect(fetched).toEqual([]);
  });

  it('refuses an unknown issuer without any network call', async () => {
    const other = await startOidcIssuer({ now: () => NOW });
    try {
      const { verifier, fetched } = harness(idp);
      const t = other.mint();
      await expectRefused(
        verifier.verify(t),
        t,
        new RegExp(`issuer '${other.url}' is not one this exchanger trusts; its operators can say which`),
      );
      // Which issuers are trusted goes to the operators' log only: it names internal hosts.
      const refusal = (await verifier.verify(t).catch((e: unknown) => e)) as TokenRefusal;
      expect(refusal.message).not.toContain(idp.url);
      expect(refusal.detail).toBe(`trusted: ${idp.url}`);
      expect(fetched).toEqual([]);
      expect(other.discoveryFetches + other.jwksFetches).toBe(0);
    } finally {
      await other.stop();
    }
  });

  it('refuses header-borne key material before fetching anything', async () => {
    const { verifier, fetched } = harness(idp);
    const t = idp.mint({}, { key: attacker.privateKey, kid: attacker.kid, header: { jwk: attacker.jwk } });
    await expectRefused(verifier.verify(t), t, /carries "jwk"/);
    expect(fetched).toEqual([]);
  });

  it('refuses HS256 even when the verifier allows several public-key algorithms', async () => {
    const any = await startOidcIssuer({ now: () => NOW, jwk: { alg: undefined } });
    try {
      const { verifier } = harness(any, { algorithms: ['RS256', 'PS256', 'ES256'] });
      const t = any.mint({}, { alg: 'HS256' });
      await expectRefused(verifier.verify(t), t, /HMAC/);
      await expectAccepted(verifier, any.mint({}, { alg: 'PS256' }));
    } finally {
      await any.stop();
    }
  });

  it('refuses a key the issuer published for another algorithm', async () => {
    const { verifier } = harness(idp, { algorithms: ['RS256', 'PS256'] });
    const t = idp.mint({}, { alg: 'PS256' });
    await expectRefused(verifier.verify(t), t, /cannot verify PS256: it is published for RS256/);
  });

  it.each([
    { name: 'use "enc"', jwk: { use: 'enc' }, message: /"use" is "enc", not "sig"/ },
    {
      name: 'key_ops without verify',
      jwk: { key_ops: ['encrypt'] },
      message: /"key_ops" do not include "verify"/,
    },
  ])('refuses a published key with $name', async ({ jwk, message }) => {
    const odd = await startOidcIssuer({ now: () => NOW, jwk });
    try {
      const t = odd.mint();
      await expectRefused(harness(odd).verifier.verify(t), t, message);
    } finally {
      await odd.stop();
    }
  });

  it('applies a smaller configured clock tolerance', async () => {
    const { verifier } = harness(idp, { clockToleranceSeconds: 0 });
    const t = idp.mint({ iat: T - 301, nbf: T - 301, exp: T - 1 });
    await expectRefused(verifier.verify(t), t, /expired 1 s ago/);
  });
});

describe('construction', () => {
  const issuer = (url: string) => ({ issuers: [{ url, audience: 'jitkey' }] });

  it.each([
    {
      name: 'http issuer on a public host',
      options: issuer('http://token.actions.githubusercontent.com'),
      message: /only on loopback/,
    },
    {
      name: 'http issuer on a private address',
      options: issuer('http://10.0.0.5'),
      message: /only on loopback/,
    },
    {
      name: 'http issuer on a name ending in localhost',
      options: issuer('http://localhost.evil.example'),
      message: /only on loopback/,
    },
    {
      name: 'issuer that is not a URL',
      options: issuer('token.actions.githubusercontent.com'),
      message: /not an absolute URL/,
    },
    { name: 'issuer with credentials', options: issuer('https://u:p@token.example'), message: /credentials/ },
    {
      name: 'issuer with a query',
      options: issuer('https://token.example/?x=1'),
      message: /must not carry a query or fragment/,
    },
    { name: 'no issuers', options: { issuers: [] }, message: /no issuers/ },
    {
      name: 'an empty audience',
      options: { issuers: [{ url: 'https://token.example', audience: '' }] },
      message: /audience/,
    },
    {
      name: 'the same issuer twice',
      options: { issuers: [...issuer('https://a.example').issuers, ...issuer('https://a.example').issuers] },
      message: /twice/,
    },
    {
      name: 'alg none allowed',
      options: { ...issuer('https://a.example'), algorithms: ['none'] },
      message: /"none" cannot be allowed/,
    },
    {
      name: 'HS256 allowed',
      options: { ...issuer('https://a.example'), algorithms: ['HS256'] },
      message: /"HS256" cannot be allowed/,
    },
    {
      name: 'empty allow-list',
      options: { ...issuer('https://a.example'), algorithms: [] },
      message: /empty/,
    },
    {
      name: 'clock tolerance over 60 s',
      options: { ...issuer('https://a.example'), clockToleranceSeconds: 61 },
      message: /at most 60/,
    },
  ])('refuses $name', ({ options, message }) => {
    expect(() => createVerifier(options)).toThrow(message);
  });

  it.each([
    'http://127.0.0.1:8080',
    'http://127.9.9.9',
    'http://localhost:3000/x',
    'http://[::1]:9000',
    'https://token.actions.githubusercontent.com',
  ])('accepts issuer %s', (url) => {
    expect(() => createVerifier(issuer(url))).not.toThrow();
  });
});
