/**
 * What the approval operations (`open.ts`, `read.ts`, `decide.ts`, `redeem.ts`) share: their deps,
 * the audit row of a request, recording it, and persisting an expiry that a read computed.
 */
import { ALL_JOB_CLAIMS } from '../claims.js';
import { JitkeyError, unavailable } from '../errors.js';
import type { ExchangeDeps } from '../exchange/types.js';
import type { Policy } from '../policy/model/types.js';
import { onCallUser } from '../policy/validate/validate-on-call.js';
import type { ApprovalRequestRecord, ApprovalVote } from '../store/approvals-types.js';
import type { AuditEntry } from '../store/audit-types.js';
import { type ApproverDirectory, approvalHolds, votesInForce } from './approvers.js';
import { cachedDirectory } from './identity-cache.js';
import type { OnCallDirectory } from './pagerduty.js';
import { approvalCount, expire } from './state.js';

export interface ApprovalDeps extends ExchangeDeps {
  /** The GitHub App client; without it every approval role is refused (fail closed). */
  github?: ApproverDirectory | undefined;
  /** For the notify webhook. */
  fetch?: typeof globalThis.fetch;
  /** The exchanger's URL as approvers reach it (`JITKEY_PUBLIC_URL`), for notifications. */
  publicUrl?: string | undefined;
  redeemWindowSeconds?: number;
  /** PagerDuty, for `auto_approve_on_call` (`on-call.ts`); without it such roles just wait. */
  onCall?: OnCallDirectory | undefined;
}

/** Claims a GitHub job's redemption must repeat: the same run attempt (others: `ci-job.ts`). */
export const SAME_RUN_CLAIMS = ['repository_id', 'run_id', 'run_attempt'] as const;

export const notFound = (id: string) =>
  new JitkeyError(
    'not_found',
    `no approval request '${id}' matches (use the request_id and poll_token of the 202)`,
  );

/**
 * The approvers and count in force: the current policy's, or the request's own if the role lost its
 * approval. Given `now`, a request that has waited past `escalate.after` adds the escalation list.
 */
export function approvalConfig(
  policy: Policy,
  request: Pick<ApprovalRequestRecord, 'role' | 'approvers' | 'required'> & {
    createdAt?: Date;
    claims?: Readonly<Record<string, string>>;
  },
  /** Required: an escalated request's escalation approvers are named from then on. */
  now: Date,
): ApproversInForce {
  const approval = policy.roles.get(request.role)?.approval;
  if (!approval) return { approvers: request.approvers, required: request.required, onCallSchedules: [] };
  const up = approval.escalate;
  const escalated = up && request.createdAt && escalatedAt(request.createdAt, up.afterSeconds) <= now;
  // An on-call auto-approval stands while the role still auto-approves on call and still maps
  // the job's actor to a PagerDuty user: a reload that corrects a wrong mapping cancels it.
  const onCall = approval.autoApproveOnCall;
  const actor = { login: request.claims?.actor, id: request.claims?.actor_id };
  return {
    approvers: escalated ? [...approval.approvers, ...up.approvers] : approval.approvers,
    required: approval.required,
    onCallSchedules: onCall && onCallUser(onCall, actor) ? onCall.pagerduty.scheduleIds : [],
  };
}

/** Who may decide a request under the policy in force (`approvalConfig`). */
export interface ApproversInForce {
  approvers: string[];
  required: number;
  /** The PagerDuty schedules whose on-call auto-approvals the role still stands behind. */
  onCallSchedules: readonly string[];
}

/**
 * An approved request under the policy in force, now (the clock: an escalated request's
 * escalation approvers are named): the votes it still stands behind, and whether they still make
 * the approval. Redemption and the deployment gate ask the same question.
 */
export async function approvalInForce(
  github: ApproverDirectory,
  policy: Policy,
  request: ApprovalRequestRecord,
  now: Date,
): Promise<{ kept: ApprovalVote[]; required: number; holds: boolean }> {
  const { required, ...inForce } = approvalConfig(policy, request, now);
  const kept = await votesInForce(github, request.approvals, inForce);
  return { kept, required, holds: approvalHolds(kept, required) };
}

/** When a request opened at `createdAt` escalates. */
export function escalatedAt(createdAt: Date, afterSeconds: number): Date {
  return new Date(createdAt.getTime() + afterSeconds * 1000);
}

