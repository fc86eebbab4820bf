/**
 * Issue 5, load and fault: 1,000 exchanges spread over two `jitkey serve` processes on one
 * PostgreSQL store, 50 at a time; each test on a fresh pair of instances and a fresh schema.
 * One file, so the two loads run one after the other (not competing for the cores and the
 * database's connections with each other).
 *
 * - Load: among the exchanges, refusals (a denied ref, replays of tokens already sent, most of
 *   them to the other instance). Every 200 has exactly one lease and one audit row, every
 *   refusal its audit row, and no token got credentials twice.
 * - Fault: `kill -9` of one instance in the middle of that load. Afterwards every 200 the
 *   killed instance sent has its lease and audit row (both are committed before the response
 *   is written), no token got two leases, and the surviving instance kept serving. Requests in
 *   flight to the killed instance fail at the client (reset), as do those sent to it afterwards
 *   (refused); like a client behind a load balancer, each is retried once on the survivor with
 *   the same token: it gets a 200 when the killed instance had not yet spent the token,
 *   `token_replayed` when it had, never a second lease.
 *
 * Correctness tests: the throughput and latency figures are printed, not asserted.
 */
import { afterEach, beforeEach, expect, it } from 'vitest';
import {
  type Cluster,
  figures,
  freshToken,
  halfWritten,
  type Job,
  readLedger,
  readyz,
  runLoad,
  startCluster,
  unrecorded,
} from '../support/scale.js';

const TOTAL = 1000;
const CONCURRENCY = 50;
/** Answers received before the kill. */
const KILL_AFTER = 300;
/** A bound, not a target: each test takes seconds on a 2-core machine. */
const LIMIT_MS = 50_000;

let c: Cluster;

beforeEach(async () => {
  c = await startCluster({ instances: 2, sts: { record: false } });
});
afterEach(() => c?.stop());

it(
  '1,000 exchanges over two instances, 50 concurrent: every answer is recorded exactly once',
  async () => {
    // Jobs alternate between the instances. Every 20th is denied by the policy (ref); every 20th,
    // offset 15, replays the token of a job 5 or 35 earlier, sent to the other instance (5 back
    // it is most likely still in flight there, and the two race for it). Each token is replayed
    // once at most: a second replay of one token within a minute is folded into a count
    // (exchange/refusal-fold.ts), not audited on its own row.
    const jobs: Job[] = [];
    for (let n = 0; n < TOTAL; n++) {
      const instance = n % 2;
      if (n % 20 === 5) jobs.push({ instance, token: freshToken(c.idp, n, { ref: 'refs/heads/dev' }) });
      else if (n % 20 === 15) {
        // 35 back is offset 0 of the block before, a token no other job replays.
        const back = n > 35 && Math.floor(n / 20) % 2 === 1 ? 35 : 5;
        jobs.push({ instance, token: jobs[n - back]!.token });
      } else jobs.push({ instance, token: freshToken(c.idp, n) });
    }

    const replayed = jobs.filter((_, n) => n % 20 === 15).map((j) => j.token);
    expect(new Set(replayed).size).toBe(replayed.length);

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
    // Each instance granted every fresh token sent only to it, plus its share of the raced ones:
    // a job at n % 20 = 10 races its replay (n % 20 = 15, the other instance) for one grant.
    const raced = TOTAL / 20;
    for (const i of [0, 1]) {
      const own = jobs.filter((_, n) => n % 2 === i && ![5, 10, 15].includes(n % 20)).length;
      const granted = results.filter((r) => r.instance === i && r.status === 200).length;
      expect(granted).toBeGreaterThanOrEqual(own);
      expect(granted).toBeLessThanOrEqual(own + raced);
    }

    const ledger = await readLedger(c.db);
    expect(halfWritten(ledger)).toEqual([]);
    expect(unrecorded(ledger, results)).toEqual([]);
    expect(ledger.leases).toHaveLength(allowedTokens);
    expect(ledger.audit).toHaveLength(TOTAL);
    expect([...ledger.leasesByRun.values()].every((l) => l.length === 1)).toBe(true);
    // One used token id per distinct token that got as far as the replay check.
    expect(ledger.usedJtis).toBe(new Set(jobs.map((j) => j.token)).size);
  },
  LIMIT_MS,
);

