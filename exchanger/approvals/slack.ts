/**
 * `approval.notify: { slack: URL }`: the new request as a Slack Block Kit message for an incoming
 * webhook. What an approver needs to decide whether to look (role, repository, actor, environment,
 * time left) and a "Review" button to the request's console page. Every value is escaped for
 * Slack's mrkdwn (`&`, `<`, `>`: a branch named `<https://evil|click>` must not become a link or
 * a mention) and sent verbatim (no automatic links or mentions); no poll token, OIDC token or other secret is in it. A role with
 * `approval.chat_decisions: true` also gets Approve and Deny buttons, whose clicks Slack sends to
 * `POST /v1/slack/interactions` (`slack-interactions.ts`).
 */
import { type JobName, jobName } from '../ci-job.js';
import { jobKind } from '../claims.js';
import { formatDuration } from '../duration.js';
import type { ApprovalRequestRecord } from '../store/approvals-types.js';
import { approveCommand } from './views.js';

/** Slack's limit for one text field is 2000 characters; a value is cut well below it. */
const MAX_VALUE = 300;

/** Text as Slack mrkdwn shows it literally: its three control characters escaped. */
export function escapeMrkdwn(text: string): string {
  const cut = text.length > MAX_VALUE ? `${text.slice(0, MAX_VALUE)}…` : text;
  return cut.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/**
 * A mrkdwn text object Slack shows as written: `verbatim` turns off its automatic parsing, which
 * would otherwise make a bare URL (`evil.example/login`), a `#channel` or an `@here` in a branch
 * or login into a link or a mention. Explicit `<url|text>` links (escaped values never form one)
 * still render.
 */
export function mrkdwn(text: string): { type: 'mrkdwn'; text: string; verbatim: true } {
  return { type: 'mrkdwn', text, verbatim: true };
}

/** The `action_id`s of the decision buttons; their `value` is the request id. */
export const APPROVE_ACTION = 'jitkey_approve';
export const DENY_ACTION = 'jitkey_deny';
const REVIEW_ACTION = 'jitkey_review';

export interface SlackMessageOptions {
  /** Approve / Deny buttons (a role with `chat_decisions`, a request still pending). */
  buttons?: boolean;
  /** What happened, shown under the request (the message as updated after a decision in Slack). */
  outcome?: string;
}

export function reviewUrl(publicUrl: string, requestId: string): string {
  return `${publicUrl}/console/requests/${encodeURIComponent(requestId)}`;
}

/** `*GitLab CI/CD job*\n<url|acme/web pipeline 574 job 302>`: a link only of a URL mrkdwn cannot misread. */
function jobField(job: JobName): ReturnType<typeof mrkdwn> {
  const text = escapeMrkdwn([job.project, job.run, job.job].filter(Boolean).join(' ') || '—');
  const linked = job.url && /^https?:\/\/[^\s<>|]+$/.test(job.url) ? `<${job.url}|${text}>` : text;
  return mrkdwn(`*${escapeMrkdwn(job.system)} job*\n${linked}`);
}

export function slackMessage(
  request: ApprovalRequestRecord,
  publicUrl?: string,
  options: SlackMessageOptions = {},
): Record<string, unknown> {
  const c = request.claims;
  const left = Math.max(0, Math.round((request.expiresAt.getTime() - request.createdAt.getTime()) / 1000));
  const field = (label: string, value: string | undefined) =>
    mrkdwn(`*${label}*\n${value === undefined || value === '' ? '—' : escapeMrkdwn(value)}`);
  // Another CI system's job is named in its own terms (`ci-job.ts`): project, run and job, a link.
  const job = jobKind(c) === 'github' ? undefined : jobName(c);
  const title = `Approval needed: role ${request.role} for ${c.repository ?? job?.project ?? 'a job'}`;
  const blocks: Record<string, unknown>[] = [
    { type: 'section', text: mrkdwn(`*${escapeMrkdwn(title)}*`) },
    {
      type: 'section',
      fields: [
        field('Role', request.role),
        job ? jobField(job) : field('Repository', c.repository),
        field('Actor', c.actor ?? job?.actor),
        field('Environment', c.environment),
        field('Time left', formatDuration(left)),
        field('Approvals', `${request.approvals.length} of ${request.required}`),
      ],
    },
  ];
  if (options.outcome) {
    blocks.push({ type: 'section', text: mrkdwn(escapeMrkdwn(options.outcome)) });
  }
  const elements: Record<string, unknown>[] = [];
  if (publicUrl) {
    elements.push({
      type: 'button',
      action_id: REVIEW_ACTION,
      text: { type: 'plain_text', text: 'Review' },
      url: reviewUrl(publicUrl, request.id),
      ...(options.buttons ? {} : { style: 'primary' }),
    });
  }
  if (options.buttons) {
    elements.push(
      {
        type: 'button',
        action_id: APPROVE_ACTION,
        text: { type: 'plain_text', text: 'Approve' },
        value: request.id,
        style: 'primary',
      },
      {
        type: 'button',
        action_id: DENY_ACTION,
        text: { type: 'plain_text', text: 'Deny' },
        value: request.id,
        style: 'danger',
      },
    );
  }
  if (elements.length) blocks.push({ type: 'actions', elements });
  if (!publicUrl) {
    blocks.push({
      type: 'context',
      elements: [mrkdwn(escapeMrkdwn(approveCommand(request.id, publicUrl)))],
    });
  }
  // `text` is what notifications and clients without blocks show.
  return { text: escapeMrkdwn(title), blocks };
}
