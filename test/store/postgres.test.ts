import { createHash, randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { openStore } from '../../exchanger/store/open.js';
import type { Store } from '../../exchanger/store/types.js';
import { captureLog, entry, lease, storeContract } from './contract.js';
import { admin, dropSchema, newSchema, PG_URL } from './pg-support.js';

storeContract({
  name: 'postgres',
  groupCommit: false,
  async fresh() {
    const schema = newSchema();
    return {
      open: (options) => openStore(PG_URL, { ...options, schema }),
      cleanup: async () => {
        await dropSchema(schema);
      },
    };
  },
});

describe('postgres store', () => {
  const schemas: string[] = [];
  const stores: Store[] = [];
  const fresh = () => {
    const schema = newSchema();
    schemas.push(schema);
    return schema;
  };
  afterEach(async () => {
    await Promise.all(stores.splice(0).map((s) => s.close()));
    await Promise.all(schemas.splice(0).map(dropSchema));
  });

  it('two instances migrating a fresh schema at once both succeed', async () => {
    const schema = fresh();
    const both = await Promise.all([
      openStore(PG_URL, { schema, purgeIntervalMs: 0 }),
      openStore(PG_URL, { schema, purgeIntervalMs: 0 }),
    ]);
    stores.push(...both);
    const { rows } = await admin((c) =>
      c.query(`SELECT version FROM "${schema}".schema_migrations ORDER BY version`),
    );
    expect(rows).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14].map((version) => ({ version })));
    const exp = new Date(Date.now() + 60_000);
    expect((await Promise.all(both.map((s) => s.consumeJti('j', exp)))).sort()).toEqual([false, true]);
  });

  it('a migration waiting behind a long read lets writers through, then applies once the read ends', async () => {
    const schema = fresh();
    const older = await openStore(PG_URL, { schema, purgeIntervalMs: 0 });
    await older.close();
    // The schema as version 11 left it (no actor_id), and a download reading audit in a
    // transaction that stays open: the ALTER TABLE of migration 12 has to wait for it.
    await admin((c) =>
      c.query(`ALTER TABLE "${schema}".audit DROP COLUMN actor_id;
        DROP TABLE "${schema}".audit_actor_ids;
        DROP TABLE "${schema}".run_attempts;
        DROP TABLE "${schema}".run_first_leases;
        DELETE FROM "${schema}".schema_migrations WHERE version >= 12`),
    );
    const reader = new pg.Client({ connectionString: PG_URL });
    await reader.connect();
    const writer = new pg.Client({ connectionString: PG_URL });
    await writer.connect();
    try {
      await reader.query('BEGIN');
      await reader.query(`SELECT count(*) FROM "${schema}".audit`);
      const log = captureLog();
      let migrated = false;
      const upgrading = openStore(PG_URL, { schema, purgeIntervalMs: 0, log }).then((s) => {
        migrated = true;
        stores.push(s);
        return s;
      });
      await vi.waitFor(() => expect(log.lines.some((l) => l.msg.includes('a migration waits'))).toBe(true), {
        timeout: 10_000,
      });
      // Between its tries the migration holds no lock: another instance's write goes through.
      await writer.query(
        `INSERT INTO "${schema}".audit (at, request_id, event, outcome, reason) VALUES (now(), 'during', 'exchange', 'allowed', 'r')`,
      );
      expect(migrated).toBe(false);
      await reader.query('COMMIT');
      const store = await upgrading;
      await store.record(entry({ requestId: 'after', event: 'approve', actor: 'alice', actorId: '1001' }));
      expect((await store.queryAudit({ requestId: 'after' }))[0]).toMatchObject({ actorId: '1001' });
      expect((await store.queryAudit({ requestId: 'during' })).length).toBe(1);
    } finally {
      await reader.end();
      await writer.end();
    }
  });

  it('an unreachable server is unavailable, and the message keeps the password out', async () => {
    const log = captureLog();
    const failure = await openStore('postgres://jitkey:hunter2@127.0.0.1:1/test', {
      schema: fresh(),
      log,
    }).catch((e: unknown) => e);
    expect(failure).toMatchObject({ code: 'unavailable', status: 503 });
    const { message, detail } = failure as { message: string; detail: string };
    expect(message).toMatch(/^cannot open the store at postgres:\/\/127\.0\.0\.1:1\/test: .*ECONNREFUSED/);
    expect(`${message} ${detail}`).not.toContain('hunter2');
  });

  it('survives its backends being terminated, and the pool recovers', async () => {
    const schema = fresh();
    const log = captureLog();
    const store = await openStore(PG_URL, { schema, purgeIntervalMs: 0, log });
    stores.push(store);
    // Open several pooled connections, then kill them all from another session.
    await Promise.all(Array.from({ length: 5 }, () => store.queryAudit({})));
    const killed = await admin(async (c) => {
      const { rows } = await c.query(
        'SELECT pg_terminate_backend(pid) AS ok FROM pg_stat_activity WHERE application_name = $1',
        [`jitkey/${schema}`],
      );
      return rows.length;
    });
    expect(killed).toBeGreaterThan(0);
    await vi.waitFor(() => expect(log.lines.some((l) => l.level === 'warn')).toBe(true));
    // The next call may fail (as unavailable) or succeed; soon after, calls succeed again.
    const next = await store.record(entry()).then(
      () => 'recorded',
      (e: { code?: string }) => e.code,
    );
    expect(['recorded', 'unavailable']).toContain(next);
    await vi.waitFor(() => store.ping());
    await store.record(entry({ requestId: 'after' }));
    expect((await store.queryAudit({})).map((r) => r.requestId)).toContain('after');
  });

  it('an audit stream whose backend is terminated fails as unavailable; the process lives on', async () => {
    const schema = fresh();
    const store = await openStore(PG_URL, { schema, purgeIntervalMs: 0 });
    stores.push(store);
    // More than one cursor page, so the stream holds its connection between reads.
    await Promise.all(Array.from({ length: 1500 }, (_, i) => store.record(entry({ requestId: `r${i}` }))));
    const rows = store.streamAudit({})[Symbol.asyncIterator]();
    expect((await rows.next()).done).toBe(false);
    await admin((c) =>
      c.query(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1 AND state = 'idle in transaction'",
        [`jitkey/${schema}`],
      ),
    );
    // The lost connection's 'error' event comes while nothing reads: unheard, it ended the process.
    await new Promise((r) => setTimeout(r, 300));
    const failure = await (async () => {
      for (let next = await rows.next(); !next.done; next = await rows.next());
    })().then(
      () => 'read to the end',
      (e: { code?: string }) => e.code,
    );
    expect(failure).toBe('unavailable');
    await store.record(entry({ requestId: 'after' }));
    expect((await store.queryAudit({ requestId: 'after' })).length).toBe(1);
  });

  it('a query that fails mid-flight answers unavailable', async () => {
    const schema = fresh();
    const store = await openStore(PG_URL, { schema, purgeIntervalMs: 0 });
    stores.push(store);
    await admin((c) => c.query(`DROP TABLE "${schema}".audit`));
    await expect(store.record(entry())).rejects.toMatchObject({ code: 'unavailable', status: 503 });
  });

  it('stores only the hash of a revoke token', async () => {
    const schema = fresh();
    const store = await openStore(PG_URL, { schema, purgeIntervalMs: 0 });
    stores.push(store);
    const revokeToken = `jkr_${randomBytes(24).toString('base64url')}`;
    const hash = createHash('sha256').update(revokeToken).digest('hex');
    await store.record(entry({ leaseId: 'l' }), lease({ id: 'l', revokeTokenHash: hash }));
    const text = await admin(async (c) => {
      const leases = await c.query(`SELECT t::text AS row FROM "${schema}".leases t`);
      const audit = await c.query(`SELECT t::text AS row FROM "${schema}".audit t`);
      return [...leases.rows, ...audit.rows].map((r: { row: string }) => r.row).join('\n');
    });
    expect(text).toContain(hash);
    expect(text).not.toContain(revokeToken);
  });

  it('refuses a schema name that is not a plain identifier', async () => {
    await expect(openStore(PG_URL, { schema: 'x"; DROP TABLE y; --' })).rejects.toThrow(
      /plain SQL identifier/,
    );
  });
});
