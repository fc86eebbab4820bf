/**
 * The approvals service with a real store (SQLite in memory), the real policy and evaluator, an
 * injected clock, a fake token verifier, a fake provider and a fake GitHub directory: timeouts,
 * distinct approvers, teams, self-approval, redemption rules and races, without waiting on time.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ApproverDirectory } from '../../exchanger/approvals/approvers.js';
import { MAX_PENDING_PER_RUN, PENDING_SCAN_LIMIT } from '../../exchanger/approvals/open.js';
import { type Approvals, createApprovals } from '../../exchanger/approvals/service.js';
import { JitkeyError } from '../../exchanger/errors.js';
import { exchange } from '../../exchanger/exchange/exchange.js';
import type { ExchangeDeps } from '../../exchanger/exchange/types.js';
import { hashRevokeToken } from '../../exchanger/leases/secrets.js';
import { silentLogger } from '../../exchanger/log.js';
import { evaluate } from '../../exchanger/policy/evaluate/evaluate.js';
import { loadPolicy } from '../../exchanger/policy/load/load-policy.js';
import type { Policy } from '../../exchanger/policy/model/types.js';
import type { Provider } from '../../exchanger/providers/types.js';
import { createMetrics } from '../../exchanger/server/metrics.js';
import { openStore } from '../../exchanger/store/open.js';
import type { Store } from '../../exchanger/store/types.js';
import { approvalRequest } from '../store/approvals-contract.js';

const T0 = new Date('2025-03-01T12:00:00.000Z');
const ISSUER = 'https://token.actions.githubusercontent.com';

const policyText = (
  opts: { approvers?: string; required?: number; ref?: string; max?: string } = {},
) => `version: 1
issuers: [{ url: ${ISSUER}, audience: jitkey }]
defaults: { duration: 15m, max_duration: 1h }
roles:
  db-admin:
    provider: aws
    aws: { role_arn: "arn:aws:iam::111122223333:role/db-admin" }
    max_duration: ${opts.max ?? '30m'}
    approval:
      approvers: ${opts.approvers ?? '[alice, acme/leads, octocat]'}
      required: ${opts.required ?? 1}
      timeout: 30m
      notify: https://hooks.acme.example/jitkey?key=webhook-secret
    allow:
      - repository_id: "123456"
        ref: ${opts.ref ?? 'refs/heads/main'}
  plain:
    provider: aws
    aws: { role_arn: "arn:aws:iam::111122223333:role/plain" }
    allow:
      - repository_id: "123456"
`;

const JOB = {
  iss: ISSUER,
  repository: 'acme/db-ops',
  repository_id: '123456',
  ref: 'refs/heads/main',
  event_name: 'workflow_dispatch',
  actor: 'octocat',
  actor_id: '1',
  run_id: '42',
  run_attempt: '1',
};

const GITHUB_USERS: Record<string, { login: string; id: number }> = {
  gho_alice: { login: 'alice', id: 1001 },
  gho_bob: { login: 'bob', id: 1002 },
  gho_carol: { login: 'carol', id: 1003 },
  gho_octocat: { login: 'octocat', id: 1 },
};

interface World {
  approvals: Approvals;
  deps: ExchangeDeps;
  store: Store;
  clock: { now: Date; advance(seconds: number): void };
  setPolicy(text: string): void;
  /** A token of the job (`claims` over JOB), fresh jti each time. */
  token(claims?: Record<string, unknown>): string;
  minted: number;
  notified: Array<{ url: string; body: Record<string, unknown> }>;
  /** `run_id/run_attempt` → the GitHub user id who started that attempt (default: the actor, 1). */
  triggeredBy: Record<string, string>;
  runAsked: string[];
  githubDown: boolean;
}

let world: World;

