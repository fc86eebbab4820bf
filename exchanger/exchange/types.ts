/**
 * The exchange use-case's ports and answers: what it needs handed in (`ExchangeDeps`) and what
 * it gives back (`Grant`, `Pending`). The HTTP layer (server/) and approvals depend on these.
 */
import type { LeaseAnswer, PendingAnswer } from '../api-types.js';
import type { Claims } from '../claims.js';
import type { Logger } from '../log.js';
import type { Guard } from '../policy/evaluate/guard.js';
import type { Evaluate, Policy, Role } from '../policy/model/types.js';
import type { Providers } from '../providers/types.js';
import type { AuditClient } from '../store/audit-types.js';
import type { RunKey } from '../store/runs-types.js';
import type { Store } from '../store/types.js';
import type { TokenVerifier } from '../token/types.js';
import type { RefusalFold } from './refusal-fold.js';

/**
 * What the use-case counts. server/metrics.ts provides it as Prometheus series; declaring the
 * shape here keeps the use-case from importing the HTTP layer.
 */
export interface ExchangeMetrics {
  decisions: { inc(labels: { role: string; outcome: string; code: string }): void };
  upstream: { observe(labels: { provider: string; outcome: string }, seconds: number): void };
}

export interface ExchangeDeps {
  policy: () => Policy;
  verifier: () => TokenVerifier;
  evaluate: Evaluate;
  store: Store;
  providers: Providers;
  /** Run, in order, for roles they apply to (each guard decides that from the role). */
  guards: Guard[];
  metrics: ExchangeMetrics;
  log: Logger;
  now: () => Date;
  /** Opens a `202 pending` request for roles with `approval`; closes a run's (exchanger/approvals). */
  approvals?: RunApprovals;
  /** JITKEY_GITHUB_WEBHOOK_SECRET: GitHub tokens are also sealed under it (`leases/run-end.ts`). */
  webhookSecret?: string;
  /** JITKEY_GITHUB_ISSUER: which of several `github` issuers the App's API answers for. */
  githubIssuer?: string;
  /**
   * Lease activity collection (`activity/`): set, each credential that names itself upstream is
   * registered for the collector, its first poll `firstPollMs` after it is issued; only those of
   * `providers` when given (JITKEY_LEASE_ACTIVITY names the providers collected).
   */
  activity?: { firstPollMs: number; providers?: readonly string[] };
  /** Folds the audit rows of unverified callers, one per peer per window (`refusal-fold.ts`). */
  refusals?: RefusalFold;
}

/** The answer to an exchange for a role with `approval` (`api-types.ts`). */
export type Pending = PendingAnswer;

/** What an exchange and the end of a run need of the approvals. */
export interface RunApprovals {
  open(request: {
    requestId: string;
    role: Role;
    claims: Claims;
    /** As `ImmediateGrantRequest.appGithub`: on-call auto-approval is for the App's GitHub's tokens only. */
    appGithub: boolean;
    durationSeconds?: number | undefined;
    /** Who sent the request, for its audit row. */
    client?: AuditClient | undefined;
  }): Promise<Pending>;
  /** Closes the run attempt's pending and approved requests (it completed); returns how many. */
  closeRun?(run: RunKey): Promise<number>;
  /**
   * Credentials at once when GitHub's deployment gate already approved this job's deployment
   * (`gate/redeem.ts`); `undefined` when it did not, and the job waits for an approval as before.
   */
  redeemAtGate?(request: ImmediateGrantRequest): Promise<Grant | undefined>;
  /** Credentials at once for a run the role's `break_glass` names (`approvals/break-glass.ts`). */
  breakGlass?(request: ImmediateGrantRequest): Promise<Grant | undefined>;
}

/** A job that may get credentials without waiting (approved at the gate, or break-glass). */
export interface ImmediateGrantRequest {
  requestId: string;
  role: Role;
  claims: Claims;
  /**
   * The verified token's issuer is the GitHub the App's API answers for (`appGithubIssuer`).
   * Break-glass, on-call and the gate name GitHub people and runs by the token's claims and ask
   * that API about them: they act on its tokens only, whatever claims another issuer's carry.
   */
  appGithub: boolean;
  durationSeconds: number;
  endsAt?: Date | undefined;
  /** Who sent the exchange, for the audit row. */
  client?: AuditClient | undefined;
}

export interface ExchangeRequest {
  role: string;
  durationSeconds?: number;
}

/** The answer to an exchange or a redeem that issued credentials (`api-types.ts`). */
export type Grant = LeaseAnswer;
