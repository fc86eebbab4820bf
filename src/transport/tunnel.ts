/**
 * https through a forward proxy: `CONNECT host:port`, then TLS inside the tunnel, verified against
 * the target's name as a direct connection is. The tunnels are pooled like direct connections
 * (one per target, kept alive), by an https agent whose connections are these tunnels.
 */
import { request as httpRequest } from 'node:http';
import type { AgentOptions, Agent as HttpsAgent } from 'node:https';
import type { Socket } from 'node:net';
import type { ConnectionOptions } from 'node:tls';
import { ActionError } from '../shared/errors.js';
import type { ProxyRoute } from './proxy.js';

type AgentClass = new (options: AgentOptions) => HttpsAgent;
type Created = (error: Error | null, socket?: Socket) => void;

export function tunnelAgent(Agent: AgentClass, options: AgentOptions, proxy: ProxyRoute): HttpsAgent {
  const agent = new Agent(options);
  // node's agents accept a connection handed over later, through the callback.
  (agent as unknown as { createConnection: unknown }).createConnection = (
    target: ConnectionOptions & { host: string; port: number; tunnelSignal?: AbortSignal },
    created: Created,
  ) => {
    Promise.all([
      connectTunnel(proxy, `${target.host}:${target.port || 443}`, target.tunnelSignal),
      import('node:tls'),
    ]).then(
      ([socket, tls]) => created(null, tls.connect({ ...target, socket })),
      (error: Error) => created(error),
    );
    return undefined;
  };
  return agent;
}

/** `CONNECT host:port` through the proxy; resolves with the open tunnel. */
function connectTunnel(proxy: ProxyRoute, authority: string, signal?: AbortSignal): Promise<Socket> {
  const headers: Record<string, string> = { host: authority };
  if (proxy.authorization) headers['proxy-authorization'] = proxy.authorization;
  return new Promise((resolve, reject) => {
    const connect = httpRequest({
      method: 'CONNECT',
      host: proxy.hostname.replace(/^\[|\]$/g, ''),
      port: proxy.port,
      path: authority,
      headers,
      agent: false,
      ...(signal ? { signal } : {}),
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

export function proxyAuthRefused(proxy: ProxyRoute): ActionError {
  return new ActionError(
    'unreachable',
    `The proxy ${proxy.origin} (${proxy.variable}) wants credentials (407 Proxy Authentication Required): ` +
      `${proxy.authorization ? 'it refused the user and password in' : 'put user:password@ into'} ${proxy.variable}`,
  );
}
