/**
 * The audit trail: what each request did, never a token, secret or credential. A grant's lease
 * is written in the same transaction as its audit row, so the port that writes the trail keeps
 * the leases too.
 */
import type { LeaseFilter, LeaseRecord } from './leases-types.js';

export type AuditEvent =
  | 'exchange'
  | 'revoke'
  | 'approval_request'
  | 'approve'
  | 'deny'
  | 'expire'
  | 'redeem'
  | 'webhook'
  /** GitHub's deployment gate: an answer posted (or failing), an approval's window at the gate. */
  | 'gate'
  /** Lease activity: a forbidden action found in what a lease's credentials did (`activity/`). */
  | 'activity';

export type AuditOutcome = 'allowed' | 'denied' | 'error' | 'revoked' | 'pending';

export interface AuditEntry {
  at: Date;
  requestId: string;
  event: AuditEvent;
  outcome: AuditOutcome;
  role?: string;
  provider?: string;
  /** The API error code when refused (`access_denied`, `invalid_token`, …). */
  errorCode?: string;
  /** Human-readable; never contains a token, secret or credential. */
  reason: string;
  /** Identifying claims (`claims.ts` IDENTIFYING_CLAIMS) as strings. */
  claims: Record<string, string>;
  leaseId?: string;
  expiresAt?: Date;
  /** Who acted, for approvals (GitHub login). */
  actor?: string;
  /**
   * The GitHub user id of `actor` when a signed-in person acted (approve, deny, acknowledge, an
   * admin's revoke): a login can change hands, the id cannot. Rows written before it was kept
   * have none.
   */
  actorId?: string;
  /**
   * The client that sent the request: its address by the trusted-proxy rule
   * (`net/client-address.ts`). Absent on rows no request wrote (an expiry, the lease sweep).
   */
  clientAddress?: string;
  /** The client's `User-Agent`, cut and escaped (`net/request-client.ts`). */
  userAgent?: string;
}

/** The client fields of an audit row, as a request hands them down to whatever writes the row. */
export type AuditClient = Pick<AuditEntry, 'clientAddress' | 'userAgent'>;

export interface AuditFilter {
  since?: Date;
  /** One request's rows: an exchange, or an approval request's whole life. */
  requestId?: string;
  repository?: string;
  outcome?: AuditOutcome;
  role?: string;
  /** Rows before this instant (with `since`, a time range). */
  until?: Date;
  provider?: string;
  /** Who acted (a GitHub login, compared case-insensitively). */
  actor?: string;
  /**
   * Only rows of the requests this person approved or denied: an approver's share of the trail.
   * A decision counts when its row names this login and this user id; a row written before ids
   * were kept names no id and counts by the login alone.
   */
  decidedBy?: { login: string; id: string };
  /** Rows whose client address is this address or lies in this CIDR range (`10.0.0.0/8`). */
  client?: string;
  /** Newest first; `queryAudit` defaults to 1000, `streamAudit` to every row. */
  limit?: number;
}

/** Where the next page of audit rows starts: after the last row's time and id (a keyset, no OFFSET). */
export interface AuditCursor {
  at: Date;
  id: number;
}

export interface AuditPage {
  entries: AuditEntry[];
  /** Set when more rows may follow. */
  next?: AuditCursor;
}

export interface AuditStore {
  /** Writes an audit row and, for a grant, its lease, in one transaction. */
  record(entry: AuditEntry, lease?: LeaseRecord): Promise<void>;
  getLease(id: string): Promise<LeaseRecord | undefined>;
  /** Marks a lease revoked (idempotent) and writes the audit row, in one transaction. */
  markRevoked(id: string, at: Date, entry: AuditEntry): Promise<void>;
  queryAudit(filter: AuditFilter): Promise<AuditEntry[]>;
  /**
   * Every matching audit row, newest first (only `filter.limit` caps it), read a page at a time:
   * memory stays constant however many rows match. Stopping early (`break`) releases the read.
   */
  streamAudit(filter: AuditFilter): AsyncIterable<AuditEntry>;
  /** One page of matching audit rows, newest first, after `page.after` when given. */
  auditPage(filter: AuditFilter, page: { limit: number; after?: AuditCursor }): Promise<AuditPage>;
  /** Leases still in force, the newest first. */
  listActiveLeases(filter: LeaseFilter): Promise<LeaseRecord[]>;
}
