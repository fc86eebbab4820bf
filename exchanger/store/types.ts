/**
 * The store keeps what must outlive a request and be shared by every exchanger instance:
 * used token ids (replay protection), leases and the audit trail. Two implementations,
 * `sqlite.ts` and `postgres.ts`, pass one contract test suite.
 *
 * Every write that guards a credential is awaited before the response is sent: a store
 * error surfaces as JitkeyError `unavailable` (503), never as credentials issued unrecorded.
 */
import type { Logger } from '../log.js';
import type { ExportCursorStore } from './export-cursor-types.js';

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
   * The client that sent the request: its address by the trusted-proxy rule
   * (`net/client-address.ts`). Absent on rows no request wrote (an expiry, the lease sweep).
   */
  clientAddress?: string;
  /** The client's `User-Agent`, cut and escaped (`net/request-client.ts`). */
  userAgent?: string;
}

/** The client fields of an audit row, as a request hands them down to whatever writes the row. */
export type AuditClient = Pick<AuditEntry, 'clientAddress' | 'userAgent'>;

export interface LeaseRecord {
  id: string;
  role: string;
  provider: string;
  createdAt: Date;
  expiresAt: Date;
  /** SHA-256 (hex) of the revoke_token; the token itself is never stored. */
  revokeTokenHash: string;
  /** Upstream revocation material, encrypted under a key derived from the revoke_token. */
  sealedRevocation?: string;
  repository?: string;
  runId?: string;
  /** With `runId`: the run attempt a `workflow_run completed` webhook ends (reference.md §5, refresh). */
  repositoryId?: string;
  runAttempt?: string;
  /**
   * Upstream revocation material sealed a second time, under a key derived from the webhook
   * secret, so the webhook can revoke without the revoke_token (`leases/run-end.ts`).
   */
  sealedRunEnd?: string;
  revokedAt?: Date;
}

/** One attempt of one workflow run: what a `workflow_run` webhook and a token's claims share. */
export interface RunKey {
  repositoryId: string;
  runId: string;
  runAttempt: string;
}

/** A verified token's id, as `consumeJti` takes it. */
export interface SpentToken {
  jti: string;
  /** Kept as spent until then (the token's `exp` plus the clock skew). */
  expiresAt: Date;
  issuer: string;
}

export interface SpentTokenState {
  /** False: the token was already used. */
  fresh: boolean;
  /** The run attempt's state, when one was asked for. */
  run?: RunState;
}

/** What an exchange must know of its run attempt before it mints. */
export interface RunState {
  /** A `workflow_run completed` webhook has been received for it. */
  completed: boolean;
  /** When the attempt's first lease of this role was created, if any. */
  firstLeaseAt?: Date;
}

export type ApprovalStatus = 'pending' | 'approved' | 'denied' | 'expired' | 'redeemed';

/** One approver's approval; `id` is the GitHub user id (as a string), which `required` counts. */
export interface ApprovalVote {
  login: string;
  id: string;
  at: Date;
  reason?: string;
}

/** The parts of an approval request that change as it moves along (`approvals/state.ts`). */
export interface ApprovalState {
  status: ApprovalStatus;
  /** Pending: the approval deadline. Approved: the redemption deadline. */
  expiresAt: Date;
  approvals: ApprovalVote[];
  /** Why it was denied. */
  reason?: string;
  /** Who denied it (GitHub login). */
  decidedBy?: string;
  leaseId?: string;
  redeemedAt?: Date;
}

/** A request for a role with `approval`, from the `202` until it is redeemed, denied or expires. */
export interface ApprovalRequestRecord extends ApprovalState {
  /** The request id the client sees (`request_id`). */
  id: string;
  role: string;
  /** Bumped by every update: updates are compare-and-swap on it. */
  version: number;
  /** SHA-256 (hex) of the poll_token; the token itself is never stored. */
  pollTokenHash: string;
  createdAt: Date;
  /** The duration the job asked for, granted (and checked again) at redemption. */
  durationSeconds?: number;
  /** As the policy named them when the request was made. */
  approvers: string[];
  required: number;
  /**
   * The job's identifying claims plus `actor_id`: what approvers see, what redemption compares
   * (`repository_id`, `run_id`, `run_attempt`) and who may not approve (`actor_id`).
   */
  claims: Record<string, string>;
}

/**
 * Which approval requests to list. Every narrowing happens in the query, so requests that do not
 * match never count against `limit` (issue 16, item 9: a flood of others cannot push them out).
 */
