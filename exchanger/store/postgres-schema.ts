/**
 * The PostgreSQL schema and its versioned migrations. `schema_migrations` records the versions
 * applied; each runs in its own transaction, and all of them under `pg_advisory_lock`, so
 * instances that start together migrate one after another and the others find it done.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type pg from 'pg';
import type { Logger } from '../log.js';
import { postgresActivityDetailsMigration, postgresActivityMigration } from './activity-postgres.js';
import { postgresApprovalsMigration } from './approvals-postgres.js';
import { checkSchemaVersion } from './common.js';
import { postgresExportMigration } from './export-cursor-postgres.js';
import { postgresSessionsMigration } from './sessions-postgres.js';

/** A table's name, qualified by jitkey's schema when one is configured. */
export type TableName = (name: string) => string;

/** Every jitkey instance takes this lock around migration ('jitk'). */
const MIGRATION_LOCK = 0x6a69746b;
const MIGRATION_TIMEOUT_MS = 60_000;
/**
 * How long one migration waits for a table lock before it gives way. An `ALTER TABLE` waiting
 * for a long read (an audit download) holds every write to that table behind it, other
 * instances' exchanges included; it lets them through and tries again after `MIGRATION_RETRY_MS`,
 * until `MIGRATION_TIMEOUT_MS` has passed.
 */
const MIGRATION_LOCK_WAIT_MS = 2000;
const MIGRATION_RETRY_MS = 1000;
/** SQLSTATE lock_not_available: `lock_timeout` ran out. */
const LOCK_NOT_AVAILABLE = '55P03';

/** Schema changes, in order; `schema_migrations` records which were applied. Append only. */
const MIGRATIONS: readonly ((t: TableName) => string)[] = [
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
  // Run attempts (issue 10): leases findable by run attempt; attempts a webhook completed.
  (t) => `
    ALTER TABLE ${t('leases')} ADD COLUMN repository_id text,
      ADD COLUMN run_attempt text, ADD COLUMN sealed_run_end text;
    CREATE INDEX leases_run ON ${t('leases')} (repository_id, run_id, run_attempt, role, created_at);
    CREATE TABLE ${t('completed_runs')} (
      repository_id text NOT NULL,
      run_id text NOT NULL,
      run_attempt text NOT NULL,
      completed_at timestamptz NOT NULL,
      PRIMARY KEY (repository_id, run_id, run_attempt)
    );`,
  // Spent jtis keyed by issuer and jti (rows from before carry issuer '', still honoured).
  (t) => `
    ALTER TABLE ${t('used_jtis')} ADD COLUMN issuer text NOT NULL DEFAULT '';
    ALTER TABLE ${t('used_jtis')} DROP CONSTRAINT used_jtis_pkey;
    ALTER TABLE ${t('used_jtis')} ADD PRIMARY KEY (issuer, jti);`,
  // The console (issue 20): sign-in sessions; one request's audit rows found by its id.
  postgresSessionsMigration,
  // The console's audit screen filters by provider and by who acted (issue 20).
  (t) => `
    CREATE INDEX audit_provider_at ON ${t('audit')} (provider, at, id);
    CREATE INDEX audit_actor_at ON ${t('audit')} (lower(actor), at, id);`,
  // Every audit row names its client (issue 26): address, user agent, and the address's sortable
  // key (compared byte by byte), so `--client 10.0.0.0/8` is one range of an index.
  (t) => `
    ALTER TABLE ${t('audit')} ADD COLUMN client_address text,
      ADD COLUMN user_agent text, ADD COLUMN client_key text COLLATE "C";
    CREATE INDEX audit_client_at ON ${t('audit')} (client_key, at, id);`,
  // What each lease's credentials did upstream (issue 26): keys to poll, events found.
  postgresActivityMigration,
  // Repository and outcome together (the console's commonest pair): one range of one index.
  (t) => `
    CREATE INDEX audit_repository_outcome_at ON ${t('audit')} (lower(repository), outcome, at, id);`,
  // Kubernetes lease activity (issue 26): keys found by the jti an audit event names; event details.
  postgresActivityDetailsMigration,
  // The SIEM export (issue 26): named cursors; rows ordered by their inserting transaction.
  postgresExportMigration,
  // Who decided, by GitHub user id as well as login: the console's share of the trail for someone
  // who is not an admin matches the id, so a login that changed hands does not carry it along.
  // A row without an id counts by its login only if it is older than this migration: one that an
  // older instance wrote since (a rolling upgrade) counts for nobody.
  (t) => `
    ALTER TABLE ${t('audit')} ADD COLUMN actor_id text;
    CREATE TABLE ${t('audit_actor_ids')} (since timestamptz NOT NULL);
    INSERT INTO ${t('audit_actor_ids')} (since) VALUES (now());`,
  // A row per run attempt that a grant and the attempt's completion both write, so the row lock
  // orders them (`exchange-writes-postgres.ts`). No index on seen_at: each grant batch rewrites
  // it, and the purge reads a table of one day's attempts.
  (t) => `
    CREATE TABLE ${t('run_attempts')} (
      repository_id text NOT NULL,
      run_id text NOT NULL,
      run_attempt text NOT NULL,
      completed boolean NOT NULL DEFAULT false,
      seen_at timestamptz NOT NULL,
      PRIMARY KEY (repository_id, run_id, run_attempt)
    );`,
  // A run attempt's first lease of each role, kept when the lease itself is purged: its
  // max_duration counts from it (common.ts, RUN_FIRST_LEASE_KEPT_MS).
  (t) => `
    CREATE TABLE ${t('run_first_leases')} (
      repository_id text NOT NULL,
      run_id text NOT NULL,
      run_attempt text NOT NULL,
      role text NOT NULL,
      first_lease_at timestamptz NOT NULL,
      PRIMARY KEY (repository_id, run_id, run_attempt, role)
    );
    CREATE INDEX run_first_leases_at ON ${t('run_first_leases')} (first_lease_at);`,
];

