/**
 * A run attempt has ended (GitHub's `workflow_run completed`, delivered to
 * `server/webhook.ts`): the attempt is recorded as completed, so later exchanges with its tokens
 * get `403 run_completed`; its approval requests are closed; then each of its leases ends
 * (`end.ts`): GitHub tokens deleted upstream from the copy sealed under the webhook secret
 * (`run-end.ts`), every lease marked revoked with its own audit row.
 *
 * Ending never depends on the role still being in the policy: a renamed or removed role's
 * GitHub tokens are deleted all the same.
 */
import type { AuditClient } from '../store/audit-types.js';
import type { RunKey } from '../store/runs-types.js';
import { type EndLeaseDeps, endLease } from './end.js';
import { unsealForRunEnd } from './run-end.js';

export interface EndRunDeps extends EndLeaseDeps {
  /** The key the run-end copy of each lease's secret is sealed under; without it, no upstream revoke. */
  webhookSecret?: string | undefined;
  /** The approvals use-case, which closes the run's requests (`approvals/run-end.ts`). */
  approvals?: { closeRun?(run: RunKey): Promise<number> } | undefined;
}

/**
 * Records the attempt as completed and ends its leases; returns how many it ended. `said`: how
 * another CI system's webhook words it (a GitLab pipeline, a Buildkite build: `server/ci-webhooks.ts`).
 */
export async function endRun(
  deps: EndRunDeps,
  run: RunKey,
  requestId: string,
  client: AuditClient = {},
  said?: { reason: string; claims: Record<string, string> },
): Promise<number> {
  const claims = said?.claims ?? {
    repository_id: run.repositoryId,
    run_id: run.runId,
    run_attempt: run.runAttempt,
  };
  const leases = await deps.store.completeRun(run, deps.now(), {
    at: deps.now(),
    requestId,
    event: 'webhook',
    outcome: 'allowed',
    reason:
      said?.reason ??
      `workflow_run completed: run ${run.runId} attempt ${run.runAttempt} ended; revoking its leases`,
    claims,
    ...client,
  });
  // Its approval requests first: nobody should be asked to approve for a job that has ended.
  await deps.approvals?.closeRun?.(run);
  for (const lease of leases) {
    const sealed = lease.sealedRunEnd;
    const key = deps.webhookSecret;
    await endLease(deps, lease, {
      requestId,
      secret: sealed && key ? () => unsealForRunEnd(sealed, key, lease.id) : undefined,
      why: said ? ': its pipeline or build finished' : ': workflow run completed',
      claims,
      client,
    });
  }
  return leases.length;
}
