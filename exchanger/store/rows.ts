/**
 * The `audit` and `leases` rows both stores share, and how a record becomes a row and back. The
 * dialects differ only in how a time is stored (`TimeCodec`): SQLite as integer milliseconds,
 * PostgreSQL as a timestamptz (pg takes and returns a Date). The audit query is one builder too;
 * each dialect says how it writes a parameter and compares a repository (`rowsFor`).
 */
import { addressKey, addressKeyRange } from '../net/request-client.js';
import type { AuditEntry, AuditFilter } from './audit-types.js';
import { auditLimit, joinClaims, splitClaims } from './common.js';
import type { LeaseFilter, LeaseRecord } from './leases-types.js';

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
export const AUDIT_COLUMNS = AUDIT_FIELDS.join(', ');
export const LEASE_COLUMNS = LEASE_FIELDS.join(', ');

/** A row's values in `fields` order, for positional parameters. */
export function rowValues<R>(row: R, fields: readonly (keyof R)[]): unknown[] {
  return fields.map((field) => row[field]);
}

function auditRow<Time>(entry: AuditEntry, times: TimeCodec<Time>): AuditRowOf<Time> {
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
  };
}

function auditEntry<Time>(row: AuditRowOf<Time, unknown>, times: TimeCodec<Time>): AuditEntry {
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
    ...(row.client_address !== null ? { clientAddress: row.client_address } : {}),
    ...(row.user_agent !== null ? { userAgent: row.user_agent } : {}),
  };
}

