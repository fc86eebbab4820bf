/**
 * The SQLite schema and its versioned migrations. `PRAGMA user_version` counts the migrations
 * applied; they run in one IMMEDIATE transaction, so of several processes opening one file at
 * once, one migrates and the others find the version already current.
 */
import type Database from 'better-sqlite3';
import { SQLITE_ACTIVITY_DETAILS_MIGRATION, SQLITE_ACTIVITY_MIGRATION } from './activity-sqlite.js';
import { SQLITE_APPROVALS_MIGRATION } from './approvals-sqlite.js';
import { SQLITE_AUDIT_STAGING_MIGRATION } from './audit-staging-sqlite.js';
import { checkSchemaVersion } from './common.js';
import { SQLITE_EXPORT_MIGRATION } from './export-cursor-sqlite.js';
import { SQLITE_SESSIONS_MIGRATION } from './sessions-sqlite.js';

/** Schema changes, in order; `PRAGMA user_version` counts how many were applied. Append only. */
const MIGRATIONS: readonly string[] = [
  `CREATE TABLE used_jtis (
     jti TEXT PRIMARY KEY,
     expires_at INTEGER NOT NULL
   ) WITHOUT ROWID;
   CREATE INDEX used_jtis_expires_at ON used_jtis (expires_at);

   CREATE TABLE leases (
     id TEXT PRIMARY KEY,
     role TEXT NOT NULL,
     provider TEXT NOT NULL,
     created_at INTEGER NOT NULL,
     expires_at INTEGER NOT NULL,
     revoke_token_hash TEXT NOT NULL,
     sealed_revocation TEXT,
     repository TEXT,
     run_id TEXT,
     revoked_at INTEGER
   );
   CREATE INDEX leases_expires_at ON leases (expires_at);

   CREATE TABLE audit (
     id INTEGER PRIMARY KEY AUTOINCREMENT,
     at INTEGER NOT NULL,
     request_id TEXT NOT NULL,
     event TEXT NOT NULL,
     outcome TEXT NOT NULL,
     role TEXT,
     provider TEXT,
     error_code TEXT,
     reason TEXT NOT NULL,
     repository TEXT COLLATE NOCASE,
     claims TEXT NOT NULL DEFAULT '{}',
     lease_id TEXT,
     expires_at INTEGER,
     actor TEXT
   );
   CREATE INDEX audit_at ON audit (at);
   CREATE INDEX audit_repository_at ON audit (repository, at);
   CREATE INDEX audit_outcome_at ON audit (outcome, at);
   CREATE INDEX audit_role_at ON audit (role, at);`,
  SQLITE_APPROVALS_MIGRATION,
  // Run attempts (issue 10): leases findable by run attempt; attempts a webhook completed.
  `ALTER TABLE leases ADD COLUMN repository_id TEXT;
   ALTER TABLE leases ADD COLUMN run_attempt TEXT;
   ALTER TABLE leases ADD COLUMN sealed_run_end TEXT;
   CREATE INDEX leases_run ON leases (repository_id, run_id, run_attempt, role, created_at);
   CREATE TABLE completed_runs (
     repository_id TEXT NOT NULL,
     run_id TEXT NOT NULL,
     run_attempt TEXT NOT NULL,
     completed_at INTEGER NOT NULL,
     PRIMARY KEY (repository_id, run_id, run_attempt)
   ) WITHOUT ROWID;`,
  // Spent jtis keyed by issuer and jti: two issuers may use the same jti. Rows from before carry
  // issuer '' and are still honoured (consumeJti checks them) until they expire.
  `CREATE TABLE used_jtis_by_issuer (
     issuer TEXT NOT NULL,
     jti TEXT NOT NULL,
     expires_at INTEGER NOT NULL,
     PRIMARY KEY (issuer, jti)
   ) WITHOUT ROWID;
   INSERT INTO used_jtis_by_issuer (issuer, jti, expires_at) SELECT '', jti, expires_at FROM used_jtis;
   DROP TABLE used_jtis;
   ALTER TABLE used_jtis_by_issuer RENAME TO used_jtis;
   CREATE INDEX used_jtis_expires_at ON used_jtis (expires_at);`,
  // The console (issue 20): sign-in sessions; one request's audit rows found by its id.
  SQLITE_SESSIONS_MIGRATION,
  // The console's audit screen filters by provider and by who acted (issue 20).
  `CREATE INDEX audit_provider_at ON audit (provider, at);
   CREATE INDEX audit_actor_at ON audit (actor COLLATE NOCASE, at);`,
  // Every audit row names its client (issue 26): address, user agent, and the address's sortable
  // key, so `--client 10.0.0.0/8` is one range of an index. Rows from before have none.
  `ALTER TABLE audit ADD COLUMN client_address TEXT;
   ALTER TABLE audit ADD COLUMN user_agent TEXT;
   ALTER TABLE audit ADD COLUMN client_key TEXT;
   CREATE INDEX audit_client_at ON audit (client_key, at);`,
  // What each lease's credentials did upstream (issue 26): keys to poll, events found.
  SQLITE_ACTIVITY_MIGRATION,
  // Repository and outcome together (the console's commonest pair): one range of one index, where
  // the outcome index alone is walked through every row of that outcome when nothing matches.
  // And the console's queue counts an approver's own jobs apart, by this index, not row by row.
  `CREATE INDEX audit_repository_outcome_at ON audit (repository, outcome, at);
   CREATE INDEX approval_requests_actor_id ON approval_requests (json_extract(claims, '$.actor_id'));`,
  // Kubernetes lease activity (issue 26): keys found by the jti an audit event names; event details.
  SQLITE_ACTIVITY_DETAILS_MIGRATION,
  // The SIEM export (issue 26): named cursors; activity events numbered in commit order.
  SQLITE_EXPORT_MIGRATION,
  // Audit rows staged without indexes and moved into `audit` in bulk (issue 23). A column added
  // to `audit` from here on is added to `audit_staging` in the same migration.
  SQLITE_AUDIT_STAGING_MIGRATION,
  // Who decided, by GitHub user id as well as login: the console's share of the trail for someone
  // who is not an admin matches the id, so a login that changed hands does not carry it along.
  // A row without an id counts by its login only if it is older than this migration: one that an
  // older process wrote (or moved) since has lost its id, and counts for nobody.
  `ALTER TABLE audit ADD COLUMN actor_id TEXT;
   ALTER TABLE audit_staging ADD COLUMN actor_id TEXT;
   CREATE TABLE audit_actor_ids (since INTEGER NOT NULL);
   INSERT INTO audit_actor_ids (since) VALUES (CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER));`,
  // A run attempt's first lease of each role, kept when the lease itself is purged: its
  // max_duration counts from it (common.ts, RUN_FIRST_LEASE_KEPT_MS).
  `CREATE TABLE run_first_leases (
     repository_id TEXT NOT NULL,
     run_id TEXT NOT NULL,
     run_attempt TEXT NOT NULL,
     role TEXT NOT NULL,
     first_lease_at INTEGER NOT NULL,
     PRIMARY KEY (repository_id, run_id, run_attempt, role)
   );
   CREATE INDEX run_first_leases_at ON run_first_leases (first_lease_at);`,
];

export function migrateSqlite(db: Database.Database): void {
  // IMMEDIATE: of several processes opening one file at once, one migrates; the others wait
  // (busy_timeout), then find the version already current.
  db.transaction(() => {
    const current = db.pragma('user_version', { simple: true }) as number;
    checkSchemaVersion('SQLite', current, MIGRATIONS.length);
    for (let version = current; version < MIGRATIONS.length; version++) {
      db.exec(MIGRATIONS[version]!);
      db.pragma(`user_version = ${version + 1}`);
    }
  }).immediate();
}
