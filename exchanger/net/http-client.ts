/**
 * The exchanger's one way to call out over HTTP (the Action has its own, in src/transport/).
 * Every call has:
 * - a timeout per attempt, from sending to the last byte of the answer;
 * - an optional `signal` (a shutdown) that ends the call wherever it is: connecting, waiting for
 *   the headers, reading the body, or waiting between retries;
 * - a limit on the answer's size (read as it arrives; a larger one is cut off and refused);
 * - redirects refused: a 3xx is an error, never followed (a redirect could carry our
 *   `Authorization` header, or a notification, somewhere the URL rule never saw);
 * - retries only when asked (`retry`): a failure to connect, 429, 502, 503 and 504, waiting the
 *   backoff or the answer's `Retry-After`, whichever is longer, up to `maxRetryAfterMs`;
 * - errors (`HttpError`) whose message names the call (`name`), never a header or a body.
 *
 * Two transports: `fetchTransport` (Node's fetch, or one passed in; proxies as that fetch does:
 * Node 20's uses none from the environment) and `nodeTransport` (node:http(s) with TLS options: a
 * CA, a client certificate), for API servers with their own CA.
 */
import { setTimeout as delay } from 'node:timers/promises';
import { fetchTransport, type Sent, type Transport } from './http-transports.js';
import { type RetryOptions, retry, retryAfterMs } from './retry.js';

export const DEFAULT_TIMEOUT_MS = 10_000;
export const DEFAULT_MAX_BYTES = 1024 * 1024;
/** Statuses worth another attempt: too many requests, and a gateway or server that is busy. */
const RETRY_STATUSES = new Set([429, 502, 503, 504]);

export interface HttpRequest {
  /** What the call is, in every error: `GET https://issuer/.well-known/jwks`, `PagerDuty GET /oncalls`. */
  name: string;
  method: string;
  url: string | URL;
  headers?: Record<string, string>;
  body?: string;
  timeoutMs?: number;
  /** The largest answer body accepted. */
  maxBytes?: number;
  /** False: the answer's body is dropped unread (a POST whose answer is its status). */
  readBody?: boolean;
  retry?: HttpRetry;
  /** Aborting it ends the call at once with an `HttpError` (`aborted`), and stops its retries. */
  signal?: AbortSignal;
}

export interface HttpRetry extends Pick<RetryOptions, 'tries' | 'baseMs' | 'maxMs' | 'sleep' | 'random'> {
  /** A longer `Retry-After` is not waited for: the answer is returned as it is. Default 30 s. */
  maxRetryAfterMs?: number;
  now?: () => number;
}

export interface HttpAnswer {
  status: number;
  ok: boolean;
  header(name: string): string | undefined;
  body: Buffer;
  text(): string;
  /** The body as JSON; an `HttpError` (`not_json`) naming the call when it is not. */
  json(): unknown;
}

export type HttpFailure = 'unreachable' | 'timeout' | 'aborted' | 'too_large' | 'redirect' | 'not_json';

export class HttpError extends Error {
  override name = 'HttpError';
  /** The answer's status, for a redirect, an oversize or a non-JSON answer. */
  readonly status: number | undefined;
  constructor(
    /** The request's `name`. */
    readonly call: string,
    readonly failure: HttpFailure,
    message: string,
    options: { cause?: unknown; status?: number } = {},
  ) {
    super(message, { cause: options.cause });
    this.status = options.status;
  }
}

/** What a transport hands back: the status and headers, and the body still to be read. */
// The transports live beside the client; callers take them from here with it.
export {
  fetchTransport,
  nodeTransport,
  type Sent,
  type TlsOptions,
  type Transport,
} from './http-transports.js';

/** One call, with its retries; see the file's comment. */
export async function httpCall(
  request: HttpRequest,
  transport: Transport = fetchTransport(),
): Promise<HttpAnswer> {
  let url: URL;
  try {
    url = typeof request.url === 'string' ? new URL(request.url) : request.url;
  } catch (cause) {
    throw new HttpError(request.name, 'unreachable', `${request.name} failed: not a URL`, { cause });
  }
  const policy = request.retry;
  if (!policy) return attempt(request, url, transport);
  const maxRetryAfter = policy.maxRetryAfterMs ?? 30_000;
  const now = policy.now ?? Date.now;
  const { signal } = request;
  // An abort cuts the wait short; the next attempt then fails as aborted without sending.
  const sleep =
    policy.sleep ??
    (signal ? (ms: number) => delay(ms, undefined, { signal }).catch(() => undefined) : undefined);
  return retry(
    async () => {
      const answer = await attempt(request, url, transport);
      if (!RETRY_STATUSES.has(answer.status)) return answer;
      const after = retryAfterMs(answer.header('retry-after'), now());
      if (after !== undefined && after > maxRetryAfter) return answer;
      throw new RetryableAnswer(answer, after);
    },
    {
      ...policy,
      ...(sleep ? { sleep } : {}),
      isRetryable: (err) =>
        err instanceof RetryableAnswer || (err instanceof HttpError && err.failure === 'unreachable'),
      waitMs: (err, backoff) => Math.max(backoff, err instanceof RetryableAnswer ? (err.afterMs ?? 0) : 0),
    },
  ).catch((err: unknown) => {
    // Out of attempts on a busy answer: the caller gets the answer, as without retries.
    if (err instanceof RetryableAnswer) return err.answer;
    throw err;
  });
}

