/**
 * The shared store: PostgreSQL, for several exchanger instances behind one load balancer.
 *
 * - The pool, its timeouts and its idle-error listener: `postgres-pool.ts`. The schema, created
 *   and migrated at start under `pg_advisory_lock`: `postgres-schema.ts`. The audit and lease
 *   rows, shared with SQLite: `rows.ts`.
 * - Every write is one statement (data-modifying CTEs where two tables change), so each is
 *   atomic without a BEGIN/COMMIT round trip. No group commit here: the pool already runs
 *   writes in parallel, and PostgreSQL flushes concurrent commits together itself.
 */
import type pg from 'pg';
import { JitkeyError } from '../errors.js';
import { silentLogger } from '../log.js';
import { postgresApprovals } from './approvals-postgres.js';
import { openFailure, PURGE_CHUNK, purgeSettings, startPurge, storeFailure } from './common.js';
import { describe, openPool, withTimeout } from './postgres-pool.js';
import { migratePostgres, tableNames } from './postgres-schema.js';
import {
  AUDIT_COLUMNS,
  AUDIT_FIELDS,
  type AuditRowOf,
  DATE_TIMES,
  LEASE_COLUMNS,
  LEASE_FIELDS,
  type LeaseRowOf,
  rowsFor,
  rowValues,
} from './rows.js';
import type { AuditEntry, LeaseRecord, Store, StoreOptions } from './types.js';

export { describe } from './postgres-pool.js';

const PING_TIMEOUT_MS = 2000;
const AUDIT_VALUES = '$1, $2, $3, $4, $5, $6, $7, $8, $9, $10::jsonb, $11, $12, $13';

const dialect = rowsFor({
  times: DATE_TIMES,
  param: (n) => `$${n}`,
  // GitHub treats repository names case-insensitively; the index is on lower(repository).
  repositoryEquals: (placeholder) => `lower(repository) = lower(${placeholder})`,
});
const auditValues = (entry: AuditEntry) => rowValues(dialect.auditRow(entry), AUDIT_FIELDS);
const leaseValues = (lease: LeaseRecord) => rowValues(dialect.leaseRow(lease), LEASE_FIELDS);

export async function openPostgresStore(url: string, options: StoreOptions = {}): Promise<Store> {
  const log = options.log ?? silentLogger;
  const settings = purgeSettings(options);
  const schema = options.schema;
  const t = tableNames(schema);
  const where = describe(url);
  const pool = openPool(url, { schema, maxConnections: options.maxConnections, log });

  try {
    await migratePostgres(pool, schema, t, log);
  } catch (err) {
    await pool.end().catch(() => {});
    throw openFailure(where, err);
  }

  const query = async <R extends pg.QueryResultRow>(what: string, config: pg.QueryConfig) => {
    try {
      return await pool.query<R>(config);
    } catch (err) {
      throw storeFailure(what, err);
    }
  };

  const insertAudit = `INSERT INTO ${t('audit')} (${AUDIT_COLUMNS}) VALUES (${AUDIT_VALUES})`;

  let closed = false;
  /** Deletes in bounded chunks; SKIP LOCKED lets several instances purge side by side. */
  const purger = startPurge(
    settings,
    log,
    async ({ what, table, key, column, databaseClockMarginMs }, cutoff) => {
      // The database's clock, not this instance's (see PurgeTarget.databaseClockMarginMs).
      const before =
        databaseClockMarginMs === undefined
          ? '$1'
          : `LEAST($1::timestamptz, now() - interval '${databaseClockMarginMs} milliseconds')`;
      let total = 0;
      for (;;) {
        if (closed) return total;
        const { rowCount } = await query(what, {
          name: `jitkey_purge_${table}`,
          text: `DELETE FROM ${t(table)} WHERE (${key}) IN
                 (SELECT ${key} FROM ${t(table)} WHERE ${column} < ${before} LIMIT $2 FOR UPDATE SKIP LOCKED)`,
          values: [new Date(cutoff), PURGE_CHUNK],
        });
        total += rowCount ?? 0;
        if ((rowCount ?? 0) < PURGE_CHUNK) return total;
      }
    },
  );

  return {
    kind: 'postgres',
    async consumeJti(jti, expiresAt, issuer = '') {
      // A row of issuer '' was written before jtis were keyed by issuer: it still counts as spent.
      const { rowCount } = await query('record the token id', {
        name: 'jitkey_consume_jti',
        text: `INSERT INTO ${t('used_jtis')} (issuer, jti, expires_at)
                 SELECT $3, $1, $2
                 WHERE NOT EXISTS (SELECT 1 FROM ${t('used_jtis')} WHERE issuer = '' AND jti = $1)
                 ON CONFLICT (issuer, jti) DO NOTHING RETURNING jti`,
        values: [jti, expiresAt, issuer],
      });
      return rowCount === 1;
    },
    async record(entry, lease) {
      if (!lease) {
        await query('record the request', {
          name: 'jitkey_record',
          text: insertAudit,
          values: auditValues(entry),
        });
        return;
      }
      await query('record the lease', {
        name: 'jitkey_record_lease',
        text: `WITH lease AS (
                 INSERT INTO ${t('leases')} (${LEASE_COLUMNS})
                 VALUES ($14, $15, $16, $17, $18, $19, $20, $21, $22, $23)
               )
               ${insertAudit}`,
        values: [...auditValues(entry), ...leaseValues(lease)],
      });
    },
    async markRevoked(id, at, entry) {
      await query('record the revocation', {
        name: 'jitkey_mark_revoked',
        // coalesce: a second revocation keeps the first time (idempotent).
        text: `WITH revoked AS (
                 UPDATE ${t('leases')} SET revoked_at = coalesce(revoked_at, $14) WHERE id = $15
               )
               ${insertAudit}`,
        values: [...auditValues(entry), at, id],
      });
    },
    ...postgresApprovals({
      t,
      query,
      auditColumns: AUDIT_COLUMNS,
      auditValues,
      leaseColumns: LEASE_COLUMNS,
      leaseValues,
    }),
    async getLease(id) {
      const { rows } = await query<LeaseRowOf<Date>>('read the lease', {
        name: 'jitkey_get_lease',
        text: `SELECT ${LEASE_COLUMNS} FROM ${t('leases')} WHERE id = $1`,
        values: [id],
      });
      return rows[0] && dialect.leaseRecord(rows[0]);
    },
    async queryAudit(filter) {
      const { sql: text, params: values } = dialect.auditQuery(t('audit'), filter);
      const { rows } = await query<AuditRowOf<Date, unknown>>('read the audit trail', {
        text,
        values,
      });
      return rows.map(dialect.auditEntry);
    },
    purgeExpired: purger.purgeExpired,
    async ping() {
      if (closed) throw storeFailure('answer a ping', new Error('the store is closed'));
      const { rows } = await withTimeout(
        query<{ standby: boolean }>('answer a ping', {
          text: 'SELECT pg_is_in_recovery() AS standby',
          query_timeout: PING_TIMEOUT_MS,
        } as pg.QueryConfig),
        PING_TIMEOUT_MS,
      );
      if (rows[0]?.standby) {
        throw new JitkeyError(
          'unavailable',
          'the store is a read-only standby; point jitkey at the primary',
          {
            retryAfter: 1,
          },
        );
      }
    },
    async close() {
      if (closed) return;
      closed = true;
      await purger.stop();
      await pool.end();
    },
  };
}
