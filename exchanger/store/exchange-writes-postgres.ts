/**
 * The two writes of an exchange on PostgreSQL, `spendToken` and `recordGrant`, group-committed
 * (`postgres-batch.ts`): the exchanges of one event-loop turn spend their jtis in one statement
 * and record their leases and audit rows in another, each a data-modifying CTE over unnested
 * arrays that also reads, per row, what the exchange must know of its run attempt. So an exchange
 * still makes two round trips, and concurrent exchanges share them.
 *
 * - Single use holds across instances: the jti's INSERT … ON CONFLICT DO NOTHING is what decides,
 *   as before. The rows go in (issuer, jti) order, so two instances' statements that meet on the
 *   same jtis wait for each other in one order and cannot deadlock. A jti twice in one batch is
 *   sent once; its later copies are replays.
 * - The spend's reads see the statement's snapshot, as the single statements' did (`runs-postgres.ts`).
 * - The grant's answer of whether its run attempt completed does not: it upserts the attempt's
 *   row in `run_attempts`, which a completion upserts too (`runs-postgres.ts`). Whichever writes
 *   it first holds its lock until it commits. A grant that came second reads the completion
 *   (ON CONFLICT DO UPDATE acts on the newest row, committed after its snapshot or not); a
 *   completion that came second reads the leases only after, in a statement of its own, and
 *   finds the grant's. Read from the snapshot, both could miss each other, and the lease would
 *   outlive its run. Rows go in key order, so two batches cannot deadlock over them.
 * - An invalid Date fails only its own caller, before it joins a batch. A value PostgreSQL refuses
 *   (a NUL in a role name from the request body, say) fails only its own caller too: the batch
 *   is split until it is alone (`isolate`).
 */

import type { PostgresIo } from './approvals-postgres.js';
import { storeFailure } from './common.js';
import { batcher, columnArrays, unnestArrays } from './postgres-batch.js';
import { refuseInvalidDates } from './postgres-pool.js';
import { AUDIT_FIELDS, LEASE_FIELDS, TIME_FIELDS } from './rows.js';
import type { Store } from './types.js';

export type ExchangeWrites = Pick<Store, 'spendToken' | 'recordGrant'>;

/** Statements of each kind out at once, per instance; the pool has room for the rest. */
const MAX_IN_FLIGHT = 2;
/** Rows in one statement at most (its parameters are one array per column whatever the count). */
const MAX_BATCH = 500;
/** Writes waiting at most: what the next statements take, so none waits behind more than those. */
const MAX_QUEUED = MAX_IN_FLIGHT * MAX_BATCH;

// Unnested from arrays of text: `claims` too, cast where it is inserted.
const typed = (fields: readonly string[]) =>
  fields.map((name) => ({ name, type: TIME_FIELDS.has(name) ? 'timestamptz' : 'text' }));

/**
 * SQLSTATE classes of a failure a row's values cause: data exception (22), integrity constraint
 * (23), program limit such as an index row too large (54). Not the connection, a timeout or a
 * shutdown, which would fail each row again.
 */
const ROW_FAILURES = new Set(['22', '23', '54']);
const rowFailure = (err: unknown): boolean => {
  const code = (err as { cause?: { code?: unknown } } | undefined)?.cause?.code;
  return typeof code === 'string' && ROW_FAILURES.has(code.slice(0, 2));
};

const limits = (what: string) => ({
  maxInFlight: MAX_IN_FLIGHT,
  maxBatch: MAX_BATCH,
  maxQueued: MAX_QUEUED,
  full: () => storeFailure(what, new Error('too many writes are waiting for the database')),
  isolate: rowFailure,
});

type SpendItem = Parameters<Store['spendToken']>;
type SpendRow = { n: string; fresh: boolean; completed: boolean; first_lease_at: Date | null };
/** Whether the jti was fresh, and its run attempt's state (`RunState`) when it names one. */
type Spent = { fresh: boolean; run: { completed: boolean; firstLeaseAt?: Date } };
/** A grant's lease, audit row and run attempt as positional values. */
type GrantItem = { lease: unknown[]; audit: unknown[]; run: unknown[] };

