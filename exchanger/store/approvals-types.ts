/** Approval requests: a role with `approval`, from the `202` until it is redeemed, denied or expires. */
import type { AuditEntry } from './audit-types.js';
import type { LeaseRecord } from './leases-types.js';
import type { RunKey } from './runs-types.js';

export type ApprovalStatus = 'pending' | 'approved' | 'denied' | 'expired' | 'redeemed';

/** One approver's approval; `id` is the GitHub user id (as a string), which `required` counts. */
export interface ApprovalVote {
  login: string;
  id: string;
  at: Date;
  reason?: string;
}

/** The parts of an approval request that change as it moves along (`approvals/state.ts`). */
export interface ApprovalState {
  status: ApprovalStatus;
  /** Pending: the approval deadline. Approved: the redemption deadline. */
  expiresAt: Date;
  approvals: ApprovalVote[];
  /** Why it was denied. */
  reason?: string;
  /** Who denied it (GitHub login). */
  decidedBy?: string;
  leaseId?: string;
  redeemedAt?: Date;
}

export interface ApprovalRequestRecord extends ApprovalState {
  /** The request id the client sees (`request_id`). */
  id: string;
  role: string;
  /** Bumped by every update: updates are compare-and-swap on it. */
  version: number;
  /** SHA-256 (hex) of the poll_token; the token itself is never stored. */
  pollTokenHash: string;
  createdAt: Date;
  /** The duration the job asked for, granted (and checked again) at redemption. */
  durationSeconds?: number;
  /** As the policy named them when the request was made. */
  approvers: string[];
  required: number;
  /**
   * The job's identifying claims plus `actor_id`: what approvers see, what redemption compares
   * (`repository_id`, `run_id`, `run_attempt`) and who may not approve (`actor_id`).
   */
  claims: Record<string, string>;
}

/**
 * Which approval requests to list. Every narrowing happens in the query, so requests that do not
 * match never count against `limit` (issue 16, item 9: a flood of others cannot push them out).
 */
export interface ApprovalListFilter {
  statuses: ApprovalStatus[];
  /**
   * Only requests for a role in `in`, or (when `orNotIn` is given) for a role not in `orNotIn`:
   * an approver's listing is the roles they may decide plus those the policy no longer gates,
   * whose own recorded approvers the caller checks.
   */
  roles?: { in: readonly string[]; orNotIn?: readonly string[] };
  /** Leaves out requests whose `actor_id` claim is this (nobody lists their own job). */
  notActorId?: string;
  /** Only this run attempt's requests (its `repository_id`, `run_id` and `run_attempt` claims). */
  run?: RunKey;
  /** Only requests whose `expiresAt` is after this (not yet expired, whatever their stored status). */
  openAt?: Date;
  /** The newest `limit` first (the console's queue) rather than the oldest. */
  newestFirst?: boolean;
  /** Default 100. */
  limit?: number;
}

export interface ApprovalStore {
  /** Inserts a new approval request (version 1) and its audit row, in one transaction. */
  createApprovalRequest(request: ApprovalRequestRecord, entry: AuditEntry): Promise<void>;
  getApprovalRequest(id: string): Promise<ApprovalRequestRecord | undefined>;
  /** Requests whose stored status is one of `statuses`, narrowed by the query, oldest first (or newest). */
  listApprovalRequests(filter: ApprovalListFilter): Promise<ApprovalRequestRecord[]>;
  /** How many requests `listApprovalRequests` would list without its `limit`. */
  countApprovalRequests(filter: ApprovalListFilter): Promise<number>;
  /**
   * Compare-and-swap: when the request is still at `version`, writes `next` (version + 1), the
   * audit row and, for a redemption, the lease, in one transaction, and returns true. Returns
   * false, writing nothing, when another update came first (or the request is gone).
   */
  updateApprovalRequest(
    id: string,
    version: number,
    next: ApprovalState,
    entry: AuditEntry,
    lease?: LeaseRecord,
  ): Promise<boolean>;
}
