import { availableParallelism, cpus } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import Database from 'better-sqlite3';
import { defaultWorkers } from '../exchanger/cli/serve-flags.js';
import { parseStoreUrl } from '../exchanger/store/open.js';
import type { OidcIssuer, SigningKey } from '../test/support/oidc-issuer.js';
import type { StsStandin } from '../test/support/sts-standin.js';
import { floorTail } from './floor-tail.js';
import { closedJob as closed, pacedJob as paced, preminted } from './jobs.js';
import { limitOf } from './limits.js';
import { runLoad } from './load.js';
import type { LoadResult, TokenPlan } from './loadgen.js';
import { describeLoopDelays, type LoopDelay } from './loop-delay.js';
import {
  type CpuShare,
  describe,
  describeCpu,
  expectAllOk,
  FAN_OUT,
  type FanOut,
  fanOut,
  measuredRun,
  startExchanger,
  WARM_UP,
  warmUp,
  withCpu,
  withLoopDelay,
} from './measure.js';
import { metricsCostMs } from './metrics-cost.js';
import { benchWorkers, type ServerProcess, startBareRoute } from './processes.js';
import { type Row, row } from './report.js';
import { minter, tokenRecipe } from './tokens.js';

export interface HttpContext {
  idp: OidcIssuer;
  key: SigningKey;
  sts: StsStandin;
  dir: string;
  policyPath: string;
  /** Environment of `jitkey serve` (the STS endpoint and keys). */
  env: Record<string, string>;
  cpuProfDir?: string;
  log: (line: string) => void;
}

const THROUGHPUT_CONNECTIONS = 64;
const STS_DELAY_MS = 50;
/** Requests of the fixed-rate runs: 3 s at 1,000/s, 3 s at 500/s. */
const AT_1000 = 3000;
const AT_500 = 1500;

/**
 * The most this stack could do if every CPU ran it and nothing else: the CPUs ÷ the CPU one
 * exchange costs across the exchanger, the stand-ins and the load generator.
 */
function ceiling(c: CpuShare, cpus: number): string {
  const perExchange = c.serverMs + c.stackMs + c.generatorMs;
  return `CPU ceiling of this stack on ${cpus} CPUs: ${((cpus * 1000) / perExchange).toFixed(0)}/s (${perExchange.toFixed(2)} ms of CPU per exchange, ${c.serverMs.toFixed(2)} of it the exchanger's)`;
}

/** How far a figure is from its goal, in the goal's own terms. */
function goalGap(value: number, target: number, unit: string, higherIsBetter: boolean): string {
  const met = higherIsBetter ? value >= target : value <= target;
  const ratio = value / target;
  if (met) return `goal met (${ratio.toFixed(2)}× the goal)`;
  const gap = Math.abs(value - target);
  return `goal missed by ${gap.toFixed(unit === 'ms' ? 2 : 0)} ${unit} (${ratio.toFixed(2)}× the goal)`;
}

/** Connections the exchanger's per-address cap closed unread, by reason. */
type CapClosed = { queue_full: number; queue_timeout: number };

/** `jitkey_connections_closed_total` of the exchanger at `url`: the reasons that close unread. */
async function capClosed(url: string): Promise<CapClosed> {
  const res = await fetch(`${url}/metrics`);
  const text = await res.text();
  if (!res.ok || !text.includes('# TYPE jitkey_connections_closed_total counter'))
    throw new Error(`the exchanger's /metrics has no jitkey_connections_closed_total (${res.status})`);
  const count = (reason: string) =>
    Number(
      text.match(new RegExp(`^jitkey_connections_closed_total\\{reason="${reason}"\\} (\\d+)$`, 'm'))?.[1] ??
        0,
    );
  return { queue_full: count('queue_full'), queue_timeout: count('queue_timeout') };
}

