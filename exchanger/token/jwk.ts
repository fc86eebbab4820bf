/**
 * Turning a fetched JWKS into `node:crypto` public keys, once per fetch, and verifying signatures
 * with them synchronously (much faster than WebCrypto through `jose`).
 */
import { constants, createPublicKey, type JsonWebKey, type KeyObject, verify } from 'node:crypto';
import type { Logger } from '../log.js';
import type { AlgorithmSpec } from './algorithms.js';

/** RSA keys shorter than this are skipped. */
const MIN_RSA_BITS = 2048;
const EC_SIGNATURE_BYTES = { 'P-256': 64, 'P-384': 96, 'P-521': 132 } as const;

export interface VerificationKey {
  kid: string;
  kty: string;
  crv?: string;
  alg?: string;
  use?: string;
  keyOps?: readonly string[];
  key: KeyObject;
}

/** kid → the keys published under it (normally one). */
export type KeyIndex = ReadonlyMap<string, readonly VerificationKey[]>;

function str(jwk: Record<string, unknown>, name: string): string | undefined {
  const v = Object.hasOwn(jwk, name) ? jwk[name] : undefined;
  return typeof v === 'string' ? v : undefined;
}

function importOne(jwk: Record<string, unknown>): VerificationKey | string {
  const kid = str(jwk, 'kid');
  const kty = str(jwk, 'kty');
  if (!kid) return 'it has no "kid"';
  if (kty !== 'RSA' && kty !== 'EC') return `its kty ${JSON.stringify(jwk.kty)} is not RSA or EC`;
  const { d: _private, ...pub } = jwk;
  let key: KeyObject;
  try {
    key = createPublicKey({ key: pub as JsonWebKey, format: 'jwk' });
  } catch (err) {
    return `it does not import: ${(err as Error).message}`;
  }
  const bits = key.asymmetricKeyDetails?.modulusLength;
  if (kty === 'RSA' && (bits === undefined || bits < MIN_RSA_BITS))
    return `its RSA modulus is under ${MIN_RSA_BITS} bits`;
  const ops = Object.hasOwn(jwk, 'key_ops') ? jwk.key_ops : undefined;
  const out: VerificationKey = { kid, kty, key };
  const crv = str(jwk, 'crv');
  const alg = str(jwk, 'alg');
  const use = str(jwk, 'use');
  if (crv !== undefined) out.crv = crv;
  if (alg !== undefined) out.alg = alg;
  if (use !== undefined) out.use = use;
  if (ops !== undefined) out.keyOps = Array.isArray(ops) ? ops.filter((o) => typeof o === 'string') : [];
  return out;
}

/** Imports every usable key of a JWKS document; a key that cannot be used is skipped and logged. */
export function importJwks(doc: unknown, context: { issuer: string; log: Logger }): KeyIndex {
  const keys = (doc as { keys?: unknown } | null)?.keys;
  if (!Array.isArray(keys)) throw new Error('the JWKS document has no "keys" array');
  const index = new Map<string, VerificationKey[]>();
  for (const jwk of keys) {
    if (typeof jwk !== 'object' || jwk === null || Array.isArray(jwk)) continue;
    const imported = importOne(jwk as Record<string, unknown>);
    if (typeof imported === 'string') {
      context.log.warn('skipping a JWKS key', {
        issuer: context.issuer,
        kid: str(jwk, 'kid'),
        reason: imported,
      });
      continue;
    }
    const list = index.get(imported.kid);
    if (list) list.push(imported);
    else index.set(imported.kid, [imported]);
  }
  return index;
}

/** Why `key` may not verify `spec`, or undefined when it may (RFC 7517 `kty`, `crv`, `use`, `key_ops`, `alg`). */
export function unusableReason(key: VerificationKey, spec: AlgorithmSpec): string | undefined {
  if (key.kty !== spec.kty) return `its kty is ${key.kty}, not ${spec.kty}`;
  if (spec.crv !== undefined && key.crv !== spec.crv) return `its curve is ${key.crv}, not ${spec.crv}`;
  if (key.alg !== undefined && key.alg !== spec.name)
    return `it is published for ${key.alg}, not ${spec.name}`;
  if (key.use !== undefined && key.use !== 'sig') return `its "use" is ${JSON.stringify(key.use)}, not "sig"`;
  if (key.keyOps !== undefined && !key.keyOps.includes('verify'))
    return 'its "key_ops" do not include "verify"';
  return undefined;
}

export function verifySignature(
  spec: AlgorithmSpec,
  data: Buffer,
  signature: Buffer,
  key: KeyObject,
): boolean {
  try {
    if (spec.kty === 'EC') {
      if (signature.length !== EC_SIGNATURE_BYTES[spec.crv!]) return false;
      return verify(spec.hash, data, { key, dsaEncoding: 'ieee-p1363' }, signature);
    }
    if (spec.pss) {
      return verify(
        spec.hash,
        data,
        { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_DIGEST },
        signature,
      );
    }
    return verify(spec.hash, data, key, signature);
  } catch {
    return false;
  }
}
