/**
 * `approval.notify: { slack: URL }`: the policy takes it (https, http on loopback only), and a new
 * request reaches a loopback Slack stand-in as a Block Kit message whose shape the stand-in checks
 * as Slack does, with every value escaped for mrkdwn and no secret in it.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { notify } from '../../exchanger/approvals/notify.js';
import { escapeMrkdwn, slackMessage } from '../../exchanger/approvals/slack.js';
import type { Logger } from '../../exchanger/log.js';
import { validateDirectory } from '../../exchanger/policy/load/directory.js';
import { loadPolicy } from '../../exchanger/policy/load/load-policy.js';
import { PolicyError } from '../../exchanger/policy/model/errors.js';
import type { ApprovalRequestRecord } from '../../exchanger/store/approvals-types.js';

/** What Slack refuses with `invalid_blocks`: the parts of Block Kit this message uses. */
function blockProblems(body: unknown): string[] {
  const out: string[] = [];
  const b = body as { text?: unknown; blocks?: unknown };
  if (typeof b.text !== 'string' || b.text === '') out.push('text: a non-empty string (the fallback)');
  if (!Array.isArray(b.blocks) || b.blocks.length === 0 || b.blocks.length > 50) out.push('blocks: 1 to 50');
  for (const [i, block] of ((b.blocks as Array<Record<string, unknown>>) ?? []).entries()) {
    const text = (t: unknown, kind: string, max: number) => {
      const o = t as { type?: unknown; text?: unknown };
      if (o?.type !== kind || typeof o.text !== 'string' || o.text.length === 0 || o.text.length > max) {
        out.push(`blocks[${i}]: a ${kind} text object of 1 to ${max} characters`);
      }
    };
    if (block.type === 'section') {
      if (block.text === undefined && block.fields === undefined) out.push(`blocks[${i}]: text or fields`);
      if (block.text !== undefined) text(block.text, 'mrkdwn', 3000);
      if (block.fields !== undefined) {
        const fields = block.fields as unknown[];
        if (!Array.isArray(fields) || fields.length > 10) out.push(`blocks[${i}].fields: at most 10`);
        for (const f of fields) text(f, 'mrkdwn', 2000);
      }
    } else if (block.type === 'actions') {
      for (const e of block.elements as Array<Record<string, unknown>>) {
        if (e.type !== 'button') out.push(`blocks[${i}]: a button`);
        text(e.text, 'plain_text', 75);
        const link = typeof e.url === 'string' && e.url.length <= 3000;
        const action =
          typeof e.action_id === 'string' && typeof e.value === 'string' && e.value.length <= 2000;
        if (!link && !action) out.push(`blocks[${i}]: a button url, or an action_id and value`);
        if (e.style !== undefined && e.style !== 'primary' && e.style !== 'danger')
          out.push(`blocks[${i}]: style primary or danger`);
      }
    } else if (block.type !== 'context') out.push(`blocks[${i}]: unexpected type ${String(block.type)}`);
  }
  return out;
}

let slack: Server;
let slackUrl: string;
const received: Array<{ body: Record<string, unknown>; problems: string[]; path: string }> = [];

beforeAll(async () => {
  slack = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>;
      const problems = blockProblems(body);
      received.push({ body, problems, path: req.url ?? '' });
      res.writeHead(problems.length ? 400 : 200, { 'content-type': 'text/plain' });
      res.end(problems.length ? 'invalid_blocks' : 'ok');
    });
  });
  await new Promise<void>((r) => slack.listen(0, '127.0.0.1', r));
  slackUrl = `http://127.0.0.1:${(slack.address() as AddressInfo).port}/services/T000/B000/webhooksecretpath`;
});
afterAll(() => new Promise<void>((r) => slack.close(() => r())));

const HEAD = `version: 1
issuers: [{ url: https://token.actions.githubusercontent.com, audience: jitkey }]
roles:
  db:
    provider: aws
    aws: { role_arn: "arn:aws:iam::111122223333:role/db" }
    approval:
      approvers: [alice]
`;
const withNotify = (notify: string) =>
  `${HEAD}      notify: ${notify}\n    allow:\n      - { repository: acme/web }\n`;

function problemsOf(text: string): string[] {
  try {
    loadPolicy(text, 'p.yaml');
    return [];
  } catch (e) {
    if (e instanceof PolicyError) return e.issues.map((i) => i.message);
    throw e;
  }
}

