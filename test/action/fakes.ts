/**
 * Test doubles for the Action's unit tests: a `core` that records every call in order, a clock
 * that `sleep` advances (no real waiting), and a loopback HTTP server that plays the exchanger.
 */
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Deps } from '../../src/client/deps.js';
import type { Core } from '../../src/shared/core.js';
import { createTransport } from '../../src/transport/http.js';

export interface Call {
  method: string;
  args: string[];
}

export interface FakeCore {
  core: Core;
  calls: Call[];
  outputs: Record<string, string>;
  exported: Record<string, string>;
  state: Record<string, string>;
  summary: string[];
  failed: string[];
  log: () => string;
}

export function fakeCore(inputs: Record<string, string> = {}, state: Record<string, string> = {}): FakeCore {
  const calls: Call[] = [];
  const f: Omit<FakeCore, 'core' | 'log'> = {
    calls,
    outputs: {},
    exported: {},
    state: {},
    summary: [],
    failed: [],
  };
  const rec = (method: string, ...args: string[]) => calls.push({ method, args });
  const core: Core = {
    getInput: (name) => {
      rec('getInput', name);
      return inputs[name] ?? '';
    },
    getState: (name) => {
      rec('getState', name);
      return state[name] ?? '';
    },
    setSecret: (s) => rec('setSecret', s),
    setOutput: (n, v) => {
      rec('setOutput', n, v);
      f.outputs[n] = v;
    },
    exportVariable: (n, v) => {
      rec('exportVariable', n, v);
      f.exported[n] = v;
    },
    saveState: (n, v) => {
      rec('saveState', n, v);
      f.state[n] = v;
    },
    debug: (m) => rec('debug', m),
    info: (m) => rec('info', m),
    warning: (m) => rec('warning', m),
    error: (m) => rec('error', m),
    setFailed: (m) => {
      rec('setFailed', m);
      f.failed.push(m);
    },
    appendSummary: (md) => {
      rec('appendSummary', md);
      f.summary.push(md);
      return true;
    },
  };
  const log = () =>
    calls
      .filter((c) => ['info', 'warning', 'error', 'setFailed', 'debug'].includes(c.method))
      .map((c) => `[${c.method}] ${c.args.join(' ')}`)
      .join('\n');
  return { ...f, core, log };
}

export interface FakeDeps extends Deps {
  sleeps: number[];
  clock: { t: number };
}

/**
 * The real transport (to loopback servers; proxies from `env`), each request recorded into `calls`
 * as `send` so ordering checks see what was sent.
 */
export function fakeDeps(fc: FakeCore, env: Record<string, string | undefined> = {}, random = 0.5): FakeDeps {
  const clock = { t: Date.parse('2030-01-01T00:00:00Z') };
  const sleeps: number[] = [];
  const send = createTransport(env).send;
  return {
    core: fc.core,
    env,
    send: (req) => {
      const headers = JSON.stringify(req.headers);
      fc.calls.push({ method: 'send', args: [req.method, req.url.href, headers, req.body ?? ''] });
      return send(req);
    },
    now: () => clock.t,
    sleep: async (ms) => {
      sleeps.push(ms);
      clock.t += ms;
    },
    random: () => random,
    sleeps,
    clock,
  };
}

export interface SeenRequest {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
  json: Record<string, unknown> | undefined;
}

export interface Reply {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
  /** Drop the connection without answering (a network error for the client). */
  destroy?: boolean;
}

export interface FakeServer {
  url: string;
  requests: SeenRequest[];
  stop(): Promise<void>;
}

/** A loopback HTTP server answering each request with `handler`'s reply. */
export async function startFakeServer(
  handler: (req: SeenRequest) => Reply | Promise<Reply>,
): Promise<FakeServer> {
  const requests: SeenRequest[] = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c));
    req.on('end', async () => {
      let json: Record<string, unknown> | undefined;
      try {
        json = body ? (JSON.parse(body) as Record<string, unknown>) : undefined;
      } catch {
        json = undefined;
      }
      const seen = { method: req.method ?? '', path: req.url ?? '', headers: req.headers, body, json };
      requests.push(seen);
      const reply = await handler(seen);
      if (reply.destroy) {
        req.socket.destroy();
        return;
      }
      const text =
        reply.body === undefined
          ? ''
          : typeof reply.body === 'string'
            ? reply.body
            : JSON.stringify(reply.body);
      res.writeHead(reply.status, { 'content-type': 'application/json', ...reply.headers }).end(text);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    stop: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** An unsigned JWT with these claims: enough for the Action, which only decodes it. */
export function fakeJwt(claims: Record<string, unknown>): string {
  const enc = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
  return `${enc({ alg: 'RS256', typ: 'JWT' })}.${enc(claims)}.${Buffer.from(`sig-${Math.random()}`).toString('base64url')}`;
}

export const AWS_LEASE = {
  lease_id: 'lease_0123456789',
  revoke_token: 'rvk_s3cr3t_revoke_token_value',
  role: 'deploy-web-prod',
  provider: 'aws',
  expires_at: '2030-01-01T00:15:00Z',
  credentials: {
    access_key_id: 'ASIAFAKEACCESSKEY01',
    secret_access_key: 'fakeSecretAccessKey/0123456789abcdefghij',
    session_token: 'IQoJb3JpZ2luX2VjEFakeSessionToken+/=',
    expiration: '2030-01-01T00:15:00Z',
    region: 'us-east-1',
  },
};
