/**
 * POST /v1/exchange, without the HTTP: token → verified claims → replay check → policy →
 * guards → provider → lease + audit committed → answer. Every outcome, granted or refused,
 * leaves one audit row; when that row cannot be written the caller gets 503 and nothing else.
 */
import { jobRun } from '../ci-job.js';
import { appGithubIssuer } from '../ci-kinds.js';
import { type Claims, identifyingClaims } from '../claims.js';
import { formatDuration } from '../duration.js';
import { invalidRequest, JitkeyError, unavailable } from '../errors.js';
import { issuerRefusal } from '../policy/evaluate/issuer-refusal.js';
import type { Policy, Role } from '../policy/model/types.js';
import type { AuditClient, AuditEntry } from '../store/audit-types.js';
import type { RunKey, RunState, SpentTokenState } from '../store/runs-types.js';
import { clean, truncate } from '../text/clean.js';
import { quote } from '../text/quote.js';
import { MAX_CLOCK_TOLERANCE_SECONDS } from '../token/claims-check.js';
import type { VerifiedToken } from '../token/types.js';
import { mintAndRecord } from './mint.js';
import { auditsRefusal } from './refusal-fold.js';
import { type RunLimit, runLimit } from './run-limits.js';
import type { ExchangeDeps, ExchangeRequest, Grant, ImmediateGrantRequest, Pending } from './types.js';

const BODY_FIELDS = new Set(['role', 'duration_seconds']);

