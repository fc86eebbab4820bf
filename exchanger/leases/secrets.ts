/**
 * Lease identifiers and the revoke_token. The store keeps only a hash of the revoke_token;
 * upstream revocation material (a GitHub token, a Kubernetes Secret's reference) is sealed under
 * a key derived from the revoke_token and, with a webhook secret set, a second time under one
 * derived from that secret (`run-end.ts`). A copy of the database alone reveals nothing.
 */
import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';
import { hashSecret, secretMatches } from '../digest.js';
import { randomString } from '../random.js';

const SEAL_VERSION = 'v1';
const HKDF_INFO = Buffer.from('jitkey lease revocation v1');

export function newLeaseId(): string {
  return `lease_${randomString(16)}`;
}

export function newRevokeToken(): string {
  return randomString(32);
}

/** The store keeps only this hash of a revoke_token. */
export const hashRevokeToken = hashSecret;
export const revokeTokenMatches = secretMatches;

function deriveKey(revokeToken: string, leaseId: string): Buffer {
  return Buffer.from(hkdfSync('sha256', revokeToken, leaseId, HKDF_INFO, 32));
}

/** AES-256-GCM under HKDF(revoke_token, salt = lease id); the lease id is also bound as AAD. */
export function seal(secret: string, revokeToken: string, leaseId: string): string {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', deriveKey(revokeToken, leaseId), iv);
  cipher.setAAD(Buffer.from(leaseId));
  const body = Buffer.concat([cipher.update(secret, 'utf8'), cipher.final()]);
  const tag = cipher.getAuthTag();
  return [SEAL_VERSION, iv.toString('base64url'), body.toString('base64url'), tag.toString('base64url')].join(
    '.',
  );
}

/** Throws when the revoke_token is not the one the secret was sealed under. */
export function unseal(sealed: string, revokeToken: string, leaseId: string): string {
  const [version, iv, body, tag] = sealed.split('.');
  if (version !== SEAL_VERSION || !iv || !body || !tag)
    throw new Error('unrecognised sealed revocation format');
  const decipher = createDecipheriv(
    'aes-256-gcm',
    deriveKey(revokeToken, leaseId),
    Buffer.from(iv, 'base64url'),
  );
  decipher.setAAD(Buffer.from(leaseId));
  decipher.setAuthTag(Buffer.from(tag, 'base64url'));
  return Buffer.concat([decipher.update(Buffer.from(body, 'base64url')), decipher.final()]).toString('utf8');
}
