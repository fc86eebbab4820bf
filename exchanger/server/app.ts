/**
 * The HTTP surface (reference.md §3, HTTP API): routing, request ids, error bodies, per-request logs.
 * The work itself lives in exchange/ and leases/; this file only translates HTTP.
 */
import {
  createServer as createHttpServer,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import { JitkeyError } from '../errors.js';
import { exchange } from '../exchange/exchange.js';
import { createRefusalFold, writeFoldedRefusals } from '../exchange/refusal-fold.js';
import type { ExchangeDeps } from '../exchange/types.js';
import { revoke } from '../leases/revoke.js';
import { childLogger, type Logger } from '../log.js';
import { bindClientAddress, NO_TRUSTED_PROXIES, type ProxyTrust } from '../net/client-address.js';
import { requestClient } from '../net/request-client.js';
import { truncate } from '../text/clean.js';
import { quote } from '../text/quote.js';
import { CI_WEBHOOK_PATHS, type CiWebhookDeps, ciRoutes } from './ci-webhook-routes.js';
import { gateServer } from './connection-gate.js';
import {
  asJitkeyError,
  bearerToken,
  MAX_BODY_BYTES,
  readBodyBytes,
  readJsonObject,
  sendError,
  sendJson,
} from './http.js';
import { KUBERNETES_AUDIT_PATH, type KubernetesAuditHandler } from './kubernetes-audit-route.js';
import {
  bodiesPerClient,
  DEFAULT_LIMITS,
  type HttpLimits,
  inFlightSlots,
  slotNowUntilClose,
  slotUntilClose,
} from './limits.js';
import type { Metrics } from './metrics.js';
import { newRequestId } from './request-id.js';
import { SLACK_BODY_BYTES, SLACK_INTERACTIONS_PATH } from './slack-route.js';
import { clientAddress, handleWebhook, screenWebhook, WEBHOOK_PATH, type WebhookDeps } from './webhook.js';
import { createWebhookBudget } from './webhook-budget.js';
import { createDeliveryMemory } from './webhook-deliveries.js';

export interface AppDeps extends ExchangeDeps {
  metrics: Metrics;
  /** Requests handled at once before new ones get 429 (protects memory under a fan-out burst). */
  maxInFlight?: number;
  /** Timeouts and caps (`limits.ts`); `maxInFlight` above wins over `limits.maxInFlight`. */
  limits?: Partial<HttpLimits>;
  /** Peers whose forwarded header names the client (`--trusted-proxies`); default none. */
  proxyTrust?: ProxyTrust;
  /** GitHub's deployment gate, for `deployment_protection_rule` deliveries (`gate/gate.ts`). */
  gate?: WebhookDeps['gate'];
  /** The Kubernetes audit webhook (`kubernetes-audit-route.ts`); unset: 404. */
  kubernetesAudit?: KubernetesAuditHandler;
  /** GitLab and Buildkite webhooks' senders (`ci-webhooks.ts`); unset or empty: 404. */
  ciWebhooks?: { gitlab?: CiWebhookDeps['senders']; buildkite?: CiWebhookDeps['senders'] };
  /** Extra routes (approvals) tried before the 404. Return false when the path is not theirs. */
  extraRoutes?: (req: IncomingMessage, res: ServerResponse, requestId: string) => Promise<boolean>;
}

/** `log` carries the request's `request_id` on every line. */
type Handler = (req: IncomingMessage, res: ServerResponse, requestId: string, log: Logger) => Promise<void>;

/** A request path in a log line: the route is in the first characters; the rest is noise. */
const MAX_LOGGED_PATH = 200;

/** Answered at once, never counted or limited, and to HEAD as to GET. */
const PROBES = new Set(['/healthz', '/readyz', '/metrics']);

function limitsOf(deps: AppDeps): HttpLimits {
  return {
    ...DEFAULT_LIMITS,
    ...deps.limits,
    ...(deps.maxInFlight !== undefined ? { maxInFlight: deps.maxInFlight } : {}),
  };
}

export function createApp(deps: AppDeps): (req: IncomingMessage, res: ServerResponse) => void {
  const limits = limitsOf(deps);
  const { bodyTimeoutMs } = limits;
  const slots = inFlightSlots(limits);
  const sendingBody = bodiesPerClient(limits.maxConnectionsPerPeer);

  const takeSlot = (res: ServerResponse): void => slotNowUntilClose(slots, res);
  /**
   * A slot is taken only once the body is in: a trickled body holds a connection, not a slot.
   * Bodies still arriving are capped per client address; past the in-flight limit a request
   * waits a moment for a slot (bounded queue) before it gets 429.
   */
  const admit = async (req: IncomingMessage, res: ServerResponse, path: string): Promise<void> => {
    // Bytes only: the route decodes them once (as JSON; Slack's as a signed form).
    const limit = path === SLACK_INTERACTIONS_PATH ? SLACK_BODY_BYTES : MAX_BODY_BYTES;
    await sendingBody(clientAddress(req), () => readBodyBytes(req, { limit, timeoutMs: bodyTimeoutMs }));
    await slotUntilClose(slots, res);
  };

  /** Webhook bodies are charged as they arrive, per sender (`webhook-budget.ts`). */
  const webhookBudget = createWebhookBudget(
    {},
    {
      onChange: (held) => {
        deps.metrics.webhookBodyBytes.set({ sender: 'proven' }, held.proven);
        deps.metrics.webhookBodyBytes.set({ sender: 'unproven' }, held.unproven);
      },
    },
  );
  const deliveries = createDeliveryMemory();

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
      const text = await deps.metrics.render();
      res.writeHead(200, {
        'content-type': deps.metrics.contentType,
        'content-length': Buffer.byteLength(text),
        'cache-control': 'no-store',
        'x-content-type-options': 'nosniff',
      });
      res.end(text);
    },
    'POST /v1/exchange': async (req, res, requestId, log) => {
      const body = await readJsonObject(req);
      const token = bearerToken(req);
      const grant = await exchange(deps, token, body, requestId, requestClient(req));
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
    [`POST ${WEBHOOK_PATH}`]: async (req, res, requestId, log) => {
      if ((await screenWebhook(deps, req, requestId)) === 'ignore') {
        // Not read, so not kept: the connection goes with the answer.
        res.writeHead(204, { connection: 'close' }).end();
        log.info('github webhook', { status: 204 });
        return;
      }
      const ticket = webhookBudget.open(clientAddress(req));
      res.once('close', ticket.release);
      const outcome = await handleWebhook(deps, req, requestId, {
        ticket,
        timeoutMs: bodyTimeoutMs,
        deliveries,
        admit: () => takeSlot(res),
      });
      if (outcome.status === 204) res.writeHead(204).end();
      else if (outcome.status === 202)
        sendJson(res, 202, { accepted: true, ...(outcome.replayed ? { replayed: true } : {}) });
      else sendJson(res, 200, { revoked: outcome.revoked, ...(outcome.replayed ? { replayed: true } : {}) });
      log.info('github webhook', { status: outcome.status });
    },
    ...ciRoutes(deps, { bodyTimeoutMs, admit: takeSlot }),
    [`POST ${KUBERNETES_AUDIT_PATH}`]: async (req, res, _requestId, log) => {
      if (!deps.kubernetesAudit) {
        throw new JitkeyError(
          'not_found',
          'the Kubernetes audit webhook is not enabled on this exchanger (set JITKEY_KUBERNETES_AUDIT_TOKEN_FILE)',
        );
      }
      await deps.kubernetesAudit(req, res, { timeoutMs: bodyTimeoutMs, admit: () => takeSlot(res) }, log);
    },
    'POST /v1/revoke': async (req, res, requestId, log) => {
      await revoke(deps, await readJsonObject(req), requestId, requestClient(req));
      res.writeHead(204).end();
      log.info('revoke');
    },
  };

  const trust = deps.proxyTrust ?? NO_TRUSTED_PROXIES;
  return (req, res) => {
    bindClientAddress(req, trust);
    const requestId = newRequestId();
    const log = childLogger(deps.log, { request_id: requestId });
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    const method = req.method === 'HEAD' && PROBES.has(path) ? 'GET' : req.method;
    const handler = routes[`${method} ${path}`];
    const work = async () => {
      if (handler && PROBES.has(path)) return handler(req, res, requestId, log);
      // GitHub's webhook deliveries reach 25 MiB, Kubernetes audit batches 10 MiB: those routes
      // check the sender first and read their bodies themselves. Every other body is held to the
      // 16 KiB floor (Slack's interactions: 64 KiB).
      if (
        handler &&
        (path === WEBHOOK_PATH || path === KUBERNETES_AUDIT_PATH || CI_WEBHOOK_PATHS.has(path))
      ) {
        return handler(req, res, requestId, log);
      }
      await admit(req, res, path);
      if (handler) return handler(req, res, requestId, log);
      const handled = await (deps.extraRoutes?.(req, res, requestId) ?? false);
      if (!handled) throw new JitkeyError('not_found', `no route for ${quote(req.method)} ${quote(path)}`);
    };
    work().catch((err: unknown) => {
      const e = asJitkeyError(err);
      // An unexpected failure is logged with its stack (and its cause's) for operators.
      if (e.status >= 500)
        log.error('request failed', { path: truncate(path, MAX_LOGGED_PATH), code: e.code, error: err });
      else
        log.info('request refused', {
          path: truncate(path, MAX_LOGGED_PATH),
          code: e.code,
          reason: e.message,
          // What the caller is not told (which issuers are trusted, say) is for this log.
          ...(e.detail !== undefined ? { detail: e.detail } : {}),
        });
      if (res.headersSent) return void res.destroy();
      // A body we stopped reading (oversize, too slow) is not drained: the connection goes.
      if (!req.complete) res.setHeader('connection', 'close');
      sendError(res, e, requestId);
    });
  };
}

