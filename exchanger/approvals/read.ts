/** Reading approval requests: the job polls its status; an approver lists what they may decide. */
import { secretMatches } from '../digest.js';
import { identify, isApprover, isSelf, type MembershipMemo } from './approvers.js';
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
  const { required } = approvalConfig(deps.policy(), request);
  return statusView(request, effectiveStatus(request, deps.now()), required);
}

/**
 * The pending requests `userToken`'s holder may decide. Which roles those are comes from the
 * policy in force, so the query reads only them, never the caller's own jobs: however many
 * requests other runs open, they cannot push this approver's out of the listing (issue 16, item 9).
 */
export async function listForApprover(
  { deps, store, requireGithub, persistExpiry }: ApprovalContext,
  userToken: string,
): Promise<{ approver: string; requests: RequestView[] }> {
  const github = requireGithub('approvals need GitHub to say who you are');
  const who = await identify(github, userToken);
  const memo: MembershipMemo = new Map();
  const gated = [...deps.policy().roles.values()].filter((role) => role.approval);
  const decidable: string[] = [];
  for (const role of gated) {
    if (await isApprover(github, who, role.approval!.approvers, memo)) decidable.push(role.name);
  }
  const pending = await store.listApprovalRequests({
    statuses: ['pending'],
    // A request whose role the policy no longer gates keeps its recorded approvers: checked below.
    roles: { in: decidable, orNotIn: gated.map((role) => role.name) },
    notActorId: who.id,
    limit: PENDING_SCAN_LIMIT,
  });
  const mine: RequestView[] = [];
  for (const request of pending) {
    if (effectiveStatus(request, deps.now()) !== 'pending') {
      await persistExpiry(request);
      continue;
    }
    if (isSelf(who, request.claims)) continue;
    const config = approvalConfig(deps.policy(), request);
    if (!(await isApprover(github, who, config.approvers, memo))) continue;
    mine.push(requestView(request, 'pending', config));
  }
  return { approver: who.login, requests: mine };
}
