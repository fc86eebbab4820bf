/**
 * Break-glass end to end (`jitkey serve` as a process, the GitHub stand-in): a run the policy's
 * `break_glass.allowed` names gets the role at once; every approver is notified; the retro review
 * stays open, in `jitkey audit --break-glass` and the metrics, until `reviews_required` approvers
 * acknowledged it (`POST /v1/requests/{id}/acknowledge`; not the person who used it, not someone
 * who is no approver). Anyone else, and a re-run started by someone else, waits for an approval.
 */

import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startWebhook, USERS, type UserName, type Webhook } from '../approvals/support.js';
import { eventually } from '../support/eventually.js';
import { runCli } from '../support/exchanger-process.js';
import { type GithubStandin, githubAppEnv, startGithubStandin } from '../support/github-standin.js';
import { type OidcIssuer, startOidcIssuer } from '../support/oidc-issuer.js';
import { type Answer, policyFor, ROLE_ARN, type Stack, startStack } from '../support/stack.js';

let gh: GithubStandin;
let hook: Webhook;
let stack: Stack;

beforeAll(async () => {
  hook = await startWebhook();
  gh = await startGithubStandin({
    installations: [
      { owner: 'acme', permissions: { members: 'read', actions: 'read' }, repositories: ['web'] },
    ],
    users: Object.fromEntries(Object.values(USERS).map((u) => [u.token, { login: u.login, id: u.id }])),
  });
  const roles = `  emergency:
    provider: aws
    aws: { role_arn: ${ROLE_ARN} }
    approval:
      approvers: [alice, bob, octocat]
      notify: ${hook.url}
      break_glass: { allowed: [OctoCat, "dave:4242"], reviews_required: 2 }
    allow:
      - repository_id: "123456"
`;
  stack = await startStack({
    policy: (issuer) => policyFor(issuer, roles),
    exchanger: { env: { ...githubAppEnv(gh), JITKEY_GATE_RECONCILE_INTERVAL: '0' } },
  });
});
afterAll(async () => {
  await stack?.stop();
  await Promise.all([gh?.stop(), hook?.stop()]);
});

async function asUser(user: UserName, path: string): Promise<Answer> {
  const res = await fetch(`${stack.exchanger.url}${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${USERS[user].token}`, 'content-type': 'application/json' },
    body: '{}',
  });
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: text ? JSON.parse(text) : undefined };
}

async function openReviews(): Promise<Array<Record<string, unknown>>> {
  const out = await runCli(['audit', '--break-glass', '--json', '--store', stack.exchanger.store]);
  expect(out.code, out.stderr).toBe(0);
  return out.stdout
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l));
}

const metric = async (outcome: string) => {
  const text = await (await fetch(`${stack.exchanger.url}/metrics`)).text();
  const line = text
    .split('\n')
    .find((l) => l.startsWith('jitkey_decisions_total') && l.includes(`outcome="${outcome}"`));
  return line ? Number(line.split(' ').pop()) : 0;
};

