/**
 * The exchanger's answers (docs/reference.md, the HTTP API), read defensively. Secret fields are passed to
 * `setSecret` before the answer is checked or used, so no later message or export can show them.
 */
import type {
  AwsCredentials,
  CredentialsOf,
  IssuedCredentials,
  ProviderName,
  RequestState,
} from '../../exchanger/api-types.js';
import type { Core } from './core.js';
import { ActionError } from './errors.js';

/** The wire shapes are the exchanger's own (`exchanger/api-types.ts`); the Action reads them here. */
export type {
  AwsCredentials,
  ExchangeBody,
  GcpCredentials,
  GithubCredentials,
  KubernetesCredentials,
  RedeemBody,
  RequestState,
  RevokeBody,
} from '../../exchanger/api-types.js';

interface LeaseBase {
  leaseId: string;
  revokeToken: string;
  role: string;
  expiresAt: string;
}
/** A lease as the Action keeps it: its fields in camelCase, its credentials as the exchanger sent them. */
export type Lease = LeaseBase & IssuedCredentials;

export interface PendingApproval {
  requestId: string;
  pollToken: string;
  expiresAt: string;
  approvers: string[];
  required: number;
}

export interface RequestStatus {
  status: RequestState;
  approvals: Array<{ login: string; at: string }>;
  reason: string | undefined;
}

/** Credential fields that are secrets, per provider. */
const SECRET_FIELDS: { [P in ProviderName]: ReadonlyArray<keyof CredentialsOf[P]> } = {
  aws: ['access_key_id', 'secret_access_key', 'session_token'],
  gcp: ['access_token'],
  github: ['token'],
  kubernetes: ['token'],
};

export type Json = Record<string, unknown>;

/** A 200 from /v1/exchange or /redeem. Masks every secret in it first. */
export function parseLease(body: Json, core: Pick<Core, 'setSecret'>, what: string): Lease {
  const credentials = body.credentials;
  const creds = credentials !== null && typeof credentials === 'object' ? (credentials as Json) : undefined;
  const provider = body.provider;
  if (typeof body.revoke_token === 'string' && body.revoke_token) core.setSecret(body.revoke_token);
  const secrets: readonly string[] =
    typeof provider === 'string' && Object.hasOwn(SECRET_FIELDS, provider)
      ? SECRET_FIELDS[provider as ProviderName]
      : [];
  for (const field of secrets) {
    const value = creds?.[field];
    if (typeof value === 'string' && value) core.setSecret(value);
  }

  const bad = (field: string) =>
    new ActionError('bad_response', `${what}: the exchanger's answer lacks a valid '${field}'`);
  const str = (o: Json | undefined, field: string, prefix = '') => {
    const v = o?.[field];
    if (typeof v !== 'string' || v === '') throw bad(prefix + field);
    return v;
  };
  const base: LeaseBase = {
    leaseId: str(body, 'lease_id'),
    revokeToken: str(body, 'revoke_token'),
    role: str(body, 'role'),
    expiresAt: str(body, 'expires_at'),
  };
  // The refresh agent times its renewals by it: a time it cannot read would renew at once, again and again.
  if (Number.isNaN(Date.parse(base.expiresAt))) throw bad('expires_at');
  if (!creds) throw bad('credentials');
  const c = (field: string) => str(creds, field, 'credentials.');
  switch (provider) {
    case 'aws': {
      const region = creds.region;
      const aws: AwsCredentials = {
        access_key_id: c('access_key_id'),
        secret_access_key: c('secret_access_key'),
        session_token: c('session_token'),
        expiration: typeof creds.expiration === 'string' ? creds.expiration : base.expiresAt,
        ...(typeof region === 'string' && region ? { region } : {}),
      };
      return { ...base, provider, credentials: aws };
    }
    case 'gcp':
      return {
        ...base,
        provider,
        credentials: {
          access_token: c('access_token'),
          token_type: typeof creds.token_type === 'string' ? creds.token_type : 'Bearer',
          service_account: typeof creds.service_account === 'string' ? creds.service_account : '',
        },
      };
    case 'github':
      return {
        ...base,
        provider,
        credentials: {
          token: c('token'),
          permissions: isStringRecord(creds.permissions) ? creds.permissions : {},
          repositories: Array.isArray(creds.repositories)
            ? creds.repositories.filter((r): r is string => typeof r === 'string')
            : [],
        },
      };
    case 'kubernetes': {
      const ca = creds.ca_data;
      return {
        ...base,
        provider,
        credentials: {
          server: c('server'),
          namespace: c('namespace'),
          token: c('token'),
          expires_at: typeof creds.expires_at === 'string' ? creds.expires_at : base.expiresAt,
          ...(typeof ca === 'string' && ca ? { ca_data: ca } : {}),
        },
      };
    }
    default:
      throw new ActionError(
        'bad_response',
        `${what}: the exchanger issued credentials for provider '${String(provider)}', which this version of the Action does not know; update the Action`,
      );
  }
}

/** A 202 from /v1/exchange. Masks the poll token first. */
export function parsePending(body: Json, core: Pick<Core, 'setSecret'>): PendingApproval {
  if (typeof body.poll_token === 'string' && body.poll_token) core.setSecret(body.poll_token);
  const what = 'Exchange (approval pending)';
  const str = (field: string) => {
    const v = body[field];
    if (typeof v !== 'string' || v === '') {
      throw new ActionError('bad_response', `${what}: the exchanger's answer lacks a valid '${field}'`);
    }
    return v;
  };
  return {
    requestId: str('request_id'),
    pollToken: str('poll_token'),
    expiresAt: typeof body.expires_at === 'string' ? body.expires_at : '',
    approvers: Array.isArray(body.approvers)
      ? body.approvers.filter((a): a is string => typeof a === 'string')
      : [],
    required: typeof body.required === 'number' && body.required > 0 ? body.required : 1,
  };
}

const STATES: ReadonlySet<string> = new Set(['pending', 'approved', 'denied', 'expired', 'redeemed']);

export function parseRequestStatus(body: Json): RequestStatus {
  if (typeof body.status !== 'string' || !STATES.has(body.status)) {
    throw new ActionError('bad_response', `Approval status: unknown status '${String(body.status)}'`);
  }
  const approvals = Array.isArray(body.approvals) ? body.approvals : [];
  return {
    status: body.status as RequestState,
    approvals: approvals
      .filter((a): a is Json => a !== null && typeof a === 'object' && typeof (a as Json).login === 'string')
      .map((a) => ({ login: a.login as string, at: typeof a.at === 'string' ? a.at : '' })),
    reason: typeof body.reason === 'string' && body.reason ? body.reason : undefined,
  };
}

function isStringRecord(v: unknown): v is Record<string, string> {
  return (
    v !== null &&
    typeof v === 'object' &&
    !Array.isArray(v) &&
    Object.values(v).every((x) => typeof x === 'string')
  );
}
