/**
 * Approval requests in the SQLite store: one row per request, updated by compare-and-swap on
 * `version` inside the store's write transaction (group commit), so of two concurrent decisions
 * or redemptions on one version exactly one lands. Times are integer milliseconds; the approvers,
 * claims and approvals are JSON text.
 */
import type Database from 'better-sqlite3';
import { DEFAULT_APPROVAL_LIST_LIMIT, type RowDecoding, requestRecord, votesJson } from './approvals-rows.js';
import type {
  ApprovalListFilter,
  ApprovalRequestRecord,
  ApprovalState,
  ApprovalStore,
} from './approvals-types.js';
import type { AuditEntry } from './audit-types.js';
import type { LeaseRecord } from './leases-types.js';
import { ms } from './rows.js';

export const SQLITE_APPROVALS_MIGRATION = `
  CREATE TABLE IF NOT EXISTS approval_requests (
    id TEXT PRIMARY KEY,
    role TEXT NOT NULL,
    status TEXT NOT NULL,
    version INTEGER NOT NULL,
    poll_token_hash TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    duration_seconds INTEGER,
    approvers TEXT NOT NULL,
    required INTEGER NOT NULL,
    claims TEXT NOT NULL,
    approvals TEXT NOT NULL DEFAULT '[]',
    reason TEXT,
    decided_by TEXT,
    lease_id TEXT,
    redeemed_at INTEGER
  );
  CREATE INDEX IF NOT EXISTS approval_requests_status_created ON approval_requests (status, created_at);
  CREATE INDEX IF NOT EXISTS approval_requests_expires_at ON approval_requests (expires_at);`;

interface StateRow {
  status: string;
  expires_at: number;
  approvals: string;
  reason: string | null;
  decided_by: string | null;
  lease_id: string | null;
  redeemed_at: number | null;
}

interface RequestRow extends StateRow {
  id: string;
  role: string;
  version: number;
  poll_token_hash: string;
  created_at: number;
  duration_seconds: number | null;
  approvers: string;
  required: number;
  claims: string;
}

/** What `sqlite.ts` lends: its write path (group commit), its read path and its row writers. */
export interface SqliteIo {
  write<T>(build: () => () => T): Promise<T>;
  read<T>(what: string, op: () => T): Promise<T>;
  /** Converts now (a bad value fails its caller only); the returned op inserts. */
  audit(entry: AuditEntry): () => void;
  lease(lease: LeaseRecord): () => void;
}

/** Times are integer milliseconds; approvers and claims are JSON text. */
const DECODE: RowDecoding<number, string> = {
  time: (value) => new Date(value),
  json: (value) => JSON.parse(value),
};

