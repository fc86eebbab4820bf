/**
 * What one client can hold of the server (issue 16, item 1). A request takes an in-flight slot
 * only once its whole body is in, so clients that open connections and trickle bytes cannot
 * starve real jobs; they run into the body timeout and the per-peer connection cap instead.
 * The probes are never limited: an orchestrator must not restart a pod because of a flood.
 */
export interface HttpLimits {
  /** Requests being worked on (body read, token being verified) before new ones get 429. */
  maxInFlight: number;
  /** Open connections per peer address; the next one is closed at once. 0 turns the cap off. */
  maxConnectionsPerPeer: number;
  /** From the end of the headers to the end of the body; then 408 and the connection closes. */
  bodyTimeoutMs: number;
  /** Node's `headersTimeout`: the request line and headers must arrive within this. */
  headersTimeoutMs: number;
}

export const DEFAULT_LIMITS: HttpLimits = {
  maxInFlight: 4096,
  // Above what a busy runner host opens (each job holds one connection at a time), below what
  // exhausts the process's file descriptors. Behind a proxy every client shares its address:
  // raise it there, or set 0 and let the proxy cap clients.
  maxConnectionsPerPeer: 256,
  bodyTimeoutMs: 10_000,
  headersTimeoutMs: 10_000,
};

const ENV: Record<keyof HttpLimits, string> = {
  maxInFlight: 'JITKEY_MAX_IN_FLIGHT',
  maxConnectionsPerPeer: 'JITKEY_MAX_CONNECTIONS_PER_PEER',
  bodyTimeoutMs: 'JITKEY_BODY_TIMEOUT_MS',
  headersTimeoutMs: 'JITKEY_HEADERS_TIMEOUT_MS',
};

/** The limits an operator set in the environment; a value that is not a whole number is refused. */
export function limitsFromEnv(env: NodeJS.ProcessEnv): Partial<HttpLimits> {
  const limits: Partial<HttpLimits> = {};
  for (const [key, name] of Object.entries(ENV) as [keyof HttpLimits, string][]) {
    const text = env[name];
    if (text === undefined || text === '') continue;
    const value = Number(text);
    const zeroAllowed = key === 'maxConnectionsPerPeer';
    if (!Number.isSafeInteger(value) || value < (zeroAllowed ? 0 : 1)) {
      throw new Error(
        `${name} must be a whole number${zeroAllowed ? ' (0 turns the cap off)' : ' above 0'}, got '${text}'`,
      );
    }
    limits[key] = value;
  }
  return limits;
}

/**
 * Counts open connections per peer address and refuses those past the cap. The map holds only
 * peers with open connections, so it is bounded by the connections themselves.
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
