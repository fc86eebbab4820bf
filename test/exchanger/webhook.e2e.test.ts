/**
 * POST /v1/github/webhook against `jitkey serve` as a real process: GitHub's signature over the raw
 * body, `workflow_run completed` revoking every lease of that run attempt (the GitHub token deleted
 * at the GitHub stand-in, even for a role the policy no longer names), later exchanges of that
 * attempt refused with 403 run_completed, other attempts untouched, and refusals audited. Under
 * attack (issue 24, item 7): unsigned senders cannot crowd signed deliveries out, an exchange
 * minting when its run completes leaves no live lease, and replayed deliveries are not acted on.
 */
import { writeFileSync } from 'node:fs';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { signBody } from '../../exchanger/github/webhook-signature.js';
import { openStore } from '../../exchanger/store/open.js';
import { eventually } from '../support/eventually.js';
import { githubRole, startGithubStack } from '../support/github-stack.js';
import type { GithubStandin } from '../support/github-standin.js';
import { type DeliveryOptions, deliverWebhook, workflowRun } from '../support/github-webhook.js';
import { firstStatus, type RawConnection, rawConnect } from '../support/raw-http.js';
import { policyFor, type Stack, startStack } from '../support/stack.js';

const SECRET = 'webhook-test-secret';

let gh: GithubStandin;
let stack: Stack;

beforeAll(async () => {
  ({ gh, stack } = await startGithubStack({
    roles: githubRole(),
    // Slow bodies are held as long as a test needs them, not cut by the body timeout.
    env: { JITKEY_GITHUB_WEBHOOK_SECRET: SECRET, JITKEY_BODY_TIMEOUT_MS: '600000' },
  }));
});
afterAll(async () => {
  await stack?.stop();
  await gh?.stop();
});

const deliver = (payload: unknown, options: DeliveryOptions = {}) =>
  deliverWebhook(stack.exchanger.url, SECRET, payload, options);

const claims = (runId: string, attempt: string) => ({ run_id: runId, run_attempt: attempt });