async function makeWorld(options: { github?: boolean } = {}): Promise<World> {
  const store = await openStore('sqlite::memory:', { purgeIntervalMs: 0 });
  const clock = {
    now: T0,
    advance(seconds: number) {
      clock.now = new Date(clock.now.getTime() + seconds * 1000);
    },
  };
  let policy: Policy = loadPolicy(policyText(), 'policy.yaml');
  const tokens = new Map<string, Record<string, unknown>>();
  let n = 0;
  const w = {
    minted: 0,
    notified: [] as World['notified'],
    triggeredBy: {},
    runAsked: [] as string[],
    githubDown: false,
  } as unknown as World;
  const provider: Provider = {
    name: 'aws',
    async mint({ durationSeconds }) {
      w.minted++;
      return {
        credentials: { access_key_id: `AKIA${w.minted}`, secret_access_key: 's', session_token: 't' },
        expiresAt: new Date(clock.now.getTime() + durationSeconds * 1000),
      };
    },
  };
  const github: ApproverDirectory = {
    async getUser(token) {
      const user = GITHUB_USERS[token];
      if (!user) throw new JitkeyError('invalid_token', 'GitHub did not accept this GitHub token (401)');
      return user;
    },
    async isTeamMember(org, slug, login) {
      return `${org}/${slug}` === 'acme/leads' && login === 'carol';
    },
    async getRunAttempt(owner, repo, runId, attempt) {
      w.runAsked.push(`${owner}/${repo}#${runId}/${attempt}`);
      if (w.githubDown) throw new JitkeyError('upstream_error', 'GitHub answered 503');
      return { actorId: '1', triggeringActorId: w.triggeredBy[`${runId}/${attempt}`] ?? '1' };
    },
  };
  const deps: ExchangeDeps = {
    policy: () => policy,
    verifier: () => ({
      async verify(token) {
        const claims = tokens.get(token);
        if (!claims) throw new JitkeyError('invalid_token', 'unknown test token');
        return {
          claims,
          jti: String(claims.jti),
          issuer: typeof claims.iss === 'string' ? claims.iss : ISSUER,
          expiresAt: new Date(T0.getTime() + 86_400_000),
        };
      },
    }),
    evaluate,
    store,
    providers: { aws: provider },
    guards: [],
    metrics: createMetrics(),
    log: silentLogger,
    now: () => clock.now,
  };
  const fakeFetch = (async (url: string | URL | Request, init?: RequestInit) => {
    w.notified.push({ url: String(url), body: JSON.parse(String(init?.body)) });
    return new Response(null, { status: 204 });
  }) as typeof fetch;
  const approvals = createApprovals({
    ...deps,
    ...(options.github === false ? {} : { github }),
    fetch: fakeFetch,
    publicUrl: 'https://jitkey.acme.example',
  });
  deps.approvals = approvals;
  Object.assign(w, {
    approvals,
    deps,
    store,
    clock,
    setPolicy: (text: string) => {
      policy = loadPolicy(text, 'policy.yaml');
    },
    token(claims: Record<string, unknown> = {}) {
      const token = `tok_${++n}`;
      tokens.set(token, { ...JOB, jti: `jti-${n}`, ...claims });
      return token;
    },
  });
  return w;
}

beforeEach(async () => {
  world = await makeWorld();
});
afterEach(async () => {
  await world.store.close();
});

/** The job asks for db-admin: the 202 body. */
async function ask(body: Record<string, unknown> = {}, claims: Record<string, unknown> = {}) {
  const answer = await exchange(
    world.deps,
    world.token(claims),
    { role: 'db-admin', ...body },
    `req_${Math.random().toString(36).slice(2, 10)}`,
  );
  if (!('status' in answer)) throw new Error('expected a pending answer');
  return answer;
}

/** The role approved by alice, escalating to bob after 10 minutes. */
const escalatingToBob = () =>
  policyText({ approvers: '[alice]' }).replace(
    '      timeout: 30m\n',
    '      timeout: 30m\n      escalate: { after: 10m, approvers: [bob] }\n',
  );
const decide = (id: string, user: string, kind: 'approve' | 'deny' = 'approve', reason?: string) =>
  world.approvals.decide(id, `gho_${user}`, { kind, reason });
const redeem = (id: string, pollToken: string, claims: Record<string, unknown> = {}) =>
  world.approvals.redeem(id, world.token(claims), { poll_token: pollToken });

