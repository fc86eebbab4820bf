/**
 * The `audit` and `leases` rows both stores share, and how a record becomes a row and back. The
 * dialects differ only in how a time is stored (`TimeCodec`): SQLite as integer milliseconds,
 * PostgreSQL as a timestamptz (pg takes and returns a Date). The queries over these rows:
 * `audit-queries.ts`; both, bound to one dialect: `dialect-rows.ts`.
 */
import { addressKey } from '../net/request-client.js';
import type { AuditEntry } from './audit-types.js';
import { joinClaims, splitClaims } from './common.js';
import type { LeaseRecord } from './leases-types.js';

/** Milliseconds of a Date; anything else (or an invalid Date) is a RangeError naming the field. */
export function ms(date: Date, field: string): number {
  const value = date instanceof Date ? date.getTime() : Number.NaN;
  if (!Number.isFinite(value)) throw new RangeError(`${field} must be a valid Date`);
  return value;
}

export interface TimeCodec<Time> {
  /** A Date as stored; SQLite refuses an invalid Date (RangeError naming `field`), never writes NULL. */
  encode(date: Date, field: string): Time;
  decode(value: Time): Date;
}

export const MS_TIMES: TimeCodec<number> = { encode: ms, decode: (value) => new Date(value) };
export const DATE_TIMES: TimeCodec<Date> = { encode: (date) => date, decode: (value) => value };

/** An `audit` row: `claims` is JSON text when written; read back, text (SQLite) or parsed (jsonb). */
export interface AuditRowOf<Time, Claims = string> {
  at: Time;
  request_id: string;
  event: AuditEntry['event'];
  outcome: AuditEntry['outcome'];
  role: string | null;
  provider: string | null;
  error_code: string | null;
  reason: string;
  repository: string | null;
  claims: Claims;
  lease_id: string | null;
  expires_at: Time | null;
  actor: string | null;
  client_address: string | null;
  user_agent: string | null;
  /** `net/request-client.ts` addressKey of `client_address`: what `--client` ranges compare. */
  client_key: string | null;
  actor_id: string | null;
}

export interface LeaseRowOf<Time> {
  id: string;
  role: string;
  provider: string;
  created_at: Time;
  expires_at: Time;
  revoke_token_hash: string;
  sealed_revocation: string | null;
  repository: string | null;
  run_id: string | null;
  revoked_at: Time | null;
  repository_id: string | null;
  run_attempt: string | null;
  sealed_run_end: string | null;
}

/** The columns in the order every INSERT and SELECT lists them. */
export const AUDIT_FIELDS = [
  'at',
  'request_id',
  'event',
  'outcome',
  'role',
  'provider',
  'error_code',
  'reason',
  'repository',
  'claims',
  'lease_id',
  'expires_at',
  'actor',
  'client_address',
  'user_agent',
  'client_key',
  'actor_id',
] as const satisfies readonly (keyof AuditRowOf<unknown>)[];
export const LEASE_FIELDS = [
  'id',
  'role',
  'provider',
  'created_at',
  'expires_at',
  'revoke_token_hash',
  'sealed_revocation',
  'repository',
  'run_id',
  'revoked_at',
  'repository_id',
  'run_attempt',
  'sealed_run_end',
] as const satisfies readonly (keyof LeaseRowOf<unknown>)[];
/** The audit and lease columns that hold times (`MS_TIMES`, `DATE_TIMES` encode them). */
export const TIME_FIELDS: ReadonlySet<string> = new Set(['at', 'expires_at', 'created_at', 'revoked_at']);

/** A column's PostgreSQL type, for typed parameters: `claims` jsonb, the times timestamptz, else text. */
export const pgColumnType = (field: string): string =>
  field === 'claims' ? 'jsonb' : TIME_FIELDS.has(field) ? 'timestamptz' : 'text';

export const AUDIT_COLUMNS = AUDIT_FIELDS.join(', ');
export const LEASE_COLUMNS = LEASE_FIELDS.join(', ');

/** `@a, @b, …`: SQLite's named parameters for `fields`, to bind a row object as it is. */
export function namedParams(fields: readonly string[]): string {
  return fields.map((field) => `@${field}`).join(', ');
}

