/**
 * `jitkey credentials`: the client for any CI (docs/ci-systems.md). It exchanges the job's OIDC
 * token (read from a variable or a file, never from the command line, never printed) at the
 * exchanger, waits for an approval when the role needs one, and writes the credentials as shell
 * `export` lines, a dotenv file, AWS's `credential_process` answer, a kubeconfig or JSON.
 * `jitkey credentials revoke` ends the lease at the job's end (credentials-revoke.ts).
 *
 * Everything that can be checked is checked before the token is spent (flags, token sources,
 * output paths); a failure after the lease is issued revokes it at once, so nothing is left valid
 * that the job cannot use.
 */
import { parseDuration } from '../duration.js';
import { breakLegacyCommands, clean, cleanLogLine } from '../text/clean.js';
import { parse, UsageError } from './args.js';
import type { CredentialsDeps } from './credentials-deps.js';
import { describeFailure, EXIT, exitCodeFor } from './credentials-errors.js';
import { envFor, FORMATS, type Format, FormatError, render } from './credentials-format.js';
import {
  checkOutputPath,
  removeFile,
  type TokenSource,
  tokenSource,
  writeSecretFile,
} from './credentials-io.js';
import { leaseFileText, revokeCommand } from './credentials-revoke.js';
import { ApprovalEnded, waitForApproval } from './credentials-wait.js';
import {
  type ExchangeClient,
  ExchangeFailure,
  exchangeClient,
  isPending,
  type Lease,
} from './exchange-client.js';

const USAGE = `jitkey credentials --url URL --role ROLE (--token-env VAR | --token-file FILE | --token-command CMD)
         [--format export|dotenv|credential-process|kubeconfig|json] [--out FILE] [--kubeconfig FILE]
         [--lease-file FILE] [--duration 15m] [--wait-approval 30m]
         [--redeem-token-env VAR | --redeem-token-file FILE]
       ${'jitkey credentials revoke --lease-file FILE [--url URL]'}`;

export function realDeps(): CredentialsDeps {
  return {
    env: process.env,
    out: (text) => void process.stdout.write(text),
    // Under GitHub Actions the runner reads stderr for commands too: no `##[` form reaches it.
    err: (text) => void process.stderr.write(breakLegacyCommands(text)),
    // One line each, whatever the exchanger put in it: no terminal sequence, no line of its own.
    say: (line) => void process.stderr.write(`${cleanLogLine(line)}\n`),
    now: () => Date.now(),
    sleep: (ms) => new Promise((r) => setTimeout(r, ms)),
    random: Math.random,
    userAgent: userAgentFor(process.env),
  };
}

/** The audit trail's `user_agent` names the CI the client ran in. */
export function userAgentFor(env: Readonly<Record<string, string | undefined>>): string {
  const ci = env.GITLAB_CI
    ? 'gitlab'
    : env.BUILDKITE
      ? 'buildkite'
      : env.CIRCLECI
        ? 'circleci'
        : env.GITHUB_ACTIONS
          ? 'github-actions'
          : undefined;
  return `jitkey-credentials${ci ? ` (${ci})` : ''}`;
}

interface Request {
  role: string;
  format: Format;
  durationSeconds: number | undefined;
  waitSeconds: number;
  token: TokenSource;
  redeemToken: TokenSource | undefined;
  out: string | undefined;
  kubeconfig: string | undefined;
  leaseFile: string | undefined;
}

export async function credentialsCommand(
  argv: string[],
  deps: CredentialsDeps = realDeps(),
): Promise<number> {
  if (argv[0] === 'revoke') return revokeCommand(argv.slice(1), deps);
  const { url, request } = readRequest(argv, deps.env);
  const client = exchangeClient({ url, userAgent: deps.userAgent });
  let spent: string | undefined;
  let lease: Lease;
  /** What is being done, for a failure's first line. */
  const step = { what: `Exchange for role '${request.role}'` };
  try {
    spent = request.token.read();
    const answer = await client.exchange(spent, request.role, request.durationSeconds);
    lease = isPending(answer)
      ? await redeemAfterApproval(client, answer, request, spent, deps, step)
      : answer;
  } catch (e) {
    if (e instanceof ExchangeFailure) {
      deps.err(describeFailure(step.what, e, spent));
      return exitCodeFor(e);
    }
    if (e instanceof ApprovalEnded) {
      deps.err(`${e.message}\n`);
      return EXIT.approval;
    }
    throw e;
  }
  return deliver(client, lease, request, deps);
}

