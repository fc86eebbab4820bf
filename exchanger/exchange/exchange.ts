/**
 * POST /v1/exchange, without the HTTP: token → verified claims → replay check → policy →
 * guards → provider → lease + audit committed → answer. Every outcome, granted or refused,
 * leaves one audit row; when that row cannot be written the caller gets 503 and nothing else.
 */
import { type Claims, identifyingClaims } from '../claims.js';
import { formatDuration } from '../duration.js';
import { invalidRequest, JitkeyError, unavailable } from '../errors.js';
import { hashRevokeToken, newLeaseId, newRevokeToken, seal } from '../leases/secrets.js';
import type { Logger } from '../log.js';
import type { Evaluate, Policy, Role } from '../policy/types.js';
import type { Guard, Minted, Providers } from '../providers/types.js';
import type { AuditEntry, LeaseRecord, Store } from '../store/types.js';
import { MAX_CLOCK_TOLERANCE_SECONDS } from '../token/claims-check.js';
import type { TokenVerifier, VerifiedToken } from '../token/types.js';
import type { Metrics } from './metrics.js';

export interface ExchangeDeps {
  policy: () => Policy;
  verifier: () => TokenVerifier;
  evaluate: Evaluate;
  store: Store;
  providers: Providers;
  /** Run, in order, for roles they apply to (each guard decides that from the role). */
  guards: Guard[];
  metrics: Metrics;
  log: Logger;
  now: () => Date;
  /** Opens a `202 pending` request for roles with `approval` (exchanger/approvals). */
  approvals?: ApprovalOpener;
}

/** The answer to an exchange for a role with `approval` (SPEC section 3, Approvals). */
export interface Pending {
  status: 'pending';
  request_id: string;
  poll_token: string;
  expires_at: string;
  approvers: string[];
  required: number;
}

export interface ApprovalOpener {
  open(request: {
    requestId: string;
    role: Role;
    claims: Claims;
    durationSeconds?: number | undefined;
  }): Promise<Pending>;
}

export interface ExchangeRequest {
  role: string;
  durationSeconds?: number;
}

export interface Grant {
  lease_id: string;
  revoke_token: string;
  role: string;
  provider: string;
  expires_at: string;
  credentials: Record<string, unknown>;
}

const BODY_FIELDS = new Set(['role', 'duration_seconds']);

export function parseExchangeBody(body: Record<string, unknown>): ExchangeRequest {
  for (const key of Object.keys(body)) {
    if (!BODY_FIELDS.has(key))
      throw invalidRequest(`unknown field '${key}': the body takes 'role' and 'duration_seconds'`);
  }
  const { role, duration_seconds: duration } = body;
  if (typeof role !== 'string' || role === '')
    throw invalidRequest("'role' is required: the name of a role in the policy");
  if (duration === undefined) return { role };
  if (typeof duration !== 'number' || !Number.isSafeInteger(duration) || duration <= 0) {
    throw invalidRequest("'duration_seconds' must be a positive whole number of seconds");
  }
  return { role, durationSeconds: duration };
}

/** What the audit row and metrics learn as the request moves along. */
interface Context {
  requestId: string;
  role?: Role;
  roleName?: string;
  claims?: Claims;
}

export function grantedDuration(role: Role, requested: number | undefined): number {
  if (requested === undefined) return Math.min(role.durationSeconds, role.maxDurationSeconds);
  if (requested > role.maxDurationSeconds) {
    throw invalidRequest(
      `requested duration ${formatDuration(requested)} exceeds role '${role.name}' max_duration ${formatDuration(role.maxDurationSeconds)}: ask for ${formatDuration(role.maxDurationSeconds)} or less`,
    );
  }
  return requested;
}

/**
 * How long a spent jti must be remembered: as long as the verifier would still accept the token,
 * that is its `exp` plus the clock skew allowed. Remembering it only until `exp` lets the purge drop
 * it while the token still verifies, and the same token buys credentials a second time.
 */
export function spentUntil(verified: VerifiedToken): Date {
  return new Date(verified.expiresAt.getTime() + MAX_CLOCK_TOLERANCE_SECONDS * 1000);
}

/**
 * Verifies the token and spends its jti. Shared by exchange and the approval redeem.
 * `onVerified` sees the claims before the replay check, so a replay's audit row names its job.
 */
export async function verifyAndSpend(
  deps: ExchangeDeps,
  token: string,
  onVerified?: (verified: VerifiedToken) => void,
): Promise<VerifiedToken> {
  const verified = await deps.verifier().verify(token);
  onVerified?.(verified);
  let fresh: boolean;
  try {
    fresh = await deps.store.consumeJti(verified.jti, spentUntil(verified));
  } catch (err) {
    throw err instanceof JitkeyError ? err : unavailable('the store could not record the token id', err);
  }
  if (!fresh) {
    throw new JitkeyError(
      'token_replayed',
      'this token was already used: request a new OIDC token for each exchange',
      {},
    );
  }
  return verified;
}

export function lookupRole(policy: Policy, name: string): Role {
  const role = policy.roles.get(name);
  if (!role)
    throw invalidRequest(`unknown role '${name}': check the 'role' input against the exchanger's policy`);
  return role;
}

