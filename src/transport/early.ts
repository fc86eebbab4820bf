/**
 * A connection opened ahead of its first request: the main step opens the exchanger's (TCP and
 * TLS handshake) while the runner answers the OIDC token request, so the two waits overlap. It
 * becomes the host's one pooled connection when the first request asks for it; until then it is
 * unref'd (it never keeps the process alive). TLS is verified exactly as for any connection: it
 * is the agent's own `createConnection` that opens it.
 */
import type { Agent as HttpAgent } from 'node:http';
import { isIP, type Socket } from 'node:net';

type Created = (error: Error | null, socket?: Socket) => void;
type Create = (options: Record<string, unknown>, created: Created) => Socket | undefined;

export interface EarlyConnections {
  open(url: URL): void;
  close(): void;
}

export function earlyConnections(agent: HttpAgent): EarlyConnections {
  const a = agent as unknown as {
    createConnection: Create;
    options: Record<string, unknown>;
    keepAlive: boolean;
    keepAliveMsecs: number;
  };
  const own = a.createConnection.bind(agent);
  // Node 20's tls.connect drops the agent's `noDelay` and keep-alive options (node 24 applies
  // them), which left Nagle's algorithm on for every https connection: a write could wait for
  // the peer's delayed acknowledgement. So each socket made here gets them set explicitly.
  const tuned = (socket: Socket | undefined) => {
    socket?.setNoDelay(true);
    if (a.keepAlive) socket?.setKeepAlive(true, a.keepAliveMsecs);
    return socket;
  };
  const create: Create = (options, created) =>
    tuned(own(options, (error, socket) => created(error, tuned(socket))));
  const early = new Map<string, Promise<Socket>>();
  const connect = (options: Record<string, unknown>) =>
    new Promise<Socket>((resolve, reject) => {
      const socket = create(options, (error, created) =>
        error ? reject(error) : created && resolve(created),
      );
      if (socket) resolve(socket);
    });
  const keyOf = (host: unknown, port: unknown) => `${String(host)}:${String(port)}`;

  a.createConnection = (options, created) => {
    const key = keyOf(options.host, options.port);
    const pending = early.get(key);
    if (!pending) return create(options, created);
    early.delete(key);
    // An early connection that failed or closed is replaced by a new one, whose error (if any) is
    // the request's.
    const fresh = () => connect(options).then((s) => created(null, s), created);
    pending.then((socket) => {
      if (socket.destroyed) return fresh();
      socket.ref();
      created(null, socket);
    }, fresh);
    return undefined;
  };

  return {
    open(url) {
      const host = url.hostname.replace(/^\[|\]$/g, '');
      const port = Number(url.port || (url.protocol === 'https:' ? 443 : 80));
      const key = keyOf(host, port);
      if (early.has(key)) return;
      // The agent's options (as node's own Agent passes them), then this target's address.
      const pending = connect({ ...a.options, host, port, ...(isIP(host) ? {} : { servername: host }) });
      pending.then(
        (socket) => {
          socket.unref();
          // Its failure is reported by the request that would have used it (on a new connection).
          socket.on('error', () => {});
        },
        () => {},
      );
      early.set(key, pending);
    },
    close() {
      for (const pending of early.values())
        pending.then(
          (s) => s.destroy(),
          () => {},
        );
      early.clear();
    },
  };
}
