/**
 * The store contract for approval requests (part of `storeContract`): create, read, list, and the
 * compare-and-swap update that decisions and redemptions rely on — exactly one of concurrent
 * updates on a version lands, with its audit row (and lease), on one instance or across two.
 */
import { describe, expect, it } from 'vitest';
import type { ApprovalListFilter, ApprovalRequestRecord } from '../../exchanger/store/approvals-types.js';
import type { AuditEntry } from '../../exchanger/store/audit-types.js';
import type { Store, StoreOptions } from '../../exchanger/store/types.js';

const T0 = new Date('2025-03-01T12:00:00.000Z');
const at = (minutes: number) => new Date(T0.getTime() + minutes * 60_000);

export function approvalRequest(overrides: Partial<ApprovalRequestRecord> = {}): ApprovalRequestRecord {
  return {
    id: 'req_apr1',
    role: 'db-admin',
    status: 'pending',
    version: 1,
    pollTokenHash: 'b'.repeat(64),
    createdAt: T0,
    expiresAt: at(30),
    durationSeconds: 900,
    approvers: ['alice', 'acme/platform-leads'],
    required: 1,
    claims: {
      repository: 'acme/db-ops',
      repository_id: '223344',
      ref: 'refs/heads/main',
      run_id: '42',
      run_attempt: '1',
      actor: 'bob',
      actor_id: '1002',
    },
    approvals: [],
    ...overrides,
  };
}

function audit(overrides: Partial<AuditEntry> = {}): AuditEntry {
  return {
    at: T0,
    requestId: 'req_apr1',
    event: 'approval_request',
    outcome: 'pending',
    role: 'db-admin',
    reason: 'waiting for 1 approval',
    claims: { repository: 'acme/db-ops', run_id: '42' },
    ...overrides,
  };
}

