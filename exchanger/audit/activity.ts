/**
 * A lease's activity as people and tools read it (`jitkey audit lease ID`, `GET
 * /v1/leases/{id}/activity`): the lease, each credential's collection state ("activity
 * unavailable: …" when it could not be read) and the upstream events made with it, oldest first.
 */
import type { ActivityEvent, ActivityKey } from '../store/activity-types.js';
import type { LeaseRecord } from '../store/leases-types.js';
import { clean } from '../text/clean.js';
import { type Column, formatTable, timeColumn } from '../text/table.js';

export interface LeaseActivity {
  lease?: LeaseRecord | undefined;
  keys: ActivityKey[];
  events: ActivityEvent[];
}

/**
 * What a provider's events are matched to the lease by, said with every answer: GCP's audit logs
 * name the service account, not the token, so its events are the account's in the lease's window.
 */
export function matchedBy(provider: string): string {
  switch (provider) {
    case 'aws':
      return 'access key';
    case 'github':
      return 'token (hashed_token)';
    case 'gcp':
      return 'service account and time window';
    case 'kubernetes':
      return 'token (jti)';
    default:
      return 'credential';
  }
}

/** snake_case like the rest of the API; no secret is in any of it (key ids name, never grant). */
export function activityJson(
  { lease, keys, events }: LeaseActivity,
  leaseId: string,
): Record<string, unknown> {
  return {
    lease_id: leaseId,
    ...(lease
      ? {
          role: lease.role,
          provider: lease.provider,
          repository: lease.repository,
          created_at: lease.createdAt.toISOString(),
          expires_at: lease.expiresAt.toISOString(),
          revoked_at: lease.revokedAt?.toISOString(),
        }
      : {}),
    credentials: keys.map((k) => ({
      provider: k.provider,
      key_id: k.keyId,
      matched_by: matchedBy(k.provider),
      account: k.account,
      region: k.region,
      window: { start: k.windowStart.toISOString(), end: k.windowEnd.toISOString() },
      status: k.status,
      reason: k.reason,
      polled_at: k.polledAt?.toISOString(),
      next_poll_at: k.status === 'collecting' ? k.nextPollAt.toISOString() : undefined,
    })),
    events: events.map(activityEventJson),
  };
}

/** One event as the API and `jitkey audit lease --json` list it (the SIEM export's `data` too). */
export function activityEventJson(e: ActivityEvent): Record<string, unknown> {
  return {
    at: e.at.toISOString(),
    name: e.name,
    source: e.source,
    region: e.region,
    resources: e.resources,
    error_code: e.errorCode,
    read_only: e.readOnly,
    key_id: e.keyId,
    event_id: e.eventId,
    details: e.details,
  };
}

const EVENT_COLUMNS: readonly Column<ActivityEvent>[] = [
  timeColumn<ActivityEvent>(),
  { title: 'SOURCE', max: 32, value: (e) => e.source },
  { title: 'EVENT', max: 40, value: (e) => e.name },
  { title: 'REGION', max: 16, value: (e) => e.region },
  { title: 'READ', max: 4, value: (e) => (e.readOnly === undefined ? undefined : e.readOnly ? 'yes' : 'no') },
  { title: 'ERROR', max: 32, value: (e) => e.errorCode },
  { title: 'RESOURCES', max: 100, value: (e) => e.resources.map((r) => r.name ?? r.type).join(', ') },
];

export function formatActivity(activity: LeaseActivity, leaseId: string): string {
  const { lease, keys, events } = activity;
  const lines: string[] = [];
  lines.push(
    lease
      ? `lease ${leaseId}: role ${lease.role} (${lease.provider}), ${lease.createdAt.toISOString()} to ${lease.expiresAt.toISOString()}${lease.revokedAt ? `, revoked ${lease.revokedAt.toISOString()}` : ''}`
      : `lease ${leaseId}`,
  );
  if (keys.length === 0) lines.push('activity: not collected for this lease');
  for (const k of keys) {
    const state =
      k.status === 'collecting'
        ? k.provider === 'kubernetes'
          ? "collecting (the API server's audit webhook sends the events)"
          : `collecting (next read ${k.nextPollAt.toISOString()}; records arrive late)`
        : k.status === 'complete'
          ? 'complete'
          : 'unavailable';
    lines.push(
      `${k.provider} key ${k.keyId} (${k.account}, ${k.region}), by ${matchedBy(k.provider)}: ${state}${k.reason ? `; ${k.reason}` : ''}`,
    );
  }
  const table = events.length ? formatTable(EVENT_COLUMNS, events) : 'no activity recorded\n';
  return `${lines.map(clean).join('\n')}\n\n${table}`;
}
