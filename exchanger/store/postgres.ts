/**
 * The shared store: PostgreSQL, for several exchanger instances behind one load balancer.
 *
 * - A bounded pool (`max`, default 10) with connect, statement and read timeouts: a slow or
 *   unreachable database costs a request seconds, not forever, and answers 503.
 * - `pool.on('error')` is attached: an idle client whose connection dies emits `error`, which
 *   without a listener would kill the process. The pool drops that client and opens a new one
 *   on the next query.
 * - Every write is one statement (data-modifying CTEs where two tables change), so each is
 *   atomic without a BEGIN/COMMIT round trip. No group commit here: the pool already runs
 *   writes in parallel, and PostgreSQL flushes concurrent commits together itself.
 * - The schema is created and migrated at start under `pg_advisory_lock`, so instances that
 *   start together migrate one after another; the others find it done.
 */
import pg from 'pg';
import { JitkeyError } from '../errors.js';
import { type Logger, silentLogger } from '../log.js';
import { postgresApprovals, postgresApprovalsMigration } from './approvals-postgres.js';
import {
  auditLimit,
  joinClaims,
  LEASE_GRACE_MS,
  openFailure,
  PURGE_CHUNK,
  type PurgeCounts,
  purgeSettings,
  schedulePurge,
  splitClaims,
  storeFailure,
} from './common.js';
import type { AuditEntry, AuditFilter, LeaseRecord, Store, StoreOptions } from './types.js';

/** Every jitkey instance takes this lock around migration ('jitk'). */
const MIGRATION_LOCK = 0x6a69746b;
const CONNECT_TIMEOUT_MS = 5000;
const STATEMENT_TIMEOUT_MS = 5000;
const MIGRATION_TIMEOUT_MS = 60_000;
const PING_TIMEOUT_MS = 2000;

/** Schema changes, in order; `schema_migrations` records which were applied. Append only. */
const MIGRATIONS: readonly ((t: (name: string) => string) => string)[] = [
  (t) => `
    CREATE TABLE ${t('used_jtis')} (
      jti text PRIMARY KEY,
      expires_at timestamptz NOT NULL
    );
    CREATE INDEX used_jtis_expires_at ON ${t('used_jtis')} (expires_at);

    CREATE TABLE ${t('leases')} (
      id text PRIMARY KEY,
      role text NOT NULL,
      provider text NOT NULL,
      created_at timestamptz NOT NULL,
      expires_at timestamptz NOT NULL,
      revoke_token_hash text NOT NULL,
      sealed_revocation text,
      repository text,
      run_id text,
      revoked_at timestamptz
    );
    CREATE INDEX leases_expires_at ON ${t('leases')} (expires_at);

    CREATE TABLE ${t('audit')} (
      id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      at timestamptz NOT NULL,
      request_id text NOT NULL,
      event text NOT NULL,
      outcome text NOT NULL,
      role text,
      provider text,
      error_code text,
      reason text NOT NULL,
      repository text,
      claims jsonb NOT NULL DEFAULT '{}',
      lease_id text,
      expires_at timestamptz,
      actor text
    );
    CREATE INDEX audit_at ON ${t('audit')} (at, id);
    CREATE INDEX audit_repository_at ON ${t('audit')} (lower(repository), at, id);
    CREATE INDEX audit_outcome_at ON ${t('audit')} (outcome, at, id);
    CREATE INDEX audit_role_at ON ${t('audit')} (role, at, id);`,
  postgresApprovalsMigration,
];

interface AuditRow {
  at: Date;
  request_id: string;
  event: AuditEntry['event'];
  outcome: AuditEntry['outcome'];
  role: string | null;
  provider: string | null;
  error_code: string | null;
  reason: string;
  repository: string | null;
  claims: Record<string, string>;
  lease_id: string | null;
  expires_at: Date | null;
  actor: string | null;
}

interface LeaseRow {
  id: string;
  role: string;
  provider: string;
  created_at: Date;
  expires_at: Date;
  revoke_token_hash: string;
  sealed_revocation: string | null;
  repository: string | null;
  run_id: string | null;
  revoked_at: Date | null;
}

const AUDIT_COLUMNS =
  'at, request_id, event, outcome, role, provider, error_code, reason, repository, claims, lease_id, expires_at, actor';
const AUDIT_VALUES = '$1, $2, $3, $4, $5, $6, $7, $8, $9, $10::jsonb, $11, $12, $13';
const LEASE_COLUMNS =
  'id, role, provider, created_at, expires_at, revoke_token_hash, sealed_revocation, repository, run_id, revoked_at';

