/**
 * The embedded store: one SQLite file (better-sqlite3), nothing to install. WAL lets readers
 * run beside the writer; `synchronous=NORMAL` is durable against process crashes under WAL (a
 * power cut can lose the last commits, never corrupt the file). Several processes may share the
 * file: `consumeJti` is one INSERT … ON CONFLICT DO NOTHING, atomic across connections.
 *
 * Writes go through group commit (`group-commit.ts`): one transaction per event-loop turn.
 * WAL checkpoints run on a thread of their own (`sqlite-checkpoint.ts`), not inside a commit.
 * Audit rows are staged in a table without indexes and moved into `audit` in bulk
 * (`audit-staging-sqlite.ts`); every read of the audit trail moves them first.
 * The schema and its migrations: `sqlite-schema.ts`; the audit and lease rows, shared with
 * PostgreSQL: `rows.ts`; run attempts (and what an exchange reads of its own): `runs-sqlite.ts`.
 * Times are stored as integer milliseconds since the epoch.
 */
import { closeSync, openSync, statSync } from 'node:fs';
import { setImmediate as nextTurn } from 'node:timers/promises';
import Database from 'better-sqlite3';
import { JitkeyError } from '../errors.js';
import { type Logger, silentLogger } from '../log.js';
import { sqliteActivity } from './activity-sqlite.js';
import { type SqliteIo, sqliteApprovals } from './approvals-sqlite.js';
import { AUDIT_PAGE_ROWS, type AuditKey } from './audit-queries.js';
import { sqliteAuditStaging } from './audit-staging-sqlite.js';
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
import { sqliteExportCursor } from './export-cursor-sqlite.js';
import { groupCommit } from './group-commit.js';
import {
  type AuditRowOf,
  LEASE_COLUMNS,
  LEASE_FIELDS,
  type LeaseRowOf,
  MS_TIMES,
  namedParams,
} from './rows.js';
import { sqliteRuns } from './runs-sqlite.js';
import { sqliteSessions } from './sessions-sqlite.js';
import { startCheckpointer } from './sqlite-checkpoint.js';
import { migrateSqlite } from './sqlite-schema.js';
import type { Store, StoreOptions } from './types.js';

type AuditRow = AuditRowOf<number>;
type LeaseRow = LeaseRowOf<number>;

const dialect = rowsFor({
  times: MS_TIMES,
  param: () => '?',
  // The column is COLLATE NOCASE: GitHub names fold ASCII case.
  repositoryEquals: (placeholder) => `repository = ${placeholder}`,
  actorEquals: (placeholder) => `actor = ${placeholder} COLLATE NOCASE`,
});

/**
 * The store holds sealed revocation secrets and the audit trail: the file is created owner-only
 * (0600) before SQLite opens it, and SQLite gives its -wal and -shm files the database file's
 * mode. An existing file readable by others is left as it is, with a warning that says so.
 */
