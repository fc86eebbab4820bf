/**
 * Section 11: two `jitkey serve` instances (one process each) on one PostgreSQL — the embedded
 * server the tests start (`test/support/embedded-postgres.ts`, fsync off like theirs) — against
 * `jitkey serve --workers 1` on SQLite, measured in the same run the same way:
 *
 * - exchanges/s, each instance driven by its own load generator at once;
 * - latency at a fixed 300/s in all (150/s on each instance), and meanwhile where requests wait:
 *   the instances' event-loop delay, and what the database's backends do (`postgres-activity.ts`);
 * - CPU per exchange of each instance ÷ SQLite's, at the most each serves and, for the goal, at
 *   the same load (each instance's 150/s of the paced run against two SQLite instances at 150/s
 *   each, at once: what a process pays per exchange depends on its load and the machine's,
 *   section 12); and of the database server;
 * - statements per exchange: the database's committed transactions (`pg_stat_database`) over the
 *   throughput run ÷ its exchanges. Outside a transaction every statement commits its own, so
 *   this counts statements; group commit lets concurrent exchanges share one;
 * - CPU of the whole stack per exchange (instances, database, STS stand-in and issuer, load
 *   generators), so the most exchanges/s these CPUs could serve.
 */
import { mkdirSync, readFileSync } from 'node:fs';
import { cpus as cpuList } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { startEmbeddedPostgres } from '../test/support/embedded-postgres.js';
import type { HttpContext } from './exchange.js';
import { closedCount, pacedJob, preminted } from './jobs.js';
import { runLoad } from './load.js';
import type { LoadResult } from './loadgen.js';
import { type LoopDelay, readLoopDelays } from './loop-delay.js';
import { type CpuShare, describe, expectAllOk, measuredRun, startExchanger, withCpu } from './measure.js';
import { describeActivity, sampleActivity } from './postgres-activity.js';
import { cpuSeconds, type ServerProcess, startExchangerProcess } from './processes.js';
import { type Row, row } from './report.js';
import { descendants } from './sched.js';
import { tokenRecipe } from './tokens.js';

const WARM = 600;
/** Per instance. */
const COUNT = 2000;
const CONNECTIONS = 32;
const RATE = 300;
const PACED_SECONDS = 4;
const cpus = cpuList().length;

const describeDelay = (d: LoopDelay) =>
  `the event loop of ${d.pid} late by p99 ${d.p99.toFixed(1)} ms, max ${d.max.toFixed(1)} ms (${d.gcCount} GC pauses, ${d.gcMs.toFixed(0)} ms)`;