describe('POST /v1/github/webhook', () => {
  it('refuses a missing or wrong signature with 401 and audits it, one row per client address per minute', async () => {
    const payload = workflowRun(1, 1);
    expect((await deliver(payload, { signature: null })).status).toBe(401);
    const wrong = await deliver(payload, { signature: signBody('another-secret', JSON.stringify(payload)) });
    expect(wrong.status).toBe(401);
    const more = await Promise.all(
      Array.from({ length: 20 }, () => deliver(payload, { signature: 'sha256=00' })),
    );
    expect(more.map((a) => a.status)).toEqual(Array(20).fill(401));
    expect(wrong.body.error).toBe('invalid_token');
    expect(wrong.body.message).toMatch(/JITKEY_GITHUB_WEBHOOK_SECRET/);
    const store = await openStore(stack.exchanger.store, { purgeIntervalMs: 0 });
    try {
      const rows = (await store.queryAudit({ outcome: 'denied' })).filter((r) => r.event === 'webhook');
      // The other 21 are counted into one summary row when the minute ends (or at shutdown).
      expect(rows).toHaveLength(1);
      expect(rows[0]!.reason).toMatch(/X-Hub-Signature-256/);
      expect(JSON.stringify(rows)).not.toContain(SECRET);
    } finally {
      await store.close();
    }
  });

  it('answers 204 to events and actions it ignores', async () => {
    expect((await deliver({ zen: 'hi' }, { event: 'ping' })).status).toBe(204);
    expect((await deliver(workflowRun(2, 1, 'requested'))).status).toBe(204);
    expect((await deliver(workflowRun(2, 1, 'in_progress'))).status).toBe(204);
  });

  it('refuses a body over 25 MiB before reading it', async () => {
    // On a raw socket: fetch will not send a Content-Length its body does not have. The signature
    // header is well-formed (a missing one is refused first, 401) and no byte of the body is sent.
    const conn = await rawConnect(Number(new URL(stack.exchanger.url).port));
    try {
      conn.socket.write(
        'POST /v1/github/webhook HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n' +
          `X-GitHub-Event: workflow_run\r\nX-Hub-Signature-256: sha256=${'0'.repeat(64)}\r\n` +
          `Content-Length: ${25 * 1024 * 1024 + 1}\r\n\r\n`,
      );
      expect(await firstStatus(conn)).toBe(400);
      const answer = await eventually(() => /\{.*\}/s.exec(conn.received())?.[0], 'the answer body');
      expect(JSON.parse(answer)).toMatchObject({
        error: 'invalid_request',
        message: expect.stringContaining('exceeds 25 MiB'),
      });
    } finally {
      conn.socket.destroy();
    }
  });

  it('an exchange still minting when its run completes gets 403 run_completed and leaves no live lease', async () => {
    const issued = gh.issued.length;
    // GitHub is slow to mint: the run's workflow_run completed comes meanwhile.
    const held = gh.holdNext({ method: 'POST', path: /\/access_tokens$/ });
    const exchanging = stack.exchange(stack.idp.mint(claims('5550009', '1')), { role: 'bump-deps' });
    await held.arrived;
    expect(await deliver(workflowRun(5550009, 1))).toEqual({ status: 200, body: { revoked: 0 } });
    held.release();
    const answer = await exchanging;
    expect(answer.status).toBe(403);
    expect(answer.body.error).toBe('run_completed');
    expect(answer.body.message).toMatch(
      /run 5550009 attempt 1 completed .* while these credentials were being minted/,
    );
    const minted = gh.issued.slice(issued);
    expect(minted).toHaveLength(1);
    expect(gh.revocations).toContain(minted[0]!.token);

    const store = await openStore(stack.exchanger.store, { purgeIntervalMs: 0 });
    try {
      const ended = (await store.queryAudit({ outcome: 'revoked' })).filter((r) =>
        r.reason.includes('while it was being minted'),
      );
      expect(ended.map((r) => r.reason)).toEqual([
        'lease revoked: its run attempt completed while it was being minted (revoked upstream)',
      ]);
      expect((await store.getLease(ended[0]!.leaseId!))?.revokedAt).toBeInstanceOf(Date);
    } finally {
      await store.close();
    }
  });

  it('workflow_run completed revokes every lease of that attempt, and later exchanges get 403 run_completed', async () => {
    const run = claims('5550001', '2');
    const aws = await stack.exchange(stack.idp.mint(run), { role: 'deploy' });
    const github = await stack.exchange(stack.idp.mint(run), { role: 'bump-deps' });
    const otherAttempt = await stack.exchange(stack.idp.mint(claims('5550001', '1')), { role: 'bump-deps' });
    expect([aws.status, github.status, otherAttempt.status]).toEqual([200, 200, 200]);

    // The role is renamed before the run ends: the upstream delete must not depend on it.
    writeFileSync(stack.exchanger.policyPath, policyFor(stack.idp.url, githubRole('bump-deps-renamed')));
    stack.exchanger.signal('SIGHUP');
    await waitFor(async () => (await stack.exchange(stack.idp.mint(), { role: 'bump-deps' })).status === 400);

    const done = await deliver(workflowRun(5550001, 2));
    expect(done).toEqual({ status: 200, body: { revoked: 2 } });
    expect(gh.revocations).toContain(github.body.credentials.token);
    expect(gh.revocations).not.toContain(otherAttempt.body.credentials.token);

    const again = await stack.exchange(stack.idp.mint(run), { role: 'deploy' });
    expect(again.status).toBe(403);
    expect(again.body.error).toBe('run_completed');
    expect(again.body.message).toMatch(/run 5550001 attempt 2 has completed/);
    expect((await stack.exchange(stack.idp.mint(claims('5550001', '3')), { role: 'deploy' })).status).toBe(
      200,
    );

    // The same event in another delivery (a second webhook on the organisation) finds nothing left.
    expect(await deliver({ ...workflowRun(5550001, 2), sender: { login: 'x' } })).toEqual({
      status: 200,
      body: { revoked: 0 },
    });

    const store = await openStore(stack.exchanger.store, { purgeIntervalMs: 0 });
    try {
      for (const lease of [aws.body.lease_id, github.body.lease_id]) {
        expect((await store.getLease(lease))?.revokedAt).toBeInstanceOf(Date);
      }
      expect((await store.getLease(otherAttempt.body.lease_id))?.revokedAt).toBeUndefined();
      const revokes = (await store.queryAudit({ outcome: 'revoked' })).filter((r) =>
        r.reason.includes('workflow run completed'),
      );
      expect(revokes.map((r) => r.reason).sort()).toEqual([
        'lease revoked: workflow run completed (not revocable upstream; expires on its own)',
        'lease revoked: workflow run completed (revoked upstream)',
      ]);
    } finally {
      await store.close();
    }
  });

  it('caps renewals at max_duration counted from the attempt first lease', async () => {
    // The attempt's first lease of 'deploy' (max_duration 30m) was 25 minutes ago: 5 are left.
    const now = Date.now();
    const store = await openStore(stack.exchanger.store, { purgeIntervalMs: 0 });
    try {
      await store.record(
        {
          at: new Date(now),
          requestId: 'req_first',
          event: 'exchange',
          outcome: 'allowed',
          reason: 'first',
          claims: {},
        },
        {
          id: 'lease_first_5550002',
          role: 'deploy',
          provider: 'aws',
          createdAt: new Date(now - 25 * 60_000),
          expiresAt: new Date(now + 5 * 60_000),
          revokeTokenHash: 'c'.repeat(64),
          repositoryId: '123456',
          runId: '5550002',
          runAttempt: '1',
        },
      );
    } finally {
      await store.close();
    }
    const renewal = await stack.exchange(stack.idp.mint(claims('5550002', '1')), {
      role: 'deploy',
      duration_seconds: 1800,
    });
    expect(renewal.status).toBe(200);
    const left = Date.parse(renewal.body.expires_at) - now;
    expect(left).toBeGreaterThan(4 * 60_000);
    expect(left).toBeLessThanOrEqual(5 * 60_000 + 1000);
  });
});

