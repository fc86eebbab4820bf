/**
 * The credential kinds the agent serves, by provider: each turns the current lease into the answer
 * of the endpoint its SDKs read (for Kubernetes, the kubeconfig's exec plugin, `exec-credential.ts`).
 * A new kind adds an entry to `KINDS` and its routes; the renewal loop and the server stay as they are.
 */
import type { Lease } from '../shared/api.js';
import { EXEC_CREDENTIAL_API_VERSION } from '../shared/kubeconfig.js';

export interface KindRequest {
  method: string;
  path: string;
  headers: Record<string, string | string[] | undefined>;
}

export interface KindAnswer {
  status: number;
  headers?: Record<string, string>;
  body: string;
}

export interface CredentialKind {
  /** Whether requests must carry the agent's bearer token (GCP's clients send none). */
  bearer: boolean;
  /** Variables the main step exports instead of static credentials. */
  exports(endpoint: { origin: string; host: string; bearer: string }, lease: Lease): Array<[string, string]>;
  /** Answers a request with the lease, or undefined when the path is not this kind's. */
  answer(request: KindRequest, lease: Lease, now: number): KindAnswer | undefined;
  /** For refusals in this kind's format (e.g. GCP's Metadata-Flavor on every answer). */
  headers?: Record<string, string>;
  /** `Host` names (bare or with the agent's port) answered besides `127.0.0.1` and `localhost`. */
  hosts?: readonly string[];
}

export const AWS_CREDENTIALS_PATH = '/aws/credentials';
const GCP_SA = '/computeMetadata/v1/instance/service-accounts/default';
const GOOGLE = { 'metadata-flavor': 'Google' };

const json = (status: number, body: unknown, headers: Record<string, string> = {}): KindAnswer => ({
  status,
  headers: { 'content-type': 'application/json', ...headers },
  body: JSON.stringify(body),
});

/** AWS container credentials: the JSON every AWS SDK and the CLI read from the FULL_URI. */
const aws: CredentialKind = {
  bearer: true,
  exports: ({ origin, bearer }, lease) => {
    const vars: Array<[string, string]> = [
      ['AWS_CONTAINER_CREDENTIALS_FULL_URI', `${origin}${AWS_CREDENTIALS_PATH}`],
      ['AWS_CONTAINER_AUTHORIZATION_TOKEN', bearer],
    ];
    const region = lease.provider === 'aws' ? lease.credentials.region : undefined;
    if (region) vars.push(['AWS_REGION', region], ['AWS_DEFAULT_REGION', region]);
    return vars;
  },
  answer: (request, lease) => {
    if (request.path !== AWS_CREDENTIALS_PATH || lease.provider !== 'aws') return undefined;
    if (request.method !== 'GET') return json(405, { message: 'use GET' });
    const c = lease.credentials;
    return json(200, {
      AccessKeyId: c.access_key_id,
      SecretAccessKey: c.secret_access_key,
      Token: c.session_token,
      Expiration: lease.expiresAt,
    });
  },
};

/**
 * The GCE metadata server's token and email, as google-auth-library asks them (gcloud reads
 * GCE_METADATA_ROOT, not GCE_METADATA_HOST, and wants more: docs/refresh.md). As on
 * GCE, `Metadata-Flavor: Google` is required on requests (a browser or a forwarded request cannot
 * send it by accident) and sent on answers, and requests with X-Forwarded-For are refused.
 */
const gcp: CredentialKind = {
  bearer: false,
  headers: GOOGLE,
  // The names the GCE metadata server answers to, for a client pointed at the agent by them.
  hosts: ['metadata.google.internal', 'metadata.google.internal.', '169.254.169.254'],
  exports: ({ host }) => [['GCE_METADATA_HOST', host]],
  answer: (request, lease, now) => {
    if (!request.path.startsWith('/computeMetadata/') || lease.provider !== 'gcp') return undefined;
    if (request.headers['metadata-flavor'] !== 'Google' || request.headers['x-forwarded-for'] !== undefined) {
      return json(403, { message: 'Missing Metadata-Flavor: Google header' }, GOOGLE);
    }
    const text = (body: string) => ({
      status: 200,
      headers: { 'content-type': 'text/plain', ...GOOGLE },
      body,
    });
    switch (request.path) {
      case `${GCP_SA}/token`:
        return json(
          200,
          {
            access_token: lease.credentials.access_token,
            expires_in: Math.max(0, Math.floor((Date.parse(lease.expiresAt) - now) / 1000)),
            token_type: 'Bearer',
          },
          GOOGLE,
        );
      case `${GCP_SA}/email`:
        return text(lease.credentials.service_account);
      case '/computeMetadata/v1/instance':
      case '/computeMetadata/v1/instance/':
        // The clients' "is there a metadata server" probe.
        return text('');
      default:
        return { status: 404, headers: GOOGLE, body: 'Not Found' };
    }
  },
};

export const EXEC_CREDENTIAL_PATH = '/kubernetes/exec-credential';

/**
 * The `ExecCredential` a kubeconfig exec plugin prints. `expirationTimestamp` is the lease's end
 * (RFC 3339, whole seconds, rounded down): kubectl and client-node cache the token until then and
 * run the plugin again after, by which time the agent has renewed (at two thirds).
 */
export function execCredential(token: string, expiresAt: string) {
  return {
    apiVersion: EXEC_CREDENTIAL_API_VERSION,
    kind: 'ExecCredential',
    status: { token, expirationTimestamp: new Date(expiresAt).toISOString().replace(/\.\d+Z$/, 'Z') },
  };
}

/**
 * Kubernetes: nothing to export from the kind itself; the main step writes the kubeconfig whose
 * exec user runs `exec-credential.ts`, which asks this endpoint (with the bearer) and prints
 * the answer.
 */
const kubernetes: CredentialKind = {
  bearer: true,
  exports: () => [],
  answer: (request, lease) => {
    if (request.path !== EXEC_CREDENTIAL_PATH || lease.provider !== 'kubernetes') return undefined;
    if (request.method !== 'GET') return json(405, { message: 'use GET' });
    return json(200, execCredential(lease.credentials.token, lease.expiresAt));
  },
};

export const KINDS: Readonly<Partial<Record<Lease['provider'], CredentialKind>>> = { aws, gcp, kubernetes };