function createPrivate(path: string, log: Logger): void {
  if (path === ':memory:' || path === '') return;
  try {
    closeSync(openSync(path, 'wx', 0o600));
    return;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
  const mode = statSync(path).mode & 0o777;
  if (mode & 0o077) {
    log.warn('the SQLite store is readable by other users; chmod 600 it (and its -wal and -shm files)', {
      path,
      mode: mode.toString(8),
    });
  }
}

export async function openSqliteStore(path: string, options: StoreOptions = {}): Promise<Store> {
  const log = options.log ?? silentLogger;
  const settings = purgeSettings(options);
  let db: Database.Database | undefined;
  try {
    createPrivate(path, log);
    db = new Database(path);
    // Another process holding the write lock is waited for (up to 5 s, blocking this thread),
    // then the write fails as `unavailable`.
    db.pragma('busy_timeout = 5000');
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
    migrateSqlite(db);
  } catch (err) {
    db?.close();
    throw openFailure(`sqlite:${path}`, err);
  }
  const checkpointer = startCheckpointer(db, log);

  // A row of issuer '' was written before jtis were keyed by issuer: it still counts as spent.
  const insertJti = db.prepare<{ issuer: string; jti: string; until: number }>(
    `INSERT INTO used_jtis (issuer, jti, expires_at)
       SELECT @issuer, @jti, @until WHERE NOT EXISTS (SELECT 1 FROM used_jtis WHERE issuer = '' AND jti = @jti)
       ON CONFLICT (issuer, jti) DO NOTHING`,
  );
  const insertLease = db.prepare<LeaseRow>(
    `INSERT INTO leases (${LEASE_COLUMNS}) VALUES (${namedParams(LEASE_FIELDS)})`,
  );
  const revokeLease = db.prepare<[number, string]>(
    'UPDATE leases SET revoked_at = coalesce(revoked_at, ?) WHERE id = ?',
  );
  const selectLease = db.prepare<[string], LeaseRow>('SELECT * FROM leases WHERE id = ?');
  // Bounded deletes: a purge takes the write lock for one chunk at a time, between request batches.
  // A chunk's rows (parameters: the cutoff, the chunk size); ordered where keepFirstLeases reads them.
  const chunkOf = ({ table, key, column, databaseClockMarginMs: margin, keepsFirstLeases }: PurgeTarget) => {
    // SQLite's clock, in ms like the columns: julianday('now') counts days since 4714 BC.
    const before =
      margin === undefined
        ? '?'
        : `min(?, CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER) - ${margin})`;
    return `SELECT ${key} FROM ${table} WHERE ${column} < ${before}${keepsFirstLeases ? ` ORDER BY ${column}, ${key}` : ''} LIMIT ?`;
  };
  const purges = new Map<string, Database.Statement<[number, number]>>(
    Object.values(PURGE_TARGETS).map((target: PurgeTarget) => [
      target.table,
      db.prepare<[number, number]>(
        `DELETE FROM ${target.table} WHERE (${target.key}) IN (${chunkOf(target)})`,
      ),
    ]),
  );
  const auditQueries = new Map<string, Database.Statement<unknown[], AuditRow & { id: number }>>();
  const auditStatement = (sql: string) => {
    let statement = auditQueries.get(sql);
    if (!statement) {
      statement = db.prepare<unknown[], AuditRow & { id: number }>(sql);
      auditQueries.set(sql, statement);
    }
    return statement;
  };

  const begin = db.transaction((work: () => void) => work());
  const writes = groupCommit(
    (work) => begin.immediate(work),
    (cause) => storeFailure('record the request', cause),
    { enabled: options.groupCommit !== false },
  );
  const staging = sqliteAuditStaging(
    db,
    { transaction: (work) => begin.immediate(work), submit: (op) => writes.submit(op), log },
    {
      enabled: options.auditStaging !== false,
      ...(options.auditMoveIntervalMs !== undefined ? { intervalMs: options.auditMoveIntervalMs } : {}),
    },
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
  /** A read of the audit trail: what is staged moves in first, unless another connection holds the lock. */
  const readAudit = <T>(what: string, op: () => T): Promise<T> =>
    read(what, () => {
      staging.settle();
      return op();
    });

  const io: SqliteIo = {
    write,
    read,
    audit: (entry) => {
      const row = dialect.auditRow(entry);
      return () => staging.insert(row);
    },
    lease: (lease) => {
      const row = dialect.leaseRow(lease);
      return () => insertLease.run(row);
    },
  };

  // The chunk a lease purge deletes, its first leases kept first, in one transaction.
  const runKey = RUN_FIRST_LEASE_KEY.join(', ');
  const keepFirstLeases = db.prepare<[number, number]>(
    `INSERT INTO run_first_leases (${runKey}, first_lease_at)
     SELECT ${runKey}, min(created_at) FROM leases
      WHERE id IN (${chunkOf(PURGE_TARGETS.leases)})
        AND ${RUN_FIRST_LEASE_KEY.map((c) => `${c} IS NOT NULL`).join(' AND ')}
      GROUP BY ${runKey}
     ON CONFLICT (${runKey})
     DO UPDATE SET first_lease_at = min(first_lease_at, excluded.first_lease_at)`,
  );
  const purgeChunk = (target: PurgeTarget, cutoff: number) => {
    const statement = purges.get(target.table)!;
    if (!target.keepsFirstLeases) return statement.run(cutoff, PURGE_CHUNK);
    return db
      .transaction(() => {
        keepFirstLeases.run(cutoff, PURGE_CHUNK);
        return statement.run(cutoff, PURGE_CHUNK);
      })
      .immediate();
  };
  /** Deletes in chunks, yielding to the event loop between them so requests keep flowing. */
  const purger = startPurge(settings, log, async (target, cutoff) => {
    let total = 0;
    try {
      // Staged rows are purged as any other: moved in first.
      if (target.table === 'audit') staging.moveAll();
      for (;;) {
        if (closed) return total;
        const { changes } = purgeChunk(target, cutoff);
        total += changes;
        if (changes < PURGE_CHUNK) return total;
        await nextTurn();
      }
    } catch (err) {
      throw storeFailure('purge expired rows', err);
    }
  });

  return {
    kind: 'sqlite',
    consumeJti: (jti, expiresAt, issuer = '') =>
      write(() => {
        const until = dialect.times.encode(expiresAt, 'expiresAt');
        return () => insertJti.run({ issuer, jti, until }).changes === 1;
      }),
    record: (entry, lease) =>
      write(() => {
        const audit = dialect.auditRow(entry);
        const leased = lease && dialect.leaseRow(lease);
        return () => {
          if (leased) insertLease.run(leased);
          staging.insert(audit);
        };
      }),
    markRevoked: (id, at, entry) =>
      write(() => {
        const audit = dialect.auditRow(entry);
        const revokedAt = dialect.times.encode(at, 'at');
        return () => {
          revokeLease.run(revokedAt, id);
          staging.insert(audit);
        };
      }),
    ...sqliteApprovals(db, io),
    ...sqliteRuns(db, dialect, {
      ...io,
      spend: ({ jti, expiresAt, issuer }) => {
        const until = dialect.times.encode(expiresAt, 'expiresAt');
        return () => insertJti.run({ issuer, jti, until }).changes === 1;
      },
    }),
    ...sqliteSessions(db, { write, read }),
    ...sqliteActivity(db, { write, read }),
    ...sqliteExportCursor(db, { write, read: readAudit }, dialect),
    getLease: (id) =>
      read('read the lease', () => {
        const row = selectLease.get(id);
        return row && dialect.leaseRecord(row);
      }),
    queryAudit: (filter) =>
      readAudit('read the audit trail', () => {
        const { sql, params } = dialect.auditQuery('audit', filter);
        return auditStatement(sql)
          .all(...params)
          .map(dialect.auditEntry);
      }),
    /**
     * Keyset pages rather than one `.iterate()`: an open iterator makes the connection refuse
     * writes, and one read snapshot held through a long export keeps the WAL from being reset.
     * Keys are exact here (integer milliseconds, integer ids).
     */
    async *streamAudit(filter) {
      let remaining = filter.limit === undefined ? Number.POSITIVE_INFINITY : auditLimit(filter.limit);
      let after: AuditKey<number> | undefined;
      while (remaining > 0) {
        const limit = Math.min(AUDIT_PAGE_ROWS, remaining);
        const rows = await readAudit('read the audit trail', () => {
          const { sql, params } = dialect.auditPage('audit', filter, { limit, after });
          return auditStatement(sql).all(...params);
        });
        for (const row of rows) yield dialect.auditEntry(row);
        const last = rows.at(-1);
        if (!last || rows.length < limit) return;
        remaining -= rows.length;
        after = { at: last.at, id: last.id };
      }
    },
    ...consoleReads(
      dialect,
      { audit: 'audit', leases: 'leases' },
      (what, sql, params) => readAudit(what, () => auditStatement(sql).all(...params) as never[]),
      (what, sql, params) => read(what, () => auditStatement(sql).all(...params) as never[]),
    ),
    purgeExpired: purger.purgeExpired,
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
      staging.stop();
      try {
        staging.moveAll();
      } catch (error) {
        log.warn('audit rows stay staged until the next move on this file: moving them failed', {
          error: error as Error,
        });
      }
      await checkpointer.stop();
      db.close();
    },
  };
}