class RetryableAnswer extends Error {
  constructor(
    readonly answer: HttpAnswer,
    readonly afterMs: number | undefined,
  ) {
    super(`HTTP ${answer.status}`);
  }
}

/**
 * One attempt under its own signal: the deadline, or the caller's signal. Not `AbortSignal.any`:
 * Node keeps every signal it makes in its sources, so a long-lived caller's signal (a shutdown)
 * would hold every call made with it; this listener is removed when the attempt ends.
 */
async function attempt(request: HttpRequest, url: URL, transport: Transport): Promise<HttpAnswer> {
  const controller = new AbortController();
  const deadline = setTimeout(
    () => controller.abort(new Error('timeout')),
    request.timeoutMs ?? DEFAULT_TIMEOUT_MS,
  );
  deadline.unref();
  const outer = request.signal;
  const stop = () => controller.abort(outer?.reason);
  outer?.addEventListener('abort', stop, { once: true });
  try {
    return await attemptUnder(request, url, transport, controller.signal);
  } finally {
    clearTimeout(deadline);
    outer?.removeEventListener('abort', stop);
  }
}

async function attemptUnder(
  request: HttpRequest,
  url: URL,
  transport: Transport,
  signal: AbortSignal,
): Promise<HttpAnswer> {
  const { name } = request;
  const timeoutMs = request.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const maxBytes = request.maxBytes ?? DEFAULT_MAX_BYTES;
  const failed = (err: unknown): HttpError =>
    err instanceof HttpError
      ? err
      : request.signal?.aborted
        ? new HttpError(name, 'aborted', `${name} failed: stopped before the answer was complete`, {
            cause: err,
          })
        : signal.aborted
          ? new HttpError(name, 'timeout', `${name} failed: no answer within ${timeoutMs / 1000} s`, {
              cause: err,
            })
          : new HttpError(name, 'unreachable', `${name} failed: ${describe(err)}`, { cause: err });
  let sent: Sent;
  try {
    // An aborted signal sends nothing, whichever transport would have noticed it.
    if (request.signal?.aborted) throw request.signal.reason;
    sent = await transport({
      method: request.method,
      url,
      headers: { 'user-agent': 'jitkey', ...request.headers },
      body: request.body,
      signal,
    });
  } catch (err) {
    throw failed(err);
  }
  const { status } = sent;
  if (status >= 300 && status < 400) {
    sent.cancel();
    throw new HttpError(
      name,
      'redirect',
      `${name} answered HTTP ${status}, a redirect, which is not followed`,
      {
        status,
      },
    );
  }
  let body: Buffer = Buffer.alloc(0);
  if (request.readBody === false) sent.cancel();
  else {
    try {
      body = await readCapped(sent, maxBytes, name, status);
    } catch (err) {
      sent.cancel();
      throw failed(err);
    }
  }
  return {
    status,
    ok: status >= 200 && status < 300,
    header: sent.header,
    body,
    text: () => body.toString('utf8'),
    json: () => {
      try {
        return JSON.parse(body.toString('utf8'));
      } catch (cause) {
        throw new HttpError(name, 'not_json', `${name} did not return JSON (HTTP ${status})`, {
          cause,
          status,
        });
      }
    },
  };
}

async function readCapped(sent: Sent, maxBytes: number, name: string, status: number): Promise<Buffer> {
  const tooLarge = () =>
    new HttpError(name, 'too_large', `${name} failed: the answer is over ${maxBytes} bytes`, { status });
  if (Number(sent.header('content-length')) > maxBytes) throw tooLarge();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for await (const chunk of sent.body) {
    total += chunk.byteLength;
    if (total > maxBytes) throw tooLarge();
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

/** A transport's failure in a few words: `fetch failed (ECONNREFUSED)`. */
function describe(err: unknown): string {
  const e = err as { message?: string; code?: string; cause?: { code?: string; message?: string } };
  const cause = e?.cause?.code ?? e?.cause?.message ?? e?.code;
  const message = e?.message ?? String(err);
  return cause && !message.includes(cause) ? `${message} (${cause})` : message;
}
