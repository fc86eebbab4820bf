/**
 * OIDC token verification for the exchanger (reference.md §3, HTTP API, "Security floor").
 *
 * Order of checks: size and shape → protected header (algorithm allow-list, no key-bearing
 * headers) → `iss` picked among the configured issuers byte for byte (an unknown issuer costs no
 * network call) → the issuer's key by `kid` → signature (`node:crypto`, synchronous) →
 * audience, times, lifetime, `jti`. Claims are judged only once the signature holds.
 */
import type { Claims } from '../claims.js';
import { type Logger, silentLogger } from '../log.js';
import { UrlRefusal, urlRefusal } from '../net/url-rule.js';
import { quote } from '../text/quote.js';
import { allowedAlgorithms } from './algorithms.js';
import { checkClaims, MAX_CLOCK_TOLERANCE_SECONDS } from './claims-check.js';
import { type CheckedHeader, checkHeader } from './header.js';
import { unusableReason, type VerificationKey, verifySignature } from './jwk.js';
import { createKeySource, type KeySource } from './jwks.js';
import { type CompactParts, decodeSegment, splitCompact } from './jws.js';
import { refuseToken, TokenRefusal } from './refusal.js';
import type { ReadyTokenVerifier, TrustedIssuer, VerifiedToken } from './types.js';

export interface VerifierOptions {
  issuers: readonly TrustedIssuer[];
  /** JWS algorithm allow-list; default `['RS256']`. HMAC and `none` cannot be allowed. */
  algorithms?: readonly string[];
  fetch?: typeof fetch;
  /** Milliseconds since the epoch; default `Date.now`. */
  now?: () => number;
  /** Clock skew allowed on exp/nbf/iat; default and maximum 60. */
  clockToleranceSeconds?: number;
  /** Least time between JWKS refetches caused by an unknown `kid`; default 30 s. */
  jwksCooldownMs?: number;
  /** How long a fetched JWKS is used before it is refreshed; default 10 min. */
  jwksMaxAgeMs?: number;
  /** How long the last good JWKS may serve while refreshes fail; default 1 h. */
  jwksMaxStaleMs?: number;
  /** Timeout of each discovery or JWKS request; default 5 s. */
  fetchTimeoutMs?: number;
  log?: Logger;
}

interface IssuerState {
  audience: string;
  keys: KeySource;
  replay?: 'jti' | 'token';
  maxLifetimeSeconds?: number;
}

function nonNegative(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (!Number.isFinite(value) || value < 0)
    throw new Error(`token verifier: ${name} must be a non-negative number`);
  return value;
}

/** The signature must verify with one of the issuer's keys published under the header's kid. */
function checkSignature(
  candidates: readonly VerificationKey[],
  header: CheckedHeader,
  parts: CompactParts,
  iss: string,
): void {
  const signature = Buffer.from(parts.signature, 'base64url');
  const data = Buffer.from(parts.signingInput, 'latin1');
  let why: string | undefined;
  let tried = false;
  for (const key of candidates) {
    const reason = unusableReason(key, header.spec);
    if (reason !== undefined) why = reason;
    else if (verifySignature(header.spec, data, signature, key.key)) return;
    else tried = true;
  }
  if (tried) {
    throw refuseToken(
      'bad_signature',
      `the token's signature does not verify with issuer ${iss}'s key ${quote(header.kid)}; it was altered or signed by another key`,
    );
  }
  throw refuseToken(
    'unusable_key',
    `issuer ${iss}'s key ${quote(header.kid)} cannot verify ${header.alg}: ${why}`,
    'kid',
  );
}