describe('open', () => {
  it('stores a pending request with only the poll token hash, audits it and notifies', async () => {
    const pending = await ask();
    expect(pending).toMatchObject({
      status: 'pending',
      expires_at: '2025-03-01T12:30:00.000Z',
      approvers: ['alice', 'acme/leads', 'octocat'],
      required: 1,
    });
    const stored = await world.store.getApprovalRequest(pending.request_id);
    expect(stored?.pollTokenHash).toBe(hashRevokeToken(pending.poll_token));
    expect(JSON.stringify(stored)).not.toContain(pending.poll_token);
    expect(stored?.claims).toMatchObject({
      repository_id: '123456',
      run_id: '42',
      run_attempt: '1',
      actor_id: '1',
    });
    const [row] = await world.store.queryAudit({});
    expect(row).toMatchObject({
      event: 'approval_request',
      outcome: 'pending',
      requestId: pending.request_id,
    });

    await world.approvals.settled();
    expect(world.notified).toHaveLength(1);
    expect(world.notified[0]!.body).toMatchObject({
      request_id: pending.request_id,
      approve_command: `jitkey approve ${pending.request_id} --url https://jitkey.acme.example`,
    });
    expect(JSON.stringify(world.notified[0]!.body)).not.toContain(pending.poll_token);
    expect(world.minted).toBe(0);
  });

  it('roles without approval still get credentials at once', async () => {
    const answer = await exchange(world.deps, world.token(), { role: 'plain' }, 'req_plain');
    expect(answer).toMatchObject({ role: 'plain', lease_id: expect.any(String) });
  });

  it('a token without run_id cannot be tied to its run: refused', async () => {
    await expect(ask({}, { run_id: undefined })).rejects.toMatchObject({
      code: 'access_denied',
      message: expect.stringContaining('the token lacks run_id'),
    });
  });

  it('without a GitHub App the role is refused with a message that says so', async () => {
    await world.store.close();
    world = await makeWorld({ github: false });
    await expect(ask()).rejects.toMatchObject({
      code: 'access_denied',
      message: expect.stringContaining('no GitHub App configured to identify approvers'),
    });
    expect((await world.store.queryAudit({}))[0]).toMatchObject({
      outcome: 'denied',
      errorCode: 'access_denied',
    });
  });
});

describe('timeout (injected clock)', () => {
  it('pending until the timeout, expired from then on, persisted and audited once', async () => {
    const pending = await ask();
    world.clock.advance(30 * 60 - 1);
    expect((await world.approvals.status(pending.request_id, pending.poll_token)).status).toBe('pending');
    world.clock.advance(1);
    expect((await world.approvals.status(pending.request_id, pending.poll_token)).status).toBe('expired');
    expect((await world.approvals.status(pending.request_id, pending.poll_token)).status).toBe('expired');
    expect((await world.store.getApprovalRequest(pending.request_id))?.status).toBe('expired');
    const expiries = (await world.store.queryAudit({})).filter((r) => r.event === 'expire');
    expect(expiries.map((r) => r.reason)).toEqual(['expired with 0 of 1 approvals']);
    await expect(decide(pending.request_id, 'alice')).rejects.toMatchObject({ code: 'invalid_request' });
    await expect(redeem(pending.request_id, pending.poll_token)).rejects.toMatchObject({
      code: 'not_approved',
    });
  });

  it('an approval must be redeemed within the redeem window', async () => {
    const pending = await ask();
    world.clock.advance(29 * 60); // approved a minute before the approval timeout…
    expect((await decide(pending.request_id, 'alice')).status).toBe('approved');
    world.clock.advance(5 * 60); // …still redeemable after it: the window starts at the approval
    expect((await world.approvals.status(pending.request_id, pending.poll_token)).status).toBe('approved');
    world.clock.advance(5 * 60);
    expect((await world.approvals.status(pending.request_id, pending.poll_token)).status).toBe('expired');
    await expect(redeem(pending.request_id, pending.poll_token)).rejects.toMatchObject({
      code: 'not_approved',
      message: expect.stringContaining('without being redeemed'),
    });
  });
});

