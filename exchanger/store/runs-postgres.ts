/**
 * Run attempts on PostgreSQL (SPEC section 5): `runState` and `completeRun`. What an exchange
 * reads of its attempt with its jti and with its lease is read in the statements of those writes
 * (`exchange-writes-postgres.ts`), so a granted exchange makes two round trips.
 *
 * A completion and a grant of one attempt are ordered by the attempt's row in `run_attempts`,
 * which both write (`exchange-writes-postgres.ts`): the completion marks it, and only once that has
 * committed, after any grant that held the row first, does it read the attempt's leases, in a
 * statement of its own: a statement's reads see only what had committed when it started.
 */
import type { PostgresIo } from './approvals-postgres.js';
import type { LeaseRecord } from './leases-types.js';
import { AUDIT_FIELDS, LEASE_COLUMNS, type LeaseRowOf } from './rows.js';
import type { RunState } from './runs-types.js';
import type { Store } from './types.js';

export type RunMethods = Pick<Store, 'runState' | 'completeRun'>;

type RunStateRow = { completed: boolean; first_lease_at: Date | null };

export function postgresRuns(
  io: PostgresIo & {
    /** The audit row's INSERT, its values $1…$AUDIT_FIELDS.length. */
    insertAudit: string;
    leaseRecord(row: LeaseRowOf<Date>): LeaseRecord;
  },
): RunMethods {
  const { t, query, insertAudit } = io;
  /** `completed` and `first_lease_at` of the attempt ($n+1, $n+2, $n+3) and role ($n+4). */
  const runStateColumns = (n: number) =>
    `EXISTS (SELECT 1 FROM ${t('completed_runs')}
              WHERE repository_id = $${n + 1} AND run_id = $${n + 2} AND run_attempt = $${n + 3}) AS completed,
     LEAST((SELECT min(created_at) FROM ${t('leases')}
             WHERE repository_id = $${n + 1} AND run_id = $${n + 2} AND run_attempt = $${n + 3}
               AND role = $${n + 4}),
           (SELECT first_lease_at FROM ${t('run_first_leases')}
             WHERE repository_id = $${n + 1} AND run_id = $${n + 2} AND run_attempt = $${n + 3}
               AND role = $${n + 4})) AS first_lease_at`;
  const runStateOf = (row: RunStateRow): RunState => ({
    completed: row.completed,
    ...(row.first_lease_at ? { firstLeaseAt: row.first_lease_at } : {}),
  });

  return {
    async runState(run, role) {
      const { rows } = await query<RunStateRow>('read the run attempt', {
        name: 'jitkey_run_state',
        text: `SELECT ${runStateColumns(0)}`,
        values: [run.repositoryId, run.runId, run.runAttempt, role],
      });
      return runStateOf(rows[0]!);
    },
    async completeRun(run, at, entry) {
      const n = AUDIT_FIELDS.length;
      const key = [run.repositoryId, run.runId, run.runAttempt];
      await query('record the completed run', {
        name: 'jitkey_complete_run',
        text: `WITH attempt AS (
                 INSERT INTO ${t('run_attempts')} (repository_id, run_id, run_attempt, completed, seen_at)
                 VALUES ($${n + 1}, $${n + 2}, $${n + 3}, true, $${n + 4})
                 ON CONFLICT (repository_id, run_id, run_attempt)
                 DO UPDATE SET completed = true, seen_at = EXCLUDED.seen_at
               ), done AS (
                 INSERT INTO ${t('completed_runs')} (repository_id, run_id, run_attempt, completed_at)
                 VALUES ($${n + 1}, $${n + 2}, $${n + 3}, $${n + 4}) ON CONFLICT DO NOTHING
               ), audited AS (
                 ${insertAudit}
               )
               SELECT 1`,
        values: [...io.auditValues(entry), ...key, at],
      });
      const { rows } = await query<LeaseRowOf<Date>>('read the completed run’s leases', {
        name: 'jitkey_completed_run_leases',
        text: `SELECT ${LEASE_COLUMNS} FROM ${t('leases')}
                WHERE repository_id = $1 AND run_id = $2 AND run_attempt = $3 AND revoked_at IS NULL`,
        values: key,
      });
      return rows.map(io.leaseRecord);
    },
  };
}