export function createVerifier(options: VerifierOptions): ReadyTokenVerifier {
  const algorithms = allowedAlgorithms(options.algorithms);
  const now = options.now ?? Date.now;
  const log = options.log ?? silentLogger;
  const tolerance = nonNegative(
    'clockToleranceSeconds',
    options.clockToleranceSeconds,
    MAX_CLOCK_TOLERANCE_SECONDS,
  );
  if (tolerance > MAX_CLOCK_TOLERANCE_SECONDS) {
    throw new Error(
      `token verifier: clockToleranceSeconds is at most ${MAX_CLOCK_TOLERANCE_SECONDS} (got ${tolerance})`,
    );
  }
  const keyOptions = {
    fetch: options.fetch ?? globalThis.fetch,
    now,
    log,
    cooldownMs: nonNegative('jwksCooldownMs', options.jwksCooldownMs, 30_000),
    maxAgeMs: nonNegative('jwksMaxAgeMs', options.jwksMaxAgeMs, 10 * 60_000),
    maxStaleMs: nonNegative('jwksMaxStaleMs', options.jwksMaxStaleMs, 60 * 60_000),
    timeoutMs: nonNegative('fetchTimeoutMs', options.fetchTimeoutMs, 5_000),
  };

  if (options.issuers.length === 0) throw new Error('token verifier: no issuers are configured');
  const issuers = new Map<string, IssuerState>();
  for (const { url, audience, replay, maxLifetimeSeconds } of options.issuers) {
    // An issuer is a base URL: `/.well-known/openid-configuration` is appended to it.
    const refusal = urlRefusal(url, { refuseCredentials: true, refuseQuery: true });
    if (refusal) throw new UrlRefusal(refusal.reason, `token verifier: issuer refused: ${refusal.message}`);
    if (typeof audience !== 'string' || audience.length === 0) {
      throw new Error(`token verifier: issuer ${url} needs a non-empty audience`);
    }
    if (issuers.has(url)) throw new Error(`token verifier: issuer ${url} is configured twice`);
    issuers.set(url, {
      audience,
      keys: createKeySource({ ...keyOptions, issuer: url }),
      ...(replay ? { replay } : {}),
      ...(maxLifetimeSeconds !== undefined ? { maxLifetimeSeconds } : {}),
    });
  }
  const trusted = [...issuers.keys()].join(', ');

  async function verify(token: string): Promise<VerifiedToken> {
    const parts = splitCompact(token);
    const header = checkHeader(decodeSegment(parts.header, 'header'), algorithms);
    const payload = decodeSegment(parts.payload, 'payload');

    const iss = Object.hasOwn(payload, 'iss') ? payload.iss : undefined;
    if (typeof iss !== 'string') throw refuseToken('missing', 'the token has no "iss" claim', 'iss');
    const issuer = issuers.get(iss);
    if (!issuer) {
      // Which issuers are trusted is for the operators' log, not for whoever sent a token: the
      // list names internal hosts (a self-managed GitLab) and ids (a CircleCI organization).
      throw new TokenRefusal(
        'untrusted_issuer',
        `the token's issuer ${quote(iss)} is not one this exchanger trusts; its operators can say which it does (the policy's issuers)`,
        { claim: 'iss', detail: `trusted: ${trusted}` },
      );
    }

    const candidates = await issuer.keys.keysFor(header.kid);
    if (candidates.length === 0) {
      throw refuseToken(
        'unknown_key',
        `issuer ${iss} publishes no key ${quote(header.kid)}; the token was not signed by this issuer's current keys`,
        'kid',
      );
    }
    checkSignature(candidates, header, parts, iss);

    const { jti, exp } = checkClaims(
      payload,
      issuer.audience,
      {
        nowSeconds: now() / 1000,
        toleranceSeconds: tolerance,
        ...(issuer.maxLifetimeSeconds !== undefined ? { maxLifetimeSeconds: issuer.maxLifetimeSeconds } : {}),
      },
      issuer.replay === 'token' ? { by: 'token', signingInput: parts.signingInput } : undefined,
    );
    return { claims: payload as Claims, jti, issuer: iss, expiresAt: new Date(exp * 1000) };
  }

  return {
    verify,
    async ready() {
      await Promise.all([...issuers.values()].map((i) => i.keys.ready()));
    },
  };
}
