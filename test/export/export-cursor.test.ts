/**
 * The export's store half, in SQLite and PostgreSQL: rows come back in their order after a
 * position, activity events too; the named cursor is held by one exporter at a time and moves
 * only for its holder. PostgreSQL: a row whose transaction is still open holds back the rows
 * committed after it, so the cursor never passes it (an id order would).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { positionAfter } from '../../exchanger/export/exporter.js';
import {
  EXPORT_START,
  type ExportPosition,
  type ExportRecord,
} from '../../exchanger/store/export-cursor-types.js';
import { openStore } from '../../exchanger/store/open.js';
import type { Store } from '../../exchanger/store/types.js';
import { entry } from '../store/contract.js';
import { dropSchema, newSchema, PG_URL } from '../store/pg-support.js';

const dir = mkdtempSync(join(tmpdir(), 'jitkey-export-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;

interface Fresh {
  store: Store;
  cleanup(): Promise<void>;
}

const STORES: { name: string; fresh(): Promise<Fresh> }[] = [
  {
    name: 'sqlite',
    async fresh() {
      const store = await openStore(`sqlite:${join(dir, `s${++n}.db`)}`, { purgeIntervalMs: 0 });
      return { store, cleanup: () => store.close() };
    },
  },
  {
    name: 'postgres',
    async fresh() {
      const schema = newSchema();
      const store = await openStore(PG_URL, { schema, purgeIntervalMs: 0 });
      return {
        store,
        cleanup: async () => {
          await store.close();
          await dropSchema(schema);
        },
      };
    },
  },
];

const T = (s: number) => new Date(Date.UTC(2026, 0, 1, 0, 0, s));

async function addActivity(store: Store, leaseId: string, eventIds: string[]) {
  const key = {
    leaseId,
    provider: 'aws',
    keyId: `ASIA${leaseId.toUpperCase()}`,
    account: '111122223333',
    region: 'eu-west-1',
    windowStart: T(0),
    windowEnd: T(900),
    nextPollAt: T(0),
    status: 'collecting' as const,
  };
  await store.addActivityKey(key);
  await store.saveActivity(
    key,
    eventIds.map((eventId, i) => ({
      leaseId,
      keyId: key.keyId,
      eventId,
      at: T(10 + i),
      name: 'PutObject',
      source: 's3.amazonaws.com',
      region: 'eu-west-1',
      resources: [{ type: 'AWS::S3::Object', name: `bucket/${eventId}` }],
    })),
  );
}

/** Reads everything after `from`, batch by batch, as the exporter does. */
async function drain(store: Store, from: ExportPosition, batch: number) {
  const records: ExportRecord[] = [];
  let position = from;
  for (;;) {
    const more = await store.readExport(position, batch);
    if (more.length === 0) return { records, ids: records.map((r) => r.id), position };
    records.push(...more);
    position = positionAfter(position, more, undefined);
  }
}

/**
 * Drains again, as the exporter's next polls would, until `count` records have come or a deadline
 * passes (then the caller's assertion shows what is missing). PostgreSQL holds back rows
 * committed after any transaction still open on the server, and other test files share it: a
 * single drain may stop short of rows this test has committed.
 */
