/**
 * A run attempt that completed (GitHub's `workflow_run` webhook) has no job left to redeem an
 * approval: its pending and approved requests are closed, each with its audit row, so approvers
 * are no longer asked about them. A redemption would be refused anyway (`403 run_completed`).
 */
import type { RunKey } from '../store/runs-types.js';
import type { ApprovalContext } from './context.js';
import { closeForRunEnd } from './state.js';

/** Requests of one run attempt read at most; the run cap keeps pending ones to 50. */
const RUN_SCAN_LIMIT = 1000;
const CAS_ATTEMPTS = 3;

export async function closeRunRequests(
  { deps, store, entry }: ApprovalContext,
  run: RunKey,
): Promise<number> {
  const why = `run ${run.runId} attempt ${run.runAttempt} completed`;
  const open = await store.listApprovalRequests({
    statuses: ['pending', 'approved'],
    run,
    limit: RUN_SCAN_LIMIT,
  });
  let closed = 0;
  for (let request of open) {
    for (let attempt = 0; attempt < CAS_ATTEMPTS; attempt++) {
      const now = deps.now();
      const next = closeForRunEnd(request, now, why);
      if (!next) break;
      // Under the request's own id, with its other events (`jitkey audit` shows them together).
      const row = entry(request, { at: now, event: 'expire', outcome: 'denied', reason: `closed: ${why}` });
      if (await store.updateApprovalRequest(request.id, request.version, next, row)) {
        closed++;
        break;
      }
      // Decided or redeemed meanwhile: look again.
      const again = await store.getApprovalRequest(request.id);
      if (!again) break;
      request = again;
    }
  }
  if (closed > 0) deps.log.info('approval requests closed: their run completed', { ...run, closed });
  return closed;
}
