/**
 * The approver's side of the API, for `jitkey requests`, `jitkey approve` and `jitkey deny`: one
 * JSON request with the approver's own GitHub token (from `GH_TOKEN` or `GITHUB_TOKEN`) to an
 * exchanger at `https://` (plain `http://` only on loopback: the token must not cross a network
 * in the clear).
 */

import type { RequestView } from '../approvals/views.js';
import { fetchTransport, type HttpAnswer, type HttpError, httpCall } from '../net/http-client.js';
import { checkUrl } from '../net/url-rule.js';

export interface ApproverClient {
  list(): Promise<{ approver: string; requests: RequestView[] }>;
  decide(id: string, kind: 'approve' | 'deny', reason: string | undefined): Promise<RequestView>;
  /** A break-glass use's retro review (`POST /v1/requests/{id}/acknowledge`). */
  acknowledge(id: string): Promise<RequestView>;
}

/** A refusal or failure as the exchanger (or the network) reported it. */
export class ExchangerRefusal extends Error {
  override name = 'ExchangerRefusal';
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export const CLIENT_TIMEOUT_MS = 30_000;
/** The pending list is bounded by the exchanger (its newest 200); this is far above it. */
const MAX_ANSWER_BYTES = 8 * 1024 * 1024;

type Env = Readonly<Record<string, string | undefined>>;

/** The approver's GitHub token: `GH_TOKEN` (as the GitHub CLI reads it), else `GITHUB_TOKEN`. */
export function githubTokenFromEnv(env: Env): string | undefined {
  return env.GH_TOKEN?.trim() || env.GITHUB_TOKEN?.trim() || undefined;
}

/** Throws with what to write instead; returns the base URL without a trailing slash. */
export function exchangerUrl(text: string): string {
  checkUrl(text, '--url');
  return text.replace(/\/+$/, '');
}

export function approverClient(options: {
  url: string;
  token: string;
  fetch?: typeof globalThis.fetch;
  timeoutMs?: number;
}): ApproverClient {
  const base = exchangerUrl(options.url);
  const transport = fetchTransport(options.fetch);
  const call = async <T>(method: string, path: string, body?: unknown): Promise<T> => {
    let res: HttpAnswer;
    try {
      res = await httpCall(
        {
          name: `${method} ${path}`,
          method,
          url: `${base}${path}`,
          headers: {
            authorization: `Bearer ${options.token}`,
            accept: 'application/json',
            'user-agent': 'jitkey-cli',
            ...(body === undefined ? {} : { 'content-type': 'application/json' }),
          },
          ...(body === undefined ? {} : { body: JSON.stringify(body) }),
          timeoutMs: options.timeoutMs ?? CLIENT_TIMEOUT_MS,
          maxBytes: MAX_ANSWER_BYTES,
        },
        transport,
      );
    } catch (err) {
      const e = err as HttpError;
      if (e.failure === 'unreachable' || e.failure === 'timeout') {
        throw new ExchangerRefusal(0, 'unreachable', `cannot reach the exchanger at ${base}: ${e.message}`);
      }
      const hint = e.failure === 'redirect' ? ': is --url the exchanger itself?' : '';
      throw new ExchangerRefusal(e.status ?? 0, e.failure, `${e.message}${hint}`);
    }
    const text = res.text();
    let json: Record<string, unknown> | undefined;
    try {
      const parsed: unknown = JSON.parse(text);
      if (parsed && typeof parsed === 'object' && !Array.isArray(parsed))
        json = parsed as Record<string, unknown>;
    } catch {
      json = undefined;
    }
    if (res.ok && json) return json as T;
    const code = typeof json?.error === 'string' ? json.error : `http_${res.status}`;
    const message =
      typeof json?.message === 'string'
        ? json.message
        : `the exchanger answered ${res.status} without a JSON body (is --url the exchanger?)`;
    throw new ExchangerRefusal(res.status, code, message);
  };
  return {
    list: () => call('GET', '/v1/requests?status=pending'),
    decide: (id, kind, reason) =>
      call('POST', `/v1/requests/${encodeURIComponent(id)}/${kind}`, reason ? { reason } : {}),
    acknowledge: (id) => call('POST', `/v1/requests/${encodeURIComponent(id)}/acknowledge`, {}),
  };
}
