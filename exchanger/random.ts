/**
 * Unguessable identifiers for leases, revoke tokens and request ids, base64url-encoded.
 */
import { randomFillSync } from 'node:crypto';

/**
 * Random bytes drawn from one pooled buffer, refilled from the CSPRNG when spent (as Node's
 * randomUUID does): three small randomBytes calls per exchange showed as ~7 % of its CPU.
 * Every byte is handed out once.
 */
const POOL_SIZE = 8192;
const pool = Buffer.alloc(POOL_SIZE);
let offset = POOL_SIZE;

export function randomString(bytes: number): string {
  if (offset + bytes > POOL_SIZE) {
    randomFillSync(pool);
    offset = 0;
  }
  const out = pool.toString('base64url', offset, offset + bytes);
  offset += bytes;
  return out;
}
