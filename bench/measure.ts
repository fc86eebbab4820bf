/**
 * What the HTTP sections share: starting `jitkey serve` with one exchange by hand, running a
 * load job while accounting for the CPU of each process, the event-loop delays meanwhile, and
 * describing a run.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { HttpContext } from './exchange.js';
import { closedCount, closedJob, EXCHANGE_BODY, EXCHANGE_PATH, expectedCount } from './jobs.js';
import type { RunShares } from './limits.js';
import { runLoad } from './load.js';
import type { LoadJob, LoadResult, TokenPlan } from './loadgen.js';
import { readLoopDelays } from './loop-delay.js';
import { listenOverflows, type ServerProcess, startExchangerProcess } from './processes.js';
import { machineBusyS, schedShare, schedSnapshot } from './sched.js';
import { minter, type TokenRecipe, tokenRecipe } from './tokens.js';

export function describe(r: LoadResult): string {
  const codes = Object.entries(r.status)
    .map(([c, n]) => `${n}×${c}`)
    .join(' ');
  const samples = r.errorSamples?.length ? ` (${r.errorSamples.join('; ')})` : '';
  return `${r.completed} answers (${codes}), ${r.errors} errors${samples}, ${r.timeouts} timeouts in ${r.elapsedS.toFixed(2)} s`;
}

export interface CpuShare {
  result: LoadResult;
  /** CPU ms per answered request: the server, this process (STS stand-in, issuer), the generator. */
  serverMs: number;
  stackMs: number;
  generatorMs: number;
  /** How each process was scheduled meanwhile: what limited the run (`limits.ts`). */
  shares: RunShares;
}

/**
 * Runs `job` and accounts for the CPU each process used during it, and how it was scheduled. The
 * readings start when the generator's clock does (after its fork and its minting) and end when it
 * answers, so they span the run; the server's CPU is the scheduler's (nanoseconds, every thread of
 * every process of the server), not /proc/PID/stat's 10 ms ticks.
 */
export async function withCpu(server: ServerProcess, job: LoadJob): Promise<CpuShare> {
  let schedBefore = schedSnapshot(server.pid);
  let stackBefore = process.cpuUsage();
  let machineBefore = machineBusyS();
  const result = await runLoad(job, () => {
    schedBefore = schedSnapshot(server.pid);
    stackBefore = process.cpuUsage();
    machineBefore = machineBusyS();
  });
  const machineBusy = machineBusyS() - machineBefore;
  const stack = process.cpuUsage(stackBefore);
  const serverSched = schedShare(schedBefore, schedSnapshot(server.pid));
  const per = (seconds: number) => (seconds * 1000) / Math.max(1, result.completed);
  const stackCpuS = (stack.user + stack.system) / 1e6;
  return {
    result,
    serverMs: per(serverSched.cpuS),
    stackMs: per(stackCpuS),
    generatorMs: per(result.cpuS),
    shares: { result, server: serverSched, stackCpuS, machineBusyS: machineBusy },
  };
}

export function describeCpu(c: CpuShare, server: string): string {
  const total = c.serverMs + c.stackMs + c.generatorMs;
  const busy = (total * c.result.completed) / 1000 / c.result.elapsedS;
  return `CPU per request: ${server} ${c.serverMs.toFixed(3)} ms, STS stand-in + issuer ${c.stackMs.toFixed(3)} ms, load generator ${c.generatorMs.toFixed(3)} ms (${busy.toFixed(2)} CPUs busy with these)`;
}

/** Every request answered 200: anything else means the figure measured the wrong thing. */
export function expectAllOk(what: string, r: LoadResult, expected?: number): void {
  const bad = r.completed - r.ok + r.errors + r.timeouts;
  if (bad > 0 || (expected !== undefined && r.ok !== expected))
    throw new Error(`${what}: not every request was a 200: ${describe(r)}`);
}

/** Exchanges that warm a server up before a timed run: its JIT, pools and caches. */
export const WARM_UP = 6000;

/** `count` exchanges on 32 connections, every one answered 200, before a server is measured. */
export async function warmUp(server: ServerProcess, recipe: TokenRecipe, count: number, what = 'warm-up') {
  expectAllOk(what, await runLoad(closedCount(server.url, recipe, count, 32)), count);
}

/** A timed run (`withCpu`) whose every request must be answered 200: a figure of failures is none. */
export async function measuredRun(server: ServerProcess, what: string, job: LoadJob): Promise<CpuShare> {
  const run = await withCpu(server, job);
  expectAllOk(what, run.result, expectedCount(job));
  return run;
}

export async function startExchanger(
  ctx: HttpContext,
  name: string,
  env: Record<string, string> = {},
  workers = 1,
  policyPath = ctx.policyPath,
  loopDelayFile?: string,
) {
  const dir = join(ctx.dir, name);
  mkdirSync(dir, { recursive: true });
  const ex = await startExchangerProcess({
    dir,
    policyPath,
    workers,
    ...(loopDelayFile ? { loopDelayFile } : {}),
    env: { ...ctx.env, ...env },
    ...(ctx.cpuProfDir ? { cpuProfDir: ctx.cpuProfDir } : {}),
  });
  // One exchange by hand: the whole path works before anything is timed.
  const res = await fetch(`${ex.url}${EXCHANGE_PATH}`, {
    method: 'POST',
    headers: {
      authorization: `Bearer ${minter(tokenRecipe(ctx.idp, ctx.key))()}`,
      'content-type': 'application/json',
    },
    body: EXCHANGE_BODY,
  });
  if (res.status !== 200)
    throw new Error(`the exchanger refused the bench's token: ${res.status} ${await res.text()}`);
  return { ex, dir };
}

/** `run`, with the event-loop delays of `server`'s processes meanwhile (`loop-delay.ts`). */
export async function withLoopDelay<T>(server: ServerProcess, file: string, run: () => Promise<T>) {
  const before = readLoopDelays(file).length;
  server.signalAll('SIGUSR2');
  await sleep(50);
  const result = await run();
  server.signalAll('SIGUSR2');
  await sleep(200);
  return { result, delays: readLoopDelays(file).slice(before) };
}

/** Section 5: this many exchanges sent at once, each on its own connection. */
export const FAN_OUT = 1000;

export interface FanOut {
  result: LoadResult;
  /** SYNs the kernel dropped meanwhile (each costs its client a 1 s retry). */
  overflows: number;
}

export async function fanOut(url: string, tokens: TokenPlan): Promise<FanOut> {
  const before = listenOverflows();
  const result = await runLoad(closedJob(url, tokens, FAN_OUT, { amount: FAN_OUT }));
  return { result, overflows: listenOverflows() - before };
}
