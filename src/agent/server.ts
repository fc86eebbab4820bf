/**
 * The agent's HTTP surface on 127.0.0.1: the credential kind's endpoints (`kinds.ts`) and, for the
 * post step, `GET /v1/agent/status` and `POST /v1/agent/shutdown`. Each request passes, in order:
 *
 * - the peer check (`peer.ts`): the connection is from the job's own user, else `403`;
 * - the `Host` check: only the names the clients send (`127.0.0.1:PORT`, `localhost:PORT`, and the
 *   kind's own, e.g. `metadata.google.internal`), else `403`. A page in a browser of the job that
 *   DNS-rebinds its own name onto 127.0.0.1 sends its own name, and browsers cannot set `Host`;
 * - the bearer token for every request but GCP's metadata ones (raw, as AWS SDKs send
 *   AWS_CONTAINER_AUTHORIZATION_TOKEN, or as `Bearer <token>`), compared in constant time.
 */
import { timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { CredentialKind } from './kinds.js';
import type { PeerCheck } from './peer.js';
import type { Renewer } from './renewer.js';

export interface AgentServerOptions {
  bearer: string;
  kind: CredentialKind;
  renewer: Renewer;
  now: () => number;
  /** Called after the shutdown answer is sent. */
  onShutdown: () => void;
  /** Whether a connection is from the job's own user; undefined where it cannot be told. */
  peer?: PeerCheck;
}

/** `Host` values this agent answers: loopback by the port it listens on, and the kind's names. */
export function hostAllowed(
  host: string | undefined,
  port: number,
  kindHosts: readonly string[] = [],
): boolean {
  if (!host) return false;
  const h = host.toLowerCase();
  if (h === `127.0.0.1:${port}` || h === `localhost:${port}`) return true;
  return kindHosts.some((name) => h === name || h === `${name}:${port}`);
}

function authorized(req: IncomingMessage, bearer: string): boolean {
  const header = req.headers.authorization ?? '';
  const given = Buffer.from(header.replace(/^Bearer\s+/i, ''));
  const want = Buffer.from(bearer);
  return given.length === want.length && timingSafeEqual(given, want);
}

function send(res: ServerResponse, status: number, body: string, headers: Record<string, string> = {}): void {
  res.writeHead(status, {
    'cache-control': 'no-store',
    'content-length': Buffer.byteLength(body),
    ...headers,
  });
  res.end(body);
}

const json = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) =>
  send(res, status, JSON.stringify(body), { 'content-type': 'application/json', ...headers });

export function createAgentServer(options: AgentServerOptions): Server {
  const { kind, renewer } = options;
  let shuttingDown = false;
  return createServer(async (req, res) => {
    req.resume();
    if (options.peer && !(await options.peer(req.socket))) {
      json(
        res,
        403,
        { message: "the jitkey agent answers only the job's own user; this connection is another user's" },
        kind.headers,
      );
      return;
    }
    if (!hostAllowed(req.headers.host, req.socket.localPort ?? 0, kind.hosts)) {
      json(
        res,
        403,
        {
          message:
            "the jitkey agent answers only Host 127.0.0.1:PORT or localhost:PORT (and its kind's names)",
        },
        kind.headers,
      );
      return;
    }
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    const control = path.startsWith('/v1/agent/');
    if ((control || kind.bearer) && !authorized(req, options.bearer)) {
      json(
        res,
        401,
        {
          message:
            "the jitkey agent needs its token (AWS_CONTAINER_AUTHORIZATION_TOKEN, or JITKEY_AGENT_TOKEN in the kubeconfig's exec env)",
        },
        kind.headers,
      );
      return;
    }
    if (path === '/v1/agent/status' && req.method === 'GET') {
      json(res, 200, renewer.status());
      return;
    }
    if (path === '/v1/agent/shutdown' && req.method === 'POST') {
      if (shuttingDown) {
        json(res, 409, { message: 'already shutting down' });
        return;
      }
      shuttingDown = true;
      void renewer.stop().then((result) => {
        json(res, 200, { ...renewer.status(), ...result });
        res.on('finish', options.onShutdown);
      });
      return;
    }
    const current = renewer.current();
    if ('reason' in current) {
      json(res, 503, { message: current.reason }, kind.headers);
      return;
    }
    const answer = kind.answer(
      { method: req.method ?? 'GET', path, headers: req.headers },
      current.lease,
      options.now(),
    );
    if (!answer) {
      json(res, 404, { message: `no such path on the jitkey agent: ${path}` }, kind.headers);
      return;
    }
    send(res, answer.status, answer.body, answer.headers);
  });
}
