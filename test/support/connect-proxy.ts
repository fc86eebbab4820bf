/**
 * A loopback forward proxy that records what passed through it, as a corporate proxy in front of a
 * self-hosted runner would see it: `CONNECT host:port` tunnels (https: the proxy sees only
 * encrypted bytes) and plain-http requests in absolute form (`GET http://host/path`). Names are
 * resolved through `hosts` (the proxy knows names the runner cannot resolve), and with
 * `credentials` it answers 407 unless Proxy-Authorization carries them.
 *
 *   const proxy = await startConnectProxy({ hosts: { 'jitkey.test': '127.0.0.1' }, credentials });
 *   HTTPS_PROXY=proxy.url …
 *   proxy.records;        // [{ method: 'CONNECT', target: 'jitkey.test:443', authorized: true }]
 *   proxy.tunnelled();    // every byte clients sent into tunnels
 */
import { createServer, type IncomingMessage, request } from 'node:http';
import { type AddressInfo, connect, type Socket } from 'node:net';

export interface ProxyRecord {
  method: string;
  /** `host:port` for CONNECT, the absolute URL otherwise. */
  target: string;
  /** Proxy-Authorization matched the credentials (true when none are required). */
  authorized: boolean;
  /** Whether a Proxy-Authorization header came at all. */
  sentCredentials: boolean;
}

export interface ConnectProxy {
  url: string;
  port: number;
  records: ProxyRecord[];
  tunnelled(): Buffer;
  stop(): Promise<void>;
}

export async function startConnectProxy(
  options: { hosts?: Record<string, string>; credentials?: { user: string; password: string } } = {},
): Promise<ConnectProxy> {
  const records: ProxyRecord[] = [];
  const tunnelled: Buffer[] = [];
  const sockets = new Set<Socket>();
  const expected = options.credentials
    ? `Basic ${Buffer.from(`${options.credentials.user}:${options.credentials.password}`).toString('base64')}`
    : undefined;
  const resolve = (host: string) => options.hosts?.[host.toLowerCase()] ?? host;
  const record = (req: IncomingMessage) => {
    const sent = req.headers['proxy-authorization'];
    const entry = {
      method: req.method ?? '',
      target: req.url ?? '',
      authorized: expected === undefined || sent === expected,
      sentCredentials: sent !== undefined,
    };
    records.push(entry);
    return entry;
  };

  const server = createServer((req, res) => {
    const entry = record(req);
    if (!entry.authorized) {
      res.writeHead(407, { 'proxy-authenticate': 'Basic realm="test"' }).end();
      return;
    }
    const target = new URL(req.url ?? '');
    const headers = { ...req.headers };
    delete headers['proxy-authorization'];
    const upstream = request(
      {
        host: resolve(target.hostname),
        port: Number(target.port || 80),
        method: req.method,
        path: `${target.pathname}${target.search}`,
        headers,
        agent: false,
      },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    upstream.on('error', () => res.writeHead(502).end());
    req.pipe(upstream);
  });

  server.on('connect', (req: IncomingMessage, client: Socket, head: Buffer) => {
    sockets.add(client);
    client.on('close', () => sockets.delete(client));
    client.on('error', () => {});
    const entry = record(req);
    if (!entry.authorized) {
      client.end(
        'HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm="test"\r\n\r\n',
      );
      return;
    }
    const at = (req.url ?? '').lastIndexOf(':');
    const host = (req.url ?? '').slice(0, at).replace(/^\[|\]$/g, '');
    const upstream = connect(Number((req.url ?? '').slice(at + 1)), resolve(host));
    sockets.add(upstream);
    upstream.on('close', () => sockets.delete(upstream));
    upstream.on('error', () => client.destroy());
    upstream.on('connect', () => {
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      if (head.length) {
        tunnelled.push(head);
        upstream.write(head);
      }
      client.on('data', (chunk: Buffer) => tunnelled.push(chunk));
      client.pipe(upstream);
      upstream.pipe(client);
    });
  });

  await new Promise<void>((res) => server.listen(0, '127.0.0.1', () => res()));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    records,
    tunnelled: () => Buffer.concat(tunnelled),
    stop: () =>
      new Promise<void>((res) => {
        for (const s of sockets) s.destroy();
        server.close(() => res());
        server.closeAllConnections();
      }),
  };
}