describe('break_glass: the named person proceeds at once, reviewed afterwards', () => {
  it('grants at once, notifies, and keeps the review open until two approvers acknowledged it', async () => {
    const res = await stack.exchange(stack.idp.mint({ run_id: '8001' }), { role: 'emergency' });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body.credentials.access_key_id).toMatch(/^ASIA/);

    const note = await eventually(
      () => hook.received.find((r) => r.body.event === 'break_glass_used'),
      'the break-glass notification',
    );
    const id = String(note.body.request_id);
    expect(note.body).toMatchObject({
      role: 'emergency',
      actor: 'octocat',
      approvers: ['alice', 'bob', 'octocat'],
    });

    expect((await openReviews()).map((r) => [r.request_id, r.acknowledged, r.required])).toEqual([
      [id, [], 2],
    ]);
    expect(await metric('break_glass')).toBe(1);

    const self = await asUser('octocat', `/v1/requests/${id}/acknowledge`);
    expect(self.status).toBe(403);
    expect(self.body.error).toBe('self_approval');
    const stranger = await asUser('mallory', `/v1/requests/${id}/acknowledge`);
    expect(stranger.status).toBe(403);
    expect(stranger.body.error).toBe('access_denied');

    expect((await asUser('alice', `/v1/requests/${id}/acknowledge`)).status).toBe(200);
    expect((await openReviews()).map((r) => r.acknowledged)).toEqual([['alice']]);
    const done = await runCli(['acknowledge', id, '--url', stack.exchanger.url], {
      GH_TOKEN: USERS.bob.token,
    });
    expect(done.code, done.stderr).toBe(0);
    expect(done.stdout).toBe(
      `Acknowledged the break-glass use ${id}: role emergency by octocat in acme/web.\nReview: 2 of 2 acknowledged; complete.\n`,
    );
    expect(await openReviews()).toEqual([]);
    expect(await metric('break_glass_reviewed')).toBe(1);

    const audit = await runCli(['audit', '--json', '--store', stack.exchanger.store]);
    const rows = audit.stdout
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as Record<string, string>)
      .filter((r) => r.request_id === id);
    expect(rows.map((r) => r.reason)).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^break-glass: granted for 15m to octocat without approval/),
        'acknowledged break-glass use (2 of 2); retro review complete',
      ]),
    );
    // The grant names the job's client, as every exchange's row does (issue 26).
    const granted = rows.find((r) => r.reason?.startsWith('break-glass: granted'));
    expect(granted?.client_address).toBe('127.0.0.1');
  });

  it('anyone the policy does not name waits for an approval, as does a re-run someone else started', async () => {
    const other = await stack.exchange(
      stack.idp.mint({ run_id: '8002', actor: 'mallory', actor_id: '1666' }),
      {
        role: 'emergency',
      },
    );
    expect(other.status).toBe(202);
    gh.setRunAttempt('acme/web', '8003', '2', {
      actor: { login: 'octocat', id: 1 },
      triggering_actor: { login: 'mallory', id: 1666 },
    });
    const rerun = await stack.exchange(stack.idp.mint({ run_id: '8003', run_attempt: '2' }), {
      role: 'emergency',
    });
    expect(rerun.status).toBe(202);
  });

  it('a pinned login:id names the account by its id: renamed it may, its old login re-registered may not', async () => {
    // A run started, and its attempt too, by the account `login` (GitHub user id `id`).
    const runBy = (runId: string, login: string, id: number) => {
      gh.setRunAttempt('acme/web', runId, '1', { actor: { login, id }, triggering_actor: { login, id } });
      const token = stack.idp.mint({ run_id: runId, run_attempt: '1', actor: login, actor_id: String(id) });
      return stack.exchange(token, { role: 'emergency' });
    };
    const renamed = await runBy('8004', 'dave-renamed', 4242);
    expect(renamed.status, JSON.stringify(renamed.body)).toBe(200);
    const taken = await runBy('8005', 'dave', 9999);
    expect(taken.status).toBe(202);
  });
});

describe("break_glass: GitHub's tokens only", () => {
  let other: Stack;
  beforeAll(async () => {
    other = await startStack({
      // An issuer of another kind, whose tokens (say, from a compromised self-managed instance)
      // carry GitHub's actor, repository and run claims beside their own.
      policy: (issuer) => `version: 1
issuers:
  - { url: ${issuer}, audience: jitkey, kind: gitlab }
roles:
  emergency:
    provider: aws
    aws: { role_arn: ${ROLE_ARN} }
    approval:
      approvers: [alice, bob]
      notify: ${hook.url}
      break_glass: { allowed: [octocat] }
    allow:
      - { namespace_path: my-group, namespace_id: "72" }
`,
      exchanger: { env: { ...githubAppEnv(gh), JITKEY_GATE_RECONCILE_INTERVAL: '0' } },
    });
  });
  afterAll(async () => {
    await other?.stop();
  });

  it("another issuer's token naming octocat and a run octocat started waits for approvers", async () => {
    // GitHub would confirm: octocat started this run and this attempt of it.
    gh.setRunAttempt('acme/web', '8101', '1', {
      actor: { login: 'octocat', id: 1 },
      triggering_actor: { login: 'octocat', id: 1 },
    });
    const token = other.idp.mint({
      namespace_path: 'my-group',
      namespace_id: '72',
      project_path: 'my-group/app',
      project_id: '20',
      pipeline_id: '574',
      job_id: '302',
      run_id: '8101',
      run_attempt: '1',
    });
    const res = await other.exchange(token, { role: 'emergency' });
    expect(res.status, JSON.stringify(res.body)).toBe(202);
    expect(res.body.status).toBe('pending');
  });
});

