/**
 * The store contract for the console's reads (part of `storeContract`): keyset pages of the audit
 * trail under every filter the audit screen offers, and the leases in force.
 */
import { describe, expect, it } from 'vitest';
import type { AuditCursor, AuditEntry } from '../../exchanger/store/audit-types.js';
import type { LeaseRecord } from '../../exchanger/store/leases-types.js';
import type { Store, StoreOptions } from '../../exchanger/store/types.js';

const T0 = new Date('2025-03-01T12:00:00.000Z');
const at = (minutes: number) => new Date(T0.getTime() + minutes * 60_000);

const row = (n: number, overrides: Partial<AuditEntry> = {}): AuditEntry => ({
  at: at(n),
  requestId: `req-${n}`,
  event: 'exchange',
  outcome: 'allowed',
  role: 'deploy',
  provider: 'aws',
  reason: `row ${n}`,
  claims: { repository: 'acme/web' },
  ...overrides,
});

const lease = (id: string, overrides: Partial<LeaseRecord> = {}): LeaseRecord => ({
  id,
  role: 'deploy',
  provider: 'github',
  createdAt: at(0),
  expiresAt: at(60),
  revokeTokenHash: 'a'.repeat(64),
  repository: 'acme/web',
  ...overrides,
});

export function consoleReadsContract(open: (options?: StoreOptions) => Promise<Store>): void {
  describe('console reads', () => {
    it('pages the audit trail newest first by keyset, rows of one instant included once', async () => {
      const store = await open();
      // Three rows share one instant: the id breaks the tie, so none is skipped or repeated.
      for (const n of [1, 2, 3, 3, 3, 4, 5]) await store.record(row(n, { reason: `row ${n}` }));
      const seen: string[] = [];
      let after: AuditCursor | undefined;
      let pages = 0;
      do {
        const page = await store.auditPage({}, { limit: 2, ...(after ? { after } : {}) });
        seen.push(...page.entries.map((e) => e.reason));
        after = page.next;
        pages++;
      } while (after);
      expect(seen).toEqual(['row 5', 'row 4', 'row 3', 'row 3', 'row 3', 'row 2', 'row 1']);
      expect(pages).toBe(4);
      expect((await store.auditPage({}, { limit: 7 })).next).toBeUndefined();
    });

    it('filters by time range, provider, actor (any case) and the requests a login decided', async () => {
      const store = await open();
      await store.record(row(1, { provider: 'github' }));
      await store.record(row(2, { requestId: 'req-a', event: 'approval_request', outcome: 'pending' }));
      await store.record(row(3, { requestId: 'req-a', event: 'approve', actor: 'Carol', actorId: '3001' }));
      await store.record(row(4, { requestId: 'req-b', event: 'approve', actor: 'alice', actorId: '1001' }));
      await store.record(row(5, { requestId: 'req-a', event: 'redeem' }));
      const reasons = async (filter: Parameters<Store['auditPage']>[0]) =>
        (await store.auditPage(filter, { limit: 50 })).entries.map((e) => e.reason);
      expect(await reasons({ since: at(2), until: at(4) })).toEqual(['row 3', 'row 2']);
      expect(await reasons({ provider: 'github' })).toEqual(['row 1']);
      expect(await reasons({ actor: 'carol' })).toEqual(['row 3']);
      const carol = { login: 'CAROL', id: '3001' };
      expect(await reasons({ decidedBy: carol })).toEqual(['row 5', 'row 3', 'row 2']);
      expect(await reasons({ decidedBy: { ...carol, login: 'carol' }, outcome: 'pending' })).toEqual([
        'row 2',
      ]);
      const streamed: string[] = [];
      for await (const e of store.streamAudit({ decidedBy: carol, until: at(5) })) streamed.push(e.reason);
      expect(streamed).toEqual(['row 3', 'row 2']);
    });

    it("a refused approve or deny does not put its request in the sender's share", async () => {
      const store = await open();
      await store.record(row(1, { requestId: 'req-x', event: 'approval_request', outcome: 'pending' }));
      await store.record(
        row(2, {
          requestId: 'req-x',
          event: 'approve',
          actor: 'alice',
          actorId: '1001',
          clientAddress: '198.51.100.23',
        }),
      );
      // Mallory is no approver: her deny and approve are refused, written with an error code.
      for (const event of ['deny', 'approve'] as const) {
        await store.record(
          row(3, {
            requestId: 'req-x',
            event,
            outcome: 'denied',
            errorCode: 'access_denied',
            actor: 'mallory',
            actorId: '666',
          }),
        );
      }
      await store.record(
        row(4, { requestId: 'req-y', event: 'deny', outcome: 'denied', actor: 'dave', actorId: '4001' }),
      );
      const mallory = { login: 'mallory', id: '666' };
      expect((await store.auditPage({ decidedBy: mallory }, { limit: 50 })).entries).toEqual([]);
      const streamed: AuditEntry[] = [];
      for await (const e of store.streamAudit({ decidedBy: mallory })) streamed.push(e);
      expect(streamed).toEqual([]);
      // Decisions that took effect still count: alice's approve, dave's deny.
      const alice = { login: 'alice', id: '1001' };
      expect((await store.auditPage({ decidedBy: alice }, { limit: 50 })).entries).toHaveLength(4);
      expect(
        (await store.auditPage({ decidedBy: { login: 'dave', id: '4001' } }, { limit: 50 })).entries.map(
          (e) => e.requestId,
        ),
      ).toEqual(['req-y']);
    });

    it('a login that changed hands does not carry its decisions: the user id must match too', async () => {
      const store = await open();
      // Alice (id 1001) approved req-a, then renamed her account; Eve registered the login 'alice'.
      await store.record(row(1, { requestId: 'req-a', event: 'approval_request', outcome: 'pending' }));
      await store.record(row(2, { requestId: 'req-a', event: 'approve', actor: 'alice', actorId: '1001' }));
      // A decision written before ids were kept names none: it counts by the login alone.
      await store.record(row(3, { requestId: 'req-old', event: 'approve', actor: 'alice' }));
      // One without an id written since (by an older process on the same store) counts for nobody.
      await store.record({
        ...row(4, { requestId: 'req-lost', event: 'approve', actor: 'alice' }),
        at: new Date(Date.now() + 60_000),
      });
      const requests = async (decidedBy: { login: string; id: string }) => {
        const ids = (await store.auditPage({ decidedBy }, { limit: 50 })).entries.map((e) => e.requestId);
        const streamed: string[] = [];
        for await (const e of store.streamAudit({ decidedBy })) streamed.push(e.requestId);
        expect(streamed).toEqual(ids);
        return ids;
      };
      expect(await requests({ login: 'Alice', id: '1001' })).toEqual(['req-old', 'req-a', 'req-a']);
      expect(await requests({ login: 'alice', id: '7777' })).toEqual(['req-old']);
      const [approval] = (await store.auditPage({ requestId: 'req-a', since: at(2) }, { limit: 1 })).entries;
      expect(approval).toMatchObject({ actor: 'alice', actorId: '1001' });
    });

    it('lists the leases in force, newest first, narrowed by provider, repository and role', async () => {
      const store = await open();
      const entry = (id: string): AuditEntry => row(0, { leaseId: id });
      await store.record(entry('l-1'), lease('l-1'));
      await store.record(
        entry('l-2'),
        lease('l-2', { createdAt: at(1), provider: 'aws', repository: 'Acme/Infra' }),
      );
      await store.record(entry('l-3'), lease('l-3', { createdAt: at(2), expiresAt: at(10) }));
      await store.record(entry('l-4'), lease('l-4', { createdAt: at(3), role: 'other' }));
      await store.record(entry('l-5'), lease('l-5', { createdAt: at(4) }));
      await store.markRevoked('l-5', at(5), row(5, { event: 'revoke', outcome: 'revoked' }));
      const ids = async (filter: Omit<Parameters<Store['listActiveLeases']>[0], 'activeAt'>) =>
        (await store.listActiveLeases({ activeAt: at(20), ...filter })).map((l) => l.id);
      expect(await ids({})).toEqual(['l-4', 'l-2', 'l-1']);
      expect(await ids({ provider: 'github' })).toEqual(['l-4', 'l-1']);
      expect(await ids({ repository: 'acme/infra' })).toEqual(['l-2']);
      expect(await ids({ role: 'other' })).toEqual(['l-4']);
      expect(await ids({ limit: 1 })).toEqual(['l-4']);
    });
  });
}
