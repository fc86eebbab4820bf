/**
 * A role's `forbid_actions` against what its leases did (issue 26, item 3): each newly found
 * event is named as an IAM action (`iam.amazonaws.com` + `CreateUser` → `iam:CreateUser`) and
 * compared with the role's list as the current policy has it; a match is flagged once, as an
 * audit row (`event: activity`, `error_code: forbidden_action`) and a count in
 * `jitkey_forbidden_actions_total`. Whether the call succeeded does not matter: an attempt is
 * what an incident responder wants to hear about (the row says when AWS refused it).
 */
import type { Logger } from '../log.js';
import type { Policy } from '../policy/types.js';
import type { ActivityEvent, ActivityKey, Store } from '../store/types.js';

/** `iam:CreateUser` for an event of `iam.amazonaws.com` named `CreateUser`. */
export function actionOf(e: Pick<ActivityEvent, 'source' | 'name'>): string {
  const service = e.source.replace(/\.amazonaws\.com$/i, '');
  return `${service}:${e.name}`;
}

/** The first entry of `forbidden` the event's action matches (case-insensitive; `*` ends a prefix). */
export function forbiddenMatch(
  forbidden: readonly string[],
  e: Pick<ActivityEvent, 'source' | 'name'>,
): string | undefined {
  const action = actionOf(e).toLowerCase();
  return forbidden.find((pattern) => {
    const p = pattern.toLowerCase();
    return p.endsWith('*') ? action.startsWith(p.slice(0, -1)) : action === p;
  });
}

export interface ForbiddenDeps {
  store: Pick<Store, 'getLease' | 'record'>;
  policy: () => Policy;
  log: Logger;
  now: () => Date;
  newRequestId: () => string;
  counted: (labels: { role: string; action: string }) => void;
}

/** Flags the forbidden actions among a key's newly found events. */
export function flagForbidden(
  deps: ForbiddenDeps,
): (key: ActivityKey, events: ActivityEvent[]) => Promise<void> {
  return async (key, events) => {
    if (events.length === 0) return;
    const lease = await deps.store.getLease(key.leaseId);
    const role = lease && deps.policy().roles.get(lease.role);
    const forbidden = role?.provider === lease?.provider ? role?.forbidActions : undefined;
    if (!lease || !forbidden?.length) return;
    for (const e of events) {
      const pattern = forbiddenMatch(forbidden, e);
      if (!pattern) continue;
      const action = actionOf(e);
      deps.counted({ role: lease.role, action });
      deps.log.warn('a lease used a forbidden action', { lease_id: lease.id, role: lease.role, action });
      await deps.store.record({
        at: deps.now(),
        requestId: deps.newRequestId(),
        event: 'activity',
        outcome: 'denied',
        role: lease.role,
        provider: lease.provider,
        errorCode: 'forbidden_action',
        reason: `lease used ${action}, which role '${lease.role}' forbids (${pattern}): at ${e.at.toISOString()} in ${e.region ?? key.region} with key ${key.keyId}${e.errorCode ? `; AWS refused it: ${e.errorCode}` : ''} (CloudTrail event ${e.eventId})`,
        claims: {
          ...(lease.repository ? { repository: lease.repository } : {}),
          ...(lease.runId ? { run_id: lease.runId } : {}),
        },
        leaseId: lease.id,
        expiresAt: lease.expiresAt,
      });
    }
  };
}
