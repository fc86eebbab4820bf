/**
 * Lease activity (issue 26, item 2) in either store: the keys whose activity is collected and the
 * events found. The dialects differ only in how a time is stored (`TimeCodec`).
 */
import type { ActivityEvent, ActivityKey } from './activity-types.js';
import type { TimeCodec } from './rows.js';

export interface ActivityKeyRowOf<Time> {
  lease_id: string;
  key_id: string;
  provider: string;
  account: string;
  region: string;
  window_start: Time;
  window_end: Time;
  next_poll_at: Time;
  status: ActivityKey['status'];
  reason: string | null;
  polled_at: Time | null;
}

export interface ActivityEventRowOf<Time> {
  lease_id: string;
  key_id: string;
  event_id: string;
  at: Time;
  name: string;
  source: string;
  region: string | null;
  /** JSON text when written; text (SQLite) or parsed (jsonb) when read. */
  resources: unknown;
  error_code: string | null;
  /** SQLite: 0/1; PostgreSQL: boolean. */
  read_only: number | boolean | null;
  /** JSON text when written, as `resources`; null when the event has none. */
  details: unknown;
}

export const ACTIVITY_KEY_FIELDS = [
  'lease_id',
  'key_id',
  'provider',
  'account',
  'region',
  'window_start',
  'window_end',
  'next_poll_at',
  'status',
  'reason',
  'polled_at',
] as const satisfies readonly (keyof ActivityKeyRowOf<unknown>)[];

export const ACTIVITY_EVENT_FIELDS = [
  'lease_id',
  'key_id',
  'event_id',
  'at',
  'name',
  'source',
  'region',
  'resources',
  'error_code',
  'read_only',
  'details',
] as const satisfies readonly (keyof ActivityEventRowOf<unknown>)[];

export function activityKeyRow<Time>(k: ActivityKey, times: TimeCodec<Time>): ActivityKeyRowOf<Time> {
  return {
    lease_id: k.leaseId,
    key_id: k.keyId,
    provider: k.provider,
    account: k.account,
    region: k.region,
    window_start: times.encode(k.windowStart, 'windowStart'),
    window_end: times.encode(k.windowEnd, 'windowEnd'),
    next_poll_at: times.encode(k.nextPollAt, 'nextPollAt'),
    status: k.status,
    reason: k.reason ?? null,
    polled_at: k.polledAt ? times.encode(k.polledAt, 'polledAt') : null,
  };
}

export function activityKey<Time>(r: ActivityKeyRowOf<Time>, times: TimeCodec<Time>): ActivityKey {
  return {
    leaseId: r.lease_id,
    keyId: r.key_id,
    provider: r.provider,
    account: r.account,
    region: r.region,
    windowStart: times.decode(r.window_start),
    windowEnd: times.decode(r.window_end),
    nextPollAt: times.decode(r.next_poll_at),
    status: r.status,
    ...(r.reason !== null ? { reason: r.reason } : {}),
    ...(r.polled_at !== null ? { polledAt: times.decode(r.polled_at) } : {}),
  };
}

export function activityEventRow<Time>(
  e: ActivityEvent,
  times: TimeCodec<Time>,
  readOnly: (value: boolean) => number | boolean,
): ActivityEventRowOf<Time> {
  return {
    lease_id: e.leaseId,
    key_id: e.keyId,
    event_id: e.eventId,
    at: times.encode(e.at, 'at'),
    name: e.name,
    source: e.source,
    region: e.region ?? null,
    resources: JSON.stringify(e.resources),
    error_code: e.errorCode ?? null,
    read_only: e.readOnly === undefined ? null : readOnly(e.readOnly),
    details: e.details ? JSON.stringify(e.details) : null,
  };
}

export function activityEvent<Time>(r: ActivityEventRowOf<Time>, times: TimeCodec<Time>): ActivityEvent {
  const resources = typeof r.resources === 'string' ? JSON.parse(r.resources) : r.resources;
  const details = typeof r.details === 'string' ? JSON.parse(r.details) : r.details;
  return {
    leaseId: r.lease_id,
    keyId: r.key_id,
    eventId: r.event_id,
    at: times.decode(r.at),
    name: r.name,
    source: r.source,
    ...(r.region !== null ? { region: r.region } : {}),
    resources: (resources ?? []) as ActivityEvent['resources'],
    ...(r.error_code !== null ? { errorCode: r.error_code } : {}),
    ...(r.read_only !== null ? { readOnly: Boolean(r.read_only) } : {}),
    ...(details ? { details: details as Record<string, unknown> } : {}),
  };
}