describe('deciding', () => {
  it('required 2: distinct approvers, through a login and a team; the same one twice counts once', async () => {
    world.setPolicy(policyText({ required: 2 }));
    const pending = await ask();
    expect((await decide(pending.request_id, 'alice')).status).toBe('pending');
    expect((await decide(pending.request_id, 'alice')).approvals).toHaveLength(1);
    const done = await decide(pending.request_id, 'carol');
    expect(done).toMatchObject({ status: 'approved', approvals: [{ login: 'alice' }, { login: 'carol' }] });
  });

  it('two approvals at once both count (the loser of the race decides again)', async () => {
    world.setPolicy(policyText({ required: 2 }));
    const pending = await ask();
    await Promise.all([decide(pending.request_id, 'alice'), decide(pending.request_id, 'carol')]);
    const status = await world.approvals.status(pending.request_id, pending.poll_token);
    expect(status.status).toBe('approved');
    expect(status.approvals.map((a) => a.login).sort()).toEqual(['alice', 'carol']);
  });

  it('someone not listed, and the job’s own actor, are refused and audited; nothing changes', async () => {
    const pending = await ask();
    await expect(decide(pending.request_id, 'bob')).rejects.toMatchObject({ code: 'access_denied' });
    await expect(decide(pending.request_id, 'octocat')).rejects.toMatchObject({ code: 'self_approval' });
    await expect(decide(pending.request_id, 'nobody')).rejects.toMatchObject({ code: 'invalid_token' });
    expect((await world.approvals.status(pending.request_id, pending.poll_token)).status).toBe('pending');
    const refused = (await world.store.queryAudit({ outcome: 'denied' })).map((r) => [r.actor, r.errorCode]);
    expect(refused).toEqual([
      ['octocat', 'self_approval'],
      ['bob', 'access_denied'],
    ]);
  });

  it('one refusal per person and request is audited in 10 minutes: a flood does not bury the history', async () => {
    const pending = await ask();
    for (let i = 0; i < 5; i++) {
      await expect(decide(pending.request_id, 'bob', 'deny', 'no')).rejects.toMatchObject({
        code: 'access_denied',
      });
    }
    const rows = async () =>
      (await world.store.queryAudit({ requestId: pending.request_id })).map((r) => [
        r.event,
        r.actor ?? null,
      ]);
    expect(await rows()).toEqual([
      ['deny', 'bob'],
      ['approval_request', null],
    ]);
    world.clock.advance(10 * 60);
    await expect(decide(pending.request_id, 'bob', 'deny', 'no')).rejects.toMatchObject({
      code: 'access_denied',
    });
    expect((await rows()).length).toBe(3);
  });

  it('who may decide follows the policy in force (a reload that drops an approver takes effect)', async () => {
    const pending = await ask();
    world.setPolicy(policyText({ approvers: '[acme/leads]' }));
    await expect(decide(pending.request_id, 'alice')).rejects.toMatchObject({ code: 'access_denied' });
    expect((await decide(pending.request_id, 'carol')).status).toBe('approved');
  });

  it('a denial keeps who and why, and the job reads them', async () => {
    const pending = await ask();
    await decide(pending.request_id, 'alice', 'deny', 'change freeze');
    expect(await world.approvals.status(pending.request_id, pending.poll_token)).toMatchObject({
      status: 'denied',
      reason: 'change freeze',
      denied_by: 'alice',
    });
    const row = (await world.store.queryAudit({}))[0];
    expect(row).toMatchObject({
      event: 'deny',
      outcome: 'denied',
      actor: 'alice',
      reason: 'denied: change freeze',
    });
  });

  it('listing shows an approver the pending requests they may decide, not their own', async () => {
    const mine = await ask();
    world.clock.advance(1); // listed oldest first
    const byAlice = await ask({}, { actor: 'alice', actor_id: '1001' });
    expect((await world.approvals.list('gho_alice')).requests.map((r) => r.request_id)).toEqual([
      mine.request_id,
    ]);
    expect((await world.approvals.list('gho_carol')).requests.map((r) => r.request_id)).toEqual([
      mine.request_id,
      byAlice.request_id,
    ]);
    expect((await world.approvals.list('gho_bob')).requests).toEqual([]);
    world.clock.advance(31 * 60);
    expect((await world.approvals.list('gho_carol')).requests).toEqual([]);
  });
});

