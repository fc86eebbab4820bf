/**
 * The approval state machine, as pure functions of (state, event, now):
 *
 *   pending ──approve (distinct approvers reach `required`)──▶ approved ──redeem──▶ redeemed
 *      │ └──deny (any one approver)──▶ denied
 *      └──expiresAt passes──▶ expired ◀──redeem window passes── approved
 *            (or its run attempt completes, from pending or approved)
 *
 * A pending request expires at its `timeout`; an approved one must be redeemed within the redeem
 * window that starts at the approval. Expiry is computed on read (`effective`), so no background
 * job is needed; the service persists it when it next touches the request.
 */
import { JitkeyError } from '../errors.js';
import type { ApprovalState, ApprovalStatus, ApprovalVote } from '../store/approvals-types.js';

/** How long an approved request may wait for its redemption (the Action polls at least every 15 s). */
export const REDEEM_WINDOW_SECONDS = 10 * 60;

/** The status as of `now`: pending or approved past `expiresAt` reads as expired. */
export function effectiveStatus(state: ApprovalState, now: Date): ApprovalStatus {
  if ((state.status === 'pending' || state.status === 'approved') && now >= state.expiresAt) return 'expired';
  return state.status;
}

/** The state as of `now`, or undefined when nothing changed (for persisting expiry lazily). */
export function expire(state: ApprovalState, now: Date): ApprovalState | undefined {
  return effectiveStatus(state, now) === 'expired' && state.status !== 'expired'
    ? { ...state, status: 'expired' }
    : undefined;
}

/**
 * The request's run attempt has completed (GitHub's `workflow_run` webhook): nothing can be
 * approved or redeemed for it any more. Undefined when it was already closed.
 */
export function closeForRunEnd(state: ApprovalState, now: Date, why: string): ApprovalState | undefined {
  const status = effectiveStatus(state, now);
  if (status !== 'pending' && status !== 'approved') return undefined;
  return { ...state, status: 'expired', expiresAt: now, reason: why };
}

/** Distinct approvers (by GitHub user id) so far; with `inForce`, only those voter ids count. */
export function approvalCount(
  state: { readonly approvals: readonly ApprovalVote[] },
  inForce?: ReadonlySet<string>,
): number {
  return new Set(state.approvals.map((v) => v.id).filter((id) => !inForce || inForce.has(id))).size;
}

const closed = (state: ApprovalState, now: Date, verb: string): JitkeyError => {
  const status = effectiveStatus(state, now);
  const why =
    status === 'expired'
      ? `it expired at ${state.expiresAt.toISOString()}${state.reason ? ` (${state.reason})` : ''}`
      : status === 'denied'
        ? `it was denied${state.decidedBy ? ` by ${state.decidedBy}` : ''}`
        : status === 'redeemed'
          ? 'it was approved and has been used'
          : `it is ${status}`;
  return new JitkeyError('invalid_request', `this request can no longer be ${verb}: ${why}`);
};

export interface ApproveResult {
  next: ApprovalState;
  /** False when the vote changed nothing (the same approver again, or already approved). */
  changed: boolean;
}

/**
 * One approver's approval. The request becomes approved once `required` distinct approvers have
 * approved; the redeem window starts then. An approver approving twice counts once.
 */
export function approve(
  state: ApprovalState,
  vote: ApprovalVote,
  options: {
    required: number;
    now: Date;
    redeemWindowSeconds?: number;
    /** Voter ids the policy in force still names; earlier votes of others no longer count. */
    inForce?: ReadonlySet<string>;
  },
): ApproveResult {
  const status = effectiveStatus(state, options.now);
  if (status === 'approved') return { next: state, changed: false };
  if (status !== 'pending') throw closed(state, options.now, 'approved');
  if (state.approvals.some((v) => v.id === vote.id)) return { next: state, changed: false };
  const approvals = [...state.approvals, vote];
  const next: ApprovalState = { ...state, approvals };
  const inForce = options.inForce && new Set([...options.inForce, vote.id]);
  if (approvalCount(next, inForce) >= options.required) {
    next.status = 'approved';
    const window = (options.redeemWindowSeconds ?? REDEEM_WINDOW_SECONDS) * 1000;
    next.expiresAt = new Date(options.now.getTime() + window);
  }
  return { next, changed: true };
}

/** One approver's denial: a single denial ends a pending request, whatever `required` is. */
export function deny(
  state: ApprovalState,
  denier: { login: string },
  reason: string,
  now: Date,
): ApprovalState {
  if (effectiveStatus(state, now) !== 'pending') throw closed(state, now, 'denied');
  return { ...state, status: 'denied', reason, decidedBy: denier.login };
}

/**
 * Checks that an approved request may be redeemed now; throws `not_approved` or
 * `already_redeemed` otherwise. The caller mints, then commits `redeemed(…)` by compare-and-swap.
 */
export function checkRedeemable(state: ApprovalState & { required?: number }, now: Date): void {
  const status = effectiveStatus(state, now);
  switch (status) {
    case 'approved':
      return;
    case 'redeemed':
      throw new JitkeyError(
        'already_redeemed',
        'this request was already redeemed: an approval is good for one use; re-run the job to ask again',
      );
    case 'pending':
      throw new JitkeyError(
        'not_approved',
        `this request is not approved yet (${approvalCount(state)}${state.required ? ` of ${state.required}` : ''} approvals): poll GET /v1/requests/{id} until it is`,
      );
    case 'denied':
      throw new JitkeyError(
        'not_approved',
        `this request was denied${state.decidedBy ? ` by ${state.decidedBy}` : ''}: ${state.reason ?? 'no reason given'}`,
      );
    case 'expired':
      throw new JitkeyError(
        'not_approved',
        `this request expired at ${state.expiresAt.toISOString()}${state.reason ? ` (${state.reason})` : ''} without being redeemed; re-run the job to ask again`,
      );
  }
}

export function redeemed(state: ApprovalState, leaseId: string, now: Date): ApprovalState {
  return { ...state, status: 'redeemed', leaseId, redeemedAt: now };
}
