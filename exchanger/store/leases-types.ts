/** A lease: what a grant issued, and how it is revoked (`leases/`). Written with its audit row. */

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
