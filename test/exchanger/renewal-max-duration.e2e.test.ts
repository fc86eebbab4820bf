/**
 * The last renewal of a run attempt (issue 24, item 9): with under 60 s of the role's max_duration
 * left, an AWS lease is still granted — STS is asked for its 900 s and the session policy denies
 * every action from the max_duration end on — instead of being refused as below AWS's 60 s floor.
 * `jitkey serve` as a real process, the real AWS SDK and the STS stand-in, which evaluates the
 * session policy at its own clock.
 */
import { DecodeAuthorizationMessageCommand, STSClient } from '@aws-sdk/client-sts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LEASE_END_SID } from '../../exchanger/providers/aws-lease-end.js';
import { openStore } from '../../exchanger/store/open.js';
import { type Stack, startStack } from '../support/stack.js';

let stack: Stack;

beforeAll(async () => {
  stack = await startStack();
});
afterAll(() => stack?.stop());

/** Records the run attempt's first lease of 'deploy' (max_duration 30m) at `createdAt`. */
async function firstLease(runId: string, createdAt: Date): Promise<void> {
  const store = await openStore(stack.exchanger.store, { purgeIntervalMs: 0 });
  try {
    await store.record(
      {
        at: createdAt,
        requestId: `req_${runId}`,
        event: 'exchange',
        outcome: 'allowed',
        reason: 'first',
        claims: {},
      },
      {
        id: `lease_first_${runId}`,
        role: 'deploy',
        provider: 'aws',
        createdAt,
        expiresAt: new Date(createdAt.getTime() + 15 * 60_000),
        revokeTokenHash: 'c'.repeat(64),
        repositoryId: '123456',
        runId,
        runAttempt: '1',
      },
    );
  } finally {
    await store.close();
  }
}

describe('a renewal with under 60 s of max_duration left', () => {
  it('is granted until exactly the max_duration end, by a session-policy Deny', async () => {
    // The first lease was 29m10s ago, on a whole second: 50 s of the 30m are left.
    const end = new Date(Math.floor(Date.now() / 1000) * 1000 + 50_000);
    await firstLease('7770001', new Date(end.getTime() - 30 * 60_000));

    const res = await stack.exchange(stack.idp.mint({ run_id: '7770001', run_attempt: '1' }), {
      role: 'deploy',
      duration_seconds: 900,
    });
    expect(res.status).toBe(200);
    expect(res.body.expires_at).toBe(end.toISOString());
    expect(res.body.credentials.expiration).toBe(end.toISOString());

    const call = stack.sts.requests.at(-1)!;
    expect(call.params.DurationSeconds).toBe('900');
    const policy = JSON.parse(call.params.Policy!);
    expect(policy.Statement.at(-1)).toEqual({
      Sid: LEASE_END_SID,
      Effect: 'Deny',
      Action: '*',
      Resource: '*',
      Condition: { DateGreaterThan: { 'aws:CurrentTime': end.toISOString().replace('.000Z', 'Z') } },
    });

    // The lease as recorded ends there too (what the audit and the webhook see).
    const store = await openStore(stack.exchanger.store, { purgeIntervalMs: 0 });
    try {
      expect((await store.getLease(res.body.lease_id))?.expiresAt.toISOString()).toBe(end.toISOString());
    } finally {
      await store.close();
    }

    // The keys work now and are denied once the stand-in's clock is past the end.
    const c = res.body.credentials;
    const client = new STSClient({
      endpoint: stack.sts.url,
      region: 'us-east-1',
      maxAttempts: 1,
      credentials: {
        accessKeyId: c.access_key_id,
        secretAccessKey: c.secret_access_key,
        sessionToken: c.session_token,
      },
    });
    const decode = () => client.send(new DecodeAuthorizationMessageCommand({ EncodedMessage: 'probe' }));
    const ahead = end.getTime() - Date.now() + 1_000;
    try {
      await expect(decode()).resolves.toMatchObject({ DecodedMessage: expect.any(String) });
      stack.sts.advance(ahead);
      await expect(decode()).rejects.toMatchObject({ name: 'AccessDenied' });
    } finally {
      stack.sts.advance(-ahead);
      client.destroy();
    }
  });

  it('a duration under 60 s asked for outright is still refused', async () => {
    const res = await stack.exchange(stack.idp.mint({ run_id: '7770002', run_attempt: '1' }), {
      role: 'deploy',
      duration_seconds: 50,
    });
    expect(res.status).toBe(400);
    expect(res.body.message).toMatch(/at least 60 s \(1m\)/);
  });

  it('once the max_duration end has passed, nothing more is granted', async () => {
    await firstLease('7770003', new Date(Date.now() - 30 * 60_000 - 1_000));
    const res = await stack.exchange(stack.idp.mint({ run_id: '7770003', run_attempt: '1' }), {
      role: 'deploy',
    });
    expect(res.status).toBe(403);
    expect(res.body.message).toMatch(/no further renewal/);
  });
});
