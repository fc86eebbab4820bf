/**
 * Discovery and key caching against a real loopback issuer: fetched once, refreshed when stale,
 * an unknown kid refetched at most once per cooldown, concurrent reloads sharing one fetch.
 * Time moves through the verifier's `now`, never by sleeping.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { type OidcIssuer, type OidcIssuerOptions, startOidcIssuer } from '../support/oidc-issuer.js';
import { expectAccepted, expectRefused, harness, NOW } from './setup.js';

const COOLDOWN = 30_000;
const MAX_AGE = 10 * 60_000;
const MAX_STALE = 60 * 60_000;

const started: OidcIssuer[] = [];
async function issuer(options: OidcIssuerOptions = {}): Promise<OidcIssuer> {
  const idp = await startOidcIssuer({ now: () => NOW, ...options });
  started.push(idp);
  return idp;
}
afterEach(async () => {
  await Promise.all(started.splice(0).map((i) => i.stop()));
});

/** Mints with the issuer's clock following the verifier's. */
function at(idp: OidcIssuer, clock: { ms: number }, options: Parameters<OidcIssuer['mint']>[1] = {}): string {
  const iat = Math.floor(clock.ms / 1000);
  return idp.mint({ iat, nbf: iat, exp: iat + 300 }, options);
}

describe('fetching and caching', () => {
  it('fetches discovery and the JWKS once for many tokens', async () => {
    const idp = await issuer();
    const { verifier, fetched } = harness(idp);
    for (let i = 0; i < 25; i++) await verifier.verify(idp.mint());
    expect(fetched).toEqual([idp.discoveryUrl, idp.jwksUrl]);
    expect([idp.discoveryFetches, idp.jwksFetches]).toEqual([1, 1]);
  });

  it('is lazy: nothing is fetched until the first token', async () => {
    const idp = await issuer();
    harness(idp);
    expect([idp.discoveryFetches, idp.jwksFetches]).toEqual([0, 0]);
  });

  it('shares one fetch among concurrent first tokens', async () => {
    const idp = await issuer();
    const { verifier } = harness(idp);
    await Promise.all(Array.from({ length: 20 }, () => verifier.verify(idp.mint())));
    expect([idp.discoveryFetches, idp.jwksFetches]).toEqual([1, 1]);
  });

  it('ready() prefetches every issuer, after which tokens cost no fetch', async () => {
    const a = await issuer();
    const b = await issuer();
    const { verifier } = harness(a, {
      issuers: [
        { url: a.url, audience: 'jitkey' },
        { url: b.url, audience: 'jitkey' },
      ],
    });
    await verifier.ready();
    expect([a.jwksFetches, b.jwksFetches]).toEqual([1, 1]);
    await verifier.verify(a.mint());
    await verifier.verify(b.mint());
    expect([a.discoveryFetches, a.jwksFetches, b.discoveryFetches, b.jwksFetches]).toEqual([1, 1, 1, 1]);
  });

  it('refreshes a JWKS older than its max age, and drops retired keys then', async () => {
    const idp = await issuer();
    const { verifier, clock } = harness(idp);
    const oldKid = idp.kid;
    await verifier.verify(at(idp, clock));
    idp.rotate({ retire: true });
    clock.ms += MAX_AGE - 1;
    await expect(verifier.verify(at(idp, clock, { kid: oldKid }))).rejects.toThrow(/signature/);
    expect(idp.jwksFetches).toBe(1); // still fresh: the old kid is known, so no refetch
    clock.ms += 1;
    const stale = at(idp, clock, { kid: oldKid });
    await expectRefused(verifier.verify(stale), stale, /publishes no key/);
    expect(idp.jwksFetches).toBe(2);
    await expectAccepted(verifier, at(idp, clock));
    expect([idp.discoveryFetches, idp.jwksFetches]).toEqual([1, 2]);
  });
});

