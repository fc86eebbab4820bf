/**
 * `approval.notify`: a JSON POST on each new approval request, so a chat bridge or pager can ask
 * the approvers. Fire and forget: the job's 202 never waits for it, and a failure is logged, not
 * fatal. The body carries no secret (no poll token, no OIDC token): only what an approver needs
 * to find and decide the request. https only (http on loopback); through the HTTP core
 * (`net/http-client.ts`): a bounded timeout, no redirects.
 */
import type { Logger } from '../log.js';
import { fetchTransport, httpCall } from '../net/http-client.js';
import { checkUrl, urlRefusal } from '../net/url-rule.js';
import type { NotifyTarget } from '../policy/model/types.js';
import type { ApprovalRequestRecord } from '../store/approvals-types.js';
import { slackMessage } from './slack.js';
import { approveCommand, type RequestSummary, shownClaims } from './views.js';

export const NOTIFY_TIMEOUT_MS = 5000;

export interface NotifyDeps {
  fetch: typeof globalThis.fetch;
  log: Logger;
  /** The exchanger's URL as approvers reach it (`JITKEY_PUBLIC_URL`), for the command line. */
  publicUrl?: string;
  timeoutMs?: number;
}

export interface NotifyPayload extends RequestSummary {
  /**
   * A new request, a break-glass use to review (`break-glass.ts`), or a request still waiting
   * (a reminder, or its escalation to a second list: `nudge.ts`).
   */
  event: 'approval_requested' | 'break_glass_used' | 'approval_reminder' | 'approval_escalated';
  /** What an approver runs. */
  approve_command: string;
}

export function notifyPayload(request: ApprovalRequestRecord, publicUrl?: string): NotifyPayload {
  return {
    event: 'approval_requested',
    request_id: request.id,
    role: request.role,
    ...shownClaims(request),
    approvers: request.approvers,
    required: request.required,
    created_at: request.createdAt.toISOString(),
    expires_at: request.expiresAt.toISOString(),
    approve_command: approveCommand(request.id, publicUrl),
  };
}

/** Sends the notification in the background; resolves when it is done (tests wait on it). */
export function notify(
  deps: NotifyDeps,
  target: NotifyTarget,
  request: ApprovalRequestRecord,
  event: NotifyPayload['event'] = 'approval_requested',
): Promise<void> {
  return postNotification(deps, target, {
    label: 'approval notification',
    fields: { request_id: request.id },
    json: () => ({ ...notifyPayload(request, deps.publicUrl), event }),
    slack: (buttons) =>
      slackMessage(request, deps.publicUrl, {
        // Decision buttons only on a request still to decide, for a role with chat_decisions.
        buttons: buttons && event !== 'break_glass_used',
      }),
  });
}

/**
 * One POST to a notify target (also `forbidden-notify.ts`): the URL rule, then the HTTP core's
 * timeout and redirect refusal, fire and forget; the outcome is logged as
 * `${label} sent|refused|failed`, naming the URL without its query, and for Slack without its
 * path (the webhook's key).
 */
export function postNotification(
  deps: NotifyDeps,
  target: NotifyTarget,
  message: {
    label: string;
    fields: Record<string, unknown>;
    json: () => unknown;
    /** The Slack message; `buttons` is the target's own (the role's chat_decisions). */
    slack: (buttons: boolean) => unknown;
  },
): Promise<void> {
  const slack = typeof target !== 'string';
  const url = slack ? target.slack : target;
  const { label, fields } = message;
  const refusal = urlRefusal(url);
  if (refusal) {
    deps.log.warn(`${label} not sent: the notify URL is not allowed`, {
      ...fields,
      problem: refusal.message,
    });
    return Promise.resolve();
  }
  const parsed = new URL(url);
  // Never the query (it may carry a webhook key), nor a Slack webhook's path (it is the key).
  const where = slack ? `${parsed.origin}/…` : `${parsed.origin}${parsed.pathname}`;
  return httpCall(
    {
      name: label,
      method: 'POST',
      url,
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(slack ? message.slack(target.buttons === true) : message.json()),
      timeoutMs: deps.timeoutMs ?? NOTIFY_TIMEOUT_MS,
      readBody: false,
    },
    fetchTransport(deps.fetch),
  ).then(
    (res) => {
      if (res.ok) deps.log.info(`${label} sent`, { ...fields, url: where });
      else deps.log.warn(`${label} refused`, { ...fields, url: where, status: res.status });
    },
    (err: unknown) => {
      deps.log.warn(`${label} failed`, { ...fields, url: where, error: err as Error });
    },
  );
}

/** `JITKEY_PUBLIC_URL`: the exchanger's URL as approvers reach it; checked like every endpoint. */
export function publicUrlFromEnv(env: Readonly<Record<string, string | undefined>>): string | undefined {
  const text = env.JITKEY_PUBLIC_URL?.trim();
  if (!text) return undefined;
  checkUrl(text, 'JITKEY_PUBLIC_URL');
  return text.replace(/\/+$/, '');
}
