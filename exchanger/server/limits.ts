/**
 * What one client can hold of the server (issue 16, item 1; issue 24, item 13). A request takes
 * an in-flight slot only once its whole body is in, so clients that open connections and trickle
 * bytes cannot starve real jobs; they run into the body timeout and the per-address caps
 * instead, which count only what has not delivered a request (`connection-gate.ts`). A burst
 * over a limit waits in a bounded queue before it is refused. "Address" is the client address
 * (`net/client-address.ts`). The probes are never limited: an orchestrator must not restart a
 * pod because of a flood.
 */
import { JitkeyError } from '../errors.js';
import { limitKey } from '../net/ip.js';

export interface HttpLimits {
  /** Requests being worked on (body read, token being verified) at once. */
  maxInFlight: number;
  /** Requests that wait for an in-flight slot beyond `maxInFlight` before new ones get 429. */
  inFlightQueue: number;
  /** How long a request waits in that queue for a slot before it gets 429. */
  inFlightWaitMs: number;
  /**
   * Per client address: connections that have not delivered a whole request (silent, trickling
   * headers or body, idle between requests), and requests whose body has not arrived. Connections
   * past it wait (`connectionQueuePerPeer`). 0 turns both caps off.
   */
  maxConnectionsPerPeer: number;
  /** Connections per address held unread past that cap; past this they are closed at once. */
  connectionQueuePerPeer: number;
  /** From the end of the headers to the end of the body; then 408 and the connection closes. */
  bodyTimeoutMs: number;
  /**
   * Node's `headersTimeout`: the request line and headers must arrive within this. A connection
   * queued past the per-address cap is closed when it has waited this long.
   */
  headersTimeoutMs: number;
}

export const DEFAULT_LIMITS: HttpLimits = {
  maxInFlight: 4096,
  inFlightQueue: 4096,
  inFlightWaitMs: 5_000,
  // Above what a busy runner host has in progress at one instant; what an attacker holds from
  // one address (silent or slow connections) stays far below the file-descriptor limit.
  maxConnectionsPerPeer: 256,
  // With the cap, room for a matrix of a thousand jobs behind one NAT connecting at the same
  // instant; what an attacker can hold unread from one address for a headers timeout.
  connectionQueuePerPeer: 1024,
  bodyTimeoutMs: 10_000,
  headersTimeoutMs: 10_000,
};

const ENV: Record<keyof HttpLimits, string> = {
  maxInFlight: 'JITKEY_MAX_IN_FLIGHT',
  inFlightQueue: 'JITKEY_IN_FLIGHT_QUEUE',
  inFlightWaitMs: 'JITKEY_IN_FLIGHT_WAIT_MS',
  maxConnectionsPerPeer: 'JITKEY_MAX_CONNECTIONS_PER_PEER',
  connectionQueuePerPeer: 'JITKEY_CONNECTION_QUEUE_PER_PEER',
  bodyTimeoutMs: 'JITKEY_BODY_TIMEOUT_MS',
  headersTimeoutMs: 'JITKEY_HEADERS_TIMEOUT_MS',
};

/** Settings where 0 means something (a cap off, no queue), and what, for the error message. */
const ZERO_MEANS: Partial<Record<keyof HttpLimits, string>> = {
  maxConnectionsPerPeer: '0 turns the cap off',
  connectionQueuePerPeer: '0: no queue',
  inFlightQueue: '0: no queue',
  inFlightWaitMs: '0: no wait',
};

/** The limits an operator set in the environment; a value that is not a whole number is refused. */
export function limitsFromEnv(env: NodeJS.ProcessEnv): Partial<HttpLimits> {
  const limits: Partial<HttpLimits> = {};
  for (const [key, name] of Object.entries(ENV) as [keyof HttpLimits, string][]) {
    const text = env[name];
    if (text === undefined || text === '') continue;
    const value = Number(text);
    const zero = ZERO_MEANS[key];
    if (!Number.isSafeInteger(value) || value < (zero ? 0 : 1)) {
      throw new Error(`${name} must be a whole number${zero ? ` (${zero})` : ' above 0'}, got '${text}'`);
    }
    limits[key] = value;
  }
  return limits;
}

/**
 * Counts what each key (a client address) holds and refuses past the cap; `onClose` is handed
 * the release, to call once the thing counted ends. The map holds only keys with something
 * counted, so it is bounded by what it counts.
 */
