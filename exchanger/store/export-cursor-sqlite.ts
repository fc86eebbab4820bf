/**
 * The SIEM export's cursor and reads in the SQLite store (`export-cursor-types.ts`).
 *
 * Order: audit rows by `id` (AUTOINCREMENT: never reused, even after a purge); activity events
 * by `export_seq`, which a trigger takes from a counter as each event is inserted (the table has
 * no rowid). SQLite has one writer at a time, so both follow commit order: a row a reader cannot
 * see yet gets a number above every row it can.
 */
import type Database from 'better-sqlite3';
import { type ActivityEventRowOf, activityEvent } from './activity-rows.js';
import type { SqliteIo } from './approvals-sqlite.js';
import type { DialectRows } from './dialect-rows.js';
import {
  activityEventId,
  activitySource,
  auditEventId,
  type ExportCursorStore,
  type ExportPosition,
  type ExportRecord,
  type SourceColumns,
} from './export-cursor-types.js';
import { type AuditRowOf, MS_TIMES } from './rows.js';

export const SQLITE_EXPORT_MIGRATION = `
  CREATE TABLE export_cursors (
    name TEXT PRIMARY KEY,
    audit TEXT NOT NULL,
    activity TEXT NOT NULL,
    sink TEXT,
    holder TEXT,
    held_until INTEGER,
    updated_at INTEGER NOT NULL
  ) WITHOUT ROWID;
  CREATE TABLE export_counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
  ALTER TABLE lease_activity ADD COLUMN export_seq INTEGER;
  UPDATE lease_activity SET export_seq = ordered.n
    FROM (SELECT lease_id, event_id, row_number() OVER (ORDER BY at, lease_id, event_id) AS n
            FROM lease_activity) AS ordered
   WHERE lease_activity.lease_id = ordered.lease_id AND lease_activity.event_id = ordered.event_id;
  INSERT INTO export_counters (name, value)
    SELECT 'lease_activity', coalesce(max(export_seq), 0) FROM lease_activity;
  CREATE UNIQUE INDEX lease_activity_export_seq ON lease_activity (export_seq);
  CREATE TRIGGER lease_activity_export_seq AFTER INSERT ON lease_activity BEGIN
    UPDATE export_counters SET value = value + 1 WHERE name = 'lease_activity';
    UPDATE lease_activity SET export_seq = (SELECT value FROM export_counters WHERE name = 'lease_activity')
     WHERE lease_id = NEW.lease_id AND event_id = NEW.event_id;
  END;`;

type CursorRow = {
  audit: string;
  activity: string;
  sink: string | null;
  holder: string | null;
  held_until: number | null;
};

/** A position is the decimal order key; '' (the start) reads as 0. */
const key = (position: string) => (position === '' ? 0 : Number(position));

export function sqliteExportCursor(
  db: Database.Database,
  io: Pick<SqliteIo, 'write' | 'read'>,
  dialect: DialectRows<number>,
): ExportCursorStore {
  const insert = db.prepare<[string, number]>(
    `INSERT INTO export_cursors (name, audit, activity, updated_at) VALUES (?, '', '', ?)
     ON CONFLICT DO NOTHING`,
  );
  const select = db.prepare<[string], CursorRow>('SELECT * FROM export_cursors WHERE name = ?');
  const hold = db.prepare<[string | null, number | null, string]>(
    'UPDATE export_cursors SET holder = ?, held_until = ? WHERE name = ?',
  );
  const advance = db.prepare<[string, string, string | null, number, number, string, string]>(
    `UPDATE export_cursors SET audit = ?, activity = ?, sink = ?, held_until = ?, updated_at = ?
      WHERE name = ? AND holder = ?`,
  );
  const release = db.prepare<[string, string]>(
    'UPDATE export_cursors SET holder = NULL, held_until = NULL WHERE name = ? AND holder = ?',
  );
  const audit = db.prepare<[number, number], AuditRowOf<number> & { id: number }>(
    'SELECT * FROM audit WHERE id > ? ORDER BY id LIMIT ?',
  );
  const activity = db.prepare<
    [number, number],
    ActivityEventRowOf<number> & SourceColumns & { export_seq: number }
  >(
    `SELECT a.*, k.provider AS key_provider, k.account AS key_account, k.region AS key_region
       FROM lease_activity a LEFT JOIN lease_activity_keys k USING (lease_id, key_id)
      WHERE a.export_seq > ? ORDER BY a.export_seq LIMIT ?`,
  );
  return {
    claimExportCursor: (name, holder, now, until, gone) =>
      io.write(() => {
        const at = MS_TIMES.encode(now, 'now');
        const heldUntil = MS_TIMES.encode(until, 'until');
        return () => {
          insert.run(name, at);
          const row = select.get(name)!;
          const free = row.holder === null || row.holder === holder || (row.held_until ?? 0) <= at;
          if (!free && !gone?.(row.holder!)) return undefined;
          hold.run(holder, heldUntil, name);
          const position: ExportPosition = { audit: row.audit, activity: row.activity };
          if (row.sink !== null) position.sink = row.sink;
          return position;
        };
      }),
    advanceExportCursor: (name, holder, position, until) =>
      io.write(() => {
        const heldUntil = MS_TIMES.encode(until, 'until');
        return () =>
          advance.run(
            position.audit,
            position.activity,
            position.sink ?? null,
            heldUntil,
            Date.now(),
            name,
            holder,
          ).changes === 1;
      }),
    releaseExportCursor: (name, holder) =>
      io.write(() => () => {
        release.run(name, holder);
      }),
    readExport: (after, limit) =>
      io.read('read the audit trail for export', () => {
        const records: ExportRecord[] = audit.all(key(after.audit), limit).map((row) => ({
          stream: 'audit',
          position: String(row.id),
          id: auditEventId(row.id),
          entry: dialect.auditEntry(row),
        }));
        for (const row of activity.all(key(after.activity), limit)) {
          const event = activityEvent(row, MS_TIMES);
          records.push({
            stream: 'activity',
            position: String(row.export_seq),
            id: activityEventId(event),
            event,
            ...activitySource(row),
          });
        }
        return records;
      }),
  };
}
