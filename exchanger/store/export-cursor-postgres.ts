/**
 * The SIEM export's cursor and reads in the PostgreSQL store (`export-cursor-types.ts`).
 *
 * An identity column does not follow commit order: two sessions take ids 7 and 8, the one with 8
 * commits first, and a reader that exported 8 would skip 7 when it commits. So each audit row
 * and activity event records the id of the transaction that inserted it (`tx`, a column default:
 * no writer changes), and the export reads only rows whose transaction is older than the oldest
 * one still running (`pg_snapshot_xmin` of the statement's snapshot): those can no longer
 * change, and every row still to come has a transaction id at or above that bound, so above the
 * cursor. Order is (tx, id) for audit rows and (tx, lease_id, event_id) for activity events;
 * rows written before this migration have no tx and sort first (as 0), in id order.
 * A transaction left open anywhere on the server holds the export back (it waits, loses nothing).
 */
import { type ActivityEventRowOf, activityEvent } from './activity-rows.js';
import type { PostgresIo } from './approvals-postgres.js';
import type { DialectRows } from './dialect-rows.js';
import {
  activityEventId,
  activitySource,
  auditEventId,
  type ExportCursorStore,
  type ExportRecord,
  type SourceColumns,
} from './export-cursor-types.js';
import { type AuditRowOf, DATE_TIMES } from './rows.js';

export const postgresExportMigration = (t: (name: string) => string) => `
  CREATE TABLE ${t('export_cursors')} (
    name text PRIMARY KEY,
    audit text NOT NULL,
    activity text NOT NULL,
    sink text,
    holder text,
    held_until timestamptz,
    updated_at timestamptz NOT NULL
  );
  ALTER TABLE ${t('audit')} ADD COLUMN tx xid8;
  ALTER TABLE ${t('audit')} ALTER COLUMN tx SET DEFAULT pg_current_xact_id();
  CREATE INDEX audit_export_order ON ${t('audit')} ((coalesce(tx, '0'::xid8)), id);
  ALTER TABLE ${t('lease_activity')} ADD COLUMN tx xid8;
  ALTER TABLE ${t('lease_activity')} ALTER COLUMN tx SET DEFAULT pg_current_xact_id();
  CREATE INDEX lease_activity_export_order
    ON ${t('lease_activity')} ((coalesce(tx, '0'::xid8)), lease_id, event_id);`;

/** Settled: the row's transaction ended before every transaction still running began. */
const SETTLED = `coalesce(tx, '0'::xid8) < pg_snapshot_xmin(pg_current_snapshot())`;

/** A position is the JSON array of the order key; '' (the start) is below every row. */
function parsePosition(position: string, parts: number): string[] {
  if (position === '') return ['0', ...Array.from({ length: parts - 1 }, () => '')];
  const key = JSON.parse(position) as unknown;
  if (!Array.isArray(key) || key.length !== parts || !key.every((k) => typeof k === 'string')) {
    throw new Error(`not a PostgreSQL export position: ${position}`);
  }
  return key as string[];
}

export function postgresExportCursor(
  { t, query }: Pick<PostgresIo, 't' | 'query'>,
  dialect: DialectRows<Date>,
): ExportCursorStore {
  const cursors = t('export_cursors');
  return {
    async claimExportCursor(name, holder, now, until, gone) {
      // A holder `gone` says has ended is replaced only if it still holds the cursor at the update.
      let replacing: string | null = null;
      if (gone) {
        const { rows } = await query<{ holder: string | null }>('read the export cursor holder', {
          name: 'jitkey_export_cursor_holder',
          text: `SELECT holder FROM ${cursors} WHERE name = $1`,
          values: [name],
        });
        const current = rows[0]?.holder;
        if (current && current !== holder && gone(current)) replacing = current;
      }
      const { rows } = await query<{ audit: string; activity: string; sink: string | null }>(
        'claim the export cursor',
        {
          name: 'jitkey_claim_export_cursor',
          text: `INSERT INTO ${cursors} AS c (name, audit, activity, holder, held_until, updated_at)
               VALUES ($1, '', '', $2, $4, $3)
               ON CONFLICT (name) DO UPDATE SET holder = $2, held_until = $4
                WHERE c.holder IS NULL OR c.holder = $2 OR c.holder = $5::text OR c.held_until <= $3
               RETURNING audit, activity, sink`,
          values: [name, holder, now, until, replacing],
        },
      );
      const row = rows[0];
      return (
        row && { audit: row.audit, activity: row.activity, ...(row.sink !== null ? { sink: row.sink } : {}) }
      );
    },
    async advanceExportCursor(name, holder, position, until) {
      const { rowCount } = await query('advance the export cursor', {
        name: 'jitkey_advance_export_cursor',
        text: `UPDATE ${cursors} SET audit = $3, activity = $4, sink = $5, held_until = $6, updated_at = now()
                WHERE name = $1 AND holder = $2`,
        values: [name, holder, position.audit, position.activity, position.sink ?? null, until],
      });
      return rowCount === 1;
    },
    async releaseExportCursor(name, holder) {
      await query('release the export cursor', {
        name: 'jitkey_release_export_cursor',
        text: `UPDATE ${cursors} SET holder = NULL, held_until = NULL WHERE name = $1 AND holder = $2`,
        values: [name, holder],
      });
    },
    async readExport(after, limit) {
      const [auditTx, auditId] = parsePosition(after.audit, 2);
      const [activityTx, leaseId, eventId] = parsePosition(after.activity, 3);
      const [audit, activity] = await Promise.all([
        query<AuditRowOf<Date, unknown> & { id: string; order_tx: string }>(
          'read the audit trail for export',
          {
            name: 'jitkey_export_audit',
            text: `SELECT *, coalesce(tx, '0'::xid8)::text AS order_tx FROM ${t('audit')}
                  WHERE (coalesce(tx, '0'::xid8), id) > ($1::xid8, $2::bigint) AND ${SETTLED}
                  ORDER BY coalesce(tx, '0'::xid8), id LIMIT $3`,
            values: [auditTx, auditId === '' ? '0' : auditId, limit],
          },
        ),
        query<ActivityEventRowOf<Date> & SourceColumns & { order_tx: string }>(
          'read the lease activity for export',
          {
            name: 'jitkey_export_activity',
            text: `SELECT a.*, coalesce(a.tx, '0'::xid8)::text AS order_tx,
                        k.provider AS key_provider, k.account AS key_account, k.region AS key_region
                   FROM ${t('lease_activity')} a
                   LEFT JOIN ${t('lease_activity_keys')} k USING (lease_id, key_id)
                  WHERE (coalesce(a.tx, '0'::xid8), a.lease_id, a.event_id) > ($1::xid8, $2, $3)
                    AND coalesce(a.tx, '0'::xid8) < pg_snapshot_xmin(pg_current_snapshot())
                  ORDER BY coalesce(a.tx, '0'::xid8), a.lease_id, a.event_id LIMIT $4`,
            values: [activityTx, leaseId, eventId, limit],
          },
        ),
      ]);
      const records: ExportRecord[] = audit.rows.map((row) => ({
        stream: 'audit',
        position: JSON.stringify([row.order_tx, String(row.id)]),
        id: auditEventId(row.id),
        entry: dialect.auditEntry(row),
      }));
      for (const row of activity.rows) {
        const event = activityEvent(row, DATE_TIMES);
        records.push({
          stream: 'activity',
          position: JSON.stringify([row.order_tx, row.lease_id, row.event_id]),
          id: activityEventId(event),
          event,
          ...activitySource(row),
        });
      }
      return records;
    },
  };
}
