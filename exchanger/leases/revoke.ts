/**
 * The job ends its own lease with the revoke token the exchange gave it (`POST /v1/revoke`,
 * translated by `server/app.ts`). Upstream revocation where the provider allows it; the lease is
 * marked revoked in every case. A wrong lease id and a wrong token get the same answer, so the
 * endpoint tells a guesser nothing.
 */
import { invalidRequest, JitkeyError } from '../errors.js';
import type { Logger } from '../log.js';
import type { Policy } from '../policy/model/types.js';
import type { Providers } from '../providers/types.js';
import type { AuditClient } from '../store/audit-types.js';
import type { Store } from '../store/types.js';
import { endLease } from './end.js';
import { revokeTokenMatches, unseal } from './secrets.js';

/** What revoking counts; `server/metrics.ts` provides it. */
export interface RevokeMetrics {
  revocations: { inc(labels: { provider: string; outcome: 'upstream' | 'local' }): void };
}

export interface RevokeDeps {
  policy: () => Policy;
  store: Store;
  providers: Providers;
  metrics: RevokeMetrics;
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
  /** Who sent it, for the audit row. */
  client: AuditClient = {},
): Promise<void> {
  const { lease_id: leaseId, revoke_token: token } = body;
  if (typeof leaseId !== 'string' || typeof token !== 'string' || !leaseId || !token) {
    throw invalidRequest('the body must be {"lease_id": …, "revoke_token": …} as returned by /v1/exchange');
  }
  const lease = await deps.store.getLease(leaseId);
  if (!lease || !revokeTokenMatches(token, lease.revokeTokenHash)) throw noSuchLease();
  if (lease.revokedAt) return;

  const sealed = lease.sealedRevocation;
  const upstream = await endLease(deps, lease, {
    requestId,
    secret: sealed ? () => unseal(sealed, token, lease.id) : undefined,
    why: '',
    claims: lease.runId ? { run_id: lease.runId } : {},
    client,
  });
  deps.metrics.revocations.inc({ provider: lease.provider, outcome: upstream ? 'upstream' : 'local' });
}
