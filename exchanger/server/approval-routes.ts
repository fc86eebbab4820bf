/**
 * The approval endpoints (reference.md §3, HTTP API), plugged into the server through `extraRoutes`:
 *
 *   GET  /v1/requests?status=pending   approver's GitHub token  → the requests they may decide
 *   GET  /v1/requests/{id}             poll_token               → status, approvals, reason
 *   POST /v1/requests/{id}/approve     approver's GitHub token  {"reason"?}
 *   POST /v1/requests/{id}/deny        approver's GitHub token  {"reason"}
 *   POST /v1/requests/{id}/redeem      fresh OIDC token         {"poll_token"} → credentials
 *
 * Only HTTP here: the work is in `service.ts`.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { callerBudget } from '../approvals/caller-budget.js';
import { type Approvals, cleanReason } from '../approvals/service.js';
import { invalidRequest } from '../errors.js';
import type { Logger } from '../log.js';
import { clientAddress } from '../net/client-address.js';
import { requestClient } from '../net/request-client.js';
import { quote } from '../text/quote.js';
import { bearerToken, readJsonObject, sendJson } from './http.js';

/** Request ids are the exchanger's own (`req_` + base64url); anything else is no request. */
const ID = '[A-Za-z0-9_-]{1,64}';
const ONE = new RegExp(`^/v1/requests/(${ID})$`);
const ACTION = new RegExp(`^/v1/requests/(${ID})/(approve|deny|redeem|acknowledge)$`);

export type ExtraRoutes = (req: IncomingMessage, res: ServerResponse, requestId: string) => Promise<boolean>;

export function approvalRoutes(
  approvals: Approvals,
  log: Logger,
  now: () => Date = () => new Date(),
  /** The approver-call budget; with workers, the primary's, for the whole server. */
  spend: (peer: string) => void | Promise<void> = callerBudget({ now }),
): ExtraRoutes {
  return async (req, res, requestId) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const path = url.pathname;
    const peer = clientAddress(req);

    if (req.method === 'GET' && path === '/v1/requests') {
      const status = url.searchParams.get('status') ?? 'pending';
      if (status !== 'pending') {
        throw invalidRequest(
          `status ${quote(status)} is not listed: only status=pending is (approvers act on those)`,
        );
      }
      const token = bearerToken(req, 'your GitHub token');
      await spend(peer);
      sendJson(res, 200, await approvals.list(token));
      return true;
    }

    const one = ONE.exec(path);
    if (req.method === 'GET' && one) {
      const token = bearerToken(req, 'the poll_token of the 202 answer');
      sendJson(res, 200, await approvals.status(one[1]!, token));
      return true;
    }

    const action = ACTION.exec(path);
    if (req.method === 'POST' && action) {
      type Verb = 'approve' | 'deny' | 'redeem' | 'acknowledge';
      const [, id, verb] = action as unknown as [string, string, Verb];
      const body = await readJsonObject(req);
      if (verb === 'acknowledge') {
        const key = Object.keys(body)[0];
        if (key !== undefined) throw invalidRequest(`unknown field ${quote(key)}: acknowledge takes no body`);
        const token = bearerToken(req, 'your GitHub token');
        // Awaited: with workers the budget is the primary's and answers asynchronously.
        await spend(peer);
        const view = await approvals.acknowledge(id, token);
        sendJson(res, 200, view);
        log.info('acknowledge', { request_id: requestId, approval_request: id });
        return true;
      }
      if (verb === 'redeem') {
        const token = bearerToken(req);
        const grant = await approvals.redeem(id, token, body, requestClient(req));
        sendJson(res, 200, grant);
        log.info('redeem', {
          request_id: requestId,
          approval_request: id,
          role: grant.role,
          lease_id: grant.lease_id,
        });
        return true;
      }
      const reason = parseReason(body, verb);
      const token = bearerToken(req, 'your GitHub token');
      await spend(peer);
      const view = await approvals.decide(id, token, { kind: verb, reason, client: requestClient(req) });
      sendJson(res, 200, view);
      log.info(verb, { request_id: requestId, approval_request: id, status: view.status });
      return true;
    }
    return false;
  };
}

export function parseReason(body: Record<string, unknown>, verb: 'approve' | 'deny'): string | undefined {
  for (const key of Object.keys(body)) {
    if (key !== 'reason') throw invalidRequest(`unknown field ${quote(key)}: the body takes 'reason'`);
  }
  const { reason } = body;
  if (reason !== undefined && typeof reason !== 'string') throw invalidRequest("'reason' must be a string");
  const text = reason === undefined ? '' : cleanReason(reason);
  if (verb === 'deny' && text === '') {
    throw invalidRequest("a denial needs a 'reason': the job's log shows it to the workflow author");
  }
  return text || undefined;
}
