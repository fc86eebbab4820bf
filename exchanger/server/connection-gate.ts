/**
 * The per-address connection cap at the TCP level (issue 24, item 13). What an attacker holds
 * is connections that ask for nothing: opened and silent, headers or body trickled, or idle
 * after one cheap request. A legitimate burst (a matrix of jobs behind one NAT) holds
 * connections that deliver their request at once. So the cap counts, per address, only the
 * connections that have not delivered a whole request yet (or sit idle between requests):
 *
 * - under the cap, a new connection is handed to the HTTP parser;
 * - at the cap, an idle keep-alive connection of that address is closed to make room (the
 *   cheapest thing to lose: the client opens another), else the new one waits unread in a
 *   bounded per-address queue until one of that address's connections delivers its request or
 *   closes, for at most the headers timeout; past the queue it is closed at once;
 * - a request delivered (headers and body in) stops counting; its connection counts again once
 *   its answer is sent and it waits for the next request. While an address has connections
 *   queued, its answers carry `Connection: close`, so connections are not kept idle ahead of it.
 *
 * Trusted proxies are exempt: every client behind them shares their address, so the cap could
 * only punish all of them together. Their clients are held to the per-client limit once the
 * request's headers name them (`pendingRequests` in limits.ts).
 */
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { ProxyTrust } from '../net/client-address.js';
import { canonicalAddress, limitKey } from '../net/ip.js';
import type { HttpLimits } from './limits.js';

export interface GateOptions {
  /** Connections per address that have not delivered a request; 0 turns the cap off. */
  max: number;
  /** Connections per address held unread beyond `max`; past it they are closed at once. */
  queue: number;
  /** How long a queued connection waits before it is closed. */
  queueTimeoutMs: number;
  /** Peers the cap does not apply to (trusted proxies). */
  exempt?: (socket: Socket) => boolean;
  /** The key of a socket's peer (an IPv4 address, an IPv6 /64: `limitKey`). */
  addressOf: (socket: Socket) => string;
  /**
   * A connection the gate closed while serving, and why (a metric: a closed connection is
   * otherwise silent). A queued connection is paused, so one its client gave up on is noticed
   * only when its wait ends: it counts as `queue_timeout`.
   */
  onClosed?: (reason: GateCloseReason) => void;
}

/**
 * Why the gate closed a connection: its address's queue was full, it waited in the queue past
 * the headers timeout, or it was an idle keep-alive connection closed to make room.
 */
export type GateCloseReason = 'queue_full' | 'queue_timeout' | 'idle_reclaimed';

export interface ConnectionGate {
  /** A new connection: `admit` is called now, later (from the queue) or never (closed). */
  arrive(socket: Socket, admit: () => void): void;
  /** A request's headers arrived; true when its answer should close the connection. */
  requestStarted(socket: Socket): boolean;
  /** The request's headers and body are in: its connection stops counting. */
  delivered(socket: Socket): void;
  /** The answer is sent and the connection kept: it waits for a request, so it counts. */
  idle(socket: Socket): void;
  /** Closes every queued connection (shutdown). */
  closeQueued(): void;
  /** Counted, queued and idle connections of an address (tests, metrics). */
  stats(address: string): { counted: number; queued: number; idle: number };
}

type State = 'waiting' | 'busy' | 'idle';
interface Tracked {
  address: string;
  state: State;
}
interface Queued {
  socket: Socket;
  admit: () => void;
  timer: NodeJS.Timeout;
}
interface Peer {
  counted: number;
  queued: Queued[];
  /** Insertion order is idle order: the first is the longest idle. */
  idle: Set<Socket>;
}

