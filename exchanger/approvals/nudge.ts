/**
 * When nobody answers (issue 27, item 4): a pending request's `notify` target is told again every
 * `approval.remind_every`, and once it has waited `approval.escalate.after` the escalation target
 * is told that a second list may now decide (`approvalConfig` lets them from that instant on,
 * whether or not this timer has run).
 *
 * One timer on one worker, like the lease sweep. What was sent is kept in the audit trail (an
 * `approval_request` row per reminder or escalation, written before the message goes out), so a
 * restart over the same store neither sends one twice nor skips one that fell due while it was
 * down: it sends the latest due reminder once, not a burst of the missed ones. A row whose message
 * then fails to go out is not retried (a reminder is a nudge, never a gate); the log says so.
 */
import { formatDuration } from '../duration.js';
import type { ApprovalConfig } from '../policy/model/types.js';
import type { ApprovalRequestRecord } from '../store/approvals-types.js';
import type { AuditEntry } from '../store/audit-types.js';
import { type ApprovalContext, type ApprovalDeps, approvalContext, escalatedAt } from './context.js';
import { notify } from './notify.js';
import { PENDING_SCAN_LIMIT } from './open.js';
import { approvalCount, effectiveStatus } from './state.js';

/** How often the timer looks, unless `JITKEY_NUDGE_INTERVAL_MS` says otherwise. */
export const DEFAULT_NUDGE_INTERVAL_MS = 30_000;

const REMINDER = /^reminder (\d+) /;
const ESCALATED = /^escalated /;

export interface NudgeResult {
  reminders: number;
  escalations: number;
}

/** Reminder `n` (1, 2, …) is due `n × every` after the request opened. */
export function remindersDue(createdAt: Date, everySeconds: number, now: Date): number {
  return Math.max(0, Math.floor((now.getTime() - createdAt.getTime()) / (everySeconds * 1000)));
}

/** What the audit trail says was already sent for one request. */
export function alreadySent(rows: readonly AuditEntry[]): { reminder: number; escalated: boolean } {
  let reminder = 0;
  let escalated = false;
  for (const row of rows) {
    if (row.event !== 'approval_request') continue;
    const m = REMINDER.exec(row.reason);
    if (m) reminder = Math.max(reminder, Number(m[1]));
    else if (ESCALATED.test(row.reason)) escalated = true;
  }
  return { reminder, escalated };
}

/** One pass over the pending requests; sends what is due and not yet sent. */
export async function nudgePending(ctx: ApprovalContext): Promise<NudgeResult> {
  const { deps, store } = ctx;
  const out: NudgeResult = { reminders: 0, escalations: 0 };
  const now = deps.now();
  const policy = deps.policy();
  const pending = await store.listApprovalRequests({ statuses: ['pending'], limit: PENDING_SCAN_LIMIT });
  for (const request of pending) {
    if (effectiveStatus(request, now) !== 'pending') continue;
    const approval = policy.roles.get(request.role)?.approval;
    if (!approval || (!approval.remindEverySeconds && !approval.escalate)) continue;
    const sent = alreadySent(await store.queryAudit({ requestId: request.id }));
    if (await remind(ctx, request, approval, sent.reminder, now)) out.reminders++;
    if (!sent.escalated && (await escalate(ctx, request, approval, now))) out.escalations++;
  }
  return out;
}

async function remind(
  ctx: ApprovalContext,
  request: ApprovalRequestRecord,
  approval: ApprovalConfig,
  sent: number,
  now: Date,
): Promise<boolean> {
  if (!approval.remindEverySeconds || !approval.notify) return false;
  const due = remindersDue(request.createdAt, approval.remindEverySeconds, now);
  if (due <= sent) return false;
  const reason = `reminder ${due} sent: ${approvalCount(request)} of ${approval.required} approvals from ${approval.approvers.join(', ')}; expires at ${request.expiresAt.toISOString()}`;
  await ctx.record(ctx.entry(request, { event: 'approval_request', outcome: 'pending', reason }));
  send(ctx, approval.notify, request, 'approval_reminder');
  return true;
}

async function escalate(
  ctx: ApprovalContext,
  request: ApprovalRequestRecord,
  approval: ApprovalConfig,
  now: Date,
): Promise<boolean> {
  const up = approval.escalate;
  if (!up || escalatedAt(request.createdAt, up.afterSeconds) > now) return false;
  const reason = `escalated after ${formatDuration(up.afterSeconds)} without an answer: ${up.approvers.join(', ')} may now decide too`;
  await ctx.record(ctx.entry(request, { event: 'approval_request', outcome: 'pending', reason }));
  if (up.notify) {
    send(
      ctx,
      up.notify,
      { ...request, approvers: [...approval.approvers, ...up.approvers] },
      'approval_escalated',
    );
  }
  return true;
}

function send(
  { deps, track }: ApprovalContext,
  target: NonNullable<ApprovalConfig['notify']>,
  request: ApprovalRequestRecord,
  event: 'approval_reminder' | 'approval_escalated',
): void {
  track(
    notify(
      {
        fetch: deps.fetch ?? globalThis.fetch,
        log: deps.log,
        ...(deps.publicUrl ? { publicUrl: deps.publicUrl } : {}),
      },
      target,
      request,
      event,
    ),
  );
}

/** The timer: one pass at a time, every `intervalMs`; returns its stop. */
export function startNudges(ctx: ApprovalContext, intervalMs: number): () => void {
  let running = false;
  const timer = setInterval(() => {
    if (running) return;
    running = true;
    nudgePending(ctx)
      .then((n) => {
        if (n.reminders || n.escalations)
          ctx.deps.log.info('approval reminders and escalations sent', { ...n });
      })
      .catch((err: unknown) => ctx.deps.log.warn('approval reminders failed', { error: err as Error }))
      .finally(() => {
        running = false;
      });
  }, intervalMs).unref();
  return () => clearInterval(timer);
}

export interface Nudges {
  /** One pass now (tests drive it with an injected clock). */
  tick(): Promise<NudgeResult>;
  start(intervalMs: number): () => void;
  /** Resolves when the messages sent so far have gone out (tests, shutdown). */
  settled(): Promise<void>;
}

export function createNudges(deps: ApprovalDeps): Nudges {
  const ctx = approvalContext(deps);
  return { tick: () => nudgePending(ctx), start: (ms) => startNudges(ctx, ms), settled: ctx.settled };
}