export async function benchHttp(ctx: HttpContext): Promise<Row[]> {
  const recipe = tokenRecipe(ctx.idp, ctx.key);
  const sameBytes: TokenPlan = { mode: 'fixed', token: minter(recipe)() };

  ctx.log('3–5 baselines: a bare node:http route, and one that makes one upstream call');
  const bare = await startBareRoute(ctx.dir);
  let bareMax: CpuShare;
  let bare1000: LoadResult;
  let bareFan: FanOut;
  try {
    await runLoad(closed(bare.url, sameBytes, THROUGHPUT_CONNECTIONS, { durationS: 1 }));
    bareMax = await withCpu(bare, closed(bare.url, sameBytes, THROUGHPUT_CONNECTIONS, { durationS: 2 }));
    bare1000 = await runLoad(paced(bare.url, sameBytes, 1000, AT_1000));
    bareFan = await fanOut(bare.url, sameBytes);
  } finally {
    await bare.stop();
  }
  expectAllOk('bare route', bareMax.result);
  ctx.sts.setDelay(STS_DELAY_MS);
  const proxy = await startBareRoute(ctx.dir, ctx.sts.url);
  let proxy500: LoadResult;
  try {
    await runLoad(paced(proxy.url, sameBytes, 500, 500));
    proxy500 = await runLoad(paced(proxy.url, sameBytes, 500, AT_500));
  } finally {
    ctx.sts.setDelay(0);
    await proxy.stop();
  }

  ctx.log('4–5 the floor: a minimal exchanger at 500/s and in a fan-out');
  const least = await floorTail(ctx, recipe, STS_DELAY_MS, AT_500);

  const machineCpus = cpus().length;
  const forced = benchWorkers();
  // Section 3's "N workers" throughput: one per CPU unless BENCH_WORKERS says otherwise.
  const workers = forced ?? availableParallelism();
  // The latency runs (3 at 1,000/s, 4, 5) measure jitkey serve as deployed: with the `--workers`
  // its default picks for the bench's store.
  const store = process.env.BENCH_STORE ?? 'sqlite:jitkey.db';
  const served = forced ?? Number(defaultWorkers(store));
  /** Warm-up, then about 3 s of tokens at the warm-up's pace (bounded either way), all on `url`. */
  const throughput = async (ex: ServerProcess, what: string): Promise<CpuShare> => {
    const warm = await runLoad(closed(ex.url, preminted(recipe, 1500), 32, { amount: 1500 }));
    expectAllOk(`${what} warm-up`, warm);
    const count = Math.min(12_000, Math.max(2000, Math.round(warm.rate * 3)));
    return measuredRun(
      ex,
      what,
      closed(ex.url, preminted(recipe, count), THROUGHPUT_CONNECTIONS, { amount: count }),
    );
  };
  const throughputOf = async (n: number, name: string, what: string): Promise<CpuShare> => {
    const { ex } = await startExchanger(ctx, name, {}, n);
    try {
      return await throughput(ex, what);
    } finally {
      await ex.stop();
    }
  };

  ctx.log('3 exchange throughput: one process (--workers 1)');
  const one = await throughputOf(1, 'exchanger-1', 'throughput, one process');
  ctx.log(`3 exchange throughput: --workers ${workers}`);
  const max =
    workers === 1 ? one : await throughputOf(workers, 'exchanger-n', `throughput, ${workers} workers`);

  const servedText = `jitkey serve --workers ${served}${forced ? ' (BENCH_WORKERS)' : `, the default on ${parseStoreUrl(store).kind}`}`;
  ctx.log(`3 exchange latency: ${servedText}`);
  const delayFile = join(ctx.dir, 'loop-delay.jsonl');
  const { ex } = await startExchanger(ctx, 'exchanger', {}, served, ctx.policyPath, delayFile);
  let at1000: LoadResult;
  let at500: CpuShare;
  let fan: FanOut;
  let fanClosed: CapClosed;
  let delays500: LoopDelay[];
  let delaysFan: LoopDelay[];
  try {
    await warmUp(ex, recipe, WARM_UP);
    at1000 = await runLoad(paced(ex.url, preminted(recipe, AT_1000), 1000, AT_1000));
    expectAllOk('1,000/s', at1000, AT_1000);

    ctx.log(`4 exchanger overhead (STS answering after ${STS_DELAY_MS} ms)`);
    ctx.sts.setDelay(STS_DELAY_MS);
    ({ result: at500, delays: delays500 } = await withLoopDelay(ex, delayFile, () =>
      withCpu(ex, paced(ex.url, preminted(recipe, AT_500), 500, AT_500)),
    ));
    ctx.sts.setDelay(0);
    expectAllOk(`500/s with STS at ${STS_DELAY_MS} ms`, at500.result, AT_500);

    ctx.log(`5 fan-out: ${FAN_OUT} exchanges at once`);
    const closedBefore = await capClosed(ex.url);
    ({ result: fan, delays: delaysFan } = await withLoopDelay(ex, delayFile, () =>
      fanOut(ex.url, preminted(recipe, FAN_OUT)),
    ));
    const closedAfter = await capClosed(ex.url);
    fanClosed = {
      queue_full: closedAfter.queue_full - closedBefore.queue_full,
      queue_timeout: closedAfter.queue_timeout - closedBefore.queue_timeout,
    };
  } finally {
    ctx.sts.setDelay(0);
    await ex.stop();
  }

  const rows: Row[] = [
    row(
      3,
      `exchanges/s, max, --workers ${workers} (${THROUGHPUT_CONNECTIONS} connections)`,
      max.result.rate,
      '/s',
      {
        baseline: { label: '--workers 1', value: one.result.rate },
        goal: { text: '≥ 2,000/s', met: max.result.rate >= 2000 },
        note: `${goalGap(max.result.rate, 2000, '/s', true)}. ${ceiling(max, machineCpus)}. ${limitOf(max.shares, machineCpus, workers)}. ${describe(max.result)}; latency p50 ${max.result.latencyMs.p50.toFixed(2)} ms, p99 ${max.result.latencyMs.p99.toFixed(2)} ms; ${describeCpu(max, 'jitkey serve')}; ${describeCpu(bareMax, 'bare route')}`,
      },
    ),
    row(3, 'exchanges/s, max, --workers 1 (one process)', one.result.rate, '/s', {
      baseline: { label: 'bare route', value: bareMax.result.rate },
      note: `${limitOf(one.shares, machineCpus, 1)}. ${describe(one.result)}; ${describeCpu(one, 'jitkey serve')}`,
    }),
    row(3, `CPU of jitkey serve per exchange, --workers ${workers}`, max.serverMs, 'ms', {
      baseline: { label: '--workers 1', value: one.serverMs },
    }),
    row(3, 'CPU of jitkey serve per exchange, --workers 1', one.serverMs, 'ms', {
      baseline: { label: 'bare route per request', value: bareMax.serverMs },
    }),
  ];
  const metricsMs = metricsCostMs();
  rows.push(
    row(3, 'CPU of the metrics (prom-client) per exchange', metricsMs, 'ms', {
      baseline: { label: 'CPU of jitkey serve per exchange, --workers 1', value: one.serverMs },
      goal: { text: '≤ 3 % of an exchange', met: metricsMs <= 0.03 * one.serverMs },
      note: "one counter increment and one histogram observation, as an allowed exchange makes them, timed in the bench process with prom-client's process metrics (event-loop delay monitor) on",
    }),
  );
  for (const key of ['p50', 'p99', 'p999'] as const) {
    rows.push(
      row(3, `exchange latency ${key} at 1,000/s`, at1000.latencyMs[key], 'ms', {
        baseline: { label: 'bare route at 1,000/s', value: bare1000.latencyMs[key] },
        ...(key === 'p99' ? { goal: { text: '≤ 25 ms', met: at1000.latencyMs.p99 <= 25 } } : {}),
        ...(key === 'p50'
          ? {
              note: `${servedText}; ${describe(at1000)}; achieved ${at1000.rate.toFixed(0)}/s; generator lag max ${at1000.maxLagMs?.toFixed(1)} ms`,
            }
          : {}),
      }),
    );
  }

  const upstream = { label: `bare route + 1 upstream call`, value: 0 };
  const over = (r: LoadResult, key: 'p50' | 'p99') => r.latencyMs[key] - STS_DELAY_MS;
  rows.push(
    row(4, `exchange latency p50 at 500/s, STS at ${STS_DELAY_MS} ms`, at500.result.latencyMs.p50, 'ms', {
      baseline: { ...upstream, value: proxy500.latencyMs.p50 },
    }),
    row(4, `exchanger overhead p50 (latency − ${STS_DELAY_MS} ms)`, over(at500.result, 'p50'), 'ms', {
      baseline: { ...upstream, value: over(proxy500, 'p50') },
    }),
    row(4, `exchanger overhead p99 (latency − ${STS_DELAY_MS} ms)`, over(at500.result, 'p99'), 'ms', {
      baseline: { ...upstream, value: over(proxy500, 'p99') },
      goal: {
        text: '≤ 1.5× the baseline',
        met: over(at500.result, 'p99') <= 1.5 * over(proxy500, 'p99'),
      },
      note: `${servedText}; ${goalGap(over(at500.result, 'p99'), 1.5 * over(proxy500, 'p99'), 'ms', false)}; ${describeLoopDelays(delays500)}; the same route without the exchanger's work (baseline) has ${over(proxy500, 'p99').toFixed(2)} ms of it on this machine now. ${limitOf(at500.shares, machineCpus, served)}. ${describe(at500.result)}; generator lag max ${at500.result.maxLagMs?.toFixed(1)} ms; baseline: ${describe(proxy500)}`,
    }),
    row(4, `the floor: overhead p99 (latency − ${STS_DELAY_MS} ms)`, over(least.paced.result, 'p99'), 'ms', {
      baseline: { ...upstream, value: over(proxy500, 'p99') },
      note: `the minimal exchanger (bench/floor.ts, no WAL checkpoints) paced the same way, ${over(least.paced.result, 'p99') <= 1.5 * over(proxy500, 'p99') ? 'within' : 'outside'} the goal's 1.5× the baseline; jitkey serve's overhead p99 is ${(over(at500.result, 'p99') / over(least.paced.result, 'p99')).toFixed(2)}× the floor's; the floor's overhead p50 ${over(least.paced.result, 'p50').toFixed(2)} ms. ${describe(least.paced.result)}`,
    }),
    row(4, `CPU of jitkey serve per exchange at 500/s, STS at ${STS_DELAY_MS} ms`, at500.serverMs, 'ms', {
      baseline: { label: 'the floor, same load', value: least.paced.serverMs },
      note: `${describeCpu(at500, 'jitkey serve')}; ${describeCpu(least.paced, 'the floor')}`,
    }),
  );

  const unanswered = FAN_OUT - fan.result.ok;
  // Neither answered nor failed: autocannon counts a timed-out request among its errors too.
  const neverAnswered = FAN_OUT - fan.result.completed - fan.result.errors;
  rows.push(
    row(5, `fan-out: ${FAN_OUT} at once, requests not answered 200`, unanswered, '', {
      baseline: { label: 'bare route', value: FAN_OUT - bareFan.result.ok },
      goal: {
        text: '0 errors, none dropped',
        met: unanswered === 0 && fan.result.errors === 0 && fan.result.timeouts === 0,
      },
      note: `${describe(fan.result)}; sent and never answered (no answer, no error): ${neverAnswered}; closed unread by the per-address cap: ${fanClosed.queue_full} on a full queue, ${fanClosed.queue_timeout} after waiting in it; SYNs dropped on a full accept queue meanwhile: ${fan.overflows} (bare route: ${bareFan.overflows})`,
    }),
    row(5, 'fan-out latency p99', fan.result.latencyMs.p99, 'ms', {
      baseline: { label: 'bare route', value: bareFan.result.latencyMs.p99 },
      goal: {
        text: '≤ 1,000 ms and ≤ 2× the bare route',
        met: fan.result.latencyMs.p99 <= 1000 && fan.result.latencyMs.p99 <= 2 * bareFan.result.latencyMs.p99,
      },
      note: `${servedText}; ${describeLoopDelays(delaysFan)}`,
    }),
    row(5, 'fan-out latency max (all answered after)', fan.result.latencyMs.max, 'ms', {
      baseline: { label: 'bare route', value: bareFan.result.latencyMs.max },
    }),
    row(5, 'the floor: fan-out latency p99', least.fan.result.latencyMs.p99, 'ms', {
      baseline: { label: 'bare route', value: bareFan.result.latencyMs.p99 },
      note: `the minimal exchanger (bench/floor.ts, no WAL checkpoints, no per-address cap), ${least.fan.result.latencyMs.p99 <= 1000 && least.fan.result.latencyMs.p99 <= 2 * bareFan.result.latencyMs.p99 ? 'within' : 'outside'} the goal (≤ 1,000 ms and ≤ 2× the bare route); jitkey serve's p99 is ${(fan.result.latencyMs.p99 / least.fan.result.latencyMs.p99).toFixed(2)}× the floor's. ${describe(least.fan.result)}; SYNs dropped on a full accept queue: ${least.fan.overflows}`,
    }),
  );
  return rows;
}