export function sqliteApprovals(db: Database.Database, io: SqliteIo): ApprovalStore {
  const insert = db.prepare<RequestRow>(
    `INSERT INTO approval_requests (id, role, status, version, poll_token_hash, created_at, expires_at,
       duration_seconds, approvers, required, claims, approvals, reason, decided_by, lease_id, redeemed_at)
     VALUES (@id, @role, @status, @version, @poll_token_hash, @created_at, @expires_at, @duration_seconds,
       @approvers, @required, @claims, @approvals, @reason, @decided_by, @lease_id, @redeemed_at)`,
  );
  const select = db.prepare<[string], RequestRow>('SELECT * FROM approval_requests WHERE id = ?');
  const update = db.prepare<StateRow & { id: string; version: number }>(
    `UPDATE approval_requests
        SET status = @status, expires_at = @expires_at, approvals = @approvals, reason = @reason,
            decided_by = @decided_by, lease_id = @lease_id, redeemed_at = @redeemed_at,
            version = version + 1
      WHERE id = @id AND version = @version`,
  );
  // One WHERE for every filter: lists travel as JSON arrays, an absent narrowing as NULL. A single
  // status is compared with `=`: then the (status, created_at) index is read in order, backwards
  // for the newest, where `IN (json_each …)` sorts every match first.
  const statements = (status: string) => {
    const narrowing = (actor: string) => `WHERE ${status}
        AND (@roles_in IS NULL
             OR role IN (SELECT value FROM json_each(@roles_in))
             OR (@roles_not_in IS NOT NULL AND role NOT IN (SELECT value FROM json_each(@roles_not_in))))
        AND ${actor}
        AND (@open_at IS NULL OR expires_at > @open_at)
        AND (@run_id IS NULL
             OR (json_extract(claims, '$.repository_id') = @repository_id
                 AND json_extract(claims, '$.run_id') = @run_id
                 AND json_extract(claims, '$.run_attempt') = @run_attempt))`;
    const where = narrowing(
      "(@not_actor_id IS NULL OR json_extract(claims, '$.actor_id') IS NOT @not_actor_id)",
    );
    return {
      oldest: db.prepare<ListParams, RequestRow>(
        `SELECT * FROM approval_requests ${where} ORDER BY created_at, id LIMIT @limit`,
      ),
      newest: db.prepare<ListParams, RequestRow>(
        `SELECT * FROM approval_requests ${where} ORDER BY created_at DESC, id DESC LIMIT @limit`,
      ),
      count: db.prepare<ListParams, { n: number }>(`SELECT count(*) AS n FROM approval_requests ${where}`),
      // Counting every match less the caller's own jobs (found through the actor_id index) reads
      // no claims at all; comparing each row's actor_id parses every row's JSON.
      countAll: db.prepare<ListParams, { n: number }>(
        `SELECT count(*) AS n FROM approval_requests ${narrowing('1')}`,
      ),
      countOwn: db.prepare<ListParams, { n: number }>(
        `SELECT count(*) AS n FROM approval_requests ${narrowing("json_extract(claims, '$.actor_id') = @not_actor_id")}`,
      ),
    };
  };
  const one = statements('status = @status');
  const many = statements('status IN (SELECT value FROM json_each(@statuses))');
  const pick = (filter: ApprovalListFilter) => (filter.statuses.length === 1 ? one : many);

  return {
    createApprovalRequest: (request, entry) =>
      io.write(() => {
        const row = requestRow(request);
        const audit = io.audit(entry);
        return () => {
          insert.run(row);
          audit();
        };
      }),
    getApprovalRequest: (id) =>
      io.read('read the approval request', () => {
        const row = select.get(id);
        return row && requestRecord(row, DECODE);
      }),
    listApprovalRequests: (filter) =>
      io.read('list approval requests', () => {
        if (filter.statuses.length === 0) return [];
        const read = pick(filter);
        return (filter.newestFirst ? read.newest : read.oldest)
          .all(listParams(filter))
          .map((row) => requestRecord(row, DECODE));
      }),
    countApprovalRequests: (filter) =>
      io.read('count approval requests', () => {
        if (filter.statuses.length === 0) return 0;
        const read = pick(filter);
        const params = listParams(filter);
        if (params.not_actor_id === null) return read.count.get(params)?.n ?? 0;
        return (read.countAll.get(params)?.n ?? 0) - (read.countOwn.get(params)?.n ?? 0);
      }),
    updateApprovalRequest: (id, version, next, entry, lease) =>
      io.write(() => {
        const row = { ...stateRow(next), id, version };
        const audit = io.audit(entry);
        const leased = lease && io.lease(lease);
        return () => {
          if (update.run(row).changes !== 1) return false;
          leased?.();
          audit();
          return true;
        };
      }),
  };
}

interface ListParams {
  statuses: string;
  status: string | null;
  roles_in: string | null;
  roles_not_in: string | null;
  not_actor_id: string | null;
  open_at: number | null;
  repository_id: string | null;
  run_id: string | null;
  run_attempt: string | null;
  limit: number;
}

function listParams({
  statuses,
  roles,
  notActorId,
  openAt,
  run,
  limit = DEFAULT_APPROVAL_LIST_LIMIT,
}: ApprovalListFilter): ListParams {
  return {
    statuses: JSON.stringify(statuses),
    status: statuses[0] ?? null,
    roles_in: roles ? JSON.stringify(roles.in) : null,
    roles_not_in: roles?.orNotIn ? JSON.stringify(roles.orNotIn) : null,
    not_actor_id: notActorId ?? null,
    open_at: openAt ? ms(openAt, 'openAt') : null,
    repository_id: run?.repositoryId ?? null,
    run_id: run?.runId ?? null,
    run_attempt: run?.runAttempt ?? null,
    limit,
  };
}

function stateRow(state: ApprovalState): StateRow {
  return {
    status: state.status,
    expires_at: ms(state.expiresAt, 'expiresAt'),
    approvals: votesJson(state.approvals),
    reason: state.reason ?? null,
    decided_by: state.decidedBy ?? null,
    lease_id: state.leaseId ?? null,
    redeemed_at: state.redeemedAt === undefined ? null : ms(state.redeemedAt, 'redeemedAt'),
  };
}

function requestRow(request: ApprovalRequestRecord): RequestRow {
  return {
    ...stateRow(request),
    id: request.id,
    role: request.role,
    version: 1,
    poll_token_hash: request.pollTokenHash,
    created_at: ms(request.createdAt, 'createdAt'),
    duration_seconds: request.durationSeconds ?? null,
    approvers: JSON.stringify(request.approvers),
    required: request.required,
    claims: JSON.stringify(request.claims),
  };
}
