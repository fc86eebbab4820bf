/** Opening an approval request once every claim check has passed: stored, audited, notified. */
import { randomBytes } from 'node:crypto';
import { sameJobClaims } from '../ci-job.js';
import { type Claims, claimText, identifyingClaims, jobKind, ownClaim } from '../claims.js';
import { hashSecret } from '../digest.js';
import { formatDuration } from '../duration.js';
import { JitkeyError } from '../errors.js';
import type { Role } from '../policy/model/types.js';
import type { ApprovalRequestRecord } from '../store/approvals-types.js';
import type { AuditClient } from '../store/audit-types.js';
import { type ApprovalContext, SAME_RUN_CLAIMS } from './context.js';
import { notify } from './notify.js';
import { autoApproveOnCall } from './on-call.js';
import { type PendingView, pendingView } from './views.js';

export interface OpenRequest {
  requestId: string;
  role: Role;
  claims: Claims;
  /** As `ImmediateGrantRequest.appGithub`: on-call auto-approval is for the App's GitHub's tokens only. */
  appGithub: boolean;
  /** As the job asked; checked again against the role at redemption. */
  durationSeconds?: number | undefined;
  /** Who sent the exchange, for the audit row. */
  client?: AuditClient | undefined;
}

/**
 * Open requests one run attempt may have at once (issue 16, item 9). A matrix shares its run, so
 * this leaves room for a wide one; a flood from one run cannot bury everyone else's requests.
 */
export const MAX_PENDING_PER_RUN = 50;
/** Pending requests an approver's listing reads at most (`read.ts`). */
export const PENDING_SCAN_LIMIT = 10_000;

const capReached = () =>
  new JitkeyError(
    'rate_limited',
    `this run attempt already has ${MAX_PENDING_PER_RUN} requests waiting for approval (at most ${MAX_PENDING_PER_RUN}): wait for them to be decided or expire`,
    { retryAfter: 60 },
  );

/**
 * The same cap for another CI system's job: the store indexes runs by GitHub's claims only, so
 * the pending requests (at most PENDING_SCAN_LIMIT, newest first) are matched here by the job's
 * own same-run claims (`ci-job.ts`); a Buildkite job mints tokens at will, and without a cap one
 * job could bury every approver's queue.
 */
async function checkJobCap(store: ApprovalContext['store'], claims: Claims): Promise<void> {
  const names = sameJobClaims(claims);
  const kind = jobKind(claims);
  const pending = await store.listApprovalRequests({
    statuses: ['pending'],
    newestFirst: true,
    limit: PENDING_SCAN_LIMIT,
  });
  const same = pending.filter(
    (r) => jobKind(r.claims) === kind && names.every((n) => r.claims[n] === claimText(claims, n)),
  );
  if (same.length >= MAX_PENDING_PER_RUN) throw capReached();
}

async function checkRunCap(store: ApprovalContext['store'], claims: Claims): Promise<void> {
  const [repositoryId, runId, runAttempt] = SAME_RUN_CLAIMS.map((name) => String(ownClaim(claims, name)));
  const sameRun = await store.listApprovalRequests({
    statuses: ['pending'],
    run: { repositoryId: repositoryId!, runId: runId!, runAttempt: runAttempt! },
    limit: MAX_PENDING_PER_RUN,
  });
  if (sameRun.length >= MAX_PENDING_PER_RUN) throw capReached();
}

export function newPollToken(): string {
  return randomBytes(32).toString('base64url');
}

export async function openRequest(
  ctx: ApprovalContext,
  { requestId, role, claims, durationSeconds, client, appGithub }: OpenRequest,
): Promise<PendingView> {
  const { deps, store, requireGithub, entry, track } = ctx;
  const approval = role.approval;
  if (!approval) throw new Error(`role '${role.name}' has no approval block`);
  requireGithub(`role '${role.name}' needs a human approval`);
  // The job's own system says which claims tie a redemption to the run that asked (`ci-job.ts`).
  const missing = sameJobClaims(claims).filter((name) => !claimText(claims, name));
  if (missing.length) {
    throw new JitkeyError(
      'access_denied',
      `role '${role.name}' needs a human approval, which is tied to the job's run: the token lacks ${missing.join(', ')}`,
    );
  }
  // The store counts a run's requests by GitHub's run claims; other systems' runs are matched here.
  if (jobKind(claims) === 'github') await checkRunCap(store, claims);
  else await checkJobCap(store, claims);
  const now = deps.now();
  const pollToken = newPollToken();
  const actorId = ownClaim(claims, 'actor_id');
  // The console links the workflow file at the exact commit the job ran (not a ref that moves).
  const workflowSha = ownClaim(claims, 'job_workflow_sha');
  const request: ApprovalRequestRecord = {
    id: requestId,
    role: role.name,
    status: 'pending',
    version: 1,
    pollTokenHash: hashSecret(pollToken),
    createdAt: now,
    expiresAt: new Date(now.getTime() + approval.timeoutSeconds * 1000),
    ...(durationSeconds !== undefined ? { durationSeconds } : {}),
    approvers: [...approval.approvers],
    required: approval.required,
    // A numeric actor_id is kept as its string: the self-approval check compares ids, never logins.
    claims: {
      ...identifyingClaims(claims),
      ...(typeof actorId === 'string' || typeof actorId === 'number' ? { actor_id: String(actorId) } : {}),
      ...(typeof workflowSha === 'string' ? { job_workflow_sha: workflowSha } : {}),
      // GitHub.com and a GHES are both GitHub-kind issuers with their own id spaces: redemption
      // compares the issuer too (`ci-job.ts` SAME_JOB). Other systems' claims carry it already.
      ...(jobKind(claims) === 'github' ? { iss: claimText(claims, 'iss')! } : {}),
    },
    approvals: [],
  };
  await store.createApprovalRequest(
    request,
    entry(request, {
      at: now,
      event: 'approval_request',
      outcome: 'pending',
      provider: role.provider,
      reason: `waiting for ${approval.required} of ${approval.approvers.join(', ')} to approve (timeout ${formatDuration(approval.timeoutSeconds)})`,
      expiresAt: request.expiresAt,
      ...client,
    }),
  );
  deps.metrics.decisions.inc({ role: role.name, outcome: 'pending', code: '' });
  deps.log.info('approval requested', {
    request_id: requestId,
    role: role.name,
    repository: request.claims.repository,
    run_id: request.claims.run_id,
    expires_at: request.expiresAt.toISOString(),
  });
  // On call is a GitHub person, named by the token's actor: another issuer's token never says who.
  const onCall = appGithub ? approval.autoApproveOnCall : undefined;
  // Approvers are not asked about a request already approved because its actor is on call.
  if (onCall && (await autoApproveOnCall(ctx, request, onCall))) return pendingView(request, pollToken);
  if (approval.notify) {
    track(
      notify(
        {
          fetch: deps.fetch ?? globalThis.fetch,
          log: deps.log,
          ...(deps.publicUrl ? { publicUrl: deps.publicUrl } : {}),
        },
        approval.notify,
        request,
      ),
    );
  }
  return pendingView(request, pollToken);
}