const MiB = 1024 * 1024;

describe('under attack', () => {
  const port = () => Number(new URL(stack.exchanger.url).port);
  /** The head of a workflow_run delivery announcing `declared` bytes, its signature well-formed but wrong. */
  const forgedHead = (declared: number) =>
    'POST /v1/github/webhook HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n' +
    `X-GitHub-Event: workflow_run\r\nX-GitHub-Delivery: forged\r\nX-Hub-Signature-256: sha256=${'0'.repeat(64)}\r\n` +
    `Content-Length: ${declared}\r\n\r\n`;
  const attackers: RawConnection[] = [];
  const attack = async (from: string, text: string): Promise<RawConnection> => {
    const conn = await rawConnect(port(), { localAddress: from });
    attackers.push(conn);
    await new Promise<void>((res) => conn.socket.write(text, () => res()));
    return conn;
  };
  afterEach(() => {
    for (const conn of attackers.splice(0)) conn.socket.destroy();
  });
  const held = async (sender: 'proven' | 'unproven') => {
    const text = await (await fetch(`${stack.exchanger.url}/metrics`)).text();
    return Number(
      new RegExp(`^jitkey_webhook_body_bytes\\{sender="${sender}"\\} (\\d+)`, 'm').exec(text)?.[1] ?? 0,
    );
  };

  it('header-only and slow-body connections from one address leave every signed delivery its 2xx', async () => {
    // 64 connections announcing 1 MiB each (the whole 64 MiB), sending none of it.
    for (let i = 0; i < 64; i++) await attack('127.0.0.2', forgedHead(MiB));
    // Three slow bodies of 1 MiB each from the same address, then nothing: past its 2 MiB share,
    // one of them is refused (and so the server has read them).
    const slow = await Promise.all(
      [0, 1, 2].map(() => attack('127.0.0.2', forgedHead(25 * MiB) + 'x'.repeat(MiB))),
    );
    expect(await Promise.race(slow.map(firstStatus))).toBe(429);
    expect(await held('unproven')).toBeLessThanOrEqual(2 * MiB);

    // 72 real deliveries, from an address that has not delivered before.
    const answers = await Promise.all(
      Array.from({ length: 72 }, (_, i) =>
        deliver(workflowRun(7770000 + i, 1), { localAddress: '127.0.0.3' }),
      ),
    );
    expect(answers.map((a) => a.status)).toEqual(Array(72).fill(200));
  });

  it('senders with a signed delivery lately keep a reserve that unproven senders cannot fill', async () => {
    // 127.0.0.4 delivers once: it is proven from then on.
    expect((await deliver(workflowRun(7780000, 1), { localAddress: '127.0.0.4' })).status).toBe(200);
    // 16 addresses hold their 2 MiB share each: the 32 MiB not reserved.
    for (let i = 1; i <= 16; i++) await attack(`127.0.1.${i}`, forgedHead(25 * MiB) + 'x'.repeat(2 * MiB));
    await eventually(async () => ((await held('unproven')) === 32 * MiB ? true : undefined), '32 MiB held');
    // A new sender now waits its turn; the proven one is answered.
    expect((await deliver(workflowRun(7780001, 1), { localAddress: '127.0.0.5' })).status).toBe(429);
    expect((await deliver(workflowRun(7780002, 1), { localAddress: '127.0.0.4' })).status).toBe(200);
  });
});

