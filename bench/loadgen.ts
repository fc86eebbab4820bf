/**
 * The load generator, run as its own process (`fork`) so its CPU is not the measured server's:
 * it receives one job over IPC, mints or takes its tokens, drives the server, and answers with
 * counts and latencies.
 *
 * - `closed`: autocannon, N connections each sending its next request when the previous answer
 *   arrives — the most a server can do (throughput), or a fan-out (N requests released at once).
 * - `paced`: an open loop at a fixed rate over keep-alive node:http connections: requests leave on
 *   schedule whether or not earlier ones were answered, so latency is measured at that rate.
 *   (autocannon's own rate limit sends each connection's quota back to back at the start of every
 *   second, a burst rather than a rate.)
 */
import { Agent, request } from 'node:http';
import autocannon from 'autocannon';
import { type SchedShare, schedShare, schedSnapshot } from './sched.js';
import { type Summary, summarize } from './stats.js';
import { minter, type TokenRecipe } from './tokens.js';

export type TokenPlan =
  | { mode: 'none' }
  /** One token on every request (the baseline route does not check it: same bytes on the wire). */
  | { mode: 'fixed'; token: string }
  /** Minted before the clock starts, each used once. */
  | { mode: 'preminted'; recipe: TokenRecipe; count: number }
  /** Minted as each request is built (long runs where only the server's memory is measured). */
  | { mode: 'live'; recipe: TokenRecipe };

interface JobBase {
  url: string;
  path: string;
  body: string;
  tokens: TokenPlan;
}

export type LoadJob =
  | (JobBase & { kind: 'closed'; connections: number; amount?: number; durationS?: number; timeoutS: number })
  | (JobBase & { kind: 'paced'; rate: number; count: number });

export interface LoadResult {
  /** Answers received (any status). */
  completed: number;
  /** Answers with status 200. */
  ok: number;
  status: Record<string, number>;
  /** Connection errors and timeouts: requests that got no answer. */
  errors: number;
  timeouts: number;
  elapsedS: number;
  /** Answers per second over the run. */
  rate: number;
  /** Milliseconds, every answer. */
  latencyMs: Summary;
  /** Seconds spent minting before the run (not part of it). */
  mintS: number;
  /** CPU seconds the generator itself used during the run (minting before it excluded). */
  cpuS: number;
  /** paced: the most a request left behind its schedule, ms (the generator keeping up). */
  maxLagMs?: number;
  /** The first few errors, as text. */
  errorSamples?: string[];
  /** The generator's own scheduling during the run: was it the bottleneck? */
  sched: SchedShare;
}

function tokenSource(plan: TokenPlan): { next: () => string | undefined; mintS: number } {
  if (plan.mode === 'none') return { next: () => undefined, mintS: 0 };
  if (plan.mode === 'fixed') return { next: () => plan.token, mintS: 0 };
  const mint = minter(plan.recipe);
  if (plan.mode === 'live') return { next: mint, mintS: 0 };
  const started = performance.now();
  const tokens = Array.from({ length: plan.count }, mint);
  const mintS = (performance.now() - started) / 1000;
  let i = 0;
  return {
    next: () => {
      if (i >= tokens.length) throw new Error(`the job ran out of its ${tokens.length} pre-minted tokens`);
      return tokens[i++];
    },
    mintS,
  };
}

function headersWith(token: string | undefined): Record<string, string> {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (token !== undefined) headers.authorization = `Bearer ${token}`;
  return headers;
}

/**
 * Tells the parent the tokens are minted and waits for its go: it takes its "before" readings
 * (CPU of each process, the scheduler's figures) between the two, so they span the run alone.
 */
function ready(): Promise<void> {
  return new Promise((resolve) => {
    process.once('message', () => resolve());
    process.send!({ ready: true });
  });
}

