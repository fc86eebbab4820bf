/**
 * What `jitkey credentials` reads and writes outside the exchanger: the job's OIDC token (from a
 * variable, a file or a command's output, never from the command line) and the files it leaves for the job (0600,
 * created exclusively, never inside the CI's checkout, from which artifacts and caches are taken).
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, isAbsolute, relative, resolve } from 'node:path';
import { UsageError } from './args.js';

type Env = Readonly<Record<string, string | undefined>>;

/**
 * Where a token comes from; read again at each use: a file may be refreshed meanwhile, and a
 * command (`buildkite-agent oidc request-token …`) prints a fresh token each time it runs.
 */
export interface TokenSource {
  /** `the variable JITKEY_ID_TOKEN`, `the file /run/token`: for messages. */
  label: string;
  kind: 'env' | 'file' | 'command';
  read(): string;
}

/** A token command may take this long (an agent asking its API for a token). */
const COMMAND_TIMEOUT_MS = 60_000;

const JWT = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;
const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** `--token-env`, `--token-file` or `--token-command` (or a `--redeem-…` one): one, or undefined when none. */
export function tokenSource(
  env: Env,
  flags: { env: string | undefined; file: string | undefined; command?: string | undefined },
  flagNames: { env: string; file: string; command?: string },
): TokenSource | undefined {
  const given = (['env', 'file', 'command'] as const).filter((k) => flags[k] !== undefined);
  if (given.length > 1) {
    throw new UsageError(`give one of ${given.map((k) => flagNames[k]).join(', ')}, not several`);
  }
  if (flags.command !== undefined) {
    const command = flags.command;
    const flag = flagNames.command ?? '--token-command';
    const label = `the output of ${flag}`;
    return {
      label,
      kind: 'command',
      read: () => {
        let out: string;
        try {
          // Its stderr is the job's (an agent's log lines); only its stdout is the token.
          out = execFileSync('sh', ['-c', command], {
            encoding: 'utf8',
            stdio: ['ignore', 'pipe', 'inherit'],
            timeout: COMMAND_TIMEOUT_MS,
            env: { ...env },
          });
        } catch (e) {
          // The command is not echoed: it may carry a secret (`--header "Authorization: …"`).
          throw new UsageError(`${flag} failed (${commandFailure(e)}): its own messages, above, say why`);
        }
        return checkJwt(out, label, flag);
      },
    };
  }
  if (flags.env !== undefined) {
    const name = flags.env;
    if (!NAME.test(name)) {
      // Most likely the token itself (`--token-env $JITKEY_ID_TOKEN`): never quoted back.
      throw new UsageError(
        `${flagNames.env} takes the NAME of the variable that holds the token (e.g. JITKEY_ID_TOKEN), not the token: ` +
          'a token on the command line is visible to every process on the machine',
      );
    }
    const label = `the variable ${name}`;
    return { label, kind: 'env', read: () => checkJwt(env[name], label, `${flagNames.env} ${name}`) };
  }
  if (flags.file !== undefined) {
    const path = flags.file;
    const label = `the file ${path}`;
    return {
      label,
      kind: 'file',
      read: () => {
        let text: string;
        try {
          text = readFileSync(path, 'utf8');
        } catch (e) {
          throw new UsageError(
            `cannot read ${label} (${flagNames.file}): ${(e as NodeJS.ErrnoException).code ?? e}`,
          );
        }
        return checkJwt(text, label, `${flagNames.file} ${path}`);
      },
    };
  }
  return undefined;
}

/** How a token command failed: its exit code, the signal that ended it, or why it did not run. */
function commandFailure(e: unknown): string {
  const { status, signal, code } = e as { status?: number | null; signal?: string | null; code?: string };
  if (code === 'ETIMEDOUT') return `no answer within ${COMMAND_TIMEOUT_MS / 1000}s`;
  if (typeof status === 'number') return `exit ${status}`;
  if (signal) return `ended by ${signal}`;
  return code ? `could not run: ${code}` : 'could not run';
}

function checkJwt(value: string | undefined, label: string, flag: string): string {
  const token = value?.trim() ?? '';
  if (!token) {
    throw new UsageError(
      `${label} is empty or unset (${flag}): GitLab sets it from the job's \`id_tokens:\`, Buildkite from \`buildkite-agent oidc request-token\``,
    );
  }
  if (!JWT.test(token)) {
    throw new UsageError(`${label} does not hold a JWT (three base64url parts separated by dots) (${flag})`);
  }
  return token;
}

/** The CI checkouts that artifacts, caches and uploads are taken from: no credential goes there. */
const CHECKOUT_VARS = [
  'CI_PROJECT_DIR',
  'BUILDKITE_BUILD_CHECKOUT_PATH',
  'CIRCLE_WORKING_DIRECTORY',
  'GITHUB_WORKSPACE',
];

/**
 * Checks, before anything is minted, that `path` can be created: its directory exists, nothing is
 * there yet, and it is outside the job's checkout. Returns the absolute path.
 */
export function checkOutputPath(env: Env, path: string, flag: string): string {
  const absolute = resolve(path);
  const dir = real(dirname(absolute));
  if (!dir) throw new UsageError(`${flag} ${path}: the directory ${dirname(absolute)} does not exist`);
  for (const name of CHECKOUT_VARS) {
    const checkout = env[name];
    if (!checkout || !isAbsolute(checkout)) continue;
    const root = real(checkout) ?? checkout;
    const rel = relative(root, dir);
    if (rel === '' || (!rel.startsWith('..') && !isAbsolute(rel))) {
      throw new UsageError(
        `${flag} ${path} is inside the job's checkout (${name}=${checkout}), from which artifacts and caches are taken: ` +
          'write credentials outside it, e.g. under "$(mktemp -d)"',
      );
    }
  }
  try {
    realpathSync(absolute);
  } catch {
    return absolute; // nothing there: as it should be
  }
  throw new UsageError(
    `${flag} ${path} already exists: jitkey never overwrites a file (it could be a link to anywhere); remove it or choose another path`,
  );
}

/** Creates `path` with mode 0600, refusing anything already there (a file, a link). */
export function writeSecretFile(path: string, text: string): void {
  writeFileSync(path, text, { mode: 0o600, flag: 'wx' });
}

export function removeFile(path: string): void {
  rmSync(path, { force: true });
}

function real(path: string): string | undefined {
  try {
    return realpathSync(path);
  } catch {
    return undefined;
  }
}