describe('replayed deliveries', () => {
  it('are acted on once; replays answer 200 replayed and are audited folded (the first with its run, then a count)', async () => {
    const own = await startStack({ exchanger: { env: { JITKEY_GITHUB_WEBHOOK_SECRET: SECRET } } });
    let first: Awaited<ReturnType<typeof own.exchange>>;
    try {
      first = await own.exchange(own.idp.mint(claims('6660001', '1')), { role: 'deploy' });
      expect(first.status).toBe(200);
      const send = (delivery: string) =>
        deliverWebhook(own.exchanger.url, SECRET, workflowRun(6660001, 1), { delivery });
      expect(await send('d-6660001')).toEqual({ status: 200, body: { revoked: 1 } });
      // GitHub's redelivery (same id), and the signed body sent again under other ids.
      const replays = [await send('d-6660001')];
      replays.push(...(await Promise.all(Array.from({ length: 5 }, (_, i) => send(`forged-${i}`)))));
      expect(replays).toEqual(Array(6).fill({ status: 200, body: { revoked: 0, replayed: true } }));
    } finally {
      // The minute's count is written at shutdown.
      await own.stop();
    }
    const store = await openStore(own.exchanger.store, { purgeIntervalMs: 0 });
    try {
      const rows = (await store.queryAudit({})).filter((r) => r.event === 'webhook' || r.event === 'revoke');
      const reasons = rows.map((r) => r.reason).sort();
      expect(reasons).toEqual([
        "5 more replays of webhook delivery 'd-6660001', not acted on in 60 s after the one audited (counted, not audited one by one)",
        "GitHub webhook delivery 'd-6660001' replays delivery 'd-6660001' (same delivery id or same signed body): not acted on again",
        'lease revoked: workflow run completed (not revocable upstream; expires on its own)',
        'workflow_run completed: run 6660001 attempt 1 ended; revoking its leases',
      ]);
      const replay = rows.find((r) => r.errorCode === 'delivery_replayed' && r.claims.run_id);
      expect(replay).toMatchObject({
        outcome: 'denied',
        claims: { repository_id: '123456', run_id: '6660001', run_attempt: '1' },
      });
    } finally {
      await store.close();
    }
  });
});

describe('without JITKEY_GITHUB_WEBHOOK_SECRET', () => {
  it('the route is 404 and says how to enable it', async () => {
    const bare = await startStack();
    try {
      const res = await bare.post('/v1/github/webhook', workflowRun(1, 1), {
        'x-github-event': 'workflow_run',
      });
      expect(res.status).toBe(404);
      expect(res.body.message).toMatch(/JITKEY_GITHUB_WEBHOOK_SECRET/);
    } finally {
      await bare.stop();
    }
  });
});

async function waitFor(check: () => Promise<boolean>): Promise<void> {
  for (let i = 0; i < 100; i++) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error('condition not reached');
}
