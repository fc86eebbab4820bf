/**
 * Ending one lease, whoever asks: the job's post step with its revoke token (`server/revoke.ts`)
 * or GitHub's workflow_run webhook (`server/webhook.ts`). The credential is revoked upstream where
 * the provider can, from the sealed secret alone, whatever the policy says now; the lease is
 * marked revoked, with its audit row, in every case.
 */
import type { Logger } from '../log.js';
import type { Policy, ProviderName, Role } from '../policy/types.js';
import type { Providers } from '../providers/types.js';
import type { AuditEntry, LeaseRecord, Store } from '../store/types.js';

export interface EndLeaseDeps {
  policy: () => Policy;
  store: Store;
  providers: Providers;
  log: Logger;
  now: () => Date;
}

export interface EndLease {
  requestId: string;
  /** Opens the sealed revocation secret; undefined when this caller holds no key to it. */
  secret: (() => string) | undefined;
  /** Said after "lease revoked" in the audit row (e.g. ": workflow run completed"). */
  why: string;
  /** Claims for the audit row, besides the lease's repository. */
  claims: AuditEntry['claims'];
}

/** Returns true when the credential was revoked upstream. */
export async function endLease(deps: EndLeaseDeps, lease: LeaseRecord, end: EndLease): Promise<boolean> {
  const upstream = await revokeUpstream(deps, lease, end.secret);
  await deps.store.markRevoked(lease.id, deps.now(), {
    at: deps.now(),
    requestId: end.requestId,
    event: 'revoke',
    outcome: 'revoked',
    role: lease.role,
    provider: lease.provider,
    reason: `lease revoked${end.why} (${upstream})`,
    claims: { ...(lease.repository ? { repository: lease.repository } : {}), ...end.claims },
    leaseId: lease.id,
    expiresAt: lease.expiresAt,
  });
  return upstream === REVOKED;
}

const REVOKED = 'revoked upstream';

async function revokeUpstream(
  deps: EndLeaseDeps,
  lease: LeaseRecord,
  secret: (() => string) | undefined,
): Promise<string> {
  const provider = deps.providers[lease.provider as keyof Providers];
  if (!secret || !provider?.revoke) return 'not revocable upstream; expires on its own';
  try {
    await provider.revoke(roleOf(deps.policy(), lease), secret());
    return REVOKED;
  } catch (err) {
    // The lease is still marked revoked: the job is over either way, and the credential expires.
    deps.log.warn('upstream revocation failed', {
      lease_id: lease.id,
      provider: lease.provider,
      error: err as Error,
    });
    return 'upstream revocation failed; it expires on its own';
  }
}

/**
 * The role a lease was minted for, as far as revoking needs it. The policy may have renamed or
 * removed it (or given the name to another provider) since: the credential still has to die, and
 * the sealed secret is all a revoke needs, so a retired role carries just the name and provider.
 */
function roleOf(policy: Policy, lease: LeaseRecord): Role {
  const current = policy.roles.get(lease.role);
  if (current && current.provider === lease.provider) return current;
  return {
    name: lease.role,
    provider: lease.provider as ProviderName,
    durationSeconds: 0,
    maxDurationSeconds: 0,
    allow: [],
    deny: [],
    requireProtectedEnvironment: false,
  };
}
