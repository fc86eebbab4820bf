// biome-ignore-all lint/suspicious/noTemplateCurlyInString: session_tags templates are written `${claim}`
/**
 * The AWS provider through the real SDK against the loopback STS stand-in: SigV4, the Query
 * protocol and STS's limits all take part. Backoff sleeps are injected, so nothing waits.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  type AwsProvider,
  type AwsProviderOptions,
  createAwsProvider,
} from '../../exchanger/providers/aws.js';
import { rejection as failure } from '../support/rejection.js';
import { type StsStandin, startStsStandin } from '../support/sts-standin.js';
import { awsRole, CLAIMS, KEY, mintRequest, ROLE_ARN } from './aws-fixtures.js';

let sts: StsStandin;
let provider: AwsProvider | undefined;
let sleeps: number[];

beforeEach(async () => {
  sts = await startStsStandin(KEY);
  sleeps = [];
});

afterEach(async () => {
  provider?.close();
  provider = undefined;
  vi.unstubAllEnvs();
  await sts.stop();
});

function aws(options: Partial<AwsProviderOptions> = {}): AwsProvider {
  provider = createAwsProvider({
    endpoint: sts.url,
    region: 'us-east-1',
    credentials: KEY,
    sleep: async (ms) => {
      sleeps.push(ms);
    },
    random: () => 0.5,
    ...options,
  });
  return provider;
}

describe('mint', () => {
  it('assumes the role and returns exactly what STS issued', async () => {
    const role = awsRole({
      region: 'eu-west-1',
      sessionPolicy: {
        Version: '2012-10-17',
        Statement: [{ Effect: 'Allow', Action: 's3:GetObject', Resource: '*' }],
      },
      sessionTags: { repository: '${repository}', run: 'run-${run_id}', env: '${environment}' },
    });
    const minted = await aws().mint(mintRequest({ role, durationSeconds: 1800 }));

    expect(sts.requests).toHaveLength(1);
    const [req] = sts.requests;
    expect(req).toMatchObject({
      action: 'AssumeRole',
      accessKeyId: KEY.accessKeyId,
      region: 'eu-west-1',
      status: 200,
    });
    expect(req!.params).toEqual({
      Action: 'AssumeRole',
      Version: '2011-06-15',
      RoleArn: ROLE_ARN,
      RoleSessionName: 'jitkey-9876543210-2',
      DurationSeconds: '1800',
      SourceIdentity: 'octocat',
      Policy: JSON.stringify(role.aws!.sessionPolicy),
      'Tags.member.1.Key': 'repository',
      'Tags.member.1.Value': 'acme/web',
      'Tags.member.2.Key': 'run',
      'Tags.member.2.Value': 'run-9876543210',
      'Tags.member.3.Key': 'env',
      'Tags.member.3.Value': 'production',
    });

    expect(sts.issued).toHaveLength(1);
    const issued = sts.issued[0]!;
    expect(minted.credentials).toEqual({
      access_key_id: issued.accessKeyId,
      secret_access_key: issued.secretAccessKey,
      session_token: issued.sessionToken,
      expiration: issued.expiration.toISOString(),
      region: 'eu-west-1',
    });
    expect(minted.expiresAt.getTime()).toBe(issued.expiration.getTime());
    expect(minted.revocationSecret).toBeUndefined();
  });

  it('gives the provider region when the role names none, and no region when none is known', async () => {
    const withRegion = await aws().mint(mintRequest());
    expect(withRegion.credentials.region).toBe('us-east-1');
    provider!.close();
    vi.stubEnv('AWS_REGION', undefined);
    vi.stubEnv('AWS_DEFAULT_REGION', undefined);
    vi.stubEnv('AWS_CONFIG_FILE', '/nonexistent/jitkey-test-config');
    const err = await failure(aws({ region: undefined }).mint(mintRequest()));
    expect(err.code).toBe('upstream_error');
    expect(err.message, err.detail).toMatch(/no AWS region/);
  });

  it('returns live credentials (the stand-in knows them on GetCallerIdentity)', async () => {
    const { STSClient, GetCallerIdentityCommand } = await import('@aws-sdk/client-sts');
    const minted = await aws().mint(mintRequest());
    const c = minted.credentials as Record<string, string>;
    const client = new STSClient({
      region: 'us-east-1',
      endpoint: sts.url,
      credentials: {
        accessKeyId: c.access_key_id!,
        secretAccessKey: c.secret_access_key!,
        sessionToken: c.session_token!,
      },
    });
    try {
      const who = await client.send(new GetCallerIdentityCommand({}));
      expect(who.Arn).toBe('arn:aws:sts::111122223333:assumed-role/web-deploy/jitkey-9876543210-2');
      expect(who.Account).toBe('111122223333');
    } finally {
      client.destroy();
    }
  });

  it.each([
    {
      name: 'a long run id is cut to 64 characters',
      claims: { ...CLAIMS, run_id: '1'.repeat(80) },
      session: `jitkey-${'1'.repeat(57)}`,
      source: 'octocat',
    },
    {
      name: 'odd characters become _',
      claims: { ...CLAIMS, run_id: '12 34/5', run_attempt: '1#', actor: 'dependabot[bot]' },
      session: 'jitkey-12_34_5-1_',
      source: 'dependabot_bot_',
    },
    {
      name: 'no run_id: the lease id stands in',
      claims: { ...CLAIMS, run_id: undefined, actor: 'a' },
      session: 'jitkey-lease_01HZXAMPLE0000000000000000',
      source: undefined,
    },
    {
      name: 'an actor over 64 characters is left out, not truncated',
      claims: { ...CLAIMS, actor: 'x'.repeat(65) },
      session: 'jitkey-9876543210-2',
      source: undefined,
    },
    {
      name: 'claims inherited from the prototype are missing claims',
      claims: Object.create({ actor: 'mallory', run_id: '666' }) as Record<string, unknown>,
      session: 'jitkey-lease_01HZXAMPLE0000000000000000',
      source: undefined,
    },
  ])('session name and source identity: $name', async ({ claims, session, source }) => {
    await aws().mint(mintRequest({ claims }));
    const params = sts.requests[0]!.params;
    expect(params.RoleSessionName).toBe(session);
    expect(params.SourceIdentity).toBe(source);
    expect(sts.requests[0]!.status).toBe(200);
  });

  it('escapes claim characters STS refuses in tag values, injectively', async () => {
    const role = awsRole({ sessionTags: { ref: '${ref}', head: '${head_ref}' } });
    await aws().mint(mintRequest({ role, claims: { ...CLAIMS, ref: 'refs/heads/a!b=c (ü)' } }));
    expect(sts.requests[0]!.status).toBe(200);
    expect(sts.issued[0]!.tags).toEqual([
      { key: 'ref', value: 'refs/heads/a=21b=3Dc =28ü=29' },
      { key: 'head', value: '' },
    ]);
  });

  it('refuses a session tag whose claim the token lacks, before calling STS', async () => {
    const role = awsRole({ sessionTags: { env: '${environment}' } });
    const { environment: _, ...claims } = CLAIMS;
    const err = await failure(aws().mint(mintRequest({ role, claims })));
    expect(err.code).toBe('invalid_request');
    expect(err.message).toBe(
      "role 'deploy-web-prod': session tag 'env' uses ${environment} but the token has no string claim 'environment'",
    );
    expect(sts.requests).toHaveLength(0);
  });

  it.each([
    { seconds: 59, message: /at least 60 s \(1m\): request a duration of 1m or more/ },
    { seconds: 30, message: /asked for 30s, but an AWS lease lasts/ },
    { seconds: 43_201, message: /at most 43200 s \(12h\)/ },
  ])('refuses $seconds s before any call to STS', async ({ seconds, message }) => {
    const err = await failure(aws().mint(mintRequest({ durationSeconds: seconds })));
    expect(err.code).toBe('invalid_request');
    expect(err.message).toMatch(message);
    expect(sts.requests).toHaveLength(0);
  });
});

describe('upstream failures', () => {
  it('retries throttling: two Throttling answers, then success on the third call', async () => {
    sts.setFailures(2, 'Throttling');
    const observed: string[] = [];
    const minted = await aws({ observe: (p, s, outcome) => observed.push(`${p}:${outcome}:${s >= 0}`) }).mint(
      mintRequest(),
    );
    expect(sts.requests.map((r) => r.error ?? r.status)).toEqual(['Throttling', 'Throttling', 200]);
    expect(minted.credentials.access_key_id).toBe(sts.issued[0]!.accessKeyId);
    expect(sleeps).toEqual([100, 200]);
    expect(observed).toEqual(['aws:throttled:true', 'aws:throttled:true', 'aws:ok:true']);
  });

  it('gives up after exactly 3 calls', async () => {
    sts.setFailures(5, 'Throttling');
    const err = await failure(aws().mint(mintRequest()));
    expect(err.code).toBe('upstream_error');
    expect(err.status).toBe(502);
    expect(err.message).toBe(
      "AWS STS throttled AssumeRole for role 'deploy-web-prod' (Throttling) after 3 attempts",
    );
    expect(sts.requests).toHaveLength(3);
    expect(sleeps).toHaveLength(2);
  });

  it.each([
    { code: 'InternalFailure' as const },
    { code: 'ServiceUnavailable' as const },
    { code: 'reset' as const },
  ])('retries $code and succeeds', async ({ code }) => {
    sts.setFailures(2, code);
    await aws().mint(mintRequest());
    expect(sts.requests).toHaveLength(3);
    expect(sts.issued).toHaveLength(1);
  });

  it('names the 5xx after the last try', async () => {
    sts.setFailures(3, 'InternalFailure');
    const err = await failure(aws().mint(mintRequest()));
    expect(err.message).toBe(
      "AWS STS failed AssumeRole for role 'deploy-web-prod': HTTP 500 (InternalFailure) after 3 attempts",
    );
  });

  it('honours maxAttempts', async () => {
    sts.setFailures(5, 'Throttling');
    await failure(aws({ maxAttempts: 1 }).mint(mintRequest()));
    expect(sts.requests).toHaveLength(1);
  });

  it('does not retry AccessDenied and says where to look', async () => {
    sts.denyRole(ROLE_ARN);
    const observed: string[] = [];
    const err = await failure(aws({ observe: (_p, _s, o) => observed.push(o) }).mint(mintRequest()));
    expect(err.code).toBe('upstream_error');
    expect(err.message).toBe(
      "AWS STS refused AssumeRole for role 'deploy-web-prod': AccessDenied — check the role's trust policy " +
        "allows the exchanger's principal sts:AssumeRole, sts:TagSession and sts:SetSourceIdentity",
    );
    expect(err.detail).toMatch(/not authorized to perform: sts:AssumeRole/);
    expect((err.cause as Error).name).toBe('AccessDenied');
    expect(sts.requests).toHaveLength(1);
    expect(observed).toEqual(['refused']);
  });

  it('reports a bad signature (wrong secret) as SignatureDoesNotMatch, not retried', async () => {
    const err = await failure(aws({ credentials: { ...KEY, secretAccessKey: 'wrong' } }).mint(mintRequest()));
    expect(err.code).toBe('upstream_error');
    expect(err.message).toMatch(
      /^AWS STS refused AssumeRole for role 'deploy-web-prod': SignatureDoesNotMatch — /,
    );
    expect(err.message).not.toContain('wrong');
    expect(sts.requests).toHaveLength(1);
  });

  it('reports an unknown key as InvalidClientTokenId', async () => {
    const err = await failure(
      aws({ credentials: { ...KEY, accessKeyId: 'AKIAUNKNOWN' } }).mint(mintRequest()),
    );
    expect(err.message).toMatch(/: InvalidClientTokenId — the exchanger's own AWS credentials/);
  });

  it('reports a session policy that is too large as PackedPolicyTooLarge', async () => {
    const role = awsRole({
      sessionPolicy: { Version: '2012-10-17', Statement: [{ Sid: 'x'.repeat(2100) }] },
    });
    const err = await failure(aws().mint(mintRequest({ role })));
    expect(err.message).toMatch(/: PackedPolicyTooLarge — the role's session_policy and session_tags/);
    expect(sts.requests).toHaveLength(1);
  });

  it('gives up on an unreachable endpoint after 3 tries', async () => {
    const url = sts.url;
    await sts.stop();
    const err = await failure(aws({ endpoint: url }).mint(mintRequest()));
    expect(err.message).toBe(
      "could not reach AWS STS for role 'deploy-web-prod': ECONNREFUSED after 3 attempts",
    );
    sts = await startStsStandin(KEY);
  });
});

describe('endpoints and clients', () => {
  it.each(['http://10.0.0.5:8080', 'http://sts.example.com', 'http://127.0.0.1.nip.io', 'ftp://127.0.0.1'])(
    'refuses %s at creation',
    (endpoint) => {
      expect(() => createAwsProvider({ endpoint })).toThrow(
        expect.objectContaining({ reason: endpoint.startsWith('ftp:') ? 'not_https' : 'http_off_loopback' }),
      );
    },
  );

  it.each([
    'https://sts.eu-west-1.amazonaws.com',
    'http://127.0.0.1:4566',
    'http://127.8.9.10',
    'http://localhost:1',
    'http://[::1]:9',
  ])('accepts %s', (endpoint) => {
    createAwsProvider({ endpoint, region: 'us-east-1' }).close();
  });

  it('refuses an http:// AWS_ENDPOINT_URL_STS off loopback at creation', () => {
    vi.stubEnv('AWS_ENDPOINT_URL_STS', 'http://sts.internal.example');
    expect(() => createAwsProvider({ region: 'us-east-1' })).toThrow(
      expect.objectContaining({
        reason: 'http_off_loopback',
        message: expect.stringMatching(/^AWS_ENDPOINT_URL_STS: /),
      }),
    );
  });

  it('checks each request too: an http:// endpoint_url from the config file is refused before sending', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'jitkey-aws-'));
    const config = join(dir, 'config');
    await writeFile(config, '[default]\nendpoint_url = http://sts.internal.example\n');
    vi.stubEnv('AWS_CONFIG_FILE', config);
    vi.stubEnv('AWS_PROFILE', undefined);
    try {
      const err = await failure(aws({ endpoint: undefined }).mint(mintRequest()));
      expect(err.code).toBe('upstream_error');
      expect(err.message).toMatch(/http:\/\/ on a non-loopback host/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('leaves AWS_ENDPOINT_URL_STS to the SDK, which honours it', async () => {
    vi.stubEnv('AWS_ENDPOINT_URL_STS', sts.url);
    await aws({ endpoint: undefined }).mint(mintRequest());
    expect(sts.requests).toHaveLength(1);
    expect(sts.issued).toHaveLength(1);
  });

  it('keeps one client and one kept-alive connection per region', async () => {
    const p = aws();
    for (let i = 0; i < 4; i++) await p.mint(mintRequest());
    await p.mint(mintRequest({ role: awsRole({ region: 'eu-central-1' }) }));
    await p.mint(mintRequest({ role: awsRole({ region: 'eu-central-1' }) }));
    expect(sts.requests.map((r) => `${r.region}#${r.connection}`)).toEqual([
      'us-east-1#1',
      'us-east-1#1',
      'us-east-1#1',
      'us-east-1#1',
      'eu-central-1#2',
      'eu-central-1#2',
    ]);
    expect(sts.connections()).toBe(2);
  });
});
