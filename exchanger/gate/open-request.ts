/**
 * A gate request: one approval request per gated role of a deployment, bound to its run attempt,
 * environment, sha and workflow, opened before any job runs (nobody polls it), its approvers told.
 */
import { notify } from '../approvals/notify.js';
import { identifyingClaims } from '../claims.js';
import { hashSecret } from '../digest.js';
import { formatDuration } from '../duration.js';
import type { Role } from '../policy/model/types.js';
import { randomString } from '../random.js';
import type { ApprovalRequestRecord } from '../store/approvals-types.js';
import { GATE_CLAIM } from './claims.js';
import type { GateDeps, GateGroup } from './types.js';

export async function openGateRequest(
  deps: GateDeps,
  role: Role,
  claims: Record<string, string>,
  g: GateGroup,
): Promise<ApprovalRequestRecord> {
  const { store, log } = deps;
  const approval = role.approval!;
  const now = deps.now();
  const request: ApprovalRequestRecord = {
    id: `req_${randomString(12)}`,
    role: role.name,
    status: 'pending',
    version: 1,
    // Nobody polls a gate request: the job is not running yet. A hash of nothing anyone holds.
    pollTokenHash: hashSecret(randomString(32)),
    createdAt: now,
    expiresAt: new Date(now.getTime() + approval.timeoutSeconds * 1000),
    approvers: [...approval.approvers],
    required: approval.required,
    // Every claim the gate judged it on (`gateClaims`, none secret): settling judges it again
    // under the policy then in force (`stillGates`).
    claims: { ...claims, [GATE_CLAIM]: g.installationId },
    approvals: [],
  };
  await store.createApprovalRequest(request, {
    at: now,
    requestId: request.id,
    event: 'approval_request',
    outcome: 'pending',
    role: role.name,
    provider: role.provider,
    reason: `at GitHub's deployment gate (environment ${g.environment}): waiting for ${approval.required} of ${approval.approvers.join(', ')} to approve (timeout ${formatDuration(approval.timeoutSeconds)})`,
    claims: identifyingClaims(request.claims),
    expiresAt: request.expiresAt,
  });
  deps.metrics.decisions.inc({ role: role.name, outcome: 'pending', code: '' });
  log.info('approval requested at the deployment gate', {
    request_id: request.id,
    role: role.name,
    run_id: g.run.runId,
    environment: g.environment,
  });
  if (approval.notify) {
    void notify(
      {
        fetch: deps.fetch ?? globalThis.fetch,
        log,
        ...(deps.publicUrl ? { publicUrl: deps.publicUrl } : {}),
      },
      approval.notify,
      request,
    );
  }
  return request;
}
