/**
 * The loopback issuer itself, checked with an independent implementation (`jose`), so that the
 * verifier's tests are not only testing the stand-in against itself.
 */
import { createRemoteJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type OidcIssuer, startOidcIssuer } from '../support/oidc-issuer.js';

let idp: OidcIssuer;
beforeAll(async () => {
  idp = await startOidcIssuer();
});
afterAll(() => idp.stop());

describe('startOidcIssuer', () => {
  it('serves OpenID discovery naming itself and its JWKS', async () => {
    const doc = await (await fetch(idp.discoveryUrl)).json();
    expect(doc).toMatchObject({
      issuer: idp.url,
      jwks_uri: idp.jwksUrl,
      id_token_signing_alg_values_supported: ['RS256'],
    });
    expect(idp.discoveryFetches).toBe(1);
  });

  it('mints GitHub-shaped RS256 tokens that jose verifies', async () => {
    const jwks = createRemoteJWKSet(new URL(idp.jwksUrl));
    const { payload, protectedHeader } = await jwtVerify(idp.mint(), jwks, {
      issuer: idp.url,
      audience: 'jitkey',
      algorithms: ['RS256'],
      maxTokenAge: '5m',
    });
    expect(protectedHeader).toEqual({ typ: 'JWT', alg: 'RS256', kid: idp.kid, x5t: idp.kid });
    expect(payload).toMatchObject({
      sub: 'repo:acme/web:environment:production',
      repository: 'acme/web',
      repository_id: '123456',
      repository_owner_id: '7890',
      ref: 'refs/heads/main',
      workflow_ref: 'acme/web/.github/workflows/deploy.yml@refs/heads/main',
      run_attempt: '1',
      runner_environment: 'github-hosted',
    });
    expect(payload.exp! - payload.iat!).toBe(300);
    expect(payload.jti).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('applies overrides, omissions and header changes', () => {
    const token = idp.mint(
      { ref: 'refs/heads/dev', environment: undefined },
      { omit: ['jti'], header: { typ: undefined } },
    );
    const claims = JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString());
    expect(claims.ref).toBe('refs/heads/dev');
    expect(claims).not.toHaveProperty('jti');
    expect(claims).not.toHaveProperty('environment');
    expect(decodeProtectedHeader(token)).not.toHaveProperty('typ');
  });

  it('builds unsigned and HMAC tokens for negative tests', () => {
    expect(idp.mint({}, { alg: 'none' })).toMatch(/\.$/);
    const [, , mac] = idp.mint({}, { alg: 'HS256' }).split('.');
    expect(Buffer.from(mac!, 'base64url')).toHaveLength(32);
  });

  it('rotates keys, keeping or retiring the old one, and can make the JWKS fail', async () => {
    const first = idp.kid;
    const second = idp.rotate();
    expect(idp.publishedKids).toEqual([second, first]);
    const third = idp.rotate({ retire: true });
    expect(idp.publishedKids).toEqual([third]);
    idp.failJwks(502);
    expect((await fetch(idp.jwksUrl)).status).toBe(502);
    idp.failJwks(null);
    const { keys } = (await (await fetch(idp.jwksUrl)).json()) as { keys: { kid: string }[] };
    expect(keys.map((k) => k.kid)).toEqual([third]);
  });
});