describe('key rotation and unknown kids', () => {
  it('accepts a rotated key without a restart: one refetch on the unknown kid', async () => {
    const idp = await issuer();
    const { verifier, clock } = harness(idp);
    await verifier.verify(at(idp, clock));
    clock.ms += COOLDOWN;
    const oldKid = idp.kid;
    idp.rotate();
    await expectAccepted(verifier, at(idp, clock));
    expect(idp.jwksFetches).toBe(2);
    await expectAccepted(verifier, at(idp, clock));
    // The previous key is still published, so a token under its kid needs that key's signature:
    const mislabelled = at(idp, clock, { kid: oldKid });
    await expectRefused(verifier.verify(mislabelled), mislabelled, /signature does not verify/);
    expect([idp.discoveryFetches, idp.jwksFetches]).toEqual([1, 2]);
  });

  it('shares one refetch among concurrent tokens with a new kid', async () => {
    const idp = await issuer();
    const { verifier, clock } = harness(idp);
    await verifier.verify(at(idp, clock));
    clock.ms += COOLDOWN;
    idp.rotate();
    const results = await Promise.all(Array.from({ length: 20 }, () => verifier.verify(at(idp, clock))));
    expect(results).toHaveLength(20);
    expect([idp.discoveryFetches, idp.jwksFetches]).toEqual([1, 2]);
  });

  it('refetches at most once per cooldown however many unknown kids arrive', async () => {
    const idp = await issuer();
    const { verifier, clock } = harness(idp);
    await verifier.verify(at(idp, clock));
    expect(idp.jwksFetches).toBe(1);

    const junk = () => at(idp, clock, { kid: `junk-${Math.random()}` });
    for (let i = 0; i < 10; i++) await expect(verifier.verify(junk())).rejects.toThrow(/publishes no key/);
    expect(idp.jwksFetches).toBe(1); // still cooling down from the first fetch

    clock.ms += COOLDOWN;
    for (let i = 0; i < 10; i++) await expect(verifier.verify(junk())).rejects.toThrow(/publishes no key/);
    await Promise.all(Array.from({ length: 10 }, () => verifier.verify(junk()).catch(() => {})));
    expect(idp.jwksFetches).toBe(2);

    clock.ms += COOLDOWN - 1;
    await expect(verifier.verify(junk())).rejects.toThrow(/publishes no key/);
    expect(idp.jwksFetches).toBe(2);
    clock.ms += 1;
    await expect(verifier.verify(junk())).rejects.toThrow(/publishes no key/);
    expect(idp.jwksFetches).toBe(3);
  });

  it('does not find a key rotated in during the cooldown until the cooldown ends', async () => {
    const idp = await issuer();
    const { verifier, clock } = harness(idp, { jwksCooldownMs: 5_000 });
    await verifier.verify(at(idp, clock));
    idp.rotate();
    const fresh = at(idp, clock);
    await expectRefused(verifier.verify(fresh), fresh, /publishes no key/);
    clock.ms += 5_000;
    await expectAccepted(verifier, at(idp, clock));
    expect(idp.jwksFetches).toBe(2);
  });
});

describe('issuer failures', () => {
  it('answers unavailable, naming the issuer, when the JWKS cannot be fetched; recovers after', async () => {
    const idp = await issuer();
    idp.failJwks(500);
    const { verifier } = harness(idp);
    await expect(verifier.verify(idp.mint())).rejects.toMatchObject({
      code: 'unavailable',
      message: expect.stringContaining(
        `signing keys of issuer ${idp.url}: GET ${idp.jwksUrl} answered HTTP 500`,
      ),
    });
    await expect(verifier.ready()).rejects.toMatchObject({ code: 'unavailable' });
    idp.failJwks(null);
    await verifier.ready();
    await expectAccepted(verifier, idp.mint());
    expect(idp.discoveryFetches).toBe(1);
  });

  it('keeps the last good keys while refreshes fail, up to the stale limit', async () => {
    const idp = await issuer();
    const { verifier, clock, logs } = harness(idp);
    await verifier.verify(at(idp, clock));
    idp.failJwks(503);

    clock.ms += MAX_AGE;
    await expectAccepted(verifier, at(idp, clock));
    expect(idp.jwksFetches).toBe(2);
    expect(logs.some((l) => l.level === 'warn' && /refresh failed/.test(l.msg))).toBe(true);
    await expectAccepted(verifier, at(idp, clock));
    expect(idp.jwksFetches).toBe(2); // the failed attempt counts for the cooldown

    clock.ms = NOW + MAX_STALE - 1;
    await expectAccepted(verifier, at(idp, clock));
    clock.ms = NOW + MAX_STALE;
    await expect(verifier.verify(at(idp, clock))).rejects.toMatchObject({ code: 'unavailable' });
  });

  it('refuses a discovery document that names another issuer', async () => {
    const idp = await issuer({ discovery: { issuer: 'https://token.actions.githubusercontent.com' } });
    const { verifier } = harness(idp);
    await expect(verifier.verify(idp.mint())).rejects.toMatchObject({
      code: 'unavailable',
      message: expect.stringMatching(
        /names issuer 'https:\/\/token.actions.githubusercontent.com', not 'http:\/\/127/,
      ),
    });
    expect(idp.jwksFetches).toBe(0);
  });

  it.each([
    { name: 'http on a public host', jwks_uri: 'http://keys.example.com/jwks', message: /only on loopback/ },
    { name: 'not a URL', jwks_uri: '/.well-known/jwks', message: /not an absolute URL/ },
    { name: 'missing', jwks_uri: undefined, message: /no "jwks_uri"/ },
  ])('refuses a jwks_uri that is $name, without fetching it', async ({ jwks_uri, message }) => {
    const idp = await issuer({ discovery: { jwks_uri } });
    const { verifier, fetched } = harness(idp);
    await expect(verifier.verify(idp.mint())).rejects.toMatchObject({
      code: 'unavailable',
      message: expect.stringMatching(message),
    });
    expect(fetched).toEqual([idp.discoveryUrl]);
  });

  it('answers unavailable when the issuer is down', async () => {
    const idp = await issuer();
    const token = idp.mint();
    await idp.stop();
    const { verifier } = harness(idp);
    await expect(verifier.verify(token)).rejects.toMatchObject({
      code: 'unavailable',
      message: expect.stringMatching(/openid-configuration failed: fetch failed \(ECONNREFUSED\)/),
    });
  });
});