function readRequest(argv: string[], env: CredentialsDeps['env']): { url: string; request: Request } {
  const { values, positionals } = parse(
    argv,
    {
      url: { type: 'string', default: env.JITKEY_URL },
      role: { type: 'string' },
      'token-env': { type: 'string' },
      'token-file': { type: 'string' },
      'token-command': { type: 'string' },
      'redeem-token-env': { type: 'string' },
      'redeem-token-file': { type: 'string' },
      format: { type: 'string', default: 'export' },
      out: { type: 'string' },
      kubeconfig: { type: 'string' },
      'lease-file': { type: 'string' },
      duration: { type: 'string' },
      'wait-approval': { type: 'string', default: '30m' },
    },
    USAGE,
  );
  const usage = (message: string) => new UsageError(`${message}\n\nusage: ${USAGE}`);
  if (positionals.length) throw usage(`unexpected '${positionals[0]}'`);
  if (!values.url) throw usage('--url is required (or set JITKEY_URL)');
  if (!values.role) throw usage('--role is required');
  const format = values.format as Format;
  if (!FORMATS.includes(format)) throw usage(`--format must be one of ${FORMATS.join(', ')}`);
  if ((format === 'dotenv' || format === 'kubeconfig') && !values.out) {
    throw usage(`--format ${format} writes a file: give --out FILE (outside the job's checkout)`);
  }
  const token = tokenSource(
    env,
    { env: values['token-env'], file: values['token-file'], command: values['token-command'] },
    { env: '--token-env', file: '--token-file', command: '--token-command' },
  );
  if (!token) {
    throw usage(
      "give --token-env VAR, --token-file FILE or --token-command CMD: where the job's OIDC token is",
    );
  }
  const duration = (flag: string, text: string | undefined) => {
    if (text === undefined) return undefined;
    try {
      return parseDuration(text);
    } catch (e) {
      throw usage(`${flag}: ${(e as Error).message}`);
    }
  };
  // Paths are checked now, before the token is spent, and again by the exclusive create.
  const path = (flag: string, value: string | undefined) =>
    value ? checkOutputPath(env, value, flag) : undefined;
  const request: Request = {
    role: values.role,
    format,
    durationSeconds: duration('--duration', values.duration),
    waitSeconds: duration('--wait-approval', values['wait-approval']) ?? 1800,
    token,
    redeemToken: tokenSource(
      env,
      { env: values['redeem-token-env'], file: values['redeem-token-file'] },
      { env: '--redeem-token-env', file: '--redeem-token-file' },
    ),
    out: path('--out', values.out),
    kubeconfig: path('--kubeconfig', values.kubeconfig),
    leaseFile: path('--lease-file', values['lease-file']),
  };
  const paths = [request.out, request.kubeconfig, request.leaseFile].filter(Boolean);
  if (new Set(paths).size !== paths.length)
    throw usage('--out, --kubeconfig and --lease-file must be different files');
  // An unset variable or unreadable file is a usage error before anything is sent (a command is
  // run once, when its token is needed: each run may mint a token).
  if (token.kind !== 'command') token.read();
  return { url: values.url, request };
}

async function redeemAfterApproval(
  client: ExchangeClient,
  pending: Parameters<ExchangeClient['redeem']>[1],
  request: Request,
  spent: string,
  deps: CredentialsDeps,
  step: { what: string },
): Promise<Lease> {
  // A variable cannot change during the job: without a second token the approval could never be redeemed.
  const redeemWith = request.redeemToken ?? (request.token.kind === 'env' ? undefined : request.token);
  if (!redeemWith) {
    throw new ApprovalEnded(
      `Role '${request.role}' needs approval (request ${clean(pending.request_id)}), and redeeming an approval spends a second, unused token, ` +
        `which ${request.token.label} cannot give: add a second token (GitLab: another id_tokens entry) and pass it with --redeem-token-env.`,
    );
  }
  await waitForApproval(client, pending, { role: request.role, timeoutSeconds: request.waitSeconds, deps });
  const token = redeemWith.read();
  if (token === spent) {
    throw new ApprovalEnded(
      `${redeemWith.label} still holds the token the exchange spent; redeeming request ${pending.request_id} needs an unused one (--redeem-token-env or --redeem-token-file).`,
    );
  }
  step.what = `Redeeming approved request ${pending.request_id} for role '${request.role}'`;
  return client.redeem(token, pending);
}

/** Writes the lease file, the kubeconfig and the output; on any failure revokes the lease at once. */
async function deliver(
  client: ExchangeClient,
  lease: Lease,
  request: Request,
  deps: CredentialsDeps,
): Promise<number> {
  const written: string[] = [];
  try {
    const kubeconfigPath =
      lease.provider === 'kubernetes' && request.format !== 'kubeconfig' ? request.kubeconfig : undefined;
    const text = render(request.format, lease, kubeconfigPath);
    const files = [kubeconfigPath, request.out].filter((p): p is string => p !== undefined);
    // The lease file first: whatever fails later, the job's end can still revoke.
    if (request.leaseFile) {
      writeSecretFile(request.leaseFile, leaseFileText(client.base, lease, files));
      written.push(request.leaseFile);
    }
    if (kubeconfigPath) {
      writeSecretFile(kubeconfigPath, render('kubeconfig', lease));
      written.push(kubeconfigPath);
    }
    if (request.out) {
      writeSecretFile(request.out, text);
      written.push(request.out);
    } else {
      deps.out(text);
    }
  } catch (e) {
    const reason =
      e instanceof FormatError ? e.message : `cannot write the credentials: ${(e as Error).message}`;
    const revoked = await client.revoke(lease).then(
      () => 'it was revoked at once',
      (r: unknown) =>
        `revoking it failed too (${r instanceof Error ? clean(r.message) : r}); it ends at ${clean(lease.expires_at)}`,
    );
    for (const file of written) removeFile(file);
    deps.err(
      `jitkey credentials: ${clean(reason)}\nLease ${clean(lease.lease_id)} was issued for role '${clean(lease.role)}'; ${revoked}.\n`,
    );
    return e instanceof FormatError ? EXIT.usage : EXIT.refused;
  }
  const names = request.format === 'export' || request.format === 'dotenv' ? envNames(lease, request) : '';
  deps.err(
    `jitkey: issued ${clean(lease.provider)} credentials for role '${clean(lease.role)}' until ${clean(lease.expires_at)} (lease ${clean(lease.lease_id)})` +
      (names ? `: ${names}` : '') +
      (request.out ? ` in ${request.out}` : '') +
      '.\n',
  );
  return EXIT.ok;
}

const envNames = (lease: Lease, request: Request) =>
  envFor(lease, request.kubeconfig)
    .map(([name]) => name)
    .join(', ');
