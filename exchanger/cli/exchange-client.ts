/**
 * The job's side of the exchanger API (reference.md §3) for `jitkey credentials`, the client for any
 * CI: exchange a token, poll an approval, redeem it, revoke a lease. One JSON request per call,
 * through the exchanger's one HTTP client (`net/http-client.ts`: a timeout, a size cap, redirects
 * refused, never followed, so a token is never re-sent to another address); the URL obeys the one
 * URL rule (`https://`, `http://` only on loopback). Answers are read defensively:
 * a field that is missing or of the wrong type is a `bad_response`, and no answer text that could
 * hold a credential is ever quoted back.
 */
import type {
  CredentialsOf,
  ExchangeBody,
  LeaseFields,
  PendingAnswer,
  ProviderName,
  RedeemBody,
  RequestState,
  RequestStatusAnswer,
  RevokeBody,
  Unchecked,
} from '../api-types.js';
import type { ErrorCode } from '../errors.js';
import {
  type HttpAnswer,
  HttpError,
  type HttpRetry,
  httpCall,
  nodeTransport,
  type Transport,
} from '../net/http-client.js';
import { retryAfterMs } from '../net/retry.js';
import { checkUrl } from '../net/url-rule.js';

export type Provider = ProviderName;
const PROVIDERS: ReadonlySet<string> = new Set<Provider>(['aws', 'gcp', 'github', 'kubernetes']);

/**
 * A 200 answer of `/v1/exchange` or `/redeem` (`api-types.ts`, `LeaseAnswer`). Its `credentials`
 * are kept as the provider sent them and checked field by field only when a format reads one
 * (`credentials-format.ts`), so a lease lacking a field is still revoked.
 */
export type Lease = {
  [P in Provider]: LeaseFields & { provider: P; credentials: Unchecked<CredentialsOf[P]> };
}[Provider];

export type Pending = Omit<PendingAnswer, 'status'>;

export type { RequestState };

/** What the client keeps of a status answer: who approved, not when. */
export type RequestStatus = Pick<RequestStatusAnswer, 'status' | 'reason'> & {
  approvals: Array<{ login: string }>;
};

/**
 * Why a call failed: the exchanger's own code (`access_denied`, `token_replayed`…), or one of the
 * client's (`unreachable`, `redirected`, `bad_response`, `http_<status>` for a non-JSON answer).
 */
export class ExchangeFailure extends Error {
  override name = 'ExchangeFailure';
  constructor(
    readonly code: ErrorCode | 'unreachable' | 'redirected' | 'bad_response' | `http_${number}`,
    message: string,
    readonly status = 0,
    readonly requestId?: string,
    /** Seconds, from `Retry-After`. */
    readonly retryAfter?: number,
  ) {
    super(message);
  }
}

export interface ClientOptions {
  /** The exchanger's base URL, as given (`--url`). */
  url: string;
  userAgent: string;
  timeoutMs?: number;
  /** Default node:http(s): no fetch to load at start, and any port. */
  transport?: Transport;
}

export const CLIENT_TIMEOUT_MS = 30_000;
/** Revoking is idempotent (a revoked lease answers 204 again), so it may be tried again. */
const REVOKE_RETRY = { tries: 3, baseMs: 1000, maxMs: 4000 };

export function exchangeClient(options: ClientOptions) {
  const base = checkUrl(options.url, '--url', { refuseCredentials: true, refuseQuery: true }).href.replace(
    /\/+$/,
    '',
  );
  const transport = options.transport ?? nodeTransport();
  const timeoutMs = options.timeoutMs ?? CLIENT_TIMEOUT_MS;

  async function call(
    method: 'GET' | 'POST',
    path: string,
    bearer: string | undefined,
    body?: ExchangeBody | RedeemBody | RevokeBody,
    retry?: HttpRetry,
  ): Promise<{ status: number; json: Record<string, unknown> | undefined }> {
    let res: HttpAnswer;
    try {
      res = await httpCall(
        {
          name: `${method} ${base}${path}`,
          method,
          url: `${base}${path}`,
          headers: {
            accept: 'application/json',
            'user-agent': options.userAgent,
            ...(bearer ? { authorization: `Bearer ${bearer}` } : {}),
            ...(body === undefined ? {} : { 'content-type': 'application/json' }),
          },
          ...(body === undefined ? {} : { body: JSON.stringify(body) }),
          timeoutMs,
          ...(retry ? { retry } : {}),
        },
        transport,
      );
    } catch (err) {
      throw failureOf(err, base, timeoutMs);
    }
    let json: Record<string, unknown> | undefined;
    try {
      const parsed: unknown = res.json();
      if (parsed && typeof parsed === 'object' && !Array.isArray(parsed))
        json = parsed as Record<string, unknown>;
    } catch {
      json = undefined;
    }
    if (res.status < 400) return { status: res.status, json };
    // Seconds or an HTTP date, as the retrying client reads it; rounded up so a wait is never short.
    const retryAfter = Math.ceil((retryAfterMs(res.header('retry-after'), Date.now()) ?? 0) / 1000);
    throw new ExchangeFailure(
      (typeof json?.error === 'string' ? json.error : `http_${res.status}`) as ExchangeFailure['code'],
      typeof json?.message === 'string'
        ? json.message
        : `the exchanger answered ${res.status} without a JSON body (is --url the exchanger?)`,
      res.status,
      typeof json?.request_id === 'string' ? json.request_id : res.header('x-request-id'),
      retryAfter > 0 ? retryAfter : undefined,
    );
  }

  return {
    base,
    async exchange(token: string, role: string, durationSeconds?: number): Promise<Lease | Pending> {
      const answer = await call('POST', '/v1/exchange', token, {
        role,
        ...(durationSeconds === undefined ? {} : { duration_seconds: durationSeconds }),
      });
      return answer.status === 202 ? readPending(answer.json) : readLease(answer.json);
    },
    async status(pending: Pending): Promise<RequestStatus> {
      const answer = await call(
        'GET',
        `/v1/requests/${encodeURIComponent(pending.request_id)}`,
        pending.poll_token,
      );
      return readStatus(answer.json);
    },
    async redeem(token: string, pending: Pending): Promise<Lease> {
      const path = `/v1/requests/${encodeURIComponent(pending.request_id)}/redeem`;
      return readLease((await call('POST', path, token, { poll_token: pending.poll_token })).json);
    },
    async revoke(lease: { lease_id: string; revoke_token: string }): Promise<void> {
      const body: RevokeBody = { lease_id: lease.lease_id, revoke_token: lease.revoke_token };
      await call('POST', '/v1/revoke', undefined, body, REVOKE_RETRY);
    },
  };
}