describe('break_glass: tokens of the GitHub the App asks, of two trusted', () => {
  // A second GitHub (say, a GHES) whose tokens name the same repository, run and person.
  let ghes: OidcIssuer;
  let named: Stack;
  let unnamed: Stack;
  const twoGithubs = (issuer: string) => `version: 1
issuers:
  - { url: ${issuer}, audience: jitkey }
  - { url: ${ghes.url}, audience: jitkey }
roles:
  emergency:
    provider: aws
    aws: { role_arn: ${ROLE_ARN} }
    issuers: [${issuer}, ${ghes.url}]
    approval:
      approvers: [alice, bob]
      notify: ${hook.url}
      break_glass: { allowed: [octocat] }
    allow:
      - repository_id: "123456"
`;
  const env = () => ({ ...githubAppEnv(gh), JITKEY_GATE_RECONCILE_INTERVAL: '0' });
  beforeAll(async () => {
    ghes = await startOidcIssuer();
    // The App's GitHub is the stand-in; JITKEY_GITHUB_ISSUER says its tokens are ghes's.
    named = await startStack({
      policy: twoGithubs,
      exchanger: { env: { ...env(), JITKEY_GITHUB_ISSUER: ghes.url } },
    });
    unnamed = await startStack({ policy: twoGithubs, exchanger: { env: env() } });
  });
  afterAll(async () => {
    await Promise.all([named?.stop(), unnamed?.stop()]);
    await ghes?.stop();
  });

  it('JITKEY_GITHUB_ISSUER names whose tokens break glass; the other GitHub’s wait', async () => {
    const mine = await named.exchange(ghes.mint({ run_id: '8201' }), { role: 'emergency' });
    expect(mine.status, JSON.stringify(mine.body)).toBe(200);
    const other = await named.exchange(named.idp.mint({ run_id: '8202' }), { role: 'emergency' });
    expect(other.status, JSON.stringify(other.body)).toBe(202);
  });

  it('with neither named, neither breaks glass, and the start says why', async () => {
    for (const token of [ghes.mint({ run_id: '8203' }), unnamed.idp.mint({ run_id: '8204' })]) {
      const res = await unnamed.exchange(token, { role: 'emergency' });
      expect(res.status, JSON.stringify(res.body)).toBe(202);
    }
    expect(unnamed.exchanger.output()).toContain(
      'the policy trusts several github issuers and JITKEY_GITHUB_ISSUER names none',
    );
    expect(named.exchanger.output()).not.toContain('JITKEY_GITHUB_ISSUER names none');
  });

  it('a JITKEY_GITHUB_ISSUER that is not one of the policy’s github issuers stops the start', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'jitkey-ghissuer-')), 'policy.yaml');
    writeFileSync(file, twoGithubs(named.idp.url));
    const { code, stderr } = await runCli(
      ['serve', '--policy', file, '--workers', '1', '--port', '0', '--store', 'sqlite::memory:'],
      { ...env(), JITKEY_GITHUB_ISSUER: `${ghes.url}/` },
    );
    expect(code).not.toBe(0);
    expect(stderr).toContain(
      `JITKEY_GITHUB_ISSUER '${ghes.url}/' is not one of the policy's github issuers (${named.idp.url}, ${ghes.url})`,
    );
  });
});
