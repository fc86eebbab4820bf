/**
 * Audience, time and token-id rules of the security floor (reference.md §3, HTTP API), applied to a payload
 * whose signature has already been verified.
 */
import { createHash } from 'node:crypto';
import { quote } from '../text/quote.js';
import { refuseToken } from './refusal.js';

/** The most clock skew the security floor allows. */
export const MAX_CLOCK_TOLERANCE_SECONDS = 60;
/** `exp - iat` above this is refused: GitHub issues 5-minute tokens. */
export const MAX_TOKEN_LIFETIME_SECONDS = 15 * 60;

export interface TimeRules {
  /** Seconds since the epoch (may be fractional). */
  nowSeconds: number;
  toleranceSeconds: number;
  /** Longest `exp - iat`; default `MAX_TOKEN_LIFETIME_SECONDS`. */
  maxLifetimeSeconds?: number;
}

export interface CheckedClaims {
  jti: string;
  /** The token's `exp`, seconds since the epoch. */
  exp: number;
}

function own(payload: Record<string, unknown>, name: string): unknown {
  return Object.hasOwn(payload, name) ? payload[name] : undefined;
}

function numericClaim(payload: Record<string, unknown>, name: string, required: boolean): number | undefined {
  const value = own(payload, name);
  if (value === undefined && !required) return undefined;
  if (typeof value !== 'number' || !Number.isFinite(value)) {
    throw value === undefined
      ? refuseToken('missing', `the token has no "${name}" claim; it is required`, name)
      : refuseToken('invalid', `the token's "${name}" is not a number of seconds since the epoch`, name);
  }
  return value;
}

export function checkAudience(payload: Record<string, unknown>, audience: string): void {
  const aud = own(payload, 'aud');
  if (typeof aud === 'string' && aud === audience) return;
  if (Array.isArray(aud) && aud.length > 0 && aud.every((a) => a === audience)) return;
  const fix = `request the token with audience ${quote(audience)} (the Action's "audience" input)`;
  if (aud === undefined) throw refuseToken('missing', `the token has no "aud" claim; ${fix}`, 'aud');
  if (Array.isArray(aud)) {
    throw refuseToken(
      'audience_mismatch',
      `the token's audience ${quote(aud)} must hold only ${quote(audience)}; ${fix}`,
      'aud',
    );
  }
  throw refuseToken(
    'audience_mismatch',
    `the token's audience ${quote(aud)} is not ${quote(audience)}; ${fix}`,
    'aud',
  );
}

export function checkTimes(payload: Record<string, unknown>, rules: TimeRules): number {
  const exp = numericClaim(payload, 'exp', true)!;
  const iat = numericClaim(payload, 'iat', true)!;
  const nbf = numericClaim(payload, 'nbf', false);
  const { nowSeconds: now, toleranceSeconds: skew } = rules;
  const maxLifetime = rules.maxLifetimeSeconds ?? MAX_TOKEN_LIFETIME_SECONDS;
  if (exp <= iat) {
    throw refuseToken('lifetime', 'the token expires before it was issued ("exp" is not after "iat")', 'exp');
  }
  if (exp - iat > maxLifetime) {
    throw refuseToken(
      'lifetime',
      `the token is valid for ${exp - iat} s ("exp" - "iat"); at most ${maxLifetime} s is accepted` +
        (rules.maxLifetimeSeconds === undefined ? '' : ' for this issuer (issuers[].max_token_lifetime)'),
      'exp',
    );
  }
  if (now - skew >= exp) {
    throw refuseToken(
      'expired',
      `the token expired ${Math.round(now - exp)} s ago; request a fresh token`,
      'exp',
    );
  }
  if (nbf !== undefined && nbf > now + skew) {
    throw refuseToken(
      'not_yet_valid',
      `the token is not valid for another ${Math.round(nbf - now)} s ("nbf"); check the clocks`,
      'nbf',
    );
  }
  if (iat > now + skew) {
    throw refuseToken(
      'issued_in_future',
      `the token was issued ${Math.round(iat - now)} s in the future ("iat"); check the clocks`,
      'iat',
    );
  }
  return exp;
}

export function checkTokenId(payload: Record<string, unknown>): string {
  const jti = own(payload, 'jti');
  if (typeof jti !== 'string' || jti.length === 0) {
    throw refuseToken(
      'missing',
      'the token has no "jti" claim; a unique token id is required to refuse replays',
      'jti',
    );
  }
  return jti;
}

/**
 * `token`: the issuer's tokens carry no `jti` (Buildkite, CircleCI), so the replay key is the
 * SHA-256 of the signed part of the token (`header.payload`): the same token twice is a replay;
 * another token of the same job is not, as with a jti. Not of the whole text: the signature is
 * not signed, and its last base64url character has unused bits (and an ECDSA signature has a
 * twin), so one token can be re-encoded into others that verify. Only a hash is kept.
 */
export function checkClaims(
  payload: Record<string, unknown>,
  audience: string,
  rules: TimeRules,
  replay?: { by: 'token'; signingInput: string },
): CheckedClaims {
  checkAudience(payload, audience);
  const exp = checkTimes(payload, rules);
  if (replay) {
    return { jti: `sha256:${createHash('sha256').update(replay.signingInput).digest('hex')}`, exp };
  }
  return { jti: checkTokenId(payload), exp };
}
