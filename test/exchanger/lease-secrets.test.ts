import { describe, expect, it } from 'vitest';
import {
  hashRevokeToken,
  newLeaseId,
  newRevokeToken,
  revokeTokenMatches,
  seal,
  unseal,
} from '../../exchanger/leases/secrets.js';

describe('lease secrets', () => {
  it('seals a revocation secret that only the right revoke_token and lease id open', () => {
    const token = newRevokeToken();
    const lease = newLeaseId();
    const sealed = seal('ghs_secretvalue', token, lease);
    expect(sealed).not.toContain('ghs_secretvalue');
    expect(unseal(sealed, token, lease)).toBe('ghs_secretvalue');
    expect(() => unseal(sealed, newRevokeToken(), lease)).toThrow();
    expect(() => unseal(sealed, token, newLeaseId())).toThrow();
  });

  it('stores only a hash of the revoke_token and compares it in constant time', () => {
    const token = newRevokeToken();
    const hash = hashRevokeToken(token);
    expect(hash).toMatch(/^[0-9a-f]{64}$/);
    expect(hash).not.toContain(token);
    expect(revokeTokenMatches(token, hash)).toBe(true);
    expect(revokeTokenMatches(`${token}x`, hash)).toBe(false);
    expect(revokeTokenMatches(token, 'abcd')).toBe(false);
  });

  it('makes unguessable, distinct ids and tokens', () => {
    const ids = new Set(Array.from({ length: 1000 }, newLeaseId));
    expect(ids.size).toBe(1000);
    expect(newRevokeToken()).toMatch(/^[A-Za-z0-9_-]{43}$/);
  });
});
