/**
 * Waiting on a `202 pending` exchange (reference.md §3, "Approvals"), as the Action waits: say who can
 * approve and how, poll the request with growing, jittered pauses until it is decided, and give up
 * at `--wait-approval`. Unreachable or busy polls are tried again until then.
 */
import { formatDuration } from '../duration.js';
import { clean } from '../text/clean.js';
import { type ExchangeClient, ExchangeFailure, type Pending, type RequestStatus } from './exchange-client.js';

export interface WaitDeps {
  now(): number;
  sleep(ms: number): Promise<void>;
  random(): number;
  /** One line to stderr. */
  say(line: string): void;
}

export const WAIT_DEFAULTS = { firstDelayMs: 2000, maxDelayMs: 15_000, progressEveryMs: 30_000 };

/** Why no credentials came of an approval request: denied, expired or timed out. */
export class ApprovalEnded extends Error {
  override name = 'ApprovalEnded';
}

export async function waitForApproval(
  client: Pick<ExchangeClient, 'status' | 'base'>,
  pending: Pending,
  o: { role: string; timeoutSeconds: number; deps: WaitDeps },
): Promise<RequestStatus> {
  const { deps } = o;
  // As the exchanger sent them, they go into lines and errors: one line each, no terminal sequence.
  const id = clean(pending.request_id);
  const approvers = pending.approvers.length
    ? clean(pending.approvers.join(', '))
    : '(the approvers the policy names)';
  deps.say(
    `Role '${o.role}' needs approval: ${pending.required} of ${approvers} must approve request ${id}.`,
  );
  deps.say(`An approver runs:  jitkey approve ${id} --url ${client.base}`);
  deps.say(
    `Waiting up to ${formatDuration(o.timeoutSeconds)}${pending.expires_at ? ` (the request expires at ${clean(pending.expires_at)})` : ''}.`,
  );
  const start = deps.now();
  const deadline = start + o.timeoutSeconds * 1000;
  let lastProgress = start;
  let delay = WAIT_DEFAULTS.firstDelayMs;
  for (;;) {
    let status: RequestStatus | undefined;
    let wait = Math.round(delay / 2 + (deps.random() * delay) / 2);
    try {
      status = await client.status(pending);
    } catch (e) {
      // A busy or unreachable exchanger is asked again; a refusal (404: a wrong poll token) is final.
      if (
        !(e instanceof ExchangeFailure) ||
        !(e.code === 'unreachable' || e.status === 429 || e.status >= 500)
      )
        throw e;
      if (e.retryAfter) wait = Math.max(wait, Math.min(e.retryAfter * 1000, WAIT_DEFAULTS.maxDelayMs * 4));
    }
    switch (status?.status) {
      case 'approved':
        deps.say(
          `Request ${id} approved by ${clean(status.approvals.map((a) => a.login).join(', ') || 'an approver')}.`,
        );
        return status;
      case 'denied':
        throw new ApprovalEnded(
          `Approval for role '${o.role}' was denied (request ${id}): ${clean(status.reason ?? 'no reason given')}`,
        );
      case 'expired':
        throw new ApprovalEnded(
          `Approval request ${id} for role '${o.role}' expired on the exchanger before anyone approved it; re-run the job to ask again.`,
        );
      case 'redeemed':
        throw new ApprovalEnded(
          `Approval request ${id} was already redeemed; each approval is good for one use. Re-run the job to ask again.`,
        );
      default:
        break;
    }
    const now = deps.now();
    if (now >= deadline) {
      throw new ApprovalEnded(
        `No approval for role '${o.role}' within --wait-approval (${formatDuration(o.timeoutSeconds)}); request ${id} is still pending. Ask an approver (${approvers}) and re-run the job, or raise --wait-approval.`,
      );
    }
    if (now - lastProgress >= WAIT_DEFAULTS.progressEveryMs) {
      deps.say(
        `Waiting for approval of request ${id}: ${formatDuration(Math.floor((now - start) / 1000))} so far.`,
      );
      lastProgress = now;
    }
    await deps.sleep(Math.max(0, Math.min(wait, deadline - now)));
    delay = Math.min(WAIT_DEFAULTS.maxDelayMs, Math.round(delay * 1.5));
  }
}
