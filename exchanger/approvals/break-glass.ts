/**
 * Break-glass (`approval.break_glass: { allowed: [login or login:id, …], reviews_required: N }`): a run started
 * by a person the policy names gets the role at once, without waiting for an approval; every
 * approver is told, and a retro review stays open until N approvers have acknowledged the use
 * (`POST /v1/requests/{id}/acknowledge`). Open reviews show in `jitkey audit --break-glass` and
 * in `jitkey_decisions_total{outcome="break_glass"}` less `{outcome="break_glass_reviewed"}`.
 *
 * The review is an approval request born `redeemed` (its lease is the use), marked
 * `break_glass` in its claims; its votes are the acknowledgements.
 */
import { identifyingClaims, ownClaim } from '../claims.js';
import { hashSecret } from '../digest.js';
import { formatDuration } from '../duration.js';
import { JitkeyError } from '../errors.js';
import { mintAndRecord } from '../exchange/mint.js';
import type { Grant, ImmediateGrantRequest } from '../exchange/types.js';
import { namesPerson, type Person } from '../policy/model/person.js';
import { randomString } from '../random.js';
import type { ApprovalRequestRecord } from '../store/approvals-types.js';
import type { Store } from '../store/types.js';
import { authorizeApprover, identify } from './approvers.js';
import { type ApprovalContext, approvalConfig, notFound } from './context.js';
import { notify } from './notify.js';
import { type RequestView, requestView } from './views.js';

/** How long an open review is kept in the store (its audit rows stay for good). */
export const REVIEW_KEPT_SECONDS = 90 * 24 * 60 * 60;
const MARK = 'break_glass';
const CAS_ATTEMPTS = 5;

export type BreakGlassUse = ImmediateGrantRequest;

/** Is `person` in `allowed`: by login, or by user id for a pinned `login:id` entry. */
const named = (allowed: readonly string[], person: Person) => allowed.some((a) => namesPerson(a, person));

/**
 * Credentials at once when the run's actor and whoever started this attempt are both named;
 * `undefined` otherwise (the job waits for an approval as usual). Fail closed: when GitHub
 * cannot say who started the attempt, no break-glass.
 */
export async function breakGlass(ctx: ApprovalContext, use: BreakGlassUse): Promise<Grant | undefined> {
  const { deps, store } = ctx;
  const { role, claims, requestId } = use;
  // The people break_glass names are GitHub's, matched on the token's actor and GitHub's run:
  // another issuer's token is never theirs, whatever claims it carries.
  if (!use.appGithub) return undefined;
  const bg = role.approval?.breakGlass;
  const actor = ownClaim(claims, 'actor');
  const actorId = ownClaim(claims, 'actor_id');
  const runActor = {
    login: typeof actor === 'string' ? actor : undefined,
    id: typeof actorId === 'string' || typeof actorId === 'number' ? String(actorId) : undefined,
  };
  if (!bg || typeof actor !== 'string' || !named(bg.allowed, runActor) || !deps.github) return undefined;
  const [repository = '', runId, attempt] = ['repository', 'run_id', 'run_attempt'].map((n) => {
    const v = ownClaim(claims, n);
    return typeof v === 'string' ? v : undefined;
  });
  const [owner, repo] = repository.split('/');
  if (!owner || !repo || !runId || !attempt) return undefined;
  try {
    const run = await ctx.requireGithub('break-glass').getRunAttempt(owner, repo, runId, attempt);
    if (!named(bg.allowed, { login: run.triggeringActorLogin, id: run.triggeringActorId })) return undefined;
  } catch (err) {
    deps.log.warn('break-glass not used: GitHub could not say who started the run attempt', {
      request_id: requestId,
      error: err as Error,
    });
    return undefined;
  }
  const approval = role.approval!;
  const now = deps.now();
  const review: ApprovalRequestRecord = {
    id: requestId,
    role: role.name,
    status: 'redeemed',
    version: 1,
    pollTokenHash: hashSecret(randomString(32)),
    createdAt: now,
    expiresAt: new Date(now.getTime() + REVIEW_KEPT_SECONDS * 1000),
    approvers: [...approval.approvers],
    required: bg.reviewsRequired,
    claims: {
      ...identifyingClaims(claims),
      ...(runActor.id !== undefined ? { actor_id: runActor.id } : {}),
      [MARK]: 'true',
    },
    approvals: [],
    redeemedAt: now,
  };
  const grant = await mintAndRecord({
    deps,
    requestId,
    role,
    claims,
    durationSeconds: use.durationSeconds,
    ...(use.endsAt ? { endsAt: use.endsAt } : {}),
    audit: {
      reason: `break-glass: granted for ${formatDuration(use.durationSeconds)} to ${actor} without approval; retro review ${requestId} open until ${bg.reviewsRequired} approver(s) acknowledge`,
      ...use.client,
    },
    record: async (row, lease) => {
      await store.record(row, lease);
      review.leaseId = lease.id;
      await store.createApprovalRequest(
        review,
        ctx.entry(review, {
          at: now,
          event: 'approval_request',
          outcome: 'pending',
          actor,
          reason: `break-glass use by ${actor}: retro review needs ${bg.reviewsRequired} acknowledgement(s) of ${approval.approvers.join(', ')}`,
        }),
      );
    },
  });
  deps.metrics.decisions.inc({ role: role.name, outcome: 'break_glass', code: '' });
  deps.log.warn('break-glass use', { request_id: requestId, role: role.name, actor });
  if (approval.notify) {
    ctx.track(
      notify(
        {
          fetch: deps.fetch ?? globalThis.fetch,
          log: deps.log,
          ...(deps.publicUrl ? { publicUrl: deps.publicUrl } : {}),
        },
        approval.notify,
        review,
        'break_glass_used',
      ),
    );
  }
  return grant;
}