const MEMORY_STAGES = [10_000, 40_000, 50_000];
const MEMORY_TOKEN_LIFETIME_S = 1;
const PURGE_INTERVAL_MS = 500;

/**
 * Section 6: RSS of a fresh exchanger after 10k, 50k and 100k exchanges. Tokens live 1 s and the
 * store purges every 500 ms (`JITKEY_PURGE_INTERVAL_MS`): a spent jti goes 60 s (the clock skew)
 * after its token expired, so over the run the replay cache holds about a minute of exchanges
 * rather than all of them.
 */
export async function benchMemory(ctx: HttpContext): Promise<Row[]> {
  ctx.log('6 memory: 100k exchanges');
  const { ex, dir } = await startExchanger(ctx, 'exchanger-memory', {
    JITKEY_PURGE_INTERVAL_MS: String(PURGE_INTERVAL_MS),
  });
  const db = new Database(join(dir, 'jitkey.db'), { readonly: true, fileMustExist: true });
  const jtiRows = () => (db.prepare('SELECT count(*) AS n FROM used_jtis').get() as { n: number }).n;
  const recipe = tokenRecipe(ctx.idp, ctx.key, MEMORY_TOKEN_LIFETIME_S);
  const samples: { done: number; rssMiB: number; jtis: number; rate: number; cpu: CpuShare }[] = [];
  let done = 1; // the hand-made exchange of startExchanger
  try {
    for (const amount of MEMORY_STAGES) {
      const cpu = await withCpu(ex, closed(ex.url, { mode: 'live', recipe }, 64, { amount }));
      const r = cpu.result;
      expectAllOk(`memory stage of ${amount}`, r, amount);
      done += r.ok;
      await sleep(PURGE_INTERVAL_MS + 200); // a purge between the stage and the sample

      samples.push({ done, rssMiB: ex.rssKiB() / 1024, jtis: jtiRows(), rate: r.rate, cpu });
      ctx.log(`  after ${done} exchanges: RSS ${(samples.at(-1)!.rssMiB).toFixed(1)} MiB`);
    }
  } finally {
    db.close();
    await ex.stop();
  }
  const first = samples[0]!;
  const last = samples.at(-1)!;
  const growth = Math.max(...samples.map((s) => Math.abs(s.rssMiB / first.rssMiB - 1)));
  const k = (n: number) => `${Math.round(n / 1000)}k`;
  return samples.map((s, i) =>
    row(6, `RSS after ${k(s.done)} exchanges`, s.rssMiB, 'MiB', {
      ...(i > 0 ? { baseline: { label: `after ${k(first.done)}`, value: first.rssMiB } } : {}),
      ...(s === last
        ? {
            goal: { text: 'flat within 10 %', met: growth <= 0.1 },
            note: `replay-cache rows after each stage: ${samples.map((x) => x.jtis).join(' → ')} (tokens live ${MEMORY_TOKEN_LIFETIME_S} s, a jti is kept until exp + 60 s, purge every ${PURGE_INTERVAL_MS} ms); stages ran at ${samples.map((x) => `${x.rate.toFixed(0)}/s`).join(', ')}, tokens minted by the load generator as it went (last stage: ${describeCpu(last.cpu, 'jitkey serve')})`,
          }
        : {}),
    }),
  );
}

export type { ServerProcess };
