/**
 * Audit rows on SQLite land first in `audit_staging`, a table with no index, and move into
 * `audit` in bulk.
 *
 * The audit table carries the console's indexes (by time, repository, outcome, role, provider,
 * actor, client, request). A row inserted into it dirties one page of each, and each commit
 * writes every page it dirtied to the WAL in full. When exchanges arrive one per event-loop turn,
 * every grant's commit paid for all of them. In the staging table a row dirties one page. The
 * move puts a batch of rows into `audit` at once, so the batch shares each index page it touches:
 * `intervalMs` after a process stages a row, in the same group commit as the writes of that turn,
 * and before each read of the audit trail.
 *
 * A staged row is as durable as any other: it is committed before its caller hears back, and a
 * process that stops before moving it leaves it for the next move, by this or any other process
 * on the file. Rows move in the order they were staged, and only then get their `id`: the ids
 * keep the order of the writes (the export follows them). A read moves what is staged first
 * (`settle`) unless another connection holds the write lock: then it reads without waiting, and
 * the rows still staged show in a later read. The export misses none of them: they get ids after
 * its cursor.
 */
import type Database from 'better-sqlite3';
import type { Logger } from '../log.js';
import { AUDIT_COLUMNS, AUDIT_FIELDS, type AuditRowOf, namedParams } from './rows.js';

/**
 * Appended to the SQLite migrations: `audit`'s columns with its constraints, so a row that would
 * not fit `audit` fails when it is written (with its group commit), not at a later move. A later
 * migration that adds a column to `audit` adds it to `audit_staging` too (a test compares them).
 */
export const SQLITE_AUDIT_STAGING_MIGRATION = `CREATE TABLE audit_staging (
     id INTEGER PRIMARY KEY,
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
     actor TEXT,
     client_address TEXT,
     user_agent TEXT,
     client_key TEXT
   );`;

export interface AuditStaging {
  /** Stages a row; to be called inside a write transaction. */
  insert(row: AuditRowOf<number>): void;
  /**
   * Before a read: moves every staged row, of any process, into `audit`, unless another
   * connection holds the write lock (then nothing is waited for). Throws if the move fails.
   */
  settle(): void;
  /** Moves every staged row now, waiting for the write lock as any write does (for `close`). */
  moveAll(): void;
  /** Stops the timer; rows still staged stay there for the next move. */
  stop(): void;
}

export function sqliteAuditStaging(
  db: Database.Database,
  io: {
    /** Runs `work` in a transaction of its own, now. */
    transaction(work: () => void): void;
    /** Queues `op` into the next group commit. */
    submit(op: () => void): Promise<void>;
    /** Hears when background moves start failing (the rows stay staged) and when they work again. */
    log: Logger;
  },
  options: { intervalMs?: number; enabled?: boolean } = {},
): AuditStaging {
  if (options.enabled === false) {
    const direct = db.prepare<AuditRowOf<number>>(
      `INSERT INTO audit (${AUDIT_COLUMNS}) VALUES (${namedParams(AUDIT_FIELDS)})`,
    );
    return { insert: (row) => void direct.run(row), settle() {}, moveAll() {}, stop() {} };
  }
  const stage = db.prepare<AuditRowOf<number>>(
    `INSERT INTO audit_staging (${AUDIT_COLUMNS}) VALUES (${namedParams(AUDIT_FIELDS)})`,
  );
  const moveIn = db.prepare(
    `INSERT INTO audit (${AUDIT_COLUMNS}) SELECT ${AUDIT_COLUMNS} FROM audit_staging ORDER BY rowid`,
  );
  const clear = db.prepare('DELETE FROM audit_staging');
  const anyStaged = db.prepare<[], { n: number }>('SELECT EXISTS (SELECT 1 FROM audit_staging) AS n');
  const move = () => {
    if (moveIn.run().changes > 0) clear.run();
  };
  const moveAll = () => {
    if (anyStaged.get()!.n === 1) io.transaction(move);
  };
  // What the store set: a read's move does not wait for the lock, and puts it back after.
  const busyTimeout = db.pragma('busy_timeout', { simple: true }) as number;
  // Inside a group commit the move is a savepoint of its own: if it fails, the rows stay staged
  // and the writes it shares the transaction with still commit.
  const moveAlongside = db.transaction(move);

  let failing = false; // logged once per run of failures, not every interval
  const failed = (error: unknown) => {
    if (!failing) io.log.warn('audit rows stay staged until a move works: moving them failed', { error });
    failing = true;
  };
  let timer: NodeJS.Timeout | undefined;
  const moveSoon = () => {
    timer = undefined;
    io.submit(() => {
      try {
        moveAlongside();
      } catch (error) {
        // SQLite rolled the whole transaction back (I/O, memory): the batch has failed with it.
        if (!db.inTransaction) throw error;
        failed(error);
        return;
      }
      if (failing) io.log.info('staged audit rows move into the audit table again');
      failing = false;
    }).catch(failed);
  };
  return {
    insert(row) {
      stage.run(row);
      // The timer keeps nothing alive: `close` moves what is left.
      timer ??= setTimeout(moveSoon, options.intervalMs ?? 100).unref();
    },
    settle() {
      if (anyStaged.get()!.n !== 1) return;
      db.pragma('busy_timeout = 0');
      try {
        io.transaction(move);
      } catch (error) {
        if (!String((error as { code?: string }).code).startsWith('SQLITE_BUSY')) throw error;
      } finally {
        db.pragma(`busy_timeout = ${busyTimeout}`);
      }
    },
    moveAll,
    stop() {
      clearTimeout(timer);
      timer = undefined;
    },
  };
}
