/**
 * Protected-header checks, done on the decoded header before any key is looked up, so that a
 * key or key location is never taken from the token itself.
 */

import { quote } from '../text/quote.js';
import type { AlgorithmSpec } from './algorithms.js';
import { refuseToken } from './refusal.js';

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
  if (typeof alg !== 'string') throw refuseToken('missing', 'the token header has no "alg"', 'alg');
  if (alg.toLowerCase() === 'none') {
    throw refuseToken(
      'algorithm_refused',
      'unsigned tokens (alg "none") are refused; the token must be signed by its issuer',
      'alg',
    );
  }
  if (/^HS\d+$/i.test(alg)) {
    throw refuseToken(
      'algorithm_refused',
      `HMAC-signed tokens (alg ${quote(alg)}) are refused; only the issuer's public keys are trusted`,
      'alg',
    );
  }
  const spec = allowed.get(alg);
  if (!spec) {
    throw refuseToken(
      'algorithm_refused',
      `algorithm ${quote(alg)} is not allowed; allowed: ${[...allowed.keys()].join(', ')}`,
      'alg',
    );
  }
  for (const name of KEY_BEARING_HEADERS) {
    if (Object.hasOwn(header, name)) {
      throw refuseToken(
        'header_refused',
        `the token header carries "${name}"; keys are taken only from the issuer's published JWKS, never from the token`,
        name,
      );
    }
  }
  if (Object.hasOwn(header, 'crit')) {
    throw refuseToken(
      'header_refused',
      'the token header has "crit"; no critical JWS extensions are supported',
      'crit',
    );
  }
  const kid = Object.hasOwn(header, 'kid') ? header.kid : undefined;
  if (typeof kid !== 'string' || kid.length === 0) {
    throw refuseToken(
      'missing',
      'the token header has no "kid"; it is needed to pick the issuer\'s signing key',
      'kid',
    );
  }
  return { alg, spec, kid };
}