function leaseRow<Time>(lease: LeaseRecord, times: TimeCodec<Time>): LeaseRowOf<Time> {
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

function leaseRecord<Time>(row: LeaseRowOf<Time>, times: TimeCodec<Time>): LeaseRecord {
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

/** How a dialect stores times, writes the audit query's parameters and matches a repository. */
export interface RowDialect<Time> {
  times: TimeCodec<Time>;
  /** The placeholder of the parameter numbered `n` (1-based). */
  param(n: number): string;
  /** The case-insensitive `repository = …` condition (GitHub names fold ASCII case). */
  repositoryEquals(placeholder: string): string;
  /** The case-insensitive `actor = …` condition (GitHub logins fold case), as its index has it. */
  actorEquals(placeholder: string): string;
}

/** Where the next page of a keyset-paginated audit read resumes: the last row's `at` and `id`. */
export interface AuditKey<Time> {
  at: Time;
  id: number;
}

/** How many rows an audit read takes at once: memory stays bounded by this, whatever matches. */
export const AUDIT_PAGE_ROWS = 1000;

/** The row mappers and the audit queries of one dialect. */
export interface DialectRows<Time> {
  times: TimeCodec<Time>;
  auditRow(entry: AuditEntry): AuditRowOf<Time>;
  auditEntry(row: AuditRowOf<Time, unknown>): AuditEntry;
  leaseRow(lease: LeaseRecord): LeaseRowOf<Time>;
  leaseRecord(row: LeaseRowOf<Time>): LeaseRecord;
  /** Newest first, up to `filter.limit` (default 1000). */
  auditQuery(table: string, filter: AuditFilter): { sql: string; params: unknown[] };
  /**
   * Newest first, every matching row unless `page.limit` caps it, older than `page.after` when
   * given; each row also carries its `id` (the keyset).
   */
  auditPage(
    table: string,
    filter: AuditFilter,
    page: { limit?: number; after?: AuditKey<Time> },
  ): { sql: string; params: unknown[] };
  /** Leases in force at `filter.activeAt`, newest first. */
  leaseQuery(table: string, filter: LeaseFilter): { sql: string; params: unknown[] };
}

export function rowsFor<Time>(dialect: RowDialect<Time>): DialectRows<Time> {
  const { times } = dialect;
  return {
    times,
    auditRow: (entry) => auditRow(entry, times),
    auditEntry: (row) => auditEntry(row, times),
    leaseRow: (lease) => leaseRow(lease, times),
    leaseRecord: (row) => leaseRecord(row, times),
    auditQuery: (table, filter) => auditPage(table, filter, { limit: auditLimit(filter.limit) }, dialect),
    auditPage: (table, filter, page) => auditPage(table, filter, page, dialect),
    leaseQuery: (table, filter) => leaseQuery(table, filter, dialect),
  };
}

/** Walks `leases_expires_at` from now on: only leases not yet expired are read at all. */
function leaseQuery<Time>(
  table: string,
  filter: LeaseFilter,
  dialect: RowDialect<Time>,
): { sql: string; params: unknown[] } {
  const params: unknown[] = [];
  const param = (value: unknown) => {
    params.push(value);
    return dialect.param(params.length);
  };
  const where = [
    `expires_at > ${param(dialect.times.encode(filter.activeAt, 'activeAt'))}`,
    'revoked_at IS NULL',
  ];
  if (filter.provider !== undefined) where.push(`provider = ${param(filter.provider)}`);
  // Both dialects: the leases table's repository column has no case-folding collation or index.
  if (filter.repository !== undefined) where.push(`lower(repository) = lower(${param(filter.repository)})`);
  if (filter.role !== undefined) where.push(`role = ${param(filter.role)}`);
  const limit = param(Math.max(1, Math.min(filter.limit ?? 200, 1000)));
  return {
    sql: `SELECT ${LEASE_COLUMNS} FROM ${table} WHERE ${where.join(' AND ')} ORDER BY created_at DESC, id LIMIT ${limit}`,
    params,
  };
}

/** An approve or deny row that changed the request: what `decidedBy` counts. */
const APPLIED_DECISION =
  "((event = 'approve' AND outcome = 'allowed') OR (event = 'deny' AND outcome = 'denied')) AND error_code IS NULL";

function auditPage<Time>(
  table: string,
  filter: AuditFilter,
  page: { limit?: number; after?: AuditKey<Time> },
  dialect: RowDialect<Time>,
): { sql: string; params: unknown[] } {
  const where: string[] = [];
  const params: unknown[] = [];
  const param = (value: unknown) => {
    params.push(value);
    return dialect.param(params.length);
  };
  if (filter.since) where.push(`at >= ${param(dialect.times.encode(filter.since, 'since'))}`);
  if (filter.requestId !== undefined) where.push(`request_id = ${param(filter.requestId)}`);
  if (filter.repository !== undefined) where.push(dialect.repositoryEquals(param(filter.repository)));
  if (filter.outcome !== undefined) where.push(`outcome = ${param(filter.outcome)}`);
  if (filter.role !== undefined) where.push(`role = ${param(filter.role)}`);
  if (filter.until) where.push(`at < ${param(dialect.times.encode(filter.until, 'until'))}`);
  if (filter.provider !== undefined) where.push(`provider = ${param(filter.provider)}`);
  if (filter.actor !== undefined) where.push(dialect.actorEquals(param(filter.actor)));
  if (filter.client !== undefined) {
    // Keys of one family sort as the addresses do: a range is one walk of the index.
    const { from, to } = addressKeyRange(filter.client, 'client');
    where.push(`client_key BETWEEN ${param(from)} AND ${param(to)}`);
  }
  if (filter.decidedBy !== undefined) {
    // The requests this login decided, then every row of them: an approver's share of the trail.
    // Only decisions that took effect count: a refused approve or deny (anyone signed in can send
    // one for an id they saw) carries an error code and must not widen what its sender reads.
    where.push(
      `request_id IN (SELECT request_id FROM ${table} WHERE ${dialect.actorEquals(param(filter.decidedBy))} AND ${APPLIED_DECISION})`,
    );
  }
  // A row value, so the (at, id) order of the index is walked from the key, not re-filtered.
  if (page.after) where.push(`(at, id) < (${param(page.after.at)}, ${param(page.after.id)})`);
  const limit = page.limit === undefined ? '' : ` LIMIT ${param(page.limit)}`;
  const clause = where.length ? `WHERE ${where.join(' AND ')}` : '';
  return {
    sql: `SELECT ${AUDIT_COLUMNS}, id FROM ${table} ${clause} ORDER BY at DESC, id DESC${limit}`,
    params,
  };
}