export interface ApprovalListFilter {
  statuses: ApprovalStatus[];
  /**
   * Only requests for a role in `in`, or (when `orNotIn` is given) for a role not in `orNotIn`:
   * an approver's listing is the roles they may decide plus those the policy no longer gates,
   * whose own recorded approvers the caller checks.
   */
  roles?: { in: readonly string[]; orNotIn?: readonly string[] };
  /** Leaves out requests whose `actor_id` claim is this (nobody lists their own job). */
  notActorId?: string;
  /** Only this run attempt's requests (its `repository_id`, `run_id` and `run_attempt` claims). */
  run?: RunKey;
  /** Only requests whose `expiresAt` is after this (not yet expired, whatever their stored status). */
  openAt?: Date;
  /** The newest `limit` first (the console's queue) rather than the oldest. */
  newestFirst?: boolean;
  /** Default 100. */
  limit?: number;
}

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
  /** Only rows of the requests this login approved or denied: an approver's share of the trail. */
  decidedBy?: string;
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

/** Leases not revoked and not expired at `activeAt`, narrowed by the query. */
export interface LeaseFilter {
  activeAt: Date;
  provider?: string;
  /** `owner/name`, compared case-insensitively. */
  repository?: string;
  role?: string;
  /** Default 200. */
  limit?: number;
}

export interface Store extends ExportCursorStore {
  readonly kind: 'sqlite' | 'postgres';
  /**
   * Records a token id of `issuer` as used until `expiresAt`. Returns false when it was already
   * used. Atomic: of concurrent calls with one issuer and jti, across instances, exactly one
   * returns true. The purge drops it only once the database's clock, less a margin, is past
   * `expiresAt` too.
   */
  consumeJti(jti: string, expiresAt: Date, issuer?: string): Promise<boolean>;
  /** Writes an audit row and, for a grant, its lease, in one transaction. */
  record(entry: AuditEntry, lease?: LeaseRecord): Promise<void>;
  getLease(id: string): Promise<LeaseRecord | undefined>;
  /** Marks a lease revoked (idempotent) and writes the audit row, in one transaction. */
  markRevoked(id: string, at: Date, entry: AuditEntry): Promise<void>;
  queryAudit(filter: AuditFilter): Promise<AuditEntry[]>;
  /** Whether the run attempt has completed, and when it first leased `role`. */
  runState(run: RunKey, role: string): Promise<RunState>;
  /**
   * An exchange's first store call: `consumeJti`, and for a token of a run attempt also
   * `runState(run.key, run.role)`, in one round trip (PostgreSQL: one statement).
   */
  spendToken(token: SpentToken, run?: { key: RunKey; role: string }): Promise<SpentTokenState>;
  /**
   * `record` of a grant whose token names a run attempt, answering whether that attempt has
   * completed, in one round trip: the lease and audit row commit with the read (PostgreSQL: one
   * statement, the read in its snapshot; SQLite: one transaction, serialised with `completeRun`).
   */
  recordGrant(entry: AuditEntry, lease: LeaseRecord, run: RunKey): Promise<{ completed: boolean }>;
  /**
   * Records the run attempt as completed (idempotent) with its audit row, in one transaction, and
   * returns its leases not yet revoked (the caller revokes them one by one).
   */
  completeRun(run: RunKey, at: Date, entry: AuditEntry): Promise<LeaseRecord[]>;
  /**
   * Every matching audit row, newest first (only `filter.limit` caps it), read a page at a time:
   * memory stays constant however many rows match. Stopping early (`break`) releases the read.
   */
  streamAudit(filter: AuditFilter): AsyncIterable<AuditEntry>;
  /** One page of matching audit rows, newest first, after `page.after` when given. */
  auditPage(filter: AuditFilter, page: { limit: number; after?: AuditCursor }): Promise<AuditPage>;
  /** Leases still in force, the newest first. */
  listActiveLeases(filter: LeaseFilter): Promise<LeaseRecord[]>;
  /**
   * Deletes used jtis whose token has expired, leases and approval requests more than a day past
   * their expiry (the audit rows keep their id, role, repository and expiry), run attempts
   * completed more than a day ago and, when a retention is set, audit rows older than it.
   * Returns how many jtis went.
   */
  purgeExpired(now: Date): Promise<number>;
  /** Inserts a new approval request (version 1) and its audit row, in one transaction. */
  createApprovalRequest(request: ApprovalRequestRecord, entry: AuditEntry): Promise<void>;
  getApprovalRequest(id: string): Promise<ApprovalRequestRecord | undefined>;
  /** Requests whose stored status is one of `statuses`, narrowed by the query, oldest first (or newest). */
  listApprovalRequests(filter: ApprovalListFilter): Promise<ApprovalRequestRecord[]>;
  /** How many requests `listApprovalRequests` would list without its `limit`. */
  countApprovalRequests(filter: ApprovalListFilter): Promise<number>;
  /**
   * Compare-and-swap: when the request is still at `version`, writes `next` (version + 1), the
   * audit row and, for a redemption, the lease, in one transaction, and returns true. Returns
   * false, writing nothing, when another update came first (or the request is gone).
   */
  updateApprovalRequest(
    id: string,
    version: number,
    next: ApprovalState,
    entry: AuditEntry,
    lease?: LeaseRecord,
  ): Promise<boolean>;
  /** Stores a new console session. */
  createSession(session: ConsoleSession): Promise<void>;
  /** The session with this id hash, or undefined; an expired one is returned too (the caller checks). */
  getSession(idHash: string): Promise<ConsoleSession | undefined>;
  /** Moves the idle expiry of a session (never past its absolute expiry: the caller computes it). */
  extendSession(idHash: string, expiresAt: Date): Promise<void>;
  /** Deletes the session (sign-out); deleting one that is gone does nothing. */
  deleteSession(idHash: string): Promise<void>;
  /** Registers a credential whose activity is to be collected (idempotent per lease and key). */
  addActivityKey(key: ActivityKey): Promise<void>;
  /**
   * Up to `limit` keys still collecting whose next poll is due at `now`, each pushed to
   * `leaseUntil` as it is taken, so another instance does not poll it meanwhile.
   */
  claimActivityKeys(now: Date, leaseUntil: Date, limit: number): Promise<ActivityKey[]>;
  /**
   * Stores the events of one poll (an event seen before is kept once) with the key's new state;
   * returns the ids of the events not seen before.
   */
  saveActivity(key: ActivityKey, events: ActivityEvent[]): Promise<string[]>;
  /** The keys with these ids, of any lease (the Kubernetes audit webhook finds a token's lease by its jti). */
  activityKeysById(keyIds: readonly string[]): Promise<ActivityKey[]>;
  /**
   * Stores events pushed by an upstream (the Kubernetes audit webhook), each kept once, without
   * touching their keys' state; returns the ids of the events not seen before.
   */
  addActivityEvents(events: ActivityEvent[]): Promise<string[]>;
  /** What is known of a lease's activity: its keys' states and their events, oldest first. */
  leaseActivity(leaseId: string): Promise<{ keys: ActivityKey[]; events: ActivityEvent[] }>;
  /** Resolves when the store can take writes; rejects otherwise (for /readyz). */
  ping(): Promise<void>;
  close(): Promise<void>;
}

