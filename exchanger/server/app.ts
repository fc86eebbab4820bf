/**
 * The HTTP surface (SPEC section 3): routing, request ids, error bodies, per-request logs.
 * The work itself lives in exchange/ and revoke.ts; this file only translates HTTP.
 */
import {
  createServer as createHttpServer,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import { JitkeyError } from '../errors.js';
import { exchange } from '../exchange/exchange.js';
import type { ExchangeDeps } from '../exchange/types.js';
import { childLogger, type Logger } from '../log.js';
import { asJitkeyError, bearerToken, readJsonObject, sendError, sendJson } from './http.js';
import type { Metrics } from './metrics.js';
import { newRequestId } from './request-id.js';
import { revoke } from './revoke.js';

export interface AppDeps extends ExchangeDeps {
  metrics: Metrics;
  /** Requests handled at once before new ones get 429 (protects memory under a fan-out burst). */
  maxInFlight?: number;
  /** Extra routes (approvals) tried before the 404. Return false when the path is not theirs. */
  extraRoutes?: (req: IncomingMessage, res: ServerResponse, requestId: string) => Promise<boolean>;
}

/** `log` carries the request's `request_id` on every line. */
type Handler = (req: IncomingMessage, res: ServerResponse, requestId: string, log: Logger) => Promise<void>;

export function createApp(deps: AppDeps): (req: IncomingMessage, res: ServerResponse) => void {
  const maxInFlight = deps.maxInFlight ?? 4096;
  let inFlight = 0;

  const routes: Record<string, Handler> = {
    'GET /healthz': async (_req, res) => sendJson(res, 200, { status: 'ok' }),
    'GET /readyz': async (_req, res) => {
      try {
        deps.policy();
        await deps.store.ping();
        sendJson(res, 200, { status: 'ready' });
      } catch (err) {
        deps.log.warn('not ready', { error: err as Error });
        sendJson(res, 503, { status: 'unavailable', message: 'the store is unreachable' });
      }
    },
    'GET /metrics': async (_req, res) => {
      const text = deps.metrics.render();
      res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' });
      res.end(text);
    },
    'POST /v1/exchange': async (req, res, requestId, log) => {
      const body = await readJsonObject(req);
      const token = bearerToken(req);
      const grant = await exchange(deps, token, body, requestId);
      if ('status' in grant) {
        sendJson(res, 202, grant);
        log.info('exchange', { role: body.role, outcome: 'pending' });
        return;
      }
      sendJson(res, 200, grant);
      log.info('exchange', {
        role: grant.role,
        outcome: 'allowed',
        lease_id: grant.lease_id,
      });
    },
    'POST /v1/revoke': async (req, res, requestId, log) => {
      await revoke(deps, await readJsonObject(req), requestId);
      res.writeHead(204).end();
      log.info('revoke');
    },
  };

  return (req, res) => {
    const requestId = newRequestId();
    const log = childLogger(deps.log, { request_id: requestId });
    const path = (req.url ?? '/').split('?')[0];
    const handler = routes[`${req.method} ${path}`];
    if (inFlight >= maxInFlight) {
      req.resume();
      sendError(
        res,
        new JitkeyError('rate_limited', 'the exchanger is at capacity; retry shortly', { retryAfter: 1 }),
        requestId,
      );
      return;
    }
    inFlight++;
    res.on('close', () => inFlight--);
    const run = handler
      ? handler(req, res, requestId, log)
      : (deps.extraRoutes?.(req, res, requestId) ?? Promise.resolve(false)).then((handled) => {
          if (!handled) throw new JitkeyError('not_found', `no route for ${req.method} ${path}`);
        });
    run.catch((err: unknown) => {
      const e = asJitkeyError(err);
      // An unexpected failure is logged with its stack (and its cause's) for operators.
      if (e.status >= 500) log.error('request failed', { path, code: e.code, error: err });
      else log.info('request refused', { path, code: e.code, reason: e.message });
      if (!res.headersSent) sendError(res, e, requestId);
      else res.destroy();
    });
  };
}

export function createServer(deps: AppDeps): Server {
  return createHttpServer(
    {
      keepAliveTimeout: 65_000,
      requestTimeout: 30_000,
      headersTimeout: 10_000,
      // Room above the 16 KiB token limit, so an oversize token gets our 401 that says why
      // rather than Node's bare 431.
      maxHeaderSize: 32 * 1024,
    },
    createApp(deps),
  );
}
