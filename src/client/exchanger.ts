/**
 * The exchanger's HTTP API as the Action uses it (docs/reference.md, section 3): one JSON request
 * per call through the transport (`transport/call.ts`). Calls that spend an OIDC token take
 * `getToken` and ask it again on every attempt: a token is single use (`jti`), so a retry after a
 * 5xx or a lost answer needs a new one.
 */
import {
  type ExchangeBody,
  type Json,
  type Lease,
  type PendingApproval,
  parseLease,
  parsePending,
  parseRequestStatus,
  type RedeemBody,
  type RequestStatus,
  type RevokeBody,
} from '../shared/api.js';
import { ActionError, ExchangerError } from '../shared/errors.js';
import { attempt, call, isRetryableStatus, networkReason, retryAfterMs } from '../transport/call.js';
import type { HttpResponse } from '../transport/http.js';
import type { Deps } from './deps.js';

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
  } satisfies ExchangeBody);
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
  const body = JSON.stringify({ poll_token: pending.pollToken } satisfies RedeemBody);
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
    response = await attempt(deps.send, { label: label(options) }, () => ({
      method: 'GET',
      url,
      headers: {
        authorization: `Bearer ${pending.pollToken}`,
        accept: 'application/json',
        'user-agent': USER_AGENT,
      },
    }));
  } catch (e) {
    if (e instanceof ActionError) throw e;
    return { kind: 'transient', why: networkReason(e) };
  }
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
  const body = JSON.stringify({
    lease_id: lease.leaseId,
    revoke_token: lease.revokeToken,
  } satisfies RevokeBody);
  const response = await call(deps, { retries: options.retries, label: label(options) }, () => ({
    method: 'POST',
    url,
    headers: jsonHeaders(),
    body,
  }));
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
  return call(deps, { retries: options.retries, label: label(options) }, async () => {
    const token = await getToken();
    return { method: 'POST', url, headers: { ...jsonHeaders(), authorization: `Bearer ${token}` }, body };
  });
}

const jsonHeaders = () => ({
  'content-type': 'application/json',
  accept: 'application/json',
  'user-agent': USER_AGENT,
});

const label = (options: ClientOptions) => `the exchanger at ${options.baseUrl.href.replace(/\/$/, '')}`;

export function readJson(response: HttpResponse, what: string): Json {
  let body: unknown;
  try {
    body = JSON.parse(response.body);
  } catch {
    // Not the parser's message: it quotes the text, which may hold a credential.
    throw new ActionError('bad_response', `${what}: the exchanger's ${response.status} answer is not JSON`);
  }
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw new ActionError(
      'bad_response',
      `${what}: the exchanger's ${response.status} answer is not a JSON object`,
    );
  }
  return body as Json;
}

/** An error answer as ExchangerError; the body is `{error, message, request_id}` when the exchanger wrote it. */
export function errorFromResponse(response: HttpResponse, what: string): ExchangerError {
  const text = response.body;
  let body: Json = {};
  try {
    const parsed: unknown = JSON.parse(text);
    if (parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed)) body = parsed as Json;
  } catch {
    // A proxy's page rather than the exchanger's JSON: quote its start.
    const snippet = text.replace(/\s+/g, ' ').trim().slice(0, 200);
    if (snippet) body = { message: snippet };
  }
  const s = (v: unknown) => (typeof v === 'string' && v ? v : undefined);
  const requestId = s(body.request_id) ?? s(response.headers['x-request-id']);
  const fields: { error?: string; message?: string; request_id?: string } = {};
  const error = s(body.error);
  const message = s(body.message);
  if (error) fields.error = error;
  if (message) fields.message = message;
  if (requestId) fields.request_id = requestId;
  return new ExchangerError(what, response.status, fields);
}