/**
 * A console sign-in (`console/session.ts`). The cookie holds a random id; the store keeps only its
 * SHA-256, so reading the store does not let anyone act as the person.
 */
export interface ConsoleSession {
  /** SHA-256 (hex) of the id in the cookie. */
  idHash: string;
  /** GitHub login and numeric user id, as GitHub's `GET /user` answered at sign-in. */
  login: string;
  userId: string;
  createdAt: Date;
  /** When it ends unless used again: the idle limit, never past `absoluteExpiresAt`. */
  expiresAt: Date;
  /** When it ends however much it is used. */
  absoluteExpiresAt: Date;
}

/** What `openStore` (and each implementation) accepts besides the URL. */
export interface StoreOptions {
  log?: Logger;
  /** The clock of the background purge. */
  now?: () => Date;
  /** Audit rows older than this are purged. Default: kept forever. */
  auditRetentionDays?: number;
  /** How often the background purge runs; default 60 s; 0 turns it off. */
  purgeIntervalMs?: number;
  /** PostgreSQL schema holding the tables (created if missing). Default: the connection's search_path. */
  schema?: string;
  /** PostgreSQL pool size; default 10. */
  maxConnections?: number;
  /** SQLite: apply the writes of one event-loop turn in one transaction (default true). */
  groupCommit?: boolean;
}

/**
 * One credential a lease issued whose upstream activity is collected (`activity/`): for AWS, the
 * access key id of the STS session (not a secret: CloudTrail records it with every call).
 */
export interface ActivityKey {
  leaseId: string;
  provider: string;
  /** AWS: the access key id. */
  keyId: string;
  /** Whose budget its lookups spend: the account and region (`activity/budget.ts`). */
  account: string;
  region: string;
  /** When the credential was issued and when it ends: the window its events fall in. */
  windowStart: Date;
  windowEnd: Date;
  nextPollAt: Date;
  /** `collecting` until a poll past the horizon succeeds; `unavailable` when it never could. */
  status: 'collecting' | 'complete' | 'unavailable';
  /** Why the last poll failed ("activity unavailable: …"), when it did. */
  reason?: string;
  /** When a poll last succeeded: events up to then (less the delivery delay) are in. */
  polledAt?: Date;
}

/** One upstream event made with a lease's credential: what an incident responder reads. */
export interface ActivityEvent {
  leaseId: string;
  keyId: string;
  /** The upstream's id of the event (CloudTrail `EventId`): an event is stored once. */
  eventId: string;
  at: Date;
  name: string;
  source: string;
  region?: string;
  resources: { type?: string; name?: string }[];
  errorCode?: string;
  readOnly?: boolean;
  /**
   * What else the upstream's record says that a responder reads (Kubernetes: the request URI, the
   * response code, the user agent, the source addresses); never a request or response body.
   */
  details?: Record<string, unknown>;
}
