/**
 * Who may talk to the agent: only the job's own user (and root, which can read the agent's memory
 * anyway). Google's clients send no token to a metadata server, so for the GCP endpoint this is
 * what keeps another local user's process from taking the job's token.
 *
 * On Linux the kernel says which user owns the other end of a loopback TCP connection: the client
 * socket's row in /proc/net/tcp (local address = the connection's remote end, remote address =
 * the agent's port) carries its owner's uid. No iptables, no root, the same on hosted and
 * self-hosted runners. Elsewhere (macOS, Windows) there is no such table: `peerCheck` is undefined.
 */
import { readFile } from 'node:fs/promises';
import { isIPv4, type Socket } from 'node:net';
import { endianness } from 'node:os';

export const PROC_NET_TCP = '/proc/net/tcp';

export interface Endpoint {
  address: string;
  port: number;
}

/** An IPv4 endpoint as /proc/net/tcp prints it: the address as the host-order u32 in hex, then the port. */
export function procEndpoint(endpoint: Endpoint, littleEndian = endianness() === 'LE'): string {
  const bytes = endpoint.address.split('.').map((b) => Number(b).toString(16).padStart(2, '0'));
  if (littleEndian) bytes.reverse();
  const port = endpoint.port.toString(16).padStart(4, '0');
  return `${bytes.join('')}:${port}`.toUpperCase();
}

/**
 * The uid owning the socket whose local end is `client` and remote end `server`, from the text of
 * /proc/net/tcp; undefined when no row matches (the connection is gone, or is not from this host's
 * network namespace).
 */
export function socketOwner(
  table: string,
  client: Endpoint,
  server: Endpoint,
  littleEndian?: boolean,
): number | undefined {
  const local = procEndpoint(client, littleEndian);
  const remote = procEndpoint(server, littleEndian);
  for (const line of table.split('\n')) {
    // sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode …
    const fields = line.trim().split(/\s+/);
    if (fields[1]?.toUpperCase() === local && fields[2]?.toUpperCase() === remote) {
      const uid = Number(fields[7]);
      return Number.isInteger(uid) ? uid : undefined;
    }
  }
  return undefined;
}

export type PeerCheck = (socket: Socket) => Promise<boolean>;

/**
 * The check for this host, or undefined where the kernel has no /proc/net/tcp to read. The answer
 * is remembered per connection (a keep-alive connection is one client).
 */
export async function peerCheck(
  allowedUids: readonly number[],
  readTable: () => Promise<string> = () => readFile(PROC_NET_TCP, 'utf8'),
): Promise<PeerCheck | undefined> {
  try {
    await readTable();
  } catch {
    return undefined;
  }
  const verdicts = new WeakMap<Socket, Promise<boolean>>();
  const decide = async (socket: Socket): Promise<boolean> => {
    const { remoteAddress, remotePort, localAddress, localPort } = socket;
    if (!remoteAddress || !remotePort || !localAddress || !localPort) return false;
    if (!isIPv4(remoteAddress) || !isIPv4(localAddress)) return false;
    const uid = socketOwner(
      await readTable(),
      { address: remoteAddress, port: remotePort },
      { address: localAddress, port: localPort },
    );
    return uid !== undefined && allowedUids.includes(uid);
  };
  return (socket) => {
    let verdict = verdicts.get(socket);
    if (!verdict) {
      verdict = decide(socket).catch(() => false);
      verdicts.set(socket, verdict);
    }
    return verdict;
  };
}