export type ExchangeClient = ReturnType<typeof exchangeClient>;

export const isPending = (answer: Lease | Pending): answer is Pending => 'poll_token' in answer;

const bad = (what: string) =>
  new ExchangeFailure(
    'bad_response',
    `the exchanger's answer lacks a valid '${what}' (is --url the exchanger?)`,
  );

function str(json: Record<string, unknown> | undefined, field: string): string {
  const value = json?.[field];
  if (typeof value !== 'string' || value === '') throw bad(field);
  return value;
}

function readLease(json: Record<string, unknown> | undefined): Lease {
  const provider = str(json, 'provider');
  if (!PROVIDERS.has(provider)) {
    throw new ExchangeFailure(
      'bad_response',
      `the exchanger issued credentials for provider '${provider}', which this version of jitkey does not know: update it`,
    );
  }
  const credentials = json?.credentials;
  if (!credentials || typeof credentials !== 'object' || Array.isArray(credentials)) throw bad('credentials');
  // The provider is known and the credentials an object; their fields are read where used.
  return {
    lease_id: str(json, 'lease_id'),
    revoke_token: str(json, 'revoke_token'),
    role: str(json, 'role'),
    provider,
    expires_at: str(json, 'expires_at'),
    credentials,
  } as Lease;
}

function readPending(json: Record<string, unknown> | undefined): Pending {
  const approvers = Array.isArray(json?.approvers) ? json.approvers : [];
  return {
    request_id: str(json, 'request_id'),
    poll_token: str(json, 'poll_token'),
    expires_at: typeof json?.expires_at === 'string' ? json.expires_at : '',
    approvers: approvers.filter((a): a is string => typeof a === 'string'),
    required: typeof json?.required === 'number' && json.required > 0 ? json.required : 1,
  };
}

const STATES: ReadonlySet<string> = new Set(['pending', 'approved', 'denied', 'expired', 'redeemed']);

function readStatus(json: Record<string, unknown> | undefined): RequestStatus {
  const status = str(json, 'status');
  if (!STATES.has(status)) throw bad('status');
  const approvals = Array.isArray(json?.approvals) ? json.approvals : [];
  return {
    status: status as RequestState,
    approvals: approvals
      .filter((a): a is { login: string } => typeof (a as { login?: unknown } | null)?.login === 'string')
      .map((a) => ({ login: a.login })),
    ...(typeof json?.reason === 'string' && json.reason ? { reason: json.reason } : {}),
  };
}

/** The transport's failure as the client reports it: redirected, too large, or unreachable. */
function failureOf(err: unknown, base: string, timeoutMs: number): unknown {
  if (!(err instanceof HttpError)) return err;
  switch (err.failure) {
    case 'redirect':
      return new ExchangeFailure(
        'redirected',
        `the exchanger at ${base} answered ${err.status} with a redirect; jitkey does not follow redirects (no token goes to another address): give --url the address that answers directly`,
        err.status,
      );
    case 'too_large':
      return new ExchangeFailure(
        'bad_response',
        `the answer from ${base} is too large (is --url the exchanger?)`,
        err.status,
      );
    case 'timeout':
      return new ExchangeFailure(
        'unreachable',
        `cannot reach the exchanger at ${base}: no answer within ${timeoutMs / 1000} s`,
      );
    default: {
      // Node's own words (`connect ECONNREFUSED 127.0.0.1:1`), not the request's name again.
      const cause = err.cause as { message?: string; code?: string } | undefined;
      const why = cause?.message ?? err.message;
      return new ExchangeFailure('unreachable', `cannot reach the exchanger at ${base}: ${why}`);
    }
  }
}
