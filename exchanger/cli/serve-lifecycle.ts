/**
 * A `jitkey serve` process's life after wiring: it listens, says so once, and answers signals.
 * SIGHUP reloads the policy (in one process; a worker reloads only when its primary says so),
 * SIGTERM and SIGINT stop accepting, let in-flight requests finish (at most 25 s), then `finish`.
 */
import type { Server } from 'node:http';
import type { Logger } from '../log.js';
import type { WorkerLink } from './cluster-worker.js';

const SHUTDOWN_GRACE_MS = 25_000;
/**
 * Connections the kernel queues before they are accepted. Node's default, 511, overflows when a
 * matrix of a thousand jobs connects at once: each SYN beyond it is dropped and retried by the
 * client a second later. Linux caps it at net.core.somaxconn (4096 by default since 5.4).
 */
const LISTEN_BACKLOG = 4096;

export function onSignals(o: {
  server: Server;
  log: Logger;
  link: WorkerLink | undefined;
  reload: () => Promise<void>;
  /** After the last request: background work stopped, the store closed. */
  finish: () => Promise<unknown>;
}): void {
  const { server, log } = o;
  // A SIGHUP sent to the whole process group must not make one worker decide alone, nor end it
  // (SIGHUP's default action).
  process.on('SIGHUP', () =>
    o.link ? log.debug('SIGHUP ignored: the primary reloads workers') : void o.reload(),
  );
  let stopping = false;
  const shutdown = (sig: string) => {
    if (stopping) return;
    stopping = true;
    log.info('shutting down: finishing in-flight requests', { signal: sig });
    const force = setTimeout(() => server.closeAllConnections(), SHUTDOWN_GRACE_MS).unref();
    // Keep-alive connections go idle as their last response finishes: close them as they do.
    const reap = setInterval(() => server.closeIdleConnections(), 50).unref();
    server.close(() => {
      clearTimeout(force);
      clearInterval(reap);
      o.finish().finally(() => {
        log.info('stopped');
        process.exit(0);
      });
    });
    server.closeIdleConnections();
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
}

/** Listens on `host:port` (0: any free port); resolves with the URL it is reached at. */
export async function listen(server: Server, host: string, port: number): Promise<string> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ port, host, backlog: LISTEN_BACKLOG }, () => resolve());
  });
  const address = server.address();
  const boundPort = typeof address === 'object' && address ? address.port : port;
  return `http://${host.includes(':') ? `[${host}]` : host}:${boundPort}`;
}