export async function openPostgresStore(url: string, options: StoreOptions = {}): Promise<Store> {
  const log = options.log ?? silentLogger;
  const settings = purgeSettings(options);
  const schema = options.schema;
  if (schema !== undefined && !/^[A-Za-z_][A-Za-z0-9_]{0,62}$/.test(schema)) {
    throw new RangeError(`schema must be a plain SQL identifier (letters, digits, _), not '${schema}'`);
  }
  const t = (name: string) => (schema ? `"${schema}".${name}` : name);
  const where = describe(url);

  const pool = new pg.Pool({
    connectionString: url,
    max: options.maxConnections ?? 10,
    connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
    idleTimeoutMillis: 30_000,
    statement_timeout: STATEMENT_TIMEOUT_MS,
    // Client-side guard for a server that stops answering (the statement_timeout is server-side).
    query_timeout: STATEMENT_TIMEOUT_MS + 2000,
    keepAlive: true,
    application_name: schema ? `jitkey/${schema}`.slice(0, 63) : 'jitkey',
  });
  pool.on('error', (err) => {
    log.warn('store: an idle PostgreSQL connection failed; the pool will open a new one', { error: err });
  });

  try {
    await migrate(pool, schema, t, log);
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

  const auditValues = (entry: AuditEntry) => {
    const { repository, rest } = splitClaims(entry.claims);
    return [
      entry.at,
      entry.requestId,
      entry.event,
      entry.outcome,
      entry.role ?? null,
      entry.provider ?? null,
      entry.errorCode ?? null,
      entry.reason,
      repository,
      rest,
      entry.leaseId ?? null,
      entry.expiresAt ?? null,
      entry.actor ?? null,
    ];
  };
  const insertAudit = `INSERT INTO ${t('audit')} (${AUDIT_COLUMNS}) VALUES (${AUDIT_VALUES})`;

  let closed = false;
  /** Deletes in bounded chunks; SKIP LOCKED lets several instances purge side by side. */
  const chunked = async (what: string, table: string, key: string, column: string, cutoff: Date) => {
    let total = 0;
    for (;;) {
      if (closed) return total;
      const { rowCount } = await query(what, {
        name: `jitkey_purge_${table}`,
        text: `DELETE FROM ${t(table)} WHERE ${key} IN
                 (SELECT ${key} FROM ${t(table)} WHERE ${column} < $1 LIMIT $2 FOR UPDATE SKIP LOCKED)`,
        values: [cutoff, PURGE_CHUNK],
      });
      total += rowCount ?? 0;
      if ((rowCount ?? 0) < PURGE_CHUNK) return total;
    }
  };
  const purge = async (now: Date): Promise<PurgeCounts> => {
    const jtis = await chunked('purge used token ids', 'used_jtis', 'jti', 'expires_at', now);
    const leases = await chunked(
      'purge expired leases',
      'leases',
      'id',
      'expires_at',
      new Date(now.getTime() - LEASE_GRACE_MS),
    );
    const approvals = await chunked(
      'purge expired approval requests',
      'approval_requests',
      'id',
      'expires_at',
      new Date(now.getTime() - LEASE_GRACE_MS),
    );
    const audit =
      settings.retentionMs === undefined
        ? 0
        : await chunked(
            'purge old audit rows',
            'audit',
            'id',
            'at',
            new Date(now.getTime() - settings.retentionMs),
          );
    return { jtis, leases, approvals, audit };
  };
  const purger = schedulePurge(purge, settings, log);

  return {
    kind: 'postgres',
    async consumeJti(jti, expiresAt) {
      const { rowCount } = await query('record the token id', {
        name: 'jitkey_consume_jti',
        text: `INSERT INTO ${t('used_jtis')} (jti, expires_at) VALUES ($1, $2) ON CONFLICT (jti) DO NOTHING RETURNING jti`,
        values: [jti, expiresAt],
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
      const { rows } = await query<LeaseRow>('read the lease', {
        name: 'jitkey_get_lease',
        text: `SELECT ${LEASE_COLUMNS} FROM ${t('leases')} WHERE id = $1`,
        values: [id],
      });
      return rows[0] && leaseRecord(rows[0]);
    },
    async queryAudit(filter) {
      const { text, values } = auditQuery(t('audit'), filter);
      const { rows } = await query<AuditRow>('read the audit trail', { text, values });
      return rows.map(auditEntry);
    },
    purgeExpired: async (now) => (await purge(now)).jtis,
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

async function migrate(
  pool: pg.Pool,
  schema: string | undefined,
  t: (name: string) => string,
  log: Logger,
): Promise<void> {
  const client = await pool.connect();
  const onError = (err: Error) => log.warn('store: migration connection failed', { error: err });
  client.on('error', onError);
  const run = (text: string, values?: unknown[]) =>
    client.query({ text, values, query_timeout: MIGRATION_TIMEOUT_MS + 5000 } as pg.QueryConfig);
  try {
    await run(`SET statement_timeout = ${MIGRATION_TIMEOUT_MS}`);
    await run('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK]);
    if (schema) await run(`CREATE SCHEMA IF NOT EXISTS "${schema}"`);
    await run(
      `CREATE TABLE IF NOT EXISTS ${t('schema_migrations')} (
         version integer PRIMARY KEY,
         applied_at timestamptz NOT NULL DEFAULT now()
       )`,
    );
    const { rows } = await run(`SELECT coalesce(max(version), 0) AS version FROM ${t('schema_migrations')}`);
    const current = Number(rows[0]?.version ?? 0);
    if (current > MIGRATIONS.length) {
      throw new Error(
        `the PostgreSQL store has schema version ${current}, newer than this jitkey knows (${MIGRATIONS.length}): upgrade jitkey`,
      );
    }
    for (let version = current; version < MIGRATIONS.length; version++) {
      await run('BEGIN');
      try {
        await run(MIGRATIONS[version]!(t));
        await run(`INSERT INTO ${t('schema_migrations')} (version) VALUES ($1)`, [version + 1]);
        await run('COMMIT');
      } catch (err) {
        await run('ROLLBACK').catch(() => {});
        throw err;
      }
    }
  } finally {
    client.off('error', onError);
    // Destroyed, not returned to the pool: closing the session releases the advisory lock
    // (also after a failure) and drops its longer statement_timeout.
    client.release(true);
  }
}

function auditQuery(table: string, filter: AuditFilter): { text: string; values: unknown[] } {
  const where: string[] = [];
  const values: unknown[] = [];
  const param = (value: unknown) => {
    values.push(value);
    return `$${values.length}`;
  };
  if (filter.since) where.push(`at >= ${param(filter.since)}`);
  // GitHub treats repository names case-insensitively; the index is on lower(repository).
  if (filter.repository !== undefined) where.push(`lower(repository) = lower(${param(filter.repository)})`);
  if (filter.outcome !== undefined) where.push(`outcome = ${param(filter.outcome)}`);
  if (filter.role !== undefined) where.push(`role = ${param(filter.role)}`);
  const limit = param(auditLimit(filter.limit));
  const clause = where.length ? `WHERE ${where.join(' AND ')}` : '';
  return {
    text: `SELECT ${AUDIT_COLUMNS} FROM ${table} ${clause} ORDER BY at DESC, id DESC LIMIT ${limit}`,
    values,
  };
}

function leaseValues(lease: LeaseRecord): unknown[] {
  return [
    lease.id,
    lease.role,
    lease.provider,
    lease.createdAt,
    lease.expiresAt,
    lease.revokeTokenHash,
    lease.sealedRevocation ?? null,
    lease.repository ?? null,
    lease.runId ?? null,
    lease.revokedAt ?? null,
  ];
}

function auditEntry(row: AuditRow): AuditEntry {
  return {
    at: row.at,
    requestId: row.request_id,
    event: row.event,
    outcome: row.outcome,
    ...(row.role !== null ? { role: row.role } : {}),
    ...(row.provider !== null ? { provider: row.provider } : {}),
    ...(row.error_code !== null ? { errorCode: row.error_code } : {}),
    reason: row.reason,
    claims: joinClaims(row.repository, row.claims),
    ...(row.lease_id !== null ? { leaseId: row.lease_id } : {}),
    ...(row.expires_at !== null ? { expiresAt: row.expires_at } : {}),
    ...(row.actor !== null ? { actor: row.actor } : {}),
  };
}

function leaseRecord(row: LeaseRow): LeaseRecord {
  return {
    id: row.id,
    role: row.role,
    provider: row.provider,
    createdAt: row.created_at,
    expiresAt: row.expires_at,
    revokeTokenHash: row.revoke_token_hash,
    ...(row.sealed_revocation !== null ? { sealedRevocation: row.sealed_revocation } : {}),
    ...(row.repository !== null ? { repository: row.repository } : {}),
    ...(row.run_id !== null ? { runId: row.run_id } : {}),
    ...(row.revoked_at !== null ? { revokedAt: row.revoked_at } : {}),
  };
}

/** `postgres://host:port/db` without user or password, for messages. */
export function describe(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}${u.pathname}`;
  } catch {
    return 'the configured PostgreSQL URL';
  }
}

async function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(storeFailure('answer a ping', new Error(`no answer within ${ms} ms (timeout)`))),
      ms,
    );
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
    promise.catch(() => {}); // a late failure after the timeout is not unhandled
  }
}
