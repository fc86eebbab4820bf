/**
 * `jitkey serve`: wires the policy, verifier, store and providers into the HTTP server and
 * owns the process lifecycle: SIGHUP reloads the policy (an invalid one is refused and the old
 * one stays), SIGTERM/SIGINT stop accepting, let in-flight requests finish, then close the store.
 *
 * `--workers N` (default: one per CPU on PostgreSQL, one process on SQLite) runs N such servers
 * as node:cluster workers behind one socket; the primary (cluster-primary.ts) coordinates
 * reloads, shutdown and `/metrics`. `--workers 1` is one process, as before.
 */
import cluster from 'node:cluster';
import { availableParallelism } from 'node:os';
import { callerBudget } from '../approvals/caller-budget.js';
import { publicUrlFromEnv } from '../approvals/notify.js';
import { createNudges, DEFAULT_NUDGE_INTERVAL_MS } from '../approvals/nudge.js';
import { pagerDutyFromEnv } from '../approvals/pagerduty.js';
import { createApprovals, warnApprovalsUnconfigured } from '../approvals/service.js';
import { consoleConfigFromEnv } from '../console/config.js';
import { createConsole } from '../console/console.js';
import { parseDuration } from '../duration.js';
import { createRefusalFold, writeFoldedRefusals } from '../exchange/refusal-fold.js';
import { exportFromEnv, startExport } from '../export/from-env.js';
import { githubApiUrlFromEnv, githubAppConfigFromEnv } from '../github/config.js';
import { startSweeps } from '../leases/sweep.js';
import { createLogger, type Logger, parseLogLevel } from '../log.js';
import { type ProxyTrust, parseProxyTrust } from '../net/client-address.js';
import { evaluate } from '../policy/evaluate.js';
import type { PolicySnapshot } from '../policy/snapshot.js';
import type { Policy } from '../policy/types.js';
import { activityRoute } from '../server/activity-route.js';
import { createServer } from '../server/app.js';
import { approvalRoutes } from '../server/approval-routes.js';
import { limitsFromEnv } from '../server/limits.js';
import { createMetrics, type Metrics } from '../server/metrics.js';
import { newRequestId } from '../server/request-id.js';
import { DEFAULT_PURGE_INTERVAL_MS } from '../store/common.js';
import { openStore, parseStoreUrl } from '../store/open.js';
import type { TokenVerifier } from '../token/types.js';
import { createVerifier } from '../token/verify-token.js';
import { activityFromEnv, startActivity } from './activity-from-env.js';
import { parse, required, UsageError } from './args.js';
import { ciWebhooksFromEnv } from './ci-webhooks-from-env.js';
import { runPrimary } from './cluster-primary.js';
import { WORKER_INDEX_ENV } from './cluster-protocol.js';
import { linkWorker, tagged, type WorkerLink } from './cluster-worker.js';
import { gateFromEnv, reconcileIntervalFromEnv } from './gate-from-env.js';
import { kubernetesAuditFromEnv } from './kubernetes-audit-from-env.js';
import { loadAside, validateAside } from './policy-aside.js';
import { buildGuards, buildProviders, checkProviderRoles, githubAppFromEnv } from './providers-from-env.js';
import { slackFromEnv, warnSlackUnconfigured } from './slack-from-env.js';
import { workerShare } from './worker-share.js';

const USAGE =
  'jitkey serve --policy FILE|DIR [--port 8080] [--host 127.0.0.1] [--store sqlite:./jitkey.db|postgres://…] [--workers N] [--audit-retention 90d] [--no-console] [--trusted-proxies CIDR,…] [--forwarded-header x-forwarded-for|forwarded]';
