/**
 * An HTTPS endpoint (`http://` only on loopback, `net/url-rule.ts`): each batch is one POST, taken
 * when the endpoint answers 2xx. The body is JSON lines (`ndjson`), one JSON array (`array`: an
 * Elastic Agent "Custom HTTP Endpoint" input) or Splunk HEC event envelopes (`splunk-hec`:
 * `{"time":…,"event":…}` one after another, for `/services/collector/event`).
 *
 * The POST goes through the exchanger's one HTTP client (`net/http-client.ts`), with the
 * exporter's signal, so a shutdown ends a batch in flight wherever it is.
 *
 * Headers (an `Authorization: Splunk <token>`) are sent and never logged nor put in a message;
 * the URL is named by origin and path only (a query may carry a token). Redirects are refused,
 * not followed: a sink that moved is a configuration to correct, and following would hand the
 * headers to wherever the answer points. 408, 429 and 5xx answers and network failures may be
 * retried (the exporter waits, honouring `Retry-After`); other answers are permanent.
 */
import { fetchTransport, type HttpAnswer, HttpError, httpCall } from '../net/http-client.js';
import { retryAfterMs as readRetryAfter } from '../net/retry.js';
import { checkUrl } from '../net/url-rule.js';
import { jsonLines, type Sink, SinkError, type SinkEvent } from './sink.js';

export type HttpsBody = 'ndjson' | 'array' | 'splunk-hec';
export const HTTPS_BODIES: readonly HttpsBody[] = ['ndjson', 'array', 'splunk-hec'];

export interface HttpsSinkOptions {
  url: string;
  body: HttpsBody;
  /** Sent with every request; values are secret as far as logs are concerned. */
  headers: Record<string, string>;
  timeoutMs?: number;
  fetch?: typeof fetch;
  now?: () => Date;
}

const CONTENT_TYPE: Record<HttpsBody, string> = {
  ndjson: 'application/x-ndjson',
  array: 'application/json',
  'splunk-hec': 'application/json',
};

const DEFAULT_TIMEOUT_MS = 30_000;
const MAX_RETRY_AFTER_MS = 10 * 60_000;

export function httpsBody(kind: HttpsBody, events: readonly SinkEvent[]): string {
  if (kind === 'array') return `[${events.map((e) => e.line).join(',')}]`;
  if (kind === 'splunk-hec')
    return events.map((e) => `{"time":${(e.time.getTime() / 1000).toFixed(3)},"event":${e.line}}`).join('\n');
  return jsonLines(events);
}

/** `Retry-After` as milliseconds (`net/retry.ts` reads it), capped; undefined when absent or bad. */
export function retryAfterMs(value: string | null, now: Date): number | undefined {
  const ms = readRetryAfter(value, now.getTime());
  return ms === undefined ? undefined : Math.min(ms, MAX_RETRY_AFTER_MS);
}

export function httpsSink(options: HttpsSinkOptions): Sink {
  const url = checkUrl(options.url, '--to', { refuseCredentials: true });
  const name = `${url.origin}${url.pathname}`;
  const transport = fetchTransport(options.fetch);
  const now = options.now ?? (() => new Date());
  const headers = {
    ...options.headers,
    'content-type': CONTENT_TYPE[options.body],
    'user-agent': 'jitkey-export',
  };
  return {
    name,
    resume: async () => {},
    async send(events, signal) {
      if (events.length === 0) return undefined;
      let res: HttpAnswer;
      try {
        res = await httpCall(
          {
            name: `POST ${name}`,
            method: 'POST',
            url,
            headers,
            body: httpsBody(options.body, events),
            timeoutMs: options.timeoutMs ?? DEFAULT_TIMEOUT_MS,
            // The status says whether the batch was taken; the body is not read.
            readBody: false,
            ...(signal ? { signal } : {}),
          },
          transport,
        );
      } catch (err) {
        throw failureOf(err, name);
      }
      if (res.ok) return undefined;
      const retryable = res.status === 408 || res.status === 429 || res.status >= 500;
      const hint =
        res.status === 401 || res.status === 403
          ? ': check the credential header (--header-file / --header-env)'
          : res.status === 400 || res.status === 413
            ? ': the endpoint refused the batch (a smaller --batch, or the right --body)'
            : '';
      throw new SinkError(`${name} answered ${res.status}${hint}`, {
        permanent: !retryable,
        retryAfterMs: retryable ? retryAfterMs(res.header('retry-after') ?? null, now()) : undefined,
      });
    },
    close: async () => {},
  };
}

/** The HTTP core's failure as the exporter reads it: a redirect is permanent, the rest may pass. */
function failureOf(err: unknown, name: string): SinkError {
  if (err instanceof HttpError && err.failure === 'redirect') {
    return new SinkError(
      `${name} answered ${err.status} (a redirect): redirects are not followed; point --to at the endpoint itself`,
      { permanent: true, cause: err },
    );
  }
  return new SinkError(`${name} could not be reached: ${reason(err)}`, { cause: err });
}

/** Why, in Node's words (`connect ECONNREFUSED 127.0.0.1:1`) where it has them, never a header. */
function reason(err: unknown): string {
  if (!(err instanceof HttpError)) return (err as Error).message;
  if (err.failure === 'timeout') return err.message.replace(`${err.call} failed: `, '');
  if (err.failure === 'aborted') return 'the export was stopped';
  const cause = err.cause as { message?: string; cause?: { message?: string } } | undefined;
  return cause?.cause?.message ?? cause?.message ?? err.message;
}