export function approvalRequestContract(open: (options?: StoreOptions) => Promise<Store>): void {
  describe('approval requests', () => {
    it('reads back what was created, at version 1, with its audit row', async () => {
      const store = await open();
      const request = approvalRequest({ version: 7 });
      await store.createApprovalRequest(request, audit());
      expect(await store.getApprovalRequest('req_apr1')).toEqual({ ...request, version: 1 });
      expect(await store.queryAudit({})).toEqual([audit()]);
      expect(await store.getApprovalRequest('req_nope')).toBeUndefined();
    });

    it('keeps optional fields absent', async () => {
      const store = await open();
      const { durationSeconds: _, ...bare } = approvalRequest();
      await store.createApprovalRequest(bare, audit());
      expect(await store.getApprovalRequest('req_apr1')).toEqual(bare);
    });

    it('a duplicate id fails as unavailable and writes no audit row', async () => {
      const store = await open();
      await store.createApprovalRequest(approvalRequest(), audit());
      await expect(
        store.createApprovalRequest(approvalRequest(), audit({ requestId: 'dup' })),
      ).rejects.toMatchObject({ code: 'unavailable' });
      expect((await store.queryAudit({})).map((r) => r.requestId)).toEqual(['req_apr1']);
    });

    it('updates by compare-and-swap on the version, with the audit row', async () => {
      const store = await open();
      await store.createApprovalRequest(approvalRequest(), audit());
      const approved = {
        status: 'approved' as const,
        expiresAt: at(40),
        approvals: [{ login: 'alice', id: '1001', at: at(5), reason: 'ok for the migration' }],
      };
      const row = audit({ at: at(5), event: 'approve', outcome: 'allowed', actor: 'alice' });
      expect(await store.updateApprovalRequest('req_apr1', 1, approved, row)).toBe(true);
      expect(await store.updateApprovalRequest('req_apr1', 1, approved, row)).toBe(false);
      expect(await store.updateApprovalRequest('req_missing', 1, approved, row)).toBe(false);
      expect(await store.getApprovalRequest('req_apr1')).toEqual({
        ...approvalRequest(),
        ...approved,
        version: 2,
      });
      expect((await store.queryAudit({ outcome: 'allowed' })).map((r) => r.actor)).toEqual(['alice']);
    });

    it('a redemption writes the lease with the update, and nothing when it loses', async () => {
      const store = await open();
      await store.createApprovalRequest(approvalRequest({ status: 'approved' }), audit());
      const redeemed = (leaseId: string) => ({
        status: 'redeemed' as const,
        expiresAt: at(30),
        approvals: [],
        leaseId,
        redeemedAt: at(6),
      });
      const lease = (id: string) => ({
        id,
        role: 'db-admin',
        provider: 'aws',
        createdAt: at(6),
        expiresAt: at(21),
        revokeTokenHash: 'c'.repeat(64),
        repository: 'acme/db-ops',
        runId: '42',
      });
      const row = (leaseId: string) => audit({ event: 'redeem', outcome: 'allowed', leaseId });
      const results = await Promise.all(
        ['lease-a', 'lease-b', 'lease-c'].map((id) =>
          store.updateApprovalRequest('req_apr1', 1, redeemed(id), row(id), lease(id)),
        ),
      );
      expect(results.filter(Boolean)).toHaveLength(1);
      const winner = ['lease-a', 'lease-b', 'lease-c'][results.indexOf(true)]!;
      expect(await store.getApprovalRequest('req_apr1')).toMatchObject({
        status: 'redeemed',
        leaseId: winner,
      });
      for (const id of ['lease-a', 'lease-b', 'lease-c']) {
        expect(await store.getLease(id)).toEqual(id === winner ? lease(id) : undefined);
      }
      expect((await store.queryAudit({ outcome: 'allowed' })).map((r) => r.leaseId)).toEqual([winner]);
    });

    it('of 20 concurrent updates on one version over two instances, exactly one lands', async () => {
      const [a, b] = [await open(), await open()];
      await a.createApprovalRequest(approvalRequest(), audit());
      const results = await Promise.all(
        Array.from({ length: 20 }, (_, i) =>
          (i % 2 ? a : b).updateApprovalRequest(
            'req_apr1',
            1,
            { status: 'denied', expiresAt: at(30), approvals: [], reason: `no ${i}`, decidedBy: `u${i}` },
            audit({ event: 'deny', outcome: 'denied', requestId: `deny-${i}` }),
          ),
        ),
      );
      expect(results.filter(Boolean)).toHaveLength(1);
      const stored = await b.getApprovalRequest('req_apr1');
      expect(stored).toMatchObject({ status: 'denied', version: 2, reason: `no ${results.indexOf(true)}` });
      expect(await a.queryAudit({ outcome: 'denied' })).toHaveLength(1);
    });

    it('lists by stored status, oldest first, up to the limit', async () => {
      const store = await open();
      const make = (id: string, minutes: number, status: ApprovalRequestRecord['status']) =>
        store.createApprovalRequest(
          approvalRequest({ id, createdAt: at(minutes), status }),
          audit({ requestId: id }),
        );
      await make('r3', 3, 'pending');
      await make('r1', 1, 'pending');
      await make('r2', 2, 'denied');
      await make('r4', 4, 'approved');
      const ids = async (statuses: ApprovalRequestRecord['status'][], limit?: number) =>
        (await store.listApprovalRequests({ statuses, ...(limit ? { limit } : {}) })).map((r) => r.id);
      expect(await ids(['pending'])).toEqual(['r1', 'r3']);
      expect(await ids(['pending', 'approved'])).toEqual(['r1', 'r3', 'r4']);
      expect(await ids(['pending'], 1)).toEqual(['r1']);
      expect(await ids([])).toEqual([]);
    });

    it('narrows the list in the query: roles, not the caller’s own jobs, one run attempt', async () => {
      const store = await open();
      const claims = approvalRequest().claims;
      const make = (id: string, minutes: number, role: string, extra: Record<string, string> = {}) =>
        store.createApprovalRequest(
          approvalRequest({ id, role, createdAt: at(minutes), claims: { ...claims, ...extra } }),
          audit({ requestId: id }),
        );
      await make('a1', 1, 'db-admin');
      await make('a2', 2, 'db-admin', { actor_id: '1001' });
      await make('b1', 3, 'deploy', { run_id: '43' });
      await make('c1', 4, 'retired', { run_attempt: '2' });
      const { actor_id: _, ...noActor } = claims;
      await store.createApprovalRequest(
        approvalRequest({ id: 'n1', role: 'db-admin', createdAt: at(5), claims: noActor }),
        audit({ requestId: 'n1' }),
      );
      const ids = async (filter: Omit<ApprovalListFilter, 'statuses'>) =>
        (await store.listApprovalRequests({ statuses: ['pending'], ...filter })).map((r) => r.id);

      expect(await ids({})).toEqual(['a1', 'a2', 'b1', 'c1', 'n1']);
      expect(await ids({ roles: { in: ['db-admin'] } })).toEqual(['a1', 'a2', 'n1']);
      expect(await ids({ roles: { in: [] } })).toEqual([]);
      // A role outside the gated ones ('retired') is listed too, for its own approvers.
      expect(await ids({ roles: { in: ['db-admin'], orNotIn: ['db-admin', 'deploy'] } })).toEqual([
        'a1',
        'a2',
        'c1',
        'n1',
      ]);
      expect(await ids({ roles: { in: [], orNotIn: [] } })).toEqual(['a1', 'a2', 'b1', 'c1', 'n1']);
      // A request without actor_id is kept: the caller compares logins for it.
      expect(await ids({ notActorId: '1002' })).toEqual(['a2', 'n1']);
      expect(await ids({ notActorId: '1001' })).toEqual(['a1', 'b1', 'c1', 'n1']);
      const run = { repositoryId: '223344', runId: '42', runAttempt: '1' };
      expect(await ids({ run })).toEqual(['a1', 'a2', 'n1']);
      expect(await ids({ run: { ...run, runAttempt: '2' } })).toEqual(['c1']);
      expect(await ids({ run: { ...run, repositoryId: '1' } })).toEqual([]);
      // The limit counts only what matched: the oldest of that run, not the oldest overall.
      expect(await ids({ run: { ...run, runId: '43' }, limit: 1 })).toEqual(['b1']);
      expect(await ids({ roles: { in: ['retired'] }, notActorId: '1001', limit: 1 })).toEqual(['c1']);
      // Quotes and JSON-looking names are data, not syntax.
      await make('q1', 6, `it's "odd"]`);
      expect(await ids({ roles: { in: [`it's "odd"]`] } })).toEqual(['q1']);
    });

    it('lists the newest first up to the limit, and counts every match, open ones only when asked', async () => {
      const store = await open();
      const claims = approvalRequest().claims;
      const make = (id: string, minutes: number, extra: Partial<ApprovalRequestRecord> = {}) =>
        store.createApprovalRequest(
          approvalRequest({ id, createdAt: at(minutes), expiresAt: at(minutes + 30), ...extra }),
          audit({ requestId: id }),
        );
      await make('p1', 1);
      await make('p2', 2, { claims: { ...claims, actor_id: '1001' } });
      await make('p3', 3, { role: 'deploy' });
      await make('p4', 4);
      await make('p5', 5, { expiresAt: at(-1) }); // past its deadline, still stored as pending
      await make('d6', 6, { status: 'denied' });
      const filter: ApprovalListFilter = {
        statuses: ['pending'],
        roles: { in: ['db-admin'] },
        notActorId: '1001',
      };
      const ids = async (f: ApprovalListFilter) => (await store.listApprovalRequests(f)).map((r) => r.id);
      expect(await ids({ ...filter, newestFirst: true, limit: 2 })).toEqual(['p5', 'p4']);
      expect(await ids({ ...filter, newestFirst: true, openAt: T0, limit: 2 })).toEqual(['p4', 'p1']);
      expect(await ids({ ...filter, limit: 2 })).toEqual(['p1', 'p4']);
      expect(await store.countApprovalRequests({ ...filter, limit: 1 })).toBe(3);
      expect(await store.countApprovalRequests({ ...filter, openAt: T0 })).toBe(2);
      expect(await store.countApprovalRequests({ statuses: ['pending', 'denied'] })).toBe(6);
      expect(await store.countApprovalRequests({ statuses: [] })).toBe(0);
      // A request without actor_id is counted as it is listed: kept, for the caller to compare logins.
      const { actor_id: _, ...noActor } = claims;
      await make('n7', 7, { claims: noActor });
      expect(await store.countApprovalRequests({ ...filter, openAt: T0 })).toBe(3);
      expect(await store.countApprovalRequests({ ...filter, notActorId: '1002', openAt: T0 })).toBe(2);
    });

    it('purges requests a day past their expiry', async () => {
      const store = await open();
      await store.createApprovalRequest(approvalRequest({ id: 'old', expiresAt: at(-25 * 60) }), audit());
      await store.createApprovalRequest(approvalRequest({ id: 'recent', expiresAt: at(-23 * 60) }), audit());
      await store.purgeExpired(T0);
      expect(await store.getApprovalRequest('old')).toBeUndefined();
      expect(await store.getApprovalRequest('recent')).toBeDefined();
    });
  });
}
