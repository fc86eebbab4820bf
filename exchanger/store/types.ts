/**
 * The store keeps what must outlive a request and be shared by every exchanger instance:
 * used token ids (replay protection), leases and the audit trail, run attempts, approval
 * requests, console sessions, lease activity and the SIEM export's cursor. Two implementations,
 * `sqlite.ts` and `postgres.ts`, pass one contract test suite. Each port and its records live in
 * a `*-types.ts` module of their own; `Store` is all of them.
 *
 * Every write that guards a credential is awaited before the response is sent: a store
 * error surfaces as JitkeyError `unavailable` (503), never as credentials issued unrecorded.
 */
import type { Logger } from '../log.js';
import type { ActivityStore } from './activity-types.js';
import type { ApprovalStore } from './approvals-types.js';
import type { AuditStore } from './audit-types.js';
import type { ExportCursorStore } from './export-cursor-types.js';
import type { RunStore } from './runs-types.js';
import type { SessionStore } from './sessions-types.js';

export interface Store
  extends AuditStore,
    RunStore,
    ApprovalStore,
    SessionStore,
    ActivityStore,
    ExportCursorStore {
  readonly kind: 'sqlite' | 'postgres';
  /**
   * Records a token id of `issuer` as used until `expiresAt`. Returns false when it was already
   * used. Atomic: of concurrent calls with one issuer and jti, across instances, exactly one
   * returns true. The purge drops it only once the database's clock, less a margin, is past
   * `expiresAt` too.
   */
  consumeJti(jti: string, expiresAt: Date, issuer?: string): Promise<boolean>;
  /**
   * Deletes used jtis whose token has expired, leases and approval requests more than a day past
   * their expiry (the audit rows keep their id, role, repository and expiry), run attempts
   * completed more than a day ago and, when a retention is set, audit rows older than it.
   * Returns how many jtis went.
   */
  purgeExpired(now: Date): Promise<number>;
  /** Resolves when the store can take writes; rejects otherwise (for /readyz). */
  ping(): Promise<void>;
  close(): Promise<void>;
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
  /** SQLite: stage audit rows and move them into the indexed table in bulk (default true). */
  auditStaging?: boolean;
  /** SQLite: how long after staging a row its process moves the staged rows; default 100 ms. */
  auditMoveIntervalMs?: number;
}
