/**
 * The audit and lease reads both stores run, built once: each dialect says how it writes a
 * parameter and compares a repository or an actor (`RowDialect`). Audit pages are a keyset on
 * (at, id), never an OFFSET.
 */
import { addressKeyRange } from '../net/request-client.js';
import type { AuditFilter } from './audit-types.js';
import type { LeaseFilter } from './leases-types.js';
import { AUDIT_COLUMNS, LEASE_COLUMNS, type TimeCodec } from './rows.js';

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

/** Walks `leases_expires_at` from now on: only leases not yet expired are read at all. */
export function leaseQuery<Time>(
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

export function auditPage<Time>(
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
    // The requests this person decided, then every row of them: an approver's share of the trail.
    // Only decisions that took effect count: a refused approve or deny (anyone signed in can send
    // one for an id they saw) carries an error code and must not widen what its sender reads.
    // The login finds the rows (by its index) and the user id must match too: whoever registers a
    // login its owner gave up does not read the owner's decisions. A row without an id matches by
    // the login alone only when it is older than the migration that added ids (`_actor_ids`, one
    // row beside the audit table): a newer one lost its id to an older process and counts for none.
    const { login, id } = filter.decidedBy;
    const legacy = `actor_id IS NULL AND at < (SELECT since FROM ${table}_actor_ids)`;
    where.push(
      `request_id IN (SELECT request_id FROM ${table} WHERE ${dialect.actorEquals(param(login))} AND (actor_id = ${param(id)} OR (${legacy})) AND ${APPLIED_DECISION})`,
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
