/**
 * Section 13: the CPU an exchange's SQLite writes cost when each write commits alone, as they do
 * when exchanges arrive one per event-loop turn (a paced load, STS answering later): the spend of
 * the token with its attempt's state, then the lease with its audit row. Measured in this process
 * on the real store, with the audit rows staged (the default) and written straight into the
 * indexed audit table (the baseline), alternated, the least of each kept. CPU is the process's,
 * the WAL checkpoint thread's included, up to the store's close (which moves the last staged rows).
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
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

/** Bytes this process has passed to write calls so far (the WAL, the checkpoints, anything else). */
function bytesWritten(): number {
  const m = /^wchar: (\d+)$/m.exec(readFileSync('/proc/self/io', 'utf8'));
  if (!m) throw new Error('no wchar in /proc/self/io');
  return Number(m[1]);
}

/** CPU µs and bytes written per exchange, each write awaited before the next: one commit each. */
async function perExchange(path: string, auditStaging: boolean): Promise<{ cpuUs: number; bytes: number }> {
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
    const written = bytesWritten();
    const before = process.cpuUsage();
    await run(batch);
    await store.close(); // it moves the rows still staged: their share of the work is counted
    const used = process.cpuUsage(before);
    return { cpuUs: (used.user + used.system) / EXCHANGES, bytes: (bytesWritten() - written) / EXCHANGES };
  } finally {
    await store.close(); // a second close does nothing
  }
}

export async function benchStoreWrites(dir: string): Promise<Row[]> {
  const staged: { cpuUs: number; bytes: number }[] = [];
  const direct: { cpuUs: number; bytes: number }[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    direct.push(await perExchange(join(dir, `writes-direct-${round}.db`), false));
    staged.push(await perExchange(join(dir, `writes-staged-${round}.db`), true));
  }
  const least = (runs: { cpuUs: number; bytes: number }[], key: 'cpuUs' | 'bytes') =>
    Math.min(...runs.map((r) => r[key]));
  const all = (runs: { cpuUs: number; bytes: number }[], key: 'cpuUs' | 'bytes', scale = 1) =>
    runs.map((r) => (r[key] / scale).toFixed(0)).join(', ');
  const straight = 'audit rows written straight into the indexed table';
  return [
    row(13, 'CPU of one exchange’s SQLite writes, one commit each', least(staged, 'cpuUs'), 'µs', {
      baseline: { label: straight, value: least(direct, 'cpuUs') },
      note: `${EXCHANGES.toLocaleString('en-US')} exchanges (spend, then lease and audit row), least of ${ROUNDS} alternated runs; all: staged ${all(staged, 'cpuUs')} µs, straight ${all(direct, 'cpuUs')} µs`,
    }),
    row(13, 'bytes written per exchange (WAL and checkpoints)', least(staged, 'bytes') / 1024, 'KiB', {
      baseline: { label: straight, value: least(direct, 'bytes') / 1024 },
      note: `wchar of /proc/self/io; all: staged ${all(staged, 'bytes', 1024)} KiB, straight ${all(direct, 'bytes', 1024)} KiB`,
    }),
  ];
}