/** The schema version a fresh database reaches: the number of migrations. */
export const POSTGRES_SCHEMA_VERSION = MIGRATIONS.length;

/** Checks the configured schema is a plain identifier and returns the table namer for it. */
export function tableNames(schema: string | undefined): TableName {
  if (schema !== undefined && !/^[A-Za-z_][A-Za-z0-9_]{0,62}$/.test(schema)) {
    throw new RangeError(`schema must be a plain SQL identifier (letters, digits, _), not '${schema}'`);
  }
  return (name: string) => (schema ? `"${schema}".${name}` : name);
}

export async function migratePostgres(
  pool: pg.Pool,
  schema: string | undefined,
  t: TableName,
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
    // After the advisory lock: another instance migrating is waited for as long as it takes.
    await run(`SET lock_timeout = ${MIGRATION_LOCK_WAIT_MS}`);
    const deadline = Date.now() + MIGRATION_TIMEOUT_MS;
    if (schema) await run(`CREATE SCHEMA IF NOT EXISTS "${schema}"`);
    await run(
      `CREATE TABLE IF NOT EXISTS ${t('schema_migrations')} (
         version integer PRIMARY KEY,
         applied_at timestamptz NOT NULL DEFAULT now()
       )`,
    );
    const { rows } = await run(`SELECT coalesce(max(version), 0) AS version FROM ${t('schema_migrations')}`);
    const current = Number(rows[0]?.version ?? 0);
    checkSchemaVersion('PostgreSQL', current, MIGRATIONS.length);
    for (let version = current; version < MIGRATIONS.length; version++) {
      for (let attempt = 1; ; attempt++) {
        await run('BEGIN');
        try {
          await run(MIGRATIONS[version]!(t));
          await run(`INSERT INTO ${t('schema_migrations')} (version) VALUES ($1)`, [version + 1]);
          await run('COMMIT');
          break;
        } catch (err) {
          await run('ROLLBACK').catch(() => {});
          if ((err as { code?: unknown }).code !== LOCK_NOT_AVAILABLE || Date.now() > deadline) throw err;
          log.warn('store: a migration waits for a table that others are reading; trying again', {
            version: version + 1,
            attempt,
          });
          await sleep(MIGRATION_RETRY_MS);
        }
      }
    }
  } finally {
    client.off('error', onError);
    // Destroyed, not returned to the pool: closing the session releases the advisory lock
    // (also after a failure) and drops its longer statement_timeout.
    client.release(true);
  }
}
