/**
 * Waiting on a `202 pending` exchange (docs/reference.md section 3, approvals): say who can approve and how,
 * poll the request with back-off until it is decided, and give up at `approval-timeout`.
 */

import type { Deps } from '../client/deps.js';
import { type ClientOptions, pollRequest } from '../client/exchanger.js';
import type { PendingApproval, RequestStatus } from '../shared/api.js';
import { ActionError } from '../shared/errors.js';
import { jittered } from '../transport/call.js';

export interface ApprovalOptions {
  client: ClientOptions;
  /** The exchanger URL as the user wrote it, for the `jitkey approve` command line. */
  exchangerUrlText: string;
  role: string;
  timeoutSeconds: number;
  firstDelayMs?: number;
  maxDelayMs?: number;
  progressEveryMs?: number;
}

export const APPROVAL_DEFAULTS = { firstDelayMs: 2000, maxDelayMs: 15_000, progressEveryMs: 30_000 };

/** Resolves with the approved request's status; throws when it is denied, expires or times out. */
export async function waitForApproval(
  deps: Deps,
  pending: PendingApproval,
  options: ApprovalOptions,
): Promise<RequestStatus> {
  const o = { ...APPROVAL_DEFAULTS, ...options };
  const { core } = deps;
  for (const line of approvalInstructions(pending, o)) core.info(line);

  const start = deps.now();
  const deadline = start + o.timeoutSeconds * 1000;
  let lastProgress = start;
  let delay = o.firstDelayMs;
  for (;;) {
    const result = await pollRequest(deps, o.client, pending);
    let wait = jittered(delay, deps.random);
    if (result.kind === 'transient') {
      core.debug(`Approval poll for request ${pending.requestId}: ${result.why}; polling again`);
      if (result.retryAfterMs !== undefined)
        wait = Math.max(wait, Math.min(result.retryAfterMs, o.maxDelayMs * 4));
    } else {
      const { status } = result;
      switch (status.status) {
        case 'approved':
          core.info(`Request ${pending.requestId} approved by ${approvedBy(status) || 'an approver'}.`);
          return status;
        case 'denied':
          throw new ActionError(
            'approval_denied',
            `Approval for role '${o.role}' was denied (request ${pending.requestId}): ${status.reason ?? 'no reason given'}`,
          );
        case 'expired':
          // The exchanger says why (nobody approved in time and who could have, approved but not
          // redeemed, or the run ended); an older exchanger says nothing.
          throw new ActionError(
            'approval_expired',
            `Approval request ${pending.requestId} for role '${o.role}' expired on the exchanger: ${status.reason ?? 'no one approved it in time'}. Re-run the job to ask again.`,
          );
        case 'redeemed':
          throw new ActionError(
            'approval_expired',
            `Approval request ${pending.requestId} was already redeemed; each approval is good for one use. Re-run the job to ask again.`,
          );
        case 'pending':
          break;
      }
    }
    const now = deps.now();
    if (now >= deadline) {
      throw new ActionError(
        'approval_timeout',
        `No approval for role '${o.role}' within approval-timeout (${clock(o.timeoutSeconds * 1000)}); request ${pending.requestId} is still pending. Ask an approver (${approverList(pending)}) and re-run the job, or raise approval-timeout.`,
      );
    }
    if (now - lastProgress >= o.progressEveryMs) {
      core.info(
        `Waiting for approval of request ${pending.requestId}: ${clock(now - start)} elapsed of ${clock(o.timeoutSeconds * 1000)}`,
      );
      lastProgress = now;
    }
    await deps.sleep(Math.max(0, Math.min(wait, deadline - now)));
    delay = Math.min(o.maxDelayMs, Math.round(delay * 1.5));
  }
}

export function approvalInstructions(
  pending: PendingApproval,
  o: { exchangerUrlText: string; role: string; timeoutSeconds: number },
): string[] {
  return [
    `Role '${o.role}' needs approval: ${pending.required} of ${approverList(pending)} must approve request ${pending.requestId}.`,
    `An approver runs:  jitkey approve ${pending.requestId} --url ${o.exchangerUrlText}`,
    `Waiting up to ${clock(o.timeoutSeconds * 1000)}${pending.expiresAt ? ` (the request expires at ${pending.expiresAt})` : ''}.`,
  ];
}

export const approverList = (pending: Pick<PendingApproval, 'approvers'>) =>
  pending.approvers.length ? pending.approvers.join(', ') : '(the approvers named in the policy)';

const approvedBy = (status: RequestStatus) => status.approvals.map((a) => a.login).join(', ');

/** `95000` → `1m35s`. */
export function clock(ms: number): string {
  const total = Math.floor(ms / 1000);
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  return `${h ? `${h}h` : ''}${m ? `${m}m` : ''}${s || total === 0 ? `${s}s` : ''}`;
}
