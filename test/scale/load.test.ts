/**
 * Issue 5, load: 1,000 exchanges spread over two `jitkey serve` processes on one PostgreSQL
 * store, 50 at a time. Among them, refusals (a denied ref, replays of tokens already sent, most
 * of them to the other instance). Every 200 has exactly one lease and one audit row, every
 * refusal its audit row, and no token got credentials twice.
 *
 * A correctness test: the throughput and latency figures are printed, not asserted.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import {
  type Cluster,
  figures,
  freshToken,
  halfWritten,
  type Job,
  readLedger,
  runLoad,
  startCluster,
  unrecorded,
} from '../support/scale.js';

const TOTAL = 1000;
const CONCURRENCY = 50;

let c: Cluster;

beforeAll(async () => {
  c = await startCluster({ instances: 2, sts: { record: false } });
});
afterAll(() => c?.stop());

it('1,000 exchanges over two instances, 50 concurrent: every answer is recorded exactly once', async () => {
  // Jobs alternate between the instances. Every 20th is denied by the policy (ref); every 20th,
  // offset 10, replays the token of a job 5 or 45 earlier, sent to the other instance (5 back
  // it is most likely still in flight there, and the two race for it).
  const jobs: Job[] = [];
  for (let n = 0; n < TOTAL; n++) {
    const instance = n % 2;
    if (n % 20 === 5) jobs.push({ instance, token: freshToken(c.idp, n, { ref: 'refs/heads/dev' }) });
    else if (n % 20 === 15) {
      const back = n > 45 && Math.floor(n / 20) % 2 === 1 ? 45 : 5;
      jobs.push({ instance, token: jobs[n - back]!.token });
    } else jobs.push({ instance, token: freshToken(c.idp, n) });
  }

  const { results, seconds } = await runLoad(c, jobs, { concurrency: CONCURRENCY });
  const stats = figures(results, seconds);
  console.log(`scale load (2 instances, PostgreSQL, ${CONCURRENCY} concurrent): ${JSON.stringify(stats)}`);

  expect(results).toHaveLength(TOTAL);
  const byStatus = new Map<string, number>();
  for (const r of results) {
    const key = `${r.status} ${r.body?.error ?? ''}`.trim();
    byStatus.set(key, (byStatus.get(key) ?? 0) + 1);
  }
  // Nothing but grants, denials and replays; no 503, no network failure.
  expect([...byStatus.keys()].sort()).toEqual(['200', '401 token_replayed', '403 access_denied']);
  expect(byStatus.get('403 access_denied')).toBe(TOTAL / 20);
  // Each token that the policy allows got exactly one 200, whichever instance answered first.
  const allowed = new Set(jobs.filter((_, n) => n % 20 !== 5).map((j) => j.token));
  const grantsByToken = new Map<string, number>();
  for (const r of results) {
    if (!allowed.has(r.job.token)) continue;
    grantsByToken.set(r.job.token, (grantsByToken.get(r.job.token) ?? 0) + (r.status === 200 ? 1 : 0));
  }
  const allowedTokens = allowed.size;
  expect(allowedTokens).toBe(TOTAL - TOTAL / 10);
  expect([...grantsByToken.values()].every((g) => g === 1)).toBe(true);
  expect(byStatus.get('200')).toBe(allowedTokens);
  expect(byStatus.get('401 token_replayed')).toBe(TOTAL / 20);
  // Both instances served.
  for (const i of [0, 1])
    expect(results.filter((r) => r.instance === i && r.status === 200).length).toBeGreaterThan(0);

  const ledger = await readLedger(c.db);
  expect(halfWritten(ledger)).toEqual([]);
  expect(unrecorded(ledger, results)).toEqual([]);
  expect(ledger.leases).toHaveLength(allowedTokens);
  expect(ledger.audit).toHaveLength(TOTAL);
  expect([...ledger.leasesByRun.values()].every((l) => l.length === 1)).toBe(true);
  // One used token id per distinct token that got as far as the replay check.
  expect(ledger.usedJtis).toBe(new Set(jobs.map((j) => j.token)).size);
});
