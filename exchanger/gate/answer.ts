/**
 * Answering GitHub's deployment gate: `POST …/actions/runs/{id}/deployment_protection_rule`,
 * retried (bounded) when GitHub does not take it, never when it says to wait (rate limit). An
 * answer (approved, rejected) is audited; one GitHub never took is logged and audited as an
 * error, and left to the reconciler, which answers again while the run waits.
 */
import { JitkeyError } from '../errors.js';
import type { GateReview } from '../github/deployment-gate.js';
import type { AuditEntry } from '../store/audit-types.js';
import type { GateDeps, GateGroup } from './types.js';

export type Answer = (
  g: GateGroup,
  review: GateReview,
  rowBase: Omit<AuditEntry, 'at' | 'outcome' | 'reason' | 'event'>,
) => Promise<boolean>;

export function answerer(
  deps: Pick<GateDeps, 'store' | 'log' | 'now' | 'gateGithub' | 'retryDelaysMs' | 'metrics'>,
): Answer {
  const { store, log } = deps;
  /** `jitkey_decisions_total{outcome="gate_approved"|"gate_rejected"|"gate_answer_failed"}`. */
  const count = (role: string | undefined, outcome: string, code: string) =>
    deps.metrics.decisions.inc({ role: role ?? '', outcome, code });
  const audit = async (row: Omit<AuditEntry, 'at'>) => {
    try {
      await store.record({ at: deps.now(), ...row });
    } catch (err) {
      log.error('could not audit a deployment gate event', {
        request_id: row.requestId,
        error: err as Error,
      });
    }
  };

  return async (g, review, rowBase) => {
    const delays = deps.retryDelaysMs ?? [1000, 5000];
    const what = review.state ?? 'status report';
    for (let attempt = 0; ; attempt++) {
      try {
        await deps.gateGithub.review(g.installationId, g.owner, g.repo, g.run.runId, review);
        if (review.state) {
          await audit({
            ...rowBase,
            event: 'gate',
            outcome: review.state === 'approved' ? 'allowed' : 'denied',
            reason: `deployment gate answered ${review.state} for environment ${g.environment} of run ${g.run.runId} attempt ${g.run.runAttempt}`,
          });
        }
        log.info('deployment gate answered', {
          run_id: g.run.runId,
          environment: g.environment,
          state: what,
        });
        if (review.state) count(rowBase.role, `gate_${review.state}`, '');
        return true;
      } catch (err) {
        const limited = err instanceof JitkeyError && err.code === 'rate_limited';
        if (!limited && attempt < delays.length) {
          await new Promise((r) => setTimeout(r, delays[attempt]));
          continue;
        }
        log.error('deployment gate answer failed; the reconciler tries again while the run waits', {
          run_id: g.run.runId,
          environment: g.environment,
          state: what,
          error: err as Error,
        });
        await audit({
          ...rowBase,
          event: 'gate',
          outcome: 'error',
          errorCode: err instanceof JitkeyError ? err.code : 'upstream_error',
          reason: `deployment gate ${what} for environment ${g.environment} of run ${g.run.runId} attempt ${g.run.runAttempt} not delivered after ${attempt + 1} attempt(s): ${(err as Error).message}`,
        });
        count(rowBase.role, 'gate_answer_failed', err instanceof JitkeyError ? err.code : 'upstream_error');
        return false;
      }
    }
  };
}
