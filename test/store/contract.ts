/**
 * The store contract: every Store implementation passes these tests. A harness gives each test
 * a fresh database; `open` may be called several times to get instances sharing it (two
 * processes on one SQLite file, two exchangers on one PostgreSQL database).
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { Logger } from '../../exchanger/log.js';
import type { AuditEntry, AuditFilter } from '../../exchanger/store/audit-types.js';
import type { LeaseRecord } from '../../exchanger/store/leases-types.js';
import type { Store, StoreOptions } from '../../exchanger/store/types.js';
import { activityContract } from './activity-contract.js';
import { approvalRequestContract } from './approvals-contract.js';
import { clientContract } from './client-contract.js';
import { consoleReadsContract } from './console-reads-contract.js';
import { sessionContract } from './sessions-contract.js';

export interface StoreDatabase {
  open(options?: StoreOptions): Promise<Store>;
  cleanup(): Promise<void>;
}

export interface StoreHarness {
  name: string;
  /** Writes of one event-loop turn share one transaction (and fail together). */
  groupCommit: boolean;
  fresh(): Promise<StoreDatabase>;
}

const T0 = new Date('2025-03-01T12:00:00.000Z');
const at = (minutes: number) => new Date(T0.getTime() + minutes * 60_000);
const HOUR = 60;
const DAY = 24 * HOUR;

export function entry(overrides: Partial<AuditEntry> = {}): AuditEntry {
  return {
    at: T0,
    requestId: 'req-1',
    event: 'exchange',
    outcome: 'allowed',
    role: 'deploy-web-prod',
    provider: 'aws',
    reason: 'granted for 15m',
    claims: {
      repository: 'acme/web',
      repository_id: '123456',
      ref: 'refs/heads/main',
      event_name: 'push',
      run_id: '42',
      run_attempt: '1',
    },
    ...overrides,
  };
}

export function lease(overrides: Partial<LeaseRecord> = {}): LeaseRecord {
  return {
    id: 'lease-1',
    role: 'deploy-web-prod',
    provider: 'aws',
    createdAt: T0,
    expiresAt: at(15),
    revokeTokenHash: 'a'.repeat(64),
    repository: 'acme/web',
    runId: '42',
    ...overrides,
  };
}

/** Every entry `streamAudit` yields, collected. */
export async function streamed(store: Store, filter: AuditFilter): Promise<AuditEntry[]> {
  const rows: AuditEntry[] = [];
  for await (const row of store.streamAudit(filter)) rows.push(row);
  return rows;
}

export function captureLog(): Logger & { lines: { level: string; msg: string; fields?: object }[] } {
  const lines: { level: string; msg: string; fields?: object }[] = [];
  const push = (level: string) => (msg: string, fields?: object) => {
    lines.push({ level, msg, ...(fields ? { fields } : {}) });
  };
  return { lines, debug: push('debug'), info: push('info'), warn: push('warn'), error: push('error') };
}

