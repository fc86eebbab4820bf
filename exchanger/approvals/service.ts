/**
 * Approvals without the HTTP (SPEC section 3, "Approvals"): open a request once every claim check
 * has passed, answer its status to the job, list and decide it for approvers, and redeem it with
 * a fresh token of the same run. Every step that changes a request is one compare-and-swap in the
 * store together with its audit row; the state machine itself is `state.ts`.
 */
import { randomBytes } from 'node:crypto';
import { type Claims, IDENTIFYING_CLAIMS, identifyingClaims, ownClaim } from '../claims.js';
import { formatDuration } from '../duration.js';
import { invalidRequest, JitkeyError, unavailable } from '../errors.js';
import { hashRevokeToken, revokeTokenMatches } from '../leases/secrets.js';
import type { Policy, Role } from '../policy/types.js';
import {
  authorize,
  type ExchangeDeps,
  type Grant,
  grantedDuration,
  lookupRole,
  mintAndRecord,
  verifyAndSpend,
} from '../server/exchange.js';
import type { ApprovalRequestRecord, ApprovalState, AuditEntry } from '../store/types.js';
import {
  type Approver,
  type ApproverDirectory,
  authorizeApprover,
  identify,
  isApprover,
  isSelf,
  type MembershipMemo,
} from './approvers.js';
import { notify } from './notify.js';
import {
  approvalCount,
  approve,
  checkRedeemable,
  deny,
  effectiveStatus,
  expire,
  REDEEM_WINDOW_SECONDS,
  redeemed,
} from './state.js';
import {
  type PendingView,
  pendingView,
  type RequestView,
  requestView,
  type StatusView,
  statusView,
} from './views.js';

export interface ApprovalDeps extends ExchangeDeps {
  /** The GitHub App client; without it every approval role is refused (fail closed). */
  github?: ApproverDirectory | undefined;
  /** For the notify webhook. */
  fetch?: typeof globalThis.fetch;
  /** The exchanger's URL as approvers reach it (`JITKEY_PUBLIC_URL`), for notifications. */
  publicUrl?: string | undefined;
  redeemWindowSeconds?: number;
}

export interface OpenRequest {
  requestId: string;
  role: Role;
  claims: Claims;
  /** As the job asked; checked again against the role at redemption. */
  durationSeconds?: number | undefined;
}

export interface Approvals {
  open(request: OpenRequest): Promise<PendingView>;
  status(id: string, pollToken: string): Promise<StatusView>;
  list(userToken: string): Promise<{ approver: string; requests: RequestView[] }>;
  decide(
    id: string,
    userToken: string,
    decision: { kind: 'approve' | 'deny'; reason?: string | undefined },
  ): Promise<RequestView>;
  redeem(id: string, oidcToken: string, body: Record<string, unknown>): Promise<Grant>;
  /** Resolves when the notifications sent so far have finished (tests, shutdown). */
  settled(): Promise<void>;
}

/** Claims a redemption must repeat: the same job run. */
export const SAME_RUN_CLAIMS = ['repository_id', 'run_id', 'run_attempt'] as const;
const LIST_LIMIT = 500;
const CAS_ATTEMPTS = 5;
export const MAX_REASON_LENGTH = 500;

export function newPollToken(): string {
  return randomBytes(32).toString('base64url');
}

const notFound = (id: string) =>
  new JitkeyError(
    'not_found',
    `no approval request '${id}' matches (use the request_id and poll_token of the 202)`,
  );

/** The approvers and count in force: the current policy's, or the request's own if the role lost its approval. */
export function approvalConfig(
  policy: Policy,
  request: Pick<ApprovalRequestRecord, 'role' | 'approvers' | 'required'>,
): { approvers: string[]; required: number } {
  const approval = policy.roles.get(request.role)?.approval;
  return approval
    ? { approvers: approval.approvers, required: approval.required }
    : { approvers: request.approvers, required: request.required };
}

