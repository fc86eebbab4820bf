/**
 * Lease activity, AWS (issue 26, item 2), end to end: a job gets AWS credentials and uses them
 * (the STS stand-in records the calls made with its key); those calls reach the CloudTrail
 * stand-in as records that appear only after a delivery delay; `jitkey serve`'s background
 * collector finds them with LookupEvents by AccessKeyId, and `jitkey audit lease ID` lists them.
 * A throttled CloudTrail delays the collection and loses nothing.
 */
import { GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CloudTrailStandin, startCloudTrailStandin, stsCalls } from '../support/cloudtrail-standin.js';
import { eventually } from '../support/eventually.js';
import { runCli } from '../support/exchanger-process.js';
import { type GithubStandin, githubAppEnv, startGithubStandin } from '../support/github-standin.js';
import { leaseActivity } from '../support/lease-activity.js';
import { policyFor, ROLE_ARN, type Stack, startStack } from '../support/stack.js';

let stack: Stack;
let trail: CloudTrailStandin;
let gh: GithubStandin;
const USERS = {
  alice: { token: 'gho_alice_token_0001', login: 'alice', id: 1001 },
  carol: { token: 'gho_carol_token_0003', login: 'Carol', id: 1003 },
  mallory: { token: 'gho_mallory_token_0666', login: 'mallory', id: 1666 },
};

beforeAll(async () => {
  trail = await startCloudTrailStandin({ deliveryDelayMs: 1500, pageSize: 2 });
  gh = await startGithubStandin({
    installations: [{ owner: 'acme', permissions: { members: 'read' }, repositories: ['web'] }],
    users: Object.fromEntries(Object.values(USERS).map((u) => [u.token, { login: u.login, id: u.id }])),
    teams: { 'acme/platform-leads': ['carol'] },
  });
  stack = await startStack({
    policy: (issuer) =>
      policyFor(
        issuer,
        `  guarded:
    provider: aws
    aws: { role_arn: ${ROLE_ARN}, region: us-east-1 }
    forbid_actions: [iam:CreateUser, sts:GetCaller*]
    allow:
      - repository_id: "123456"
admins: [alice, acme/platform-leads]
`,
      ),
    exchanger: {
      env: {
        ...githubAppEnv(gh),
        JITKEY_LEASE_ACTIVITY: 'aws',
        JITKEY_ACTIVITY_POLL_INTERVAL: '1s',
        JITKEY_ACTIVITY_HORIZON: '1h',
        // CloudTrail's back-off (50, 100, 200, 400 ms) and the retry after a poll that stayed
        // throttled, short: the throttling test waits through both, not through 1+2+4+8+30 s.
        JITKEY_ACTIVITY_THROTTLE_BACKOFF: '50ms',
        JITKEY_ACTIVITY_THROTTLED_RETRY: '500ms',
        AWS_ENDPOINT_URL_CLOUDTRAIL: trail.url,
      },
    },
  });
  trail.feed(stsCalls(stack.sts));
});
afterAll(async () => {
  await stack?.stop();
  await trail?.stop();
  await gh?.stop();
});

interface Granted {
  lease_id: string;
  credentials: { access_key_id: string; secret_access_key: string; session_token: string };
}

async function grant(role = 'deploy'): Promise<Granted> {
  const res = await stack.exchange(stack.idp.mint(), { role });
  expect(res.status).toBe(200);
  return res.body as Granted;
}

/** The job uses its credentials: `count` calls to STS with them. */
async function use(g: Granted, count: number): Promise<void> {
  const client = new STSClient({
    region: 'us-east-1',
    endpoint: stack.sts.url,
    credentials: {
      accessKeyId: g.credentials.access_key_id,
      secretAccessKey: g.credentials.secret_access_key,
      sessionToken: g.credentials.session_token,
    },
  });
  try {
    for (let i = 0; i < count; i++) await client.send(new GetCallerIdentityCommand({}));
  } finally {
    client.destroy();
  }
}

const activity = (leaseId: string) => leaseActivity(stack.exchanger.store, leaseId);

const eventsOf = (leaseId: string, count: number) =>
  eventually(
    async () => {
      const { text, json } = await activity(leaseId);
      return json.events.length >= count ? { text, json } : undefined;
    },
    `${count} events in lease ${leaseId}'s activity`,
    1200,
  );

