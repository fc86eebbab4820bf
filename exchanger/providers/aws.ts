/**
 * The AWS provider: STS AssumeRole for the role's `role_arn`, through the AWS SDK.
 *
 * - The exchanger's own identity comes from the SDK's default credential chain unless
 *   `credentials` is given; the region from the role, else `region`, else the SDK (`AWS_REGION`…).
 * - The endpoint is `endpoint`, else what the SDK itself reads (`AWS_ENDPOINT_URL_STS`,
 *   `AWS_ENDPOINT_URL`, the shared config file). `http://` is accepted only on loopback: explicit
 *   and environment endpoints are checked at creation, and every request is checked again before
 *   it is signed and sent (covering endpoints from the config file).
 * - One STSClient per region, created on first use and kept, each with a keep-alive agent.
 * - The SDK's retries are off; throttling, 5xx and network failures are retried here with
 *   jittered backoff, `maxAttempts` (3) tries in all. STS's refusals are not retried.
 * Parameters and their limits: `aws-params.ts`; error mapping: `aws-errors.ts`.
 */
import {
  AssumeRoleCommand,
  type AssumeRoleCommandOutput,
  STSClient,
  type STSClientConfig,
} from '@aws-sdk/client-sts';
import { JitkeyError } from '../errors.js';
import { type Logger, silentLogger } from '../log.js';
import { retry } from '../net/retry.js';
import { checkUrl, isLoopbackHost } from '../net/url-rule.js';
import { errorCode, isRetryable, outcomeOf, toJitkeyError, type UpstreamOutcome } from './aws-errors.js';
import { assumeRoleInput, shortLeaseEnd } from './aws-params.js';
import type { MintedBy, MintRequest, Provider } from './types.js';

export type { UpstreamOutcome } from './aws-errors.js';
/** Called once per upstream call (each attempt), e.g. to feed a latency histogram. */
export type UpstreamObserver = (provider: 'aws', seconds: number, outcome: UpstreamOutcome) => void;
/** Static keys or an SDK credential provider (`fromIni()`, `fromNodeProviderChain()`…). */
export type AwsCredentialsOption = NonNullable<STSClientConfig['credentials']>;

export interface AwsProviderOptions {
  /** Used for roles that name no region. Unset: the SDK's own lookup (`AWS_REGION`, config file). */
  region?: string;
  /** STS endpoint URL for every region. Unset: the SDK's lookup (`AWS_ENDPOINT_URL_STS`, …). */
  endpoint?: string;
  /** Unset: the SDK's default credential chain. */
  credentials?: AwsCredentialsOption;
  log?: Logger;
  observe?: UpstreamObserver;
  /** Tries per mint in all, the first included. Default 3. */
  maxAttempts?: number;
  /** Per-try limit on an STS answer, in ms. Default 10 000. */
  requestTimeoutMs?: number;
  /** The clock that dates a short lease's end (default `new Date()`). */
  now?: () => Date;
  /** Injected into the backoff, for tests. */
  sleep?: (ms: number) => Promise<void>;
  random?: () => number;
}

export interface AwsProvider extends Provider {
  readonly name: 'aws';
  mint(request: MintRequest): Promise<MintedBy<'aws'>>;
  /** Closes the kept connections (server shutdown, tests). */
  close(): void;
}

const ENV_ENDPOINTS = ['AWS_ENDPOINT_URL_STS', 'AWS_ENDPOINT_URL'] as const;
const BACKOFF = { baseMs: 200, maxMs: 2_000 };
const MAX_SOCKETS = 128;