export function createServer(deps: AppDeps): Server {
  const limits = limitsOf(deps);
  const refusals = deps.refusals ?? createRefusalFold({ now: deps.now, requestId: newRequestId });
  const server = createHttpServer(
    {
      keepAliveTimeout: 65_000,
      // Node's own backstop for the whole request; the body timeout above answers sooner.
      requestTimeout: limits.headersTimeoutMs + limits.bodyTimeoutMs + 5_000,
      headersTimeout: limits.headersTimeoutMs,
      // How often Node checks those two timeouts (default 30 s, which lets a slow client
      // hold its connection three times longer than the timeout says).
      connectionsCheckingInterval: 1_000,
      // Room above the 16 KiB token limit, so an oversize token gets our 401 that says why
      // rather than Node's bare 431.
      maxHeaderSize: 32 * 1024,
    },
    createApp({ ...deps, refusals }),
  );
  // A fold handed in is written by its owner (`jitkey serve`, which awaits the last rows before
  // closing the store); one made here is written here.
  if (!deps.refusals) {
    const folded = writeFoldedRefusals(refusals, deps);
    server.on('close', () => void folded.stop());
  }
  gateServer(server, limits, deps.proxyTrust ?? NO_TRUSTED_PROXIES, (reason) =>
    deps.metrics.gateClosed.inc({ reason }),
  );
  return server;
}
