/**
 * The store keeps what must outlive a request and be shared by every exchanger instance:
 * used token ids (replay protection), leases and the audit trail. Two implementations,
 * `sqlite.ts` and `postgres.ts`, pass one contract test suite.
 *
 * Every write that guards a credential is awaited before the response is sent: a store
 * error surfaces as JitkeyError `unavailable` (503), never as credentials issued unrecorded.
 */

export type AuditEvent = 'exchange' | 'revoke' | 'approval_request' | 'approve' | 'deny' | 'redeem';

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
}

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
  revokedAt?: Date;
}

export interface AuditFilter {
  since?: Date;
  repository?: string;
  outcome?: AuditOutcome;
  role?: string;
  /** Newest first; default 1000. */
  limit?: number;
}

export interface Store {
  readonly kind: 'sqlite' | 'postgres';
  /**
   * Records a token id as used until `expiresAt`. Returns false when it was already used.
   * Atomic: of concurrent calls with one jti, across instances, exactly one returns true.
   */
  consumeJti(jti: string, expiresAt: Date): Promise<boolean>;
  /** Writes an audit row and, for a grant, its lease, in one transaction. */
  record(entry: AuditEntry, lease?: LeaseRecord): Promise<void>;
  getLease(id: string): Promise<LeaseRecord | undefined>;
  /** Marks a lease revoked (idempotent) and writes the audit row, in one transaction. */
  markRevoked(id: string, at: Date, entry: AuditEntry): Promise<void>;
  queryAudit(filter: AuditFilter): Promise<AuditEntry[]>;
  /** Deletes used jtis whose token has expired. Returns how many went. */
  purgeExpired(now: Date): Promise<number>;
  /** Resolves when the store can take writes; rejects otherwise (for /readyz). */
  ping(): Promise<void>;
  close(): Promise<void>;
}