export async function exchange(
  deps: ExchangeDeps,
  token: string,
  body: Record<string, unknown>,
  requestId: string,
): Promise<Grant | Pending> {
  const ctx: Context = { requestId };
  try {
    const request = parseExchangeBody(body);
    ctx.roleName = request.role;
    const verified = await verifyAndSpend(deps, token, (v) => {
      ctx.claims = v.claims;
    });
    const role = lookupRole(deps.policy(), request.role);
    ctx.role = role;
    const duration = grantedDuration(role, request.durationSeconds);
    await authorize(deps, role, verified.claims);
    if (role.approval) {
      if (!deps.approvals) {
        throw new JitkeyError(
          'access_denied',
          `role '${role.name}' needs a human approval, which this exchanger does not offer`,
        );
      }
      return await deps.approvals.open({
        requestId: ctx.requestId,
        role,
        claims: verified.claims,
        durationSeconds: request.durationSeconds,
      });
    }
    return await mintAndRecord(deps, ctx.requestId, role, verified.claims, duration);
  } catch (err) {
    await auditRefusal(deps, ctx, err);
    throw err;
  }
}

/** Policy, then the guards. Throws `access_denied` naming what failed. */
export async function authorize(deps: ExchangeDeps, role: Role, claims: Claims): Promise<void> {
  const decision = deps.evaluate(role, claims);
  if (!decision.granted) throw new JitkeyError('access_denied', decision.reason);
  for (const guard of deps.guards) await guard.check(role, claims);
}

export async function mintAndRecord(
  deps: ExchangeDeps,
  requestId: string,
  role: Role,
  claims: Claims,
  durationSeconds: number,
  extra: Partial<AuditEntry> = {},
  /** Writes the audit row and lease in one transaction; the approval redeem adds its own update. */
  record: (entry: AuditEntry, lease: LeaseRecord) => Promise<void> = (entry, lease) =>
    deps.store.record(entry, lease),
): Promise<Grant> {
  const provider = deps.providers[role.provider];
  if (!provider) {
    throw new JitkeyError(
      'upstream_error',
      `provider '${role.provider}' is not configured on this exchanger`,
    );
  }
  const leaseId = newLeaseId();
  const started = performance.now();
  let minted: Minted;
  try {
    minted = await provider.mint({ role, claims, durationSeconds, requestId, leaseId });
    deps.metrics.upstream.observe(
      { provider: role.provider, outcome: 'ok' },
      (performance.now() - started) / 1000,
    );
  } catch (err) {
    deps.metrics.upstream.observe(
      { provider: role.provider, outcome: 'error' },
      (performance.now() - started) / 1000,
    );
    throw err;
  }
  const revokeToken = newRevokeToken();
  const now = deps.now();
  const idClaims = identifyingClaims(claims);
  const entry: AuditEntry = {
    at: now,
    requestId,
    event: 'exchange',
    outcome: 'allowed',
    role: role.name,
    provider: role.provider,
    reason: `granted for ${formatDuration(durationSeconds)}`,
    claims: idClaims,
    leaseId,
    expiresAt: minted.expiresAt,
    ...extra,
  };
  try {
    await record(entry, {
      id: leaseId,
      role: role.name,
      provider: role.provider,
      createdAt: now,
      expiresAt: minted.expiresAt,
      revokeTokenHash: hashRevokeToken(revokeToken),
      ...(minted.revocationSecret
        ? { sealedRevocation: seal(minted.revocationSecret, revokeToken, leaseId) }
        : {}),
      ...(idClaims.repository ? { repository: idClaims.repository } : {}),
      ...(idClaims.run_id ? { runId: idClaims.run_id } : {}),
    });
  } catch (err) {
    await discard(deps, role, minted, leaseId);
    throw err instanceof JitkeyError ? err : unavailable('the store could not record the lease', err);
  }
  deps.metrics.decisions.inc({ role: role.name, outcome: 'allowed', code: '' });
  return {
    lease_id: leaseId,
    revoke_token: revokeToken,
    role: role.name,
    provider: role.provider,
    expires_at: minted.expiresAt.toISOString(),
    credentials: minted.credentials,
  };
}

/** Credentials minted but not recorded are never handed out; revoke them where the platform can. */
async function discard(deps: ExchangeDeps, role: Role, minted: Minted, leaseId: string): Promise<void> {
  const provider = deps.providers[role.provider];
  if (minted.revocationSecret && provider?.revoke) {
    await provider.revoke(role, minted.revocationSecret).catch((err: unknown) => {
      deps.log.warn('could not revoke an unrecorded credential', { lease_id: leaseId, error: err as Error });
    });
  }
  deps.log.error('credentials minted but the lease could not be recorded; they were not handed out', {
    lease_id: leaseId,
    role: role.name,
  });
}

async function auditRefusal(deps: ExchangeDeps, ctx: Context, err: unknown): Promise<void> {
  const code = err instanceof JitkeyError ? err.code : 'internal_error';
  const known = ctx.role !== undefined;
  deps.metrics.decisions.inc({ role: known ? ctx.role!.name : '', outcome: 'denied', code });
  if (code === 'unavailable') return; // the store is what failed: nothing more to write there
  try {
    await deps.store.record({
      at: deps.now(),
      requestId: ctx.requestId,
      event: 'exchange',
      outcome: code === 'upstream_error' || code === 'internal_error' ? 'error' : 'denied',
      ...(ctx.roleName ? { role: ctx.roleName } : {}),
      ...(ctx.role ? { provider: ctx.role.provider } : {}),
      errorCode: code,
      reason: err instanceof Error ? err.message : String(err),
      claims: ctx.claims ? identifyingClaims(ctx.claims) : {},
    });
  } catch (storeErr) {
    deps.log.error('could not audit a refusal', { request_id: ctx.requestId, error: storeErr as Error });
    throw unavailable('the store could not record the decision', storeErr);
  }
}
