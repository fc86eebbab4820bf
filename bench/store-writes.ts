/**
 * Section 13: the CPU an exchange's SQLite writes cost when each write commits alone, as they do
 * when exchanges arrive one per event-loop turn (a paced load, STS answering later): the spend of
 * the token with its attempt's state, then the lease with its audit row. Measured in this process
 * on the real store, with the audit rows staged (the default) and written straight into the
 * indexed audit table (the baseline), alternated, the least of each kept. CPU is the process's,
 * the WAL checkpoint thread's included.
 */
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import type { AuditEntry } from '../exchanger/store/audit-types.js';
import type { LeaseRecord } from '../exchanger/store/leases-types.js';
import { openStore } from '../exchanger/store/open.js';
import type { RunKey } from '../exchanger/store/runs-types.js';
import { type Row, row } from './report.js';

const EXCHANGES = 10_000;
const WARM_UP = 500;
const ROUNDS = 2;
const ISSUER = 'https://token.actions.githubusercontent.com';

interface Exchange {
  token: { jti: string; expiresAt: Date; issuer: string };
  run: RunKey;
  entry: AuditEntry;
  lease: LeaseRecord;
}

/** Exchanges of 50 repositories, a run attempt each, as the bench's load makes them. */
function exchanges(count: number): Exchange[] {
  const expiresAt = new Date(Date.now() + 3_600_000);
  return Array.from({ length: count }, (_, i) => {
    const repository = `acme/svc-${i % 50}`;
    const run = { repositoryId: String(100_000 + (i % 50)), runId: String(9_000_000 + i), runAttempt: '1' };
    const leaseId = `lease-${randomUUID()}`;
    const claims = {
      repository,
      repository_id: run.repositoryId,
      ref: 'refs/heads/main',
      event_name: 'push',
      run_id: run.runId,
      run_attempt: '1',
      actor: 'octocat',
    };
    return {
      token: { jti: randomUUID(), expiresAt, issuer: ISSUER },
      run,
      entry: {
        at: new Date(),
        requestId: randomUUID(),
        event: 'exchange',
        outcome: 'allowed',
        role: 'deploy',
        provider: 'aws',
        reason: 'granted for 15m',
        leaseId,
        expiresAt,
        actor: 'octocat',
        clientAddress: '10.1.2.3',
        claims,
      },
      lease: {
        id: leaseId,
        role: 'deploy',
        provider: 'aws',
        createdAt: new Date(),
        expiresAt,
        revokeTokenHash: 'a'.repeat(64),
        repository,
        repositoryId: run.repositoryId,
        runId: run.runId,
        runAttempt: '1',
      },
    };
  });
}

/** CPU µs per exchange, each write awaited before the next: one commit each. */
async function cpuPerExchange(path: string, auditStaging: boolean): Promise<number> {
  const store = await openStore(`sqlite:${path}`, { purgeIntervalMs: 0, auditStaging });
  try {
    const run = async (batch: Exchange[]) => {
      for (const x of batch) {
        await store.spendToken(x.token, { key: x.run, role: x.lease.role });
        await store.recordGrant(x.entry, x.lease, x.run);
      }
    };
    await run(exchanges(WARM_UP));
    const batch = exchanges(EXCHANGES);
    const before = process.cpuUsage();
    await run(batch);
    const used = process.cpuUsage(before);
    return (used.user + used.system) / EXCHANGES;
  } finally {
    await store.close();
  }
}

export async function benchStoreWrites(dir: string): Promise<Row[]> {
  const staged: number[] = [];
  const direct: number[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    direct.push(await cpuPerExchange(join(dir, `writes-direct-${round}.db`), false));
    staged.push(await cpuPerExchange(join(dir, `writes-staged-${round}.db`), true));
  }
  const least = (values: number[]) => Math.min(...values);
  return [
    row(13, 'CPU of one exchange’s SQLite writes, one commit each', least(staged), 'µs', {
      baseline: { label: 'audit rows written straight into the indexed table', value: least(direct) },
      note: `${EXCHANGES.toLocaleString('en-US')} exchanges (spend, then lease and audit row), least of ${ROUNDS} alternated runs; all: staged ${staged.map((v) => v.toFixed(0)).join(', ')} µs, straight ${direct.map((v) => v.toFixed(0)).join(', ')} µs`,
    }),
  ];
}
