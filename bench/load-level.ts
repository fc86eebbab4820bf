/**
 * Section 12: what one exchange costs depends on how busy the process is. Each server is driven
 * at fixed rates (the paced generator) and at its most (closed connections), and its CPU per
 * request is compared at equal offered load:
 *
 * - the bare node:http route at 150/s, 600/s and at its most: what the machine charges a request
 *   at each load, before any of jitkey's work;
 * - `jitkey serve --workers 1` at 150/s, 300/s, 600/s and at its most, against the floor
 *   (`floor.ts`) at 600/s;
 * - `--workers 2` at 600/s against one worker at 600/s (the same offered load) and at 300/s (the
 *   load each of the two workers gets);
 * - exchanges/s of one worker at its most on 16 and on 128 connections, with what limited each
 *   run (`limits.ts`): a rate that stays put while no process is saturated is not set by the
 *   exchanger's work.
 *
 * Closed-loop figures (sections 3–5) compare servers at whatever load each reached, and a
 * process that answers more requests per event-loop turn pays less per request; these rows
 * compare them at the same load.
 */
import { mkdirSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import type { HttpContext } from './exchange.js';
import { closedCount, closedJob, pacedJob, preminted } from './jobs.js';
import { limitOf } from './limits.js';
import { runLoad } from './load.js';
import { type CpuShare, describe, expectAllOk, measuredRun, startExchanger, warmUp } from './measure.js';
import { type ServerProcess, startBareRoute, startFloor } from './processes.js';
import { type Row, row } from './report.js';
import { minter, tokenRecipe } from './tokens.js';

/** Offered loads, per second, and how long each is held. */
const LOW = 150;
const HALF = 300;
const EQUAL = 600;
const PACED_SECONDS = 3;
const WARM = 1000;
const MOST_CONNECTIONS = 64;
const FEW_CONNECTIONS = 16;
const MANY_CONNECTIONS = 128;
const MOST_COUNT = 3000;

const ms = (c: CpuShare) => `${c.serverMs.toFixed(3)} ms`;
const perProcess = (c: CpuShare) =>
  c.shares.server.perProcess.map((p) => (p.cpuS / c.result.elapsedS).toFixed(2)).join(', ');

export async function benchLoadLevel(ctx: HttpContext): Promise<Row[]> {
  const recipe = tokenRecipe(ctx.idp, ctx.key);
  const sameBytes = { mode: 'fixed' as const, token: minter(recipe)() };
  const paced = (url: string, rate: number, tokens = preminted(recipe, rate * PACED_SECONDS)) =>
    pacedJob(url, tokens, rate, rate * PACED_SECONDS);
  const warm = (server: ServerProcess) => warmUp(server, recipe, WARM);
  const dirFor = (name: string) => {
    const dir = join(ctx.dir, name);
    mkdirSync(dir, { recursive: true });
    return dir;
  };

  ctx.log(`12 the bare route at ${LOW}/s, ${EQUAL}/s and at its most`);
  const bare = await startBareRoute(dirFor('load-level-bare'));
  let bareLow: CpuShare;
  let bareEqual: CpuShare;
  let bareMost: CpuShare;
  try {
    const warmBare = await runLoad(closedJob(bare.url, sameBytes, MOST_CONNECTIONS, { durationS: 1 }));
    expectAllOk('bare route warm-up', warmBare);
    bareLow = await measuredRun(bare, 'bare route, low', paced(bare.url, LOW, sameBytes));
    bareEqual = await measuredRun(bare, 'bare route, equal', paced(bare.url, EQUAL, sameBytes));
    bareMost = await measuredRun(
      bare,
      'bare route, most',
      closedJob(bare.url, sameBytes, MOST_CONNECTIONS, { durationS: 2 }),
    );
  } finally {
    await bare.stop();
  }

  ctx.log(`12 the floor at ${EQUAL}/s`);
  const floor = await startFloor(dirFor('load-level-floor'), ctx.idp.url, ctx.env);
  let floorEqual: CpuShare;
  try {
    await warm(floor);
    floorEqual = await measuredRun(floor, 'the floor', paced(floor.url, EQUAL));
  } finally {
    await floor.stop();
  }

  ctx.log(`12 jitkey serve --workers 1 at ${LOW}/s, ${HALF}/s, ${EQUAL}/s and at its most`);
  let oneLow: CpuShare;
  let oneHalf: CpuShare;
  let oneEqual: CpuShare;
  let oneMost: CpuShare;
  let oneFew: CpuShare;
  let oneMany: CpuShare;
  {
    const { ex } = await startExchanger(ctx, 'load-level-1', {}, 1);
    const most = (connections: number) => closedCount(ex.url, recipe, MOST_COUNT, connections);
    try {
      await warm(ex);
      oneLow = await measuredRun(ex, 'one worker, low', paced(ex.url, LOW));
      oneHalf = await measuredRun(ex, 'one worker, half', paced(ex.url, HALF));
      oneEqual = await measuredRun(ex, 'one worker, equal', paced(ex.url, EQUAL));
      oneMost = await measuredRun(ex, 'one worker, most', most(MOST_CONNECTIONS));
      oneFew = await measuredRun(ex, 'one worker, few connections', most(FEW_CONNECTIONS));
      oneMany = await measuredRun(ex, 'one worker, many connections', most(MANY_CONNECTIONS));
    } finally {
      await ex.stop();
    }
  }

  ctx.log(`12 jitkey serve --workers 2 at ${EQUAL}/s`);
  let twoEqual: CpuShare;
  {
    const { ex } = await startExchanger(ctx, 'load-level-2', {}, 2);
    try {
      await warm(ex);
      twoEqual = await measuredRun(ex, 'two workers, equal', paced(ex.url, EQUAL));
    } finally {
      await ex.stop();
    }
  }

  const latency = (c: CpuShare) =>
    `latency p50 ${c.result.latencyMs.p50.toFixed(1)} ms, p99 ${c.result.latencyMs.p99.toFixed(1)} ms`;
  return [
    row(12, `CPU of the bare route per request at ${LOW}/s`, bareLow.serverMs, 'ms', {
      baseline: { label: `at its most (${bareMost.result.rate.toFixed(0)}/s)`, value: bareMost.serverMs },
      note: `what this machine charges one node:http request when requests come one at a time rather than many per event-loop turn; at ${EQUAL}/s: ${ms(bareEqual)}`,
    }),
    row(12, `CPU of jitkey serve --workers 1 per exchange at ${LOW}/s`, oneLow.serverMs, 'ms', {
      baseline: { label: `at its most (${oneMost.result.rate.toFixed(0)}/s)`, value: oneMost.serverMs },
      note: `at ${HALF}/s ${ms(oneHalf)}, at ${EQUAL}/s ${ms(oneEqual)}; ${latency(oneLow)}`,
    }),
    row(12, `CPU of jitkey serve --workers 1 per exchange at ${EQUAL}/s`, oneEqual.serverMs, 'ms', {
      baseline: { label: `the floor at ${EQUAL}/s`, value: floorEqual.serverMs },
      goal: { text: '≤ 1.0× the floor', met: oneEqual.serverMs <= floorEqual.serverMs },
      note: `the same offered load for both; jitkey serve ${latency(oneEqual)}; the floor ${latency(floorEqual)}`,
    }),
    row(12, `CPU of jitkey serve --workers 2 per exchange at ${EQUAL}/s`, twoEqual.serverMs, 'ms', {
      baseline: { label: `--workers 1 at ${EQUAL}/s`, value: oneEqual.serverMs },
      goal: { text: '≤ 1.1×', met: twoEqual.serverMs <= 1.1 * oneEqual.serverMs },
      note: `${latency(twoEqual)}; ${describe(twoEqual.result)}`,
    }),
    row(12, `the same, against one worker at ${HALF}/s`, twoEqual.serverMs, 'ms', {
      baseline: { label: `--workers 1 at ${HALF}/s`, value: oneHalf.serverMs },
      note: `CPU of each process of --workers 2, CPU-seconds per second: ${perProcess(twoEqual)} (the first is the primary). Where the workers shared the load about evenly each ran at about ${HALF}/s, and a ratio near 1.0× says the second worker costs what halving each process's load costs on this machine`,
    }),
    row(12, `exchanges/s, --workers 1, ${MANY_CONNECTIONS} connections`, oneMany.result.rate, '/s', {
      baseline: { label: `${FEW_CONNECTIONS} connections`, value: oneFew.result.rate },
      note: `${MOST_CONNECTIONS} connections: ${oneMost.result.rate.toFixed(0)}/s; latency p50 ${oneFew.result.latencyMs.p50.toFixed(1)} ms on ${FEW_CONNECTIONS}, ${oneMany.result.latencyMs.p50.toFixed(1)} ms on ${MANY_CONNECTIONS}. A rate that stays put while no process is saturated is set outside the exchanger's work. With ${FEW_CONNECTIONS}: ${limitOf(oneFew.shares, cpus().length, 1)}. With ${MANY_CONNECTIONS}: ${limitOf(oneMany.shares, cpus().length, 1)}`,
    }),
  ];
}
