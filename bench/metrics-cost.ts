/**
 * What `/metrics` bookkeeping costs an exchange: the counter and histogram updates an allowed
 * exchange makes (prom-client, `exchanger/server/metrics.ts`), timed in this process, with the
 * default process metrics (event-loop delay monitor included) running as in `jitkey serve`.
 */
import { createMetrics } from '../exchanger/server/metrics.js';
import { median } from './stats.js';

const ROUNDS = 5;
const PER_ROUND = 100_000;

/** Milliseconds of CPU per exchange spent on metrics (median of rounds). */
export function metricsCostMs(): number {
  const metrics = createMetrics();
  const rounds: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    const started = process.cpuUsage();
    for (let i = 0; i < PER_ROUND; i++) {
      metrics.decisions.inc({ role: 'deploy', outcome: 'allowed', code: '' });
      metrics.upstream.observe({ provider: 'aws', outcome: 'ok' }, 0.001 * (i % 100));
    }
    const { user, system } = process.cpuUsage(started);
    rounds.push((user + system) / 1000 / PER_ROUND);
  }
  return median(rounds);
}
