/**
 * Loopback servers a test file opens, each closed after every test with its connections cut
 * first: a server holding a connection that never finishes would otherwise hold `close` open.
 */
import { type AddressInfo, createServer, type Server, type Socket } from 'node:net';
import { afterEach } from 'vitest';

/** Registers the afterEach; returns `listen`, which serves `server` on 127.0.0.1 and resolves to its port. */
export function useLoopbackServers(): (server: Server) => Promise<number> {
  const open: { server: Server; sockets: Set<Socket> }[] = [];
  afterEach(async () => {
    for (const { server, sockets } of open.splice(0)) {
      for (const s of sockets) s.destroy();
      await new Promise((r) => server.close(r));
    }
  });
  return async (server) => {
    const sockets = new Set<Socket>();
    server.on('connection', (s: Socket) => sockets.add(s));
    open.push({ server, sockets });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    return (server.address() as AddressInfo).port;
  };
}

/** A loopback port that was just free: a server listened there and has closed. */
export async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  await new Promise((r) => server.close(r));
  return port;
}