export function parseExchangeBody(body: Record<string, unknown>): ExchangeRequest {
  for (const key of Object.keys(body)) {
    if (!BODY_FIELDS.has(key))
      throw invalidRequest(`unknown field ${quote(key)}: the body takes 'role' and 'duration_seconds'`);
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
  /** The client's address, for folding refusals of unverified tokens. */
  peer: string;
  /** Who sent the request: every audit row of it names them. */
  client: AuditClient;
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
 * Records the token's jti as used; `token_replayed` when it already was. Callers verify first and
 * read the body before this, so a malformed body does not burn the token.
 */
export async function spend(deps: ExchangeDeps, verified: VerifiedToken): Promise<void> {
  await spendReadingRun(deps, verified);
}

/**
 * `spend`, and for a token of a run attempt, that attempt's state for `role` (the role as asked
 * for: an unknown one has no leases) read in the same round trip to the store.
 */
async function spendReadingRun(
  deps: ExchangeDeps,
  verified: VerifiedToken,
  run?: { key: RunKey; role: string },
): Promise<RunState | undefined> {
  let spent: SpentTokenState;
  try {
    spent = await deps.store.spendToken(
      { jti: verified.jti, expiresAt: spentUntil(verified), issuer: verified.issuer },
      run,
    );
  } catch (err) {
    throw err instanceof JitkeyError ? err : unavailable('the store could not record the token id', err);
  }
  if (!spent.fresh) {
    throw new JitkeyError(
      'token_replayed',
      'this token was already used: request a new OIDC token for each exchange',
      {},
    );
  }
  return spent.run;
}

export function lookupRole(policy: Policy, name: string): Role {
  const role = policy.roles.get(name);
  if (!role)
    throw invalidRequest(
      `unknown role ${quote(name)}: check the 'role' input against the exchanger's policy`,
    );
  return role;
}

export async function exchange(
  deps: ExchangeDeps,
  token: string,
  body: Record<string, unknown>,
  requestId: string,
  /** The client's address and user agent (`net/request-client.ts`), for the audit rows. */
  client: AuditClient = {},
): Promise<Grant | Pending> {
  const ctx: Context = { requestId, peer: client.clientAddress ?? '', client };
  try {
    // The token first: nothing an unverified caller sent reaches an audit row or a log line.
    const verified = await deps.verifier().verify(token);
    ctx.claims = verified.claims;
    const request = parseExchangeBody(body);
    ctx.roleName = truncate(clean(request.role), MAX_AUDITED_ROLE);
    // The run attempt is read with the jti (one round trip), and checked after the policy.
    const run = jobRun(verified.claims);
    const runState = await spendReadingRun(deps, verified, run && { key: run, role: request.role });
    const role = lookupRole(deps.policy(), request.role);
    ctx.role = role;
    const requested = grantedDuration(role, request.durationSeconds);
    await authorize(deps, role, verified.claims, verified.issuer);
    const limit: RunLimit =
      run && runState ? runLimit(role, run, runState, requested, deps.now()) : { durationSeconds: requested };
    const { durationSeconds: duration, endsAt } = limit;
    if (role.approval) {
      if (!deps.approvals) {
        throw new JitkeyError(
          'access_denied',
          `role '${role.name}' needs a human approval, which this exchanger does not offer`,
        );
      }
      const appGithub = isAppGithub(deps, verified.issuer);
      const now: ImmediateGrantRequest = {
        requestId,
        role,
        claims: verified.claims,
        appGithub,
        durationSeconds: duration,
        endsAt,
        client,
      };
      const atOnce = (await deps.approvals.redeemAtGate?.(now)) ?? (await deps.approvals.breakGlass?.(now));
      if (atOnce) return atOnce;
      return await deps.approvals.open({
        requestId: ctx.requestId,
        role,
        claims: verified.claims,
        appGithub,
        durationSeconds: request.durationSeconds,
        client,
      });
    }
    return await mintAndRecord({
      deps,
      requestId: ctx.requestId,
      role,
      claims: verified.claims,
      durationSeconds: duration,
      ...(endsAt ? { endsAt } : {}),
      audit: client,
    });
  } catch (err) {
    await auditRefusal(deps, ctx, err);
    throw err;
  }
}

/**
 * The verified token's issuer, the policy, then the guards. Throws `access_denied` naming what
 * failed. The issuer is the one the verifier checked the signature against, not a claim.
 */
export async function authorize(
  deps: ExchangeDeps,
  role: Role,
  claims: Claims,
  issuer: string,
): Promise<void> {
  const refusal = issuerRefusal(
    role,
    issuer,
    deps.policy().issuers.map((i) => i.url),
  );
  if (refusal) throw new JitkeyError('access_denied', refusal);
  const decision = deps.evaluate(role, claims);
  if (!decision.granted) throw new JitkeyError('access_denied', decision.reason);
  if (deps.guards.length === 0) return;
  // Once per exchange, not per guard: the policy's issuers are looked through for it.
  const token = { appGithub: isAppGithub(deps, issuer) };
  for (const guard of deps.guards) await guard.check(role, claims, token);
}

/** False too when a reload since the token was verified dropped its issuer. */
function isAppGithub(deps: ExchangeDeps, issuer: string): boolean {
  return issuer === appGithubIssuer(deps.policy().issuers, deps.githubIssuer);
}

/** Longest role name and reason an audit row keeps of what the caller sent. */
const MAX_AUDITED_ROLE = 100;
const MAX_AUDITED_REASON = 1000;

/**
 * The audit row of a refused exchange or redemption, with the metric counted; undefined when no
 * row is written: the store is what failed (`unavailable`), or the refusal was folded.
 */
export async function refusalRow(
  deps: ExchangeDeps,
  err: unknown,
  refusal: {
    event: 'exchange' | 'redeem';
    requestId: string;
    peer: string;
    /** Who sent the request (`net/request-client.ts`). */
    client?: AuditClient | undefined;
    claims: Claims | undefined;
    /** The role as asked for (an audit row keeps it even when unknown). */
    role?: string | undefined;
    provider?: string | undefined;
    /** The metric's role label: a role the policy knows, or ''. */
    metricRole: string;
  },
): Promise<AuditEntry | undefined> {
  const code = err instanceof JitkeyError ? err.code : 'internal_error';
  const { claims } = refusal;
  deps.metrics.decisions.inc({ role: refusal.metricRole, outcome: 'denied', code });
  if (code === 'unavailable') return undefined;
  // The role only when the policy knows it: a caller's made-up names would each be a subject.
  const folding = {
    peer: refusal.peer,
    event: refusal.event,
    claims,
    code,
    role: refusal.metricRole || undefined,
  };
  if (!(await auditsRefusal(deps.refusals, folding))) return undefined;
  return {
    at: deps.now(),
    requestId: refusal.requestId,
    event: refusal.event,
    outcome: code === 'upstream_error' || code === 'internal_error' ? 'error' : 'denied',
    ...(refusal.role ? { role: refusal.role } : {}),
    ...(refusal.provider ? { provider: refusal.provider } : {}),
    errorCode: code,
    reason: truncate(err instanceof Error ? err.message : String(err), MAX_AUDITED_REASON),
    claims: claims ? identifyingClaims(claims) : {},
    ...refusal.client,
  };
}

async function auditRefusal(deps: ExchangeDeps, ctx: Context, err: unknown): Promise<void> {
  const row = await refusalRow(deps, err, {
    event: 'exchange',
    requestId: ctx.requestId,
    peer: ctx.peer,
    client: ctx.client,
    claims: ctx.claims,
    role: ctx.roleName,
    provider: ctx.role?.provider,
    metricRole: ctx.role?.name ?? '',
  });
  if (!row) return;
  try {
    await deps.store.record(row);
  } catch (storeErr) {
    deps.log.error('could not audit a refusal', { request_id: ctx.requestId, error: storeErr as Error });
    throw unavailable('the store could not record the decision', storeErr);
  }
}
