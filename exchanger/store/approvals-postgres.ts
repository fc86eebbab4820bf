/**
 * Approval requests in the PostgreSQL store. Each write is one statement: the compare-and-swap
 * UPDATE (`WHERE id = … AND version = …`) and the audit row (and, for a redemption, the lease)
 * that depend on it are data-modifying CTEs, inserted `FROM` the updated row, so they land only
 * when the update did. Under READ COMMITTED a second UPDATE on the row waits for the first and
 * then finds the version gone: of concurrent updates on one version exactly one lands, across
 * instances too.
 */
import type pg from 'pg';
import {
  DEFAULT_APPROVAL_LIST_LIMIT,
  type RequestRowOf,
  type RowDecoding,
  requestRecord,
  votesJson,
} from './approvals-rows.js';
import type {
  ApprovalListFilter,
  ApprovalRequestRecord,
  ApprovalState,
  ApprovalStore,
} from './approvals-types.js';
import type { AuditEntry } from './audit-types.js';
import type { LeaseRecord } from './leases-types.js';
import { AUDIT_FIELDS, LEASE_FIELDS, pgColumnType } from './rows.js';

export const postgresApprovalsMigration = (t: (name: string) => string) => `
  CREATE TABLE IF NOT EXISTS ${t('approval_requests')} (
    id text PRIMARY KEY,
    role text NOT NULL,
    status text NOT NULL,
    version integer NOT NULL,
    poll_token_hash text NOT NULL,
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    duration_seconds integer,
    approvers jsonb NOT NULL,
    required integer NOT NULL,
    claims jsonb NOT NULL,
    approvals jsonb NOT NULL DEFAULT '[]',
    reason text,
    decided_by text,
    lease_id text,
    redeemed_at timestamptz
  );
  CREATE INDEX IF NOT EXISTS approval_requests_status_created ON ${t('approval_requests')} (status, created_at, id);
  CREATE INDEX IF NOT EXISTS approval_requests_expires_at ON ${t('approval_requests')} (expires_at);`;

/** pg returns timestamptz as Date and jsonb parsed. */
type RequestRow = RequestRowOf<Date, unknown>;
const DECODE: RowDecoding<Date, unknown> = { time: (value) => value, json: (value) => value };

const COLUMNS =
  'id, role, status, version, poll_token_hash, created_at, expires_at, duration_seconds, approvers, required, claims, approvals, reason, decided_by, lease_id, redeemed_at';

/** What `postgres.ts` lends: its query wrapper and its audit and lease column lists. */
export interface PostgresIo {
  t(name: string): string;
  query<R extends pg.QueryResultRow>(what: string, config: pg.QueryConfig): Promise<pg.QueryResult<R>>;
  auditColumns: string;
  auditValues(entry: AuditEntry): unknown[];
  leaseColumns: string;
  leaseValues(lease: LeaseRecord): unknown[];
}

/**
 * `$n::type, …` for `fields` starting at parameter `first` (typed: they sit in a SELECT list); the
 * types follow the fields, so a column added to a row is typed here too.
 */
function typedParams(fields: readonly string[], first: number): string {
  return fields.map((field, i) => `$${first + i}::${pgColumnType(field)}`).join(', ');
}

/** One WHERE for every filter ($1…$8): an absent narrowing is a NULL parameter. */
const listWhere = `WHERE status = ANY($1::text[])
    AND ($2::text[] IS NULL OR role = ANY($2::text[])
         OR ($3::text[] IS NOT NULL AND NOT (role = ANY($3::text[]))))
    AND ($4::text IS NULL OR claims->>'actor_id' IS DISTINCT FROM $4::text)
    AND ($6::text IS NULL
         OR (claims->>'repository_id' = $5::text AND claims->>'run_id' = $6::text
             AND claims->>'run_attempt' = $7::text))
    AND ($8::timestamptz IS NULL OR expires_at > $8::timestamptz)`;

function listValues({ statuses, roles, notActorId, run, openAt }: ApprovalListFilter): unknown[] {
  return [
    statuses,
    roles ? [...roles.in] : null,
    roles?.orNotIn ? [...roles.orNotIn] : null,
    notActorId ?? null,
    run?.repositoryId ?? null,
    run?.runId ?? null,
    run?.runAttempt ?? null,
    openAt ?? null,
  ];
}

