/**
 * What each party is shown of an approval request. The job (holding the poll token) sees its
 * status, who approved and a denial's reason; approvers, once GitHub and the policy say they are
 * one, see what they are deciding on: role, repository, ref, actor, run. Nobody sees a hash.
 */
import type { RequestStatusAnswer } from '../api-types.js';
import { type JobName, jobName } from '../ci-job.js';
import { jobKind } from '../claims.js';
import { formatDuration } from '../duration.js';
import type { Pending } from '../exchange/types.js';
import type { ApprovalRequestRecord, ApprovalStatus } from '../store/approvals-types.js';

/** What an approver runs to approve a request (in notifications and Slack messages). */
export function approveCommand(requestId: string, publicUrl: string | undefined): string {
  return `jitkey approve ${requestId} --url ${publicUrl ?? '<exchanger URL>'}`;
}

/** The job's `202`: the exchange route's own answer type. */
export type PendingView = Pending;

/** The job's status answer (`api-types.ts`). */
export type StatusView = RequestStatusAnswer;

/** The claims an approver is shown (and a notification carries), as the job's token had them. */
const SHOWN_CLAIMS = [
  'repository',
  'ref',
  'environment',
  'event_name',
  'workflow_ref',
  'run_id',
  'run_attempt',
  'actor',
] as const;

export type ShownClaims = Partial<Record<(typeof SHOWN_CLAIMS)[number], string>> & {
  /** A GitLab, Buildkite or CircleCI job in its own system's terms, with a link (`ci-job.ts`). */
  job?: JobName;
};

/** What an approver needs to find and decide a request: the fields a listing and a notification share. */
export interface RequestSummary extends ShownClaims {
  request_id: string;
  role: string;
  approvers: string[];
  required: number;
  created_at: string;
  expires_at: string;
}

export interface RequestView extends RequestSummary {
  status: ApprovalStatus;
  approvals: Array<{ login: string; at: string; reason?: string }>;
  reason?: string;
  denied_by?: string;
}

export function shownClaims(request: Pick<ApprovalRequestRecord, 'claims'>): ShownClaims {
  const claims: ShownClaims = {};
  for (const name of SHOWN_CLAIMS)
    if (request.claims[name] !== undefined) claims[name] = request.claims[name];
  // GitHub's requests read as they always have; another system's job is named in its own terms.
  if (jobKind(request.claims) !== 'github') claims.job = jobName(request.claims);
  return claims;
}

export function pendingView(request: ApprovalRequestRecord, pollToken: string): PendingView {
  return {
    status: 'pending',
    request_id: request.id,
    poll_token: pollToken,
    expires_at: request.expiresAt.toISOString(),
    approvers: request.approvers,
    required: request.required,
  };
}

const denial = (request: ApprovalRequestRecord, status: ApprovalStatus) =>
  status === 'denied'
    ? {
        ...(request.reason !== undefined ? { reason: request.reason } : {}),
        ...(request.decidedBy !== undefined ? { denied_by: request.decidedBy } : {}),
      }
    : {};

/**
 * Why an expired request expired, for the job's log: nobody answered in time (and who could
 * have), approved but never redeemed, or the reason recorded when its run ended.
 */
export function expiryReason(request: ApprovalRequestRecord, approvers = request.approvers): string {
  if (request.reason) return request.reason;
  const votes = new Set(request.approvals.map((v) => v.id)).size;
  if (request.status === 'approved' || (request.status === 'expired' && votes >= request.required)) {
    return `approved, but not redeemed by ${request.expiresAt.toISOString()}`;
  }
  const waited = Math.max(0, Math.round((request.expiresAt.getTime() - request.createdAt.getTime()) / 1000));
  return `nobody approved it within its ${formatDuration(waited)} timeout (${votes} of ${request.required} approvals); it could have been approved by ${approvers.join(', ')}`;
}

export function statusView(
  request: ApprovalRequestRecord,
  status: ApprovalStatus,
  required: number,
): StatusView {
  return {
    request_id: request.id,
    status,
    role: request.role,
    approvals: request.approvals.map((v) => ({ login: v.login, at: v.at.toISOString() })),
    required,
    expires_at: request.expiresAt.toISOString(),
    ...denial(request, status),
    ...(status === 'expired' ? { reason: expiryReason(request) } : {}),
  };
}

export function requestView(
  request: ApprovalRequestRecord,
  status: ApprovalStatus,
  config: { approvers: string[]; required: number },
): RequestView {
  return {
    request_id: request.id,
    status,
    role: request.role,
    ...shownClaims(request),
    created_at: request.createdAt.toISOString(),
    expires_at: request.expiresAt.toISOString(),
    approvers: config.approvers,
    required: config.required,
    approvals: request.approvals.map((v) => ({
      login: v.login,
      at: v.at.toISOString(),
      ...(v.reason !== undefined ? { reason: v.reason } : {}),
    })),
    ...denial(request, status),
  };
}
