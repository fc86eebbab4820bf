/**
 * The STS stand-in holds to STS's contract, so tests that pass against it are worth something:
 * signatures, limits, error XML. Driven by the real SDK, and by hand-signed raw requests.
 */
import { Sha256 } from '@aws-crypto/sha256-js';
import {
  AssumeRoleCommand,
  type AssumeRoleCommandInput,
  GetCallerIdentityCommand,
  STSClient,
} from '@aws-sdk/client-sts';
import { HttpRequest } from '@smithy/protocol-http';
import { SignatureV4 } from '@smithy/signature-v4';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type StsStandin, startStsStandin } from '../support/sts-standin.js';
import { KEY, ROLE_ARN } from './aws-fixtures.js';

let sts: StsStandin;
let client: STSClient;

beforeAll(async () => {
  sts = await startStsStandin({ ...KEY, region: 'us-east-1' });
  client = new STSClient({ region: 'us-east-1', endpoint: sts.url, credentials: KEY, maxAttempts: 1 });
});

afterAll(async () => {
  client.destroy();
  await sts.stop();
});

const base: AssumeRoleCommandInput = { RoleArn: ROLE_ARN, RoleSessionName: 'jitkey-1-1' };

async function stsError(input: AssumeRoleCommandInput, c = client) {
  const err = await c.send(new AssumeRoleCommand(input)).then(
    () => undefined,
    (e: unknown) => e as { name: string; message: string; $metadata: { httpStatusCode?: number } },
  );
  if (!err) throw new Error('expected STS to refuse');
  return { name: err.name, status: err.$metadata.httpStatusCode, message: err.message };
}

async function signedPost(body: string, options: { secret?: string; tamper?: string; region?: string } = {}) {
  const url = new URL(sts.url);
  const signer = new SignatureV4({
    credentials: { accessKeyId: KEY.accessKeyId, secretAccessKey: options.secret ?? KEY.secretAccessKey },
    region: options.region ?? 'us-east-1',
    service: 'sts',
    sha256: Sha256,
  });
  const signed = await signer.sign(
    new HttpRequest({
      method: 'POST',
      protocol: 'http:',
      hostname: url.hostname,
      port: Number(url.port),
      path: '/',
      headers: { host: url.host, 'content-type': 'application/x-www-form-urlencoded; charset=utf-8' },
      body,
    }),
  );
  const res = await fetch(sts.url, {
    method: 'POST',
    headers: Object.fromEntries(Object.entries(signed.headers).filter(([k]) => k !== 'host')),
    body: options.tamper ?? body,
  });
  return { status: res.status, text: await res.text(), requestId: res.headers.get('x-amzn-requestid') };
}

