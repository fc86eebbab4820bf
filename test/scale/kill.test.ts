/**
 * Issue 5, fault: `kill -9` one of two `jitkey serve` processes in the middle of a load of
 * 1,000 exchanges (50 concurrent). Afterwards every 200 the killed instance sent has its lease
 * and audit row (both are committed before the response is written), no token got two leases,
 * and the surviving instance kept serving.
 *
 * Requests in flight to the killed instance fail at the client (reset), as do those sent to it
 * afterwards (refused); like a client behind a load balancer, each is retried once on the
 * survivor with the same token: it gets a 200 when the killed instance had not yet spent the
 * token, `token_replayed` when it had, never a second lease.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
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

let c: Cluster;

beforeAll(async () => {
  c = await startCluster({ instances: 2, sts: { record: false } });
});
afterAll(() => c?.stop());

it('kill -9 of one instance mid-load: what it answered 200 is recorded, nothing is duplicated, the other serves on', async () => {
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
  const survivorAfterKill = results.filter((r) => r.instance === 1 && r.start > killedAt && r.status === 200);

  // Every answer that came back is a 200; the failures are all at the client, on the victim.
  expect(results.filter((r) => r.status !== 0 && r.status !== 200)).toEqual([]);
  expect(fromVictim.length).toBeGreaterThan(0);
  expect(failed.length).toBeGreaterThan(0);
  // Retried on the survivor: granted if the victim never spent the token, else token_replayed.
  for (const r of retries) {
    expect(r.status === 200 || r.body?.error === 'token_replayed', JSON.stringify(r.body)).toBe(true);
  }
  // The survivor kept serving: it answered every job routed to it, also after the kill.
  expect(results.filter((r) => r.instance === 1).every((r) => r.status === 200)).toBe(true);
  expect(survivorAfterKill.length).toBeGreaterThan(0);
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
});

function tokenRun(token: string): string {
  const payload = JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()) as { run_id: string };
  return payload.run_id;
}
