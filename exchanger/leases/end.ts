/**
 * Ending one lease, whoever asks: the job's post step with its revoke token (`server/revoke.ts`)
 * or GitHub's workflow_run webhook (`server/webhook.ts`). The credential is revoked upstream where
 * the provider can, from the sealed secret alone, whatever the policy says now; the lease is
 * marked revoked, with its audit row, in every case.
 */
import type { Logger } from '../log.js';
import type { Policy, ProviderName, Role } from '../policy/types.js';
import { retry } from '../providers/retry.js';
import type { Providers } from '../providers/types.js';
import type { AuditEntry, LeaseRecord, Store } from '../store/types.js';

export interface EndLeaseDeps {
  policy: () => Policy;
  store: Store;
  providers: Providers;
  log: Logger;
  now: () => Date;
  /** The wait between revoke attempts; tests pass one that does not wait. */
  sleep?: (ms: number) => Promise<void>;
}

/**
 * A failed upstream revoke is tried again, briefly: every provider's revoke is idempotent (GitHub
 * answers 401 for a token already gone, Kubernetes 404 for a Secret), and the alternative is a
 * credential that lives on until it expires. Bounded by attempts and by time, so an upstream that
 * hangs does not hold the post step or the webhook for three timeouts.
 */
export const REVOKE_TRIES = 3;
const REVOKE_BACKOFF_MS = { baseMs: 200, maxMs: 800 };
const REVOKE_RETRY_BUDGET_MS = 3_000;

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
  const role = roleOf(deps.policy(), lease);
  const started = performance.now();
  let attempts = 0;
  try {
    await retry(
      async (attempt) => {
        attempts = attempt;
        await provider.revoke!(role, secret());
      },
      {
        tries: REVOKE_TRIES,
        ...REVOKE_BACKOFF_MS,
        isRetryable: () => performance.now() - started < REVOKE_RETRY_BUDGET_MS,
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
    return REVOKED;
  } catch (err) {
    // The lease is still marked revoked: the job is over either way, and the credential expires.
    deps.log.warn('upstream revocation failed', {
      lease_id: lease.id,
      provider: lease.provider,
      attempts,
      error: err as Error,
    });
    return `upstream revocation failed after ${attempts} attempt${attempts === 1 ? '' : 's'}; it expires on its own`;
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