export interface ApprovalContext {
  deps: ApprovalDeps;
  store: ApprovalDeps['store'];
  requireGithub(what: string): ApproverDirectory;
  /** An audit row about `request`, with its identifying claims. */
  entry(
    request: ApprovalRequestRecord,
    fields: Pick<AuditEntry, 'event' | 'outcome' | 'reason'> & Partial<AuditEntry>,
  ): AuditEntry;
  /** Records an audit row; a store failure is `unavailable`. */
  record(row: AuditEntry): Promise<void>;
  /** Writes the expiry a read computed; losing the race to another writer changes nothing. */
  persistExpiry(request: ApprovalRequestRecord): Promise<void>;
  /** Keeps a background notification until it settles. */
  track(p: Promise<void>): void;
  settled(): Promise<void>;
  /**
   * Whether a refused decision (`kind`) of `who` on request `id` is audited: the first in a window is,
   * the rest are counted in the log. Anyone signed in to the console may try any request id, and
   * a request's page shows its newest rows: unfolded, one person's refusals would push out its history.
   */
  auditsDecisionRefusal(id: string, who: string, kind: string): boolean;
}

/** One audited refusal per person, request and kind of decision in this long, per process. */
export const REFUSAL_FOLD_MS = 10 * 60_000;
const MAX_FOLDED = 10_000;

/**
 * Whether a refused decision of `who` on request `id` is audited (`auditsDecisionRefusal`): the
 * first per person, request and kind in `REFUSAL_FOLD_MS`. The console's and Slack's refusals.
 */
export function decisionRefusalFold(now: () => Date): (id: string, who: string, kind: string) => boolean {
  // Oldest first: a key audited again moves to the end.
  const refused = new Map<string, number>();
  return (id, who, kind) => {
    const key = `${id}\n${who}\n${kind}`;
    const at = now().getTime();
    const last = refused.get(key);
    if (last !== undefined && at - last < REFUSAL_FOLD_MS) return false;
    refused.delete(key);
    if (refused.size >= MAX_FOLDED) refused.delete(refused.keys().next().value as string);
    refused.set(key, at);
    return true;
  };
}

export function approvalContext(deps: ApprovalDeps): ApprovalContext {
  const inFlight = new Set<Promise<void>>();
  const store = deps.store;

  const github = deps.github && cachedDirectory(deps.github, { now: deps.now });
  const requireGithub = (what: string): ApproverDirectory => {
    if (github) return github;
    throw new JitkeyError(
      'access_denied',
      `${what}, and this exchanger has no GitHub App configured to identify approvers (set JITKEY_GITHUB_APP_ID and JITKEY_GITHUB_APP_PRIVATE_KEY)`,
    );
  };

  const auditClaims = (claims: Readonly<Record<string, string>>) => {
    const out: Record<string, string> = {};
    for (const name of ALL_JOB_CLAIMS) if (claims[name] !== undefined) out[name] = claims[name];
    return out;
  };

  const entry: ApprovalContext['entry'] = (request, fields) => ({
    at: deps.now(),
    requestId: request.id,
    role: request.role,
    claims: auditClaims(request.claims),
    ...fields,
  });

  const record = async (row: AuditEntry) => {
    try {
      await store.record(row);
    } catch (err) {
      deps.log.error('could not audit an approval event', { request_id: row.requestId, error: err as Error });
      throw unavailable('the store could not record the decision', err);
    }
  };

  const persistExpiry = async (request: ApprovalRequestRecord): Promise<void> => {
    const next = expire(request, deps.now());
    if (!next) return;
    const wasApproved = request.status === 'approved';
    const { required } = approvalConfig(deps.policy(), request, deps.now());
    const reason = wasApproved
      ? `approved but not redeemed by ${request.expiresAt.toISOString()}`
      : `expired with ${approvalCount(request)} of ${required} approvals`;
    try {
      await store.updateApprovalRequest(
        request.id,
        request.version,
        next,
        entry(request, { event: 'expire', outcome: 'denied', reason }),
      );
    } catch (err) {
      deps.log.warn('could not record an approval request as expired; it reads as expired anyway', {
        request_id: request.id,
        error: err as Error,
      });
    }
  };

  const track = (p: Promise<void>) => {
    inFlight.add(p);
    void p.finally(() => inFlight.delete(p));
  };

  const auditsDecisionRefusal = decisionRefusalFold(deps.now);

  return {
    deps,
    store,
    requireGithub,
    entry,
    record,
    persistExpiry,
    track,
    auditsDecisionRefusal,
    async settled() {
      await Promise.all([...inFlight]);
    },
  };
}