export function connectionGate(options: GateOptions): ConnectionGate {
  const peers = new Map<string, Peer>();
  const tracked = new WeakMap<Socket, Tracked>();

  const peerOf = (address: string): Peer => {
    let p = peers.get(address);
    if (!p) {
      p = { counted: 0, queued: [], idle: new Set() };
      peers.set(address, p);
    }
    return p;
  };
  const forgetIfEmpty = (address: string, p: Peer) => {
    const empty = p.counted === 0 && p.queued.length === 0 && p.idle.size === 0;
    if (empty && peers.get(address) === p) peers.delete(address);
  };

  const count = (socket: Socket, address: string) => {
    peerOf(address).counted++;
    tracked.set(socket, { address, state: 'waiting' });
    socket.once('close', () => {
      const t = tracked.get(socket);
      if (!t) return;
      tracked.delete(socket);
      // Idle and waiting connections are counted in their address's entry, which therefore
      // exists; a busy one is counted nowhere.
      if (t.state === 'busy') return;
      const p = peerOf(t.address);
      p.idle.delete(socket);
      uncount(t.address, p);
    });
  };

  /** One fewer counted connection: the longest-queued connection of the address may go in. */
  const uncount = (address: string, p: Peer) => {
    p.counted--;
    while (p.counted < options.max && p.queued.length > 0) {
      const next = p.queued.shift()!;
      clearTimeout(next.timer);
      if (next.socket.destroyed) continue;
      count(next.socket, address);
      next.admit();
    }
    forgetIfEmpty(address, p);
  };

  /** Closes the longest-idle connection of the address; true when there was one. */
  const reclaimIdle = (address: string, p: Peer): boolean => {
    const [oldest] = p.idle;
    if (!oldest) return false;
    p.idle.delete(oldest);
    tracked.delete(oldest);
    p.counted--;
    // Closed this turn already (its keep-alive timeout, the client), 'close' not yet emitted.
    if (!oldest.destroyed) {
      oldest.destroy();
      options.onClosed?.('idle_reclaimed');
    }
    forgetIfEmpty(address, p);
    return true;
  };

  return {
    arrive(socket, admit) {
      if (options.max === 0 || options.exempt?.(socket)) return admit();
      const address = options.addressOf(socket);
      const p = peerOf(address);
      if (p.counted < options.max || reclaimIdle(address, p)) {
        count(socket, address);
        return admit();
      }
      if (p.queued.length >= options.queue) {
        socket.destroy();
        options.onClosed?.('queue_full');
        return forgetIfEmpty(address, p);
      }
      const entry: Queued = {
        socket,
        admit,
        timer: setTimeout(() => {
          if (socket.destroyed) return;
          socket.destroy();
          options.onClosed?.('queue_timeout');
        }, options.queueTimeoutMs),
      };
      p.queued.push(entry);
      socket.once('close', () => {
        clearTimeout(entry.timer);
        const at = p.queued.indexOf(entry);
        if (at < 0) return; // admitted meanwhile: counted, and released as such
        p.queued.splice(at, 1);
        forgetIfEmpty(address, p);
      });
    },
    requestStarted(socket) {
      const t = tracked.get(socket);
      if (!t) return false;
      const p = peerOf(t.address);
      if (t.state === 'busy') p.counted++;
      p.idle.delete(socket);
      t.state = 'waiting';
      return p.queued.length > 0;
    },
    delivered(socket) {
      const t = tracked.get(socket);
      if (t?.state !== 'waiting') return;
      t.state = 'busy';
      uncount(t.address, peerOf(t.address));
    },
    idle(socket) {
      const t = tracked.get(socket);
      if (t?.state !== 'busy' || socket.destroyed) return;
      const p = peerOf(t.address);
      t.state = 'idle';
      p.counted++;
      p.idle.add(socket);
    },
    closeQueued() {
      for (const p of peers.values()) for (const q of [...p.queued]) q.socket.destroy();
    },
    stats(address) {
      const p = peers.get(address);
      return { counted: p?.counted ?? 0, queued: p?.queued.length ?? 0, idle: p?.idle.size ?? 0 };
    },
  };
}

/**
 * Puts the gate in front of an HTTP server's parser: connections arrive paused and are handed
 * to Node's HTTP handling only when admitted; requests move their connection between counted
 * and not. `closeIdleConnections` (shutdown) also closes queued connections.
 */
export function gateServer(
  server: Server,
  limits: Pick<HttpLimits, 'maxConnectionsPerPeer' | 'connectionQueuePerPeer' | 'headersTimeoutMs'>,
  trust: ProxyTrust,
  onClosed: (reason: GateCloseReason) => void,
): ConnectionGate {
  const gate = connectionGate({
    onClosed,
    max: limits.maxConnectionsPerPeer,
    queue: limits.connectionQueuePerPeer,
    queueTimeoutMs: limits.headersTimeoutMs,
    exempt: (socket) => trust.proxies.has(canonicalAddress(socket.remoteAddress)),
    addressOf: (socket) => limitKey(canonicalAddress(socket.remoteAddress)),
  });
  // Node's own 'connection' listener is the HTTP parser; it runs only for admitted connections.
  // A documented net.Server option, set after construction as http.createServer has no way in.
  const parser = server.listeners('connection') as ((socket: Socket) => void)[];
  server.removeAllListeners('connection');
  (server as unknown as { pauseOnConnect: boolean }).pauseOnConnect = true;
  server.on('connection', (socket: Socket) =>
    gate.arrive(socket, () => {
      for (const listener of parser) listener.call(server, socket);
      socket.resume();
    }),
  );
  server.prependListener('request', (req: IncomingMessage, res: ServerResponse) => {
    const socket = req.socket;
    if (gate.requestStarted(socket)) res.setHeader('connection', 'close');
    req.once('end', () => gate.delivered(socket));
    res.once('finish', () => {
      gate.delivered(socket);
      gate.idle(socket);
    });
  });
  const closeIdle = server.closeIdleConnections.bind(server);
  server.closeIdleConnections = () => {
    gate.closeQueued();
    closeIdle();
  };
  const closeAll = server.closeAllConnections.bind(server);
  server.closeAllConnections = () => {
    gate.closeQueued();
    closeAll();
  };
  return gate;
}
