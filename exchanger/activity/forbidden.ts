/**
 * A role's `forbid_actions` against what its leases did (issue 26, item 3): each newly found
 * event is named as an IAM action (`iam.amazonaws.com` + `CreateUser` → `iam:CreateUser`) and
 * compared with the role's list as the current policy has it; a match is flagged once, as an
 * audit row (`event: activity`, `error_code: forbidden_action`) and a count in
 * `jitkey_forbidden_actions_total`. Whether the call succeeded does not matter: an attempt is
 * what an incident responder wants to hear about (the row says when AWS refused it).
 *
 * A Kubernetes event is a verb on a resource (`delete secrets`), matched as
 * `policy/model/kubernetes-actions.ts` says.
 */
import type { Logger } from '../log.js';
import { kubernetesActionMatches, parseKubernetesResource } from '../policy/model/kubernetes-actions.js';
import type { Policy, Role } from '../policy/model/types.js';
import type { ActivityEvent, ActivityKey } from '../store/activity-types.js';
import type { LeaseRecord } from '../store/leases-types.js';
import type { Store } from '../store/types.js';

/** One forbidden action found, as the notify channel is told it (`approvals/forbidden-notify.ts`). */
export interface ForbiddenFlag {
  lease: LeaseRecord;
  role: Role;
  action: string;
  /** The role's `forbid_actions` entry it matched. */
  pattern: string;
  event: ActivityEvent;
  /** The audit row's reason. */
  reason: string;
}

/** `iam:CreateUser` for an event of `iam.amazonaws.com` named `CreateUser`; Kubernetes: `delete secrets`. */
export function actionOf(e: Pick<ActivityEvent, 'source' | 'name'>, provider = 'aws'): string {
  if (provider === 'kubernetes') return `${e.name} ${e.source}`;
  const service = e.source.replace(/\.amazonaws\.com$/i, '');
  return `${service}:${e.name}`;
}

/** The first entry of `forbidden` the event's action matches (case-insensitive; `*` ends a prefix). */
export function forbiddenMatch(
  forbidden: readonly string[],
  e: Pick<ActivityEvent, 'source' | 'name'>,
  provider = 'aws',
): string | undefined {
  if (provider === 'kubernetes') {
    const request = { verb: e.name, ...parseKubernetesResource(e.source) };
    return forbidden.find((pattern) => kubernetesActionMatches(pattern, request));
  }
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
  /** Tells the role's notify channel, after the audit row is written; its failure is logged. */
  notify?: (flag: ForbiddenFlag) => Promise<void>;
}

/**
 * Messages to the notify channel for one key's events found at once (an audit batch, a poll).
 * The lease's holder chooses how many forbidden calls it makes: past this, each still gets its
 * audit row and count, and one log line says how many went untold, so a burst of refused
 * attempts cannot bury the channel (or hold the audit webhook's answer on a message each).
 */
export const MAX_NOTICES_AT_ONCE = 3;

/** Flags the forbidden actions among a key's newly found events. */
export function flagForbidden(
  deps: ForbiddenDeps,
): (key: ActivityKey, events: ActivityEvent[]) => Promise<void> {
  return async (key, events) => {
    if (events.length === 0) return;
    const lease = await deps.store.getLease(key.leaseId);
    const role = lease && deps.policy().roles.get(lease.role);
    const forbidden = role?.provider === lease?.provider ? role?.forbidActions : undefined;
    if (!lease || !role || !forbidden?.length) return;
    let notices = 0;
    let untold = 0;
    for (const e of events) {
      const pattern = forbiddenMatch(forbidden, e, lease.provider);
      if (!pattern) continue;
      const action = actionOf(e, lease.provider);
      // A Kubernetes request's resource and group are the client's to spell (the API server
      // audits `DELETE /apis/<any>/v1/secrets` too): counted by the entry it matched, so a lease
      // cannot make a metric series per request. AWS names its own actions.
      deps.counted({ role: lease.role, action: lease.provider === 'kubernetes' ? pattern : action });
      deps.log.warn('a lease used a forbidden action', { lease_id: lease.id, role: lease.role, action });
      const reason = `lease used ${action}, which role '${lease.role}' forbids (${pattern}): ${where(lease.provider, key, e)}`;
      await deps.store.record({
        at: deps.now(),
        requestId: deps.newRequestId(),
        event: 'activity',
        outcome: 'denied',
        role: lease.role,
        provider: lease.provider,
        errorCode: 'forbidden_action',
        reason,
        claims: {
          ...(lease.repository ? { repository: lease.repository } : {}),
          ...(lease.runId ? { run_id: lease.runId } : {}),
        },
        leaseId: lease.id,
        expiresAt: lease.expiresAt,
      });
      if (!deps.notify) continue;
      if (notices >= MAX_NOTICES_AT_ONCE) {
        untold++;
        continue;
      }
      notices++;
      await deps.notify({ lease, role, action, pattern, event: e, reason }).catch((err: unknown) =>
        deps.log.warn('could not tell the notify channel of a forbidden action', {
          lease_id: lease.id,
          error: err as Error,
        }),
      );
    }
    if (untold) {
      deps.log.warn('more forbidden actions than the notify channel is told at once', {
        lease_id: lease.id,
        told: notices,
        untold,
      });
    }
  };
}

/** When, where and with what the action was done, and the upstream's id of the record. */
function where(provider: string, key: ActivityKey, e: ActivityEvent): string {
  const at = e.at.toISOString();
  if (provider === 'kubernetes') {
    const on = e.resources[0]?.name ? ` on ${e.resources[0].name}` : '';
    const ns = e.region ? ` in namespace ${e.region}` : '';
    const refused = e.errorCode ? `; Kubernetes refused it: ${e.errorCode}` : '';
    return `at ${at}${on}${ns} with token jti ${key.keyId}${refused} (audit event ${e.eventId})`;
  }
  const refused = e.errorCode ? `; AWS refused it: ${e.errorCode}` : '';
  return `at ${at} in ${e.region ?? key.region} with key ${key.keyId}${refused} (CloudTrail event ${e.eventId})`;
}
