/**
 * The verifier's per-issuer rules for other CI systems (docs/ci-systems.md): tokens without `jti`
 * are keyed by their SHA-256, and each issuer's own longest lifetime, against real loopback
 * stand-ins minting each system's claim shape.
 */
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { JitkeyError } from '../../exchanger/errors.js';
import { createVerifier } from '../../exchanger/token/verify-token.js';
import { type OidcIssuer, startOidcIssuer } from '../support/oidc-issuer.js';
import { NOW } from './setup.js';

let buildkite: OidcIssuer;
let circleci: OidcIssuer;
let gitlab: OidcIssuer;

beforeAll(async () => {
  const now = () => NOW;
  [buildkite, circleci, gitlab] = await Promise.all([
    startOidcIssuer({ shape: 'buildkite', now }),
    startOidcIssuer({ shape: 'circleci', now, path: '/org/b2e1a0c3-5d4f-4e6a-9b8c-7d6e5f4a3b21' }),
    startOidcIssuer({ shape: 'gitlab', now }),
  ]);
});
afterAll(() => Promise.all([buildkite.stop(), circleci.stop(), gitlab.stop()]));

const verifierFor = (issuers: Parameters<typeof createVerifier>[0]['issuers']) =>
  createVerifier({ issuers, now: () => NOW });
const refusal = async (p: Promise<unknown>) => {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(JitkeyError);
  return (err as JitkeyError).message;
};

describe('tokens without jti (replay: token)', () => {
  it('are keyed by the SHA-256 of the signed part: the same token twice, the same key', async () => {
    const v = verifierFor([{ url: buildkite.url, audience: 'jitkey', replay: 'token' }]);
    const token = buildkite.mint();
    expect(buildkite.claims()).not.toHaveProperty('jti');
    const first = await v.verify(token);
    const again = await v.verify(token);
    const signed = token.slice(0, token.lastIndexOf('.'));
    expect(first.jti).toBe(`sha256:${createHash('sha256').update(signed).digest('hex')}`);
    expect(again.jti).toBe(first.jti);
    // Another token of the same job (same claims, another signature time) is another key.
    const other = buildkite.mint({ nbf: NOW / 1000 - 1 });
    expect((await v.verify(other)).jti).not.toBe(first.jti);
  });

  it('are one key however the unsigned signature is re-encoded', async () => {
    const v = verifierFor([{ url: buildkite.url, audience: 'jitkey', replay: 'token' }]);
    const token = buildkite.mint();
    const dot = token.lastIndexOf('.');
    const signature = token.slice(dot + 1);
    const bytes = Buffer.from(signature, 'base64url');
    // The last character's unused bits: another text, the same signature bytes.
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    const twin = [...alphabet]
      .map((c) => signature.slice(0, -1) + c)
      .find((s) => s !== signature && Buffer.from(s, 'base64url').equals(bytes));
    expect(twin).toBeDefined();
    const reencoded = `${token.slice(0, dot)}.${twin}`;
    expect(reencoded).not.toBe(token);
    expect((await v.verify(reencoded)).jti).toBe((await v.verify(token)).jti);
  });

  it('are refused by an issuer that promises a jti', async () => {
    const v = verifierFor([{ url: buildkite.url, audience: 'jitkey' }]);
    expect(await refusal(v.verify(buildkite.mint()))).toContain('the token has no "jti" claim');
  });
});

describe("each issuer's longest token lifetime", () => {
  it("refuses CircleCI's one-hour token under the 15-minute floor, accepts it at its kind's hour", async () => {
    const aud = 'b2e1a0c3-5d4f-4e6a-9b8c-7d6e5f4a3b21';
    const idp = await startOidcIssuer({ shape: 'circleci', audience: aud, now: () => NOW });
    try {
      const token = idp.mint();
      expect(
        await refusal(verifierFor([{ url: idp.url, audience: aud, replay: 'token' }]).verify(token)),
      ).toBe('the token is valid for 3600 s ("exp" - "iat"); at most 900 s is accepted');
      const hour = verifierFor([{ url: idp.url, audience: aud, replay: 'token', maxLifetimeSeconds: 3600 }]);
      expect((await hour.verify(token)).claims['oidc.circleci.com/project-id']).toBe(
        'c4f1e2d3-a5b6-4c7d-8e9f-0a1b2c3d4e5f',
      );
      const longer = idp.mint({}, { lifetimeSeconds: 7200 });
      expect(await refusal(hour.verify(longer))).toBe(
        `the token is valid for 7200 s ("exp" - "iat"); at most 3600 s is accepted for this issuer (issuers[].max_token_lifetime)`,
      );
    } finally {
      await idp.stop();
    }
  });

  it('keeps the jti of a GitLab token as the replay key', async () => {
    const v = verifierFor([{ url: gitlab.url, audience: 'jitkey', replay: 'jti', maxLifetimeSeconds: 3600 }]);
    const verified = await v.verify(gitlab.mint({ jti: 'gitlab-jti-1' }));
    expect([verified.jti, verified.claims.project_path]).toEqual(['gitlab-jti-1', 'my-group/my-project']);
  });
});
