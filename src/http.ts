/**
 * The Action's one HTTP transport: a single request with node:http (or https), not the global
 * fetch. fetch loads undici on first use (about 8 ms on Node 24, 23 ms on Node 20) and keeps its
 * sockets alive, which holds the process open for tens of milliseconds after the last answer; a
 * step makes two or three requests and exits, so each request gets its own connection, closed
 * after the answer (no agent: `Connection: close`).
 *
 * Redirects are never followed: the caller sees the 3xx (and refuses it, retry.ts), so a token in
 * a header or body is never re-sent to another address. Proxies come from the environment
 * (proxy.ts): https targets through a CONNECT tunnel, http targets with the absolute URL.
 */
import type { ClientRequest, IncomingHttpHeaders, IncomingMessage, RequestOptions } from 'node:http';
import { request as httpRequest } from 'node:http';
import type { Socket } from 'node:net';
import { ActionError } from './errors.js';
import { type ProxyRoute, proxyFor } from './proxy.js';

export interface HttpRequest {
  method: 'GET' | 'POST';
  url: URL;
  headers: Record<string, string>;
  body?: string;
  /** Aborts the request, including reading the answer (the retry loop's timeout). */
  signal: AbortSignal;
}

export interface HttpResponse {
  status: number;
  headers: IncomingHttpHeaders;
  /** The whole body, as text: every answer the Action reads is small JSON. */
  body: string;
}

export type Send = (request: HttpRequest) => Promise<HttpResponse>;

/** Larger answers are not the exchanger's or the runner's: refused rather than buffered. */
export const MAX_RESPONSE_BYTES = 1 << 20;

export function createSend(env: Readonly<Record<string, string | undefined>>): Send {
  return async (req) => {
    const proxy = proxyFor(req.url, env);
    const headers: Record<string, string> = { ...req.headers, host: req.url.host };
    if (req.body !== undefined) headers['content-length'] = String(Buffer.byteLength(req.body));
    const base: RequestOptions = { method: req.method, headers, signal: req.signal };
    if (proxy && req.url.protocol === 'https:') {
      const tunnel = await connectTunnel(proxy, req.url, req.signal);
      const { connect } = await import('node:tls');
      const tls = connect({ socket: tunnel, ...serverName(req.url) });
      return exchange(httpRequest({ ...base, path: pathOf(req.url), createConnection: () => tls }), req.body);
    }
    if (proxy) {
      if (proxy.authorization) headers['proxy-authorization'] = proxy.authorization;
      const options = {
        ...base,
        host: bare(proxy.hostname),
        port: proxy.port,
        path: req.url.href,
        agent: false,
      };
      return exchange(httpRequest(options), req.body, proxy);
    }
    if (req.url.protocol === 'https:') {
      const { request } = await import('node:https');
      return exchange(request(req.url, { ...base, agent: false }), req.body);
    }
    return exchange(httpRequest(req.url, { ...base, agent: false }), req.body);
  };
}

/** Sends the body, reads the whole answer. */
function exchange(
  request: ClientRequest,
  body: string | undefined,
  proxy?: ProxyRoute,
): Promise<HttpResponse> {
  return new Promise((resolve, reject) => {
    request.on('error', reject);
    request.on('response', (res) => {
      if (proxy && res.statusCode === 407) {
        res.resume();
        reject(proxyAuthRefused(proxy));
        return;
      }
      readBody(res).then(
        (text) => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text }),
        reject,
      );
    });
    request.end(body);
  });
}

function readBody(res: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    res.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_RESPONSE_BYTES) {
        res.destroy();
        reject(new ActionError('bad_response', `The answer is larger than ${MAX_RESPONSE_BYTES} bytes`));
        return;
      }
      chunks.push(chunk);
    });
    res.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    res.on('error', reject);
  });
}

/** `CONNECT host:port` through the proxy; resolves with the open tunnel. */
function connectTunnel(proxy: ProxyRoute, target: URL, signal: AbortSignal): Promise<Socket> {
  const authority = `${target.hostname}:${target.port || 443}`;
  const headers: Record<string, string> = { host: authority };
  if (proxy.authorization) headers['proxy-authorization'] = proxy.authorization;
  return new Promise((resolve, reject) => {
    const connect = httpRequest({
      method: 'CONNECT',
      host: bare(proxy.hostname),
      port: proxy.port,
      path: authority,
      headers,
      agent: false,
      signal,
    });
    connect.on('error', reject);
    connect.on('connect', (res, socket, head) => {
      if (res.statusCode === 200) {
        // Bytes the proxy sent after its answer belong to the tunnel.
        if (head.length) socket.unshift(head);
        return resolve(socket);
      }
      socket.destroy();
      if (res.statusCode === 407) return reject(proxyAuthRefused(proxy));
      // Not an ActionError: a proxy that cannot reach the target now is retried like a network error.
      reject(
        new Error(
          `the proxy ${proxy.origin} (${proxy.variable}) answered ${res.statusCode} to CONNECT ${authority}`,
        ),
      );
    });
    connect.end();
  });
}

function proxyAuthRefused(proxy: ProxyRoute): ActionError {
  return new ActionError(
    'unreachable',
    `The proxy ${proxy.origin} (${proxy.variable}) wants credentials (407 Proxy Authentication Required): ` +
      `${proxy.authorization ? 'it refused the user and password in' : 'put user:password@ into'} ${proxy.variable}`,
  );
}

/** TLS server name and the name the certificate must carry; SNI is for names, never IP addresses. */
function serverName(url: URL): { host: string; servername?: string } {
  const host = bare(url.hostname);
  return /^[\d.]+$|:/.test(host) ? { host } : { host, servername: host };
}

const bare = (hostname: string) => hostname.replace(/^\[|\]$/g, '');
const pathOf = (url: URL) => `${url.pathname}${url.search}`;