/** A reason as people typed it, made safe for logs and the job's log: one line, bounded. */
export function cleanReason(text: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is removed
  const line = text.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]+/g, ' ').replace(/\s+/g, ' ');
  return line.trim().slice(0, MAX_REASON_LENGTH);
}

export function createApprovals(deps: ApprovalDeps): Approvals {
  const inFlight = new Set<Promise<void>>();
  const store = deps.store;

  const requireGithub = (what: string): ApproverDirectory => {
    if (deps.github) return deps.github;
    throw new JitkeyError(
      'access_denied',
      `${what}, and this exchanger has no GitHub App configured to identify approvers (set JITKEY_GITHUB_APP_ID and JITKEY_GITHUB_APP_PRIVATE_KEY)`,
    );
  };

  const auditClaims = (claims: Readonly<Record<string, string>>) => {
    const out: Record<string, string> = {};
    for (const name of IDENTIFYING_CLAIMS) if (claims[name] !== undefined) out[name] = claims[name];
    return out;
  };

  const entry = (
    request: ApprovalRequestRecord,
    fields: Pick<AuditEntry, 'event' | 'outcome' | 'reason'> & Partial<AuditEntry>,
  ): AuditEntry => ({
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

  /** Writes the expiry a read computed; losing the race to another writer changes nothing. */
  const persistExpiry = async (request: ApprovalRequestRecord): Promise<void> => {
    const next = expire(request, deps.now());
    if (!next) return;
    const wasApproved = request.status === 'approved';
    const { required } = approvalConfig(deps.policy(), request);
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

  async function open({ requestId, role, claims, durationSeconds }: OpenRequest): Promise<PendingView> {
    const approval = role.approval;
    if (!approval) throw new Error(`role '${role.name}' has no approval block`);
    requireGithub(`role '${role.name}' needs a human approval`);
    const missing = SAME_RUN_CLAIMS.filter((name) => typeof ownClaim(claims, name) !== 'string');
    if (missing.length) {
      throw new JitkeyError(
        'access_denied',
        `role '${role.name}' needs a human approval, which is tied to the job's run: the token lacks ${missing.join(', ')}`,
      );
    }
    const now = deps.now();
    const pollToken = newPollToken();
    const actorId = ownClaim(claims, 'actor_id');
    const request: ApprovalRequestRecord = {
      id: requestId,
      role: role.name,
      status: 'pending',
      version: 1,
      pollTokenHash: hashRevokeToken(pollToken),
      createdAt: now,
      expiresAt: new Date(now.getTime() + approval.timeoutSeconds * 1000),
      ...(durationSeconds !== undefined ? { durationSeconds } : {}),
      approvers: [...approval.approvers],
      required: approval.required,
      claims: { ...identifyingClaims(claims), ...(typeof actorId === 'string' ? { actor_id: actorId } : {}) },
      approvals: [],
    };
    await store.createApprovalRequest(
      request,
      entry(request, {
        at: now,
        event: 'approval_request',
        outcome: 'pending',
        provider: role.provider,
        reason: `waiting for ${approval.required} of ${approval.approvers.join(', ')} to approve (timeout ${formatDuration(approval.timeoutSeconds)})`,
        expiresAt: request.expiresAt,
      }),
    );
    deps.metrics.decisions.inc({ role: role.name, outcome: 'pending', code: '' });
    deps.log.info('approval requested', {
      request_id: requestId,
      role: role.name,
      repository: request.claims.repository,
      run_id: request.claims.run_id,
      expires_at: request.expiresAt.toISOString(),
    });
    if (approval.notify) {
      track(
        notify(
          {
            fetch: deps.fetch ?? globalThis.fetch,
            log: deps.log,
            ...(deps.publicUrl ? { publicUrl: deps.publicUrl } : {}),
          },
          approval.notify,
          request,
        ),
      );
    }
    return pendingView(request, pollToken);
  }

  async function status(id: string, pollToken: string): Promise<StatusView> {
    const request = await store.getApprovalRequest(id);
    if (!request || !revokeTokenMatches(pollToken, request.pollTokenHash)) throw notFound(id);
    await persistExpiry(request);
    const { required } = approvalConfig(deps.policy(), request);
    return statusView(request, effectiveStatus(request, deps.now()), required);
  }

  async function list(userToken: string): Promise<{ approver: string; requests: RequestView[] }> {
    const github = requireGithub('approvals need GitHub to say who you are');
    const who = await identify(github, userToken);
    const memo: MembershipMemo = new Map();
    const pending = await store.listApprovalRequests({ statuses: ['pending'], limit: LIST_LIMIT });
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

  async function decide(
    id: string,
    userToken: string,
    decision: { kind: 'approve' | 'deny'; reason?: string | undefined },
  ): Promise<RequestView> {
    const github = requireGithub('approvals need GitHub to say who you are');
    const who = await identify(github, userToken);
    for (let attempt = 0; attempt < CAS_ATTEMPTS; attempt++) {
      const request = await store.getApprovalRequest(id);
      if (!request) throw notFound(id);
      const config = approvalConfig(deps.policy(), request);
      try {
        await authorizeApprover(github, who, { id, approvers: config.approvers, claims: request.claims });
      } catch (err) {
        if (err instanceof JitkeyError && (err.code === 'access_denied' || err.code === 'self_approval')) {
          await record(
            entry(request, {
              event: decision.kind,
              outcome: 'denied',
              errorCode: err.code,
              reason: `${decision.kind} refused: ${err.message}`,
              actor: who.login,
            }),
          );
        }
        throw err;
      }
      const now = deps.now();
      let next: ApprovalState;
      try {
        next = transition(request, who, decision, config.required, now);
      } catch (err) {
        await persistExpiry(request);
        throw err;
      }
      if (next === request) return requestView(request, effectiveStatus(request, now), config);
      const row = decisionEntry(request, next, who, decision, config.required);
      if (await store.updateApprovalRequest(id, request.version, next, row)) {
        deps.log.info(`approval request ${decision.kind === 'approve' ? 'approved' : 'denied'}`, {
          request_id: id,
          role: request.role,
          by: who.login,
          status: next.status,
        });
        return requestView({ ...request, ...next }, next.status, config);
      }
      // Another decision landed first: read the request again and decide on what it is now.
    }
    throw unavailable('the request kept changing while this decision was made; try again');
  }

  function transition(
    request: ApprovalRequestRecord,
    who: Approver,
    decision: { kind: 'approve' | 'deny'; reason?: string | undefined },
    required: number,
    now: Date,
  ): ApprovalState {
    if (decision.kind === 'deny') return deny(request, who, decision.reason ?? '', now);
    const vote = {
      login: who.login,
      id: who.id,
      at: now,
      ...(decision.reason ? { reason: decision.reason } : {}),
    };
    const result = approve(request, vote, {
      required,
      now,
      redeemWindowSeconds: deps.redeemWindowSeconds ?? REDEEM_WINDOW_SECONDS,
    });
    return result.changed ? result.next : request;
  }

  function decisionEntry(
    request: ApprovalRequestRecord,
    next: ApprovalState,
    who: Approver,
    decision: { kind: 'approve' | 'deny'; reason?: string | undefined },
    required: number,
  ): AuditEntry {
    const because = decision.reason ? `: ${decision.reason}` : '';
    const reason =
      decision.kind === 'deny'
        ? `denied${because}`
        : `approved (${approvalCount(next)} of ${required})${because}${next.status === 'approved' ? '; the job may redeem it' : ''}`;
    return entry(request, {
      event: decision.kind,
      outcome: decision.kind === 'approve' ? 'allowed' : 'denied',
      reason,
      actor: who.login,
      ...(next.status === 'approved' ? { expiresAt: next.expiresAt } : {}),
    });
  }

  async function redeem(id: string, oidcToken: string, body: Record<string, unknown>): Promise<Grant> {
    let request: ApprovalRequestRecord | undefined;
    let claims: Claims | undefined;
    try {
      const pollToken = parseRedeemBody(body);
      const verified = await verifyAndSpend(deps, oidcToken);
      claims = verified.claims;
      request = await store.getApprovalRequest(id);
      if (!request || !revokeTokenMatches(pollToken, request.pollTokenHash)) {
        request = undefined;
        throw notFound(id);
      }
      checkSameRun(request, verified.claims);
      try {
        checkRedeemable(
          { ...request, required: approvalConfig(deps.policy(), request).required },
          deps.now(),
        );
      } catch (err) {
        await persistExpiry(request);
        throw err;
      }
      const role = lookupRole(deps.policy(), request.role);
      const duration = grantedDuration(role, request.durationSeconds);
      await authorize(deps, role, verified.claims);
      const approved = request;
      const approvedBy = approved.approvals.map((v) => v.login).join(', ');
      return await mintAndRecord(
        deps,
        id,
        role,
        verified.claims,
        duration,
        { event: 'redeem', reason: `granted for ${formatDuration(duration)}; approved by ${approvedBy}` },
        async (row, lease) => {
          const next = redeemed(approved, lease.id, row.at);
          if (!(await store.updateApprovalRequest(id, approved.version, next, row, lease))) {
            throw new JitkeyError(
              'already_redeemed',
              'this request was redeemed (or changed) while these credentials were minted; they were discarded',
            );
          }
        },
      );
    } catch (err) {
      await auditRedeemRefusal(id, request, claims, err);
      throw err;
    }
  }

  async function auditRedeemRefusal(
    id: string,
    request: ApprovalRequestRecord | undefined,
    claims: Claims | undefined,
    err: unknown,
  ): Promise<void> {
    const code = err instanceof JitkeyError ? err.code : 'internal_error';
    deps.metrics.decisions.inc({ role: request?.role ?? '', outcome: 'denied', code });
    if (code === 'unavailable') return;
    await record({
      at: deps.now(),
      requestId: id,
      event: 'redeem',
      outcome: code === 'upstream_error' || code === 'internal_error' ? 'error' : 'denied',
      ...(request ? { role: request.role } : {}),
      errorCode: code,
      reason: err instanceof Error ? err.message : String(err),
      claims: claims ? identifyingClaims(claims) : {},
    });
  }

  return {
    open,
    status,
    list,
    decide,
    redeem,
    async settled() {
      await Promise.all([...inFlight]);
    },
  };
}

export function parseRedeemBody(body: Record<string, unknown>): string {
  for (const key of Object.keys(body)) {
    if (key !== 'poll_token') throw invalidRequest(`unknown field '${key}': the body takes 'poll_token'`);
  }
  const token = body.poll_token;
  if (typeof token !== 'string' || token === '')
    throw invalidRequest("'poll_token' is required: the poll_token of the 202 answer");
  return token;
}

/** The fresh token must come from the run that asked: same repository_id, run_id and run_attempt. */
export function checkSameRun(request: Pick<ApprovalRequestRecord, 'claims'>, claims: Claims): void {
  const differ = SAME_RUN_CLAIMS.filter((name) => {
    const value = ownClaim(claims, name);
    return typeof value !== 'string' || value !== request.claims[name];
  });
  if (differ.length === 0) return;
  const shown = differ.map((name) => {
    const value = ownClaim(claims, name);
    return typeof value === 'string' ? `${name} '${value.slice(0, 64)}'` : `${name} missing`;
  });
  throw new JitkeyError(
    'access_denied',
    `this token is not from the run that asked for approval (${shown.join(', ')}): redeem with a fresh token of that same run`,
  );
}

/** At start and on reload: roles with `approval` are refused until a GitHub App is configured. */
export function warnApprovalsUnconfigured(
  policy: Policy,
  github: ApproverDirectory | undefined,
  log: { warn(msg: string, fields?: Record<string, unknown>): void },
): void {
  if (github) return;
  for (const role of policy.roles.values()) {
    if (role.approval) {
      log.warn(
        'a role needs approval and no GitHub App is configured to identify approvers; its exchanges are refused',
        {
          role: role.name,
        },
      );
    }
  }
}