describe('after a policy change (issue 16, item 4)', () => {
  it("a removed approver's earlier vote no longer counts toward required", async () => {
    world.setPolicy(policyText({ approvers: '[alice, bob, acme/leads]', required: 2 }));
    const pending = await ask();
    expect((await decide(pending.request_id, 'alice')).status).toBe('pending');
    world.setPolicy(policyText({ approvers: '[bob, acme/leads]', required: 2 }));
    expect((await decide(pending.request_id, 'bob')).status).toBe('pending');
    expect((await decide(pending.request_id, 'carol')).status).toBe('approved');
  });

  it('an approved request is not redeemed once the role requires more approvals', async () => {
    const pending = await ask();
    expect((await decide(pending.request_id, 'alice')).status).toBe('approved');
    world.setPolicy(policyText({ required: 2 }));
    const err = await redeem(pending.request_id, pending.poll_token).catch((e: JitkeyError) => e);
    expect(err).toMatchObject({ code: 'access_denied', status: 403 });
    expect((err as JitkeyError).message).toMatch(
      /^the role's approval policy changed .*: 1 of the 2 approvals/,
    );
    expect(world.minted).toBe(0);
  });

  it('an escalation approver’s approval is redeemed (their vote counts once the request escalated)', async () => {
    world.setPolicy(escalatingToBob());
    const pending = await ask();
    world.clock.advance(11 * 60);
    expect((await decide(pending.request_id, 'bob')).status).toBe('approved');
    await redeem(pending.request_id, pending.poll_token);
    expect(world.minted).toBe(1);
  });

  it('once escalated, an escalation approver is shown the request and queued it, as the console shows them', async () => {
    world.setPolicy(escalatingToBob());
    const pending = await ask();
    const bob = { login: 'bob', id: '1002' };
    await expect(world.approvals.detailAs(pending.request_id, bob)).rejects.toMatchObject({
      code: 'not_found',
    });
    expect((await world.approvals.queueAs(bob)).map((q) => q.view.request_id)).toEqual([]);
    world.clock.advance(11 * 60);
    expect((await world.approvals.detailAs(pending.request_id, bob)).view.request_id).toBe(
      pending.request_id,
    );
    expect((await world.approvals.queueAs(bob)).map((q) => q.view.request_id)).toEqual([pending.request_id]);
  });

  it('nor once the approver who approved it is no longer named', async () => {
    const pending = await ask();
    await decide(pending.request_id, 'alice');
    world.setPolicy(policyText({ approvers: '[acme/leads, octocat]' }));
    await expect(redeem(pending.request_id, pending.poll_token)).rejects.toMatchObject({
      code: 'access_denied',
    });
    world.setPolicy(policyText());
    expect(await redeem(pending.request_id, pending.poll_token)).toMatchObject({ role: 'db-admin' });
  });
});

describe('pending requests per run (issue 16, item 9)', () => {
  it('one run attempt may have at most 50 open requests; another run is unaffected', async () => {
    for (let i = 0; i < 50; i++) await ask();
    await expect(ask()).rejects.toMatchObject({ code: 'rate_limited', status: 429 });
    expect((await ask({}, { run_attempt: '2' })).status).toBe('pending');
    expect((await world.store.listApprovalRequests({ statuses: ['pending'] })).length).toBe(51);
  });

  it('a decided request frees its place, and a flooding run does not push others out of the list', async () => {
    const other = await ask({}, { run_id: '77' });
    const first = await ask();
    for (let i = 0; i < 49; i++) await ask();
    await decide(first.request_id, 'alice', 'deny', 'not now');
    expect((await ask()).status).toBe('pending');
    const listed = (await world.approvals.list('gho_alice')).requests.map((r) => r.request_id);
    expect(listed).toHaveLength(51);
    expect(listed).toContain(other.request_id);
  });
});

