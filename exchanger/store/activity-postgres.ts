/** Lease activity in the PostgreSQL store (`activity-rows.ts`): keys to poll and the events found. */
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
import type { PostgresIo } from './approvals-postgres.js';
import { DATE_TIMES, rowValues } from './rows.js';

export const postgresActivityMigration = (t: (name: string) => string) => `
  CREATE TABLE ${t('lease_activity_keys')} (
    lease_id text NOT NULL,
    key_id text NOT NULL,
    provider text NOT NULL,
    account text NOT NULL,
    region text NOT NULL,
    window_start timestamptz NOT NULL,
    window_end timestamptz NOT NULL,
    next_poll_at timestamptz NOT NULL,
    status text NOT NULL,
    reason text,
    polled_at timestamptz,
    PRIMARY KEY (lease_id, key_id)
  );
  CREATE INDEX lease_activity_keys_due ON ${t('lease_activity_keys')} (status, next_poll_at);
  CREATE TABLE ${t('lease_activity')} (
    lease_id text NOT NULL,
    key_id text NOT NULL,
    event_id text NOT NULL,
    at timestamptz NOT NULL,
    name text NOT NULL,
    source text NOT NULL,
    region text,
    resources jsonb NOT NULL DEFAULT '[]',
    error_code text,
    read_only boolean,
    PRIMARY KEY (lease_id, event_id)
  );`;

/** Kubernetes audit events name their token's jti, not its lease: keys are found by id too. */
export const postgresActivityDetailsMigration = (t: (name: string) => string) => `
  CREATE INDEX lease_activity_keys_key ON ${t('lease_activity_keys')} (key_id);
  ALTER TABLE ${t('lease_activity')} ADD COLUMN details jsonb;`;

type KeyRow = ActivityKeyRowOf<Date>;
type EventRow = ActivityEventRowOf<Date>;

const params = (count: number, first = 1) =>
  Array.from({ length: count }, (_, i) => `$${first + i}`).join(', ');

export function postgresActivity({ t, query }: Pick<PostgresIo, 't' | 'query'>): ActivityStore {
  const keys = t('lease_activity_keys');
  const events = t('lease_activity');
  return {
    async addActivityKey(key) {
      await query('record the lease activity key', {
        name: 'jitkey_add_activity_key',
        text: `INSERT INTO ${keys} (${ACTIVITY_KEY_FIELDS.join(', ')}) VALUES (${params(ACTIVITY_KEY_FIELDS.length)})
               ON CONFLICT DO NOTHING`,
        values: rowValues(activityKeyRow(key, DATE_TIMES), ACTIVITY_KEY_FIELDS),
      });
    },
    async claimActivityKeys(now, leaseUntil, limit) {
      // SKIP LOCKED: instances polling side by side take different keys.
      const { rows } = await query<KeyRow>('claim lease activity keys', {
        name: 'jitkey_claim_activity_keys',
        text: `WITH due AS (
                 SELECT lease_id, key_id FROM ${keys}
                  WHERE status = 'collecting' AND next_poll_at <= $1
                  ORDER BY next_poll_at LIMIT $3 FOR UPDATE SKIP LOCKED
               ), before AS (
                 SELECT k.* FROM ${keys} k JOIN due USING (lease_id, key_id)
               )
               UPDATE ${keys} k SET next_poll_at = $2 FROM before
                WHERE k.lease_id = before.lease_id AND k.key_id = before.key_id
               RETURNING before.*`,
        values: [now, leaseUntil, limit],
      });
      return rows.map((r) => activityKey(r, DATE_TIMES));
    },
    async saveActivity(key, found) {
      const k = activityKeyRow(key, DATE_TIMES);
      const keyValues = [k.lease_id, k.key_id, k.next_poll_at, k.status, k.reason, k.polled_at];
      const n = ACTIVITY_EVENT_FIELDS.length;
      const eventValues = found.flatMap((e) =>
        rowValues(
          activityEventRow(e, DATE_TIMES, (v) => v),
          ACTIVITY_EVENT_FIELDS,
        ),
      );
      const first = keyValues.length + 1;
      const tuples = found.map((_, i) => `(${params(n, first + i * n)})`).join(', ');
      const insert = found.length
        ? `, inserted AS (INSERT INTO ${events} (${ACTIVITY_EVENT_FIELDS.join(', ')}) VALUES ${tuples}
             ON CONFLICT DO NOTHING RETURNING event_id)
           SELECT event_id FROM inserted`
        : ' SELECT NULL AS event_id WHERE false';
      const { rows } = await query<{ event_id: string }>('record the lease activity', {
        text: `WITH updated AS (
                 UPDATE ${keys} SET next_poll_at = $3, status = $4, reason = $5, polled_at = $6
                  WHERE lease_id = $1 AND key_id = $2
               )${insert}`,
        values: [...keyValues, ...eventValues],
      });
      return rows.map((r) => r.event_id);
    },
    async activityKeysById(keyIds) {
      if (keyIds.length === 0) return [];
      const { rows } = await query<KeyRow>('read lease activity keys', {
        name: 'jitkey_activity_keys_by_id',
        text: `SELECT * FROM ${keys} WHERE key_id = ANY($1::text[])`,
        values: [keyIds],
      });
      return rows.map((r) => activityKey(r, DATE_TIMES));
    },
    async addActivityEvents(found) {
      if (found.length === 0) return [];
      const n = ACTIVITY_EVENT_FIELDS.length;
      const { rows } = await query<{ event_id: string }>('record the lease activity', {
        text: `INSERT INTO ${events} (${ACTIVITY_EVENT_FIELDS.join(', ')})
               VALUES ${found.map((_, i) => `(${params(n, 1 + i * n)})`).join(', ')}
               ON CONFLICT DO NOTHING RETURNING event_id`,
        values: found.flatMap((e) =>
          rowValues(
            activityEventRow(e, DATE_TIMES, (v) => v),
            ACTIVITY_EVENT_FIELDS,
          ),
        ),
      });
      return rows.map((r) => r.event_id);
    },
    async leaseActivity(leaseId) {
      const [k, e] = await Promise.all([
        query<KeyRow>('read the lease activity', {
          name: 'jitkey_activity_keys',
          text: `SELECT * FROM ${keys} WHERE lease_id = $1 ORDER BY window_start, key_id`,
          values: [leaseId],
        }),
        query<EventRow>('read the lease activity', {
          name: 'jitkey_activity_events',
          text: `SELECT * FROM ${events} WHERE lease_id = $1 ORDER BY at, event_id`,
          values: [leaseId],
        }),
      ]);
      return {
        keys: k.rows.map((r) => activityKey(r, DATE_TIMES)),
        events: e.rows.map((r) => activityEvent(r, DATE_TIMES)),
      };
    },
  };
}
