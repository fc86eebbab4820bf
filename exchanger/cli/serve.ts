/**
 * `jitkey serve`: reads its flags (`serve-flags.ts`), wires the policy (`serve-policy.ts`),
 * verifier, store and providers into the HTTP server, starts the background work, and owns the
 * process lifecycle (`serve-lifecycle.ts`): SIGHUP reloads the policy (an invalid one is refused
 * and the old one stays), SIGTERM/SIGINT stop accepting, let in-flight requests finish, then
 * close the store.
 *
 * `--workers N` (default: one per CPU on PostgreSQL, one process on SQLite) runs N such servers
 * as node:cluster workers behind one socket; the primary (cluster-primary.ts) coordinates
 * reloads, shutdown and `/metrics`. `--workers 1` is one process, as before.
 */
import cluster from 'node:cluster';
import type { Server } from 'node:http';
import { holderGone } from '../export/holder.js';
import { childLogger, createLogger, type Logger } from '../log.js';
import { clusterNamesFromEnv } from '../providers/kubernetes-config.js';
import type { Metrics } from '../server/metrics.js';
import { createMetrics } from '../server/metrics.js';
import { DEFAULT_PURGE_INTERVAL_MS } from '../store/common.js';
import { openStore, parseStoreUrl } from '../store/open.js';
import type { TokenVerifier } from '../token/types.js';
import { activityFromEnv } from './activity-from-env.js';
import { runPrimary } from './cluster-primary.js';
import { WORKER_INDEX_ENV } from './cluster-protocol.js';
import { linkWorker, type WorkerLink } from './cluster-worker.js';
import { loadAside, validateAside } from './policy-aside.js';
import { buildGuards, buildProviders, githubAppFromEnv } from './providers-from-env.js';
import { type ServeFlags, serveFlags, trustedProxiesLine } from './serve-flags.js';
import { listen, onSignals } from './serve-lifecycle.js';
import { type LivePolicy, livePolicy } from './serve-policy.js';
import { startBackground, wireServer } from './serve-wiring.js';

export async function serve(argv: string[], env: NodeJS.ProcessEnv = process.env): Promise<void> {
  const flags = serveFlags(argv, env);
  const baseLog = createLogger({ level: flags.level });
  if (flags.workers > 1 && cluster.isPrimary) return servePrimary(flags, baseLog, env);
  const workerIndex = cluster.isWorker ? Number(env[WORKER_INDEX_ENV] ?? cluster.worker?.id ?? 1) : 0;
  // Each worker's lines say which worker wrote them: a pino binding, serialised once, not an
  // object built on every call (a debug line that is not written included).
  const log = workerIndex ? childLogger(baseLog, { worker: workerIndex }) : baseLog;
  // One process does what one is enough for (purge, sweeps, collector, exporter, reconciler,
  // nudges): worker 1, or the single process; the others would only find the work done.
  const lead = workerIndex <= 1;

  // A worker compiles the policy its primary read, so every worker holds the same content; one
  // process reads it itself. Either way it is parsed on a thread of its own (policy-aside.ts).
  const link: WorkerLink | undefined = cluster.isWorker ? linkWorker(log) : undefined;
  const clusters = clusterNamesFromEnv(env);
  const loaded = await loadAside(
    link ? { snapshot: await link.policy() } : { path: flags.policyPath },
    clusters,
  );
  const activity = activityFromEnv(env);
  const purge = lead ? purgeInterval(env) : { purgeIntervalMs: 0 };
  const store =
    link?.primaryStore() ?? (await openStore(flags.storeUrl, { log, ...purge, ...flags.retention }));
  // One GitHub App client for the provider, the environment guard and approvals.
  const github = githubAppFromEnv(env, log);
  const providers = buildProviders(env, { log }, github);
  const guards = buildGuards(env, { log }, github);
  const ownMetrics = createMetrics();
  const live = livePolicy(loaded, {
    path: flags.policyPath,
    env,
    log,
    providers,
    github,
    metrics: ownMetrics,
    clusters,
  });
  link?.attach({
    snapshot: ownMetrics.snapshot,
    stageReload: live.stage,
    commitReload: live.commit,
    abortReload: live.abort,
  });
  const metrics: Metrics = link ? { ...ownMetrics, render: link.clusterMetrics } : ownMetrics;

  const wired = wireServer({
    env,
    flags,
    log,
    link,
    store,
    github,
    providers,
    guards,
    live,
    metrics,
    activity,
  });
  const { server } = wired;

  const background = lead
    ? await startBackground({
        env,
        flags,
        deps: wired.deps,
        approvalDeps: wired.approvalDeps,
        gate: wired.gate,
        activity,
        intervalMs: purge.purgeIntervalMs ?? DEFAULT_PURGE_INTERVAL_MS,
      })
    : { stop: async () => {} };
  onSignals({
    server,
    log,
    link,
    reload: live.reload,
    finish: () => Promise.all([wired.foldedRefusals.stop(), background.stop()]).then(() => store.close()),
  });

  await listenAndSay(server, { flags, log, link, workerIndex, live, store: store.kind });
}

/** Listens, then says so: a worker to its primary, one process in its `listening` line. */
async function listenAndSay(
  server: Server,
  o: {
    flags: ServeFlags;
    log: Logger;
    link: WorkerLink | undefined;
    workerIndex: number;
    live: LivePolicy;
    store: string;
  },
): Promise<void> {
  const { flags, log, link, live } = o;
  const url = await listen(server, flags.host, flags.port);
  if (link) {
    log.debug('worker listening', { url }); // the line carries `worker` as a binding
    link.listening(url, live.digest());
  } else
    log.info('listening', {
      url,
      policy: flags.policyPath,
      roles: live.policy().roles.size,
      digest: live.digest(),
      store: o.store,
      ...trustedProxiesLine(flags.proxyTrust),
    });
  prefetchKeys(live.verifier(), log);
}

/**
 * The cluster's primary. A bad policy or a store that cannot be opened is refused here once,
 * with the reason, rather than by every worker; opening the store also applies its migrations
 * before any worker starts.
 */
async function servePrimary(flags: ServeFlags, log: Logger, env: NodeJS.ProcessEnv): Promise<void> {
  // Workers validate again with the same names: the primary's check is the early refusal.
  const clusters = clusterNamesFromEnv(env);
  const first = await validateAside(flags.policyPath, clusters);
  // JITKEY_SQLITE_WRITER=primary: on SQLite the primary holds the store and is its one writer
  // (cluster-primary.ts). Otherwise, and always on PostgreSQL, each worker opens its own: the
  // single writer has not yet measured better than workers sharing the file (README, Performance).
  const held = parseStoreUrl(flags.storeUrl).kind === 'sqlite' && env.JITKEY_SQLITE_WRITER === 'primary';
  const store = await openStore(
    flags.storeUrl,
    held ? { log, ...purgeInterval(env), ...flags.retention } : { log, purgeIntervalMs: 0 },
  );
  const kind = store.kind;
  if (!held) await store.close();
  return runPrimary({
    ...(held ? { store: { store, gone: holderGone } } : {}),
    workers: flags.workers,
    log,
    policy: first,
    load: () => validateAside(flags.policyPath, clusters),
    describe: (url) => ({
      url,
      policy: flags.policyPath,
      roles: first.roles,
      store: kind,
      ...trustedProxiesLine(flags.proxyTrust),
    }),
  });
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
