/**
 * `jitkey credentials` run as a CI job runs it (bin/jitkey.js, the token in an environment variable
 * or a file), and the job's own shell after it. For the client's end-to-end tests.
 *
 *   const job = ciJob();                                   // a job's temp dir, outside any checkout
 *   const run = await job.client(['--url', url, '--role', 'deploy', '--token-env', 'JITKEY_ID_TOKEN'],
 *     { JITKEY_ID_TOKEN: token });
 *   await job.sh('. "$JITKEY_DIR/env"; printf %s "$AWS_ACCESS_KEY_ID"');
 *   job.assertNoSecret(token, [run]);                     // not in outputs nor in any file written
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'vitest';
import { REPO_ROOT } from './paths.js';

export const BIN = join(REPO_ROOT, 'bin/jitkey.js');
/** The single-file client (`npm run build:client`), as a job without this package runs it. */
export const BUNDLE = join(REPO_ROOT, 'dist-client/jitkey-credentials.mjs');

export interface ClientRun {
  code: number | null;
  stdout: string;
  stderr: string;
  /** The process's command line as /proc showed it while it ran. */
  cmdline: string;
}

export interface RunningClient {
  child: ChildProcess;
  /** stderr so far. */
  stderr(): string;
  done: Promise<ClientRun>;
}

export interface CiJob {
  /** The job's private temp dir (`JITKEY_DIR` in `sh`). */
  dir: string;
  path(name: string): string;
  start(args: string[], env?: Record<string, string>): RunningClient;
  client(args: string[], env?: Record<string, string>): Promise<ClientRun>;
  /** Runs a script in `sh` with JITKEY_DIR set; never throws. */
  sh(script: string, env?: Record<string, string>): Promise<{ code: number; out: string; err: string }>;
  /** `secret` is in no output of `runs` and in no file of the job's dir. */
  assertNoSecret(secret: string, runs: ClientRun[]): void;
}

/** `bundle`: run dist-client's single file instead of `bin/jitkey.js credentials`. */
export function ciJob(o: { bundle?: boolean } = {}): CiJob {
  const dir = mkdtempSync(join(tmpdir(), 'jitkey-ci-job-'));
  const command = o.bundle ? [BUNDLE] : [BIN, 'credentials'];
  const start = (args: string[], env: Record<string, string> = {}): RunningClient => {
    const child = spawn(process.execPath, [...command, ...args], {
      env: { PATH: process.env.PATH ?? '', HOME: dir, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    // The argv exec was given, as the kernel holds it: reading /proc/<pid>/cmdline instead raced a
    // client that had already exited (a zombie's command line reads empty).
    const cmdline = child.spawnargs.join(' ');
    child.stdout!.on('data', (c: Buffer) => (stdout += c));
    child.stderr!.on('data', (c: Buffer) => (stderr += c));
    const done = new Promise<ClientRun>((res) =>
      child.on('close', (code) => res({ code, stdout, stderr, cmdline })),
    );
    return { child, stderr: () => stderr, done };
  };
  return {
    dir,
    path: (name) => join(dir, name),
    start,
    client: (args, env) => start(args, env).done,
    sh: (script, env = {}) =>
      new Promise((res) => {
        execFile(
          'sh',
          ['-c', script],
          { env: { PATH: process.env.PATH ?? '', HOME: dir, JITKEY_DIR: dir, ...env }, timeout: 60_000 },
          (err, out, errText) => res({ code: err ? Number(err.code ?? 1) : 0, out, err: errText }),
        );
      }),
    assertNoSecret(secret, runs) {
      expect(secret.length).toBeGreaterThan(20);
      for (const run of runs) {
        expect(run.stdout).not.toContain(secret);
        expect(run.stderr).not.toContain(secret);
        expect(run.cmdline).toContain(o.bundle ? BUNDLE : BIN);
        expect(run.cmdline).not.toContain(secret);
      }
      for (const name of readdirSync(dir, { recursive: true }) as string[]) {
        const file = join(dir, name);
        if (statSync(file).isFile()) expect(readFileSync(file, 'utf8'), file).not.toContain(secret);
      }
    },
  };
}

/** The file's permission bits, e.g. 0o600. */
export const modeOf = (path: string) => statSync(path).mode & 0o777;

/**
 * A `buildkite-agent` on PATH for the plugin's hooks: `oidc request-token …` prints the next of
 * `tokens` (each once) and logs its arguments to `log`. Returns the directory to put first on PATH.
 */
export function fakeBuildkiteAgent(dir: string, tokens: string[]): { bin: string; log: string } {
  const bin = join(dir, 'fake-bin');
  const store = join(dir, 'fake-tokens');
  mkdirSync(bin);
  mkdirSync(store);
  for (const [i, t] of tokens.entries()) writeFileSync(join(store, String(i + 1)), t);
  const log = join(dir, 'fake-agent.log');
  writeFileSync(
    join(bin, 'buildkite-agent'),
    `#!/bin/sh
printf '%s\\n' "$*" >> '${log}'
[ "$1 $2" = "oidc request-token" ] || { echo "buildkite-agent (fake): unexpected $*" >&2; exit 2; }
next=$(ls '${store}' | sort -n | head -n 1)
[ -n "$next" ] || { echo "buildkite-agent (fake): no token left" >&2; exit 1; }
cat '${store}'/"$next"
rm '${store}'/"$next"
`,
    { mode: 0o755 },
  );
  return { bin, log };
}
