/**
 * POST /v1/revoke: `{lease_id, revoke_token}` → 204. Upstream revocation where the provider
 * allows it (GitHub tokens); the lease is marked revoked in every case. A wrong lease id and a
 * wrong token get the same answer, so the endpoint tells a guesser nothing.
 */
import { invalidRequest, JitkeyError } from '../errors.js';
import { revokeTokenMatches, unseal } from '../leases/secrets.js';
import type { Logger } from '../log.js';
import type { Policy, ProviderName, Role } from '../policy/types.js';
import type { Providers } from '../providers/types.js';
import type { LeaseRecord, Store } from '../store/types.js';
import type { Metrics } from './metrics.js';

export interface RevokeDeps {
  policy: () => Policy;
  store: Store;
  providers: Providers;
  metrics: Metrics;
  log: Logger;
  now: () => Date;
}

const noSuchLease = () =>
  new JitkeyError(
    'not_found',
    'no lease matches that lease_id and revoke_token (use the values the exchange returned)',
  );

export async function revoke(
  deps: RevokeDeps,
  body: Record<string, unknown>,
  requestId: string,
): Promise<void> {
  const { lease_id: leaseId, revoke_token: token } = body;
  if (typeof leaseId !== 'string' || typeof token !== 'string' || !leaseId || !token) {
    throw invalidRequest('the body must be {"lease_id": …, "revoke_token": …} as returned by /v1/exchange');
  }
  const lease = await deps.store.getLease(leaseId);
  if (!lease || !revokeTokenMatches(token, lease.revokeTokenHash)) throw noSuchLease();
  if (lease.revokedAt) return;

  let upstream = 'not revocable upstream; expires on its own';
  const provider = deps.providers[lease.provider as keyof Providers];
  if (lease.sealedRevocation && provider?.revoke) {
    const role = roleOf(deps.policy(), lease);
    try {
      await provider.revoke(role, unseal(lease.sealedRevocation, token, lease.id));
      upstream = 'revoked upstream';
    } catch (err) {
      // The lease is still marked revoked: the job is over either way, and the credential expires.
      upstream = 'upstream revocation failed; it expires on its own';
      deps.log.warn('upstream revocation failed', {
        lease_id: lease.id,
        provider: lease.provider,
        error: err as Error,
      });
    }
  }
  deps.metrics.revocations.inc({
    provider: lease.provider,
    outcome: upstream.startsWith('revoked') ? 'upstream' : 'local',
  });
  await deps.store.markRevoked(lease.id, deps.now(), {
    at: deps.now(),
    requestId,
    event: 'revoke',
    outcome: 'revoked',
    role: lease.role,
    provider: lease.provider,
    reason: `lease revoked (${upstream})`,
    claims: {
      ...(lease.repository ? { repository: lease.repository } : {}),
      ...(lease.runId ? { run_id: lease.runId } : {}),
    },
    leaseId: lease.id,
    expiresAt: lease.expiresAt,
  });
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
