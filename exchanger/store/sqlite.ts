/**
 * The embedded store: one SQLite file (better-sqlite3), nothing to install. WAL lets readers
 * run beside the writer; `synchronous=NORMAL` is durable against process crashes under WAL (a
 * power cut can lose the last commits, never corrupt the file). Several processes may share the
 * file: `consumeJti` is one INSERT … ON CONFLICT DO NOTHING, atomic across connections.
 *
 * Writes go through group commit (`group-commit.ts`): one transaction per event-loop turn.
 * WAL checkpoints run on a thread of their own (`sqlite-checkpoint.ts`), not inside a commit.
 * Times are stored as integer milliseconds since the epoch.
 */
import { setImmediate as nextTurn } from 'node:timers/promises';
import Database from 'better-sqlite3';
import { JitkeyError } from '../errors.js';
import { silentLogger } from '../log.js';
import { SQLITE_APPROVALS_MIGRATION, sqliteApprovals } from './approvals-sqlite.js';
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
import { groupCommit } from './group-commit.js';
import { startCheckpointer } from './sqlite-checkpoint.js';
import type { AuditEntry, AuditFilter, LeaseRecord, Store, StoreOptions } from './types.js';

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
];

interface AuditRow {
  at: number;
  request_id: string;
  event: AuditEntry['event'];
  outcome: AuditEntry['outcome'];
  role: string | null;
  provider: string | null;
  error_code: string | null;
  reason: string;
  repository: string | null;
  claims: string;
  lease_id: string | null;
  expires_at: number | null;
  actor: string | null;
}

interface LeaseRow {
  id: string;
  role: string;
  provider: string;
  created_at: number;
  expires_at: number;
  revoke_token_hash: string;
  sealed_revocation: string | null;
  repository: string | null;
  run_id: string | null;
  revoked_at: number | null;
}

const AUDIT_COLUMNS =
  'at, request_id, event, outcome, role, provider, error_code, reason, repository, claims, lease_id, expires_at, actor';

