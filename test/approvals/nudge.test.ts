/**
 * Reminders and escalation (issue 27, item 4) with a real store (SQLite in memory), the real
 * policy, an injected clock and a recording fetch: each pass of the timer is driven by hand, so
 * nothing sleeps and nothing is timed.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ApproverDirectory } from '../../exchanger/approvals/approvers.js';
import { createNudges, type Nudges } from '../../exchanger/approvals/nudge.js';
import { type Approvals, createApprovals } from '../../exchanger/approvals/service.js';
import { JitkeyError } from '../../exchanger/errors.js';
import { loadPolicy } from '../../exchanger/policy/load/load-policy.js';
import type { Policy, Role } from '../../exchanger/policy/model/types.js';
import { openStore } from '../../exchanger/store/open.js';
import type { Store } from '../../exchanger/store/types.js';
import { fixedDeps } from '../support/app-policy.js';

const T0 = new Date('2025-03-01T12:00:00.000Z');
const ISSUER = 'https://token.actions.githubusercontent.com';
const HOOK = 'https://hooks.acme.example/jitkey';
const PAGER = 'https://hooks.slack.com/services/T0/B0/escalation';

const nudgePolicy = (approval = '') => `version: 1
issuers: [{ url: ${ISSUER}, audience: jitkey }]
roles:
  db-admin:
    provider: aws
    aws: { role_arn: "arn:aws:iam::111122223333:role/db-admin" }
    approval:
      approvers: [alice]
      timeout: 30m
      notify: ${HOOK}
${approval}    allow:
      - repository_id: "123456"
`;

const NUDGED = `      remind_every: 10m
      escalate:
        after: 15m
        approvers: [dave, acme/sre]
        notify: { slack: ${PAGER} }
`;

const JOB = {
  iss: ISSUER,
  repository: 'acme/db-ops',
  repository_id: '123456',
  ref: 'refs/heads/main',
  actor: 'octocat',
  actor_id: '1',
  run_id: '42',
  run_attempt: '1',
};

const USERS: Record<string, { login: string; id: number }> = {
  gho_alice: { login: 'alice', id: 1001 },
  gho_dave: { login: 'dave', id: 1004 },
  gho_erin: { login: 'erin', id: 1005 },
};

interface World {
  store: Store;
  clock: { now: Date; at(minutes: number): void };
  policy: Policy;
  approvals: Approvals;
  nudges(): Nudges;
  sent: Array<{ url: string; body: Record<string, unknown> }>;
  open(id?: string): Promise<string>;
  pollTokens: Map<string, string>;
}

let w: World;

async function makeWorld(approval = NUDGED): Promise<World> {
  const store = await openStore('sqlite::memory:', { purgeIntervalMs: 0 });
  const clock = {
    now: T0,
    at(minutes: number) {
      clock.now = new Date(T0.getTime() + minutes * 60_000);
    },
  };
  const policy = loadPolicy(nudgePolicy(approval), 'policy.yaml');
  const sent: World['sent'] = [];
  const fetch = (async (url: string | URL | Request, init?: RequestInit) => {
    sent.push({ url: String(url), body: JSON.parse(String(init?.body)) });
    return new Response(null, { status: 204 });
  }) as typeof globalThis.fetch;
  const github: ApproverDirectory = {
    async getUser(token) {
      const user = USERS[token];
      if (!user) throw new JitkeyError('invalid_token', 'GitHub did not accept this GitHub token (401)');
      return user;
    },
    async isTeamMember(org, slug, login) {
      return `${org}/${slug}` === 'acme/sre' && login === 'erin';
    },
    async getRunAttempt() {
      return { actorId: '1', triggeringActorId: '1' };
    },
  };
  const deps = {
    policy: () => policy,
    verifier: () => {
      throw new Error('no tokens in these tests');
    },
    ...fixedDeps(),
    store,
    providers: {},
    now: () => clock.now,
    github,
    fetch,
    publicUrl: 'https://jitkey.acme.example',
  };
  const approvals = createApprovals(deps);
  let n = 0;
  const pollTokens = new Map<string, string>();
  return {
    pollTokens,
    store,
    clock,
    policy,
    approvals,
    sent,
    nudges: () => createNudges(deps),
    async open(id = `req_${++n}`) {
      const role = policy.roles.get('db-admin') as Role;
      const pending = await approvals.open({ requestId: id, role, claims: JOB, appGithub: true });
      pollTokens.set(id, pending.poll_token);
      await approvals.settled();
      sent.length = 0; // the request's own notification is not what these tests are about
      return id;
    },
  };
}

async function pass(nudges: Nudges) {
  const result = await nudges.tick();
  await nudges.settled();
  return result;
}

const reminders = () => w.sent.filter((s) => s.body.event === 'approval_reminder');

afterEach(async () => {
  await w.store.close();
});

describe('reminders', () => {
  beforeEach(async () => {
    w = await makeWorld();
  });

  it('tell the notify target again at each interval while the request waits, once each', async () => {
    const id = await w.open();
    const nudges = w.nudges();
    w.clock.at(9);
    expect((await pass(nudges)).reminders).toBe(0);
    w.clock.at(10);
    expect((await pass(nudges)).reminders).toBe(1);
    expect(reminders()).toEqual([
      { url: HOOK, body: expect.objectContaining({ event: 'approval_reminder', request_id: id }) },
    ]);
    expect((await pass(nudges)).reminders).toBe(0);
    w.clock.at(20);
    expect((await pass(nudges)).reminders).toBe(1);
    expect(reminders()).toHaveLength(2);
    // Expired at 30m: nobody is reminded of a request that can no longer be approved.
    w.clock.at(30);
    expect((await pass(nudges)).reminders).toBe(0);
    const rows = await w.store.queryAudit({ requestId: id });
    expect(rows.map((r) => r.reason).filter((r) => r.startsWith('reminder'))).toEqual([
      expect.stringMatching(/^reminder 2 sent: 0 of 1 approvals from alice; expires at 2025-03-01T12:30/),
      expect.stringMatching(/^reminder 1 sent/),
    ]);
  });

  it('are not sent again after a restart over the same store, nor skipped', async () => {
    const id = await w.open();
    w.clock.at(10);
    await pass(w.nudges());
    expect(reminders()).toHaveLength(1);
    // A new process over the same store: reminder 1 is in the audit trail.
    w.clock.at(11);
    expect((await pass(w.nudges())).reminders).toBe(0);
    // It was down while reminder 2 fell due: it sends it once, late, not twice.
    w.clock.at(25);
    const later = w.nudges();
    expect((await pass(later)).reminders).toBe(1);
    expect((await pass(w.nudges())).reminders).toBe(0);
    expect(reminders().map((s) => s.body.request_id)).toEqual([id, id]);
  });

  it('stop once the request is decided', async () => {
    const id = await w.open();
    w.clock.at(5);
    await w.approvals.decide(id, 'gho_alice', { kind: 'approve' });
    w.clock.at(10);
    expect((await pass(w.nudges())).reminders).toBe(0);
    expect(w.sent).toEqual([]);
  });
});

describe('escalation', () => {
  beforeEach(async () => {
    w = await makeWorld();
  });

  it('lets the second list decide only once the delay has passed', async () => {
    const id = await w.open();
    w.clock.at(14);
    await expect(w.approvals.decide(id, 'gho_dave', { kind: 'approve' })).rejects.toMatchObject({
      code: 'access_denied',
    });
    await expect(w.approvals.decide(id, 'gho_erin', { kind: 'approve' })).rejects.toMatchObject({
      code: 'access_denied',
    });
    w.clock.at(15);
    const view = await w.approvals.decide(id, 'gho_erin', { kind: 'approve' });
    expect(view.status).toBe('approved');
  });

  it('tells the escalation target once, even across a restart', async () => {
    const id = await w.open();
    w.clock.at(14);
    expect((await pass(w.nudges())).escalations).toBe(0);
    w.clock.at(15);
    expect((await pass(w.nudges())).escalations).toBe(1);
    const told = w.sent.filter((s) => s.url === PAGER);
    expect(told).toHaveLength(1);
    expect(JSON.stringify(told[0]!.body)).toContain(id);
    w.clock.at(16);
    expect((await pass(w.nudges())).escalations).toBe(0);
    const rows = await w.store.queryAudit({ requestId: id });
    expect(rows.some((r) => /^escalated after 15m .*dave, acme\/sre may now decide too/.test(r.reason))).toBe(
      true,
    );
  });

  it('is not there without the policy key', async () => {
    await w.store.close();
    w = await makeWorld('');
    const id = await w.open();
    w.clock.at(29);
    expect(await pass(w.nudges())).toEqual({ reminders: 0, escalations: 0 });
    await expect(w.approvals.decide(id, 'gho_dave', { kind: 'approve' })).rejects.toBeInstanceOf(JitkeyError);
  });
});

describe('expiry', () => {
  it('tells the job that nobody answered in time, and who could have approved', async () => {
    w = await makeWorld('');
    const id = await w.open();
    w.clock.at(30);
    const status = await w.approvals.status(id, w.pollTokens.get(id)!);
    expect(status).toMatchObject({
      status: 'expired',
      reason:
        'nobody approved it within its 30m timeout (0 of 1 approvals); it could have been approved by alice',
    });
  });
});

describe('policy', () => {
  it.each([
    ['      remind_every: 30s\n', 'remind_every must be at least 1m'],
    ['      remind_every: 30m\n', 'must be shorter than timeout'],
    ['      escalate: { after: 45m, approvers: [dave] }\n', 'the request would expire first'],
    ['      escalate: { after: 5m, approvers: [not a login] }\n', 'neither a GitHub login'],
    ['      escalate: { approvers: [dave] }\n', "missing required key 'after'"],
  ])('refuses %j', (approval, message) => {
    expect(() => loadPolicy(nudgePolicy(approval), 'policy.yaml')).toThrow(message);
  });

  it('refuses remind_every without notify', () => {
    const text = nudgePolicy('      remind_every: 10m\n').replace(`      notify: ${HOOK}\n`, '');
    expect(() => loadPolicy(text, 'policy.yaml')).toThrow('remind_every needs');
  });
});