describe("the run attempt's limits at redemption", () => {
  const RUN = { repositoryId: '123456', runId: '42', runAttempt: '1' };

  it('nothing for a run attempt that has completed, though approved before', async () => {
    const pending = await ask();
    await decide(pending.request_id, 'alice');
    await world.store.completeRun(RUN, world.clock.now, {
      at: world.clock.now,
      requestId: 'req_webhook',
      event: 'webhook',
      outcome: 'revoked',
      reason: 'workflow_run completed',
      claims: {},
    });
    await expect(redeem(pending.request_id, pending.poll_token)).rejects.toMatchObject({
      code: 'run_completed',
      status: 403,
    });
    expect(world.minted).toBe(0);
  });

  it("max_duration counts from the attempt's first lease of the role", async () => {
    // db-admin: max_duration 30m. A first lease 25 min ago leaves 5 min for the redemption.
    const pending = await ask({ duration_seconds: 1800 });
    await decide(pending.request_id, 'alice');
    await world.store.record(
      {
        at: world.clock.now,
        requestId: 'req_first',
        event: 'exchange',
        outcome: 'allowed',
        reason: 'first',
        claims: {},
      },
      {
        id: 'lease_first',
        role: 'db-admin',
        provider: 'aws',
        createdAt: new Date(world.clock.now.getTime() - 25 * 60_000),
        expiresAt: new Date(world.clock.now.getTime() + 5 * 60_000),
        revokeTokenHash: 'c'.repeat(64),
        repository: 'acme/db-ops',
        repositoryId: '123456',
        runId: '42',
        runAttempt: '1',
      },
    );
    const grant = await redeem(pending.request_id, pending.poll_token);
    expect(new Date(grant.expires_at).getTime() - world.clock.now.getTime()).toBe(5 * 60_000);
  });
});

describe('a malformed redemption (issue 16, item 2)', () => {
  it('is refused with the unknown field cut short, and does not spend the token', async () => {
    const pending = await ask();
    await decide(pending.request_id, 'alice');
    const token = world.token();
    const key = `x${'y'.repeat(10_000)}`;
    const err = await world.approvals
      .redeem(pending.request_id, token, { poll_token: pending.poll_token, [key]: 1 })
      .catch((e: JitkeyError) => e);
    expect(err).toMatchObject({ code: 'invalid_request' });
    expect((err as JitkeyError).message).toMatch(/^unknown field 'xy+…': the body takes 'poll_token'$/);
    expect((err as JitkeyError).message.length).toBeLessThan(200);
    const [row] = await world.store.queryAudit({ outcome: 'denied', limit: 1 });
    expect(row).toMatchObject({ event: 'redeem', errorCode: 'invalid_request', claims: { run_id: '42' } });
    expect(row!.reason.length).toBeLessThan(200);
    await expect(
      world.approvals.redeem(pending.request_id, token, { poll_token: pending.poll_token }),
    ).resolves.toMatchObject({ role: 'db-admin' });
  });
});

