/**
 * Slack interactivity against `jitkey serve` as a process: a loopback Slack stand-in receives the
 * notify message (with Approve / Deny buttons for a `chat_decisions` role) and the `response_url`
 * updates; clicks are posted as Slack posts them (form-encoded `payload`, signed v0 HMAC). A valid
 * click approves through the console's checks; a bad signature, an old timestamp, a replay, an
 * unmapped Slack user, a role without `chat_decisions` and self-approval are refused and decide
 * nothing.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signSlack } from '../../exchanger/approvals/slack-signature.js';
import { eventually } from '../support/eventually.js';
import { runCli } from '../support/exchanger-process.js';
import { type GithubStandin, githubAppEnv, startGithubStandin } from '../support/github-standin.js';
import { policyFor, ROLE_ARN, type Stack, startStack } from '../support/stack.js';
import { USERS } from './support.js';

const SECRET = 'slack-signing-secret-for-tests';

let slack: Server;
let slackUrl: string;
/** What the stand-in received, by path: `/notify` (the incoming webhook), `/respond/<n>` (response_url). */
const received: Array<{ path: string; body: Record<string, unknown> }> = [];
let gh: GithubStandin;
let stack: Stack;

beforeAll(async () => {
  slack = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      received.push({ path: req.url ?? '', body: JSON.parse(Buffer.concat(chunks).toString('utf8')) });
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
    });
  });
  await new Promise<void>((r) => slack.listen(0, '127.0.0.1', r));
  slackUrl = `http://127.0.0.1:${(slack.address() as AddressInfo).port}`;
  gh = await startGithubStandin({
    installations: [
      { owner: 'acme', permissions: { members: 'read', actions: 'read' }, repositories: ['web'] },
    ],
    users: Object.fromEntries(Object.values(USERS).map((u) => [u.token, { login: u.login, id: u.id }])),
  });
  const roles = `  chat:
    provider: aws
    aws: { role_arn: ${ROLE_ARN} }
    approval:
      approvers: [alice, bob, octocat]
      notify: { slack: ${slackUrl}/notify }
      chat_decisions: true
    allow:
      - repository_id: "123456"
  console-only:
    provider: aws
    aws: { role_arn: ${ROLE_ARN} }
    approval:
      approvers: [alice]
      notify: { slack: ${slackUrl}/notify }
    allow:
      - repository_id: "123456"
slack_users:
  U0ALICE01: { login: alice, id: ${USERS.alice.id} }
  U0OCTO001: { login: octocat, id: ${USERS.octocat.id} }
  U0BOB0001: { login: bob, id: ${USERS.bob.id} }
`;
  stack = await startStack({
    policy: (issuer) => policyFor(issuer, roles),
    exchanger: {
      env: {
        ...githubAppEnv(gh),
        JITKEY_PUBLIC_URL: 'https://jitkey.acme.example',
        JITKEY_SLACK_SIGNING_SECRET: SECRET,
        JITKEY_SLACK_ALLOW_LOOPBACK_RESPONSE_URL: '1',
      },
    },
  });
});
afterAll(async () => {
  await stack?.stop();
  await gh?.stop();
  await new Promise<void>((r) => slack?.close(() => r()));
});

async function ask(role: string): Promise<{ request_id: string; poll_token: string }> {
  const res = await stack.exchange(stack.idp.mint(), { role });
  expect(res.status, JSON.stringify(res.body)).toBe(202);
  return res.body;
}

const status = async (id: string, pollToken: string) => {
  const res = await fetch(`${stack.exchanger.url}/v1/requests/${id}`, {
    headers: { authorization: `Bearer ${pollToken}` },
  });
  return (await res.json()) as { status: string; reason?: string; approvals: Array<{ login: string }> };
};

let responses = 0;

/** A button click as Slack sends it; `sign` overrides let a test break one part of the signature. */
function click(
  requestId: string,
  user: string,
  action: 'jitkey_approve' | 'jitkey_deny' = 'jitkey_approve',
  sign: { secret?: string; timestamp?: number; pad?: number; responseUrl?: string } = {},
) {
  const responseUrl = sign.responseUrl ?? `${slackUrl}/respond/${++responses}`;
  const payload = {
    type: 'block_actions',
    user: { id: user, username: 'display-name-is-never-used', team_id: 'T0ACME' },
    team: { id: 'T0ACME' },
    response_url: responseUrl,
    actions: [{ type: 'button', action_id: action, value: requestId, block_id: 'b1' }],
    // Slack sends the whole message back; a long one makes a body past the API's 16 KiB.
    message: { text: 'x'.repeat(sign.pad ?? 0) },
  };
  const body = new URLSearchParams({ payload: JSON.stringify(payload) }).toString();
  const timestamp = String(sign.timestamp ?? Math.floor(Date.now() / 1000));
  const headers = {
    'content-type': 'application/x-www-form-urlencoded',
    'x-slack-request-timestamp': timestamp,
    'x-slack-signature': signSlack(sign.secret ?? SECRET, timestamp, body),
    'user-agent': 'Slackbot 1.0 (+https://api.slack.com/robots)',
  };
  const send = () => fetch(`${stack.exchanger.url}/v1/slack/interactions`, { method: 'POST', headers, body });
  return { send, responsePath: `/respond/${responses}` };
}

