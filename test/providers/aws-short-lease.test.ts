/**
 * AWS leases under STS's 900 s floor: STS is asked for 900 s and the session policy denies every
 * action once aws:CurrentTime is past the lease's end. The real SDK calls a policy-governed STS
 * action (DecodeAuthorizationMessage) with the issued keys; the stand-in evaluates the session
 * policy at its own clock, which the test moves past the lease's end.
 */
import { DecodeAuthorizationMessageCommand, GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type AwsProvider, createAwsProvider } from '../../exchanger/providers/aws.js';
import { LEASE_END_SID, leaseEndPolicy } from '../../exchanger/providers/aws-lease-end.js';
import { assumeRoleInput } from '../../exchanger/providers/aws-params.js';
import { type StsStandin, startStsStandin } from '../support/sts-standin.js';
import { awsRole, KEY, mintRequest } from './aws-fixtures.js';

/** The SDK error a call rejects with (the stand-in's STS error, by name and message). */
async function rejection(p: Promise<unknown>): Promise<Error> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  if (!(e instanceof Error)) throw new Error('expected the call to be refused');
  return e;
}

const NOW = new Date('2026-03-01T12:00:00.750Z');
const S3_ONLY = {
  Version: '2012-10-17',
  Statement: [{ Effect: 'Allow', Action: 's3:GetObject', Resource: '*' }],
};

describe('leaseEndPolicy', () => {
  it('without a session policy: Allow everything the role allows, Deny after the end', () => {
    expect(JSON.parse(leaseEndPolicy(undefined, new Date('2026-03-01T12:01:00Z')))).toEqual({
      Version: '2012-10-17',
      Statement: [
        { Effect: 'Allow', Action: '*', Resource: '*' },
        {
          Sid: LEASE_END_SID,
          Effect: 'Deny',
          Action: '*',
          Resource: '*',
          Condition: { DateGreaterThan: { 'aws:CurrentTime': '2026-03-01T12:01:00Z' } },
        },
      ],
    });
  });

  it("keeps the role's own statements (one or a list) and adds no Allow of its own", () => {
    const single = { Version: '2012-10-17', Statement: S3_ONLY.Statement[0] };
    for (const own of [S3_ONLY, single]) {
      const doc = JSON.parse(leaseEndPolicy(own, NOW));
      expect(doc.Statement).toHaveLength(2);
      expect(doc.Statement[0]).toEqual(S3_ONLY.Statement[0]);
      expect(doc.Statement[1].Effect).toBe('Deny');
    }
  });
});

describe('assumeRoleInput for short leases', () => {
  it('asks STS for 900 s and ends the lease by policy at now + duration, in whole seconds', () => {
    const input = assumeRoleInput(mintRequest({ durationSeconds: 60 }), NOW);
    expect(input.DurationSeconds).toBe(900);
    expect(JSON.parse(input.Policy!).Statement[1].Condition).toEqual({
      DateGreaterThan: { 'aws:CurrentTime': '2026-03-01T12:01:00Z' },
    });
  });

  it("the run attempt's last lease, cut below 60 s by max_duration, ends at that end", () => {
    const endsAt = new Date('2026-03-01T12:00:50.400Z');
    const input = assumeRoleInput(mintRequest({ durationSeconds: 49, endsAt }), NOW);
    expect(input.DurationSeconds).toBe(900);
    expect(JSON.parse(input.Policy!).Statement[1].Condition).toEqual({
      DateGreaterThan: { 'aws:CurrentTime': '2026-03-01T12:00:50Z' },
    });
    // Asked for outright, under 60 s is still refused.
    expect(() => assumeRoleInput(mintRequest({ durationSeconds: 49 }), NOW)).toThrow(/at least 60 s/);
  });

  it('leaves 900 s and longer to STS: no Deny added', () => {
    expect(assumeRoleInput(mintRequest({ durationSeconds: 900 }), NOW).Policy).toBeUndefined();
    const role = awsRole({ sessionPolicy: S3_ONLY });
    expect(assumeRoleInput(mintRequest({ role, durationSeconds: 1800 }), NOW).Policy).toBe(
      JSON.stringify(S3_ONLY),
    );
  });
});

describe('through the SDK against the STS stand-in', () => {
  let sts: StsStandin;
  let provider: AwsProvider;
  beforeEach(async () => {
    sts = await startStsStandin(KEY);
    provider = createAwsProvider({ endpoint: sts.url, region: 'us-east-1', credentials: KEY });
  });
  afterEach(async () => {
    provider.close();
    await sts.stop();
  });

  const clientWith = (c: Record<string, unknown>) =>
    new STSClient({
      endpoint: sts.url,
      region: 'us-east-1',
      maxAttempts: 1,
      credentials: {
        accessKeyId: c.access_key_id as string,
        secretAccessKey: c.secret_access_key as string,
        sessionToken: c.session_token as string,
      },
    });
  const decode = (client: STSClient) =>
    client.send(new DecodeAuthorizationMessageCommand({ EncodedMessage: 'probe' }));

  it('a 60 s lease works until its end, then every policy-governed call is denied', async () => {
    const before = Date.now();
    const minted = await provider.mint(mintRequest({ durationSeconds: 60 }));
    expect(sts.issued[0]!.durationSeconds).toBe(900);
    const end = minted.expiresAt.getTime();
    expect(end).toBeGreaterThanOrEqual(Math.floor(before / 1000) * 1000 + 60_000);
    expect(end).toBeLessThanOrEqual(Date.now() + 60_000);
    expect(minted.credentials.expiration).toBe(minted.expiresAt.toISOString());
    expect(sts.issued[0]!.expiration.getTime()).toBeGreaterThan(end);

    const client = clientWith(minted.credentials);
    try {
      await expect(decode(client)).resolves.toMatchObject({ DecodedMessage: expect.any(String) });
      sts.advance(end - Date.now() + 1_000);
      const err = await rejection(decode(client));
      expect(err).toMatchObject({ name: 'AccessDenied' });
      expect(String((err as Error).message)).toMatch(/explicit deny in a session policy/);
      // As in AWS, GetCallerIdentity needs no permission: the keys still "work" there, which is
      // why a live-key check must use another call.
      await expect(client.send(new GetCallerIdentityCommand({}))).resolves.toMatchObject({
        Account: '111122223333',
      });
    } finally {
      client.destroy();
    }
  });

  it("a role's session policy still narrows a short lease (intersection, no Allow * added)", async () => {
    const role = awsRole({ sessionPolicy: S3_ONLY });
    const minted = await provider.mint(mintRequest({ role, durationSeconds: 120 }));
    const client = clientWith(minted.credentials);
    try {
      const err = await rejection(decode(client));
      expect(String((err as Error).message)).toMatch(/because no session policy allows it/);
    } finally {
      client.destroy();
    }
  });
});