export function createAwsProvider(options: AwsProviderOptions = {}): AwsProvider {
  if (options.endpoint !== undefined) checkUrl(options.endpoint, 'AWS STS endpoint');
  else {
    for (const name of ENV_ENDPOINTS) {
      const value = process.env[name];
      if (value) checkUrl(value, name);
    }
  }
  const log = options.log ?? silentLogger;
  const maxAttempts = options.maxAttempts ?? 3;
  const clients = new Map<string, STSClient>();

  const clientFor = (region: string | undefined): STSClient => {
    const key = region ?? '';
    let client = clients.get(key);
    if (!client) {
      client = new STSClient({
        ...(region ? { region } : {}),
        ...(options.endpoint ? { endpoint: options.endpoint } : {}),
        ...(options.credentials ? { credentials: options.credentials } : {}),
        maxAttempts: 1,
        // The middleware stack resolved once per command, not on every send: the stack is
        // complete here (the loopback check below is added before the first send).
        cacheMiddleware: true,
        requestHandler: {
          httpAgent: { keepAlive: true, maxSockets: MAX_SOCKETS },
          httpsAgent: { keepAlive: true, maxSockets: MAX_SOCKETS },
          connectionTimeout: 5_000,
          requestTimeout: options.requestTimeoutMs ?? 10_000,
          throwOnRequestTimeout: true,
        },
      });
      client.middlewareStack.add(
        (next) => async (args) => {
          const request = args.request as { protocol?: string; hostname?: string } | undefined;
          if (request?.protocol === 'http:' && !isLoopbackHost(request.hostname ?? '')) {
            throw new JitkeyError(
              'upstream_error',
              'AssumeRole not attempted: the configured STS endpoint is http:// on a non-loopback host; use https://',
            );
          }
          return next(args);
        },
        { step: 'finalizeRequest', name: 'jitkeyHttpOnlyOnLoopback', priority: 'high' },
      );
      clients.set(key, client);
    }
    return client;
  };

  const observe = (seconds: number, outcome: UpstreamOutcome) => {
    try {
      options.observe?.('aws', seconds, outcome);
    } catch {
      // metrics must never fail an exchange
    }
  };

  async function mint(request: MintRequest): Promise<MintedBy<'aws'>> {
    const { role } = request;
    const now = options.now?.() ?? new Date();
    const input = assumeRoleInput(request, now);
    const roleRegion = role.aws?.region ?? options.region;
    const client = clientFor(roleRegion);
    let attempts = 0;
    let out: AssumeRoleCommandOutput;
    try {
      out = await retry(
        (attempt) => {
          attempts = attempt;
          return client.send(new AssumeRoleCommand(input));
        },
        {
          tries: maxAttempts,
          ...BACKOFF,
          isRetryable,
          sleep: options.sleep,
          random: options.random,
          onAttempt: (seconds, err) => {
            if (err === undefined) observe(seconds, 'ok');
            else if (!(err instanceof JitkeyError)) observe(seconds, outcomeOf(err));
          },
          onRetry: (err, attempt, waitMs) =>
            log.warn('aws sts retrying', {
              role: role.name,
              attempt,
              error: errorCode(err),
              wait_ms: waitMs,
            }),
        },
      );
    } catch (err) {
      const mapped = toJitkeyError(err, { role: role.name, region: roleRegion, attempts });
      log.warn('aws sts assume role failed', {
        role: role.name,
        role_arn: input.RoleArn,
        attempts,
        error: errorCode(err),
        detail: mapped.detail,
      });
      throw mapped;
    }
    const c = out.Credentials;
    if (!c?.AccessKeyId || !c.SecretAccessKey || !c.SessionToken || !(c.Expiration instanceof Date)) {
      throw new JitkeyError(
        'upstream_error',
        `AWS STS answered AssumeRole for role '${role.name}' without credentials`,
      );
    }
    const region = roleRegion ?? (await client.config.region().catch(() => undefined));
    log.debug('aws sts assumed role', {
      role: role.name,
      role_arn: input.RoleArn,
      session_name: input.RoleSessionName,
      sts_request_id: out.$metadata.requestId,
      attempts,
    });
    // A short lease ends at its session policy's Deny, before STS's own 900 s: SDKs must renew
    // by then, so that is the expiration they are told.
    const expiresAt = shortLeaseEnd(request, now) ?? c.Expiration;
    return {
      credentials: {
        access_key_id: c.AccessKeyId,
        secret_access_key: c.SecretAccessKey,
        session_token: c.SessionToken,
        expiration: expiresAt.toISOString(),
        ...(region ? { region } : {}),
      },
      expiresAt,
      activityKey: {
        keyId: c.AccessKeyId,
        // arn:aws:iam::ACCOUNT:role/NAME: the account whose CloudTrail records the session.
        account: input.RoleArn?.split(':')[4] ?? '',
        region: region ?? 'us-east-1',
        until: c.Expiration,
      },
    };
  }

  return {
    name: 'aws',
    mint,
    close() {
      for (const client of clients.values()) client.destroy();
      clients.clear();
    },
  };
}
