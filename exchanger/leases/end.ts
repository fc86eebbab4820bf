/**
 * Ending one lease, whoever asks: the job's post step with its revoke token (`revoke.ts`), the
 * end of its run (`end-run.ts`), an admin (`revoke-by-admin.ts`), or the exchange when the run
 * completed while it minted (`exchange/mint.ts`). The credential is revoked upstream where
 * the provider can, from the sealed secret alone, whatever the policy says now; the lease is
 * marked revoked, with its audit row, in every case.
 */
import { leaseJobClaims } from '../ci-job.js';
import type { Logger } from '../log.js';
import { retry } from '../net/retry.js';
import type { Policy, ProviderName, Role } from '../policy/model/types.js';
import type { Providers } from '../providers/types.js';
import type { AuditClient, AuditEntry } from '../store/audit-types.js';
import type { LeaseRecord } from '../store/leases-types.js';
import type { Store } from '../store/types.js';

export interface EndLeaseDeps {
  policy: () => Policy;
  store: Store;
  providers: Providers;
  log: Logger;
  now: () => Date;
  /** The wait between revoke attempts; tests pass one that does not wait. */
  sleep?: (ms: number) => Promise<void>;
  /** How long each revoke attempt is given (default `REVOKE_ATTEMPT_MS`); for tests. */
  revokeAttemptMs?: number;
}

/**
 * A failed upstream revoke is tried again, briefly: every provider's revoke is idempotent (GitHub
 * answers 401 for a token already gone, Kubernetes 404 for a Secret), and the alternative is a
 * credential that lives on until it expires. Each attempt is given `REVOKE_ATTEMPT_MS`: the
 * providers' own clients wait up to 10 s for an answer, so without it one hung attempt held the
 * post step or the webhook that long. An attempt that has not answered by then counts as failed;
 * its call is left to finish or time out by itself (a late success still revokes). So the whole
 * revoke takes at most 3 × 3 s plus the two waits (≤ 0.2 s and ≤ 0.4 s): under 10 s.
 */
export const REVOKE_TRIES = 3;
export const REVOKE_ATTEMPT_MS = 3_000;
const REVOKE_BACKOFF_MS = { baseMs: 200, maxMs: 800 };

export interface EndLease {
  requestId: string;
  /** Opens the sealed revocation secret; undefined when this caller holds no key to it. */
  secret: (() => string) | undefined;
  /** Said after "lease revoked" in the audit row (e.g. ": workflow run completed"). */
  why: string;
  /**
   * Claims for the audit row of a GitHub lease, besides its repository; a GitLab or Buildkite
   * lease's row names its job from the lease itself (`ci-job.ts` `leaseJobClaims`).
   */
  claims: AuditEntry['claims'];
  /** Who ended it, when a person did (an admin in the console): the audit row's actor. */
  actor?: string;
  /** That person's GitHub user id. */
  actorId?: string;
  /** The client of the request that ended it (none for the sweep), for the audit row. */
  client?: AuditClient | undefined;
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
    reason: `lease revoked${end.why} (${upstream.text})`,
    // Another system's job in its own terms, rather than a `repository` and GitHub's run claims.
    claims: leaseJobClaims(lease) ?? {
      ...(lease.repository ? { repository: lease.repository } : {}),
      ...end.claims,
    },
    leaseId: lease.id,
    expiresAt: lease.expiresAt,
    ...(end.actor ? { actor: end.actor } : {}),
    ...(end.actorId ? { actorId: end.actorId } : {}),
    ...end.client,
  });
  return upstream.revoked;
}

/** What happened upstream, as the audit row says it after "lease revoked". */
interface Upstream {
  revoked: boolean;
  text: string;
}

async function revokeUpstream(
  deps: EndLeaseDeps,
  lease: LeaseRecord,
  secret: (() => string) | undefined,
): Promise<Upstream> {
  const provider = deps.providers[lease.provider as keyof Providers];
  if (!secret || !provider?.revoke)
    return { revoked: false, text: 'not revocable upstream; expires on its own' };
  const role = roleOf(deps.policy(), lease);
  const limitMs = deps.revokeAttemptMs ?? REVOKE_ATTEMPT_MS;
  let attempts = 0;
  try {
    await retry(
      async (attempt) => {
        attempts = attempt;
        await within(limitMs, () => provider.revoke!(role, secret()));
      },
      {
        tries: REVOKE_TRIES,
        ...REVOKE_BACKOFF_MS,
        isRetryable: () => true,
        ...(deps.sleep ? { sleep: deps.sleep } : {}),
        onRetry: (err, attempt) =>
          deps.log.info('upstream revocation failed; trying again', {
            lease_id: lease.id,
            provider: lease.provider,
            attempt,
            error: err as Error,
          }),
      },
    );
    return {
      revoked: true,
      text: attempts === 1 ? 'revoked upstream' : `revoked upstream at attempt ${attempts}`,
    };
  } catch (err) {
    // The lease is still marked revoked: the job is over either way, and the credential expires.
    deps.log.warn('upstream revocation failed', {
      lease_id: lease.id,
      provider: lease.provider,
      attempts,
      error: err as Error,
    });
    // A provider with a sweep (Kubernetes) ends it there later: the lease is marked revoked now.
    const then = provider.sweep ? 'the lease sweep tries again' : 'it expires on its own';
    return {
      revoked: false,
      text: `upstream revocation failed after ${attempts} attempt${attempts === 1 ? '' : 's'}; ${then}`,
    };
  }
}

/** `fn`'s outcome, or a failure once `ms` have passed without one (`fn` is not cancelled). */
async function within(ms: number, fn: () => Promise<void>): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms / 1000} s`)), ms);
  });
  try {
    await Promise.race([fn(), late]);
  } finally {
    clearTimeout(timer);
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
