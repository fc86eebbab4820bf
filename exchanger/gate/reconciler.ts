/**
 * GitHub does not redeliver a missed webhook, and an answer can fail: the reconciler makes sure no
 * gate is left hanging. Once after start and then on a slow timer it
 *
 * 1. looks again at pending gate requests (one past its deadline is answered `rejected`);
 * 2. lists, per installation and repository, the runs GitHub says are `waiting`, their pending
 *    deployments, and for each environment where this App is an enabled custom protection rule,
 *    works on the deployment as a delivery would (opening what is missing, answering again what
 *    was decided but is still waiting).
 *
 * Within the App's rate limit: a few calls at once, and a pass stops where GitHub says to wait
 * (`Retry-After`, `x-ratelimit-remaining: 0`); the next pass starts over.
 */
import { JitkeyError } from '../errors.js';
import type { GateGithub } from '../github/deployment-gate.js';
import type { Logger } from '../log.js';
import type { Store } from '../store/types.js';
import type { GateDeployment } from './delivery.js';
import { type GateCore, isGateRequest } from './service.js';

export const RECONCILE_INTERVAL_MS = 5 * 60_000;
/** GitHub calls at once during a pass. */
export const RECONCILE_CONCURRENCY = 4;

export interface ReconcileDeps {
  core: GateCore;
  github: GateGithub;
  store: Store;
  log: Logger;
  now: () => Date;
  /** Whether any role has `approval.gate` (no pass otherwise: it would spend rate limit for nothing). */
  anyGated: () => boolean;
}

/** Runs `fn` over `items`, `n` at a time; the first rate-limit refusal stops what has not started. */
async function pool<T>(items: readonly T[], n: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  let stop: unknown;
  const worker = async () => {
    while (stop === undefined && next < items.length) {
      const item = items[next++]!;
      try {
        await fn(item);
      } catch (err) {
        if (err instanceof JitkeyError && err.code === 'rate_limited') stop = err;
        else throw err;
      }
    }
  };
  const results = await Promise.allSettled(Array.from({ length: Math.min(n, items.length) }, worker));
  if (stop !== undefined) throw stop;
  const failed = results.find((r) => r.status === 'rejected');
  if (failed) throw (failed as PromiseRejectedResult).reason;
}

export async function reconcileOnce(deps: ReconcileDeps): Promise<{ deployments: number }> {
  const { core, github, store, log } = deps;
  if (!deps.anyGated()) return { deployments: 0 };
  const pending =
    // Pending ones (decided or expired since): an approved deployment still waiting is found by
    // the runs GitHub lists as waiting, below; settling every approved one each pass would ask
    // GitHub about each for hours.
    (await store.listApprovalRequests({ statuses: ['pending'], limit: 1000 })).filter(isGateRequest);
  for (const r of pending) {
    try {
      await core.settleRequest(r.id, { force: false });
    } catch (err) {
      // One deployment GitHub would not describe does not stop the pass for the others.
      if (err instanceof JitkeyError && err.code === 'rate_limited') throw err;
      log.warn('deployment gate reconciler could not settle a request', {
        request_id: r.id,
        error: err as Error,
      });
    }
  }
  if (github.pausedUntil()) return { deployments: 0 };
  let deployments = 0;
  const installations = await github.installations();
  // One installation at a time, its repositories a few at once: at most that many calls in flight.
  for (const inst of installations) {
    const repos = await github.repositories(inst.id);
    await pool(repos, RECONCILE_CONCURRENCY, async (repo) => {
      const runs = await github.waitingRuns(inst.id, repo.owner, repo.name);
      for (const run of runs) {
        for (const environment of await github.pendingEnvironments(inst.id, repo.owner, repo.name, run.id)) {
          if (!(await github.isRuleOf(inst.id, repo.owner, repo.name, environment))) continue;
          const d: GateDeployment = {
            installationId: inst.id,
            owner: repo.owner,
            repo: repo.name,
            repository: `${repo.owner}/${repo.name}`,
            repositoryId: repo.id,
            runId: run.id,
            environment,
            ...(run.event ? { event: run.event } : {}),
            ...(run.headSha ? { sha: run.headSha } : {}),
          };
          deployments++;
          try {
            await core.handle(d, `reconcile_${run.id}`);
          } catch (err) {
            if (err instanceof JitkeyError && err.code === 'rate_limited') throw err;
            log.warn('deployment gate reconciler could not work on a waiting deployment', {
              repository: d.repository,
              run_id: run.id,
              environment,
              error: err as Error,
            });
          }
        }
      }
    });
  }
  return { deployments };
}

/** A pass soon after start, then every `intervalMs`; passes never overlap. Returns `stop`. */
export function startReconciler(deps: ReconcileDeps, intervalMs = RECONCILE_INTERVAL_MS): () => void {
  let running = false;
  const pass = () => {
    if (running) return;
    running = true;
    reconcileOnce(deps)
      .then(({ deployments }) => {
        if (deployments) deps.log.info('deployment gate reconciled', { deployments });
      })
      .catch((err: unknown) =>
        deps.log.warn('deployment gate reconciler pass stopped', { error: err as Error }),
      )
      .finally(() => {
        running = false;
      });
  };
  const first = setTimeout(pass, Math.min(intervalMs, 5_000)).unref();
  const timer = setInterval(pass, intervalMs).unref();
  return () => {
    clearTimeout(first);
    clearInterval(timer);
  };
}