export async function openSqliteStore(path: string, options: StoreOptions = {}): Promise<Store> {
  const log = options.log ?? silentLogger;
  const settings = purgeSettings(options);
  let db: Database.Database | undefined;
  try {
    db = new Database(path);
    // Another process holding the write lock is waited for (up to 5 s, blocking this thread),
    // then the write fails as `unavailable`.
    db.pragma('busy_timeout = 5000');
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
    migrate(db);
  } catch (err) {
    db?.close();
    throw openFailure(`sqlite:${path}`, err);
  }
  const checkpointer = startCheckpointer(db, log);

  const insertJti = db.prepare<[string, number]>(
    'INSERT INTO used_jtis (jti, expires_at) VALUES (?, ?) ON CONFLICT (jti) DO NOTHING',
  );
  const insertAudit = db.prepare<AuditRow>(
    `INSERT INTO audit (${AUDIT_COLUMNS}) VALUES (${AUDIT_COLUMNS.replace(/(\w+)/g, '@$1')})`,
  );
  const insertLease = db.prepare<LeaseRow>(
    `INSERT INTO leases (id, role, provider, created_at, expires_at, revoke_token_hash, sealed_revocation,
       repository, run_id, revoked_at)
     VALUES (@id, @role, @provider, @created_at, @expires_at, @revoke_token_hash, @sealed_revocation,
       @repository, @run_id, @revoked_at)`,
  );
  const revokeLease = db.prepare<[number, string]>(
    'UPDATE leases SET revoked_at = coalesce(revoked_at, ?) WHERE id = ?',
  );
  const selectLease = db.prepare<[string], LeaseRow>('SELECT * FROM leases WHERE id = ?');
  // Bounded deletes: a purge takes the write lock for one chunk at a time, between request batches.
  const purgeJtis = db.prepare<[number, number]>(
    'DELETE FROM used_jtis WHERE jti IN (SELECT jti FROM used_jtis WHERE expires_at < ? LIMIT ?)',
  );
  const purgeLeases = db.prepare<[number, number]>(
    'DELETE FROM leases WHERE id IN (SELECT id FROM leases WHERE expires_at < ? LIMIT ?)',
  );
  const purgeApprovals = db.prepare<[number, number]>(
    'DELETE FROM approval_requests WHERE id IN (SELECT id FROM approval_requests WHERE expires_at < ? LIMIT ?)',
  );
  const purgeAudit = db.prepare<[number, number]>(
    'DELETE FROM audit WHERE id IN (SELECT id FROM audit WHERE at < ? LIMIT ?)',
  );
  const auditQueries = new Map<string, Database.Statement<unknown[], AuditRow>>();

  const begin = db.transaction((work: () => void) => work());
  const writes = groupCommit(
    (work) => begin.immediate(work),
    (cause) => storeFailure('record the request', cause),
    { enabled: options.groupCommit !== false },
  );

  let closed = false;
  /**
   * `build` turns the arguments into rows now, outside the transaction, and returns the op that
   * writes them: a bad argument fails its own caller, never the whole batch.
   */
  const write = <T>(build: () => () => T): Promise<T> => {
    if (closed) return Promise.reject(storeFailure('write', new Error('the store is closed')));
    let op: () => T;
    try {
      op = build();
    } catch (err) {
      const detail = err instanceof Error ? err.message : String(err);
      return Promise.reject(
        new JitkeyError('internal_error', 'the store was given an invalid value', { cause: err, detail }),
      );
    }
    return writes.submit(op);
  };
  const read = <T>(what: string, op: () => T): Promise<T> => {
    try {
      return Promise.resolve(op());
    } catch (err) {
      return Promise.reject(storeFailure(what, err));
    }
  };

  /** Deletes in chunks, yielding to the event loop between them so requests keep flowing. */
  const chunked = async (statement: Database.Statement<[number, number]>, cutoff: number) => {
    let total = 0;
    for (;;) {
      if (closed) return total;
      const { changes } = statement.run(cutoff, PURGE_CHUNK);
      total += changes;
      if (changes < PURGE_CHUNK) return total;
      await nextTurn();
    }
  };
  const purge = async (now: Date): Promise<PurgeCounts> => {
    try {
      const jtis = await chunked(purgeJtis, now.getTime());
      const leases = await chunked(purgeLeases, now.getTime() - LEASE_GRACE_MS);
      const approvals = await chunked(purgeApprovals, now.getTime() - LEASE_GRACE_MS);
      const audit =
        settings.retentionMs === undefined
          ? 0
          : await chunked(purgeAudit, now.getTime() - settings.retentionMs);
      return { jtis, leases, approvals, audit };
    } catch (err) {
      throw storeFailure('purge expired rows', err);
    }
  };
  const purger = schedulePurge(purge, settings, log);

  return {
    kind: 'sqlite',
    consumeJti: (jti, expiresAt) =>
      write(() => {
        const until = ms(expiresAt, 'expiresAt');
        return () => insertJti.run(jti, until).changes === 1;
      }),
    record: (entry, lease) =>
      write(() => {
        const audit = auditRow(entry);
        const leased = lease && leaseRow(lease);
        return () => {
          if (leased) insertLease.run(leased);
          insertAudit.run(audit);
        };
      }),
    markRevoked: (id, at, entry) =>
      write(() => {
        const audit = auditRow(entry);
        const revokedAt = ms(at, 'at');
        return () => {
          revokeLease.run(revokedAt, id);
          insertAudit.run(audit);
        };
      }),
    ...sqliteApprovals(db, {
      write,
      read,
      audit: (entry) => {
        const row = auditRow(entry);
        return () => insertAudit.run(row);
      },
      lease: (lease) => {
        const row = leaseRow(lease);
        return () => insertLease.run(row);
      },
    }),
    getLease: (id) =>
      read('read the lease', () => {
        const row = selectLease.get(id);
        return row && leaseRecord(row);
      }),
    queryAudit: (filter) =>
      read('read the audit trail', () => {
        const { sql, params } = auditQuery(filter);
        let statement = auditQueries.get(sql);
        if (!statement) {
          statement = db.prepare<unknown[], AuditRow>(sql);
          auditQueries.set(sql, statement);
        }
        return statement.all(...params).map(auditEntry);
      }),
    purgeExpired: async (now) => (await purge(now)).jtis,
    ping: () =>
      read('answer a ping', () => {
        if (closed) throw new Error('the store is closed');
        db.prepare('SELECT 1').get();
      }),
    async close() {
      if (closed) return;
      closed = true;
      await purger.stop();
      writes.flush(); // writes already queued were promised an answer: apply them first
      await checkpointer.stop();
      db.close();
    },
  };
}