/** An approver acknowledges a break-glass use; the review closes at `reviews_required`. */
export async function acknowledge(ctx: ApprovalContext, id: string, userToken: string): Promise<RequestView> {
  const { deps, store } = ctx;
  const github = ctx.requireGithub('acknowledging needs GitHub to say who you are');
  const who = await identify(github, userToken);
  for (let attempt = 0; attempt < CAS_ATTEMPTS; attempt++) {
    const request = await store.getApprovalRequest(id);
    if (request?.claims[MARK] !== 'true') throw notFound(id);
    const config = {
      approvers: approvalConfig(deps.policy(), request, deps.now()).approvers,
      required: request.required,
    };
    try {
      await authorizeApprover(github, who, { id, approvers: config.approvers, claims: request.claims });
    } catch (err) {
      if (err instanceof JitkeyError && (err.code === 'access_denied' || err.code === 'self_approval')) {
        await ctx.record(
          ctx.entry(request, {
            event: 'approve',
            outcome: 'denied',
            errorCode: err.code,
            reason: `acknowledge refused: ${err.message}`,
            actor: who.login,
            actorId: who.id,
          }),
        );
      }
      throw err;
    }
    if (request.approvals.some((v) => v.id === who.id)) return requestView(request, request.status, config);
    const approvals = [...request.approvals, { login: who.login, id: who.id, at: deps.now() }];
    const count = new Set(approvals.map((v) => v.id)).size;
    const done = count >= request.required;
    const row = ctx.entry(request, {
      event: 'approve',
      outcome: 'allowed',
      actor: who.login,
      actorId: who.id,
      reason: `acknowledged break-glass use (${count} of ${request.required})${done ? '; retro review complete' : ''}`,
    });
    if (await store.updateApprovalRequest(id, request.version, { ...request, approvals }, row)) {
      if (done && count === request.required)
        deps.metrics.decisions.inc({ role: request.role, outcome: 'break_glass_reviewed', code: '' });
      return requestView({ ...request, approvals }, request.status, config);
    }
  }
  throw new JitkeyError('unavailable', 'the review changed too often while acknowledging; try again', {
    retryAfter: 1,
  });
}

/** Break-glass uses whose review is still open, oldest first. */
export async function openReviews(store: Store): Promise<ApprovalRequestRecord[]> {
  const used = await store.listApprovalRequests({ statuses: ['redeemed'], limit: 10_000 });
  return used.filter(
    (r) => r.claims[MARK] === 'true' && new Set(r.approvals.map((v) => v.id)).size < r.required,
  );
}