export function storeContract(harness: StoreHarness): void {
  describe(`Store contract: ${harness.name}`, () => {
    let db: StoreDatabase;
    let opened: Store[] = [];
    /** The background purge is off unless a test asks for it. */
    const open = async (options: StoreOptions = {}) => {
      const store = await db.open({ purgeIntervalMs: 0, ...options });
      opened.push(store);
      return store;
    };

    beforeEach(async () => {
      db = await harness.fresh();
    });
    afterEach(async () => {
      await Promise.all(opened.map((s) => s.close()));
      opened = [];
      await db.cleanup();
    });

    describe('consumeJti', () => {
      it('keys a spent jti by its issuer: the same jti of another issuer is fresh (issue 16, item 13)', async () => {
        const store = await open();
        expect(await store.consumeJti('shared', at(5), 'https://a.example')).toBe(true);
        expect(await store.consumeJti('shared', at(5), 'https://b.example')).toBe(true);
        expect(await store.consumeJti('shared', at(5), 'https://a.example')).toBe(false);
        expect(await store.consumeJti('shared', at(5), 'https://b.example')).toBe(false);
      });

      it('is true the first time and false after', async () => {
        const store = await open();
        expect(await store.consumeJti('jti-1', at(5))).toBe(true);
        expect(await store.consumeJti('jti-1', at(5))).toBe(false);
        expect(await store.consumeJti('jti-2', at(5))).toBe(true);
      });

      it('of 50 concurrent calls with one jti, exactly one is true', async () => {
        const store = await open();
        const results = await Promise.all(
          Array.from({ length: 50 }, () => store.consumeJti('jti-race', at(5))),
        );
        expect(results.filter(Boolean)).toHaveLength(1);
      });

      it('of 50 concurrent calls spread over two instances, exactly one is true', async () => {
        const [a, b] = [await open(), await open()];
        const results = await Promise.all(
          Array.from({ length: 50 }, (_, i) => (i % 2 ? a : b).consumeJti('jti-two', at(5))),
        );
        expect(results.filter(Boolean)).toHaveLength(1);
      });
    });

    describe('record and getLease', () => {
      it('writes an audit row without a lease, as given', async () => {
        const store = await open();
        const denied = entry({
          outcome: 'denied',
          errorCode: 'access_denied',
          reason: "role 'deploy-web-prod': ref 'refs/heads/dev' did not match",
          role: 'deploy-web-prod',
        });
        await store.record(denied);
        expect(await store.queryAudit({})).toEqual([denied]);
      });

      it('writes the lease with its audit row', async () => {
        const store = await open();
        const granted = entry({ leaseId: 'lease-1', expiresAt: at(15) });
        const theLease = lease({ sealedRevocation: 'v1.sealed-bytes' });
        await store.record(granted, theLease);
        expect(await store.getLease('lease-1')).toEqual(theLease);
        expect(await store.queryAudit({})).toEqual([granted]);
      });

      it('keeps optional fields absent and keeps every claim', async () => {
        const store = await open();
        const bare = {
          at: T0,
          requestId: 'r',
          event: 'approve',
          outcome: 'pending',
          reason: 'x',
          claims: {},
        } as const;
        const full = entry({
          requestId: 'r2',
          at: at(1),
          actor: 'octocat',
          claims: { ...entry().claims, sha: 'f'.repeat(40), environment: 'production', actor: 'octocat' },
        });
        await store.record(bare);
        await store.record(full);
        expect(await store.queryAudit({})).toEqual([full, bare]);
      });

      it('answers undefined for an unknown lease', async () => {
        const store = await open();
        expect(await store.getLease('no-such-lease')).toBeUndefined();
      });

      it('a lease written by one instance is read by another', async () => {
        const [a, b] = [await open(), await open()];
        await a.record(entry({ leaseId: 'lease-x' }), lease({ id: 'lease-x' }));
        expect((await b.getLease('lease-x'))?.role).toBe('deploy-web-prod');
      });
    });

    describe('run attempts (runState, completeRun)', () => {
      const RUN = { repositoryId: '123456', runId: '42', runAttempt: '1' };
      const ofRun = (id: string, minutes: number, more: Partial<LeaseRecord> = {}) =>
        lease({ id, createdAt: at(minutes), repositoryId: '123456', runAttempt: '1', ...more });

      it('knows the first lease of a role, and returns the unrevoked leases of a completed attempt', async () => {
        const store = await open();
        expect(await store.runState(RUN, 'deploy-web-prod')).toEqual({ completed: false });
        await store.record(entry(), ofRun('l-2', 2));
        await store.record(entry(), ofRun('l-1', 1, { sealedRunEnd: 'v1.sealed' }));
        await store.record(entry(), ofRun('l-other-role', 0, { role: 'other' }));
        await store.record(entry(), ofRun('l-attempt-2', 0, { runAttempt: '2' }));
        await store.record(entry(), ofRun('l-revoked', 0, { revokedAt: at(3) }));
        expect(await store.runState(RUN, 'deploy-web-prod')).toEqual({
          completed: false,
          firstLeaseAt: at(0),
        });
        expect(await store.runState(RUN, 'other')).toEqual({ completed: false, firstLeaseAt: at(0) });

        const done = entry({ event: 'webhook', reason: 'workflow_run completed', at: at(4) });
        const leases = await store.completeRun(RUN, at(4), done);
        expect(leases.map((l) => l.id).sort()).toEqual(['l-1', 'l-2', 'l-other-role']);
        expect(leases.find((l) => l.id === 'l-1')).toMatchObject({
          sealedRunEnd: 'v1.sealed',
          runAttempt: '1',
        });
        expect((await store.runState(RUN, 'deploy-web-prod')).completed).toBe(true);
        expect((await store.runState({ ...RUN, runAttempt: '2' }, 'deploy-web-prod')).completed).toBe(false);
        // Idempotent: a redelivered webhook records nothing twice but audits the delivery.
        await store.completeRun(RUN, at(5), done);
        expect((await store.queryAudit({})).filter((r) => r.event === 'webhook')).toHaveLength(2);
      });

      it("spendToken spends the jti and reads the attempt's state for a role in one call", async () => {
        const store = await open();
        const token = { jti: 'jti-run', expiresAt: at(5), issuer: 'https://a.example' };
        expect(await store.spendToken(token, { key: RUN, role: 'deploy-web-prod' })).toEqual({
          fresh: true,
          run: { completed: false },
        });
        await store.record(entry(), ofRun('l-1', 1));
        await store.completeRun(RUN, at(2), entry({ event: 'webhook', reason: 'workflow_run completed' }));
        // The same jti: spent already, whatever the attempt says.
        expect((await store.spendToken(token, { key: RUN, role: 'deploy-web-prod' })).fresh).toBe(false);
        expect(
          await store.spendToken({ ...token, jti: 'jti-run-2' }, { key: RUN, role: 'deploy-web-prod' }),
        ).toEqual({ fresh: true, run: { completed: true, firstLeaseAt: at(1) } });
        // No run asked for: only the jti; and it is the jti consumeJti knows.
        expect(await store.spendToken({ ...token, jti: 'jti-plain' })).toEqual({ fresh: true });
        expect(await store.consumeJti('jti-plain', at(5), 'https://a.example')).toBe(false);
      });

      it('recordGrant writes the lease with its audit row and says whether the attempt completed', async () => {
        const store = await open();
        const granted = entry({ leaseId: 'l-grant' });
        expect(await store.recordGrant(granted, ofRun('l-grant', 1), RUN)).toEqual({ completed: false });
        expect(await store.getLease('l-grant')).toEqual(ofRun('l-grant', 1));
        expect(await store.queryAudit({})).toEqual([granted]);
        await store.completeRun(RUN, at(2), entry({ event: 'webhook', reason: 'workflow_run completed' }));
        expect(await store.recordGrant(entry(), ofRun('l-late', 3), RUN)).toEqual({ completed: true });
        expect(await store.recordGrant(entry(), ofRun('l-other', 3), { ...RUN, runAttempt: '2' })).toEqual({
          completed: false,
        });
        expect(await store.getLease('l-late')).toBeDefined();
      });

      it('forgets a completed attempt a day after it completed: its tokens died long before', async () => {
        const store = await open();
        const done = entry({ event: 'webhook', reason: 'workflow_run completed' });
        const old = { ...RUN, runId: 'old' };
        const recent = { ...RUN, runId: 'recent' };
        await store.completeRun(old, at(-25 * 60), done);
        await store.completeRun(recent, at(-23 * 60), done);
        await store.purgeExpired(T0);
        expect((await store.runState(old, 'deploy-web-prod')).completed).toBe(false);
        expect((await store.runState(recent, 'deploy-web-prod')).completed).toBe(true);
        expect((await store.queryAudit({})).filter((r) => r.event === 'webhook')).toHaveLength(2);
      });
    });

    describe('markRevoked', () => {
      it('marks once, stays idempotent and audits each call', async () => {
        const store = await open();
        await store.record(entry({ leaseId: 'lease-1' }), lease());
        const revoke = (minutes: number) =>
          store.markRevoked(
            'lease-1',
            at(minutes),
            entry({
              at: at(minutes),
              event: 'revoke',
              outcome: 'revoked',
              reason: 'lease revoked',
              leaseId: 'lease-1',
            }),
          );
        await revoke(5);
        await revoke(7);
        expect((await store.getLease('lease-1'))?.revokedAt).toEqual(at(5));
        const rows = await store.queryAudit({ outcome: 'revoked' });
        expect(rows.map((r) => r.at)).toEqual([at(7), at(5)]);
      });

      it('writes the audit row for an unknown lease without failing', async () => {
        const store = await open();
        await store.markRevoked('ghost', at(1), entry({ event: 'revoke', outcome: 'revoked' }));
        expect(await store.getLease('ghost')).toBeUndefined();
        expect(await store.queryAudit({ outcome: 'revoked' })).toHaveLength(1);
      });
    });

    describe('queryAudit', () => {
      const rows: AuditEntry[] = [
        entry({ requestId: 'a', at: at(0) }),
        entry({ requestId: 'b', at: at(10), outcome: 'denied', errorCode: 'access_denied' }),
        entry({ requestId: 'c', at: at(20), claims: { repository: 'acme/api' }, role: 'read-artifacts' }),
        entry({ requestId: 'd', at: at(30), claims: { repository: 'Acme/Web' }, outcome: 'denied' }),
        entry({
          requestId: 'e',
          at: at(40),
          claims: {},
          role: undefined,
          outcome: 'error',
          reason: 'bad body',
        }),
        entry({ requestId: 'f', at: at(40), role: 'read-artifacts' }), // same time as e, written later
      ];
      const cases: { name: string; filter: AuditFilter; want: string[] }[] = [
        {
          name: 'no filter: newest first, ties by insertion',
          filter: {},
          want: ['f', 'e', 'd', 'c', 'b', 'a'],
        },
        { name: 'since is inclusive', filter: { since: at(20) }, want: ['f', 'e', 'd', 'c'] },
        {
          name: 'repository folds ASCII case',
          filter: { repository: 'ACME/web' },
          want: ['f', 'd', 'b', 'a'],
        },
        { name: 'outcome', filter: { outcome: 'denied' }, want: ['d', 'b'] },
        { name: 'role', filter: { role: 'read-artifacts' }, want: ['f', 'c'] },
        { name: 'limit keeps the newest', filter: { limit: 2 }, want: ['f', 'e'] },
        {
          name: 'filters combine',
          filter: { since: at(5), repository: 'acme/web', outcome: 'denied', limit: 5 },
          want: ['d', 'b'],
        },
        { name: 'nothing matches', filter: { repository: 'acme/none' }, want: [] },
      ];
      it.each(cases)('$name', async ({ filter, want }) => {
        const store = await open();
        for (const row of rows) await store.record(row);
        expect((await store.queryAudit(filter)).map((r) => r.requestId)).toEqual(want);
      });

      it('refuses a limit that is not a positive whole number', async () => {
        const store = await open();
        await expect(store.queryAudit({ limit: 0 })).rejects.toMatchObject({ code: 'invalid_request' });
      });

      it.each(cases)('$name, streamed', async ({ filter, want }) => {
        const store = await open();
        for (const row of rows) await store.record(row);
        expect((await streamed(store, filter)).map((r) => r.requestId)).toEqual(want);
      });
    });

    describe('streamAudit', () => {
      // More than two pages (1000 rows each), three rows per instant: ties straddle page ends.
      const COUNT = 2345;
      const many = Array.from({ length: COUNT }, (_, i) =>
        entry({
          requestId: `r${i}`,
          at: new Date(T0.getTime() + Math.floor(i / 3) * 1000),
          outcome: i % 4 === 0 ? 'denied' : 'allowed',
        }),
      );
      // In batches: thousands of writes at once would wait past the pool's connect timeout.
      const fill = async (store: Store) => {
        for (let i = 0; i < many.length; i += 50) {
          await Promise.all(many.slice(i, i + 50).map((row) => store.record(row)));
        }
      };
      const ids = (rows: AuditEntry[]) => rows.map((r) => r.requestId);

      it('yields every row, in the one query order, across pages', async () => {
        const store = await open();
        await fill(store);
        const all = await streamed(store, {});
        expect(all).toHaveLength(COUNT);
        expect(new Set(ids(all)).size).toBe(COUNT);
        expect(ids(all)).toEqual(ids(await store.queryAudit({ limit: COUNT })));
      });

      it('filters and caps across pages', async () => {
        const store = await open();
        await fill(store);
        const denied = await streamed(store, { outcome: 'denied' });
        expect(denied).toHaveLength(Math.ceil(COUNT / 4));
        expect(ids(denied)).toEqual(ids(await store.queryAudit({ outcome: 'denied', limit: COUNT })));
        expect(ids(await streamed(store, { limit: 1500 }))).toEqual(
          ids(await store.queryAudit({ limit: 1500 })),
        );
      });

      it('stopping early releases the read, every time', async () => {
        await fill(await open());
        const store = await open({ maxConnections: 2 });
        const [newest] = ids(await store.queryAudit({ limit: 1 }));
        // More early stops than connections: one not given back would stall the next.
        for (let i = 0; i < 5; i++) {
          for await (const row of store.streamAudit({})) {
            expect(row.requestId).toBe(newest);
            break;
          }
        }
        await store.record(entry({ requestId: 'after', at: at(DAY) }));
        expect(ids(await store.queryAudit({ limit: 1 }))).toEqual(['after']);
      });

      it('refuses a limit that is not a positive whole number', async () => {
        const store = await open();
        await expect(streamed(store, { limit: 0 })).rejects.toMatchObject({ code: 'invalid_request' });
      });
    });

    describe('purge', () => {
      it('removes only the expired jtis, which can then be used again', async () => {
        const store = await open();
        await store.consumeJti('old-1', at(-10));
        await store.consumeJti('old-2', at(-6));
        await store.consumeJti('within-margin', at(-4));
        await store.consumeJti('live', at(10));
        expect(await store.purgeExpired(T0)).toBe(2);
        expect(await store.consumeJti('within-margin', at(10))).toBe(false);
        expect(await store.consumeJti('live', at(10))).toBe(false);
        expect(await store.consumeJti('old-1', at(10))).toBe(true);
        expect(await store.purgeExpired(T0)).toBe(0);
      });

      it('keeps leases a day past their expiry, then deletes them; keeps audit rows by default', async () => {
        const store = await open();
        await store.record(entry({ at: at(-3 * DAY) }), lease({ id: 'gone', expiresAt: at(-DAY - 1) }));
        await store.record(entry({ at: at(-DAY) }), lease({ id: 'kept', expiresAt: at(-DAY + 1) }));
        await store.purgeExpired(T0);
        expect(await store.getLease('gone')).toBeUndefined();
        expect(await store.getLease('kept')).toBeDefined();
        expect(await store.queryAudit({})).toHaveLength(2);
      });

      it("keeps a run attempt's first lease time of each role 35 days, so its max_duration does not start over", async () => {
        const store = await open();
        const run = { repositoryId: '42', runId: '77', runAttempt: '1' };
        const of = (id: string, role: string, createdAt: Date) =>
          lease({ id, role, ...run, createdAt, expiresAt: new Date(createdAt.getTime() + 15 * 60_000) });
        await store.record(entry(), of('renewal', 'deploy', at(-3 * DAY + 10)));
        await store.record(entry(), of('first', 'deploy', at(-3 * DAY)));
        await store.record(entry(), of('other-role', 'admin', at(-3 * DAY + 20)));
        await store.purgeExpired(T0);
        for (const id of ['first', 'renewal', 'other-role']) expect(await store.getLease(id)).toBeUndefined();
        expect((await store.runState(run, 'deploy')).firstLeaseAt).toEqual(at(-3 * DAY));
        expect((await store.runState(run, 'admin')).firstLeaseAt).toEqual(at(-3 * DAY + 20));
        // A later lease of the attempt does not move it.
        await store.record(entry(), of('later', 'deploy', at(-10)));
        expect((await store.runState(run, 'deploy')).firstLeaseAt).toEqual(at(-3 * DAY));
        await store.purgeExpired(at(32 * DAY - 1));
        expect((await store.runState(run, 'admin')).firstLeaseAt).toEqual(at(-3 * DAY + 20));
        await store.purgeExpired(at(33 * DAY));
        expect((await store.runState(run, 'admin')).firstLeaseAt).toBeUndefined();
      });

      it('deletes audit rows older than auditRetentionDays', async () => {
        const store = await open({ auditRetentionDays: 30 });
        await store.record(entry({ requestId: 'old', at: at(-31 * DAY) }));
        await store.record(entry({ requestId: 'new', at: at(-29 * DAY) }));
        await store.purgeExpired(T0);
        expect((await store.queryAudit({})).map((r) => r.requestId)).toEqual(['new']);
      });

      it("keeps a jti the database's clock says is still live, whatever this instance's clock says (issue 16, item 13)", async () => {
        const store = await open();
        const soon = new Date(Date.now() + 60_000);
        await store.consumeJti('live-by-db-clock', soon, 'https://issuer.example');
        // An instance whose clock runs a day ahead purges: the token is still good elsewhere.
        await store.purgeExpired(new Date(Date.now() + 86_400_000));
        expect(await store.consumeJti('live-by-db-clock', soon, 'https://issuer.example')).toBe(false);
      });

      it('runs in the background on its interval, with the clock it was given', async () => {
        const log = captureLog();
        const store = await open({ purgeIntervalMs: 5, now: () => at(60), log });
        await store.consumeJti('expires-soon', at(30));
        await store.consumeJti('later', at(90));
        // A purge may already have run before the inserts: wait for one that deleted the expired id.
        await vi.waitFor(() =>
          expect(
            log.lines.some(
              (l) =>
                l.msg === 'store purge done' &&
                Number((l.fields as { jtis?: number } | undefined)?.jtis) >= 1,
            ),
          ).toBe(true),
        );
        expect(await store.consumeJti('expires-soon', at(120))).toBe(true);
        expect(await store.consumeJti('later', at(90))).toBe(false);
      });
    });

    describe('writes under load', () => {
      it('200 concurrent records all land, each visible to another instance when it resolves', async () => {
        const [store, observer] = [await open(), await open()];
        const seen = await Promise.all(
          Array.from({ length: 200 }, (_, i) => {
            const repository = `acme/r${i}`;
            return store
              .record(entry({ requestId: `req-${i}`, claims: { repository } }))
              .then(() => observer.queryAudit({ repository }))
              .then((rows) => rows.length);
          }),
        );
        expect(seen).toEqual(Array(200).fill(1));
        expect(await store.queryAudit({ limit: 1000 })).toHaveLength(200);
      });

      it(
        harness.groupCommit
          ? 'a failing transaction rejects every caller of its batch with unavailable; nothing lands'
          : 'a failing write rejects with unavailable; nothing of it lands',
        async () => {
          const store = await open();
          await store.record(entry({ requestId: 'first' }), lease({ id: 'taken' }));
          const results = await Promise.allSettled(
            Array.from({ length: 10 }, (_, i) =>
              store.record(
                entry({ requestId: `batch-${i}` }),
                lease({ id: i === 4 ? 'taken' : `lease-${i}` }),
              ),
            ),
          );
          const failed = results.flatMap((r, i) => (r.status === 'rejected' ? [i] : []));
          expect(results.flatMap((r) => (r.status === 'rejected' ? [r.reason] : []))).toEqual(
            failed.map(() => expect.objectContaining({ code: 'unavailable', status: 503 })),
          );
          const landed = (await store.queryAudit({})).map((r) => r.requestId).filter((id) => id !== 'first');
          if (harness.groupCommit) {
            expect(failed).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
            expect(landed).toEqual([]);
            expect(await store.getLease('lease-0')).toBeUndefined();
          } else {
            expect(failed).toEqual([4]);
            expect(landed).toHaveLength(9);
          }
          // the store works on afterwards
          expect(await store.consumeJti('after', at(5))).toBe(true);
        },
      );
    });

    it('an invalid argument fails only its own caller, even within a batch', async () => {
      const store = await open();
      const results = await Promise.allSettled([
        store.consumeJti('fine-1', at(5)),
        store.consumeJti('bad', new Date(Number.NaN)),
        store.record(entry({ requestId: 'fine-2' })),
      ]);
      expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
      expect((results[1] as PromiseRejectedResult).reason.code).toMatch(/^(internal_error|unavailable)$/);
      expect((await store.queryAudit({})).map((r) => r.requestId)).toEqual(['fine-2']);
    });

    approvalRequestContract(open);
    clientContract(open);
    activityContract(open);
    sessionContract(open);
    consoleReadsContract(open);

    describe('lifecycle', () => {
      it('ping resolves on an open store', async () => {
        const store = await open();
        await expect(store.ping()).resolves.toBeUndefined();
      });

      it('after close every call rejects with unavailable', async () => {
        const store = await db.open({ purgeIntervalMs: 0 });
        await store.close();
        await store.close(); // twice is fine
        await expect(store.consumeJti('j', at(5))).rejects.toMatchObject({ code: 'unavailable' });
        await expect(store.record(entry())).rejects.toMatchObject({ code: 'unavailable' });
        await expect(store.getLease('x')).rejects.toMatchObject({ code: 'unavailable' });
        await expect(store.ping()).rejects.toMatchObject({ code: 'unavailable' });
      });

      it('reopening keeps the data and migrates nothing twice', async () => {
        const first = await db.open({ purgeIntervalMs: 0 });
        await first.record(entry({ leaseId: 'lease-1' }), lease());
        await first.consumeJti('kept', at(5));
        await first.close();
        const again = await open();
        expect(await again.getLease('lease-1')).toBeDefined();
        expect(await again.consumeJti('kept', at(5))).toBe(false);
      });
    });
  });
}
