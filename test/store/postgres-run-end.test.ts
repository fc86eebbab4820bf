/**
 * A run attempt's completion and a grant of it on PostgreSQL, overlapping: whichever writes the
 * attempt's row in `run_attempts` first, the other sees it (`runs-postgres.ts`,
 * `exchange-writes-postgres.ts`). Each test holds one side open in a transaction of its own, so
 * the overlap is made, not waited for; the other side must wait for it, then answer as if it
 * came second.
 */
import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { openStore } from '../../exchanger/store/open.js';
import type { Store } from '../../exchanger/store/types.js';
import { eventually } from '../support/eventually.js';
import { entry, lease } from './contract.js';
import { admin, dropSchema, newSchema, PG_URL } from './pg-support.js';

const run = { repositoryId: '42', runId: '9001', runAttempt: '1' };
const key = [run.repositoryId, run.runId, run.runAttempt];

describe('postgres store: a completion and a grant of one run attempt, overlapping', () => {
  let schema: string;
  let store: Store;
  let side: pg.Client;
  const open = async () => {
    schema = newSchema();
    store = await openStore(PG_URL, { schema, purgeIntervalMs: 0 });
    side = new pg.Client({ connectionString: PG_URL });
    await side.connect();
  };
  afterEach(async () => {
    await side.query('ROLLBACK').catch(() => {});
    await side.end();
    await store.close();
    await dropSchema(schema);
  });
  const table = (name: string) => `"${schema}".${name}`;
  /**
   * Until some statement of this schema waits for a row lock: the store's, behind `side`. Asked
   * on a connection of its own: in `side`'s transaction the view would be read once and kept.
   */
  const waitingForTheRow = () =>
    eventually(async () => {
      const { rows } = await admin((c) =>
        c.query(
          `SELECT count(*)::int AS n FROM pg_stat_activity
          WHERE wait_event_type = 'Lock' AND query LIKE $1`,
          [`%${schema}%`],
        ),
      );
      return rows[0].n > 0 ? true : undefined;
    }, 'a statement waiting for the run attempt’s row');

  it('a grant meeting a completion not yet committed waits, then answers completed', async () => {
    await open();
    await side.query('BEGIN');
    // What a completion writes first, its row of the attempt, as runs-postgres.ts does.
    await side.query(
      `INSERT INTO ${table('run_attempts')} (repository_id, run_id, run_attempt, completed, seen_at)
       VALUES ($1, $2, $3, true, now())`,
      key,
    );
    await side.query(
      `INSERT INTO ${table('completed_runs')} (repository_id, run_id, run_attempt, completed_at)
       VALUES ($1, $2, $3, now())`,
      key,
    );
    const grant = store.recordGrant(entry({ leaseId: 'l-late' }), lease({ id: 'l-late', ...run }), run);
    await waitingForTheRow();
    await side.query('COMMIT');
    // Read from its snapshot, taken before the commit, it would have said false.
    expect(await grant).toEqual({ completed: true });
  });

  it('a completion meeting a grant not yet committed waits, then ends its lease too', async () => {
    await open();
    // A lease of another attempt, copied below as the grant in flight's own.
    await store.record(entry(), lease({ id: 'template', repositoryId: '42', runId: '1', runAttempt: '1' }));
    const { rows } = await side.query(
      `SELECT column_name FROM information_schema.columns WHERE table_schema = $1 AND table_name = 'leases'`,
      [schema],
    );
    const columns = rows.map((r) => String(r.column_name));
    const copied = columns.map((c) => (c === 'id' ? `'l-in-flight'` : c === 'run_id' ? `'${run.runId}'` : c));
    await side.query('BEGIN');
    // What a grant writes, as exchange-writes-postgres.ts does: the attempt's row, and its lease.
    await side.query(
      `INSERT INTO ${table('run_attempts')} (repository_id, run_id, run_attempt, seen_at)
       VALUES ($1, $2, $3, now())`,
      key,
    );
    await side.query(
      `INSERT INTO ${table('leases')} (${columns.join(', ')})
       SELECT ${copied.join(', ')} FROM ${table('leases')} WHERE id = 'template'`,
    );
    const completion = store.completeRun(run, new Date(), entry({ event: 'webhook', outcome: 'revoked' }));
    await waitingForTheRow();
    await side.query('COMMIT');
    // Read in the statement that marked it, it would have found no lease.
    expect((await completion).map((l) => l.id)).toEqual(['l-in-flight']);
    expect(await store.runState(run, 'deploy-web-prod')).toMatchObject({ completed: true });
  });

  it("the attempts' rows go with the completed runs, a day after anyone last wrote one", async () => {
    await open();
    await store.recordGrant(entry({ leaseId: 'l-1' }), lease({ id: 'l-1', ...run }), run);
    const count = async () =>
      Number((await side.query(`SELECT count(*) AS n FROM ${table('run_attempts')}`)).rows[0].n);
    expect(await count()).toBe(1);
    await store.purgeExpired(new Date(Date.now() + 23 * 3_600_000));
    expect(await count()).toBe(1);
    await store.purgeExpired(new Date(Date.now() + 25 * 3_600_000));
    expect(await count()).toBe(0);
  });
});