const responseTo = (path: string) =>
  eventually(() => received.find((r) => r.path === path)?.body, `Slack's response_url ${path}`);

async function auditRows(requestId: string): Promise<Array<Record<string, unknown>>> {
  const audit = await runCli(['audit', '--store', stack.exchanger.store, '--json']);
  return audit.stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, unknown>)
    .filter((r) => r.request_id === requestId);
}

describe('the notify message', () => {
  it('carries Approve and Deny buttons with the request id for a chat_decisions role only', async () => {
    const chat = await ask('chat');
    const plain = await ask('console-only');
    const message = (id: string) =>
      eventually(
        () => received.find((r) => r.path === '/notify' && JSON.stringify(r.body).includes(id))?.body,
        'the notify message',
      );
    const buttons = (m: Record<string, unknown>) =>
      (m.blocks as Array<{ type: string; elements?: Array<Record<string, unknown>> }>)
        .filter((b) => b.type === 'actions')
        .flatMap((b) => b.elements ?? []);
    expect(buttons(await message(chat.request_id))).toEqual([
      expect.objectContaining({ action_id: 'jitkey_review', url: expect.stringContaining(chat.request_id) }),
      expect.objectContaining({ action_id: 'jitkey_approve', value: chat.request_id, style: 'primary' }),
      expect.objectContaining({ action_id: 'jitkey_deny', value: chat.request_id, style: 'danger' }),
    ]);
    expect(buttons(await message(plain.request_id)).map((b) => b.action_id)).toEqual(['jitkey_review']);
  });
});