describe('lease activity from CloudTrail', () => {
  it("lists the calls made with each lease's key, and only those", async () => {
    const first = await grant();
    const second = await grant(); // a renewal: a lease of its own, a key of its own
    await use(first, 3);
    await use(second, 1);
    const { text, json } = await eventsOf(first.lease_id, 3);
    expect(json).toMatchObject({ lease_id: first.lease_id, role: 'deploy', provider: 'aws' });
    expect(json.credentials).toEqual([
      expect.objectContaining({
        provider: 'aws',
        key_id: first.credentials.access_key_id,
        account: '111122223333',
        region: 'us-east-1',
        status: 'collecting',
      }),
    ]);
    expect(json.events).toHaveLength(3);
    for (const e of json.events) {
      expect(e).toMatchObject({
        name: 'GetCallerIdentity',
        source: 'sts.amazonaws.com',
        region: 'us-east-1',
        read_only: true,
        key_id: first.credentials.access_key_id,
        resources: [],
      });
    }
    // Key ids name a credential; the secret parts, and the record's request parameters, are never kept.
    expect(text).not.toContain(first.credentials.secret_access_key);
    expect(text).not.toContain(first.credentials.session_token);
    expect(text).not.toContain('never stored by jitkey');
    const other = await eventsOf(second.lease_id, 1);
    expect(other.json.events.map((e: { key_id: string }) => e.key_id)).toEqual([
      second.credentials.access_key_id,
    ]);
    // Every lookup was signed, by AccessKeyId, for a key jitkey issued.
    const issued = new Set([first.credentials.access_key_id, second.credentials.access_key_id]);
    expect(trail.lookups.filter((l) => l.status === 200).every((l) => issued.has(l.accessKeyId))).toBe(true);
    expect(trail.lookups.some((l) => l.nextToken)).toBe(true);
  });

  it('a throttled CloudTrail delays the collection and loses nothing', async () => {
    const g = await grant();
    await use(g, 5);
    const throttledBefore = trail.lookups.filter((l) => l.error === 'ThrottlingException').length;
    // One more than a poll waits through (5): the poll gives up, and a later one reads it all.
    trail.throttleNext(6);
    const { json } = await eventsOf(g.lease_id, 5);
    expect(json.events).toHaveLength(5);
    expect(new Set(json.events.map((e: { event_id: string }) => e.event_id)).size).toBe(5);
    expect(trail.lookups.filter((l) => l.error === 'ThrottlingException').length).toBeGreaterThanOrEqual(
      throttledBefore + 6,
    );
  });

  it('the table names the lease, its key and what it did', async () => {
    const g = await grant();
    await use(g, 1);
    await eventsOf(g.lease_id, 1);
    const { code, stdout } = await runCli(['audit', 'lease', g.lease_id, '--store', stack.exchanger.store]);
    expect(code).toBe(0);
    expect(stdout).toContain(`lease ${g.lease_id}: role deploy (aws)`);
    expect(stdout).toContain(
      `aws key ${g.credentials.access_key_id} (111122223333, us-east-1), by access key: collecting`,
    );
    expect(stdout).toMatch(
      /TIME +SOURCE +EVENT +REGION +READ +ERROR +RESOURCES\n.*sts\.amazonaws\.com +GetCallerIdentity +us-east-1 +yes/,
    );
  });

  it('an unknown lease is said plainly', async () => {
    const { code, stderr } = await runCli(['audit', 'lease', 'lease_nope', '--store', stack.exchanger.store]);
    expect(code).toBe(1);
    expect(stderr).toContain('no lease lease_nope');
  });

  it('GET /v1/leases/{id}/activity answers the admins, by login or team, and nobody else', async () => {
    const g = await grant();
    await use(g, 2);
    await eventsOf(g.lease_id, 2);
    const get = async (token: string | undefined, id = g.lease_id) => {
      const res = await fetch(`${stack.exchanger.url}/v1/leases/${id}/activity`, {
        headers: token ? { authorization: `Bearer ${token}` } : {},
      });
      // biome-ignore lint/suspicious/noExplicitAny: answers are inspected field by field
      return { status: res.status, body: (await res.json()) as any };
    };
    const byLogin = await get(USERS.alice.token);
    expect(byLogin.status).toBe(200);
    expect(byLogin.body).toMatchObject({ lease_id: g.lease_id, role: 'deploy', provider: 'aws' });
    expect(byLogin.body.events.map((e: { name: string }) => e.name)).toEqual([
      'GetCallerIdentity',
      'GetCallerIdentity',
    ]);
    expect((await get(USERS.carol.token)).status).toBe(200); // through acme/platform-leads
    const other = await get(USERS.mallory.token);
    expect(other).toMatchObject({ status: 403, body: { error: 'access_denied' } });
    expect(JSON.stringify(other.body)).not.toContain('GetCallerIdentity');
    expect((await get(undefined)).status).toBe(401);
    expect(await get(USERS.alice.token, 'lease_nope')).toMatchObject({
      status: 404,
      body: { error: 'not_found' },
    });
  });

  it("flags, once, an action the role's forbid_actions names: an audit row and a metric", async () => {
    const g = await grant('guarded');
    await use(g, 2);
    await eventsOf(g.lease_id, 2);
    const flagged = async () => {
      const { code, stdout } = await runCli([
        'audit',
        '--store',
        stack.exchanger.store,
        '--json',
        '--role',
        'guarded',
      ]);
      expect(code).toBe(0);
      return stdout
        .trimEnd()
        .split('\n')
        .map((line) => JSON.parse(line))
        .filter((r) => r.event === 'activity');
    };
    const rows = await eventually(
      async () => ((await flagged()).length >= 2 ? flagged() : undefined),
      'two flags',
    );
    expect(rows).toHaveLength(2);
    for (const row of rows) {
      expect(row).toMatchObject({
        outcome: 'denied',
        error_code: 'forbidden_action',
        lease_id: g.lease_id,
        role: 'guarded',
      });
      expect(row.reason).toContain(
        "lease used sts:GetCallerIdentity, which role 'guarded' forbids (sts:GetCaller*)",
      );
    }
    // The next polls read the same events again: nothing is flagged twice.
    const seen = trail.lookups.length;
    await eventually(() => (trail.lookups.length > seen + 2 ? true : undefined), 'two more lookups');
    expect(await flagged()).toHaveLength(2);
    const metrics = await (await fetch(`${stack.exchanger.url}/metrics`)).text();
    expect(metrics).toContain(
      'jitkey_forbidden_actions_total{role="guarded",action="sts:GetCallerIdentity"} 2',
    );
    // The deploy role forbids nothing: its leases' many GetCallerIdentity calls flagged none.
    const { stdout } = await runCli(['audit', '--store', stack.exchanger.store, '--json']);
    const everyFlag = stdout
      .trimEnd()
      .split('\n')
      .map((line) => JSON.parse(line))
      .filter((r) => r.event === 'activity');
    expect(everyFlag.map((r) => r.lease_id)).toEqual([g.lease_id, g.lease_id]);
  });
});
