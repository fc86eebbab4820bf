/**
 * Issue 5, database restart during load: two `jitkey serve` processes keep sending exchanges
 * while PostgreSQL goes away and comes back. While it is down every exchange answers
 * `503 unavailable` (never 200) and `/readyz` 503; after it is back the pools recover and
 * exchanges succeed again; nothing is half-written.
 *
 * Why a proxy rather than restarting PostgreSQL: the machine's one PostgreSQL server is shared
 * by every test file, which Vitest runs in parallel; restarting it would break them. To the
 * exchanger a restart is what this TCP proxy does: every open connection dies at once, new
 * connections are turned away until the server is back.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { PG_URL } from '../support/pg.js';
import {
  type Cluster,
  exchangeOn,
  freshToken,
  halfWritten,
  type Result,
  readLedger,
  readyz,
  startCluster,
  unrecorded,
} from '../support/scale.js';
import { startTcpProxy, type TcpProxy } from '../support/tcp-proxy.js';

const CONCURRENCY = 10;
/** Bounds on each phase, so a hang fails the test instead of stalling it. */
const PHASE_LIMIT_MS = 15_000;
/** Bound on each test (a bound, not a target: the first takes seconds, the second ~20 s). */
const LIMIT_MS = 50_000;

let c: Cluster;
let proxy: TcpProxy;

beforeAll(async () => {
  const pg = new URL(PG_URL);
  proxy = await startTcpProxy({ host: pg.hostname, port: Number(pg.port || 5432) });
  c = await startCluster({ instances: 2, storeUrl: (db) => db.storeUrlVia(proxy.host, proxy.port) });
});
afterAll(async () => {
  await c?.stop();
  await proxy?.stop();
});

/**
 * A steady load over both instances (`CONCURRENCY` workers, fresh tokens numbered from
 * `firstToken`) until `stop()`; `results` fills as answers arrive.
 */
function steadyLoad(firstToken: number) {
  const results: Result[] = [];
  let n = firstToken;
  let stopped = false;
  const worker = async () => {
    while (!stopped) {
      const i = n++;
      const instance = i % 2;
      const r = await exchangeOn(c.instances[instance]!, freshToken(c.idp, i));
      results.push({ ...r, job: { instance, token: '' }, instance });
    }
  };
  const running = Promise.all(Array.from({ length: CONCURRENCY }, worker));
  return {
    results,
    stop: async () => {
      stopped = true;
      await running;
    },
  };
}

