import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { rowsFor } from '../../exchanger/store/dialect-rows.js';
import { openStore } from '../../exchanger/store/open.js';
import { MS_TIMES } from '../../exchanger/store/rows.js';
import { entry, lease, storeContract } from './contract.js';

const dir = mkdtempSync(join(tmpdir(), 'jitkey-store-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
const freshPath = () => join(dir, `store-${++n}.db`);

storeContract({
  name: 'sqlite (file)',
  groupCommit: true,
  async fresh() {
    const path = freshPath();
    return { open: (options) => openStore(`sqlite:${path}`, options), cleanup: async () => {} };
  },
});

describe('sqlite store', () => {
  it('opens sqlite::memory:', async () => {
    const store = await openStore('sqlite::memory:', { purgeIntervalMs: 0 });
    expect(store.kind).toBe('sqlite');
    expect(await store.consumeJti('j', new Date(Date.now() + 60_000))).toBe(true);
    await store.close();
  });

  it('uses WAL and records its schema version', async () => {
    const path = freshPath();
    await (await openStore(`sqlite:${path}`, { purgeIntervalMs: 0 })).close();
    const raw = new Database(path, { readonly: true });
    expect(raw.pragma('journal_mode', { simple: true })).toBe('wal');
    expect(raw.pragma('user_version', { simple: true })).toBe(14);
    raw.close();
  });

  it('reads repository + outcome from one index range, not the outcome index walked row by row', async () => {
    const path = freshPath();
    await (await openStore(`sqlite:${path}`, { purgeIntervalMs: 0 })).close();
    const raw = new Database(path, { readonly: true });
    const rows = rowsFor({
      times: MS_TIMES,
      param: () => '?',
      repositoryEquals: (p) => `repository = ${p}`,
      actorEquals: (p) => `actor = ${p} COLLATE NOCASE`,
    });
    const { sql, params } = rows.auditPage(
      'audit',
      { repository: 'acme/web', outcome: 'denied' },
      { limit: 51 },
    );
    const plan = (raw.prepare(`EXPLAIN QUERY PLAN ${sql}`).all(...params) as Array<{ detail: string }>).map(
      (p) => p.detail,
    );
    raw.close();
    expect(plan.join('; ')).toMatch(
      /USING INDEX audit_repository_outcome_at \(repository=\? AND outcome=\?\)/,
    );
    expect(plan.join('; ')).not.toContain('TEMP B-TREE');
  });

  it('a jti recorded without an issuer (before jtis were keyed by issuer) still counts as spent', async () => {
    const path = freshPath();
    await (await openStore(`sqlite:${path}`, { purgeIntervalMs: 0 })).close();
    // The migration copies the old rows with issuer '': write one the way it does.
    const db = new Database(path);
    db.prepare("INSERT INTO used_jtis (issuer, jti, expires_at) VALUES ('', ?, ?)").run(
      'spent-before',
      Date.now() + 600_000,
    );
    db.close();
    const store = await openStore(`sqlite:${path}`, { purgeIntervalMs: 0 });
    const soon = new Date(Date.now() + 600_000);
    const issuer = 'https://token.actions.githubusercontent.com';
    expect(await store.consumeJti('spent-before', soon, issuer)).toBe(false);
    expect(await store.consumeJti('fresh', soon, issuer)).toBe(true);
    await store.close();
  });

  it('adds the client columns to a file of the version before, keeping its audit rows (issue 26)', async () => {
    const path = freshPath();
    const before = await openStore(`sqlite:${path}`, { purgeIntervalMs: 0 });
    await before.record(entry({ requestId: 'old' }));
    await before.close();
    // The file as version 6 left it: no client columns.
    const raw = new Database(path);
    raw.exec(`DROP TABLE audit_staging;
      DROP TABLE export_cursors;
      DROP TABLE export_counters;
      DROP INDEX audit_repository_outcome_at;
      DROP INDEX approval_requests_actor_id;
      DROP TABLE lease_activity_keys;
      DROP TABLE lease_activity;
      DROP INDEX audit_client_at;
      DROP TABLE run_first_leases;
      DROP TABLE audit_actor_ids;
      ALTER TABLE audit DROP COLUMN actor_id;
      ALTER TABLE audit DROP COLUMN client_key;
      ALTER TABLE audit DROP COLUMN user_agent;
      ALTER TABLE audit DROP COLUMN client_address;`);
    raw.pragma('user_version = 6');
    raw.close();
    const store = await openStore(`sqlite:${path}`, { purgeIntervalMs: 0 });
    await store.record(
      entry({ requestId: 'new', at: new Date('2025-03-01T13:00:00Z'), clientAddress: '192.0.2.1' }),
    );
    const rows = await store.queryAudit({});
    expect(rows.map((r) => [r.requestId, r.clientAddress])).toEqual([
      ['new', '192.0.2.1'],
      ['old', undefined],
    ]);
    expect((await store.queryAudit({ client: '192.0.2.0/24' })).map((r) => r.requestId)).toEqual(['new']);
    await store.close();
  });

  it('adds actor_id to a file of the version before: its decisions count by login, new ones by id', async () => {
    const path = freshPath();
    const before = await openStore(`sqlite:${path}`, { purgeIntervalMs: 0 });
    await before.record(entry({ requestId: 'old', event: 'approve', actor: 'alice' }));
    await before.close();
    // The file as version 12 left it: no actor_id, in the audit table or its staging table.
    const raw = new Database(path);
    raw.exec(`ALTER TABLE audit DROP COLUMN actor_id;
      ALTER TABLE audit_staging DROP COLUMN actor_id;
      DROP TABLE audit_actor_ids;
      DROP TABLE run_first_leases;`);
    raw.pragma('user_version = 12');
    raw.close();
    const store = await openStore(`sqlite:${path}`, { purgeIntervalMs: 0 });
    await store.record(entry({ requestId: 'new', event: 'approve', actor: 'alice', actorId: '1001' }));
    // A row without an id written after the upgrade (an older process on the file): nobody's.
    const later = new Date(Date.now() + 60_000);
    await store.record(entry({ requestId: 'late', event: 'approve', actor: 'alice', at: later }));
    const decided = async (id: string) =>
      (await store.queryAudit({ decidedBy: { login: 'alice', id } })).map((r) => [r.requestId, r.actorId]);
    expect(await decided('1001')).toEqual([
      ['new', '1001'],
      ['old', undefined],
    ]);
    expect(await decided('7777')).toEqual([['old', undefined]]);
    await store.close();
  });

  it('refuses a file migrated by a newer jitkey', async () => {
    const path = freshPath();
    const raw = new Database(path);
    raw.pragma('user_version = 99');
    raw.close();
    await expect(openStore(`sqlite:${path}`)).rejects.toMatchObject({
      code: 'unavailable',
      message: expect.stringContaining('newer than this jitkey knows (14): upgrade jitkey'),
    });
  });

  it('a path it cannot open is unavailable, naming the path', async () => {
    await expect(openStore('sqlite:/nonexistent-dir/jitkey.db')).rejects.toMatchObject({
      code: 'unavailable',
      message: expect.stringContaining('cannot open the store at sqlite:/nonexistent-dir/jitkey.db: '),
    });
  });

  it('two stores opening one new file at once both migrate it safely', async () => {
    const path = freshPath();
    const [a, b] = await Promise.all([
      openStore(`sqlite:${path}`, { purgeIntervalMs: 0 }),
      openStore(`sqlite:${path}`, { purgeIntervalMs: 0 }),
    ]);
    const exp = new Date(Date.now() + 60_000);
    expect([await a.consumeJti('j', exp), await b.consumeJti('j', exp)]).toEqual([true, false]);
    await Promise.all([a.close(), b.close()]);
  });

  it('never holds the raw revoke token, only its hash', async () => {
    const path = freshPath();
    const revokeToken = `jkr_${randomBytes(24).toString('base64url')}`;
    const hash = createHash('sha256').update(revokeToken).digest('hex');
    const store = await openStore(`sqlite:${path}`, { purgeIntervalMs: 0 });
    await store.record(entry({ leaseId: 'lease-s' }), lease({ id: 'lease-s', revokeTokenHash: hash }));
    await store.markRevoked('lease-s', new Date(), entry({ event: 'revoke', outcome: 'revoked' }));
    const files = () => readdirSync(dir).filter((f) => f.startsWith(path.split('/').pop()!));
    const bytes = () => Buffer.concat(files().map((f) => readFileSync(join(dir, f))));
    // While open (WAL holds the latest pages) and after close (checkpointed into the main file).
    expect(bytes().includes(revokeToken)).toBe(false);
    await store.close();
    const all = bytes();
    expect(all.includes(hash)).toBe(true); // the right file was read
    expect(all.includes(revokeToken)).toBe(false);
    expect(all.includes(Buffer.from(revokeToken.slice(4), 'base64url'))).toBe(false);
  });
});
