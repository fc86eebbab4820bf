/**
 * The exchanger's HTTP API as the Action uses it (SPEC section 3): one JSON request per call through
 * `deps.send` (http.ts). Calls that spend an OIDC token take `getToken` and ask it again on every
 * attempt: a token is single use (`jti`), so a retry after a 5xx or a lost answer needs a new one.
 */
import {
  errorFromResponse,
  type Lease,
  type PendingApproval,
  parseLease,
  parsePending,
  parseRequestStatus,
  type RequestStatus,
  readJson,
} from './api.js';
import type { Deps } from './deps.js';
import { ActionError } from './errors.js';
import type { HttpResponse } from './http.js';
import {
  isRetryableStatus,
  networkReason,
  RETRY_DEFAULTS,
  refuseRedirect,
  retryAfterMs,
  withRetries,
} from './retry.js';

export interface ClientOptions {
  /** Base URL ending in `/`. */
  baseUrl: URL;
  retries: number;
  userAgent?: string;
}

export type ExchangeOutcome =
  | { kind: 'issued'; lease: Lease }
  | { kind: 'pending'; pending: PendingApproval };

const USER_AGENT = 'jitkey-action';

export async function exchange(
  deps: Deps,
  options: ClientOptions,
  getToken: () => Promise<string>,
  request: { role: string; durationSeconds?: number | undefined },
): Promise<ExchangeOutcome> {
  const body = JSON.stringify({
    role: request.role,
    ...(request.durationSeconds === undefined ? {} : { duration_seconds: request.durationSeconds }),
  });
  const response = await postWithToken(deps, options, 'v1/exchange', getToken, body);
  const what = `Exchange for role '${request.role}'`;
  if (response.status === 200) {
    return { kind: 'issued', lease: parseLease(readJson(response, what), deps.core, what) };
  }
  if (response.status === 202) {
    return { kind: 'pending', pending: parsePending(readJson(response, what), deps.core) };
  }
  throw errorFromResponse(response, what);
}

export async function redeem(
  deps: Deps,
  options: ClientOptions,
  getToken: () => Promise<string>,
  pending: Pick<PendingApproval, 'requestId' | 'pollToken'>,
): Promise<Lease> {
  const path = `v1/requests/${encodeURIComponent(pending.requestId)}/redeem`;
  const body = JSON.stringify({ poll_token: pending.pollToken });
  const response = await postWithToken(deps, options, path, getToken, body);
  const what = `Redeeming approved request ${pending.requestId}`;
  if (response.status === 200) return parseLease(readJson(response, what), deps.core, what);
  throw errorFromResponse(response, what);
}

/** One poll: the status, or `retryAfterMs` when the exchanger is busy or unreachable for now. */
export type PollResult =
  | { kind: 'status'; status: RequestStatus }
  | { kind: 'transient'; why: string; retryAfterMs?: number };

export async function pollRequest(
  deps: Deps,
  options: ClientOptions,
  pending: Pick<PendingApproval, 'requestId' | 'pollToken'>,
): Promise<PollResult> {
  const url = new URL(`v1/requests/${encodeURIComponent(pending.requestId)}`, options.baseUrl);
  let response: HttpResponse;
  try {
    response = await deps.send({
      method: 'GET',
      url,
      headers: {
        authorization: `Bearer ${pending.pollToken}`,
        accept: 'application/json',
        'user-agent': USER_AGENT,
      },
      signal: AbortSignal.timeout(RETRY_DEFAULTS.timeoutMs),
    });
  } catch (e) {
    if (e instanceof ActionError) throw e;
    return { kind: 'transient', why: networkReason(e) };
  }
  refuseRedirect(response, label(options));
  if (isRetryableStatus(response.status)) {
    const after = retryAfterMs(response.headers['retry-after'], deps.now());
    return {
      kind: 'transient',
      why: `answered ${response.status}`,
      ...(after === undefined ? {} : { retryAfterMs: after }),
    };
  }
  const what = `Approval status of request ${pending.requestId}`;
  if (response.status === 200)
    return { kind: 'status', status: parseRequestStatus(readJson(response, what)) };
  throw errorFromResponse(response, what);
}

export async function revoke(
  deps: Deps,
  options: ClientOptions,
  lease: { leaseId: string; revokeToken: string },
): Promise<void> {
  const url = new URL('v1/revoke', options.baseUrl);
  const body = JSON.stringify({ lease_id: lease.leaseId, revoke_token: lease.revokeToken });
  const response = await withRetries(deps, { retries: options.retries, label: label(options) }, (signal) =>
    deps.send({ method: 'POST', url, headers: jsonHeaders(), body, signal }),
  );
  if (response.status === 204 || response.status === 200) return;
  throw errorFromResponse(response, `Revoking lease ${lease.leaseId}`);
}

async function postWithToken(
  deps: Deps,
  options: ClientOptions,
  path: string,
  getToken: () => Promise<string>,
  body: string,
): Promise<HttpResponse> {
  const url = new URL(path, options.baseUrl);
  return withRetries(deps, { retries: options.retries, label: label(options) }, async (signal) => {
    const token = await getToken();
    return deps.send({
      method: 'POST',
      url,
      headers: { ...jsonHeaders(), authorization: `Bearer ${token}` },
      body,
      signal,
    });
  });
}

const jsonHeaders = () => ({
  'content-type': 'application/json',
  accept: 'application/json',
  'user-agent': USER_AGENT,
});

const label = (options: ClientOptions) => `the exchanger at ${options.baseUrl.href.replace(/\/$/, '')}`;
