/**
 * The deployment gate's pure parts and its GitHub client's rate-limit pause: a delivery whose
 * callback names another repository is refused (the gate never answers elsewhere), comments stay
 * within GitHub's 1,024 characters with typed text escaped, and a `Retry-After` or
 * `x-ratelimit-remaining: 0` pauses every call until GitHub's time is up.
 */
import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { ApproverDirectory } from '../../exchanger/approvals/approvers.js';
import { JitkeyError } from '../../exchanger/errors.js';
import { approvedComment, MAX_COMMENT, rejectedComment } from '../../exchanger/gate/comment.js';
import { parseGateDelivery } from '../../exchanger/gate/delivery.js';
import { redeemAtGate } from '../../exchanger/gate/redeem.js';
import type { GateCore } from '../../exchanger/gate/service.js';
import type { GateDeps } from '../../exchanger/gate/types.js';
import { checkDeliveryAgainstRun, gateStatus } from '../../exchanger/gate/verify.js';
import { createGateGithub } from '../../exchanger/github/deployment-gate.js';
import type { GateRun } from '../../exchanger/github/gate-run.js';
import { loadPolicy } from '../../exchanger/policy/load/load-policy.js';
import type { Role } from '../../exchanger/policy/model/types.js';
import type { ApprovalRequestRecord } from '../../exchanger/store/approvals-types.js';
import { gateDelivery } from '../support/gate-delivery.js';

const delivery = gateDelivery;

describe('parseGateDelivery', () => {
  it('takes the run id from the callback URL and keeps a full ref', () => {
    expect(parseGateDelivery(delivery())).toEqual({
      installationId: '7',
      owner: 'acme',
      repo: 'web',
      repository: 'acme/web',
      repositoryId: '123456',
      runId: '42',
      environment: 'production',
      event: 'push',
      sha: 'a'.repeat(40),
      ref: 'refs/heads/main',
    });
  });

  it('refuses a callback URL of another repository, or of another shape', () => {
    const other = 'https://api.github.com/repos/evil/web/actions/runs/42/deployment_protection_rule';
    expect(() => parseGateDelivery(delivery({ deployment_callback_url: other }))).toThrow(
      /another repository/,
    );
    expect(() =>
      parseGateDelivery(
        delivery({ deployment_callback_url: 'https://api.github.com/repos/acme/web/actions/runs/42' }),
      ),
    ).toThrow(/deployment_callback_url is not/);
    expect(() => parseGateDelivery(delivery({ installation: {} }))).toThrow(/lacks installation.id/);
  });

  it('drops a ref that is not fully qualified (policies compare refs/heads/…)', () => {
    expect(parseGateDelivery(delivery({ ref: 'main', deployment: { ref: 'main' } })).ref).toBeUndefined();
  });
});

describe('gate comments', () => {
  const line = (n: number, reason?: string) => ({
    request: {
      id: `req_${n}`,
      role: `role-${n}`,
      approvals: [{ login: 'alice', id: '1', at: new Date() }],
      status: reason ? ('denied' as const) : ('approved' as const),
      ...(reason ? { reason, decidedBy: 'bob' } : {}),
    },
    approvers: ['alice', 'bob'],
    required: 1,
  });

  it('stay within 1,024 characters however many roles', () => {
    const lines = Array.from({ length: 40 }, (_, n) => line(n));
    const text = approvedComment(lines, 'https://jitkey.example');
    expect(text.length).toBeLessThanOrEqual(MAX_COMMENT);
    expect(text).toMatch(/… and \d+ more$/);
  });

  it('escape what an approver typed, so it is never markup', () => {
    const text = rejectedComment([line(1, 'see [here](https://evil) <b>now</b>')], undefined);
    expect(text).toContain('denied by @bob: see \\[here\\]\\(https://evil\\) \\<b\\>now\\</b\\>');
  });
});

describe('the gate client keeps to GitHub rate limit', () => {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  let now = 1_000_000_000_000;
  const calls: string[] = [];
  const answers: Array<() => Response> = [];
  const client = createGateGithub({
    appId: '1',
    privateKey,
    apiUrl: 'http://127.0.0.1:9',
    now: () => new Date(now),
    fetch: async (url) => {
      calls.push(String(url));
      return answers.shift()!();
    },
  });

  it('pauses every call after Retry-After, until it has passed', async () => {
    answers.push(
      () =>
        new Response('{"message":"secondary rate limit"}', { status: 403, headers: { 'retry-after': '30' } }),
    );
    await expect(client.installations()).rejects.toMatchObject({ code: 'rate_limited', retryAfter: 30 });
    const before = calls.length;
    const refused = await client.installations().catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(JitkeyError);
    expect((refused as JitkeyError).code).toBe('rate_limited');
    expect(calls.length).toBe(before);
    expect(client.pausedUntil()).toBe(now + 30_000);
    now += 31_000;
    answers.push(() => new Response('[]', { status: 200 }));
    await expect(client.installations()).resolves.toEqual([]);
  });

  it('pauses until the reset once x-ratelimit-remaining is 0', async () => {
    const reset = Math.floor(now / 1000) + 600;
    answers.push(
      () =>
        new Response('[]', {
          status: 200,
          headers: { 'x-ratelimit-remaining': '0', 'x-ratelimit-reset': String(reset) },
        }),
    );
    await expect(client.installations()).resolves.toEqual([]);
    await expect(client.installations()).rejects.toMatchObject({ code: 'rate_limited' });
    expect(client.pausedUntil()).toBe(reset * 1000);
  });
});

