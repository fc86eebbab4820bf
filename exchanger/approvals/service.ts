/**
 * Approvals without the HTTP (reference.md §3, HTTP API, "Approvals"): open a request once every claim check
 * has passed (`open.ts`), answer its status to the job and list it for approvers (`read.ts`),
 * decide it (`decide.ts`), and redeem it with a fresh token of the same run (`redeem.ts`). Every
 * step that changes a request is one compare-and-swap in the store together with its audit row;
 * the state machine itself is `state.ts`, the shared internals `context.ts`.
 */

import type { Grant } from '../exchange/types.js';
import type { Policy } from '../policy/model/types.js';
import type { AuditClient } from '../store/audit-types.js';
import type { RunKey } from '../store/runs-types.js';
import { clean } from '../text/clean.js';
import type { Approver, ApproverDirectory } from './approvers.js';
import { acknowledge, type BreakGlassUse, breakGlass } from './break-glass.js';
import { type ApprovalDeps, approvalContext } from './context.js';
import { type Decision, decideAs, decideRequest } from './decide.js';
import { type OpenRequest, openRequest } from './open.js';
import {
  listForApprover,
  type QueuedRequest,
  queueOf,
  queuePageOf,
  type RequestDetail,
  requestForApprover,
  requestStatus,
} from './read.js';
import { redeemRequest } from './redeem.js';
import { closeRunRequests } from './run-end.js';
import type { PendingView, RequestView, StatusView } from './views.js';

export interface Approvals {
  open(request: OpenRequest): Promise<PendingView>;
  status(id: string, pollToken: string): Promise<StatusView>;
  list(userToken: string): Promise<{ approver: string; requests: RequestView[] }>;
  decide(id: string, userToken: string, decision: Decision): Promise<RequestView>;
  /** `list` and `decide` for someone already identified (the console's signed-in person). */
  /** The pending requests `who` may decide, oldest first, with their recorded claims (the console's queue). */
  queueAs(who: Approver): Promise<QueuedRequest[]>;
  /** The newest `shown` of them, newest first, and how many there are (one limited read and a count). */
  queuePageAs(who: Approver, shown: number): Promise<{ items: QueuedRequest[]; total: number }>;
  decideAs(id: string, who: Approver, decision: Decision): Promise<RequestView>;
  /** One request for someone who may decide it; `not_found` for anyone else, as for no such id. */
  detailAs(id: string, who: Approver): Promise<RequestDetail>;
  /** `client`: who sent it, for the audit rows (refusals of unverified tokens fold by its address). */
  redeem(id: string, oidcToken: string, body: Record<string, unknown>, client?: AuditClient): Promise<Grant>;
  /** The run attempt completed: closes its pending and approved requests; returns how many. */
  closeRun(run: RunKey): Promise<number>;
  /** Credentials at once for a run a `break_glass` entry names; `undefined` otherwise. */
  breakGlass(use: BreakGlassUse): Promise<Grant | undefined>;
  /** An approver acknowledges a break-glass use (its retro review). */
  acknowledge(id: string, userToken: string): Promise<RequestView>;
  /** Resolves when the notifications sent so far have finished (tests, shutdown). */
  settled(): Promise<void>;
}

export const MAX_REASON_LENGTH = 500;

/** A reason as people typed it, made safe for logs and the job's log: one line, bounded. */
export function cleanReason(text: string): string {
  return clean(text).replace(/\s+/g, ' ').trim().slice(0, MAX_REASON_LENGTH);
}

export function createApprovals(deps: ApprovalDeps): Approvals {
  const ctx = approvalContext(deps);
  return {
    open: (request) => openRequest(ctx, request),
    status: (id, pollToken) => requestStatus(ctx, id, pollToken),
    list: (userToken) => listForApprover(ctx, userToken),
    decide: (id, userToken, decision) => decideRequest(ctx, id, userToken, decision),
    queueAs: (who) => queueOf(ctx, who),
    queuePageAs: (who, shown) => queuePageOf(ctx, who, shown),
    decideAs: (id, who, decision) => decideAs(ctx, id, who, decision),
    detailAs: (id, who) => requestForApprover(ctx, id, who),
    redeem: (id, oidcToken, body, client) => redeemRequest(ctx, id, oidcToken, body, client),
    closeRun: (run) => closeRunRequests(ctx, run),
    breakGlass: (use) => breakGlass(ctx, use),
    acknowledge: (id, userToken) => acknowledge(ctx, id, userToken),
    settled: ctx.settled,
  };
}

/** At start and on reload: roles with `approval` are refused until a GitHub App is configured. */
export function warnApprovalsUnconfigured(
  policy: Policy,
  github: ApproverDirectory | undefined,
  log: { warn(msg: string, fields?: Record<string, unknown>): void },
): void {
  if (github) return;
  for (const role of policy.roles.values()) {
    if (role.approval) {
      log.warn(
        'a role needs approval and no GitHub App is configured to identify approvers; its exchanges are refused',
        {
          role: role.name,
        },
      );
    }
  }
}
