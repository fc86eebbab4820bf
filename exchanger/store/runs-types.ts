/**
 * Run attempts: what an exchange must know of its job's run attempt (has it completed, when did
 * it first lease the role) and the `workflow_run completed` webhook that ends it.
 */
import type { AuditEntry } from './audit-types.js';
import type { LeaseRecord } from './leases-types.js';

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

export interface RunStore {
  /** Whether the run attempt has completed, and when it first leased `role`. */
  runState(run: RunKey, role: string): Promise<RunState>;
  /**
   * An exchange's first store call: `consumeJti`, and for a token of a run attempt also
   * `runState(run.key, run.role)`, in one round trip (PostgreSQL: one statement).
   */
  spendToken(token: SpentToken, run?: { key: RunKey; role: string }): Promise<SpentTokenState>;
  /**
   * `record` of a grant whose token names a run attempt, answering whether that attempt has
   * completed, in one round trip: the lease and audit row commit with the read. PostgreSQL: one
   * statement, which reads the attempt's newest `run_attempts` row, not its snapshot: the row's
   * lock orders it with `completeRun`. SQLite: one transaction, serialised with `completeRun`.
   */
  recordGrant(entry: AuditEntry, lease: LeaseRecord, run: RunKey): Promise<{ completed: boolean }>;
  /**
   * Records the run attempt as completed (idempotent) with its audit row, in one transaction, and
   * returns its leases not yet revoked (the caller revokes them one by one). PostgreSQL reads them
   * in a second statement, after the first committed: a grant that held the attempt's row first
   * has committed by then, and its lease is among them.
   */
  completeRun(run: RunKey, at: Date, entry: AuditEntry): Promise<LeaseRecord[]>;
}