describe('a flood of other requests (issue 16, item 9: filtered in the query)', () => {
  /** PENDING_SCAN_LIMIT pending requests, older than anything the test asks, for a role only bob decides. */
  async function flood(): Promise<void> {
    world.setPolicy(
      `${policyText()}  deploy:
    provider: aws
    aws: { role_arn: "arn:aws:iam::111122223333:role/deploy" }
    approval: { approvers: [bob], timeout: 30m }
    allow:
      - repository_id: "123456"
`,
    );
    const base = approvalRequest();
    for (let batch = 0; batch < PENDING_SCAN_LIMIT / 1000; batch++) {
      await Promise.all(
        Array.from({ length: 1000 }, (_, i) => {
          const n = batch * 1000 + i;
          const id = `req_flood${n}`;
          return world.store.createApprovalRequest(
            approvalRequest({
              id,
              role: 'deploy',
              createdAt: new Date(T0.getTime() - 60_000 + n),
              expiresAt: new Date(T0.getTime() + 1_800_000),
              claims: {
                ...base.claims,
                repository_id: '999',
                run_id: String(n),
                actor: 'octocat',
                actor_id: '1',
              },
            }),
            {
              at: T0,
              requestId: id,
              event: 'approval_request',
              outcome: 'pending',
              reason: 'flood',
              claims: {},
            },
          );
        }),
      );
    }
  }

  it("does not push an approver's request out of their listing", async () => {
    await flood();
    const mine = await ask();
    const listed = (await world.approvals.list('gho_alice')).requests.map((r) => r.request_id);
    expect(listed).toEqual([mine.request_id]);
    expect((await world.approvals.list('gho_bob')).requests).toHaveLength(PENDING_SCAN_LIMIT);
  });

  it("the console's queue reads only the newest it shows, and counts the rest in the query", async () => {
    await flood();
    // Bob's own job for a role he decides: neither shown nor counted.
    const own = approvalRequest();
    await world.store.createApprovalRequest(
      approvalRequest({
        id: 'req_bobs_own',
        role: 'deploy',
        createdAt: T0,
        expiresAt: new Date(T0.getTime() + 1_800_000),
        claims: { ...own.claims, run_id: 'own', actor: 'bob', actor_id: '1002' },
      }),
      {
        at: T0,
        requestId: 'req_bobs_own',
        event: 'approval_request',
        outcome: 'pending',
        reason: 'own',
        claims: {},
      },
    );
    const list = world.store.listApprovalRequests.bind(world.store);
    const read: number[] = [];
    world.store.listApprovalRequests = async (filter) => {
      const rows = await list(filter);
      read.push(rows.length);
      return rows;
    };
    const page = await world.approvals.queuePageAs({ login: 'bob', id: '1002' }, 200);
    expect(page.total).toBe(PENDING_SCAN_LIMIT);
    expect(page.items.map((q) => q.view.request_id)).toEqual(
      Array.from({ length: 200 }, (_, i) => `req_flood${PENDING_SCAN_LIMIT - 1 - i}`),
    );
    expect(read).toEqual([200]);
    expect((await world.approvals.queuePageAs({ login: 'alice', id: '1001' }, 200)).total).toBe(0);
  });

  it('does not hide a run’s own requests from its cap of 50', async () => {
    await flood();
    for (let i = 0; i < MAX_PENDING_PER_RUN; i++) await ask();
    await expect(ask()).rejects.toMatchObject({ code: 'rate_limited', status: 429 });
  });

  it('caps a Buildkite build at 50 too (its tokens are minted at will), and not the next build', async () => {
    const BK = 'https://agent.buildkite.com';
    world.setPolicy(`version: 1
issuers:
  - { url: ${ISSUER}, audience: jitkey }
  - { url: ${BK}, audience: jitkey, kind: buildkite }
defaults: { duration: 15m, max_duration: 1h }
roles:
  db-admin:
    provider: aws
    aws: { role_arn: "arn:aws:iam::111122223333:role/db-admin" }
    issuers: [${BK}]
    approval: { approvers: [alice], timeout: 30m }
    allow:
      - { organization_id: "0184990a-477b-4fa8-9968-496074483a77" }
`);
    const build = (number: number) => ({
      iss: BK,
      organization_slug: 'acme-inc',
      organization_id: '0184990a-477b-4fa8-9968-496074483a77',
      pipeline_slug: 'deploy',
      build_number: number,
    });
    for (let i = 0; i < MAX_PENDING_PER_RUN; i++) await ask({}, build(12));
    await expect(ask({}, build(12))).rejects.toMatchObject({
      code: 'rate_limited',
      status: 429,
      message: expect.stringContaining(`already has ${MAX_PENDING_PER_RUN} requests waiting for approval`),
    });
    expect((await ask({}, build(13))).status).toBe('pending');
  });
});

describe('re-runs (issue 16, item 5)', () => {
  it('whoever triggered the run attempt may not approve it, though the token names another actor', async () => {
    world.triggeredBy['42/2'] = '1001'; // alice clicked re-run
    const pending = await ask({}, { run_attempt: '2' });
    await expect(decide(pending.request_id, 'alice')).rejects.toMatchObject({ code: 'self_approval' });
    expect(world.runAsked).toEqual(['acme/db-ops#42/2']);
    expect((await world.store.queryAudit({ outcome: 'denied' }))[0]).toMatchObject({
      actor: 'alice',
      errorCode: 'self_approval',
    });
    expect((await decide(pending.request_id, 'carol')).status).toBe('approved');
  });

  it('fails closed: when GitHub cannot say who started the attempt, the approval is refused', async () => {
    const pending = await ask();
    world.githubDown = true;
    await expect(decide(pending.request_id, 'alice')).rejects.toMatchObject({ code: 'upstream_error' });
    expect((await world.approvals.status(pending.request_id, pending.poll_token)).status).toBe('pending');
  });

  it('a numeric actor_id claim still identifies the job’s own actor', async () => {
    const pending = await ask({}, { actor_id: 1001, actor: 'someone-else' });
    await expect(decide(pending.request_id, 'alice')).rejects.toMatchObject({ code: 'self_approval' });
  });
});

