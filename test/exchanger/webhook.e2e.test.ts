/**
 * POST /v1/github/webhook against `jitkey serve` as a real process: GitHub's signature over the raw
 * body, `workflow_run completed` revoking every lease of that run attempt (the GitHub token deleted
 * at the GitHub stand-in, even for a role the policy no longer names), later exchanges of that
 * attempt refused with 403 run_completed, other attempts untouched, and refusals audited.
 */
import { writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signBody } from '../../exchanger/github/webhook-signature.js';
import { openStore } from '../../exchanger/store/open.js';
import { githubRole, startGithubStack } from '../support/github-stack.js';
import type { GithubStandin } from '../support/github-standin.js';
import { deliverWebhook, workflowRun } from '../support/github-webhook.js';
import { policyFor, type Stack, startStack } from '../support/stack.js';

const SECRET = 'webhook-test-secret';

let gh: GithubStandin;
let stack: Stack;

beforeAll(async () => {
  ({ gh, stack } = await startGithubStack({
    roles: githubRole(),
    env: { JITKEY_GITHUB_WEBHOOK_SECRET: SECRET },
  }));
});
afterAll(async () => {
  await stack?.stop();
  await gh?.stop();
});

const deliver = (payload: unknown, options: { event?: string; signature?: string | null } = {}) =>
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
    const res = await fetch(`${stack.exchanger.url}/v1/github/webhook`, {
      method: 'POST',
      headers: { 'content-length': String(25 * 1024 * 1024 + 1), 'x-github-event': 'workflow_run' },
      body: 'x',
    }).catch((err: Error) => err);
    // Node's fetch may report the short body itself; when the server answers, it is a 400.
    if (!(res instanceof Error)) expect(res.status).toBe(400);
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

    // A second delivery of the same event (GitHub redelivers) finds nothing left to revoke.
    expect(await deliver(workflowRun(5550001, 2))).toEqual({ status: 200, body: { revoked: 0 } });

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
