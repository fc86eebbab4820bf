/**
 * Bearer secrets the exchanger hands out (revoke tokens, approval poll tokens) are stored only as
 * a SHA-256 hash and compared in constant time, so a copy of the database presents none of them.
 */
import { createHash, timingSafeEqual } from 'node:crypto';

export function hashSecret(secret: string): string {
  return createHash('sha256').update(secret).digest('hex');
}

export function secretMatches(secret: string, storedHash: string): boolean {
  const a = Buffer.from(hashSecret(secret), 'hex');
  const b = Buffer.from(storedHash, 'hex');
  return a.length === b.length && timingSafeEqual(a, b);
}