async function closed(job: Extract<LoadJob, { kind: 'closed' }>): Promise<LoadResult> {
  const { next, mintS } = tokenSource(job.tokens);
  await ready();
  const latencies: number[] = [];
  const status: Record<string, number> = {};
  const cpu = process.cpuUsage();
  const sched = schedSnapshot(process.pid);
  const started = performance.now();
  const instance = autocannon({
    url: job.url,
    connections: job.connections,
    ...(job.amount !== undefined ? { amount: job.amount } : {}),
    ...(job.durationS !== undefined ? { duration: job.durationS } : {}),
    timeout: job.timeoutS,
    requests: [
      {
        method: 'POST',
        path: job.path,
        headers: headersWith(undefined),
        body: job.body,
        setupRequest: (req) => ({ ...req, headers: headersWith(next()) }),
      },
    ],
  });
  instance.on('response', (_client: unknown, code: number, _bytes: number, ms: number) => {
    latencies.push(ms);
    status[code] = (status[code] ?? 0) + 1;
  });
  const result = await instance;
  const elapsedS = (performance.now() - started) / 1000;
  const cpuS = cpuSince(cpu);
  const share = schedShare(sched, schedSnapshot(process.pid));
  return {
    completed: latencies.length,
    ok: status[200] ?? 0,
    status,
    errors: result.errors,
    timeouts: result.timeouts,
    elapsedS,
    rate: latencies.length / elapsedS,
    latencyMs: summarize(latencies),
    mintS,
    cpuS,
    sched: share,
  };
}

function cpuSince(start: NodeJS.CpuUsage): number {
  const { user, system } = process.cpuUsage(start);
  return (user + system) / 1e6;
}

async function paced(job: Extract<LoadJob, { kind: 'paced' }>): Promise<LoadResult> {
  const { next, mintS } = tokenSource(job.tokens);
  await ready();
  const target = new URL(job.path, job.url);
  const agent = new Agent({ keepAlive: true, maxSockets: 1024 });
  const latencies: number[] = [];
  const status: Record<string, number> = {};
  let errors = 0;
  const errorSamples: string[] = [];
  let settled = 0;
  let maxLagMs = 0;
  const body = Buffer.from(job.body);

  const send = (onSettled: () => void) => {
    const token = next();
    const sent = performance.now();
    const req = request(
      target,
      { method: 'POST', agent, headers: { ...headersWith(token), 'content-length': body.length } },
      (res) => {
        res.on('data', () => {});
        res.on('end', () => {
          latencies.push(performance.now() - sent);
          const code = res.statusCode ?? 0;
          status[code] = (status[code] ?? 0) + 1;
          onSettled();
        });
      },
    );
    req.on('error', (err) => {
      errors++;
      if (errorSamples.length < 3) errorSamples.push(String(err));
      onSettled();
    });
    req.end(body);
  };

  const cpu = process.cpuUsage();
  const sched = schedSnapshot(process.pid);
  const started = performance.now();
  await new Promise<void>((resolve) => {
    const onSettled = () => {
      if (++settled === job.count) resolve();
    };
    let i = 0;
    const interval = 1000 / job.rate;
    const tick = () => {
      const now = performance.now();
      while (i < job.count && started + i * interval <= now) {
        maxLagMs = Math.max(maxLagMs, now - (started + i * interval));
        i++;
        send(onSettled);
      }
      if (i < job.count) setTimeout(tick, Math.max(0, started + i * interval - performance.now()));
    };
    tick();
  });
  const elapsedS = (performance.now() - started) / 1000;
  const cpuS = cpuSince(cpu);
  const share = schedShare(sched, schedSnapshot(process.pid));
  agent.destroy();
  return {
    completed: latencies.length,
    ok: status[200] ?? 0,
    status,
    errors,
    timeouts: 0,
    elapsedS,
    rate: latencies.length / elapsedS,
    latencyMs: summarize(latencies),
    mintS,
    cpuS,
    maxLagMs,
    errorSamples,
    sched: share,
  };
}

process.once('message', (job: LoadJob) => {
  (job.kind === 'closed' ? closed(job) : paced(job)).then(
    (result) => process.send!({ result }, () => process.exit(0)),
    (err: unknown) => process.send!({ error: String((err as Error)?.stack ?? err) }, () => process.exit(1)),
  );
});
