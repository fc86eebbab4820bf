/**
 * Run attempts on SQLite (SPEC section 5): what an exchange reads of its attempt with its jti and
 * with its lease, and `completeRun`. Everything runs inside the store's group-committed write
 * transaction, so these reads are serialised with `completeRun`'s write.
 */
import type Database from 'better-sqlite3';
import type { SqliteIo } from './approvals-sqlite.js';
import type { DialectRows } from './dialect-rows.js';
import type { LeaseRowOf } from './rows.js';
import type { RunKey, RunState, SpentToken } from './runs-types.js';
import type { Store } from './types.js';

export type RunMethods = Pick<Store, 'runState' | 'spendToken' | 'recordGrant' | 'completeRun'>;

type RunStateRow = { completed: number; first_lease_at: number | null };

export function sqliteRuns(
  db: Database.Database,
  dialect: DialectRows<number>,
  io: SqliteIo & {
    /** Converts now; the returned op inserts the jti and answers whether it was fresh. */
    spend(token: SpentToken): () => boolean;
  },
): RunMethods {
  // The first lease of the attempt's role: among its leases, or kept after they were purged.
  const selectRunState = db.prepare<{ r: string; i: string; a: string; role: string }, RunStateRow>(
    `SELECT EXISTS (SELECT 1 FROM completed_runs WHERE repository_id = @r AND run_id = @i AND run_attempt = @a) AS completed,
            (SELECT min(at) FROM (
               SELECT min(created_at) AS at FROM leases
                WHERE repository_id = @r AND run_id = @i AND run_attempt = @a AND role = @role
               UNION ALL
               SELECT first_lease_at FROM run_first_leases
                WHERE repository_id = @r AND run_id = @i AND run_attempt = @a AND role = @role)) AS first_lease_at`,
  );
  const selectCompleted = db.prepare<[string, string, string], { completed: number }>(
    `SELECT EXISTS (SELECT 1 FROM completed_runs WHERE repository_id = ? AND run_id = ? AND run_attempt = ?) AS completed`,
  );
  const insertCompletedRun = db.prepare<[string, string, string, number]>(
    `INSERT INTO completed_runs (repository_id, run_id, run_attempt, completed_at) VALUES (?, ?, ?, ?)
     ON CONFLICT DO NOTHING`,
  );
  const selectRunLeases = db.prepare<[string, string, string], LeaseRowOf<number>>(
    `SELECT * FROM leases WHERE repository_id = ? AND run_id = ? AND run_attempt = ? AND revoked_at IS NULL`,
  );

  const runStateNow = (run: RunKey, role: string): RunState => {
    const { repositoryId: r, runId: i, runAttempt: a } = run;
    const row = selectRunState.get({ r, i, a, role })!;
    return {
      completed: row.completed === 1,
      ...(row.first_lease_at !== null ? { firstLeaseAt: new Date(row.first_lease_at) } : {}),
    };
  };

  return {
    runState: (run, role) => io.read('read the run attempt', () => runStateNow(run, role)),
    spendToken: (token, run) =>
      io.write(() => {
        const spend = io.spend(token);
        return () => {
          const fresh = spend();
          return run ? { fresh, run: runStateNow(run.key, run.role) } : { fresh };
        };
      }),
    recordGrant: (entry, lease, run) =>
      io.write(() => {
        const lease_ = io.lease(lease);
        const audit = io.audit(entry);
        return () => {
          lease_();
          audit();
          const row = selectCompleted.get(run.repositoryId, run.runId, run.runAttempt)!;
          return { completed: row.completed === 1 };
        };
      }),
    completeRun: (run, at, entry) =>
      io.write(() => {
        const audit = io.audit(entry);
        const when = dialect.times.encode(at, 'at');
        return () => {
          insertCompletedRun.run(run.repositoryId, run.runId, run.runAttempt, when);
          audit();
          return selectRunLeases.all(run.repositoryId, run.runId, run.runAttempt).map(dialect.leaseRecord);
        };
      }),
  };
}
