/**
 * What the exchangers' PostgreSQL backends are doing during a phase, sampled from
 * `pg_stat_activity` every few milliseconds: how many are running a statement, and how many of
 * those wait on a lock. Set against the latency of the phase, it tells whether requests wait for
 * the database (backends busy, or queued at the pool: all of them busy) or for something else
 * (backends idle while requests are late: the exchangers' event loops, or the CPUs).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type pg from 'pg';

export interface BackendActivity {
  samples: number;
  /** Backends of `application_name` jitkey running a statement, on average and at most. */
  activeMean: number;
  activeMax: number;
  /** Share of the samples where at least one of them waited on a lock. */
  lockWaitShare: number;
}

const INTERVAL_MS = 10;

export async function sampleActivity<T>(
  admin: pg.Client,
  run: () => Promise<T>,
): Promise<{ result: T; activity: BackendActivity }> {
  let stop = false;
  const counts: { active: number; locked: number }[] = [];
  const sampler = (async () => {
    while (!stop) {
      const { rows } = await admin.query<{ active: string; locked: string }>(
        `SELECT count(*) FILTER (WHERE state = 'active') AS active,
                count(*) FILTER (WHERE state = 'active' AND wait_event_type = 'Lock') AS locked
           FROM pg_stat_activity WHERE application_name LIKE 'jitkey%'`,
      );
      counts.push({ active: Number(rows[0]!.active), locked: Number(rows[0]!.locked) });
      await sleep(INTERVAL_MS);
    }
  })();
  let result: T;
  try {
    result = await run();
  } finally {
    stop = true;
    await sampler;
  }
  const n = Math.max(1, counts.length);
  return {
    result,
    activity: {
      samples: counts.length,
      activeMean: counts.reduce((sum, c) => sum + c.active, 0) / n,
      activeMax: Math.max(0, ...counts.map((c) => c.active)),
      lockWaitShare: counts.filter((c) => c.locked > 0).length / n,
    },
  };
}

export function describeActivity(a: BackendActivity): string {
  return `jitkey's PostgreSQL backends running a statement: ${a.activeMean.toFixed(2)} on average, ${a.activeMax} at most (${a.samples} samples of pg_stat_activity), some waiting on a lock in ${(100 * a.lockWaitShare).toFixed(0)} % of them`;
}
