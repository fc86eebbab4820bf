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

export async function listForApprover(
  { deps, store, requireGithub, persistExpiry }: ApprovalContext,
  userToken: string,
): Promise<{ approver: string; requests: RequestView[] }> {
  const github = requireGithub('approvals need GitHub to say who you are');
  const who = await identify(github, userToken);
  const memo: MembershipMemo = new Map();
  const pending = await store.listApprovalRequests({ statuses: ['pending'], limit: PENDING_SCAN_LIMIT });
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