describe('notify: { slack: URL } in the policy', () => {
  it('takes a Slack webhook URL beside a plain URL', () => {
    const slackRole = loadPolicy(withNotify('{ slack: https://hooks.slack.com/services/T0/B0/x }'), 'p.yaml');
    expect(slackRole.roles.get('db')!.approval!.notify).toEqual({
      slack: 'https://hooks.slack.com/services/T0/B0/x',
    });
    const plain = loadPolicy(withNotify('https://hooks.acme.example/jitkey'), 'p.yaml');
    expect(plain.roles.get('db')!.approval!.notify).toBe('https://hooks.acme.example/jitkey');
  });

  it('refuses plain http off loopback, unknown keys and a missing URL, saying what to write', () => {
    expect(problemsOf(withNotify('{ slack: http://hooks.slack.com/services/x }')).join('\n')).toMatch(
      /notify\.slack: .*https/,
    );
    expect(problemsOf(withNotify('{ slak: https://hooks.slack.com/services/x }')).join('\n')).toContain(
      "unknown key 'slak'",
    );
    expect(problemsOf(withNotify('{}')).join('\n')).toContain("missing required key 'slack'");
  });
});

describe('the Slack message', () => {
  const T0 = new Date('2026-12-06T22:00:00.000Z');
  const request: ApprovalRequestRecord = {
    id: 'req_slack0001',
    role: 'db-admin',
    version: 1,
    status: 'pending',
    pollTokenHash: 'f'.repeat(64),
    createdAt: T0,
    expiresAt: new Date(T0.getTime() + 30 * 60_000),
    approvals: [],
    approvers: ['alice'],
    required: 2,
    claims: {
      repository: 'acme/web',
      ref: 'refs/heads/<img src=x onerror=alert(1)>',
      actor: 'octo<@U123>&cat',
      environment: '<https://evil.example|click me>',
      actor_id: '1',
    },
  };
  const lines: string[] = [];
  const line = (msg: string, fields?: Record<string, unknown>) =>
    void lines.push(`${msg} ${JSON.stringify(fields)}`);
  const log: Logger = { debug: line, info: line, warn: line, error: line };

  it('reaches Slack as valid Block Kit with role, repository, actor, environment, time left and Review', async () => {
    await notify(
      { fetch: globalThis.fetch, log, publicUrl: 'https://jitkey.acme.example' },
      { slack: slackUrl },
      request,
    );
    expect(received).toHaveLength(1);
    const { body, problems, path } = received[0]!;
    expect(problems).toEqual([]);
    expect(path).toBe('/services/T000/B000/webhooksecretpath');
    const blocks = body.blocks as Array<{ fields?: Array<{ text: string }> }>;
    const fields = blocks[1]!.fields!.map((f) => f.text);
    expect(fields).toEqual([
      '*Role*\ndb-admin',
      '*Repository*\nacme/web',
      '*Actor*\nocto&lt;@U123&gt;&amp;cat',
      '*Environment*\n&lt;https://evil.example|click me&gt;',
      '*Time left*\n30m',
      '*Approvals*\n0 of 2',
    ]);
    expect(blocks[2]).toEqual({
      type: 'actions',
      elements: [
        {
          type: 'button',
          action_id: 'jitkey_review',
          text: { type: 'plain_text', text: 'Review' },
          url: 'https://jitkey.acme.example/console/requests/req_slack0001',
          style: 'primary',
        },
      ],
    });
    // No secret: not the poll token's hash, and the webhook's own secret path is not logged.
    const text = JSON.stringify(body);
    expect(text).not.toContain('f'.repeat(64));
    expect(text).not.toMatch(/<[^&]/); // every < escaped: no link, mention or markup of Slack's
    expect(lines.join('\n')).toContain('approval notification sent');
    expect(lines.join('\n')).not.toContain('webhooksecretpath');
  });

  it('with chat_decisions, reaches Slack with Approve and Deny buttons carrying the request id', async () => {
    received.length = 0;
    await notify(
      { fetch: globalThis.fetch, log, publicUrl: 'https://jitkey.acme.example' },
      { slack: slackUrl, buttons: true },
      request,
    );
    const { body, problems } = received[0]!;
    expect(problems).toEqual([]);
    const actions = (body.blocks as Array<{ type: string; elements?: Array<Record<string, unknown>> }>).find(
      (b) => b.type === 'actions',
    )!;
    expect(actions.elements!.map((e) => [e.action_id, e.value, e.style])).toEqual([
      ['jitkey_review', undefined, undefined],
      ['jitkey_approve', 'req_slack0001', 'primary'],
      ['jitkey_deny', 'req_slack0001', 'danger'],
    ]);
    // A break-glass use has nothing to decide: no buttons.
    received.length = 0;
    await notify(
      { fetch: globalThis.fetch, log },
      { slack: slackUrl, buttons: true },
      request,
      'break_glass_used',
    );
    expect(JSON.stringify(received[0]!.body)).not.toContain('jitkey_approve');
  });

  it('as updated after a decision: the outcome escaped, buttons only while pending', () => {
    const m = slackMessage(request, undefined, { outcome: 'Denied in Slack by <b>', buttons: false });
    expect(blockProblems(m)).toEqual([]);
    expect(JSON.stringify(m)).toContain('Denied in Slack by &lt;b&gt;');
    expect(JSON.stringify(m)).not.toContain('jitkey_deny');
  });

  it('sends every mrkdwn text verbatim: no automatic link, channel or mention from a claim', () => {
    const m = slackMessage(
      {
        ...request,
        claims: { ...request.claims, ref: 'refs/heads/@here', environment: 'evil.example/login' },
      },
      undefined,
      { outcome: 'Approved in Slack by #general' },
    );
    expect(blockProblems(m)).toEqual([]);
    const texts: Array<Record<string, unknown>> = [];
    const walk = (v: unknown): void => {
      if (Array.isArray(v)) v.forEach(walk);
      else if (v && typeof v === 'object') {
        if ((v as { type?: unknown }).type === 'mrkdwn') texts.push(v as Record<string, unknown>);
        Object.values(v).forEach(walk);
      }
    };
    walk(m);
    // Title, six fields, the outcome and the approve command (no public URL).
    expect(texts).toHaveLength(9);
    expect(texts.filter((t) => t.verbatim !== true).map((t) => t.text)).toEqual([]);
  });

  it('escapes only what mrkdwn reads as control characters', () => {
    expect(escapeMrkdwn('a & b < c > d *e*')).toBe('a &amp; b &lt; c &gt; d *e*');
  });
});