/** A row's values in `fields` order, for positional parameters. */
export function rowValues<R>(row: R, fields: readonly (keyof R)[]): unknown[] {
  return fields.map((field) => row[field]);
}

export function auditRow<Time>(entry: AuditEntry, times: TimeCodec<Time>): AuditRowOf<Time> {
  const { repository, rest } = splitClaims(entry.claims);
  return {
    at: times.encode(entry.at, 'at'),
    request_id: entry.requestId,
    event: entry.event,
    outcome: entry.outcome,
    role: entry.role ?? null,
    provider: entry.provider ?? null,
    error_code: entry.errorCode ?? null,
    reason: entry.reason,
    repository,
    claims: rest,
    lease_id: entry.leaseId ?? null,
    expires_at: optional(entry.expiresAt, 'expiresAt', times),
    actor: entry.actor ?? null,
    client_address: entry.clientAddress ?? null,
    user_agent: entry.userAgent ?? null,
    client_key: (entry.clientAddress && addressKey(entry.clientAddress)) ?? null,
    actor_id: entry.actorId ?? null,
  };
}

export function auditEntry<Time>(row: AuditRowOf<Time, unknown>, times: TimeCodec<Time>): AuditEntry {
  return {
    at: times.decode(row.at),
    requestId: row.request_id,
    event: row.event,
    outcome: row.outcome,
    ...(row.role !== null ? { role: row.role } : {}),
    ...(row.provider !== null ? { provider: row.provider } : {}),
    ...(row.error_code !== null ? { errorCode: row.error_code } : {}),
    reason: row.reason,
    claims: joinClaims(row.repository, row.claims),
    ...(row.lease_id !== null ? { leaseId: row.lease_id } : {}),
    ...(row.expires_at !== null ? { expiresAt: times.decode(row.expires_at) } : {}),
    ...(row.actor !== null ? { actor: row.actor } : {}),
    ...(row.actor_id !== null ? { actorId: row.actor_id } : {}),
    ...(row.client_address !== null ? { clientAddress: row.client_address } : {}),
    ...(row.user_agent !== null ? { userAgent: row.user_agent } : {}),
  };
}

export function leaseRow<Time>(lease: LeaseRecord, times: TimeCodec<Time>): LeaseRowOf<Time> {
  return {
    id: lease.id,
    role: lease.role,
    provider: lease.provider,
    created_at: times.encode(lease.createdAt, 'createdAt'),
    expires_at: times.encode(lease.expiresAt, 'expiresAt'),
    revoke_token_hash: lease.revokeTokenHash,
    sealed_revocation: lease.sealedRevocation ?? null,
    repository: lease.repository ?? null,
    run_id: lease.runId ?? null,
    revoked_at: optional(lease.revokedAt, 'revokedAt', times),
    repository_id: lease.repositoryId ?? null,
    run_attempt: lease.runAttempt ?? null,
    sealed_run_end: lease.sealedRunEnd ?? null,
  };
}

export function leaseRecord<Time>(row: LeaseRowOf<Time>, times: TimeCodec<Time>): LeaseRecord {
  return {
    id: row.id,
    role: row.role,
    provider: row.provider,
    createdAt: times.decode(row.created_at),
    expiresAt: times.decode(row.expires_at),
    revokeTokenHash: row.revoke_token_hash,
    ...(row.sealed_revocation !== null ? { sealedRevocation: row.sealed_revocation } : {}),
    ...(row.repository !== null ? { repository: row.repository } : {}),
    ...(row.run_id !== null ? { runId: row.run_id } : {}),
    ...(row.repository_id !== null ? { repositoryId: row.repository_id } : {}),
    ...(row.run_attempt !== null ? { runAttempt: row.run_attempt } : {}),
    ...(row.sealed_run_end !== null ? { sealedRunEnd: row.sealed_run_end } : {}),
    ...(row.revoked_at !== null ? { revokedAt: times.decode(row.revoked_at) } : {}),
  };
}

function optional<Time>(date: Date | undefined, field: string, times: TimeCodec<Time>): Time | null {
  return date === undefined ? null : times.encode(date, field);
}
