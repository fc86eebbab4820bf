/** The last step of an exchange or a redeem: credentials minted, lease and audit row committed. */
import type { Claims } from '../claims.js';
import { identifyingClaims } from '../claims.js';
import { formatDuration } from '../duration.js';
import { JitkeyError, unavailable } from '../errors.js';
import { runKeyOf, sealForRunEnd } from '../leases/run-end.js';
import { hashRevokeToken, newLeaseId, newRevokeToken, seal } from '../leases/secrets.js';
import type { Role } from '../policy/types.js';
import type { Minted } from '../providers/types.js';
import type { AuditEntry, LeaseRecord } from '../store/types.js';
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
   * Writes the audit row and lease in one transaction (default: `store.record`); the approval
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
  record = (entry, lease) => deps.store.record(entry, lease),
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
  const run = runKeyOf(claims);
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
      ...(run ? { repositoryId: run.repositoryId, runAttempt: run.runAttempt } : {}),
      ...(minted.revocationSecret && deps.webhookSecret
        ? { sealedRunEnd: sealForRunEnd(minted.revocationSecret, deps.webhookSecret, leaseId) }
        : {}),
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