describe('AssumeRole limits', () => {
  it.each([
    {
      name: 'duration below 900',
      input: { ...base, DurationSeconds: 899 },
      code: 'ValidationError',
      msg: /greater than or equal to 900/,
    },
    {
      name: 'duration above 43200',
      input: { ...base, DurationSeconds: 43_201 },
      code: 'ValidationError',
      msg: /less than or equal to 43200/,
    },
    {
      name: 'session name of 1',
      input: { ...base, RoleSessionName: 'j' },
      code: 'ValidationError',
      msg: /roleSessionName/,
    },
    {
      name: 'session name of 65',
      input: { ...base, RoleSessionName: 'j'.repeat(65) },
      code: 'ValidationError',
      msg: /less than or equal to 64/,
    },
    {
      name: 'session name with /',
      input: { ...base, RoleSessionName: 'a/b' },
      code: 'ValidationError',
      msg: /regular expression/,
    },
    {
      name: 'source identity with [',
      input: { ...base, SourceIdentity: 'bot[bot]' },
      code: 'ValidationError',
      msg: /sourceIdentity/,
    },
    {
      name: 'malformed role ARN',
      input: { ...base, RoleArn: 'arn:aws:iam::12345:role/x-long-enough' },
      code: 'ValidationError',
      msg: /invalid/,
    },
    {
      name: 'policy not JSON',
      input: { ...base, Policy: '{nope' },
      code: 'MalformedPolicyDocumentException',
      msg: /valid JSON/,
    },
    {
      name: 'policy over 2048',
      input: { ...base, Policy: JSON.stringify({ x: 'y'.repeat(2050) }) },
      code: 'PackedPolicyTooLargeException',
      msg: /Packed policy consumes/,
    },
    {
      name: '51 tags',
      input: { ...base, Tags: Array.from({ length: 51 }, (_, i) => ({ Key: `k${i}`, Value: 'v' })) },
      code: 'ValidationError',
      msg: /less than or equal to 50/,
    },
    {
      name: 'tag value of 257',
      input: { ...base, Tags: [{ Key: 'k', Value: 'v'.repeat(257) }] },
      code: 'ValidationError',
      msg: /0-256/,
    },
    {
      name: 'tag value with !',
      input: { ...base, Tags: [{ Key: 'k', Value: 'a!' }] },
      code: 'ValidationError',
      msg: /value/,
    },
    {
      name: 'tag key of 129',
      input: { ...base, Tags: [{ Key: 'k'.repeat(129), Value: '' }] },
      code: 'ValidationError',
      msg: /key/,
    },
    {
      name: 'duplicate tag keys',
      input: {
        ...base,
        Tags: [
          { Key: 'Env', Value: 'a' },
          { Key: 'env', Value: 'b' },
        ],
      },
      code: 'ValidationError',
      msg: /Duplicate tag keys/,
    },
  ])('refuses $name', async ({ input, code, msg }) => {
    const err = await stsError(input);
    expect(err.name).toBe(code);
    expect(err.status).toBe(400);
    expect(err.message).toMatch(msg);
  });

  it('accepts the limits themselves', async () => {
    const out = await client.send(
      new AssumeRoleCommand({
        ...base,
        RoleSessionName: 'j'.repeat(64),
        SourceIdentity: 'ab',
        DurationSeconds: 43_200,
        Tags: Array.from({ length: 50 }, (_, i) => ({ Key: `k${i}`, Value: i === 0 ? 'v'.repeat(256) : '' })),
      }),
    );
    expect(out.Credentials?.AccessKeyId).toMatch(/^ASIA[A-Z2-7]{16}$/);
    expect(out.Credentials?.SecretAccessKey).toHaveLength(40);
    expect(out.SourceIdentity).toBe('ab');
    expect(out.PackedPolicySize).toBeGreaterThan(0);
    expect(out.AssumedRoleUser?.Arn).toBe(
      `arn:aws:sts::111122223333:assumed-role/web-deploy/${'j'.repeat(64)}`,
    );
    expect(out.$metadata.requestId).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('issues fresh credentials on every call', async () => {
    const a = await client.send(new AssumeRoleCommand(base));
    const b = await client.send(new AssumeRoleCommand(base));
    expect(a.Credentials?.AccessKeyId).not.toBe(b.Credentials?.AccessKeyId);
    expect(a.Credentials?.SessionToken).not.toBe(b.Credentials?.SessionToken);
  });

  it('denies a role configured as denied with 403 AccessDenied', async () => {
    const arn = 'arn:aws:iam::111122223333:role/denied';
    sts.denyRole(arn);
    const err = await stsError({ ...base, RoleArn: arn });
    expect(err).toMatchObject({ name: 'AccessDenied', status: 403 });
  });
});

describe('signatures', () => {
  it('answers a correctly signed raw request with STS-shaped XML', async () => {
    const res = await signedPost(
      `Action=AssumeRole&Version=2011-06-15&RoleArn=${encodeURIComponent(ROLE_ARN)}&RoleSessionName=raw-1&DurationSeconds=900&SourceIdentity=octocat`,
    );
    expect(res.status).toBe(200);
    const issued = sts.issued.at(-1)!;
    expect(res.text).toMatch(
      new RegExp(
        '^<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><AssumeRoleResult><Credentials>' +
          `<AccessKeyId>${issued.accessKeyId}</AccessKeyId><SecretAccessKey>[^<]{40}</SecretAccessKey>` +
          '<SessionToken>[^<]+</SessionToken><Expiration>\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\dZ</Expiration></Credentials>' +
          '<AssumedRoleUser><AssumedRoleId>AROA[A-Z2-7]{17}:raw-1</AssumedRoleId>' +
          '<Arn>arn:aws:sts::111122223333:assumed-role/web-deploy/raw-1</Arn></AssumedRoleUser>' +
          '<SourceIdentity>octocat</SourceIdentity></AssumeRoleResult>' +
          `<ResponseMetadata><RequestId>${res.requestId}</RequestId></ResponseMetadata></AssumeRoleResponse>$`,
      ),
    );
  });

  it.each([
    { name: 'wrong secret', options: { secret: 'nope' }, status: 403, code: 'SignatureDoesNotMatch' },
    {
      name: 'tampered body',
      options: { tamper: 'Action=AssumeRole&Version=2011-06-15&RoleArn=x' },
      status: 403,
      code: 'SignatureDoesNotMatch',
    },
    { name: 'other region', options: { region: 'eu-west-1' }, status: 403, code: 'SignatureDoesNotMatch' },
  ])('refuses a $name with STS error XML', async ({ options, status, code }) => {
    const res = await signedPost('Action=GetCallerIdentity&Version=2011-06-15', options);
    expect(res.status).toBe(status);
    expect(res.text).toMatch(
      new RegExp(
        `^<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>Sender</Type><Code>${code}</Code>` +
          `<Message>[^<]+</Message></Error><RequestId>${res.requestId}</RequestId></ErrorResponse>$`,
      ),
    );
  });

  it('refuses an unsigned request', async () => {
    const res = await fetch(sts.url, { method: 'POST', body: 'Action=GetCallerIdentity&Version=2011-06-15' });
    expect(res.status).toBe(403);
    expect(await res.text()).toContain('<Code>MissingAuthenticationToken</Code>');
  });

  it('refuses an unknown key with InvalidClientTokenId', async () => {
    const other = new STSClient({
      region: 'us-east-1',
      endpoint: sts.url,
      credentials: { accessKeyId: 'AKIAOTHER', secretAccessKey: KEY.secretAccessKey },
      maxAttempts: 1,
    });
    try {
      const err = await other.send(new GetCallerIdentityCommand({})).catch((e: Error) => e);
      expect((err as Error).name).toBe('InvalidClientTokenId');
    } finally {
      other.destroy();
    }
  });

  it('knows its own caller and records who signed', async () => {
    const who = await client.send(new GetCallerIdentityCommand({}));
    expect(who.Arn).toBe('arn:aws:iam::000000000000:user/jitkey-exchanger');
    expect(sts.requests.at(-1)).toMatchObject({
      action: 'GetCallerIdentity',
      accessKeyId: KEY.accessKeyId,
      status: 200,
    });
  });

  it('refuses an issued credential without its session token', async () => {
    const out = await client.send(new AssumeRoleCommand(base));
    const c = out.Credentials!;
    const holder = new STSClient({
      region: 'us-east-1',
      endpoint: sts.url,
      credentials: { accessKeyId: c.AccessKeyId!, secretAccessKey: c.SecretAccessKey! },
      maxAttempts: 1,
    });
    try {
      const err = await holder.send(new GetCallerIdentityCommand({})).catch((e: Error) => e);
      expect((err as Error).name).toBe('InvalidClientTokenId');
    } finally {
      holder.destroy();
    }
  });
});

describe('failure injection and switches', () => {
  it('fails the next n requests, then recovers', async () => {
    sts.setFailures(2, 'InternalFailure');
    expect(await stsError(base)).toMatchObject({ name: 'InternalFailure', status: 500 });
    expect(await stsError(base)).toMatchObject({ name: 'InternalFailure', status: 500 });
    await client.send(new AssumeRoleCommand(base));
  });

  it('can delay its answers and keep nothing', async () => {
    const quiet = await startStsStandin({
      ...KEY,
      delayMs: 5,
      record: false,
      failFirst: { count: 1, code: 'Throttling' },
    });
    const c = new STSClient({ region: 'us-east-1', endpoint: quiet.url, credentials: KEY, maxAttempts: 1 });
    try {
      expect((await c.send(new AssumeRoleCommand(base)).catch((e: Error) => e)) as Error).toMatchObject({
        name: 'Throttling',
      });
      quiet.setDelay(0);
      await c.send(new AssumeRoleCommand(base));
      expect(quiet.requests).toHaveLength(0);
      expect(quiet.issued).toHaveLength(0);
    } finally {
      c.destroy();
      await quiet.stop();
    }
  });
});
