/**
 * A loopback reverse proxy, as an Ingress controller or load balancer in front of the exchanger:
 * every request is passed on over its own upstream connection (so the exchanger sees one peer,
 * the proxy, for every client) with the client's socket address appended to
 * `X-Forwarded-For`. Bodies are streamed as they arrive, not buffered, so a client trickling a
 * body trickles it to the exchanger too.
 *
 *   const proxy = await startForwardingProxy({ port: app.port });
 *   fetch(`${proxy.url}/v1/exchange`, …);
 *   await proxy.stop();
 */
import { createServer, request } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export interface ForwardingProxy {
  url: string;
  port: number;
  stop(): Promise<void>;
}

export async function startForwardingProxy(target: {
  port: number;
  host?: string;
}): Promise<ForwardingProxy> {
  const sockets = new Set<Socket>();
  const server = createServer((req, res) => {
    const client = req.socket.remoteAddress ?? '';
    const prior = req.headers['x-forwarded-for'];
    const upstream = request(
      {
        host: target.host ?? '127.0.0.1',
        port: target.port,
        method: req.method,
        path: req.url,
        headers: { ...req.headers, 'x-forwarded-for': prior ? `${prior}, ${client}` : client },
        agent: false,
      },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    upstream.on('socket', (s) => {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
    });
    upstream.on('error', () => {
      if (!res.headersSent) res.writeHead(502, { connection: 'close' }).end('upstream connection failed');
      else res.destroy();
    });
    req.on('close', () => {
      if (!req.complete) upstream.destroy();
    });
    req.pipe(upstream);
  });
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((res) => server.listen({ port: 0, host: '127.0.0.1', backlog: 4096 }, () => res()));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    stop: () =>
      new Promise<void>((res) => {
        for (const s of sockets) s.destroy();
        server.close(() => res());
      }),
  };
}
