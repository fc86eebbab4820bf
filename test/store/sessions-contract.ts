/**
 * The store contract for console sessions (part of `storeContract`): stored by the hash of their
 * id, read by it from any instance, extended never past their absolute end, deleted at sign-out,
 * purged once expired; and one request's audit rows found by its id.
 */
import { describe, expect, it } from 'vitest';
import type { AuditEntry } from '../../exchanger/store/audit-types.js';
import type { ConsoleSession } from '../../exchanger/store/sessions-types.js';
import type { Store, StoreOptions } from '../../exchanger/store/types.js';

const T0 = new Date('2025-03-01T12:00:00.000Z');
const at = (minutes: number) => new Date(T0.getTime() + minutes * 60_000);

export function consoleSession(overrides: Partial<ConsoleSession> = {}): ConsoleSession {
  return {
    idHash: 'c'.repeat(64),
    login: 'alice',
    userId: '1001',
    createdAt: T0,
    expiresAt: at(60),
    absoluteExpiresAt: at(12 * 60),
    ...overrides,
  };
}

const row = (requestId: string, minute: number): AuditEntry => ({
  at: at(minute),
  requestId,
  event: 'approve',
  outcome: 'allowed',
  reason: `row ${minute}`,
  claims: {},
});

export function sessionContract(open: (options?: StoreOptions) => Promise<Store>): void {
  describe('console sessions', () => {
    it('are read back by the hash of their id, from another instance too', async () => {
      const a = await open();
      const b = await open();
      await a.createSession(consoleSession());
      expect(await b.getSession('c'.repeat(64))).toEqual(consoleSession());
      expect(await b.getSession('d'.repeat(64))).toBeUndefined();
    });

    it('are extended up to their absolute end, never past it', async () => {
      const store = await open();
      await store.createSession(consoleSession({ absoluteExpiresAt: at(90) }));
      await store.extendSession('c'.repeat(64), at(80));
      expect((await store.getSession('c'.repeat(64)))?.expiresAt).toEqual(at(80));
      await store.extendSession('c'.repeat(64), at(140));
      expect((await store.getSession('c'.repeat(64)))?.expiresAt).toEqual(at(90));
    });

    it('are gone once deleted (sign-out), and deleting again does nothing', async () => {
      const store = await open();
      await store.createSession(consoleSession());
      await store.deleteSession('c'.repeat(64));
      await store.deleteSession('c'.repeat(64));
      expect(await store.getSession('c'.repeat(64))).toBeUndefined();
    });

    it('are purged once expired, and kept before', async () => {
      const store = await open();
      await store.createSession(consoleSession({ idHash: 'e'.repeat(64), expiresAt: at(10) }));
      await store.createSession(consoleSession({ idHash: 'f'.repeat(64), expiresAt: at(70) }));
      await store.purgeExpired(at(30));
      expect(await store.getSession('e'.repeat(64))).toBeUndefined();
      expect(await store.getSession('f'.repeat(64))).toBeDefined();
    });

    it('refuse a second session with the same id hash', async () => {
      const store = await open();
      await store.createSession(consoleSession());
      await expect(store.createSession(consoleSession({ login: 'mallory' }))).rejects.toThrow();
      expect((await store.getSession('c'.repeat(64)))?.login).toBe('alice');
    });
  });

  describe('audit rows of one request', () => {
    it('are found by the request id, newest first, and no others', async () => {
      const store = await open();
      await store.record(row('req_one', 1));
      await store.record(row('req_two', 2));
      await store.record(row('req_one', 3));
      const rows = await store.queryAudit({ requestId: 'req_one' });
      expect(rows.map((r) => r.reason)).toEqual(['row 3', 'row 1']);
    });
  });
}
