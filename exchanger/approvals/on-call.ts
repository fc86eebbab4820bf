/**
 * On-call auto-approval (`approval.auto_approve_on_call`): a request opened by a job whose actor
 * is on call now in one of the role's PagerDuty schedules is approved at once, audited as
 * `auto-approved: <login> on call in PagerDuty schedule <id>`, at most `max_per_day` times per role
 * and UTC day (counted in the audit trail). The actor is found in PagerDuty only through the
 * policy's `oncall_users`; a re-run started by someone else is not auto-approved (the person who
 * clicked re-run is not the one on call). Fail soft: whenever PagerDuty or GitHub cannot answer,
 * the request waits for its approvers as usual, and an audit row says why.
 */
import { formatDuration } from '../duration.js';
import type { OnCallApproval } from '../policy/model/types.js';
import { onCallUser } from '../policy/validate/validate-on-call.js';
import type { ApprovalRequestRecord } from '../store/approvals-types.js';
import type { ApprovalContext } from './context.js';
import { ON_CALL_ACTOR } from './on-call-vote.js';
import { type OneAtATime, oneAtATime } from './one-at-a-time.js';
import { approve, REDEEM_WINDOW_SECONDS } from './state.js';

const startOfUtcDay = (now: Date) =>
  new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate()));

/** Approves `request` when its actor is on call; true when it did. Never throws. */
export async function autoApproveOnCall(
  ctx: ApprovalContext,
  request: ApprovalRequestRecord,
  config: OnCallApproval,
): Promise<boolean> {
  const { deps } = ctx;
  const login = request.claims.actor;
  const user = onCallUser(config, { login, id: request.claims.actor_id });
  if (!user || !login) return false;
  const schedules = config.pagerduty.scheduleIds.join(', ');
  const wait = async (why: string, outcome: 'pending' | 'error' = 'pending') => {
    await ctx
      .record(
        ctx.entry(request, {
          event: 'approval_request',
          outcome,
          reason: `not auto-approved: ${why}; waiting for approvers`,
        }),
      )
      .catch(() => {});
    return false;
  };
  try {
    if (!deps.onCall)
      return await wait('JITKEY_PAGERDUTY_TOKEN is not set, so PagerDuty cannot be asked', 'error');
    const startedBy = await startedByActor(ctx, request);
    if (!startedBy) return await wait(`attempt ${request.claims.run_attempt} was not started by ${login}`);
    const schedule = await deps.onCall.onCallIn(config.pagerduty.scheduleIds, user, deps.now());
    if (!schedule) return await wait(`${login} is not on call now in PagerDuty schedule ${schedules}`);
    // The day's count is read, then the approval written: one role's at a time in this process,
    // or a matrix's requests would all read the count before any of them wrote.
    return await oneRoleAtATime(ctx, request.role, async () => {
      const now = deps.now();
      const today = await ctx.store.queryAudit({
        role: request.role,
        actor: ON_CALL_ACTOR,
        since: startOfUtcDay(now),
        limit: config.maxPerDay + 1,
      });
      if (today.filter((row) => row.event === 'approve').length >= config.maxPerDay) {
        return await wait(
          `role ${request.role} has had its ${config.maxPerDay} on-call auto-approvals today (UTC)`,
        );
      }
      const { next } = approve(
        request,
        {
          login,
          id: `${ON_CALL_ACTOR}:${schedule}`,
          at: now,
          reason: `on call in PagerDuty schedule ${schedule}`,
        },
        { required: 1, now, redeemWindowSeconds: deps.redeemWindowSeconds ?? REDEEM_WINDOW_SECONDS },
      );
      const reason = `auto-approved: ${login} on call in PagerDuty schedule ${schedule}; the job may redeem it within ${formatDuration(deps.redeemWindowSeconds ?? REDEEM_WINDOW_SECONDS)}`;
      const row = ctx.entry(request, {
        event: 'approve',
        outcome: 'allowed',
        actor: ON_CALL_ACTOR,
        reason,
        expiresAt: next.expiresAt,
      });
      if (!(await ctx.store.updateApprovalRequest(request.id, request.version, next, row))) return false;
      deps.log.info('approval request auto-approved: actor on call', {
        request_id: request.id,
        role: request.role,
        schedule,
      });
      return true;
    });
  } catch (err) {
    deps.log.warn('on-call auto-approval failed; the request waits for approvers', {
      request_id: request.id,
      error: err as Error,
    });
    return wait(`the on-call check failed (${(err as Error).message})`, 'error');
  }
}

/** Did the job's actor start this attempt? GitHub says who started it (a re-run keeps `actor`). */
async function startedByActor(ctx: ApprovalContext, request: ApprovalRequestRecord): Promise<boolean> {
  const { repository = '', run_id: runId, run_attempt: attempt, actor_id: actorId } = request.claims;
  const [owner, repo] = repository.split('/');
  if (!owner || !repo || !runId || !attempt || !actorId) return false;
  const github = ctx.requireGithub('on-call auto-approval needs GitHub to say who started the run');
  const run = await github.getRunAttempt(owner, repo, runId, attempt);
  return run.triggeringActorId === actorId;
}

/** Per approvals context, its roles' counts one at a time. */
const turns = new WeakMap<ApprovalContext, OneAtATime>();

function oneRoleAtATime<T>(ctx: ApprovalContext, role: string, work: () => Promise<T>): Promise<T> {
  let queue = turns.get(ctx);
  if (!queue) {
    queue = oneAtATime();
    turns.set(ctx, queue);
  }
  return queue(role, work);
}