it(
  'kill -9 of one instance mid-load: what it answered 200 is recorded, nothing is duplicated, the other serves on',
  async () => {
    const [victim, survivor] = c.instances as [Cluster['instances'][0], Cluster['instances'][0]];
    const jobs: Job[] = Array.from({ length: TOTAL }, (_, n) => ({
      instance: n % 2,
      token: freshToken(c.idp, n),
    }));

    let killedAt = Number.POSITIVE_INFINITY;
    const { results, seconds } = await runLoad(c, jobs, {
      concurrency: CONCURRENCY,
      onResult: (_r, done) => {
        if (done === KILL_AFTER) {
          killedAt = performance.now();
          victim.signal('SIGKILL');
        }
      },
    });
    expect(await victim.exited).toBeNull(); // killed by the signal, not exited
    expect(victim.child.signalCode).toBe('SIGKILL');

    const failed = results.filter((r) => r.status === 0);
    expect(failed.every((r) => r.instance === 0)).toBe(true);
    const { results: retries } = await runLoad(
      c,
      failed.map((r) => ({ instance: 1, token: r.job.token })),
      { concurrency: CONCURRENCY },
    );
    const all = [...results, ...retries];
    const stats = figures(results, seconds);
    const fromVictim = results.filter((r) => r.instance === 0 && r.status === 200);
    const survivorAfterKill = results.filter(
      (r) => r.instance === 1 && r.start > killedAt && r.status === 200,
    );

    // Every answer that came back is a 200; the failures are all at the client, on the victim.
    expect(results.filter((r) => r.status !== 0 && r.status !== 200)).toEqual([]);
    expect(fromVictim.length + failed.length).toBe(TOTAL / 2);
    expect(retries).toHaveLength(failed.length);
    // The first KILL_AFTER answers came in before the kill: all grants, the victim's among them.
    const beforeKill = results.slice(0, KILL_AFTER);
    expect(beforeKill.every((r) => r.status === 200)).toBe(true);
    expect(fromVictim.length).toBeGreaterThanOrEqual(beforeKill.filter((r) => r.instance === 0).length);
    // Job n is sent once n − CONCURRENCY + 1 answers are in, so every job from KILL_AFTER +
    // CONCURRENCY on was sent after the kill: each of the victim's failed, each of the survivor's
    // was granted.
    const sentAfterKill = (instance: number) =>
      jobs.filter((j, n) => n >= KILL_AFTER + CONCURRENCY && j.instance === instance).length;
    expect(sentAfterKill(0)).toBe((TOTAL - KILL_AFTER - CONCURRENCY) / 2);
    expect(failed.length).toBeGreaterThanOrEqual(sentAfterKill(0));
    // Retried on the survivor: granted if the victim never spent the token, else token_replayed.
    for (const r of retries) {
      expect(r.status === 200 || r.body?.error === 'token_replayed', JSON.stringify(r.body)).toBe(true);
    }
    // The survivor kept serving: it answered every job routed to it, also after the kill.
    expect(results.filter((r) => r.instance === 1).every((r) => r.status === 200)).toBe(true);
    expect(survivorAfterKill.length).toBeGreaterThanOrEqual(sentAfterKill(1));
    expect(await readyz(survivor)).toBe(200);

    const ledger = await readLedger(c.db);
    expect(halfWritten(ledger)).toEqual([]);
    expect(unrecorded(ledger, all)).toEqual([]);
    // No token got two leases.
    for (const [run, leases] of ledger.leasesByRun) expect(leases, `run ${run}`).toHaveLength(1);
    // Each token was granted at most once; the leases nobody received are those of requests the
    // victim had recorded when it died (the retry then found the token spent).
    const received = new Set(all.filter((r) => r.status === 200).map((r) => r.body.lease_id as string));
    const orphans = ledger.leases.filter((l) => !received.has(l.id));
    const replayedRuns = new Set(
      retries.filter((r) => r.body?.error === 'token_replayed').map((r) => tokenRun(r.job.token)),
    );
    console.log(
      `scale kill -9: ${JSON.stringify({
        ...stats,
        victim200s: fromVictim.length,
        failedAtClient: failed.length,
        retriedOk: retries.filter((r) => r.status === 200).length,
        retriedReplayed: retries.filter((r) => r.body?.error === 'token_replayed').length,
        survivor200sAfterKill: survivorAfterKill.length,
        leasesNobodyReceived: orphans.length,
      })}`,
    );
    for (const lease of orphans) expect(replayedRuns.has(lease.run_id!), `orphan ${lease.id}`).toBe(true);
    expect(ledger.leases.length).toBe(received.size + orphans.length);
  },
  LIMIT_MS,
);

function tokenRun(token: string): string {
  const payload = JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()) as { run_id: string };
  return payload.run_id;
}
