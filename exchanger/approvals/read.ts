/** Reading approval requests: the job polls its status; an approver lists what they may decide. */
import { secretMatches } from '../digest.js';
import type { ApprovalListFilter, ApprovalRequestRecord } from '../store/approvals-types.js';
import type { AuditEntry } from '../store/audit-types.js';
import { type Approver, identify, isApprover, isSelf, type MembershipMemo } from './approvers.js';
import { type ApprovalContext, approvalConfig, notFound } from './context.js';
import { PENDING_SCAN_LIMIT } from './open.js';
import { effectiveStatus } from './state.js';
import { type RequestView, requestView, type StatusView, statusView } from './views.js';

export async function requestStatus(
  { deps, store, persistExpiry }: ApprovalContext,
  id: string,
  pollToken: string,
): Promise<StatusView> {
  const request = await store.getApprovalRequest(id);
  if (!request || !secretMatches(pollToken, request.pollTokenHash)) throw notFound(id);
  await persistExpiry(request);
  const { required } = approvalConfig(deps.policy(), request, deps.now());
  return statusView(request, effectiveStatus(request, deps.now()), required);
}

/**
 * The pending requests `userToken`'s holder may decide. Which roles those are comes from the
 * policy in force, so the query reads only them, never the caller's own jobs: however many
 * requests other runs open, they cannot push this approver's out of the listing (issue 16, item 9).
 */
export async function listForApprover(
  ctx: ApprovalContext,
  userToken: string,
): Promise<{ approver: string; requests: RequestView[] }> {
  const github = ctx.requireGithub('approvals need GitHub to say who you are');
  return listDecidable(ctx, await identify(github, userToken));
}

/** The same listing for someone GitHub has already named (a console session). */
export async function listDecidable(
  ctx: ApprovalContext,
  who: Approver,
): Promise<{ approver: string; requests: RequestView[] }> {
  return { approver: who.login, requests: (await queueOf(ctx, who)).map((item) => item.view) };
}

/** A queued request with what the console shows besides its view: its recorded claims and duration. */
export type QueuedRequest = Omit<RequestDetail, 'history'>;

/** The pending requests `who` may decide, oldest first, each with its recorded claims. */
export async function queueOf(ctx: ApprovalContext, who: Approver): Promise<QueuedRequest[]> {
  const scope = await decidableScope(ctx, who);
  const pending = await ctx.store.listApprovalRequests({ ...scope.filter, limit: PENDING_SCAN_LIMIT });
  return keepDecidable(ctx, who, scope.memo, pending);
}

/**
 * The newest `shown` pending requests `who` may decide, newest first, and how many there are in
 * all: one limited read and one count, however many are pending (the console's queue). The count
 * is the query's narrowing; a request of a role the policy no longer gates, whose recorded
 * approvers leave `who` out, is taken off it only when it is among the newest read.
 */
export async function queuePageOf(
  ctx: ApprovalContext,
  who: Approver,
  shown: number,
): Promise<{ items: QueuedRequest[]; total: number }> {
  const scope = await decidableScope(ctx, who);
  const filter = { ...scope.filter, openAt: ctx.deps.now() };
  const [newest, total] = await Promise.all([
    ctx.store.listApprovalRequests({ ...filter, newestFirst: true, limit: shown }),
    ctx.store.countApprovalRequests(filter),
  ]);
  const items = await keepDecidable(ctx, who, scope.memo, newest);
  return { items, total: Math.max(items.length, total - (newest.length - items.length)) };
}

/** The query's narrowing of the pending requests to those `who` may decide. */
async function decidableScope(
  { deps, requireGithub }: ApprovalContext,
  who: Approver,
): Promise<{ filter: ApprovalListFilter; memo: MembershipMemo }> {
  const github = requireGithub('approvals need GitHub to say who you are');
  const memo: MembershipMemo = new Map();
  const gated = [...deps.policy().roles.values()].filter((role) => role.approval);
  const decidable: string[] = [];
  for (const role of gated) {
    // An escalation approver too: whether the request has escalated yet is checked after, per request.
    const named = [...role.approval!.approvers, ...(role.approval!.escalate?.approvers ?? [])];
    if (await isApprover(github, who, named, memo)) decidable.push(role.name);
  }
  return {
    memo,
    filter: {
      statuses: ['pending'],
      // A request whose role the policy no longer gates keeps its recorded approvers: checked after.
      roles: { in: decidable, orNotIn: gated.map((role) => role.name) },
      notActorId: who.id,
    },
  };
}

/** The same rules as a decision: still pending, not `who`'s own job, `who` an approver in force. */
async function keepDecidable(
  { deps, requireGithub, persistExpiry }: ApprovalContext,
  who: Approver,
  memo: MembershipMemo,
  pending: ApprovalRequestRecord[],
): Promise<QueuedRequest[]> {
  const github = requireGithub('approvals need GitHub to say who you are');
  const mine: QueuedRequest[] = [];
  for (const request of pending) {
    if (effectiveStatus(request, deps.now()) !== 'pending') {
      await persistExpiry(request);
      continue;
    }
    if (isSelf(who, request.claims)) continue;
    const config = approvalConfig(deps.policy(), request, deps.now());
    if (!(await isApprover(github, who, config.approvers, memo))) continue;
    mine.push({
      view: requestView(request, 'pending', config),
      claims: request.claims,
      ...(request.durationSeconds !== undefined ? { durationSeconds: request.durationSeconds } : {}),
    });
  }
  return mine;
}

/** One request as an approver sees it before deciding: its view, its recorded claims, its audit rows. */
export interface RequestDetail {
  view: RequestView;
  /** The claims recorded with the request: the job's identifying ones (a gate request: every claim the gate judged it on); no secret is among them. */
  claims: Readonly<Record<string, string>>;
  durationSeconds?: number;
  history: AuditEntry[];
}

/** Rows of one request's history read at most: a request has a handful; refusals are folded. */
const HISTORY_LIMIT = 200;

/**
 * A request for someone who may decide it: listed as an approver in force (directly or through a
 * team) and not the job's own actor. Anyone else gets the same `not_found` as for an unknown id,
 * so the page reveals nothing of requests that are not theirs.
 */
export async function requestForApprover(
  { deps, store, requireGithub, persistExpiry }: ApprovalContext,
  id: string,
  who: Approver,
): Promise<RequestDetail> {
  const github = requireGithub('approvals need GitHub to say who you are');
  const request: ApprovalRequestRecord | undefined = await store.getApprovalRequest(id);
  if (!request) throw notFound(id);
  const config = approvalConfig(deps.policy(), request, deps.now());
  if (isSelf(who, request.claims) || !(await isApprover(github, who, config.approvers))) throw notFound(id);
  await persistExpiry(request);
  const history = await store.queryAudit({ requestId: id, limit: HISTORY_LIMIT });
  return {
    view: requestView(request, effectiveStatus(request, deps.now()), config),
    claims: request.claims,
    ...(request.durationSeconds !== undefined ? { durationSeconds: request.durationSeconds } : {}),
    history: history.reverse(),
  };
}