describe('redeemAtGate', () => {
  it("is the App's GitHub's tokens only: another issuer's token with a gate request's claims is not looked up", async () => {
    const asked: unknown[] = [];
    const core = {
      requestsOf: async (...args: unknown[]) => {
        asked.push(args);
        return [];
      },
    } as unknown as GateCore;
    const deps = { github: {}, now: () => new Date() } as unknown as GateDeps;
    const claims = { repository_id: '123456', run_id: '42', run_attempt: '1', environment: 'production' };
    const use = (appGithub: boolean) => ({
      requestId: 'req_1',
      role: { name: 'deploy' } as Role,
      claims,
      durationSeconds: 900,
      appGithub,
    });
    expect(await redeemAtGate(deps, core, use(false))).toBeUndefined();
    expect(asked).toEqual([]);
    // A token of the App's GitHub with the same claims is looked up (and finds nothing here).
    expect(await redeemAtGate(deps, core, use(true))).toBeUndefined();
    expect(asked).toHaveLength(1);
  });
});

describe('what the gate checks against GitHub before it trusts or answers', () => {
  const d = parseGateDelivery(delivery());
  const run = (over: Partial<GateRun> = {}): GateRun => ({
    id: '42',
    attempt: '1',
    repositoryId: '123456',
    event: 'push',
    headSha: 'a'.repeat(40),
    headBranch: 'main',
    path: '.github/workflows/deploy.yml',
    ...over,
  });
  const refusal = (r: GateRun, over: Record<string, unknown> = {}) => {
    try {
      checkDeliveryAgainstRun(parseGateDelivery(delivery(over)), r);
      return undefined;
    } catch (err) {
      return (err as JitkeyError).message;
    }
  };

  it('takes a delivery that says what the run says, a tag ref included', () => {
    expect(refusal(run())).toBeUndefined();
    expect(refusal(run({ headBranch: 'v1.2.0' }), { ref: 'refs/tags/v1.2.0' })).toBeUndefined();
    // A run GitHub described without a repository id or branch is not held against it.
    const { repositoryId: _, headBranch: __, ...bare } = run();
    expect(refusal(bare as GateRun)).toBeUndefined();
    // A pull request's job runs on the merge commit and ref, which its run does not name.
    const pr = run({ event: 'pull_request', headSha: 'c'.repeat(40), headBranch: 'feature' });
    expect(refusal(pr, { event: 'pull_request', ref: 'refs/pull/7/merge' })).toBeUndefined();
    // Any other event's job runs on the run's head: a scheduled run's sha is checked.
    expect(refusal(run({ event: 'schedule', headSha: 'b'.repeat(40) }), { event: 'schedule' })).toBe(
      `deployment_protection_rule: the delivery's sha '${'a'.repeat(40)}' is not run 42's ('${'b'.repeat(40)}'); not acted on`,
    );
    expect(refusal(pr, { event: 'push' })).toBe(
      "deployment_protection_rule: the delivery's event 'push' is not run 42's ('pull_request'); not acted on",
    );
    expect(d.sha).toBe('a'.repeat(40));
  });

  it.each([
    [
      { ref: 'refs/heads/main' },
      { headBranch: 'evil-feature' },
      "ref 'refs/heads/main' is not run 42's ('evil-feature')",
    ],
    [{}, { headSha: 'b'.repeat(40) }, `sha '${'a'.repeat(40)}' is not run 42's ('${'b'.repeat(40)}')`],
    [{ event: 'workflow_dispatch' }, {}, "event 'workflow_dispatch' is not run 42's ('push')"],
    [{}, { repositoryId: '999' }, "repository id '123456' is not run 42's ('999')"],
  ])('refuses a delivery whose %o differs from the run (%o)', (over, runOver, says) => {
    expect(refusal(run(runOver), over)).toBe(
      `deployment_protection_rule: the delivery's ${says}; not acted on`,
    );
  });

  it('an approval the policy in force no longer counts answers nothing approved', async () => {
    const policy = loadPolicy(
      `version: 1
issuers:
  - { url: https://token.actions.githubusercontent.com, audience: jitkey }
roles:
  release:
    provider: aws
    aws: { role_arn: "arn:aws:iam::111122223333:role/r" }
    approval: { approvers: [alice], required: 1, gate: true }
    allow:
      - { repository_id: "123456", environment: production }
`,
      'policy.yaml',
    );
    const now = new Date();
    const approvedBy = (login: string, id: string): ApprovalRequestRecord => ({
      id: 'req_1',
      role: 'release',
      version: 2,
      status: 'approved',
      pollTokenHash: 'x',
      createdAt: now,
      expiresAt: new Date(now.getTime() + 3_600_000),
      approvers: ['alice', 'bob'],
      required: 1,
      claims: { repository_id: '123456', run_id: '42', run_attempt: '1', environment: 'production' },
      approvals: [{ login, id, at: now }],
    });
    const deps = { github: {} as ApproverDirectory, policy: () => policy };
    expect(await gateStatus(deps, approvedBy('alice', '1001'), now)).toBe('approved');
    // Bob approved while the policy named him; it no longer does.
    expect(await gateStatus(deps, approvedBy('bob', '1002'), now)).toBe('pending');
    // Without the App, nobody can be told to be an approver: nothing stands.
    expect(await gateStatus({ policy: () => policy }, approvedBy('alice', '1001'), now)).toBe('pending');
  });
});
