/**
 * The store contract for the client of each audit row (issue 26, item 1): address and user agent
 * kept through every kind of write, and `client` filtering by an address or a CIDR range.
 */
import { describe, expect, it } from 'vitest';
import type { AuditEntry, AuditFilter } from '../../exchanger/store/audit-types.js';
import type { Store, StoreOptions } from '../../exchanger/store/types.js';
import { approvalRequest } from './approvals-contract.js';
import { entry, lease, streamed } from './contract.js';

const T0 = new Date('2025-03-01T12:00:00.000Z');
const at = (minutes: number) => new Date(T0.getTime() + minutes * 60_000);

export function clientContract(open: (options?: StoreOptions) => Promise<Store>): void {
  describe('audit clients', () => {
    const client = { clientAddress: '203.0.113.9', userAgent: 'jitkey-action/1.4 node/20 \\u001b[2J' };

    it('keeps the client on every kind of write', async () => {
      const store = await open();
      await store.record(entry({ requestId: 'refused', ...client }));
      await store.record(
        entry({ requestId: 'granted', at: at(1), leaseId: 'l1', ...client }),
        lease({ id: 'l1' }),
      );
      await store.markRevoked(
        'l1',
        at(2),
        entry({ requestId: 'revoked', at: at(2), event: 'revoke', ...client }),
      );
      await store.completeRun(
        { repositoryId: '1', runId: '2', runAttempt: '3' },
        at(3),
        entry({ requestId: 'webhook', at: at(3), event: 'webhook', clientAddress: '2001:db8::7' }),
      );
      await store.createApprovalRequest(
        approvalRequest({ id: 'req_c' }),
        entry({ requestId: 'req_c', at: at(4), event: 'approval_request', ...client }),
      );
      const decided = { ...approvalRequest({ id: 'req_c' }), status: 'denied' as const, reason: 'no' };
      expect(
        await store.updateApprovalRequest(
          'req_c',
          1,
          decided,
          entry({
            requestId: 'req_c',
            at: at(5),
            event: 'deny',
            actor: 'alice',
            clientAddress: '198.51.100.4',
          }),
        ),
      ).toBe(true);
      const rows = await store.queryAudit({});
      const clients = rows.map((r) => [r.requestId, r.event, r.clientAddress, r.userAgent]);
      expect(clients).toEqual([
        ['req_c', 'deny', '198.51.100.4', undefined],
        ['req_c', 'approval_request', client.clientAddress, client.userAgent],
        ['webhook', 'webhook', '2001:db8::7', undefined],
        ['revoked', 'revoke', client.clientAddress, client.userAgent],
        ['granted', 'exchange', client.clientAddress, client.userAgent],
        ['refused', 'exchange', client.clientAddress, client.userAgent],
      ]);
      expect((await streamed(store, {})).map((r) => r.clientAddress)).toEqual(
        rows.map((r) => r.clientAddress),
      );
    });

    it('a redemption keeps the client with its lease', async () => {
      const store = await open();
      await store.createApprovalRequest(
        approvalRequest(),
        entry({ requestId: 'req_apr1', event: 'approval_request' }),
      );
      const next = { ...approvalRequest(), status: 'redeemed' as const, leaseId: 'l2', redeemedAt: at(1) };
      const row = entry({ requestId: 'req_apr1', at: at(1), event: 'redeem', leaseId: 'l2', ...client });
      expect(await store.updateApprovalRequest('req_apr1', 1, next, row, lease({ id: 'l2' }))).toBe(true);
      const [redeemed] = await store.queryAudit({ requestId: 'req_apr1', limit: 1 });
      expect(redeemed).toMatchObject({ event: 'redeem', ...client });
      expect((await store.getLease('l2'))?.id).toBe('l2');
    });

    describe('the client filter', () => {
      const rows: AuditEntry[] = [
        entry({ requestId: 'v4-a', at: at(0), clientAddress: '10.1.2.3' }),
        entry({ requestId: 'v4-b', at: at(1), clientAddress: '10.200.0.1' }),
        entry({ requestId: 'v4-c', at: at(2), clientAddress: '11.0.0.1' }),
        entry({ requestId: 'v4-d', at: at(3), clientAddress: '9.255.255.255' }),
        entry({ requestId: 'v6-a', at: at(4), clientAddress: '2001:db8::1' }),
        entry({ requestId: 'v6-b', at: at(5), clientAddress: '2001:db9::1' }),
        entry({ requestId: 'none', at: at(6) }),
      ];
      const cases: { name: string; filter: AuditFilter; want: string[] }[] = [
        { name: 'one address', filter: { client: '10.1.2.3' }, want: ['v4-a'] },
        { name: 'an IPv4 range', filter: { client: '10.0.0.0/8' }, want: ['v4-b', 'v4-a'] },
        {
          name: 'bits past the prefix are ignored',
          filter: { client: '10.9.9.9/8' },
          want: ['v4-b', 'v4-a'],
        },
        { name: 'a mapped IPv4 range', filter: { client: '::ffff:10.0.0.0/104' }, want: ['v4-b', 'v4-a'] },
        { name: 'an IPv6 range', filter: { client: '2001:db8::/32' }, want: ['v6-a'] },
        { name: 'an IPv6 address spelled long', filter: { client: '2001:0db8:0:0::1' }, want: ['v6-a'] },
        {
          name: 'every IPv4 address, no IPv6',
          filter: { client: '0.0.0.0/0' },
          want: ['v4-d', 'v4-c', 'v4-b', 'v4-a'],
        },
        { name: 'with other filters', filter: { client: '10.0.0.0/8', since: at(1) }, want: ['v4-b'] },
        { name: 'no match', filter: { client: '192.0.2.0/24' }, want: [] },
      ];
      it.each(cases)('$name', async ({ filter, want }) => {
        const store = await open();
        for (const row of rows) await store.record(row);
        expect((await store.queryAudit(filter)).map((r) => r.requestId)).toEqual(want);
        expect((await streamed(store, filter)).map((r) => r.requestId)).toEqual(want);
        expect((await store.auditPage(filter, { limit: 10 })).entries.map((r) => r.requestId)).toEqual(want);
      });
    });
  });
}