/** Polls `done` until it holds; past `deadline` (ms since the epoch) it fails naming `what`. */
async function until(what: string, deadline: number, done: () => boolean | Promise<boolean>) {
  while (!(await done())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

it(
  'PostgreSQL down mid-load: 503 while down, 200 again after, nothing half-written, no crash',
  async () => {
    const marks = { down: 0, up: 0 };
    const load = steadyLoad(0);
    const { results } = load;
    const since = (mark: number) => results.filter((r) => r.start > mark);
    // Each phase has its own bound.
    const phase = (what: string, done: () => boolean | Promise<boolean>) =>
      until(what, Date.now() + PHASE_LIMIT_MS, done);

    try {
      await phase('50 grants before the outage', () => results.filter((r) => r.status === 200).length >= 50);

      marks.down = performance.now();
      proxy.down();
      // Down long enough that both instances answer many requests, and both report not ready.
      await phase('both instances to answer while down', () =>
        [0, 1].every((i) => since(marks.down).filter((r) => r.instance === i).length >= 20),
      );
      expect(await Promise.all(c.instances.map(readyz))).toEqual([503, 503]);

      marks.up = performance.now();
      proxy.up();
      // The pools recover by themselves (a few 503s on the way are fine): wait for 50 grants on
      // each instance, from requests sent after PostgreSQL came back.
      await phase('50 grants on each instance after the outage', () =>
        [0, 1].every((i) => since(marks.up).filter((r) => r.instance === i && r.status === 200).length >= 50),
      );
      expect(await Promise.all(c.instances.map(readyz))).toEqual([200, 200]);
    } finally {
      await load.stop();
    }

    const whileDown = results.filter((r) => r.start > marks.down && r.end < marks.up);
    const afterUp = since(marks.up);
    const summary = (rs: Result[]) => {
      const counts: Record<string, number> = {};
      for (const r of rs) {
        const key = `${r.status}${r.body?.error ? ` ${r.body.error}` : ''}${r.error ? ` ${r.error}` : ''}`;
        counts[key] = (counts[key] ?? 0) + 1;
      }
      return counts;
    };
    console.log(
      `scale db restart: ${JSON.stringify({
        before: summary(results.filter((r) => r.start < marks.down)),
        whileDown: summary(whileDown),
        afterUp: summary(afterUp),
        proxiedConnections: proxy.connections(),
        refusedWhileDown: proxy.refused(),
      })}`,
    );

    // While down: only 503 unavailable, never a 200, never a dropped connection or a hang. The
    // phase above saw at least 20 answers per instance sent after the outage began, all in before
    // it ended: they are all in this window.
    for (const i of [0, 1])
      expect(whileDown.filter((r) => r.instance === i).length).toBeGreaterThanOrEqual(20);
    expect(summary(whileDown)).toEqual({ '503 unavailable': whileDown.length });
    for (const r of whileDown) expect(r.body.request_id).toMatch(/^req_/);
    // After: grants again, and nothing but grants or 503s on the way back.
    expect(
      afterUp.every((r) => r.status === 200 || (r.status === 503 && r.body.error === 'unavailable')),
    ).toBe(true);
    // Every answer in any phase is a 200 or a 503 unavailable; both processes are still running.
    expect(results.every((r) => r.status === 200 || r.body?.error === 'unavailable')).toBe(true);
    for (const instance of c.instances) expect(instance.child.exitCode).toBeNull();

    const ledger = await readLedger(c.db);
    expect(halfWritten(ledger)).toEqual([]);
    expect(unrecorded(ledger, results)).toEqual([]);
    // No grant without its lease and audit row; a 503 may still have been committed (the
    // connection died after the commit, before the answer), never the other way round: each
    // lease beyond the 200s stands for one 503.
    const granted = results.filter((r) => r.status === 200).length;
    const unavailable = results.filter((r) => r.status === 503).length;
    expect(ledger.leases.length).toBeGreaterThanOrEqual(granted);
    expect(ledger.leases.length).toBeLessThanOrEqual(granted + unavailable);
  },
  LIMIT_MS,
);

it(
  'PostgreSQL that stops answering (hung, not down): requests fail within seconds with 503, never hang',
  async () => {
    const load = steadyLoad(10_000);
    const { results } = load;
    // One bound for the whole test.
    const deadline = Date.now() + 40_000;
    const phase = (what: string, done: () => boolean | Promise<boolean>) => until(what, deadline, done);
    let hungAt = 0;
    let upAt = 0;
    try {
      await phase('grants before', () => results.filter((r) => r.status === 200).length >= 20);
      hungAt = performance.now();
      proxy.hang();
      await phase('answers while hung', () =>
        [0, 1].every((i) => results.filter((r) => r.start > hungAt && r.instance === i).length >= 5),
      );
      expect(await Promise.all(c.instances.map(readyz))).toEqual([503, 503]);
      upAt = performance.now();
      proxy.up();
      await phase('grants after', () =>
        [0, 1].every(
          (i) => results.filter((r) => r.start > upAt && r.instance === i && r.status === 200).length >= 20,
        ),
      );
    } finally {
      await load.stop();
    }
    const hung = results.filter((r) => r.end > hungAt && r.end < upAt);
    const slowest = Math.max(...hung.map((r) => r.end - r.start));
    console.log(
      `scale db hung: ${JSON.stringify({ answersWhileHung: hung.length, slowestMs: Math.round(slowest), statuses: [...new Set(hung.map((r) => `${r.status} ${r.body?.error ?? r.error}`))] })}`,
    );
    // The phase above saw at least 5 answers per instance sent after the hang, in before its end.
    for (const i of [0, 1]) expect(hung.filter((r) => r.instance === i).length).toBeGreaterThanOrEqual(5);
    for (const r of hung.filter((x) => x.start > hungAt))
      expect(`${r.status} ${r.body?.error}`).toBe('503 unavailable');
    for (const instance of c.instances) expect(instance.child.exitCode).toBeNull();
    const ledger = await readLedger(c.db);
    expect(halfWritten(ledger)).toEqual([]);
    expect(unrecorded(ledger, results)).toEqual([]);
  },
  LIMIT_MS,
);