describe('POST /v1/slack/interactions', () => {
  it('a signed click by a mapped approver approves, audits "via Slack" and updates the message', async () => {
    const req = await ask('chat');
    const c = click(req.request_id, 'U0ALICE01');
    const res = await c.send();
    expect(res.status).toBe(200);
    expect(await res.text()).toBe('');
    const after = await status(req.request_id, req.poll_token);
    expect(after.status).toBe('approved');
    expect(after.approvals.map((a) => a.login)).toEqual(['alice']);
    const approve = (await auditRows(req.request_id)).find((r) => r.event === 'approve');
    expect(approve).toMatchObject({ outcome: 'allowed', actor: 'alice' });
    expect(approve?.reason).toContain('via Slack');
    const update = await responseTo(c.responsePath);
    expect(update.replace_original).toBe(true);
    expect(JSON.stringify(update.blocks)).toContain('Approved in Slack by alice (1 of 1)');
    expect(JSON.stringify(update.blocks)).not.toContain('jitkey_approve');
    // A click on the message once it is approved: only the clicker is told; the message stays.
    const late = click(req.request_id, 'U0BOB0001');
    expect((await late.send()).status).toBe(200);
    expect(await responseTo(late.responsePath)).toMatchObject({
      response_type: 'ephemeral',
      replace_original: false,
      text: `Not recorded: request ${req.request_id} is already approved; nothing changed.`,
    });
  });

  it("takes a body past the API's 16 KiB (Slack sends the message back) and refuses one past 64 KiB", async () => {
    const req = await ask('chat');
    const big = await click(req.request_id, 'U0ALICE01', 'jitkey_approve', { pad: 40 * 1024 }).send();
    expect(big.status).toBe(200);
    expect((await status(req.request_id, req.poll_token)).status).toBe('approved');
    await refusedWithoutDecision(
      (id) => click(id, 'U0ALICE01', 'jitkey_approve', { pad: 70 * 1024 }).send(),
      { status: 400, error: 'invalid_request' },
    );
  });

  it('a deny click denies with the fixed reason naming the approver', async () => {
    const req = await ask('chat');
    const res = await click(req.request_id, 'U0ALICE01', 'jitkey_deny').send();
    expect(res.status).toBe(200);
    const after = await status(req.request_id, req.poll_token);
    expect(after.status).toBe('denied');
    expect(after.reason).toContain('denied in Slack by alice');
  });

  const refusedWithoutDecision = async (
    send: (id: string) => Promise<Response>,
    expected: { status: number; error?: string },
  ) => {
    const req = await ask('chat');
    const res = await send(req.request_id);
    expect(res.status).toBe(expected.status);
    if (expected.error) expect(((await res.json()) as { error: string }).error).toBe(expected.error);
    expect((await status(req.request_id, req.poll_token)).status).toBe('pending');
    return req;
  };

  it('a bad signature is refused (401) and decides nothing', async () => {
    await refusedWithoutDecision(
      (id) => click(id, 'U0ALICE01', 'jitkey_approve', { secret: 'wrong' }).send(),
      {
        status: 401,
        error: 'invalid_token',
      },
    );
  });

  it('a timestamp more than 5 minutes old is refused (401) and decides nothing', async () => {
    const old = Math.floor(Date.now() / 1000) - 6 * 60;
    await refusedWithoutDecision(
      (id) => click(id, 'U0ALICE01', 'jitkey_approve', { timestamp: old }).send(),
      {
        status: 401,
        error: 'invalid_token',
      },
    );
  });

  it('a replayed request is refused (401 token_replayed) and decides nothing', async () => {
    const req = await ask('chat');
    // The first copy is a deny that Slack's user sent; the replay must not be acted on again
    // (a deny of a denied request would otherwise answer 200 and post again).
    const c = click(req.request_id, 'U0ALICE01', 'jitkey_deny');
    expect((await c.send()).status).toBe(200);
    await responseTo(c.responsePath);
    const rows = (await auditRows(req.request_id)).length;
    const replay = await c.send();
    expect(replay.status).toBe(401);
    expect(((await replay.json()) as { error: string }).error).toBe('token_replayed');
    expect((await auditRows(req.request_id)).length).toBe(rows);
  });

  it('an unmapped Slack user is refused with an ephemeral message, audited, and decides nothing', async () => {
    const c = { path: '' };
    const req = await refusedWithoutDecision(
      (id) => {
        const one = click(id, 'U0NOBODY1');
        c.path = one.responsePath;
        return one.send();
      },
      { status: 200 },
    );
    const answer = await responseTo(c.path);
    expect(answer).toMatchObject({ response_type: 'ephemeral', replace_original: false });
    expect(String(answer.text)).toContain('U0NOBODY1 is not in the policy');
    const refused = (await auditRows(req.request_id)).find((r) => r.event === 'approve');
    expect(refused).toMatchObject({
      outcome: 'denied',
      error_code: 'access_denied',
      actor: 'slack:U0NOBODY1',
    });
    // More clicks by the same user: told each time, audited once in the window.
    for (let i = 0; i < 3; i++) expect((await click(req.request_id, 'U0NOBODY1').send()).status).toBe(200);
    const rows = (await auditRows(req.request_id)).filter((r) => r.actor === 'slack:U0NOBODY1');
    expect(rows).toHaveLength(1);
  });

  it('a role without chat_decisions refuses Slack decisions', async () => {
    const req = await ask('console-only');
    const c = click(req.request_id, 'U0ALICE01');
    expect((await c.send()).status).toBe(200);
    expect((await status(req.request_id, req.poll_token)).status).toBe('pending');
    expect(String((await responseTo(c.responsePath)).text)).toContain('chat_decisions');
    const refused = (await auditRows(req.request_id)).find((r) => r.event === 'approve');
    expect(refused).toMatchObject({ outcome: 'denied', error_code: 'access_denied', actor: 'alice' });
  });

  it('a response_url off hooks.slack.com is refused (400) and decides nothing', async () => {
    for (const responseUrl of [
      'https://hooks.slack.com.evil.example/actions/x',
      'https://evil.example/actions/x',
    ]) {
      await refusedWithoutDecision((id) => click(id, 'U0ALICE01', 'jitkey_approve', { responseUrl }).send(), {
        status: 400,
        error: 'invalid_request',
      });
    }
  });

  it("refuses self-approval: the job's own actor cannot approve it from Slack", async () => {
    const c = { path: '' };
    const req = await refusedWithoutDecision(
      (id) => {
        const one = click(id, 'U0OCTO001');
        c.path = one.responsePath;
        return one.send();
      },
      { status: 200 },
    );
    expect(String((await responseTo(c.path)).text)).toContain('cannot decide on it');
    const refused = (await auditRows(req.request_id)).find((r) => r.event === 'approve');
    expect(refused).toMatchObject({ outcome: 'denied', error_code: 'self_approval', actor: 'octocat' });
  });
});
