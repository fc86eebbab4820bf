/**
 * Retries for calls to the exchanger and the runner's token endpoint: only network errors, 5xx and
 * 429 are retried, with jittered exponential back-off, honouring `Retry-After` up to a cap. Any
 * other answer (200, 202, 4xx) is returned to the caller at once. Each attempt builds its request
 * afresh, so a retried exchange can carry a fresh single-use OIDC token.
 */
import type { Deps } from './deps.js';
import { ActionError, errorMessage } from './errors.js';

export interface RetryOptions {
  retries: number;
  /** What is being called, for messages: `the exchanger at https://…`. */
  label: string;
  baseDelayMs?: number;
  maxDelayMs?: number;
  maxRetryAfterMs?: number;
  timeoutMs?: number;
}

export const RETRY_DEFAULTS = {
  baseDelayMs: 1000,
  maxDelayMs: 10_000,
  maxRetryAfterMs: 60_000,
  timeoutMs: 30_000,
};

export type Attempt = (signal: AbortSignal) => Promise<Response>;

export async function withRetries(
  deps: Pick<Deps, 'core' | 'now' | 'sleep' | 'random'>,
  options: RetryOptions,
  attempt: Attempt,
): Promise<Response> {
  const o = { ...RETRY_DEFAULTS, ...options };
  const attempts = o.retries + 1;
  for (let n = 1; ; n++) {
    let response: Response | undefined;
    let failure: unknown;
    try {
      response = await attempt(AbortSignal.timeout(o.timeoutMs));
    } catch (e) {
      if (e instanceof ActionError) throw e;
      failure = e;
    }
    if (response && !isRetryableStatus(response.status)) return response;
    if (n >= attempts) {
      if (response) return response;
      throw new ActionError(
        'unreachable',
        `Could not reach ${o.label} after ${attempts} attempt${attempts === 1 ? '' : 's'}: ${networkReason(failure)}`,
        { cause: failure },
      );
    }
    const backoff = jittered(Math.min(o.maxDelayMs, o.baseDelayMs * 2 ** (n - 1)), deps.random);
    const retryAfter = response ? retryAfterMs(response.headers.get('retry-after'), deps.now()) : undefined;
    const delay = retryAfter === undefined ? backoff : Math.min(retryAfter, o.maxRetryAfterMs);
    const why = response ? `answered ${response.status}` : `failed (${networkReason(failure)})`;
    await response?.body?.cancel().catch(() => {});
    deps.core.info(
      `${capitalize(o.label)} ${why}; retrying in ${(delay / 1000).toFixed(1)}s (attempt ${n + 1} of ${attempts})`,
    );
    await deps.sleep(delay);
  }
}

export const isRetryableStatus = (status: number) => status === 429 || status >= 500;

/** Half fixed, half random ("equal jitter"): spreads retries out but never retries at once. */
export function jittered(ms: number, random: () => number): number {
  return Math.round(ms / 2 + random() * (ms / 2));
}

/** `Retry-After: 7` or an HTTP date; undefined when absent or unreadable. */
export function retryAfterMs(header: string | null, now: number): number | undefined {
  if (header === null) return undefined;
  const text = header.trim();
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  const at = Date.parse(text);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

/** fetch reports "fetch failed" and hides the reason in `cause` (ECONNREFUSED, ENOTFOUND…). */
export function networkReason(e: unknown): string {
  if (e instanceof Error && e.name === 'TimeoutError') return 'no answer within the timeout';
  const cause =
    e instanceof Error ? (e.cause as { code?: unknown; message?: unknown } | undefined) : undefined;
  if (cause && typeof cause.code === 'string') return `${errorMessage(e)} (${cause.code})`;
  return errorMessage(e);
}

const capitalize = (s: string) => s.charAt(0).toUpperCase() + s.slice(1);
