/**
 * What each party is shown of an approval request. The job (holding the poll token) sees its
 * status, who approved and a denial's reason; approvers, once GitHub and the policy say they are
 * one, see what they are deciding on: role, repository, ref, actor, run. Nobody sees a hash.
 */
import type { ApprovalRequestRecord, ApprovalStatus } from '../store/types.js';

export interface PendingView {
  status: 'pending';
  request_id: string;
  poll_token: string;
  expires_at: string;
  approvers: string[];
  required: number;
}

export interface StatusView {
  request_id: string;
  status: ApprovalStatus;
  role: string;
  approvals: Array<{ login: string; at: string }>;
  required: number;
  /** Pending: the approval deadline; approved: the redemption deadline. */
  expires_at: string;
  reason?: string;
  denied_by?: string;
}

export interface RequestView {
  request_id: string;
  status: ApprovalStatus;
  role: string;
  repository?: string;
  ref?: string;
  environment?: string;
  event_name?: string;
  workflow_ref?: string;
  run_id?: string;
  run_attempt?: string;
  actor?: string;
  created_at: string;
  expires_at: string;
  approvers: string[];
  required: number;
  approvals: Array<{ login: string; at: string; reason?: string }>;
  reason?: string;
  denied_by?: string;
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
  };
}

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

export function requestView(
  request: ApprovalRequestRecord,
  status: ApprovalStatus,
  config: { approvers: string[]; required: number },
): RequestView {
  const claims: Partial<Record<(typeof SHOWN_CLAIMS)[number], string>> = {};
  for (const name of SHOWN_CLAIMS)
    if (request.claims[name] !== undefined) claims[name] = request.claims[name];
  return {
    request_id: request.id,
    status,
    role: request.role,
    ...claims,
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
