/**
 * The shared store: PostgreSQL, for several exchanger instances behind one load balancer.
 *
 * - The pool, its timeouts and its idle-error listener: `postgres-pool.ts`. The schema, created
 *   and migrated at start under `pg_advisory_lock`: `postgres-schema.ts`. The audit and lease
 *   rows, shared with SQLite: `rows.ts`. Run attempts: `runs-postgres.ts`.
 * - Every write is one statement (data-modifying CTEs where two tables change), so each is
 *   atomic without a BEGIN/COMMIT round trip. The exchange's two writes are group-committed
 *   (`exchange-writes-postgres.ts`): one statement for the exchanges of one event-loop turn, as
 *   each statement costs the exchanger, the database and a context switch far more than a row.
 */
import type pg from 'pg';
import { JitkeyError } from '../errors.js';
import { silentLogger } from '../log.js';
import { postgresActivity } from './activity-postgres.js';
import { type PostgresIo, postgresApprovals } from './approvals-postgres.js';
import { AUDIT_PAGE_ROWS } from './audit-queries.js';
import type { AuditEntry } from './audit-types.js';
import {
  auditLimit,
  openFailure,
  PURGE_CHUNK,
  PURGE_TARGETS,
  type PurgeTarget,
  purgeSettings,
  RUN_FIRST_LEASE_KEY,
  startPurge,
  storeFailure,
} from './common.js';
import { consoleReads } from './console-reads.js';
import { rowsFor } from './dialect-rows.js';
import { postgresExchangeWrites } from './exchange-writes-postgres.js';
import { postgresExportCursor } from './export-cursor-postgres.js';
import type { LeaseRecord } from './leases-types.js';
import { describe, openPool, refuseInvalidDates, withTimeout } from './postgres-pool.js';
import { migratePostgres, tableNames } from './postgres-schema.js';
import {
  AUDIT_COLUMNS,
  AUDIT_FIELDS,
  type AuditRowOf,
  DATE_TIMES,
  LEASE_COLUMNS,
  LEASE_FIELDS,
  type LeaseRowOf,
  rowValues,
} from './rows.js';
import { postgresRuns } from './runs-postgres.js';
import { postgresSessions } from './sessions-postgres.js';
import type { Store, StoreOptions } from './types.js';

export { describe } from './postgres-pool.js';

const PING_TIMEOUT_MS = 2000;
const AUDIT_VALUES = AUDIT_FIELDS.map((field, i) => `$${i + 1}${field === 'claims' ? '::jsonb' : ''}`).join(
  ', ',
);

const dialect = rowsFor({
  times: DATE_TIMES,
  param: (n) => `$${n}`,
  // GitHub treats repository names case-insensitively; the index is on lower(repository).
  repositoryEquals: (placeholder) => `lower(repository) = lower(${placeholder})`,
  actorEquals: (placeholder) => `lower(actor) = lower(${placeholder})`,
});
const auditValues = (entry: AuditEntry) => rowValues(dialect.auditRow(entry), AUDIT_FIELDS);
const leaseValues = (lease: LeaseRecord) => rowValues(dialect.leaseRow(lease), LEASE_FIELDS);