async function drainAtLeast(store: Store, from: ExportPosition, batch: number, count: number) {
  const deadline = Date.now() + 10_000;
  const records: ExportRecord[] = [];
  let position = from;
  for (;;) {
    const more = await drain(store, position, batch);
    records.push(...more.records);
    position = more.position;
    if (records.length >= count || Date.now() > deadline) {
      return { records, ids: records.map((r) => r.id), position };
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe.each(STORES)('export cursor ($name)', ({ fresh }) => {
  it('reads every audit row and activity event once, in order, batch after batch', async () => {
    const { store, cleanup } = await fresh();
    try {
      for (let i = 0; i < 25; i++) await store.record(entry({ requestId: `r${i}`, at: T(i) }));
      await addActivity(store, 'lease-a', ['e1', 'e2', 'e3']);
      await addActivity(store, 'lease-b', ['e4']);
      const first = await drainAtLeast(store, EXPORT_START, 7, 29);
      expect(first.ids.filter((id) => id.startsWith('audit-'))).toHaveLength(25);
      expect(new Set(first.ids).size).toBe(first.ids.length);
      expect(first.ids.filter((id) => id.startsWith('activity-')).sort()).toEqual([
        'activity-lease-a-e1',
        'activity-lease-a-e2',
        'activity-lease-a-e3',
        'activity-lease-b-e4',
      ]);
      const auditIds = first.ids.filter((id) => id.startsWith('audit-')).map((id) => Number(id.slice(6)));
      expect(auditIds).toEqual([...auditIds].sort((a, b) => a - b));

      // What arrives later comes after the position reached, and nothing before it again.
      await store.record(entry({ requestId: 'late', at: T(0) }));
      await addActivity(store, 'lease-a', ['e1', 'e5']); // e1 is already stored: kept once
      const second = await drainAtLeast(store, first.position, 7, 2);
      expect(second.ids).toHaveLength(2);
      expect(second.ids).toContain('activity-lease-a-e5');
      const [late] = await store.readExport(first.position, 1);
      expect(late?.stream === 'audit' && late.entry.requestId).toBe('late');
    } finally {
      await cleanup();
    }
  });

  it('joins the key: the provider, account and region of each activity event', async () => {
    const { store, cleanup } = await fresh();
    try {
      await addActivity(store, 'lease-c', ['e9']);
      const [record] = (await drainAtLeast(store, EXPORT_START, 10, 1)).records;
      expect(record?.stream).toBe('activity');
      expect(record?.stream === 'activity' && record.source).toEqual({
        provider: 'aws',
        account: '111122223333',
        region: 'eu-west-1',
      });
    } finally {
      await cleanup();
    }
  });

  it('is held by one exporter at a time and moves only for its holder', async () => {
    const { store, cleanup } = await fresh();
    try {
      const until = new Date(Date.now() + 60_000);
      expect(await store.claimExportCursor('siem', 'host-a', new Date(), until)).toEqual(EXPORT_START);
      expect(await store.claimExportCursor('siem', 'host-b', new Date(), until)).toBeUndefined();
      // Another name is another cursor.
      expect(await store.claimExportCursor('file', 'host-b', new Date(), until)).toEqual(EXPORT_START);
      const moved = { audit: '12', activity: '3', sink: 'file:1:2:300' };
      expect(await store.advanceExportCursor('siem', 'host-b', moved, until)).toBe(false);
      expect(await store.advanceExportCursor('siem', 'host-a', moved, until)).toBe(true);
      // The same holder (a restart on the same host) takes it again at once, where it was.
      expect(await store.claimExportCursor('siem', 'host-a', new Date(), until)).toEqual(moved);
      // Once its time has passed, another holder may take it; the old holder can no longer move it.
      const later = new Date(until.getTime() + 1);
      expect(
        await store.claimExportCursor('siem', 'host-b', later, new Date(later.getTime() + 60_000)),
      ).toEqual(moved);
      expect(await store.advanceExportCursor('siem', 'host-a', EXPORT_START, until)).toBe(false);
      await store.releaseExportCursor('siem', 'host-b');
      expect(await store.claimExportCursor('siem', 'host-c', new Date(), until)).toEqual(moved);
    } finally {
      await cleanup();
    }
  });

  it('is taken before its time from a holder that has ended, never from one still running', async () => {
    const { store, cleanup } = await fresh();
    try {
      const until = new Date(Date.now() + 60_000);
      const asked: string[] = [];
      const endedIs = (ended: string) => (holder: string) => {
        asked.push(holder);
        return holder === ended;
      };
      expect(await store.claimExportCursor('siem', 'h pid 1', new Date(), until)).toEqual(EXPORT_START);
      // Another process of the same host: the holder is running, so it waits.
      expect(
        await store.claimExportCursor('siem', 'h pid 2', new Date(), until, endedIs('h pid 9')),
      ).toBeUndefined();
      expect(asked).toEqual(['h pid 1']);
      // The holder was killed: taken at once, and the old holder can no longer move it.
      expect(await store.claimExportCursor('siem', 'h pid 2', new Date(), until, endedIs('h pid 1'))).toEqual(
        EXPORT_START,
      );
      expect(await store.advanceExportCursor('siem', 'h pid 1', EXPORT_START, until)).toBe(false);
      expect(await store.advanceExportCursor('siem', 'h pid 2', EXPORT_START, until)).toBe(true);
    } finally {
      await cleanup();
    }
  });
});

describe('export order in PostgreSQL under concurrent inserts', () => {
  it('does not pass a row whose transaction is still open, though later ids are committed', async () => {
    const schema = newSchema();
    const store = await openStore(PG_URL, { schema, purgeIntervalMs: 0 });
    const slow = new pg.Client({ connectionString: PG_URL });
    await slow.connect();
    try {
      await store.record(entry({ requestId: 'before' }));
      const start = await drainAtLeast(store, EXPORT_START, 100, 1);
      expect(start.ids).toHaveLength(1);

      // A writer takes the next id and stays in its transaction…
      await slow.query('BEGIN');
      const { rows } = await slow.query<{ id: string }>(
        `INSERT INTO "${schema}".audit (at, request_id, event, outcome, reason)
         VALUES (now(), 'slow', 'exchange', 'allowed', 'granted') RETURNING id`,
      );
      const slowId = Number(rows[0]!.id);
      // …while another commits a row with a higher id.
      await store.record(entry({ requestId: 'fast' }));
      const [fast] = await store.queryAudit({ requestId: 'fast' });
      expect(fast).toBeDefined();

      // Neither is handed out yet: the committed one would put the cursor past the open one.
      expect((await drain(store, start.position, 100)).ids).toEqual([]);

      await slow.query('COMMIT');
      const after = await drainAtLeast(store, start.position, 100, 2);
      expect(after.ids[0]).toBe(`audit-${slowId}`);
      expect(after.ids).toHaveLength(2);
      expect(after.ids[1]).toMatch(/^audit-\d+$/);
      expect(Number(after.ids[1]!.slice(6))).toBeGreaterThan(slowId);
    } finally {
      await slow.end();
      await store.close();
      await dropSchema(schema);
    }
  });
});

describe('export order of rows written before the export migration', () => {
  it('SQLite: numbers the activity events already stored, by time, and continues after them', async () => {
    const path = join(dir, `old-${++n}.db`);
    const before = await openStore(`sqlite:${path}`, { purgeIntervalMs: 0 });
    await addActivity(before, 'lease-old', ['b', 'a', 'c']);
    await before.close();
    // The file as the version before left it: no cursor tables, no sequence. The three migrations
    // after the export's (the audit staging table, the actor_id column, the run attempts' first
    // leases) are undone first.
    const raw = new Database(path);
    raw.exec(`DROP TABLE run_first_leases;
      ALTER TABLE audit DROP COLUMN actor_id;
      DROP TABLE audit_actor_ids;
      DROP TABLE audit_staging;
      DROP TRIGGER lease_activity_export_seq;
      DROP INDEX lease_activity_export_seq;
      ALTER TABLE lease_activity DROP COLUMN export_seq;
      DROP TABLE export_counters;
      DROP TABLE export_cursors;`);
    raw.pragma(`user_version = ${(raw.pragma('user_version', { simple: true }) as number) - 4}`);
    raw.close();
    const store = await openStore(`sqlite:${path}`, { purgeIntervalMs: 0 });
    try {
      const first = await drain(store, EXPORT_START, 2);
      // By time: b (10 s), a (11 s), c (12 s).
      expect(first.ids).toEqual(['activity-lease-old-b', 'activity-lease-old-a', 'activity-lease-old-c']);
      expect(first.position.activity).toBe('3');
      await addActivity(store, 'lease-new', ['d']);
      expect((await drain(store, first.position, 10)).ids).toEqual(['activity-lease-new-d']);
    } finally {
      await store.close();
    }
  });

  it('PostgreSQL: rows without a transaction id come first, in id order', async () => {
    const schema = newSchema();
    const store = await openStore(PG_URL, { schema, purgeIntervalMs: 0 });
    const admin = new pg.Client({ connectionString: PG_URL });
    await admin.connect();
    try {
      for (const id of ['old-1', 'old-2']) await store.record(entry({ requestId: id }));
      // As the migration leaves rows written before it.
      await admin.query(`UPDATE "${schema}".audit SET tx = NULL`);
      await store.record(entry({ requestId: 'new' }));
      const { records } = await drainAtLeast(store, EXPORT_START, 10, 3);
      expect(records.map((r) => r.stream === 'audit' && r.entry.requestId)).toEqual([
        'old-1',
        'old-2',
        'new',
      ]);
      expect((await drain(store, EXPORT_START, 1)).ids).toHaveLength(3);
    } finally {
      await admin.end();
      await store.close();
      await dropSchema(schema);
    }
  });
});