describe('slack_users and approval.chat_decisions in the policy', () => {
  const chat = (extra: string) =>
    `${HEAD}      notify: { slack: https://hooks.slack.com/services/T0/B0/x }\n      chat_decisions: true\n    allow:\n      - { repository: acme/web }\n${extra}`;

  it('maps a Slack user id to a GitHub login and id, and puts the buttons in the notify target', () => {
    const p = loadPolicy(chat('slack_users:\n  U012ABCDE: { login: octocat, id: 583231 }\n'), 'p.yaml');
    expect(p.slackUsers?.get('U012ABCDE')).toEqual({ login: 'octocat', id: '583231' });
    expect(p.roles.get('db')!.approval).toMatchObject({
      chatDecisions: true,
      notify: { slack: 'https://hooks.slack.com/services/T0/B0/x', buttons: true },
    });
    // Default false: no buttons.
    const off = loadPolicy(withNotify('{ slack: https://hooks.slack.com/services/T0/B0/x }'), 'p.yaml');
    expect(off.roles.get('db')!.approval!.chatDecisions).toBeUndefined();
  });

  it('refuses a display name, a login without its id, a bad login or id, saying what to write', () => {
    const problems = (users: string) => problemsOf(chat(`slack_users:\n${users}`)).join('\n');
    expect(problems('  octocat: { login: octocat, id: 1 }\n')).toContain("'octocat' is not a Slack user id");
    expect(problems('  U012ABCDE: octocat\n')).toContain(
      'write { login: <GitHub login>, id: <GitHub user id> }',
    );
    expect(problems('  U012ABCDE: { login: acme/team, id: 1 }\n')).toContain('is not a GitHub login');
    expect(problems('  U012ABCDE: { login: octocat, id: 0 }\n')).toContain('.id must be a GitHub user id');
    expect(problems('  U012ABCDE: { login: octocat }\n')).toContain("missing required key 'id'");
    expect(problems('  U012ABCDE: { login: octocat, id: 1, name: x }\n')).toContain("unknown key 'name'");
  });

  it('refuses chat_decisions that is not a boolean, or without a Slack notify to carry the buttons', () => {
    expect(
      problemsOf(chat('').replace('chat_decisions: true', 'chat_decisions: yes please')).join('\n'),
    ).toContain('chat_decisions must be true or false');
    const noSlack = `${HEAD}      notify: https://hooks.acme.example/x\n      chat_decisions: true\n    allow:\n      - { repository: acme/web }\n`;
    expect(problemsOf(noSlack).join('\n')).toContain(
      'chat_decisions needs roles.db.approval.notify: { slack: URL }',
    );
  });

  it('takes slack_users in org.yaml too', () => {
    const org = `version: 1\nissuers: [{ url: https://token.actions.githubusercontent.com, audience: jitkey }]\nslack_users:\n  W0ENTERPR1: { login: alice, id: 1001 }\n`;
    const { org: doc, issues } = validateDirectory('policy', [
      { file: 'policy/org.yaml', name: 'org.yaml', text: org },
    ]);
    // Only the missing team files are reported (this test has none): org.yaml itself is valid.
    expect(issues.map((i) => i.message)).toEqual([expect.stringContaining('no team files')]);
    expect(doc?.slackUsers?.get('W0ENTERPR1')).toEqual({ login: 'alice', id: '1001' });
  });
});
