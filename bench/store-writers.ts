/**
 * One SQLite file written by one process or by several (`--workers N` with an SQLite store):
 * each process opens the store and records exchanges (the replay check, then the audit row) as
 * fast as 32 concurrent requests would, through the store's group commit, for a fixed time.
 * Measures what SQLite's file lock costs when workers share it: total writes/s and each write's
 * latency, lock waits included. Run as `node lib/bench/store-writers.js` it is one such writer.
 */
import { fork } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { openStore } from '../exchanger/store/open.js';
import { REPO_ROOT } from '../test/support/paths.js';
import { type Row, row } from './report.js';
import { type Summary, summarize } from './stats.js';

const SECONDS = 2;
const LANES = 32;

interface WriterResult {
  exchanges: number;
  latencyMs: Summary;
}

async function writer(file: string, seconds: number): Promise<WriterResult> {
  const store = await openStore(`sqlite:${file}`, { purgeIntervalMs: 0 });
  const latencies: number[] = [];
  const end = performance.now() + seconds * 1000;
  const lane = async () => {
    while (performance.now() < end) {
      const started = performance.now();
      const jti = randomUUID();
      await store.consumeJti(jti, new Date(Date.now() + 600_000));
      await store.record({
        at: new Date(),
        requestId: jti,
        event: 'exchange',
        outcome: 'allowed',
        role: 'deploy',
        provider: 'aws',
        reason: 'bench',
        claims: { repository: 'acme/web', run_id: '1' },
      });
      latencies.push(performance.now() - started);
    }
  };
  await Promise.all(Array.from({ length: LANES }, lane));
  await store.close();
  return { exchanges: latencies.length, latencyMs: summarize(latencies) };
}

function runWriters(file: string, processes: number): Promise<WriterResult[]> {
  const script = join(REPO_ROOT, 'lib/bench/store-writers.js');
  return Promise.all(
    Array.from(
      { length: processes },
      () =>
        new Promise<WriterResult>((resolve, reject) => {
          const child = fork(script, [file, String(SECONDS)], {
            stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
          });
          child.once('message', (m: WriterResult) => resolve(m));
          child.once('exit', (code) =>
            reject(new Error(`store writer exited with ${code} before answering`)),
          );
        }),
    ),
  );
}

export async function benchStoreWriters(dir: string, processes: number): Promise<Row[]> {
  // The store is opened (and migrated) once before the writers race for it.
  await (await openStore(`sqlite:${join(dir, 'writers-1.db')}`, { purgeIntervalMs: 0 })).close();
  await (await openStore(`sqlite:${join(dir, 'writers-n.db')}`, { purgeIntervalMs: 0 })).close();
  const [one] = await runWriters(join(dir, 'writers-1.db'), 1);
  const many = await runWriters(join(dir, 'writers-n.db'), processes);
  const rate = (rs: WriterResult[]) => rs.reduce((n, r) => n + r.exchanges, 0) / SECONDS;
  const worstP99 = Math.max(...many.map((r) => r.latencyMs.p99));
  return [
    row(3, `SQLite: exchanges recorded/s, ${processes} processes on one file`, rate(many), '/s', {
      baseline: { label: 'one process', value: rate([one!]) },
      note: `each process ${LANES} concurrent exchanges' writes (replay check + audit row) through group commit for ${SECONDS} s; per process: ${many.map((r) => `${(r.exchanges / SECONDS).toFixed(0)}/s`).join(', ')}`,
    }),
    row(3, `SQLite: store write p99, ${processes} processes on one file`, worstP99, 'ms', {
      baseline: { label: 'one process', value: one!.latencyMs.p99 },
    }),
  ];
}

if (process.argv[1]?.endsWith('store-writers.js') && process.send) {
  const [file, seconds] = process.argv.slice(2);
  writer(file!, Number(seconds)).then(
    (result) => process.send!(result, () => process.exit(0)),
    (err: unknown) => {
      process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
      process.exit(1);
    },
  );
}
