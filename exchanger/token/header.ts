/**
 * Protected-header checks, done on the decoded header before any key is looked up, so that a
 * key or key location is never taken from the token itself.
 */
import { invalidToken } from '../errors.js';
import type { AlgorithmSpec } from './algorithms.js';
import { quote } from './jws.js';

/** Headers that carry a key or say where to fetch one: the attacker would choose the key. */
const KEY_BEARING_HEADERS = ['jku', 'x5u', 'jwk', 'x5c'] as const;

export interface CheckedHeader {
  alg: string;
  spec: AlgorithmSpec;
  kid: string;
}

export function checkHeader(
  header: Record<string, unknown>,
  allowed: ReadonlyMap<string, AlgorithmSpec>,
): CheckedHeader {
  const alg = Object.hasOwn(header, 'alg') ? header.alg : undefined;
  if (typeof alg !== 'string') throw invalidToken('the token header has no "alg"');
  if (alg.toLowerCase() === 'none') {
    throw invalidToken('unsigned tokens (alg "none") are refused; the token must be signed by its issuer');
  }
  if (/^HS\d+$/i.test(alg)) {
    throw invalidToken(
      `HMAC-signed tokens (alg ${quote(alg)}) are refused; only the issuer's public keys are trusted`,
    );
  }
  const spec = allowed.get(alg);
  if (!spec) {
    throw invalidToken(`algorithm ${quote(alg)} is not allowed; allowed: ${[...allowed.keys()].join(', ')}`);
  }
  for (const name of KEY_BEARING_HEADERS) {
    if (Object.hasOwn(header, name)) {
      throw invalidToken(
        `the token header carries "${name}"; keys are taken only from the issuer's published JWKS, never from the token`,
      );
    }
  }
  if (Object.hasOwn(header, 'crit')) {
    throw invalidToken('the token header has "crit"; no critical JWS extensions are supported');
  }
  const kid = Object.hasOwn(header, 'kid') ? header.kid : undefined;
  if (typeof kid !== 'string' || kid.length === 0) {
    throw invalidToken('the token header has no "kid"; it is needed to pick the issuer\'s signing key');
  }
  return { alg, spec, kid };
}
