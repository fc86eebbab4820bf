/**
 * TLS in front of a loopback http server, with the test certificate for `jitkey.test` and
 * `runner.test` (test/fixtures/tls, signed by a test CA whose key was thrown away): the https
 * exchanger a proxied runner reaches by name. A step trusts it with `NODE_EXTRA_CA_CERTS: TEST_CA`.
 *
 *   const front = await startTlsFront(exchangerPort);   // https://jitkey.test:${front.port}
 *
 * `HOSTS_PRELOAD` (NODE_OPTIONS `--require`) makes a step resolve `*.test` to 127.0.0.1, as a
 * hosts file would, for the runs that go to those names without a proxy.
 */
import { readFileSync } from 'node:fs';
import type { AddressInfo, Socket } from 'node:net';
import { connect } from 'node:net';
import { join } from 'node:path';
import { createServer } from 'node:tls';
import { REPO_ROOT } from './paths.js';

const FIXTURES = join(REPO_ROOT, 'test/fixtures/tls');
export const TEST_CA = join(FIXTURES, 'ca.pem');
export const HOSTS_PRELOAD = join(FIXTURES, 'hosts-preload.cjs');

export interface TlsFront {
  port: number;
  stop(): Promise<void>;
}

export async function startTlsFront(targetPort: number): Promise<TlsFront> {
  const sockets = new Set<Socket>();
  const track = (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => s.destroy());
  };
  // No Nagle on either side, as a TLS terminator in front of a service sets it (nginx's
  // `tcp_nodelay`, load balancers): node:tls and node:net leave it on, and with it each handshake
  // flight waited for the client's delayed acknowledgement, tens of milliseconds a connection.
  const server = createServer(
    {
      noDelay: true,
      cert: readFileSync(join(FIXTURES, 'server.pem')),
      key: readFileSync(join(FIXTURES, 'server-key.pem')),
    },
    (client) => {
      const upstream = connect({ port: targetPort, host: '127.0.0.1', noDelay: true });
      track(client);
      track(upstream);
      client.pipe(upstream);
      upstream.pipe(client);
    },
  );
  await new Promise<void>((res) => server.listen(0, '127.0.0.1', () => res()));
  return {
    port: (server.address() as AddressInfo).port,
    stop: () =>
      new Promise<void>((res) => {
        for (const s of sockets) s.destroy();
        server.close(() => res());
      }),
  };
}
