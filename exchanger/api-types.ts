/**
 * The job's side of the HTTP API (docs/reference.md, "HTTP API"), declared once: the exchanger
 * answers with these shapes, and both of its clients, `jitkey credentials`
 * (`cli/exchange-client.ts`) and the Action (`src/shared/api.ts`), read them. Types only, taken
 * with `import type`, so nothing of this file lands in a bundle. A client still checks every
 * answer field by field: these say what a well-formed answer holds, not that one arrived.
 */
import type { ErrorCode } from './errors.js';

export type ProviderName = 'aws' | 'gcp' | 'github' | 'kubernetes';

// The credential shapes are type aliases, not interfaces, so each is also a plain JSON record
// (`Record<string, unknown>`) where code handles any provider's credentials alike.

export type AwsCredentials = {
  access_key_id: string;
  secret_access_key: string;
  session_token: string;
  expiration: string;
  region?: string;
};

export type GcpCredentials = {
  access_token: string;
  token_type: string;
  service_account: string;
};

export type GithubCredentials = {
  token: string;
  permissions: Record<string, string>;
  repositories: string[];
};

export type KubernetesCredentials = {
  server: string;
  /** Base64 PEM of the cluster CA, as a kubeconfig's certificate-authority-data. */
  ca_data?: string;
  namespace: string;
  token: string;
  expires_at: string;
};

/** Each provider's `credentials` object. */
export interface CredentialsOf {
  aws: AwsCredentials;
  gcp: GcpCredentials;
  github: GithubCredentials;
  kubernetes: KubernetesCredentials;
}

/** `provider` and the `credentials` it issues, one shape per provider. */
export type IssuedCredentials = {
  [P in ProviderName]: { provider: P; credentials: CredentialsOf[P] };
}[ProviderName];

/** `POST /v1/exchange`, with the job's OIDC token as the bearer. */
export interface ExchangeBody {
  role: string;
  duration_seconds?: number;
}

/** What every lease answer holds, whichever the provider. */
export interface LeaseFields {
  lease_id: string;
  revoke_token: string;
  role: string;
  expires_at: string;
}

/** `200` of `POST /v1/exchange` and of `POST /v1/requests/{id}/redeem`: a lease. */
export type LeaseAnswer = LeaseFields & IssuedCredentials;

/** A shape whose fields are named but not yet checked: an answer's JSON before a client reads it. */
export type Unchecked<T> = { [K in keyof T]?: unknown };

/** `202` of `POST /v1/exchange`: the role needs an approval first. */
export interface PendingAnswer {
  status: 'pending';
  request_id: string;
  poll_token: string;
  expires_at: string;
  approvers: string[];
  required: number;
}

export type RequestState = 'pending' | 'approved' | 'denied' | 'expired' | 'redeemed';

/** `200` of `GET /v1/requests/{id}`, with the poll token as the bearer. */
export interface RequestStatusAnswer {
  request_id: string;
  status: RequestState;
  role: string;
  approvals: Array<{ login: string; at: string }>;
  required: number;
  /** Pending: the approval deadline; approved: the redemption deadline. */
  expires_at: string;
  reason?: string;
  denied_by?: string;
}

/** `POST /v1/requests/{id}/redeem`, with a fresh OIDC token of the same job as the bearer. */
export interface RedeemBody {
  poll_token: string;
}

/** `POST /v1/revoke` (no bearer: the revoke token is the proof). Answered `204`. */
export interface RevokeBody {
  lease_id: string;
  revoke_token: string;
}

/** Every refusal and failure, whatever the route. */
export interface ErrorAnswer {
  error: ErrorCode;
  message: string;
  request_id: string;
}
