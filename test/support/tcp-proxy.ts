/**
 * A loopback TCP proxy with an off switch, to put in front of a server (PostgreSQL) and make it
 * look, to the client, as if that server restarted:
 *
 *   const proxy = await startTcpProxy({ host: '127.0.0.1', port: 5432 });
 *   … connect to 127.0.0.1:proxy.port …
 *   proxy.down();   // every proxied connection is reset, new ones are reset on arrival
 *   proxy.hang();   // a server that stops answering: bytes are no longer passed on, either way,
 *                   // on open connections or new ones (which are accepted, then left hanging)
 *   proxy.up();     // connections go through again (hung ones are reset first)
 *   proxy.connections(); proxy.refused();   // how many were proxied / turned away
 *   await proxy.stop();
 *
 * While down the proxy keeps its port (it accepts and resets at once, as a host whose server is
 * not running answers with a reset), so nothing else can take the port in between.
 */
import { createConnection, createServer, type Socket } from 'node:net';

export interface TcpProxy {
  readonly host: string;
  readonly port: number;
  down(): void;
  hang(): void;
  up(): void;
  readonly state: 'up' | 'down' | 'hung';
  connections(): number;
  refused(): number;
  stop(): Promise<void>;
}

export async function startTcpProxy(target: { host: string; port: number }): Promise<TcpProxy> {
  let state: 'up' | 'down' | 'hung' = 'up';
  let proxied = 0;
  let refused = 0;
  const open = new Set<Socket>();

  const reset = (socket: Socket) => {
    if (!socket.destroyed) socket.resetAndDestroy();
  };
  const resetAll = () => {
    for (const socket of [...open]) reset(socket);
    open.clear();
  };

  const server = createServer((client) => {
    client.on('error', () => {});
    if (state === 'down') {
      refused++;
      reset(client);
      return;
    }
    if (state === 'hung') {
      refused++;
      open.add(client);
      client.on('close', () => open.delete(client));
      client.resume(); // read and drop whatever the client sends
      return;
    }
    proxied++;
    const upstream = createConnection(target);
    upstream.on('error', () => reset(client));
    client.on('error', () => reset(upstream));
    open.add(client);
    open.add(upstream);
    const forget = () => {
      open.delete(client);
      open.delete(upstream);
    };
    client.on('close', () => {
      forget();
      upstream.destroy();
    });
    upstream.on('close', () => {
      forget();
      client.destroy();
    });
    // Passed on only while up: a hung proxy drops the bytes, like a server that stopped answering.
    client.on('data', (chunk: Buffer) => {
      if (state === 'up') upstream.write(chunk);
    });
    upstream.on('data', (chunk: Buffer) => {
      if (state === 'up') client.write(chunk);
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;

  return {
    host: '127.0.0.1',
    port,
    get state() {
      return state;
    },
    down() {
      state = 'down';
      resetAll();
    },
    hang() {
      state = 'hung';
    },
    up() {
      // A connection that lost bytes while hung cannot go on: reset it, as a server restart would.
      if (state === 'hung') resetAll();
      state = 'up';
    },
    connections: () => proxied,
    refused: () => refused,
    async stop() {
      state = 'down';
      resetAll();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