/** `run_attempts` (`runs-postgres.ts`): PostgreSQL's own, purged with `completed_runs`. */
const RUN_ATTEMPTS: PurgeTarget = {
  table: 'run_attempts',
  key: 'repository_id, run_id, run_attempt',
  column: 'seen_at',
  what: 'purge run attempts',
};

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
    refuseInvalidDates(config.values);
    try {
      return await pool.query<R>(config);
    } catch (err) {
      throw storeFailure(what, err);
    }
  };

  const insertAudit = `INSERT INTO ${t('audit')} (${AUDIT_COLUMNS}) VALUES (${AUDIT_VALUES})`;
  // A row of issuer '' was written before jtis were keyed by issuer: it still counts as spent.
  const insertJti = `INSERT INTO ${t('used_jtis')} (issuer, jti, expires_at)
                       SELECT $3, $1, $2
                       WHERE NOT EXISTS (SELECT 1 FROM ${t('used_jtis')} WHERE issuer = '' AND jti = $1)
                       ON CONFLICT (issuer, jti) DO NOTHING RETURNING jti`;

  const io: PostgresIo = {
    t,
    query,
    auditColumns: AUDIT_COLUMNS,
    auditValues,
    leaseColumns: LEASE_COLUMNS,
    leaseValues,
  };
  const consumeJti = async (jti: string, expiresAt: Date, issuer = '') => {
    const { rowCount } = await query('record the token id', {
      name: 'jitkey_consume_jti',
      text: insertJti,
      values: [jti, expiresAt, issuer],
    });
    return rowCount === 1;
  };

  const exchangeWrites = postgresExchangeWrites(io);
  let closed = false;
  /** Deletes in bounded chunks; SKIP LOCKED lets several instances purge side by side. */
  const purgeTable = async (target: PurgeTarget, cutoff: number): Promise<number> => {
    const { what, table, key, column, databaseClockMarginMs } = target;
    // The database's clock, not this instance's (see PurgeTarget.databaseClockMarginMs).
    const before =
      databaseClockMarginMs === undefined
        ? '$1'
        : `LEAST($1::timestamptz, now() - interval '${databaseClockMarginMs} milliseconds')`;
    let total = 0;
    for (;;) {
      if (closed) return total;
      const chunk = `DELETE FROM ${t(table)} WHERE (${key}) IN
                 (SELECT ${key} FROM ${t(table)} WHERE ${column} < ${before} LIMIT $2 FOR UPDATE SKIP LOCKED)`;
      const { rows } = await query<{ n: string }>(what, {
        name: `jitkey_purge_${table}`,
        text: target.keepsFirstLeases
          ? keepingFirstLeases(chunk)
          : `WITH gone AS (${chunk} RETURNING 1) SELECT count(*) AS n FROM gone`,
        values: [new Date(cutoff), PURGE_CHUNK],
      });
      const deleted = Number(rows[0]?.n ?? 0);
      total += deleted;
      if (deleted < PURGE_CHUNK) return total;
    }
  };
  /** A lease chunk's delete, the first lease of each run attempt and role in it kept first. */
  const keepingFirstLeases = (chunk: string) => {
    const cols = RUN_FIRST_LEASE_KEY.join(', ');
    return `WITH gone AS (${chunk} RETURNING ${cols}, created_at), kept AS (
        INSERT INTO ${t('run_first_leases')} (${cols}, first_lease_at)
        SELECT ${cols}, min(created_at) FROM gone
         WHERE ${RUN_FIRST_LEASE_KEY.map((c) => `${c} IS NOT NULL`).join(' AND ')}
         GROUP BY ${cols} ORDER BY ${cols}
        ON CONFLICT (${cols})
        DO UPDATE SET first_lease_at = LEAST(${t('run_first_leases')}.first_lease_at, EXCLUDED.first_lease_at)
      )
      SELECT count(*) AS n FROM gone`;
  };
  const purger = startPurge(settings, log, async (target, cutoff) => {
    const n = await purgeTable(target, cutoff);
    // The attempts' rows that order grants and completions (`runs-postgres.ts`) go with them, a
    // day after anyone last wrote one.
    if (target === PURGE_TARGETS.completedRuns) await purgeTable(RUN_ATTEMPTS, cutoff);
    return n;
  });

  return {
    kind: 'postgres',
    consumeJti,
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
                 VALUES (${LEASE_FIELDS.map((_, i) => `$${AUDIT_FIELDS.length + 1 + i}`).join(', ')})
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
                 UPDATE ${t('leases')} SET revoked_at = coalesce(revoked_at, $${AUDIT_FIELDS.length + 1})
                  WHERE id = $${AUDIT_FIELDS.length + 2}
               )
               ${insertAudit}`,
        values: [...auditValues(entry), at, id],
      });
    },
    ...postgresApprovals(io),
    ...postgresRuns({ ...io, insertAudit, leaseRecord: dialect.leaseRecord }),
    ...exchangeWrites.writes,
    ...postgresSessions({ t, query }),
    ...postgresActivity({ t, query }),
    ...postgresExportCursor({ t, query }, dialect),
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
    ...consoleReads(dialect, { audit: t('audit'), leases: t('leases') }, async (what, text, values) => {
      const { rows } = await query<never>(what, { text, values });
      return rows;
    }),
    /**
     * A server-side cursor in a read-only transaction: one snapshot, `AUDIT_PAGE_ROWS` rows per
     * round trip, whatever matches. Exact where a keyset would not be: `at` holds microseconds,
     * a JavaScript Date only milliseconds.
     */
    async *streamAudit(filter) {
      const limit = filter.limit === undefined ? undefined : auditLimit(filter.limit);
      const { sql, params } = dialect.auditPage(t('audit'), filter, { limit });
      const what = 'read the audit trail';
      let client: pg.PoolClient;
      try {
        client = await pool.connect();
      } catch (err) {
        throw storeFailure(what, err);
      }
      let done = false;
      let failure: unknown;
      // Checked out, the client is no longer the pool's to watch: a connection lost now (a
      // failover, pg_terminate_backend) is an 'error' event that would end the process unheard.
      const onError = (err: Error) => {
        failure ??= err;
      };
      client.on('error', onError);
      try {
        refuseInvalidDates(params);
        await client.query('BEGIN READ ONLY');
        await client.query({ text: `DECLARE jitkey_audit NO SCROLL CURSOR FOR ${sql}`, values: params });
        for (;;) {
          const { rows } = await client.query<AuditRowOf<Date, unknown>>(
            `FETCH ${AUDIT_PAGE_ROWS} FROM jitkey_audit`,
          );
          for (const row of rows) yield dialect.auditEntry(row);
          if (rows.length < AUDIT_PAGE_ROWS) break;
        }
        await client.query('COMMIT');
        done = true;
      } catch (err) {
        failure = err;
        throw storeFailure(what, err);
      } finally {
        // Stopped early or failed: end the transaction, or drop the connection if that fails too.
        if (!done) await client.query('ROLLBACK').catch((err: unknown) => (failure ??= err));
        client.off('error', onError);
        client.release(failure instanceof Error ? failure : undefined);
      }
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
      // An exchange's writes submitted before close go out, rather than fail on an ended pool.
      await exchangeWrites.drain();
      await pool.end();
    },
  };
}
