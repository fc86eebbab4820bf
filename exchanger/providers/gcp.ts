/**
 * The `gcp` provider: an OAuth 2.0 access token for the role's service account from IAM Credentials
 * `generateAccessToken`, living exactly the granted duration.
 *
 * - The official client (`@google-cloud/iam-credentials`) over its REST transport (`fallback: true`),
 *   the REST surface reference.md §1 names; `protocol`/`apiEndpoint`/`port` come from
 *   `JITKEY_GCP_IAM_ENDPOINT` (default https://iamcredentials.googleapis.com; http only on loopback).
 * - The exchanger's own identity is Application Default Credentials (`GOOGLE_APPLICATION_CREDENTIALS`,
 *   the metadata server, workload identity federation). With a service-account key the client
 *   authenticates with a self-signed JWT (no round trip to a token endpoint).
 * - One client per provider. Its auth is loaded once, before the first call: a failure there is
 *   reported and the client rebuilt on the next request (the client would otherwise keep the failure
 *   and turn each later call into an unhandled rejection).
 * - The client's own retries are off (and its `timeout` option is not applied by the REST transport:
 *   the per-request limit is set on the auth client's HTTP transport instead). UNAVAILABLE,
 *   RESOURCE_EXHAUSTED, 429/502/503/504 and network failures are retried here, jittered, 3 tries.
 * - Lifetimes: at most 1 h unless the role sets `allow_extended_lifetime: true` (then up to GCP's 12 h,
 *   which also needs the org policy constraints/iam.allowServiceAccountCredentialLifetimeExtension).
 */
import { IAMCredentialsClient, type protos } from '@google-cloud/iam-credentials';
import { JitkeyError } from '../errors.js';
import { type Logger, silentLogger } from '../log.js';
import { retry } from '../net/retry.js';
import { parseServiceUrl } from '../net/service-url.js';
import {
  failureName,
  gcpFailure,
  isRetryable,
  outcomeOf,
  toJitkeyError,
  type UpstreamOutcome,
} from './gcp-errors.js';
import type { Minted, MintedBy, MintRequest, Provider } from './types.js';

export const DEFAULT_GCP_IAM_ENDPOINT = 'https://iamcredentials.googleapis.com';
export const CLOUD_PLATFORM_SCOPE = 'https://www.googleapis.com/auth/cloud-platform';
/** GCP's default ceiling for access-token lifetimes, and its ceiling with the lifetime extension. */
export const DEFAULT_MAX_LIFETIME_SECONDS = 3600;
export const EXTENDED_MAX_LIFETIME_SECONDS = 12 * 3600;

export type { UpstreamOutcome } from './gcp-errors.js';

export interface GcpProviderOptions {
  /** `JITKEY_GCP_IAM_ENDPOINT`: scheme, host and port only. */
  endpoint?: string;
  log?: Logger;
  /** Called once per upstream call (each attempt), e.g. to feed a latency histogram. */
  observe?: (provider: 'gcp', seconds: number, outcome: UpstreamOutcome) => void;
  /** Tries per mint in all, the first included. Default 3. */
  maxAttempts?: number;
  /** Per-request limit on an answer, in ms. Default 10 000. */
  requestTimeoutMs?: number;
  sleep?: (ms: number) => Promise<void>;
  random?: () => number;
}

export interface GcpProvider extends Provider {
  readonly name: 'gcp';
  mint(request: MintRequest): Promise<MintedBy<'gcp'>>;
  close(): Promise<void>;
}

type Env = Readonly<Record<string, string | undefined>>;

/** The environment → options mapping (ADC itself is read by google-auth-library). */
export function gcpConfigFromEnv(env: Env = process.env): Pick<GcpProviderOptions, 'endpoint'> {
  const endpoint = env.JITKEY_GCP_IAM_ENDPOINT?.trim();
  return endpoint ? { endpoint } : {};
}

const BACKOFF = { baseMs: 200, maxMs: 2_000 };

function endpointParts(raw: string): { protocol: string; apiEndpoint: string; port: number } {
  const url = parseServiceUrl(raw, 'JITKEY_GCP_IAM_ENDPOINT');
  if (url.pathname !== '/' && url.pathname !== '') {
    throw new Error(`JITKEY_GCP_IAM_ENDPOINT: '${raw}' must be scheme, host and port only (no path)`);
  }
  const protocol = url.protocol.slice(0, -1);
  return {
    protocol,
    apiEndpoint: url.hostname,
    port: url.port ? Number(url.port) : protocol === 'https' ? 443 : 80,
  };
}

/** `projects/-/serviceAccounts/<email>`: the `-` wildcard is required by the API. */
export function serviceAccountResource(emailOrId: string): string {
  return emailOrId.startsWith('projects/') ? emailOrId : `projects/-/serviceAccounts/${emailOrId}`;
}

/** The project a service account email belongs to, or undefined for a form that does not say. */
export function projectOfServiceAccount(email: string): string | undefined {
  const m = /^[^@\s]+@([a-z][a-z0-9-]{4,28}[a-z0-9])\.iam\.gserviceaccount\.com$/i.exec(email);
  return m?.[1]?.toLowerCase();
}

function timestampToDate(t: { seconds?: unknown; nanos?: unknown } | null | undefined): Date | undefined {
  if (!t || t.seconds === undefined || t.seconds === null) return undefined;
  const ms = Number(String(t.seconds)) * 1000 + Math.floor(Number(t.nanos ?? 0) / 1e6);
  return Number.isFinite(ms) ? new Date(ms) : undefined;
}

/**
 * Cloud Audit Logs name the service account, not the token (`activity/gcp-logging.ts`): the key is
 * the account, read in its own project. An account given by unique id names no project: none.
 */