export function postgresApprovals(io: PostgresIo): ApprovalStore {
  const { t } = io;
  const table = t('approval_requests');
  const insertAudit = (first: number, from: string) =>
    `INSERT INTO ${t('audit')} (${io.auditColumns}) SELECT ${typedParams(AUDIT_FIELDS, first)} FROM ${from}`;

  return {
    async createApprovalRequest(request, entry) {
      await io.query('record the approval request', {
        name: 'jitkey_create_approval_request',
        text: `WITH created AS (
                 INSERT INTO ${table} (${COLUMNS})
                 VALUES ($1, $2, $3, 1, $4, $5, $6, $7, $8::jsonb, $9, $10::jsonb, $11::jsonb, $12, $13, $14, $15)
                 RETURNING id
               )
               ${insertAudit(16, 'created')}`,
        values: [...requestValues(request), ...io.auditValues(entry)],
      });
    },
    async getApprovalRequest(id) {
      const { rows } = await io.query<RequestRow>('read the approval request', {
        name: 'jitkey_get_approval_request',
        text: `SELECT ${COLUMNS} FROM ${table} WHERE id = $1`,
        values: [id],
      });
      return rows[0] && requestRecord(rows[0], DECODE);
    },
    async listApprovalRequests(filter) {
      if (filter.statuses.length === 0) return [];
      const order = filter.newestFirst ? 'created_at DESC, id DESC' : 'created_at, id';
      const { rows } = await io.query<RequestRow>('list approval requests', {
        name: filter.newestFirst ? 'jitkey_list_approval_requests_newest' : 'jitkey_list_approval_requests',
        text: `SELECT ${COLUMNS} FROM ${table} ${listWhere} ORDER BY ${order} LIMIT $9`,
        values: [...listValues(filter), filter.limit ?? DEFAULT_APPROVAL_LIST_LIMIT],
      });
      return rows.map((row) => requestRecord(row, DECODE));
    },
    async countApprovalRequests(filter) {
      if (filter.statuses.length === 0) return 0;
      const { rows } = await io.query<{ n: string }>('count approval requests', {
        name: 'jitkey_count_approval_requests',
        text: `SELECT count(*) AS n FROM ${table} ${listWhere}`,
        values: listValues(filter),
      });
      return Number(rows[0]?.n ?? 0);
    },
    async updateApprovalRequest(id, version, next, entry, lease) {
      const state = stateValues(next); // $1…$7
      const audit = io.auditValues(entry); // from $10, one per AUDIT_FIELDS
      const updated = `UPDATE ${table}
                          SET status = $1, expires_at = $2, approvals = $3::jsonb, reason = $4,
                              decided_by = $5, lease_id = $6, redeemed_at = $7, version = version + 1
                        WHERE id = $8 AND version = $9
                        RETURNING id`;
      const { rowCount } = await io.query(lease ? 'record the redemption' : 'record the decision', {
        name: lease ? 'jitkey_redeem_approval_request' : 'jitkey_update_approval_request',
        text: lease
          ? `WITH updated AS (${updated}),
                  lease AS (
                    INSERT INTO ${t('leases')} (${io.leaseColumns}) SELECT ${typedParams(LEASE_FIELDS, 10 + AUDIT_FIELDS.length)} FROM updated
                  )
             ${insertAudit(10, 'updated')}`
          : `WITH updated AS (${updated}) ${insertAudit(10, 'updated')}`,
        values: [...state, id, version, ...audit, ...(lease ? io.leaseValues(lease) : [])],
      });
      return rowCount === 1;
    },
  };
}

function stateValues(state: ApprovalState): unknown[] {
  return [
    state.status,
    state.expiresAt,
    votesJson(state.approvals),
    state.reason ?? null,
    state.decidedBy ?? null,
    state.leaseId ?? null,
    state.redeemedAt ?? null,
  ];
}

function requestValues(r: ApprovalRequestRecord): unknown[] {
  return [
    r.id,
    r.role,
    r.status,
    r.pollTokenHash,
    r.createdAt,
    r.expiresAt,
    r.durationSeconds ?? null,
    JSON.stringify(r.approvers),
    r.required,
    JSON.stringify(r.claims),
    votesJson(r.approvals),
    r.reason ?? null,
    r.decidedBy ?? null,
    r.leaseId ?? null,
    r.redeemedAt ?? null,
  ];
}
