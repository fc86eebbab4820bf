/**
 * The per-address connection limits of one worker when N workers serve one port (issue 24,
 * item 10). Connections are handed to the workers round-robin by the primary (node:cluster's
 * default scheduling on Linux), so one address's connections spread evenly over them: each
 * worker holds an address to ceil(limit / N), and the whole server to at most N × ceil(limit / N)
 * (the limit, or up to N − 1 more when N does not divide it). Counting each connection in the
 * primary would put an IPC round trip on every connection and every request state change; the
 * approver-call budget and the refusal fold, which are rare, are counted there exactly instead.
 */
import { DEFAULT_LIMITS, type HttpLimits } from '../server/limits.js';

/** Limits counted per client address, shared out between the workers. */
const PER_ADDRESS = ['maxConnectionsPerPeer', 'connectionQueuePerPeer'];

export function workerShare(limits: Partial<HttpLimits>, workers: number): Partial<HttpLimits> {
  if (workers <= 1) return limits;
  const whole: Record<string, unknown> = { ...DEFAULT_LIMITS, ...limits };
  const out: Record<string, unknown> = { ...limits };
  for (const key of PER_ADDRESS) {
    const value = whole[key];
    // 0 turns a cap off (or means no queue): it stays 0.
    if (typeof value === 'number' && value > 0) out[key] = Math.ceil(value / workers);
  }
  return out as Partial<HttpLimits>;
}
