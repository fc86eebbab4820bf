/**
 * The last step of an exchange or a redeem: credentials minted, lease and audit row committed,
 * and the run attempt looked at again (it may have completed while minting).
 */

import { endedRun, jobName, jobRun } from '../ci-job.js';
import type { Claims } from '../claims.js';
import { identifyingClaims } from '../claims.js';
import { formatDuration } from '../duration.js';
import { JitkeyError, unavailable } from '../errors.js';
import { endLease } from '../leases/end.js';
import { sealForRunEnd } from '../leases/run-end.js';
import { hashRevokeToken, newLeaseId, newRevokeToken, seal } from '../leases/secrets.js';
import type { Role } from '../policy/model/types.js';
import type { Minted } from '../providers/types.js';
import type { AuditEntry } from '../store/audit-types.js';
import type { LeaseRecord } from '../store/leases-types.js';
import type { RunKey } from '../store/runs-types.js';
import type { ExchangeDeps, Grant } from './types.js';

export interface MintAndRecord {
  deps: ExchangeDeps;
  requestId: string;
  role: Role;
  claims: Claims;
  durationSeconds: number;
  /** The run attempt's max_duration end, when it cut `durationSeconds` (`run-limits.ts`). */
  endsAt?: Date;
  /** Fields that replace the exchange's defaults in the audit row (the redeem's event and reason). */
  audit?: Partial<AuditEntry>;
  /**
   * Writes the audit row and lease in one transaction (default: `store.recordGrant`, which also
   * reads whether the run attempt completed, or `store.record` for a token of no run); the approval
   * redeem passes its compare-and-swap, which adds the request's update to that transaction.
   */
  record?: (entry: AuditEntry, lease: LeaseRecord) => Promise<void>;
}

/**
 * Mints at the role's provider, then commits the lease with its audit row. Credentials that
 * cannot be recorded are revoked where the platform can, and never handed out.
 */
export async function mintAndRecord({
  deps,
  requestId,
  role,
  claims,
  durationSeconds,
  endsAt,
  audit = {},
  record,
}: MintAndRecord): Promise<Grant> {
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
    minted = await provider.mint({
      role,
      claims,
      durationSeconds,
      requestId,
      leaseId,
      ...(endsAt ? { endsAt } : {}),
    });
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
  // The lease's project in its own system's terms: a repository, a GitLab project path, …
  const project = idClaims.repository ?? jobName(idClaims).project;
  const run = jobRun(claims);
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
    ...audit,
  };
  const lease: LeaseRecord = {
    id: leaseId,
    role: role.name,
    provider: role.provider,
    createdAt: now,
    expiresAt: minted.expiresAt,
    revokeTokenHash: hashRevokeToken(revokeToken),
    ...(minted.revocationSecret
      ? { sealedRevocation: seal(minted.revocationSecret, revokeToken, leaseId) }
      : {}),
    ...(project ? { repository: project } : {}),
    ...(idClaims.run_id ? { runId: idClaims.run_id } : {}),
    // The run in its own system's terms (a GitLab pipeline, a Buildkite build: `ci-job.ts`).
    ...(run ? { repositoryId: run.repositoryId, runId: run.runId, runAttempt: run.runAttempt } : {}),
    ...(minted.revocationSecret && deps.webhookSecret
      ? { sealedRunEnd: sealForRunEnd(minted.revocationSecret, deps.webhookSecret, leaseId) }
      : {}),
  };
  /** Whether the attempt completed, when the write read it (`recordGrant`: one round trip). */
  let completed: boolean | undefined;
  try {
    if (record) await record(entry, lease);
    else if (run) ({ completed } = await deps.store.recordGrant(entry, lease, run));
    else await deps.store.record(entry, lease);
  } catch (err) {
    await discard(deps, role, minted, leaseId);
    throw err instanceof JitkeyError ? err : unavailable('the store could not record the lease', err);
  }
  await registerActivity(deps, lease, minted);
  if (run) await endIfRunCompleted(deps, requestId, run, lease, minted, completed);
  deps.metrics.decisions.inc({ role: role.name, outcome: 'allowed', code: '' });
  // The role's provider minted these credentials: they are that provider's shape.
  return {
    lease_id: leaseId,
    revoke_token: revokeToken,
    role: role.name,
    provider: role.provider,
    expires_at: minted.expiresAt.toISOString(),
    credentials: minted.credentials,
  } as Grant;
}

/**
 * Registers the credential for the activity collector. Fails soft: a lease whose key could not be
 * registered only goes without its activity, which the log says.
 */
async function registerActivity(deps: ExchangeDeps, lease: LeaseRecord, minted: Minted): Promise<void> {
  if (!deps.activity || !minted.activityKey) return;
  if (deps.activity.providers && !deps.activity.providers.includes(lease.provider)) return;
  const { until, ...key } = minted.activityKey;
  try {
    await deps.store.addActivityKey({
      leaseId: lease.id,
      provider: lease.provider,
      ...key,
      windowStart: lease.createdAt,
      windowEnd: until && until > lease.expiresAt ? until : lease.expiresAt,
      nextPollAt: new Date(lease.createdAt.getTime() + deps.activity.firstPollMs),
      status: 'collecting',
    });
  } catch (err) {
    deps.log.warn('lease activity will not be collected: its key could not be recorded', {
      lease_id: lease.id,
      error: err as Error,
    });
  }
}

/**
 * A `workflow_run completed` webhook that came while this lease was being minted revoked the
 * run's leases recorded by then, not this one. So the attempt is read again with the lease's
 * write (`recordGrant`, one round trip), or after it when the caller wrote it: completed → the lease ends at once (revoked upstream where the provider can) and the job
 * gets `403 run_completed`. A webhook that comes later finds the lease itself. Fails closed: when
 * the attempt cannot be read, the lease is ended too.
 */
async function endIfRunCompleted(
  deps: ExchangeDeps,
  requestId: string,
  run: RunKey,
  lease: LeaseRecord,
  minted: Minted,
  /** Read with the lease's write already; undefined: read it now. */
  known: boolean | undefined,
): Promise<void> {
  let failure: unknown;
  let completed = known ?? false;
  if (known === undefined) {
    try {
      completed = (await deps.store.runState(run, lease.role)).completed;
    } catch (err) {
      failure = err;
    }
  }
  if (!completed && failure === undefined) return;
  const secret = minted.revocationSecret;
  await endLease(deps, lease, {
    requestId,
    secret: secret ? () => secret : undefined,
    why: completed
      ? ': its run attempt completed while it was being minted'
      : ': the run attempt could not be read again after minting',
    claims: { repository_id: run.repositoryId, run_id: run.runId, run_attempt: run.runAttempt },
  }).catch((err: unknown) => {
    deps.log.error('could not end a lease minted for an ended or unreadable run attempt', {
      lease_id: lease.id,
      error: err as Error,
    });
  });
  if (failure !== undefined) {
    throw failure instanceof JitkeyError
      ? failure
      : unavailable('the store could not read the run attempt', failure);
  }
  const ended = endedRun(run);
  throw new JitkeyError(
    'run_completed',
    `${ended.what} completed (${ended.why}) while these credentials were being minted: ` +
      `they were revoked and not handed out; ${ended.again}`,
  );
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
