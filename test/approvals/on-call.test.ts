/**
 * On-call auto-approval (issue 27, item 4) against a PagerDuty stand-in on loopback, with a real
 * store (SQLite in memory), the real policy and an injected clock.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ApproverDirectory } from '../../exchanger/approvals/approvers.js';
import { approvalConfig } from '../../exchanger/approvals/context.js';
import { pagerDuty } from '../../exchanger/approvals/pagerduty.js';
import { type Approvals, createApprovals } from '../../exchanger/approvals/service.js';
import { loadPolicy } from '../../exchanger/policy/load/load-policy.js';
import type { Role } from '../../exchanger/policy/model/types.js';
import { openStore } from '../../exchanger/store/open.js';
import type { Store } from '../../exchanger/store/types.js';
import { fixedDeps } from '../support/app-policy.js';
import { type PagerDutyStandin, startPagerDutyStandin } from '../support/pagerduty-standin.js';

const T0 = new Date('2025-03-01T12:00:00.000Z');
const ISSUER = 'https://token.actions.githubusercontent.com';
const HOOK = 'https://hooks.acme.example/jitkey';

const policyText = (onCall: string) => `version: 1
issuers: [{ url: ${ISSUER}, audience: jitkey }]
roles:
  db-admin:
    provider: aws
    aws: { role_arn: "arn:aws:iam::111122223333:role/db-admin" }
    approval:
      approvers: [alice]
      timeout: 30m
      notify: ${HOOK}
${onCall}    allow:
      - repository_id: "123456"
`;

const ON_CALL = `      auto_approve_on_call:
        pagerduty: { schedule_ids: [PSCHED1, PSCHED2] }
        oncall_users: { octocat: Jane@Acme.com, hubot: PHUBOT1, "4242": PIDMAP1 }
        max_per_day: 2
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

const NOW_ON_CALL = { start: '2025-03-01T08:00:00Z', end: '2025-03-01T20:00:00Z' };

let pd: PagerDutyStandin;
let store: Store;
let approvals: Approvals;
let clock: Date;
let notified: string[];
let triggeredBy: string | undefined;
let n = 0;

async function setup(onCall = ON_CALL) {
  store = await openStore('sqlite::memory:', { purgeIntervalMs: 0 });
  const policy = loadPolicy(policyText(onCall), 'policy.yaml');
  clock = T0;
  notified = [];
  triggeredBy = undefined;
  const github: ApproverDirectory = {
    async getUser() {
      throw new Error('not used');
    },
    async isTeamMember() {
      return false;
    },
    async getRunAttempt(_o, _r, _id, attempt) {
      // The first attempt was started by the job's actor; a re-run by someone else (id 7).
      return { actorId: '1', triggeringActorId: attempt === '1' ? triggeredBy : '7' };
    },
  };
  const fetch = (async (url: string | URL | Request, init?: RequestInit) => {
    if (String(url).startsWith(HOOK)) {
      notified.push(String(url));
      return new Response(null, { status: 204 });
    }
    return globalThis.fetch(url, init);
  }) as typeof globalThis.fetch;
  approvals = createApprovals({
    policy: () => policy,
    verifier: () => {
      throw new Error('no tokens here');
    },
    ...fixedDeps(),
    store,
    providers: {},
    now: () => clock,
    github,
    fetch,
    onCall: pagerDuty({ token: pd.token, baseUrl: pd.url }),
  });
  return policy.roles.get('db-admin') as Role;
}

async function open(role: Role, claims: Record<string, string> = {}, appGithub = true) {
  const id = `req_${++n}`;
  triggeredBy = claims.actor_id ?? JOB.actor_id;
  const pending = await approvals.open({ requestId: id, role, claims: { ...JOB, ...claims }, appGithub });
  await approvals.settled();
  return { id, status: await approvals.status(id, pending.poll_token) };
}

const reasons = async (id: string) => (await store.queryAudit({ requestId: id })).map((r) => r.reason);

beforeEach(async () => {
  pd = await startPagerDutyStandin();
  pd.oncalls.push(
    {
      user: { id: 'PJANE01', summary: 'Jane', email: 'jane@acme.com' },
      schedule: { id: 'PSCHED2' },
      ...NOW_ON_CALL,
    },
    { user: { id: 'PHUBOT1', summary: 'Hubot' }, schedule: { id: 'POTHER9' }, ...NOW_ON_CALL },
  );
});
afterEach(async () => {
  await store.close();
  await pd.stop();
});

describe('on-call auto-approval', () => {
  it('approves a request from an on-call actor at once, audited, and asks PagerDuty as documented', async () => {
    const role = await setup();
    const { id, status } = await open(role);
    expect(status).toMatchObject({ status: 'approved', approvals: [{ login: 'octocat' }] });
    expect(await reasons(id)).toContainEqual(
      expect.stringMatching(/^auto-approved: octocat on call in PagerDuty schedule PSCHED2;/),
    );
    const [row] = (await store.queryAudit({ requestId: id })).filter((r) => r.event === 'approve');
    expect(row).toMatchObject({ outcome: 'allowed', actor: 'on-call:pagerduty' });
    expect(pd.queries).toHaveLength(1);
    expect(pd.queries[0]).toEqual({
      authorized: true,
      params: {
        'schedule_ids[]': ['PSCHED1', 'PSCHED2'],
        since: '2025-03-01T12:00:00.000Z',
        until: '2025-03-01T12:00:01.000Z',
        'include[]': ['users'],
        limit: '100',
        offset: '0',
      },
    });
    // Approvers are not asked about a request that no longer needs them.
    expect(notified).toEqual([]);
  });

  it('leaves an actor who is not on call waiting, and says so', async () => {
    const role = await setup();
    // hubot is on call, but in a schedule this role does not name.
    const { id, status } = await open(role, { actor: 'hubot', actor_id: '99' });
    expect(status.status).toBe('pending');
    expect(await reasons(id)).toContainEqual(
      'not auto-approved: hubot is not on call now in PagerDuty schedule PSCHED1, PSCHED2; waiting for approvers',
    );
    expect(notified).toEqual([HOOK]);
  });

  it("is the App's GitHub's only: another issuer's token naming the on-call actor waits, and PagerDuty is not asked", async () => {
    const role = await setup();
    // The claims of the first test, which was approved at once; from another issuer (another
    // CI's, or a second GitHub's).
    const { status } = await open(role, {}, false);
    expect(status.status).toBe('pending');
    expect(pd.queries).toEqual([]);
  });

  it('never guesses: an actor the policy does not map waits, and PagerDuty is not asked', async () => {
    const role = await setup();
    const { status } = await open(role, { actor: 'jane', actor_id: '55' });
    expect(status.status).toBe('pending');
    expect(pd.queries).toEqual([]);
  });

  it('maps by GitHub user id too, and by PagerDuty user id without asking for emails', async () => {
    pd.oncalls.push({
      user: { id: 'PIDMAP1', summary: 'Renamed' },
      schedule: { id: 'PSCHED1' },
      ...NOW_ON_CALL,
    });
    const role = await setup();
    const { status } = await open(role, { actor: 'new-login', actor_id: '4242' });
    expect(status.status).toBe('approved');
    expect(pd.queries[0]!.params['include[]']).toBeUndefined();
  });

  it('maps a pinned login:id by the id alone: a renamed account still, its old login re-registered not', async () => {
    const pinned = ON_CALL.replace('octocat: Jane@Acme.com', '"octocat:1": Jane@Acme.com');
    const renamed = await open(await setup(pinned), { actor: 'octocat-renamed', actor_id: '1' });
    expect(renamed.status.status).toBe('approved');
    await store.close();
    pd.queries.length = 0;
    const squatter = await open(await setup(pinned), { actor: 'octocat', actor_id: '666' });
    expect(squatter.status.status).toBe('pending');
    expect(pd.queries).toEqual([]);
  });

  it('holds the per-role daily limit, counted in the store, and starts again the next UTC day', async () => {
    const role = await setup();
    expect((await open(role)).status.status).toBe('approved');
    expect((await open(role)).status.status).toBe('approved');
    const third = await open(role);
    expect(third.status.status).toBe('pending');
    expect(await reasons(third.id)).toContainEqual(
      'not auto-approved: role db-admin has had its 2 on-call auto-approvals today (UTC); waiting for approvers',
    );
    pd.oncalls[0]!.end = null;
    clock = new Date('2025-03-02T00:00:05.000Z');
    expect((await open(role)).status.status).toBe('approved');
  });

  it('holds it for requests that come at once (a matrix): each reads the count after the last wrote', async () => {
    const role = await setup();
    // PagerDuty answers the six together, so their counts are read in one turn of the loop.
    pd.gather = 6;
    const answers = await Promise.all(Array.from({ length: 6 }, () => open(role)));
    expect(answers.filter((a) => a.status.status === 'approved')).toHaveLength(2);
  });

  it('falls back to waiting when PagerDuty answers 500, audited', async () => {
    const role = await setup();
    pd.failWith = 500;
    const { id, status } = await open(role);
    expect(status.status).toBe('pending');
    const row = (await store.queryAudit({ requestId: id })).find((r) =>
      r.reason.startsWith('not auto-approved'),
    );
    expect(row).toMatchObject({
      outcome: 'error',
      reason:
        'not auto-approved: the on-call check failed (PagerDuty answered 500 to GET /oncalls); waiting for approvers',
    });
    expect(notified).toEqual([HOOK]);
  });

  it('sends the token PagerDuty expects (a wrong one is refused and the request waits)', async () => {
    const role = await setup();
    const wrong = pagerDuty({ token: 'pd_wrong', baseUrl: pd.url });
    await expect(wrong.onCallIn(['PSCHED2'], { id: 'PJANE01' }, T0)).rejects.toThrow(
      'PagerDuty answered 401',
    );
    expect(pd.queries.at(-1)!.authorized).toBe(false);
    expect((await open(role)).status.status).toBe('approved');
    expect(pd.queries.at(-1)!.authorized).toBe(true);
  });

  it('does not auto-approve a re-run started by someone else', async () => {
    const role = await setup();
    const { id, status } = await open(role, { run_attempt: '2' });
    expect(status.status).toBe('pending');
    expect(await reasons(id)).toContainEqual(
      'not auto-approved: attempt 2 was not started by octocat; waiting for approvers',
    );
  });
});

describe('policy', () => {
  it.each([
    ['        pagerduty: { schedule_ids: [PS1] }\n', "missing required key 'oncall_users'"],
    [
      '        pagerduty: { schedule_ids: [ps-1] }\n        oncall_users: { a: x@y.z }\n',
      'not a PagerDuty schedule id',
    ],
    [
      '        pagerduty: { schedule_ids: [PS1] }\n        oncall_users: { a: Jane }\n',
      'neither an email nor a PagerDuty user id',
    ],
    [
      '        pagerduty: { schedule_ids: [PS1] }\n        oncall_users: { a: x@y.z }\n        max_per_day: 0\n',
      'max_per_day must be at least 1',
    ],
  ])('refuses %j', (body, message) => {
    expect(() => loadPolicy(policyText(`      auto_approve_on_call:\n${body}`), 'policy.yaml')).toThrow(
      message,
    );
  });
});

describe('the on-call approval in force (approvalConfig)', () => {
  const request = {
    role: 'db-admin',
    approvers: ['alice'],
    required: 1,
    claims: { actor: 'octocat', actor_id: '1' },
  };
  const schedules = (onCall: string) =>
    approvalConfig(loadPolicy(policyText(onCall), 'policy.yaml'), request, new Date()).onCallSchedules;

  it("stands while the role auto-approves on call and maps the job's actor", () => {
    expect(schedules(ON_CALL)).toEqual(['PSCHED1', 'PSCHED2']);
  });

  it('lapses when a reload no longer maps the actor, or drops auto-approval', () => {
    expect(schedules(ON_CALL.replace('octocat: Jane@Acme.com, ', ''))).toEqual([]);
    expect(schedules('')).toEqual([]);
  });
});
