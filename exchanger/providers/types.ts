/**
 * What the server asks of a cloud provider. A provider never sees the HTTP request, the store
 * or `@actions/core`: it takes the role, the verified claims and the granted duration.
 */
import type { CredentialsOf } from '../api-types.js';
import type { Claims } from '../claims.js';
import type { ProviderName, Role } from '../policy/model/types.js';

export interface MintRequest {
  role: Role;
  claims: Claims;
  /** Already checked against the role's max_duration. */
  durationSeconds: number;
  /**
   * Set when the run attempt's max_duration cut `durationSeconds`: the lease must end then. A
   * provider whose shortest credential outlives it still issues one and ends it at this moment.
   */
  endsAt?: Date;
  requestId: string;
  leaseId: string;
}

export interface Minted {
  /** The lease answer's `credentials`; each provider's own shape is `MintedBy` its name. */
  credentials: Record<string, unknown>;
  expiresAt: Date;
  /**
   * Material the provider needs to revoke this credential upstream later (the GitHub token).
   * The server stores it only encrypted under a key derived from the lease's revoke_token.
   */
  revocationSecret?: string;
  /**
   * What names this credential in the upstream's own records, for its lease's activity
   * (`activity/`): AWS, the session's access key id (not a secret) and whose CloudTrail holds it;
   * GitHub, the token's `hashed_token` (base64 SHA-256) and its organization; GCP, the service
   * account and its project (its audit logs name the account, not the token). Never a secret.
   */
  activityKey?: {
    keyId: string;
    account: string;
    region: string;
    /** When the credential itself dies, when that is after the lease ends (calls then are refused, and recorded). */
    until?: Date;
  };
}

/** What provider `P` mints: its shape of the lease answer's credentials (`api-types.ts`). */
export type MintedBy<P extends ProviderName> = Minted & { credentials: CredentialsOf[P] };

export interface Provider {
  readonly name: ProviderName;
  /** Throws JitkeyError (`upstream_error`, `invalid_request`, `access_denied`) on failure. */
  mint(request: MintRequest): Promise<Minted>;
  /**
   * Revokes upstream where the platform allows it. An already-expired credential counts as revoked.
   * `role` is the current policy's role of that name, if any: revocation works from `revocationSecret`
   * alone, so a lease of a role since removed from the policy is still revoked.
   */
  revoke?(role: Role | undefined, revocationSecret: string): Promise<void>;
  /**
   * Ends upstream what outlived its lease (the Kubernetes lease Secrets), given the current policy's
   * roles of this provider and the store's word on lease ids: only what belongs to a lease the
   * store knows, and that has ended, is touched. Run at start and periodically (`leases/sweep.ts`);
   * returns how many ended.
   */
  sweep?(roles: Role[], lease: LeaseLookup): Promise<number>;
  /**
   * What the exchanger's own configuration says against the policy's roles of this provider (a
   * Kubernetes server no kubeconfig context names): one line per problem, each naming its role.
   * `jitkey serve` does not start, and a reload is refused, while there are any.
   */
  check?(roles: Role[]): string[];
}

/** What the store knows of a lease id; undefined when it holds no such lease. */
export type LeaseLookup = (leaseId: string) => Promise<{ provider: string; ended: boolean } | undefined>;

export type Providers = Partial<Record<ProviderName, Provider>>;