export async function benchPostgres(ctx: HttpContext): Promise<Row[]> {
  const recipe = tokenRecipe(ctx.idp, ctx.key);
  const closed = (url: string, count: number, connections = CONNECTIONS) =>
    closedCount(url, recipe, count, connections);
  const paced = (url: string, rate: number, count: number) =>
    pacedJob(url, preminted(recipe, count), rate, count);

  const perInstance = Math.round((RATE / 2) * PACED_SECONDS);
  ctx.log('11 SQLite, --workers 1: the baseline');
  let sqlite: CpuShare;
  let sqliteAtRate: CpuShare[];
  {
    // Two, each with its own file: at the paced rate they carry what the two PostgreSQL instances
    // carry below, so each process and the machine are as loaded as then (a process's CPU per
    // exchange depends on both, section 12). The most one serves is measured on the first alone.
    const pair: ServerProcess[] = [];
    try {
      for (const name of ['pg-baseline-sqlite', 'pg-baseline-sqlite-2'])
        pair.push((await startExchanger(ctx, name, {}, 1)).ex);
      for (const ex of pair) expectAllOk('SQLite warm-up', await runLoad(closed(ex.url, WARM)), WARM);
      const ex = pair[0]!;
      sqlite = await measuredRun(ex, 'SQLite', closed(ex.url, 2 * COUNT, 2 * CONNECTIONS));
      sqliteAtRate = await Promise.all(
        pair.map((ex) => measuredRun(ex, `SQLite at ${RATE / 2}/s`, paced(ex.url, RATE / 2, perInstance))),
      );
    } finally {
      await Promise.all(pair.map((ex) => ex.stop()));
    }
  }
  const sqliteWorstAtRate = Math.max(...sqliteAtRate.map((c) => c.serverMs));
  const sqliteP99 = Math.max(...sqliteAtRate.map((c) => c.result.latencyMs.p99));

  ctx.log('11 two instances on one PostgreSQL');
  const db = await startEmbeddedPostgres();
  const instances: ServerProcess[] = [];
  const delayFile = join(ctx.dir, 'pg-loop-delay.jsonl');
  const admin = new pg.Client({ connectionString: db.url });
  try {
    await admin.connect();
    for (const n of [1, 2]) {
      mkdirSync(join(ctx.dir, `pg-${n}`), { recursive: true });
      instances.push(
        await startExchangerProcess({
          dir: join(ctx.dir, `pg-${n}`),
          policyPath: ctx.policyPath,
          env: ctx.env,
          store: db.url,
          workers: 1,
          loopDelayFile: delayFile,
          ...(ctx.cpuProfDir ? { cpuProfDir: ctx.cpuProfDir } : {}),
        }),
      );
    }
    const both = <T>(run: (ex: ServerProcess) => Promise<T>) => Promise.all(instances.map(run));
    for (const r of await both((ex) => runLoad(closed(ex.url, WARM))))
      expectAllOk('PostgreSQL warm-up', r, WARM);

    const postmaster = Number(readFileSync(join(db.dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
    const dbCpu = () => descendants(postmaster).reduce((sum, p) => sum + cpuSeconds(p), 0);
    const commits = async () => {
      await sleep(1200); // the server publishes its counters within a second of idling
      const { rows } = await admin.query<{ n: string }>(
        'SELECT xact_commit + xact_rollback AS n FROM pg_stat_database WHERE datname = current_database()',
      );
      return Number(rows[0]!.n);
    };

    const commitsBefore = await commits();
    const dbCpuBefore = dbCpu();
    const started = performance.now();
    const max = await both((ex) => withCpu(ex, closed(ex.url, COUNT)));
    const elapsedS = (performance.now() - started) / 1000;
    const dbCpuS = dbCpu() - dbCpuBefore;
    const statements = (await commits()) - commitsBefore - 1; // less the first counter read
    for (const m of max) expectAllOk('PostgreSQL, two instances', m.result, COUNT);
    const exchanges = 2 * COUNT;

    // Where the paced requests wait: the instances' event loops, or the database's backends.
    const delaysBefore = readLoopDelays(delayFile).length;
    for (const ex of instances) ex.signalAll('SIGUSR2');
    await sleep(50);
    const { result: atRateCpu, activity } = await sampleActivity(admin, () =>
      both((ex) => withCpu(ex, paced(ex.url, RATE / 2, perInstance))),
    );
    const atRate = atRateCpu.map((c) => c.result);
    for (const ex of instances) ex.signalAll('SIGUSR2');
    await sleep(200);
    const delays = readLoopDelays(delayFile).slice(delaysBefore);
    for (const r of atRate) expectAllOk(`PostgreSQL at ${RATE}/s`, r, perInstance);

    const worst = (key: 'p50' | 'p99') => Math.max(...atRate.map((r) => r.latencyMs[key]));
    const cpu = max.map((m) => m.serverMs);
    const worstCpu = Math.max(...cpu);
    const worstAtRate = Math.max(...atRateCpu.map((c) => c.serverMs));
    const perStatement = statements / exchanges;
    // The stand-in and issuer serve both instances: their CPU over one instance's window, halved.
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    const parts = {
      instance: mean(cpu),
      database: (dbCpuS * 1000) / exchanges,
      stack: max[0]!.stackMs / 2,
      generator: mean(max.map((m) => m.generatorMs)),
    };
    const wholeMs = parts.instance + parts.database + parts.stack + parts.generator;
    return [
      row(11, 'exchanges/s, 2 instances on one PostgreSQL', exchanges / elapsedS, '/s', {
        baseline: { label: 'SQLite, --workers 1', value: sqlite.result.rate },
        note: `${COUNT} exchanges on each instance, ${CONNECTIONS} connections each, at once: ${max.map((m) => describe(m.result)).join('; ')}. The embedded PostgreSQL of the tests (fsync off), on the same CPUs, used ${((dbCpuS * 1000) / exchanges).toFixed(3)} ms of CPU per exchange`,
      }),
      row(11, 'CPU of jitkey serve per exchange, PostgreSQL, at its most (worse instance)', worstCpu, 'ms', {
        baseline: { label: 'SQLite, --workers 1, at its most', value: sqlite.serverMs },
        note: `instances: ${cpu.map((c) => c.toFixed(3)).join(' and ')} ms at ${max.map((m) => m.result.rate.toFixed(0)).join(' and ')}/s each; SQLite at ${sqlite.result.rate.toFixed(0)}/s. Each at a different load, so not the goal's figure (next row)`,
      }),
      row(
        11,
        `CPU of jitkey serve per exchange at ${RATE / 2}/s, PostgreSQL (worse instance)`,
        worstAtRate,
        'ms',
        {
          baseline: { label: `SQLite, 2 instances at ${RATE / 2}/s each (worse)`, value: sqliteWorstAtRate },
          goal: { text: '≤ 1.3× SQLite', met: worstAtRate <= 1.3 * sqliteWorstAtRate },
          note: `each instance carries ${RATE / 2}/s of the ${RATE}/s below, and each of two SQLite instances (a file each) the same, at once: PostgreSQL instances ${atRateCpu.map((c) => c.serverMs.toFixed(3)).join(' and ')} ms, SQLite instances ${sqliteAtRate.map((c) => c.serverMs.toFixed(3)).join(' and ')} ms`,
        },
      ),
      row(11, `latency p50 at ${RATE}/s, 2 instances (worse instance)`, worst('p50'), 'ms', {
        note: atRate.map((r: LoadResult) => describe(r)).join('; '),
      }),
      row(11, `latency p99 at ${RATE}/s, 2 instances (worse instance)`, worst('p99'), 'ms', {
        baseline: { label: `SQLite, 2 instances at ${RATE / 2}/s each (worse)`, value: sqliteP99 },
        goal: { text: '≤ 25 ms', met: worst('p99') <= 25 },
        note: `meanwhile: ${delays.map(describeDelay).join('; ')}; ${describeActivity(activity)}`,
      }),
      row(11, 'CPU of the whole stack per exchange, PostgreSQL', wholeMs, 'ms', {
        note: `each instance ${parts.instance.toFixed(3)} ms, PostgreSQL ${parts.database.toFixed(3)} ms, STS stand-in + issuer ${parts.stack.toFixed(3)} ms, load generators ${parts.generator.toFixed(3)} ms: ${cpus} CPUs serve at most ${Math.round((cpus * 1000) / wholeMs)} exchanges/s`,
      }),
      row(11, 'statements to PostgreSQL per exchange', perStatement, '', {
        goal: { text: '≤ 2', met: perStatement <= 2.05 },
        note: `${statements} transactions committed in pg_stat_database over ${exchanges} exchanges (the purge's and the pool's own statements included). An exchange waits for at most two round trips; group-committed, the exchanges of one event-loop turn share them`,
      }),
    ];
  } finally {
    await Promise.all(instances.map((ex) => ex.stop()));
    await admin.end().catch(() => {});
    await db.stop();
  }
}
