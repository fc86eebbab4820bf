/**
 * The exchange's two writes on PostgreSQL are group-committed (`exchange-writes-postgres.ts`): the
 * calls of one event-loop turn go in one statement. Shown by the rows' inserting transaction
 * (`xmin`, the audit row's `tx`), and that batching keeps single use, each call's own answer,
 * and a bad call's failure to itself.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { openStore } from '../../exchanger/store/open.js';
import type { Store } from '../../exchanger/store/types.js';
import { entry, lease } from './contract.js';
import { admin, dropSchema, newSchema, PG_URL } from './pg-support.js';

type RunKey = Parameters<Store['runState']>[0];

const EXP = new Date(Date.now() + 3_600_000);
const ISSUER = 'https://issuer.example';
const runOf = (runId: string): RunKey => ({ repositoryId: '42', runId, runAttempt: '1' });
const token = (jti: string) => ({ jti, expiresAt: EXP, issuer: ISSUER });

describe('postgres store: the exchange writes of one turn in one statement', () => {
  const schemas: string[] = [];
  const stores: Store[] = [];
  const open = async (schema = newSchema()) => {
    if (!schemas.includes(schema)) schemas.push(schema);
    const store = await openStore(PG_URL, { schema, purgeIntervalMs: 0 });
    stores.push(store);
    return { store, schema };
  };
  const distinct = (schema: string, sql: string) =>
    admin(async (c) => Number((await c.query(sql.replaceAll('$schema', `"${schema}"`))).rows[0].n));
  afterEach(async () => {
    await Promise.all(stores.splice(0).map((s) => s.close()));
    await Promise.all(schemas.splice(0).map(dropSchema));
  });

  it("spends a turn's jtis in one transaction, each call answered for its own run attempt", async () => {
    const { store, schema } = await open();
    const done = runOf('done');
    const leased = runOf('leased');
    await store.completeRun(done, new Date(), entry({ event: 'webhook' }));
    const first = new Date('2025-03-01T12:00:00.000Z');
    await store.record(entry(), lease({ id: 'l-0', role: 'deploy', createdAt: first, ...leased }));

    const answers = await Promise.all([
      store.spendToken(token('a'), { key: done, role: 'deploy' }),
      store.spendToken(token('b'), { key: leased, role: 'deploy' }),
      store.spendToken(token('c'), { key: leased, role: 'other' }),
      store.spendToken(token('d')),
      store.spendToken(token('a'), { key: done, role: 'deploy' }),
    ]);
    expect(answers).toEqual([
      { fresh: true, run: { completed: true } },
      { fresh: true, run: { completed: false, firstLeaseAt: first } },
      { fresh: true, run: { completed: false } },
      { fresh: true },
      { fresh: false, run: { completed: true } },
    ]);
    expect(await distinct(schema, 'SELECT count(DISTINCT xmin::text) AS n FROM $schema.used_jtis')).toBe(1);
    expect(await store.consumeJti('d', EXP, ISSUER)).toBe(false);
  });

  it("records a turn's grants in one transaction, each answered for its own attempt", async () => {
    const { store, schema } = await open();
    await store.completeRun(runOf('done'), new Date(), entry({ event: 'webhook' }));
    const runs = ['done', 'open', 'done', 'open'].map(runOf);
    const answers = await Promise.all(
      runs.map((run, i) =>
        store.recordGrant(
          entry({ leaseId: `l-${i}`, requestId: `r-${i}` }),
          lease({ id: `l-${i}`, ...run }),
          run,
        ),
      ),
    );
    expect(answers).toEqual([
      { completed: true },
      { completed: false },
      { completed: true },
      { completed: false },
    ]);
    for (const [i, run] of runs.entries())
      expect(await store.getLease(`l-${i}`)).toEqual(lease({ id: `l-${i}`, ...run }));
    expect(await distinct(schema, 'SELECT count(DISTINCT xmin::text) AS n FROM $schema.leases')).toBe(1);
    expect(
      await distinct(
        schema,
        "SELECT count(DISTINCT tx::text) AS n FROM $schema.audit WHERE event = 'exchange'",
      ),
    ).toBe(1);
    // In submission order: the audit trail's order is the order the grants were made.
    const ids = await admin(async (c) => {
      const { rows } = await c.query(
        `SELECT request_id FROM "${schema}".audit WHERE event = 'exchange' ORDER BY id`,
      );
      return rows.map((r: { request_id: string }) => r.request_id);
    });
    expect(ids).toEqual(['r-0', 'r-1', 'r-2', 'r-3']);
  });

  it('a call with an invalid Date fails alone; the others of its turn are recorded', async () => {
    const { store } = await open();
    const results = await Promise.allSettled([
      store.spendToken(token('ok-1')),
      store.spendToken({ ...token('bad'), expiresAt: new Date(Number.NaN) }),
      store.spendToken(token('ok-2')),
    ]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect((results[1] as PromiseRejectedResult).reason).toMatchObject({ code: 'internal_error' });
    expect(await store.consumeJti('ok-1', EXP, ISSUER)).toBe(false);
    expect(await store.consumeJti('ok-2', EXP, ISSUER)).toBe(false);
  });

  // A role name comes from the request body before the policy is read; PostgreSQL refuses a NUL.
  it('a spend PostgreSQL refuses fails alone; the others of its turn are recorded', async () => {
    const { store } = await open();
    const run = (role: string) => ({ key: runOf('r'), role });
    const results = await Promise.allSettled([
      store.spendToken(token('ok-1'), run('deploy')),
      store.spendToken(token('poison'), run('de\u0000ploy')),
      store.spendToken(token('ok-1'), run('deploy')),
      store.spendToken(token('ok-2'), run('deploy')),
    ]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled', 'fulfilled']);
    expect(results.map((r) => (r.status === 'fulfilled' ? r.value.fresh : undefined))).toEqual([
      true,
      undefined,
      false,
      true,
    ]);
    expect((results[1] as PromiseRejectedResult).reason).toMatchObject({ code: 'unavailable' });
    expect(await store.consumeJti('poison', EXP, ISSUER)).toBe(true);
  });

  it('a grant PostgreSQL refuses fails alone; the others of its turn are recorded', async () => {
    const { store } = await open();
    const run = runOf('open');
    const claims = (value: string) => ({ ...entry().claims, workflow: value });
    const results = await Promise.allSettled(
      ['ok', 'nul\u0000', 'ok'].map((workflow, i) =>
        store.recordGrant(
          entry({ leaseId: `l-${i}`, requestId: `r-${i}`, claims: claims(workflow) }),
          lease({ id: `l-${i}`, ...run }),
          run,
        ),
      ),
    );
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect(await store.getLease('l-0')).toEqual(lease({ id: 'l-0', ...run }));
    expect(await store.getLease('l-1')).toBeUndefined();
    expect(await store.getLease('l-2')).toEqual(lease({ id: 'l-2', ...run }));
  });

  it('while the database holds its statements, writes beyond what the next ones take are refused', async () => {
    const { store, schema } = await open();
    const settled = await admin(async (c) => {
      // The jtis' table locked: the statements in flight wait, as on a stalled database.
      await c.query('BEGIN');
      await c.query(`LOCK TABLE "${schema}".used_jtis IN ACCESS EXCLUSIVE MODE`);
      const nextTurn = () => new Promise((resolve) => setImmediate(resolve));
      const held = [store.spendToken(token('held-0'))];
      await nextTurn();
      held.push(store.spendToken(token('held-1')));
      await nextTurn();
      const waiting = Array.from({ length: 1500 }, (_, i) => store.spendToken(token(`w-${i}`)));
      const all = Promise.allSettled([...held, ...waiting]);
      await nextTurn();
      await c.query('COMMIT');
      return all;
    });
    const refused = settled.filter((r) => r.status === 'rejected');
    expect(refused.length).toBeGreaterThan(0);
    for (const r of refused)
      expect((r as PromiseRejectedResult).reason).toMatchObject({ code: 'unavailable' });
    for (const r of settled) if (r.status === 'fulfilled') expect(r.value).toEqual({ fresh: true });
    // The two statements in flight while the table was locked went through once it was free.
    const spent = { status: 'fulfilled', value: { fresh: true } };
    expect(settled.slice(0, 2)).toEqual([spent, spent]);
    // The latest was refused, and did not spend its token.
    expect(settled.at(-1)!.status).toBe('rejected');
    expect(await store.consumeJti('w-1499', EXP, ISSUER)).toBe(true);
  });

  it('close sends the writes still waiting before it ends the pool', async () => {
    const { store, schema } = await open();
    const writes = Promise.allSettled([store.spendToken(token('late-0')), store.spendToken(token('late-1'))]);
    await store.close();
    expect((await writes).map((r) => r.status)).toEqual(['fulfilled', 'fulfilled']);
    const { store: again } = await open(schema);
    expect(await again.consumeJti('late-0', EXP, ISSUER)).toBe(false);
    expect(await again.consumeJti('late-1', EXP, ISSUER)).toBe(false);
  });

  it('two instances spending the same jtis in opposite orders: each spent once, none fails', async () => {
    const { store: a, schema } = await open();
    const { store: b } = await open(schema);
    const jtis = Array.from({ length: 200 }, (_, i) => `race-${i}`);
    const run = { key: runOf('r'), role: 'deploy' };
    const [fromA, fromB] = await Promise.all([
      Promise.all(jtis.map((jti) => a.spendToken(token(jti), run))),
      Promise.all([...jtis].reverse().map((jti) => b.spendToken(token(jti), run))),
    ]);
    const freshB = [...fromB].reverse();
    for (const [i] of jtis.entries()) expect(Number(fromA[i]!.fresh) + Number(freshB[i]!.fresh)).toBe(1);
  });
});
