/**
 * The Action's one HTTP transport (main step, post step, credentials agent, exec plugin): node:http
 * and node:https, not the global fetch, which loads undici on first use and keeps sockets that
 * hold the process open after the last answer.
 *
 * - One connection per host at most: each target (or proxy tunnel) has a keep-alive pool of one
 *   socket, so the OIDC token, the exchange, approval polls and the redeem each reuse theirs. An
 *   idle socket is unref'd (node's keep-alive agent does it), so it never keeps the process alive;
 *   `close()` ends them at once.
 * - Answers over `MAX_RESPONSE_BYTES` are refused rather than buffered.
 * - Redirects are never followed: the caller sees the 3xx and refuses it (`call.ts`), so a token in
 *   a header or body is never re-sent to another address.
 * - Proxies come from the environment (`proxy.ts`): https targets through a CONNECT tunnel
 *   (`tunnel.ts`), http targets in absolute form. TLS is verified as node verifies it by default.
 *
 * node:https (and with it node:tls) loads only when a request needs it.
 */
import type { Agent as HttpAgent, IncomingHttpHeaders, IncomingMessage, RequestOptions } from 'node:http';
import { Agent, request as httpRequest } from 'node:http';
import type { Agent as HttpsAgent } from 'node:https';
import { ActionError } from '../shared/errors.js';
import { type EarlyConnections, earlyConnections } from './early.js';
import { type ProxyRoute, proxyFor } from './proxy.js';
import { proxyAuthRefused, tunnelAgent } from './tunnel.js';

export interface HttpRequest {
  method: 'GET' | 'POST';
  url: URL;
  headers: Record<string, string>;
  body?: string;
  /** Aborts the request, including reading the answer (the caller's timeout). */
  signal: AbortSignal;
  /** What is being called, for messages: `the exchanger at https://…`. */
  label?: string;
}

export interface HttpResponse {
  status: number;
  headers: IncomingHttpHeaders;
  /** The whole body, as text: every answer the Action reads is small JSON. */
  body: string;
}

export type Send = (request: HttpRequest) => Promise<HttpResponse>;

export interface Transport {
  send: Send;
  /**
   * Opens the connection to `url`'s host now (`early.ts`), for a request that comes later; direct
   * connections only (through a proxy, the first request opens it).
   */
  preconnect(url: URL): void;
  /** Ends every pooled connection (the step is done). */
  close(): void;
}

/** Larger answers are not the exchanger's, the runner's or the agent's: refused, not buffered. */
export const MAX_RESPONSE_BYTES = 1 << 20;

type Env = Readonly<Record<string, string | undefined>>;

export function createTransport(env: Env, maxResponseBytes = MAX_RESPONSE_BYTES): Transport {
  const direct: Partial<Record<'http:' | 'https:', { agent: HttpAgent; early: EarlyConnections }>> = {};
  const tunnels = new Map<string, HttpsAgent>();
  const pooled = { keepAlive: true, maxSockets: 1 };
  const pool = (protocol: 'http:' | 'https:', agent: HttpAgent) => {
    direct[protocol] ??= { agent, early: earlyConnections(agent) };
    return direct[protocol];
  };

  const agentFor = async (url: URL, proxy: ProxyRoute | undefined): Promise<HttpAgent> => {
    if (url.protocol !== 'https:') return (direct['http:'] ?? pool('http:', new Agent(pooled))).agent;
    const https = await import('node:https');
    if (!proxy) return (direct['https:'] ?? pool('https:', new https.Agent(pooled))).agent;
    const key = `${proxy.origin} ${proxy.authorization ?? ''}`;
    let agent = tunnels.get(key);
    if (!agent) {
      agent = tunnelAgent(https.Agent, pooled, proxy);
      tunnels.set(key, agent);
    }
    return agent;
  };

  const send: Send = async (req) => {
    const proxy = proxyFor(req.url, env);
    const headers: Record<string, string> = { ...req.headers, host: req.url.host };
    if (req.body !== undefined) headers['content-length'] = String(Buffer.byteLength(req.body));
    const agent = await agentFor(req.url, proxy);
    const options: RequestOptions & { tunnelSignal?: AbortSignal } = {
      method: req.method,
      headers,
      signal: req.signal,
      agent,
      tunnelSignal: req.signal,
    };
    let outgoing: ReturnType<typeof httpRequest>;
    if (proxy && req.url.protocol !== 'https:') {
      // http through the proxy: the absolute URL on the proxy's connection.
      if (proxy.authorization) headers['proxy-authorization'] = proxy.authorization;
      outgoing = httpRequest({
        ...options,
        host: bare(proxy.hostname),
        port: proxy.port,
        path: req.url.href,
      });
    } else if (req.url.protocol === 'https:') {
      const { request } = await import('node:https');
      outgoing = request(req.url, options);
    } else {
      outgoing = httpRequest(req.url, options);
    }
    return new Promise((resolve, reject) => {
      outgoing.on('error', reject);
      outgoing.on('response', (res) => {
        if (proxy && req.url.protocol !== 'https:' && res.statusCode === 407) {
          res.resume();
          reject(proxyAuthRefused(proxy));
          return;
        }
        readBody(res, maxResponseBytes, req).then(
          (body) => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }),
          reject,
        );
      });
      outgoing.end(req.body);
    });
  };

  // A step that ended (failed) before its preconnect opened anything has closed the transport:
  // nothing opens after.
  let closed = false;
  return {
    send,
    preconnect: (url) => {
      try {
        if (proxyFor(url, env)) return;
      } catch {
        return; // A bad proxy variable: the request itself says so.
      }
      void agentFor(url, undefined).then(() => {
        if (!closed) direct[url.protocol === 'https:' ? 'https:' : 'http:']?.early.open(url);
      });
    },
    close: () => {
      closed = true;
      for (const { agent, early } of Object.values(direct)) {
        early.close();
        agent.destroy();
      }
      for (const agent of tunnels.values()) agent.destroy();
    },
  };
}

function readBody(res: IncomingMessage, max: number, req: HttpRequest): Promise<string> {
  const tooLarge = () =>
    new ActionError(
      'bad_response',
      `${capitalize(req.label ?? `the server at ${req.url.origin}`)} answered ${res.statusCode} with more than ${max} bytes; ` +
        'an answer that large is not its own: check the URL',
    );
  return new Promise((resolve, reject) => {
    if (Number(res.headers['content-length']) > max) {
      res.destroy();
      reject(tooLarge());
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    res.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > max) {
        res.destroy();
        reject(tooLarge());
        return;
      }
      chunks.push(chunk);
    });
    res.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    res.on('error', reject);
    res.on('close', () => {
      // The caller's signal (a timeout) ended it, or the server closed mid-answer.
      const cause = req.signal.aborted ? { cause: req.signal.reason } : undefined;
      if (!res.complete) reject(new Error('the connection closed before the answer ended', cause));
    });
  });
}

export const bare = (hostname: string) => hostname.replace(/^\[|\]$/g, '');
export const capitalize = (s: string) => s.charAt(0).toUpperCase() + s.slice(1);
