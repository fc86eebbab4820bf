/**
 * Bounded retry with "full jitter" exponential backoff, shared by the providers' SDK calls, the
 * end of a lease and the HTTP client (`http-client.ts`).
 *
 * Attempt n (1-based) that fails with a retryable error waits `random() * min(maxMs, baseMs * 2^(n-1))`
 * before attempt n+1, or longer when the failure asks for it (`waitMs`: an HTTP `Retry-After`);
 * after `tries` attempts, or on the first non-retryable error, the last error is thrown as is.
 * Time and randomness are injectable so tests never wait.
 */
import { setTimeout as delay } from 'node:timers/promises';

export interface RetryOptions {
  /** Attempts in total, the first included (≥ 1). */
  tries: number;
  /** Backoff cap before jitter for the first retry; doubles on each further retry. */
  baseMs: number;
  /** Upper bound of any single wait. */
  maxMs: number;
  isRetryable(err: unknown): boolean;
  sleep?: (ms: number) => Promise<void>;
  /** In [0, 1), like Math.random. */
  random?: () => number;
  /** The wait before the next attempt, given the error and the backoff; default the backoff. */
  waitMs?: (err: unknown, backoffMs: number) => number;
  /** Called before each wait, for logs and metrics. */
  onRetry?: (err: unknown, attempt: number, waitMs: number) => void;
  /** Called after each attempt with its duration in seconds and its error (undefined on success). */
  onAttempt?: (seconds: number, err: unknown) => void;
}

const realSleep = (ms: number) => delay(ms).then(() => undefined);

/** The wait before attempt `attempt + 1`, given the failed attempt's number. */
export function backoffMs(attempt: number, baseMs: number, maxMs: number, random: () => number): number {
  const cap = Math.min(maxMs, baseMs * 2 ** (attempt - 1));
  const r = Math.min(Math.max(random(), 0), 1);
  return Math.floor(r * cap);
}

export async function retry<T>(fn: (attempt: number) => Promise<T>, options: RetryOptions): Promise<T> {
  const { tries, baseMs, maxMs } = options;
  if (!Number.isInteger(tries) || tries < 1)
    throw new RangeError(`retry: tries must be an integer ≥ 1, got ${tries}`);
  if (!(baseMs >= 0) || !(maxMs >= 0)) throw new RangeError('retry: baseMs and maxMs must be ≥ 0');
  const sleep = options.sleep ?? realSleep;
  const random = options.random ?? Math.random;
  for (let attempt = 1; ; attempt++) {
    const started = performance.now();
    try {
      const result = await fn(attempt);
      options.onAttempt?.((performance.now() - started) / 1000, undefined);
      return result;
    } catch (err) {
      options.onAttempt?.((performance.now() - started) / 1000, err);
      if (attempt >= tries || !options.isRetryable(err)) throw err;
      const backoff = backoffMs(attempt, baseMs, maxMs, random);
      const wait = options.waitMs ? options.waitMs(err, backoff) : backoff;
      options.onRetry?.(err, attempt, wait);
      await sleep(wait);
    }
  }
}

/**
 * An HTTP `Retry-After` in milliseconds from `now`: delay-seconds (`120`) or an HTTP date; undefined
 * when absent or unreadable. A date in the past is 0.
 */
export function retryAfterMs(value: string | null | undefined, now: number): number | undefined {
  const text = value?.trim();
  if (!text) return undefined;
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  // An HTTP date ends in GMT (RFC 9110); anything else (`1.5`, `soon`) is not one.
  const at = text.endsWith('GMT') ? Date.parse(text) : Number.NaN;
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}