const MAX_WORKERS = 256;
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
      workers: { type: 'string', default: env.JITKEY_WORKERS ?? '' },
      'audit-retention': { type: 'string', default: env.JITKEY_AUDIT_RETENTION ?? '' },
      'no-console': { type: 'boolean', default: false },
      'trusted-proxies': { type: 'string', default: env.JITKEY_TRUSTED_PROXIES ?? '' },
      'forwarded-header': { type: 'string', default: env.JITKEY_FORWARDED_HEADER ?? '' },
    },
    USAGE,
  );
  const policyPath = required(values.policy, '--policy', USAGE);
  // Refused before anything starts: a typo must not silently log at another level.
  const level = parseLogLevel(env.JITKEY_LOG_LEVEL);
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw new Error(`--port must be 0–65535, got '${values.port}'`);
  const workers = workerCount(values.workers || defaultWorkers(values.store!), values.store!);
  // Settings are refused here, before any worker starts, with the reason once.
  // The per-address connection cap holds for the whole server: each worker takes its share.
  const limits = workerShare(limitsFromEnv(env), workers);
  const proxyTrust = parseProxyTrust(
    { proxies: values['trusted-proxies'], header: values['forwarded-header'] },
    {
      proxies: '--trusted-proxies (or JITKEY_TRUSTED_PROXIES)',
      header: '--forwarded-header (or JITKEY_FORWARDED_HEADER)',
    },
  );
  const retention = auditRetention(values['audit-retention']);
  // The SIEM export (docs/siem-export.md), refused here when misconfigured: off unless JITKEY_EXPORT_TO.
  const siemExport = exportFromEnv(env);
  // The console is on when the App's OAuth client is configured; a half configuration stops the start.
  const consoleConfig = consoleConfigFromEnv(env, {
    disabled: values['no-console'] === true,
    apiUrl: githubApiUrlFromEnv(env),
    hasApp: githubAppConfigFromEnv(env) !== undefined,
  });
  const baseLog = createLogger({ level });

  if (workers > 1 && cluster.isPrimary) {
    // Refused here once, with the reason, rather than by every worker: a bad policy, a store
    // that cannot be opened. Opening the store also applies its migrations before any worker.
    const log = baseLog;
    const first = await validateAside(policyPath);
    const store = await openStore(values.store!, { log, purgeIntervalMs: 0 });
    const kind = store.kind;
    await store.close();
    return runPrimary({
      workers,
      log,
      policy: first,
      load: () => validateAside(policyPath),
      describe: (url) => ({
        url,
        policy: policyPath,
        roles: first.roles,
        store: kind,
        ...trustedProxiesLine(proxyTrust),
      }),
    });
  }
  const workerIndex = cluster.isWorker ? Number(env[WORKER_INDEX_ENV] ?? cluster.worker?.id ?? 1) : 0;
  // Each worker's lines say which worker wrote them.
  const log = workerIndex ? tagged(baseLog, { worker: workerIndex }) : baseLog;

  // A worker compiles the policy its primary read, so every worker holds the same content; one
  // process reads it itself. Either way it is parsed on a thread of its own (policy-aside.ts).
  const link: WorkerLink | undefined = cluster.isWorker ? linkWorker(log) : undefined;
  const loaded = await loadAside(link ? { snapshot: await link.policy() } : { path: policyPath });
  let policy = loaded.policy;
  let digest = loaded.digest;
  const jwksCooldownMs = env.JITKEY_JWKS_COOLDOWN_MS ? Number(env.JITKEY_JWKS_COOLDOWN_MS) : undefined;
  const makeVerifier = (p: Policy) =>
    createVerifier({ issuers: p.issuers, log, ...(jwksCooldownMs !== undefined ? { jwksCooldownMs } : {}) });
  let verifier = makeVerifier(policy);
  const ownMetrics = createMetrics();
  /** `jitkey_policy_info{digest}`: which policy this process holds. */
  const showPolicy = (d: string) => {
    ownMetrics.policyInfo.reset();
    ownMetrics.policyInfo.set({ digest: d }, 1);
  };
  showPolicy(digest);
  const activity = activityFromEnv(env);
  // One purger is enough: the other workers' would only find the rows already gone.
  const purge = workerIndex > 1 ? { purgeIntervalMs: 0 } : purgeInterval(env);
  const store = await openStore(values.store!, {
    log,
    ...purge,
    ...retention,
  });
  // One GitHub App client for the provider, the environment guard and approvals.
  const github = githubAppFromEnv(env, log);
  const providers = buildProviders(env, { log }, github);
  const guards = buildGuards(env, { log }, github);
  // A role the exchanger's own configuration cannot serve (a Kubernetes server no context names)
  // stops the start, as it refuses a reload below.
  checkProviderRoles(policy, providers);
  warnUnconfigured(policy, providers, log);
  warnApprovalsUnconfigured(policy, github, log);

  // Reloads come in two steps, so a cluster's primary can put a policy in force in every worker
  // or in none; everything that can refuse it (parsing, the issuers' URLs) runs in the first.
  let staged: { policy: Policy; verifier: ReturnType<typeof makeVerifier>; digest: string } | undefined;
  const stageReload = async (snapshot?: PolicySnapshot) => {
    staged = undefined;
    const next = await loadAside(snapshot ? { snapshot } : { path: policyPath });
    checkProviderRoles(next.policy, providers);
    const nextVerifier =
      JSON.stringify(next.policy.issuers) !== JSON.stringify(policy.issuers)
        ? makeVerifier(next.policy)
        : verifier;
    staged = { policy: next.policy, verifier: nextVerifier, digest: next.digest };
    return { roles: next.roles, digest: next.digest };
  };
  const commitReload = () => {
    if (!staged) return;
    policy = staged.policy;
    verifier = staged.verifier;
    digest = staged.digest;
    staged = undefined;
    showPolicy(digest);
    warnUnconfigured(policy, providers, log);
    warnApprovalsUnconfigured(policy, github, log);
  };
  link?.attach({
    snapshot: ownMetrics.snapshot,
    stageReload,
    commitReload,
    abortReload: () => {
      staged = undefined;
    },
  });
  const metrics: Metrics = link ? { ...ownMetrics, render: link.clusterMetrics } : ownMetrics;

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
    // One fold for exchanges and redemptions; its last rows are written before the store closes.
    // With workers, the primary keeps it: one fold for the whole server (cluster-primary.ts).
    refusals: link?.refusals ?? createRefusalFold({ now: () => new Date(), requestId: newRequestId }),
    ...(env.JITKEY_GITHUB_WEBHOOK_SECRET ? { webhookSecret: env.JITKEY_GITHUB_WEBHOOK_SECRET } : {}),
    ...(activity ? { activity: { firstPollMs: activity.pollMs, providers: activity.providers } } : {}),
  };
  const foldedRefusals = writeFoldedRefusals(deps.refusals, deps);
  // PagerDuty, for roles with `auto_approve_on_call`; without a token they wait for approvers.
  const onCall = pagerDutyFromEnv(env);
  const approvalDeps = { ...deps, github, publicUrl: publicUrlFromEnv(env), onCall };
  // GitHub's deployment gate: its decisions are the approvals' (`gate/`).
  const gate = gateFromEnv(env, approvalDeps);
  const reconcileMs = reconcileIntervalFromEnv(env);
  const approvals = gate ? gate.wrap(createApprovals(approvalDeps)) : createApprovals(approvalDeps);
  const approverCall = link?.approverCall ?? callerBudget({ now: () => new Date() });
  const leaseRoutes = activityRoute({ store, policy: () => policy, github, spend: approverCall });
  const approvalApi = approvalRoutes(approvals, log, () => new Date(), approverCall);
  // Slack's Approve / Deny buttons, when JITKEY_SLACK_SIGNING_SECRET is set (`slack-from-env.ts`).
  const slack = slackFromEnv(env, {
    approvals,
    store,
    policy: () => policy,
    log,
    now: () => new Date(),
    publicUrl: approvalDeps.publicUrl,
  });
  warnSlackUnconfigured(policy, slack !== undefined, log);
  const apiRoutes: typeof approvalApi = async (req, res, id) =>
    (await slack?.(req, res, id)) || (await leaseRoutes(req, res, id)) || approvalApi(req, res, id);
  const consoleRoutes =
    consoleConfig && github
      ? createConsole({
          config: consoleConfig,
          approvals,
          store,
          github,
          policy: () => policy,
          log,
          now: () => new Date(),
          ...(link ? { signInBudget: link.signIn } : {}),
          admin: { github, store, providers, metrics, webhookSecret: env.JITKEY_GITHUB_WEBHOOK_SECRET },
        })
      : undefined;
  if (consoleConfig) log.info('console on', { url: `${consoleConfig.origin}/console/` });
  const extraRoutes: typeof apiRoutes = consoleRoutes
    ? async (req, res, id) => (await consoleRoutes(req, res, id)) || apiRoutes(req, res, id)
    : apiRoutes;
  // Every worker takes audit batches; the store is what they share (`activity/kubernetes-keys.ts`).
  const kubernetesAudit = kubernetesAuditFromEnv(env, activity?.providers ?? [], {
    store,
    log,
    policy: () => policy,
    forbiddenActions: metrics.forbiddenActions,
    batches: metrics.kubernetesAuditBatches,
    events: metrics.kubernetesAuditEvents,
    ...(activity?.publicUrl ? { publicUrl: activity.publicUrl } : {}),
  });
  const server = createServer({
    ...deps,
    ...(kubernetesAudit ? { kubernetesAudit } : {}),
    ciWebhooks: ciWebhooksFromEnv(env),
    limits,
    proxyTrust,
    approvals: gate ? { ...approvals, redeemAtGate: gate.redeem } : approvals,
    gate,
    extraRoutes,
  });

  const reload = async () => {
    try {
      const { roles } = await stageReload();
      commitReload();
      metrics.reloads.inc({ outcome: 'ok' });
      log.info('policy reloaded', { policy: policyPath, roles, digest });
    } catch (err) {
      metrics.reloads.inc({ outcome: 'invalid' });
      log.error('policy reload refused; the previous policy stays in force', {
        policy: policyPath,
        problems: String(err),
      });
    }
  };
  // A worker reloads only when its primary says so (a SIGHUP sent to the whole process group
  // must not make one worker decide alone, nor end it: SIGHUP's default action).
  process.on('SIGHUP', () =>
    link ? log.debug('SIGHUP ignored: the primary reloads workers') : void reload(),
  );
  // Upstream lease end (Kubernetes Secrets) on the purge's clock: 60 s unless JITKEY_PURGE_INTERVAL_MS.
  // One sweeper is enough, like one purger: worker 1, or the single process.
  const stopSweeps =
    workerIndex > 1
      ? () => {}
      : startSweeps({
          providers,
          policy: () => policy,
          store,
          now: () => new Date(),
          log,
          intervalMs: purge.purgeIntervalMs ?? DEFAULT_PURGE_INTERVAL_MS,
        });

  // Every worker registers its leases' keys; one collector polls them, like one sweeper.
  const collector =
    activity && workerIndex <= 1
      ? startActivity(activity, {
          store,
          log,
          policy: () => policy,
          forbiddenActions: metrics.forbiddenActions,
          github,
        })
      : undefined;

  // One exporter sends the audit trail to the SIEM, like one collector (`export/from-env.ts`).
  const exporter = siemExport && workerIndex <= 1 ? await startExport(siemExport, { store, log }) : undefined;

  // One reconciler is enough, like one sweeper.
  const stopReconciler =
    gate && reconcileMs > 0 && workerIndex <= 1 ? gate.startReconciler(reconcileMs) : () => {};
  // Reminders and escalations of waiting approval requests: one timer too (`approvals/nudge.ts`).
  const nudgeMs = nudgeIntervalFromEnv(env);
  const stopNudges = nudgeMs > 0 && workerIndex <= 1 ? createNudges(approvalDeps).start(nudgeMs) : () => {};

  let stopping = false;
  const shutdown = (sig: string) => {
    if (stopping) return;
    stopping = true;
    log.info('shutting down: finishing in-flight requests', { signal: sig });
    const force = setTimeout(() => server.closeAllConnections(), SHUTDOWN_GRACE_MS).unref();
    // Keep-alive connections go idle as their last response finishes: close them as they do.
    const reap = setInterval(() => server.closeIdleConnections(), 50).unref();
    server.close(() => {
      stopSweeps();
      stopReconciler();
      stopNudges();
      clearTimeout(force);
      clearInterval(reap);
      Promise.all([foldedRefusals.stop(), collector?.stop(), exporter?.stop()])
        .then(() => collector?.close())
        .then(() => store.close())
        .finally(() => {
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
  const url = `http://${host}:${boundPort}`;
  if (link) {
    log.debug('worker listening', { url, worker: workerIndex });
    link.listening(url, digest);
  } else
    log.info('listening', {
      url,
      policy: policyPath,
      roles: policy.roles.size,
      digest,
      store: store.kind,
      ...trustedProxiesLine(proxyTrust),
    });
  prefetchKeys(verifier, log);
}

/** What the `listening` line says of the trusted proxies, when there are any. */
function trustedProxiesLine(trust: ProxyTrust): Record<string, unknown> {
  if (!trust.proxies.ranges.length) return {};
  return { trusted_proxies: trust.proxies.ranges, forwarded_header: trust.header };
}

/** `JITKEY_APPROVAL_NUDGE_INTERVAL`: how often pending requests are checked for reminders (0: never). */
function nudgeIntervalFromEnv(env: Readonly<Record<string, string | undefined>>): number {
  const text = env.JITKEY_APPROVAL_NUDGE_INTERVAL?.trim();
  if (!text) return DEFAULT_NUDGE_INTERVAL_MS;
  if (text === '0') return 0;
  try {
    return parseDuration(text) * 1000;
  } catch {
    throw new Error(
      `JITKEY_APPROVAL_NUDGE_INTERVAL must be a duration such as 30s or 1m (0 turns reminders and escalation notices off), got '${text}'`,
    );
  }
}

/**
 * `--workers` unset: one process on SQLite, where a second worker adds lock waits and CPU per
 * exchange but no exchanges/s (README, Performance); one per CPU on PostgreSQL.
 */
function defaultWorkers(storeUrl: string): string {
  return String(parseStoreUrl(storeUrl).kind === 'sqlite' ? 1 : availableParallelism());
}

/** `--workers N`: 1 is one process; more need a store every process can share. */
function workerCount(text: string, storeUrl: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1 || n > MAX_WORKERS)
    throw new UsageError(
      `--workers (or JITKEY_WORKERS) must be a whole number from 1 to ${MAX_WORKERS}, got '${text}'`,
    );
  const location = parseStoreUrl(storeUrl);
  if (n > 1 && location.kind === 'sqlite' && location.path === ':memory:')
    throw new UsageError(
      `--store sqlite::memory: is private to one process, so ${n} workers would not share replay protection: use a file (sqlite:./jitkey.db) or --workers 1`,
    );
  return n;
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

/**
 * `--audit-retention 90d` (or `JITKEY_AUDIT_RETENTION`): audit rows older than this go in the
 * store's background purge. Unset keeps them forever, as before.
 */
function auditRetention(text: string | undefined): { auditRetentionDays?: number } {
  if (!text) return {};
  let seconds: number;
  try {
    seconds = parseDuration(text);
  } catch {
    throw new Error(`--audit-retention must be a duration such as 90d or 2160h, got '${text}'`);
  }
  if (seconds < 3600) {
    throw new Error(
      `--audit-retention '${text}' is under an hour: audit rows must outlive the leases they record`,
    );
  }
  return { auditRetentionDays: seconds / 86_400 };
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