function activityKeyOf(serviceAccount: string): Pick<Minted, 'activityKey'> {
  const project = projectOfServiceAccount(serviceAccount);
  return project
    ? { activityKey: { keyId: serviceAccount.toLowerCase(), account: project, region: 'global' } }
    : {};
}

export function createGcpProvider(options: GcpProviderOptions = {}): GcpProvider {
  const target = endpointParts(options.endpoint ?? DEFAULT_GCP_IAM_ENDPOINT);
  const log = options.log ?? silentLogger;
  const maxAttempts = options.maxAttempts ?? 3;
  // google-gax builds the GoogleAuth (ADC) from these; the timeout lives on its HTTP transport.
  const build = () =>
    new IAMCredentialsClient({
      fallback: true,
      ...target,
      scopes: [CLOUD_PLATFORM_SCOPE],
      clientOptions: { transporterOptions: { timeout: options.requestTimeoutMs ?? 10_000 } },
    });
  let client = build();
  let ready: Promise<void> | undefined;

  async function readyClient(): Promise<IAMCredentialsClient> {
    ready ??= client.initialize().then(() => undefined);
    try {
      await ready;
      return client;
    } catch (cause) {
      const failed = client;
      client = build();
      ready = undefined;
      failed.close().catch(() => {});
      const detail = cause instanceof Error ? cause.message : String(cause);
      log.error('gcp credentials not loaded', { detail });
      throw new JitkeyError(
        'upstream_error',
        "the exchanger's own Google credentials (Application Default Credentials, GOOGLE_APPLICATION_CREDENTIALS) could not be loaded",
        { cause: new Error(detail), detail },
      );
    }
  }

  const observe = (seconds: number, outcome: UpstreamOutcome) => {
    try {
      options.observe?.('gcp', seconds, outcome);
    } catch {
      // metrics must never fail an exchange
    }
  };

  async function mint({ role, durationSeconds, requestId, leaseId }: MintRequest): Promise<MintedBy<'gcp'>> {
    const config = role.gcp;
    if (!config) throw new JitkeyError('internal_error', `role '${role.name}' has no gcp settings`);
    if (!Number.isSafeInteger(durationSeconds) || durationSeconds < 1) {
      throw new JitkeyError('invalid_request', `a GCP access token needs a lifetime of at least 1 second`);
    }
    if (durationSeconds > EXTENDED_MAX_LIFETIME_SECONDS) {
      throw new JitkeyError(
        'invalid_request',
        `role '${role.name}': GCP access tokens live at most 12h; ask for ${EXTENDED_MAX_LIFETIME_SECONDS} seconds or less`,
      );
    }
    if (durationSeconds > DEFAULT_MAX_LIFETIME_SECONDS && !config.allowExtendedLifetime) {
      throw new JitkeyError(
        'invalid_request',
        `role '${role.name}': GCP access tokens live at most 1h (${DEFAULT_MAX_LIFETIME_SECONDS} seconds) unless ` +
          `the role sets allow_extended_lifetime: true (and the organization policy ` +
          `constraints/iam.allowServiceAccountCredentialLifetimeExtension lists the service account); ` +
          `ask for ${DEFAULT_MAX_LIFETIME_SECONDS} seconds or less`,
      );
    }
    const request = {
      name: serviceAccountResource(config.serviceAccount),
      scope: config.scopes.length ? [...config.scopes] : [CLOUD_PLATFORM_SCOPE],
      delegates: config.delegates.map(serviceAccountResource),
      lifetime: { seconds: durationSeconds },
    };
    const iam = await readyClient();
    let attempts = 0;
    let response: protos.google.iam.credentials.v1.IGenerateAccessTokenResponse;
    try {
      [response] = await retry(
        (attempt) => {
          attempts = attempt;
          return iam.generateAccessToken(request, { retry: { retryCodes: [] } });
        },
        {
          tries: maxAttempts,
          ...BACKOFF,
          isRetryable,
          sleep: options.sleep,
          random: options.random,
          onAttempt: (seconds, err) => observe(seconds, err === undefined ? 'ok' : outcomeOf(err)),
          onRetry: (err, attempt, waitMs) =>
            log.warn('gcp iam credentials retrying', {
              role: role.name,
              attempt,
              error: failureName(gcpFailure(err)),
              wait_ms: waitMs,
            }),
        },
      );
    } catch (err) {
      const mapped = toJitkeyError(err, {
        role: role.name,
        serviceAccount: config.serviceAccount,
        delegates: config.delegates,
        lifetimeSeconds: durationSeconds,
        attempts,
      });
      log.warn('gcp generateAccessToken failed', {
        role: role.name,
        service_account: config.serviceAccount,
        attempts,
        error: failureName(gcpFailure(err)),
        detail: mapped.detail,
        request_id: requestId,
      });
      throw mapped;
    }
    const expiresAt = timestampToDate(response.expireTime);
    if (!response.accessToken || !expiresAt) {
      throw new JitkeyError(
        'upstream_error',
        `GCP IAM Credentials answered generateAccessToken for ${config.serviceAccount} without a token or expiry`,
      );
    }
    log.info('gcp access token minted', {
      role: role.name,
      service_account: config.serviceAccount,
      scopes: request.scope,
      delegates: config.delegates,
      lifetime_seconds: durationSeconds,
      expires_at: expiresAt.toISOString(),
      attempts,
      request_id: requestId,
      lease_id: leaseId,
    });
    return {
      credentials: {
        access_token: response.accessToken,
        token_type: 'Bearer',
        service_account: config.serviceAccount,
      },
      expiresAt,
      ...activityKeyOf(config.serviceAccount),
    };
  }

  return {
    name: 'gcp',
    mint,
    async close() {
      await client.close();
    },
  };
}
