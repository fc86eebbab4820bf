/**
 * An approver's approve or deny: identified through GitHub, checked against the approvers in
 * force, and committed by compare-and-swap with its audit row (re-read and retried on a lost race).
 */
import { appGithubIssuer } from '../ci-kinds.js';
import { JitkeyError, unavailable } from '../errors.js';
import type { ApprovalRequestRecord, ApprovalState } from '../store/approvals-types.js';
import type { AuditClient, AuditEntry } from '../store/audit-types.js';
import {
  type Approver,
  authorizeApprover,
  checkNotTriggeredBy,
  identify,
  type MembershipMemo,
  votesInForce,
} from './approvers.js';
import { type ApprovalContext, approvalConfig, notFound } from './context.js';
import { approvalCount, approve, deny, effectiveStatus, REDEEM_WINDOW_SECONDS } from './state.js';
import { type RequestView, requestView } from './views.js';

export interface Decision {
  kind: 'approve' | 'deny';
  reason?: string | undefined;
  /** Who sent the decision (address, user agent), for its audit row. */
  client?: AuditClient | undefined;
}

const CAS_ATTEMPTS = 5;

export async function decideRequest(
  ctx: ApprovalContext,
  id: string,
  userToken: string,
  decision: Decision,
): Promise<RequestView> {
  const github = ctx.requireGithub('approvals need GitHub to say who you are');
  return decideAs(ctx, id, await identify(github, userToken), decision);
}

/** The same decision by someone GitHub has already named (a console session). */
export async function decideAs(
  ctx: ApprovalContext,
  id: string,
  who: Approver,
  decision: Decision,
): Promise<RequestView> {
  const { deps, store, record, entry, persistExpiry, auditsDecisionRefusal } = ctx;
  const github = ctx.requireGithub('approvals need GitHub to say who you are');
  for (let attempt = 0; attempt < CAS_ATTEMPTS; attempt++) {
    const request = await store.getApprovalRequest(id);
    if (!request) throw notFound(id);
    const config = approvalConfig(deps.policy(), request, deps.now());
    const memo: MembershipMemo = new Map();
    let inForce: Set<string> | undefined;
    try {
      await authorizeApprover(github, who, { id, approvers: config.approvers, claims: request.claims }, memo);
      if (decision.kind === 'approve') {
        const appIssuer = appGithubIssuer(deps.policy().issuers, deps.githubIssuer);
        await checkNotTriggeredBy(github, who, request, appIssuer);
        const kept = await votesInForce(github, request.approvals, config, memo);
        inForce = new Set(kept.map((v) => v.id));
      }
    } catch (err) {
      const refusal =
        err instanceof JitkeyError && (err.code === 'access_denied' || err.code === 'self_approval');
      if (refusal && auditsDecisionRefusal(id, who.id, decision.kind)) {
        await record(
          entry(request, {
            event: decision.kind,
            outcome: 'denied',
            errorCode: err.code,
            reason: `${decision.kind} refused: ${err.message}`,
            actor: who.login,
            actorId: who.id,
            ...decision.client,
          }),
        );
      } else if (refusal) {
        deps.log.info('a refused decision not audited again: one per person, request and kind per window', {
          request_id: id,
          by: who.login,
        });
      }
      throw err;
    }
    const now = deps.now();
    let next: ApprovalState;
    try {
      next = transition(ctx, request, who, decision, config.required, now, inForce);
    } catch (err) {
      await persistExpiry(request);
      throw err;
    }
    if (next === request) return requestView(request, effectiveStatus(request, now), config);
    const row = decisionEntry(ctx, request, next, who, decision, config.required, inForce);
    if (await store.updateApprovalRequest(id, request.version, next, row)) {
      deps.log.info(`approval request ${decision.kind === 'approve' ? 'approved' : 'denied'}`, {
        request_id: id,
        role: request.role,
        by: who.login,
        status: next.status,
      });
      return requestView({ ...request, ...next }, next.status, config);
    }
    // Another decision landed first: read the request again and decide on what it is now.
  }
  throw unavailable('the request kept changing while this decision was made; try again');
}

function transition(
  { deps }: ApprovalContext,
  request: ApprovalRequestRecord,
  who: Approver,
  decision: Decision,
  required: number,
  now: Date,
  inForce: ReadonlySet<string> | undefined,
): ApprovalState {
  if (decision.kind === 'deny') return deny(request, who, decision.reason ?? '', now);
  const vote = {
    login: who.login,
    id: who.id,
    at: now,
    ...(decision.reason ? { reason: decision.reason } : {}),
  };
  const result = approve(request, vote, {
    required,
    now,
    redeemWindowSeconds: deps.redeemWindowSeconds ?? REDEEM_WINDOW_SECONDS,
    ...(inForce ? { inForce } : {}),
  });
  return result.changed ? result.next : request;
}

function decisionEntry(
  { entry }: ApprovalContext,
  request: ApprovalRequestRecord,
  next: ApprovalState,
  who: Approver,
  decision: Decision,
  required: number,
  inForce: ReadonlySet<string> | undefined,
): AuditEntry {
  const because = decision.reason ? `: ${decision.reason}` : '';
  const reason =
    decision.kind === 'deny'
      ? `denied${because}`
      : `approved (${approvalCount(next, inForce && new Set([...inForce, who.id]))} of ${required})${because}${next.status === 'approved' ? '; the job may redeem it' : ''}`;
  return entry(request, {
    event: decision.kind,
    outcome: decision.kind === 'approve' ? 'allowed' : 'denied',
    reason,
    actor: who.login,
    actorId: who.id,
    ...(next.status === 'approved' ? { expiresAt: next.expiresAt } : {}),
    ...decision.client,
  });
}