function migrate(db: Database.Database): void {
  // IMMEDIATE: of several processes opening one file at once, one migrates; the others wait
  // (busy_timeout), then find the version already current.
  db.transaction(() => {
    const current = db.pragma('user_version', { simple: true }) as number;
    if (current > MIGRATIONS.length) {
      throw new Error(
        `the SQLite store has schema version ${current}, newer than this jitkey knows (${MIGRATIONS.length}): upgrade jitkey`,
      );
    }
    for (let version = current; version < MIGRATIONS.length; version++) {
      db.exec(MIGRATIONS[version]!);
      db.pragma(`user_version = ${version + 1}`);
    }
  }).immediate();
}

/** A Date as stored: integer milliseconds. An invalid Date is refused, not written as NULL. */
function ms(date: Date, field: string): number {
  const value = date instanceof Date ? date.getTime() : Number.NaN;
  if (!Number.isFinite(value)) throw new RangeError(`${field} must be a valid Date`);
  return value;
}

function optionalMs(date: Date | undefined, field: string): number | null {
  return date === undefined ? null : ms(date, field);
}

function auditQuery(filter: AuditFilter): { sql: string; params: unknown[] } {
  const where: string[] = [];
  const params: unknown[] = [];
  if (filter.since) {
    where.push('at >= ?');
    params.push(ms(filter.since, 'since'));
  }
  if (filter.repository !== undefined) {
    where.push('repository = ?'); // the column is COLLATE NOCASE: GitHub names fold ASCII case
    params.push(filter.repository);
  }
  if (filter.outcome !== undefined) {
    where.push('outcome = ?');
    params.push(filter.outcome);
  }
  if (filter.role !== undefined) {
    where.push('role = ?');
    params.push(filter.role);
  }
  params.push(auditLimit(filter.limit));
  const clause = where.length ? `WHERE ${where.join(' AND ')}` : '';
  return { sql: `SELECT ${AUDIT_COLUMNS} FROM audit ${clause} ORDER BY at DESC, id DESC LIMIT ?`, params };
}

function auditRow(entry: AuditEntry): AuditRow {
  const { repository, rest } = splitClaims(entry.claims);
  return {
    at: ms(entry.at, 'at'),
    request_id: entry.requestId,
    event: entry.event,
    outcome: entry.outcome,
    role: entry.role ?? null,
    provider: entry.provider ?? null,
    error_code: entry.errorCode ?? null,
    reason: entry.reason,
    repository,
    claims: rest,
    lease_id: entry.leaseId ?? null,
    expires_at: optionalMs(entry.expiresAt, 'expiresAt'),
    actor: entry.actor ?? null,
  };
}

function auditEntry(row: AuditRow): AuditEntry {
  return {
    at: new Date(row.at),
    requestId: row.request_id,
    event: row.event,
    outcome: row.outcome,
    ...(row.role !== null ? { role: row.role } : {}),
    ...(row.provider !== null ? { provider: row.provider } : {}),
    ...(row.error_code !== null ? { errorCode: row.error_code } : {}),
    reason: row.reason,
    claims: joinClaims(row.repository, row.claims),
    ...(row.lease_id !== null ? { leaseId: row.lease_id } : {}),
    ...(row.expires_at !== null ? { expiresAt: new Date(row.expires_at) } : {}),
    ...(row.actor !== null ? { actor: row.actor } : {}),
  };
}

function leaseRow(lease: LeaseRecord): LeaseRow {
  return {
    id: lease.id,
    role: lease.role,
    provider: lease.provider,
    created_at: ms(lease.createdAt, 'createdAt'),
    expires_at: ms(lease.expiresAt, 'expiresAt'),
    revoke_token_hash: lease.revokeTokenHash,
    sealed_revocation: lease.sealedRevocation ?? null,
    repository: lease.repository ?? null,
    run_id: lease.runId ?? null,
    revoked_at: optionalMs(lease.revokedAt, 'revokedAt'),
  };
}

function leaseRecord(row: LeaseRow): LeaseRecord {
  return {
    id: row.id,
    role: row.role,
    provider: row.provider,
    createdAt: new Date(row.created_at),
    expiresAt: new Date(row.expires_at),
    revokeTokenHash: row.revoke_token_hash,
    ...(row.sealed_revocation !== null ? { sealedRevocation: row.sealed_revocation } : {}),
    ...(row.repository !== null ? { repository: row.repository } : {}),
    ...(row.run_id !== null ? { runId: row.run_id } : {}),
    ...(row.revoked_at !== null ? { revokedAt: new Date(row.revoked_at) } : {}),
  };
}