describe('redeeming', () => {
  it('the lease starts at redemption, for the duration asked at the exchange', async () => {
    const pending = await ask({ duration_seconds: 600 });
    await decide(pending.request_id, 'alice');
    world.clock.advance(120);
    const grant = await redeem(pending.request_id, pending.poll_token);
    expect(grant.expires_at).toBe(new Date(world.clock.now.getTime() + 600_000).toISOString());
    expect(await world.store.getApprovalRequest(pending.request_id)).toMatchObject({
      status: 'redeemed',
      leaseId: grant.lease_id,
      redeemedAt: world.clock.now,
    });
    expect((await world.store.getLease(grant.lease_id))?.runId).toBe('42');
  });

  it('checks the policy again with the fresh token: a policy changed since is obeyed', async () => {
    const pending = await ask({ duration_seconds: 900 });
    await decide(pending.request_id, 'alice');
    world.setPolicy(policyText({ ref: 'refs/heads/release' }));
    await expect(redeem(pending.request_id, pending.poll_token)).rejects.toMatchObject({
      code: 'access_denied',
    });
    world.setPolicy(policyText({ max: '5m' }));
    await expect(redeem(pending.request_id, pending.poll_token)).rejects.toMatchObject({
      code: 'invalid_request',
    });
    expect(world.minted).toBe(0);
    world.setPolicy(policyText());
    await expect(redeem(pending.request_id, pending.poll_token)).resolves.toMatchObject({ role: 'db-admin' });
  });

  it('only from the same run: repository_id, run_id and run_attempt must match', async () => {
    const pending = await ask();
    await decide(pending.request_id, 'alice');
    for (const claims of [
      { run_id: '43' },
      { run_attempt: '2' },
      { repository_id: '999' },
      { run_id: undefined },
    ]) {
      await expect(redeem(pending.request_id, pending.poll_token, claims)).rejects.toMatchObject({
        code: 'access_denied',
      });
    }
    expect(world.minted).toBe(0);
    await expect(redeem(pending.request_id, pending.poll_token)).resolves.toMatchObject({
      role: 'db-admin',
      credentials: { access_key_id: 'AKIA1' },
    });
    expect(world.minted).toBe(1);
  });

  it('only from the same issuer: a GHES token with the same ids as the GitHub.com run is refused', async () => {
    const ghes = 'https://ghes.acme.example/_services/token';
    // Both issuers are trusted for the role, so only the same-run check tells the two runs apart.
    world.setPolicy(
      policyText()
        .replace(
          /^issuers: .*$/m,
          `issuers: [{ url: ${ISSUER}, audience: jitkey }, { url: ${ghes}, audience: jitkey }]`,
        )
        .replaceAll('    provider: aws\n', `    provider: aws\n    issuers: [${ISSUER}, ${ghes}]\n`),
    );
    const pending = await ask();
    await decide(pending.request_id, 'alice');
    await expect(redeem(pending.request_id, pending.poll_token, { iss: ghes })).rejects.toMatchObject({
      code: 'access_denied',
      message: expect.stringContaining(`iss '${ghes}'`),
    });
    expect(world.minted).toBe(0);
    await expect(redeem(pending.request_id, pending.poll_token)).resolves.toMatchObject({ role: 'db-admin' });
  });

  it('exactly once, also when redemptions race: the losers’ credentials are never handed out', async () => {
    const pending = await ask();
    await decide(pending.request_id, 'alice');
    const results = await Promise.allSettled(
      Array.from({ length: 4 }, () => redeem(pending.request_id, pending.poll_token)),
    );
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    expect(results.flatMap((r) => (r.status === 'rejected' ? [r.reason] : []))).toEqual(
      Array(3).fill(expect.objectContaining({ code: 'already_redeemed' })),
    );
    const leases = (await world.store.queryAudit({ outcome: 'allowed' })).filter((r) => r.event === 'redeem');
    expect(leases).toHaveLength(1);
  });

  it('a wrong poll token is not_found, before anything else is said', async () => {
    const pending = await ask();
    await expect(redeem(pending.request_id, 'guess')).rejects.toMatchObject({ code: 'not_found' });
    await expect(world.approvals.status(pending.request_id, 'guess')).rejects.toMatchObject({
      code: 'not_found',
    });
    await expect(world.approvals.status('req_none', pending.poll_token)).rejects.toMatchObject({
      code: 'not_found',
    });
  });
});
