/**
 * One call to the exchanger, the runner's token endpoint or the credentials agent, over `http.ts`:
 * each attempt has its timeout; a 3xx is refused (nothing follows a redirect: the token would go
 * to another address); network errors, 5xx and 429 are retried with jittered exponential
 * back-off, honouring `Retry-After` up to a cap; any other answer (200, 202, 4xx) is returned to
 * the caller at once. Each attempt builds its request afresh, so a retried exchange can carry a
 * fresh single-use OIDC token. Every failure names the call (`label`).
 */
import type { Core } from '../shared/core.js';
import { ActionError, errorMessage } from '../shared/errors.js';
import { capitalize, type HttpRequest, type HttpResponse, type Send } from './http.js';

export interface CallOptions {
  retries: number;
  /** What is being called, for messages: `the exchanger at https://…`. */
  label: string;
  baseDelayMs?: number;
  maxDelayMs?: number;
  maxRetryAfterMs?: number;
  timeoutMs?: number;
}

export const CALL_DEFAULTS = {
  baseDelayMs: 1000,
  maxDelayMs: 10_000,
  maxRetryAfterMs: 60_000,
  timeoutMs: 30_000,
};

export interface CallDeps {
  send: Send;
  core: Pick<Core, 'info'>;
  now: () => number;
  sleep: (ms: number) => Promise<void>;
  random: () => number;
}

/** Builds one attempt's request (its own token, if it spends one). */
export type Build = () =>
  | Omit<HttpRequest, 'signal' | 'label'>
  | Promise<Omit<HttpRequest, 'signal' | 'label'>>;

/**
 * One attempt: the request with its timeout, a redirect refused. Network errors are thrown as
 * they come (not ActionErrors), so the caller tells them from answers it must not retry.
 */
export async function attempt(
  send: Send,
  options: Pick<CallOptions, 'label' | 'timeoutMs'>,
  build: Build,
): Promise<HttpResponse> {
  const signal = AbortSignal.timeout(options.timeoutMs ?? CALL_DEFAULTS.timeoutMs);
  const response = await send({ ...(await build()), signal, label: options.label });
  refuseRedirect(response, options.label);
  return response;
}

export async function call(deps: CallDeps, options: CallOptions, build: Build): Promise<HttpResponse> {
  const o = { ...CALL_DEFAULTS, ...options };
  const attempts = o.retries + 1;
  for (let n = 1; ; n++) {
    let response: HttpResponse | undefined;
    let failure: unknown;
    try {
      response = await attempt(deps.send, o, build);
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
    const retryAfter = response ? retryAfterMs(response.headers['retry-after'], deps.now()) : undefined;
    const delay = retryAfter === undefined ? backoff : Math.min(retryAfter, o.maxRetryAfterMs);
    const why = response ? `answered ${response.status}` : `failed (${networkReason(failure)})`;
    deps.core.info(
      `${capitalize(o.label)} ${why}; retrying in ${(delay / 1000).toFixed(1)}s (attempt ${n + 1} of ${attempts})`,
    );
    await deps.sleep(delay);
  }
}

export const isRetryableStatus = (status: number) => status === 429 || status >= 500;

/**
 * Throws on a 3xx: the request is not repeated anywhere, so its bearer token or revoke token never
 * reaches the address a redirect names (which is only quoted without its query).
 */
export function refuseRedirect(response: HttpResponse, label: string): void {
  if (response.status < 300 || response.status > 399) return;
  let to = '';
  try {
    const location = new URL(String(response.headers.location ?? ''));
    to = ` to ${location.origin}${location.pathname}`;
  } catch {
    // No Location, or a relative one: the status alone says enough.
  }
  throw new ActionError(
    'redirected',
    `${capitalize(label)} answered ${response.status} with a redirect${to}; jitkey does not follow redirects, ` +
      'so no token is sent to another address. Use the URL that answers directly (the final address, with https).',
  );
}

/** Half fixed, half random ("equal jitter"): spreads retries out but never retries at once. */
export function jittered(ms: number, random: () => number): number {
  return Math.round(ms / 2 + random() * (ms / 2));
}

/** `Retry-After: 7` or an HTTP date; undefined when absent or unreadable. */
export function retryAfterMs(header: string | null | undefined, now: number): number | undefined {
  if (header === null || header === undefined) return undefined;
  const text = header.trim();
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  const at = Date.parse(text);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

/** Node's message (`connect ECONNREFUSED 10.0.0.1:443`), with the code when the message lacks it. */
export function networkReason(e: unknown): string {
  // An aborted request carries the signal's reason as its cause: a TimeoutError from AbortSignal.timeout.
  const timedOut = (x: unknown) => x instanceof Error && x.name === 'TimeoutError';
  if (timedOut(e) || (e instanceof Error && timedOut(e.cause))) return 'no answer within the timeout';
  const message = errorMessage(e);
  const code = e instanceof Error ? (e as { code?: unknown }).code : undefined;
  return typeof code === 'string' && !message.includes(code) ? `${message} (${code})` : message;
}
