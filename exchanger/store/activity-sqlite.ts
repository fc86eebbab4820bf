/** Lease activity in the SQLite store (`activity-rows.ts`): keys to poll and the events found. */
import type Database from 'better-sqlite3';
import {
  ACTIVITY_EVENT_FIELDS,
  ACTIVITY_KEY_FIELDS,
  type ActivityEventRowOf,
  type ActivityKeyRowOf,
  activityEvent,
  activityEventRow,
  activityKey,
  activityKeyRow,
} from './activity-rows.js';
import type { ActivityStore } from './activity-types.js';
import type { SqliteIo } from './approvals-sqlite.js';
import { MS_TIMES, namedParams } from './rows.js';

export const SQLITE_ACTIVITY_MIGRATION = `
  CREATE TABLE lease_activity_keys (
    lease_id TEXT NOT NULL,
    key_id TEXT NOT NULL,
    provider TEXT NOT NULL,
    account TEXT NOT NULL,
    region TEXT NOT NULL,
    window_start INTEGER NOT NULL,
    window_end INTEGER NOT NULL,
    next_poll_at INTEGER NOT NULL,
    status TEXT NOT NULL,
    reason TEXT,
    polled_at INTEGER,
    PRIMARY KEY (lease_id, key_id)
  ) WITHOUT ROWID;
  CREATE INDEX lease_activity_keys_due ON lease_activity_keys (status, next_poll_at);
  CREATE TABLE lease_activity (
    lease_id TEXT NOT NULL,
    key_id TEXT NOT NULL,
    event_id TEXT NOT NULL,
    at INTEGER NOT NULL,
    name TEXT NOT NULL,
    source TEXT NOT NULL,
    region TEXT,
    resources TEXT NOT NULL DEFAULT '[]',
    error_code TEXT,
    read_only INTEGER,
    PRIMARY KEY (lease_id, event_id)
  ) WITHOUT ROWID;`;

/** Kubernetes audit events name their token's jti, not its lease: keys are found by id too. */
export const SQLITE_ACTIVITY_DETAILS_MIGRATION = `
  CREATE INDEX lease_activity_keys_key ON lease_activity_keys (key_id);
  ALTER TABLE lease_activity ADD COLUMN details TEXT;`;

type KeyRow = ActivityKeyRowOf<number>;
type EventRow = ActivityEventRowOf<number>;

export function sqliteActivity(db: Database.Database, io: Pick<SqliteIo, 'write' | 'read'>): ActivityStore {
  const insertKey = db.prepare<KeyRow>(
    `INSERT INTO lease_activity_keys (${ACTIVITY_KEY_FIELDS.join(', ')}) VALUES (${namedParams(ACTIVITY_KEY_FIELDS)})
     ON CONFLICT DO NOTHING`,
  );
  const due = db.prepare<[number, number], KeyRow>(
    `SELECT * FROM lease_activity_keys WHERE status = 'collecting' AND next_poll_at <= ?
      ORDER BY next_poll_at LIMIT ?`,
  );
  const push = db.prepare<[number, string, string]>(
    'UPDATE lease_activity_keys SET next_poll_at = ? WHERE lease_id = ? AND key_id = ?',
  );
  const updateKey = db.prepare<KeyRow>(
    `UPDATE lease_activity_keys SET next_poll_at = @next_poll_at, status = @status, reason = @reason,
            polled_at = @polled_at WHERE lease_id = @lease_id AND key_id = @key_id`,
  );
  const insertEvent = db.prepare<EventRow>(
    `INSERT INTO lease_activity (${ACTIVITY_EVENT_FIELDS.join(', ')}) VALUES (${namedParams(ACTIVITY_EVENT_FIELDS)})
     ON CONFLICT DO NOTHING`,
  );
  const keysById = db.prepare<[string], KeyRow>(
    'SELECT * FROM lease_activity_keys WHERE key_id IN (SELECT value FROM json_each(?))',
  );
  const keysOf = db.prepare<[string], KeyRow>(
    'SELECT * FROM lease_activity_keys WHERE lease_id = ? ORDER BY window_start, key_id',
  );
  const eventsOf = db.prepare<[string], EventRow>(
    'SELECT * FROM lease_activity WHERE lease_id = ? ORDER BY at, event_id',
  );
  const readOnly = (value: boolean) => (value ? 1 : 0);
  return {
    addActivityKey: (key) =>
      io.write(() => {
        const row = activityKeyRow(key, MS_TIMES);
        return () => void insertKey.run(row);
      }),
    claimActivityKeys: (now, leaseUntil, limit) =>
      io.write(() => {
        const at = MS_TIMES.encode(now, 'now');
        const until = MS_TIMES.encode(leaseUntil, 'leaseUntil');
        return () =>
          due.all(at, limit).map((row) => {
            push.run(until, row.lease_id, row.key_id);
            return activityKey(row, MS_TIMES);
          });
      }),
    saveActivity: (key, events) =>
      io.write(() => {
        const keyRow = activityKeyRow(key, MS_TIMES);
        const rows = events.map((e) => activityEventRow(e, MS_TIMES, readOnly));
        return () => {
          const added = rows.filter((row) => insertEvent.run(row).changes === 1).map((row) => row.event_id);
          updateKey.run(keyRow);
          return added;
        };
      }),
    activityKeysById: (keyIds) =>
      io.read('read lease activity keys', () =>
        keyIds.length ? keysById.all(JSON.stringify(keyIds)).map((r) => activityKey(r, MS_TIMES)) : [],
      ),
    addActivityEvents: (events) =>
      io.write(() => {
        const rows = events.map((e) => activityEventRow(e, MS_TIMES, readOnly));
        return () => rows.filter((row) => insertEvent.run(row).changes === 1).map((row) => row.event_id);
      }),
    leaseActivity: (leaseId) =>
      io.read('read the lease activity', () => ({
        keys: keysOf.all(leaseId).map((r) => activityKey(r, MS_TIMES)),
        events: eventsOf.all(leaseId).map((r) => activityEvent(r, MS_TIMES)),
      })),
  };
}