export function postgresExchangeWrites({ t, query, auditValues, leaseValues }: PostgresIo): {
  writes: ExchangeWrites;
  /** Sends the writes still waiting and waits for every one out (`close`, before the pool ends). */
  drain(): Promise<void>;
} {
  const spendColumns = typed(['jti', 'issuer', 'repository_id', 'run_id', 'run_attempt', 'role']);
  spendColumns.splice(1, 0, { name: 'expires_at', type: 'timestamptz' });
  // A row of issuer '' was written before jtis were keyed by issuer: it still counts as spent.
  const spendText = `WITH input AS (
      SELECT * FROM ${unnestArrays(spendColumns, 1, 'i', true)}
    ), spent AS (
      INSERT INTO ${t('used_jtis')} (issuer, jti, expires_at)
      SELECT issuer, jti, expires_at FROM input
       WHERE NOT EXISTS (SELECT 1 FROM ${t('used_jtis')} u WHERE u.issuer = '' AND u.jti = input.jti)
       ORDER BY issuer, jti
      ON CONFLICT (issuer, jti) DO NOTHING RETURNING issuer, jti
    )
    SELECT i.n, EXISTS (SELECT 1 FROM spent s WHERE s.issuer = i.issuer AND s.jti = i.jti) AS fresh,
           EXISTS (SELECT 1 FROM ${t('completed_runs')} c
                    WHERE c.repository_id = i.repository_id AND c.run_id = i.run_id
                      AND c.run_attempt = i.run_attempt) AS completed,
           -- The first lease of the attempt's role: among its leases, or kept after they were purged.
           LEAST((SELECT min(created_at) FROM ${t('leases')} l
                   WHERE l.repository_id = i.repository_id AND l.run_id = i.run_id
                     AND l.run_attempt = i.run_attempt AND l.role = i.role),
                 (SELECT f.first_lease_at FROM ${t('run_first_leases')} f
                   WHERE f.repository_id = i.repository_id AND f.run_id = i.run_id
                     AND f.run_attempt = i.run_attempt AND f.role = i.role)) AS first_lease_at
      FROM input i`;

  const spend = batcher<SpendItem, Spent>(async (items) => {
    // The first of a jti in the batch goes; its copies are answered from it, as replays.
    const slotOf = new Map<string, number>();
    const rows: unknown[][] = [];
    const copy: boolean[] = [];
    const slots = items.map(([token, run]) => {
      const key = `${token.issuer}\n${token.jti}`;
      const seen = slotOf.get(key);
      copy.push(seen !== undefined);
      if (seen !== undefined) return seen;
      slotOf.set(key, rows.length);
      const { repositoryId, runId, runAttempt } = run?.key ?? {};
      rows.push([token.jti, token.expiresAt, token.issuer, repositoryId, runId, runAttempt, run?.role]);
      return rows.length - 1;
    });
    const result = await query<SpendRow>('record the token id', {
      name: 'jitkey_spend_tokens',
      text: spendText,
      values: columnArrays(rows, spendColumns.length),
    });
    const answers = new Array<Spent>(rows.length);
    for (const row of result.rows) {
      answers[Number(row.n) - 1] = {
        fresh: row.fresh,
        run: {
          completed: row.completed,
          ...(row.first_lease_at ? { firstLeaseAt: row.first_lease_at } : {}),
        },
      };
    }
    return slots.map((slot, i) => (copy[i] ? { ...answers[slot]!, fresh: false } : answers[slot]!));
  }, limits('record the token id'));

  const leaseColumns = typed(LEASE_FIELDS);
  const auditColumns = typed(AUDIT_FIELDS);
  const runColumns = typed(['repository_id', 'run_id', 'run_attempt']);
  const runsAt = 1 + leaseColumns.length + auditColumns.length;
  const grantText = `WITH r AS (
      SELECT * FROM ${unnestArrays(runColumns, runsAt, 'r', true)}
    ), attempt AS (
      INSERT INTO ${t('run_attempts')} (repository_id, run_id, run_attempt, seen_at)
      SELECT DISTINCT repository_id, run_id, run_attempt, now() FROM r ORDER BY 1, 2, 3
      ON CONFLICT (repository_id, run_id, run_attempt) DO UPDATE SET seen_at = EXCLUDED.seen_at
      RETURNING repository_id, run_id, run_attempt, completed
    ), lease AS (
      INSERT INTO ${t('leases')} (${LEASE_FIELDS.join(', ')})
      SELECT ${LEASE_FIELDS.join(', ')} FROM ${unnestArrays(leaseColumns, 1, 'l')}
    ), audited AS (
      INSERT INTO ${t('audit')} (${AUDIT_FIELDS.join(', ')})
      SELECT ${AUDIT_FIELDS.map((f) => (f === 'claims' ? 'claims::jsonb' : f)).join(', ')}
        FROM ${unnestArrays(auditColumns, 1 + leaseColumns.length, 'a', true)} ORDER BY a.n
    )
    SELECT r.n, EXISTS (SELECT 1 FROM attempt a
                         WHERE a.repository_id = r.repository_id AND a.run_id = r.run_id
                           AND a.run_attempt = r.run_attempt AND a.completed)
             -- A completion by an older instance writes completed_runs alone, read from the
             -- snapshot: during a rolling upgrade, old and new instances may still miss each other.
             OR EXISTS (SELECT 1 FROM ${t('completed_runs')} c
                         WHERE c.repository_id = r.repository_id AND c.run_id = r.run_id
                           AND c.run_attempt = r.run_attempt) AS completed
      FROM r`;

  const grant = batcher<GrantItem, { completed: boolean }>(async (items) => {
    const { rows } = await query<{ n: string; completed: boolean }>('record the lease', {
      name: 'jitkey_record_grants',
      text: grantText,
      values: [
        ...columnArrays(
          items.map((item) => item.lease),
          leaseColumns.length,
        ),
        ...columnArrays(
          items.map((item) => item.audit),
          auditColumns.length,
        ),
        ...columnArrays(
          items.map((item) => item.run),
          runColumns.length,
        ),
      ],
    });
    const answers = new Array<{ completed: boolean }>(items.length);
    for (const row of rows) answers[Number(row.n) - 1] = { completed: row.completed };
    return answers;
  }, limits('record the lease'));

  const writes: ExchangeWrites = {
    async spendToken(token, run) {
      refuseInvalidDates([token.expiresAt]);
      const { fresh, run: state } = await spend.submit([token, run]);
      return run ? { fresh, run: state } : { fresh };
    },
    async recordGrant(entry, lease, run) {
      const item = {
        lease: leaseValues(lease),
        audit: auditValues(entry),
        run: [run.repositoryId, run.runId, run.runAttempt],
      };
      refuseInvalidDates(item.lease);
      refuseInvalidDates(item.audit);
      return grant.submit(item);
    },
  };
  return { writes, drain: async () => void (await Promise.all([spend.drain(), grant.drain()])) };
}
