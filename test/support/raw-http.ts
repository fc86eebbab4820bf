/**
 * Raw loopback sockets for the HTTP-surface hardening tests: requests that never finish their
 * body, connections from chosen peer addresses (127.0.0.0/8 all reach a server on 127.0.0.1),
 * and answers read byte for byte, so a test can see whether the server closed the connection.
 */
import { connect, type Socket } from 'node:net';

export interface RawConnection {
  socket: Socket;
  /** Everything the server sent so far. */
  received(): string;
  /** Resolves when the server (or the test) closed the connection. */
  closed: Promise<void>;
  /** The socket error's code, if the connection ended with one (ECONNRESET: the server reset it). */
  errorCode(): string | undefined;
}

export async function rawConnect(
  port: number,
  options: { localAddress?: string; host?: string } = {},
): Promise<RawConnection> {
  const socket = connect({
    port,
    host: options.host ?? '127.0.0.1',
    ...(options.localAddress ? { localAddress: options.localAddress } : {}),
  });
  let text = '';
  socket.on('data', (chunk: Buffer) => (text += chunk.toString('latin1')));
  let errorCode: string | undefined;
  socket.on('error', (err: NodeJS.ErrnoException) => (errorCode ??= err.code));
  const closed = new Promise<void>((res) => socket.on('close', () => res()));
  await new Promise<void>((res, rej) => {
    socket.once('connect', res);
    socket.once('error', rej);
  });
  return { socket, received: () => text, closed, errorCode: () => errorCode };
}

/** Sends the head of a POST that announces `declared` body bytes and only `sent` of them. */
export function startSlowPost(
  conn: RawConnection,
  path: string,
  { declared, sent, token = 'junk' }: { declared: number; sent: number; token?: string },
): void {
  conn.socket.write(
    `POST ${path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${token}\r\n` +
      `Content-Type: application/json\r\nContent-Length: ${declared}\r\n\r\n${'{'.repeat(sent)}`,
  );
}

/** The status code of the first answer on the connection, once its head has arrived. */
export async function firstStatus(conn: RawConnection): Promise<number | undefined> {
  for (;;) {
    const m = /^HTTP\/1\.1 (\d{3})/.exec(conn.received());
    if (m) return Number(m[1]);
    const state = await Promise.race([
      conn.closed.then(() => 'closed' as const),
      new Promise((r) => setTimeout(r, 20, 'wait')),
    ]);
    if (state === 'closed') {
      const last = /^HTTP\/1\.1 (\d{3})/.exec(conn.received());
      return last ? Number(last[1]) : undefined;
    }
  }
}
