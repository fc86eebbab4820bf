/**
 * The two ways out under the HTTP client (http-client.ts): Node's `fetch`, or node:http(s) with a
 * CA and a client certificate of our own (the Kubernetes API server). Each sends one request and
 * hands back the status, the headers and the body as it streams; redirects are never followed.
 */
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';

export interface Sent {
  status: number;
  header(name: string): string | undefined;
  body: AsyncIterable<Uint8Array>;
  /** Drops the rest of the body (and the connection, where it cannot be reused). */
  cancel(): void;
}

export type Transport = (request: {
  method: string;
  url: URL;
  headers: Record<string, string>;
  body: string | undefined;
  signal: AbortSignal;
}) => Promise<Sent>;

export function fetchTransport(fetchFn: typeof fetch = globalThis.fetch): Transport {
  return async ({ method, url, headers, body, signal }) => {
    const res = await fetchFn(url, { method, headers, body, redirect: 'manual', signal });
    return {
      status: res.status,
      header: (name) => res.headers.get(name) ?? undefined,
      body: res.body ?? (async function* () {})(),
      cancel: () => void res.body?.cancel().catch(() => {}),
    };
  };
}

export interface TlsOptions {
  /** PEM of the CA to trust instead of the system's. */
  ca?: string;
  /** Client certificate authentication (PEM). */
  cert?: string;
  key?: string;
}

export function nodeTransport(tls: TlsOptions = {}): Transport {
  return ({ method, url, headers, body, signal }) =>
    new Promise<Sent>((resolve, reject) => {
      const https = url.protocol === 'https:';
      const options = {
        method,
        host: url.hostname.replace(/^\[|\]$/g, ''),
        port: url.port || (https ? 443 : 80),
        path: `${url.pathname}${url.search}`,
        // Node frames a body (a DELETE's too) only when told its length.
        headers:
          body === undefined ? headers : { ...headers, 'content-length': String(Buffer.byteLength(body)) },
        signal,
        ...(https && tls.ca ? { ca: tls.ca } : {}),
        ...(https && tls.cert && tls.key ? { cert: tls.cert, key: tls.key } : {}),
      };
      const req = (https ? httpsRequest : httpRequest)(options, (res: IncomingMessage) =>
        resolve({
          status: res.statusCode ?? 0,
          header: (name) => {
            const v = res.headers[name.toLowerCase()];
            return Array.isArray(v) ? v.join(', ') : v;
          },
          body: res,
          cancel: () => res.destroy(),
        }),
      );
      req.on('error', reject);
      req.end(body);
    });
}
