/**
 * A platform admin ends a lease from the console. It ends as the post step's `POST /v1/revoke`
 * and the `workflow_run` webhook end it (`end.ts`): revoked upstream where the provider can, the
 * lease marked revoked with its audit row, here naming the admin as its actor.
 *
 * The console never holds the job's revoke_token, so the upstream material it can open is the
 * copy sealed under the webhook secret (`run-end.ts`): with `JITKEY_GITHUB_WEBHOOK_SECRET` set, a
 * GitHub token is deleted and a Kubernetes Secret removed at once. Without it, the lease is marked
 * revoked (the Kubernetes sweep then deletes its Secret) and AWS, GCP and GitHub credentials
 * live until they expire, which `upstreamRevocable` tells the page before anyone clicks.
 */
import { JitkeyError } from '../errors.js';
import type { AuditClient } from '../store/audit-types.js';
import type { LeaseRecord } from '../store/leases-types.js';
import { type EndLeaseDeps, endLease } from './end.js';
import { unsealForRunEnd } from './run-end.js';

export interface AdminRevokeDeps extends EndLeaseDeps {
  webhookSecret?: string | undefined;
}

export interface AdminRevoked {
  lease: LeaseRecord;
  /** False when it was only marked revoked: its credential lives until `expiresAt`. */
  upstream: boolean;
  /** It had been revoked before (by its job, the webhook or another admin): nothing was done. */
  already: boolean;
}

/** Whether ending this lease can reach the provider (else it is only marked revoked). */
export function upstreamRevocable(
  deps: Pick<AdminRevokeDeps, 'providers' | 'webhookSecret'>,
  lease: LeaseRecord,
): boolean {
  const provider = deps.providers[lease.provider as keyof typeof deps.providers];
  return Boolean(lease.sealedRunEnd && deps.webhookSecret && provider?.revoke);
}

export async function revokeByAdmin(
  deps: AdminRevokeDeps,
  leaseId: string,
  admin: { login: string; id: string },
  requestId: string,
  /** The admin's browser (address, user agent), for the audit row. */
  client?: AuditClient,
): Promise<AdminRevoked> {
  const lease = await deps.store.getLease(leaseId);
  if (!lease) throw new JitkeyError('not_found', `no lease ${leaseId} (it may have expired and been purged)`);
  if (lease.revokedAt) return { lease, upstream: false, already: true };
  const sealed = lease.sealedRunEnd;
  const key = deps.webhookSecret;
  const upstream = await endLease(deps, lease, {
    requestId,
    secret: sealed && key ? () => unsealForRunEnd(sealed, key, lease.id) : undefined,
    why: ` by ${admin.login} in the console`,
    claims: {
      ...(lease.runId ? { run_id: lease.runId } : {}),
      ...(lease.runAttempt ? { run_attempt: lease.runAttempt } : {}),
    },
    actor: admin.login,
    actorId: admin.id,
    client,
  });
  return { lease, upstream, already: false };
}