export function peerConnectionCap(
  max: number,
): (peer: string, onClose: (release: () => void) => void) => boolean {
  const open = new Map<string, number>();
  return (peer, onClose) => {
    if (max === 0) return true;
    const count = open.get(peer) ?? 0;
    if (count >= max) return false;
    open.set(peer, count + 1);
    onClose(() => {
      const left = (open.get(peer) ?? 1) - 1;
      if (left === 0) open.delete(peer);
      else open.set(peer, left);
    });
    return true;
  };
}

export interface InFlightSlots {
  /**
   * A slot, now or once one frees within the wait; 429 `rate_limited` when the queue is full or
   * the wait ends. `onGone` is handed a cancel to call when the client goes away meanwhile.
   * The release the promise gives may be called more than once.
   */
  take(onGone: (cancel: () => void) => void): Promise<() => void>;
  /** A slot if one is free now, without waiting (for requests that must not be held). */
  tryTake(): (() => void) | undefined;
  /** Slots taken now (tests, metrics). */
  inUse(): number;
}

/**
 * Requests worked on at once, with a bounded queue in front: a burst slightly over the limit
 * waits a moment for a slot instead of being refused; slots are handed over in arrival order.
 */
export function inFlightSlots(
  limits: Pick<HttpLimits, 'maxInFlight' | 'inFlightQueue' | 'inFlightWaitMs'>,
): InFlightSlots {
  let used = 0;
  const waiting: Array<() => void> = [];
  const atCapacity = () =>
    new JitkeyError('rate_limited', 'the exchanger is at capacity; retry shortly', { retryAfter: 1 });
  const releaser = () => {
    let done = false;
    return () => {
      if (done) return;
      done = true;
      const next = waiting.shift();
      if (next) next();
      else used--;
    };
  };
  const slots: InFlightSlots = {
    inUse: () => used,
    tryTake() {
      if (used >= limits.maxInFlight) return undefined;
      used++;
      return releaser();
    },
    take(onGone) {
      const now = slots.tryTake();
      if (now) return Promise.resolve(now);
      if (waiting.length >= limits.inFlightQueue || limits.inFlightWaitMs === 0)
        return Promise.reject(atCapacity());
      return new Promise((resolve, reject) => {
        const leave = () => {
          clearTimeout(timer);
          const at = waiting.indexOf(grant);
          if (at >= 0) waiting.splice(at, 1);
        };
        const grant = () => {
          clearTimeout(timer);
          resolve(releaser());
        };
        const timer = setTimeout(() => {
          leave();
          reject(atCapacity());
        }, limits.inFlightWaitMs);
        waiting.push(grant);
        onGone(() => {
          if (!waiting.includes(grant)) return;
          leave();
          reject(
            new JitkeyError('invalid_request', 'the client went away while its request waited for a slot'),
          );
        });
      });
    },
  };
  return slots;
}

/** What a slot is held until: the response's 'close' (sent, or the client gone). */
type Closes = { once(event: 'close', listener: () => void): unknown };

/** Waits (bounded) for an in-flight slot and holds it until `res` closes. */
export function slotUntilClose(slots: InFlightSlots, res: Closes): Promise<void> {
  return new Promise((resolve, reject) => {
    let closed = false;
    let cancel = () => {};
    let release: (() => void) | undefined;
    res.once('close', () => {
      closed = true;
      if (release) release();
      else cancel();
    });
    slots
      .take((c) => (cancel = c))
      .then((r) => {
        release = r;
        if (closed) r();
        resolve();
      }, reject);
  });
}

/** An in-flight slot held until `res` closes, only if one is free now; 429 otherwise. */
export function slotNowUntilClose(slots: InFlightSlots, res: Closes): void {
  const release = slots.tryTake();
  if (!release)
    throw new JitkeyError('rate_limited', 'the exchanger is at capacity; retry shortly', { retryAfter: 1 });
  res.once('close', release);
}

/**
 * Request bodies still arriving, per client address (an IPv6 client by its /64): past `max`,
 * 429 at once. For a direct client the connection cap already holds this; behind a trusted
 * proxy (exempt from that cap) this is what holds one client's trickled bodies.
 */
export function bodiesPerClient(max: number): <T>(client: string, read: () => Promise<T>) => Promise<T> {
  const cap = peerConnectionCap(max);
  return async (client, read) => {
    let done = () => {};
    if (!cap(limitKey(client), (release) => (done = release))) {
      throw new JitkeyError(
        'rate_limited',
        `more than ${max} requests from this address are still sending their body; retry shortly`,
        { retryAfter: 1 },
      );
    }
    try {
      return await read();
    } finally {
      done();
    }
  };
}
