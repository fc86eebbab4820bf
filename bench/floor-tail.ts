/**
 * Sections 4 and 5, a second reference beside the bare route: the floor (`floor.ts`, a minimal
 * exchanger doing only the work no exchanger can skip) driven as `jitkey serve` is, paced at
 * 500/s with STS answering late, then 1,000 exchanges at once. The bare route shows the machine
 * with no work per request; the floor shows any exchanger that verifies a token, calls STS
 * through the SDK and commits to SQLite, here without WAL checkpoints (`floor.ts`). A tail goal
 * the floor misses is out of reach for `jitkey serve` on this machine, whatever it trims of its
 * own. Warmed first, as `jitkey serve` is by the sections before.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { HttpContext } from './exchange.js';
import { closedCount, pacedJob, preminted } from './jobs.js';
import { runLoad } from './load.js';
import { type CpuShare, expectAllOk, FAN_OUT, type FanOut, fanOut, withCpu } from './measure.js';
import { startFloor } from './processes.js';
import type { TokenRecipe } from './tokens.js';

const WARM = 6000;

export interface FloorTail {
  /** Paced at 500/s, STS answering after `stsDelayMs`, with the CPU the floor used. */
  paced: CpuShare;
  fan: FanOut;
}

export async function floorTail(
  ctx: HttpContext,
  recipe: TokenRecipe,
  stsDelayMs: number,
  count: number,
): Promise<FloorTail> {
  const dir = join(ctx.dir, 'floor-tail');
  mkdirSync(dir, { recursive: true });
  const floor = await startFloor(dir, ctx.idp.url, ctx.env, { checkpoints: false });
  try {
    expectAllOk('the floor warm-up', await runLoad(closedCount(floor.url, recipe, WARM, 32)), WARM);
    ctx.sts.setDelay(stsDelayMs);
    let paced: CpuShare;
    try {
      paced = await withCpu(floor, pacedJob(floor.url, preminted(recipe, count), 500, count));
    } finally {
      ctx.sts.setDelay(0);
    }
    expectAllOk(`the floor at 500/s with STS at ${stsDelayMs} ms`, paced.result, count);
    const fan = await fanOut(floor.url, preminted(recipe, FAN_OUT));
    expectAllOk('the floor fan-out', fan.result, FAN_OUT);
    return { paced, fan };
  } finally {
    await floor.stop();
  }
}
