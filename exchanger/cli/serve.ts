/**
 * `jitkey serve`: wires the policy, verifier, store and providers into the HTTP server and
 * owns the process lifecycle: SIGHUP reloads the policy (an invalid one is refused and the old
 * one stays), SIGTERM/SIGINT stop accepting, let in-flight requests finish, then close the store.
 */

import { publicUrlFromEnv } from '../approvals/notify.js';
import { createApprovals, warnApprovalsUnconfigured } from '../approvals/service.js';
import { createLogger, type Logger, parseLogLevel } from '../log.js';
import { loadPolicyFile } from '../policy/compile.js';
import { evaluate } from '../policy/evaluate.js';
import type { Policy } from '../policy/types.js';
import { buildGuards, buildProviders, githubAppFromEnv } from '../providers/from-env.js';
import { createServer } from '../server/app.js';
import { approvalRoutes } from '../server/approval-routes.js';
import { createMetrics } from '../server/metrics.js';
import { openStore } from '../store/open.js';
import type { TokenVerifier } from '../token/types.js';
import { createVerifier } from '../token/verify-token.js';
import { parse, required } from './args.js';

const USAGE =
  'jitkey serve --policy FILE [--port 8080] [--host 127.0.0.1] [--store sqlite:./jitkey.db|postgres://…]';
const SHUTDOWN_GRACE_MS = 25_000;
/**
 * Connections the kernel queues before they are accepted. Node's default, 511, overflows when a
 * matrix of a thousand jobs connects at once: each SYN beyond it is dropped and retried by the
 * client a second later. Linux caps it at net.core.somaxconn (4096 by default since 5.4).
 */
const LISTEN_BACKLOG = 4096;

export async function serve(argv: string[], env: NodeJS.ProcessEnv = process.env): Promise<void> {
  const { values } = parse(
    argv,
    {
      policy: { type: 'string' },
      port: { type: 'string', default: '8080' },
      host: { type: 'string', default: '127.0.0.1' },
      store: { type: 'string', default: env.JITKEY_STORE ?? 'sqlite:./jitkey.db' },
    },
    USAGE,
  );
  const policyPath = required(values.policy, '--policy', USAGE);
  // Refused before anything starts: a typo must not silently log at another level.
  const level = parseLogLevel(env.JITKEY_LOG_LEVEL);
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw new Error(`--port must be 0–65535, got '${values.port}'`);
  const log = createLogger({ level });

  let policy = await loadPolicyFile(policyPath);
  const jwksCooldownMs = env.JITKEY_JWKS_COOLDOWN_MS ? Number(env.JITKEY_JWKS_COOLDOWN_MS) : undefined;
  const makeVerifier = (p: Policy) =>
    createVerifier({ issuers: p.issuers, log, ...(jwksCooldownMs !== undefined ? { jwksCooldownMs } : {}) });
  let verifier = makeVerifier(policy);
  const metrics = createMetrics();
  const store = await openStore(values.store!, { log, ...purgeInterval(env) });
  // One GitHub App client for the provider, the environment guard and approvals.
  const github = githubAppFromEnv(env, log);
  const providers = buildProviders(env, { log }, github);
  const guards = buildGuards(env, { log }, github);
  warnUnconfigured(policy, providers, log);
  warnApprovalsUnconfigured(policy, github, log);

  const deps = {
    policy: () => policy,
    verifier: () => verifier,
    evaluate,
    store,
    providers,
    guards,
    metrics,
    log,
    now: () => new Date(),
  };
  const approvals = createApprovals({ ...deps, github, publicUrl: publicUrlFromEnv(env) });
  const server = createServer({ ...deps, approvals, extraRoutes: approvalRoutes(approvals, log) });

  // Everything that can refuse the new policy (parsing, the issuers' URLs) runs before anything
  // is swapped, so a refused reload leaves the old policy and verifier in force.
  const reload = async () => {
    try {
      const next = await loadPolicyFile(policyPath);
      const nextVerifier =
        JSON.stringify(next.issuers) !== JSON.stringify(policy.issuers) ? makeVerifier(next) : verifier;
      policy = next;
      verifier = nextVerifier;
      metrics.reloads.inc({ outcome: 'ok' });
      log.info('policy reloaded', { policy: policyPath, roles: next.roles.size });
      warnUnconfigured(next, providers, log);
      warnApprovalsUnconfigured(next, github, log);
    } catch (err) {
      metrics.reloads.inc({ outcome: 'invalid' });
      log.error('policy reload refused; the previous policy stays in force', {
        policy: policyPath,
        problems: String(err),
      });
    }
  };
  process.on('SIGHUP', () => void reload());

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
      store.close().finally(() => {
        log.info('stopped');
        process.exit(0);
      });
    });
    server.closeIdleConnections();
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ port, host: values.host, backlog: LISTEN_BACKLOG }, () => resolve());
  });
  const address = server.address();
  const boundPort = typeof address === 'object' && address ? address.port : port;
  const host = values.host!.includes(':') ? `[${values.host}]` : values.host;
  log.info('listening', {
    url: `http://${host}:${boundPort}`,
    policy: policyPath,
    roles: policy.roles.size,
    store: store.kind,
  });
  prefetchKeys(verifier, log);
}

/** Fetch issuer keys now so the first job does not pay for discovery; failure is not fatal. */
function prefetchKeys(verifier: TokenVerifier, log: Logger): void {
  const ready = (verifier as { ready?: () => Promise<void> }).ready;
  ready
    ?.call(verifier)
    .catch((err: unknown) =>
      log.warn('issuer keys not fetched yet; will retry on demand', { error: err as Error }),
    );
}

/** `JITKEY_PURGE_INTERVAL_MS`: how often expired token ids and leases are purged (default 60 s). */
function purgeInterval(env: NodeJS.ProcessEnv): { purgeIntervalMs?: number } {
  const text = env.JITKEY_PURGE_INTERVAL_MS;
  if (text === undefined || text === '') return {};
  const ms = Number(text);
  if (!Number.isFinite(ms) || ms < 0) {
    throw new Error(
      `JITKEY_PURGE_INTERVAL_MS must be a number of milliseconds (0 turns the purge off), got '${text}'`,
    );
  }
  return { purgeIntervalMs: ms };
}

function warnUnconfigured(policy: Policy, providers: Record<string, unknown>, log: Logger): void {
  for (const role of policy.roles.values()) {
    if (!providers[role.provider]) {
      log.warn('a role uses a provider this exchanger has no configuration for; its exchanges will fail', {
        role: role.name,
        provider: role.provider,
      });
    }
  }
}
