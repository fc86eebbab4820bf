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
import { pacedJob, preminted } from './jobs.js';
import {
  type CpuShare,
  expectAllOk,
  FAN_OUT,
  type FanOut,
  fanOut,
  measuredRun,
  WARM_UP,
  warmUp,
} from './measure.js';
import { startFloor } from './processes.js';
import type { TokenRecipe } from './tokens.js';

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
    await warmUp(floor, recipe, WARM_UP, 'the floor warm-up');
    ctx.sts.setDelay(stsDelayMs);
    let paced: CpuShare;
    try {
      const job = pacedJob(floor.url, preminted(recipe, count), 500, count);
      paced = await measuredRun(floor, `the floor at 500/s with STS at ${stsDelayMs} ms`, job);
    } finally {
      ctx.sts.setDelay(0);
    }
    const fan = await fanOut(floor.url, preminted(recipe, FAN_OUT));
    expectAllOk('the floor fan-out', fan.result, FAN_OUT);
    return { paced, fan };
  } finally {
    await floor.stop();
  }
}
