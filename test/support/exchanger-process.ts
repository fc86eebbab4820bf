/**
 * Starts `jitkey serve` as a real child process (the compiled CLI in lib/, built by
 * `npm run build:exchanger`, which `npm test` runs first) on a random loopback port.
 *
 *   const ex = await startExchanger({ policy: yamlText, env: { AWS_ENDPOINT_URL_STS: sts.url } });
 *   await fetch(`${ex.url}/v1/exchange`, …);
 *   ex.output();      // everything the process wrote (JSON log lines), for leak checks
 *   await ex.stop();  // SIGTERM, waits for exit
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CLI, REPO_ROOT } from './paths.js';

export { CLI, REPO_ROOT };

const START_DEADLINE_MS = 30_000;

export interface ExchangerProcess {
  url: string;
  port: number;
  policyPath: string;
  /** `sqlite:PATH` or the postgres URL it was started with. */
  store: string;
  /** The SQLite file, when the store is SQLite. */
  storePath?: string;
  child: ChildProcess;
  output(): string;
  /** Sends a signal without waiting (SIGHUP to reload, SIGKILL for fault tests). */
  signal(sig: NodeJS.Signals): void;
  stop(sig?: NodeJS.Signals): Promise<number | null>;
  exited: Promise<number | null>;
}

export interface StartOptions {
  policy?: string;
  policyPath?: string;
  /** Default: a fresh SQLite file in a temp directory. */
  store?: string;
  env?: Record<string, string>;
  args?: string[];
  port?: number;
  /** Leave `--workers` to `jitkey serve`'s default (otherwise `--workers 1`). */
  defaultWorkers?: boolean;
}

export async function startExchanger(options: StartOptions): Promise<ExchangerProcess> {
  const dir = mkdtempSync(join(tmpdir(), 'jitkey-ex-'));
  const policyPath = options.policyPath ?? join(dir, 'policy.yaml');
  if (options.policy !== undefined) writeFileSync(policyPath, options.policy);
  const storePath = options.store ? undefined : join(dir, 'jitkey.db');
  const store = options.store ?? `sqlite:${storePath}`;
  const args = [
    CLI,
    'serve',
    '--policy',
    policyPath,
    '--host',
    '127.0.0.1',
    '--port',
    String(options.port ?? 0),
    '--store',
    store,
    // One process unless a test asks for workers (`args: ['--workers', '2']`, the later flag wins):
    // the suite's counts of JWKS fetches, GitHub calls and log lines assume one.
    ...(options.defaultWorkers ? [] : ['--workers', '1']),
    ...(options.args ?? []),
  ];
  const child = spawn(process.execPath, args, {
    env: { PATH: process.env.PATH ?? '', JITKEY_LOG_LEVEL: 'debug', ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  const exited = new Promise<number | null>((res) => child.on('exit', (code) => res(code)));
  const url = await new Promise<string>((res, rej) => {
    // A process that never says it is listening is killed, not left behind.
    const deadline = setTimeout(() => {
      child.kill('SIGKILL');
      rej(new Error(`jitkey serve did not start listening within ${START_DEADLINE_MS / 1000} s:\n${out}`));
    }, START_DEADLINE_MS);
    exited.then(() => clearTimeout(deadline));
    const onData = (chunk: Buffer) => {
      out += chunk.toString();
      const m = /"msg":"listening"[^\n]*"url":"(http:\/\/[^"]+)"/.exec(out);
      if (m) {
        clearTimeout(deadline);
        res(m[1]!);
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    exited.then((code) => rej(new Error(`jitkey serve exited with ${code} before listening:\n${out}`)));
  });
  return {
    url,
    port: Number(new URL(url).port),
    policyPath,
    store,
    ...(storePath ? { storePath } : {}),
    child,
    output: () => out,
    signal: (sig) => child.kill(sig),
    stop: async (sig = 'SIGTERM') => {
      if (child.exitCode === null && child.signalCode === null) child.kill(sig);
      return exited;
    },
    exited,
  };
}

/** Runs a `jitkey` subcommand to completion (check, explain, audit…). */
export function runCli(
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((res) => {
    const child = spawn(process.execPath, [CLI, ...args], {
      env: { PATH: process.env.PATH ?? '', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c));
    child.stderr.on('data', (c: Buffer) => (stderr += c));
    child.on('exit', (code) => res({ code, stdout, stderr }));
  });
}
