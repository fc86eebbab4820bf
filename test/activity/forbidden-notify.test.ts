/**
 * A forbidden action in a lease's activity is told to the role's notify channel (issue 26,
 * item 3): on a real SQLite store, with a real loopback webhook receiving the POSTs. A JSON
 * webhook gets the `forbidden_action` payload, a Slack webhook a Block Kit message with every
 * value escaped; a role without `approval.notify` only gets its audit row; a webhook that fails
 * changes nothing else.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { flagForbidden, MAX_NOTICES_AT_ONCE } from '../../exchanger/activity/forbidden.js';
import { notifyForbidden } from '../../exchanger/approvals/forbidden-notify.js';
import { loadPolicy } from '../../exchanger/policy/load/load-policy.js';
import type { ActivityEvent, ActivityKey } from '../../exchanger/store/activity-types.js';
import { openStore } from '../../exchanger/store/open.js';
import type { Store } from '../../exchanger/store/types.js';
import { captureLog } from '../store/contract.js';

const T0 = new Date('2026-12-01T10:00:00Z');
let hooks: Server;
let base = '';
const received: { path: string; body: Record<string, unknown> }[] = [];
let answer = 204;

beforeAll(async () => {
  hooks = createServer((req, res) => {
    let text = '';
    req.on('data', (c: Buffer) => (text += c));
    req.on('end', () => {
      received.push({ path: req.url ?? '', body: JSON.parse(text) });
      res.writeHead(answer).end();
    });
  });
  await new Promise<void>((r) => hooks.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(hooks.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((r) => hooks.close(() => r())));

let store: Store;
afterEach(async () => {
  received.length = 0;
  answer = 204;
  await store?.close();
});

const role = (name: string, notify: string) => `  ${name}:
    provider: aws
    aws: { role_arn: "arn:aws:iam::111122223333:role/${name}" }
    forbid_actions: ["iam:Create*"]
${notify}    allow:
      - { repository_id: "2" }
`;
const policy = () =>
  loadPolicy(
    `version: 1
issuers:
  - { url: https://token.actions.githubusercontent.com, audience: jitkey }
roles:
${role('hooked', `    approval: { approvers: [alice], notify: ${base}/hook }\n`)}${role(
  'slacked',
  `    approval: { approvers: [alice], notify: { slack: ${base}/services/T0/B0/secret } }\n`,
)}${role('silent', '')}`,
    'p.yaml',
  );

async function flag(roleName: string, event: Partial<ActivityEvent> = {}, count = 1) {
  store = await openStore('sqlite::memory:', { purgeIntervalMs: 0 });
  const leaseId = `lease-${roleName}`;
  await store.record(
    {
      at: T0,
      requestId: 'req_1',
      event: 'exchange',
      outcome: 'allowed',
      role: roleName,
      provider: 'aws',
      reason: 'granted for 15m',
      claims: { repository: 'acme/<web>', run_id: '77' },
      leaseId,
      expiresAt: new Date(T0.getTime() + 900_000),
    },
    {
      id: leaseId,
      role: roleName,
      provider: 'aws',
      createdAt: T0,
      expiresAt: new Date(T0.getTime() + 900_000),
      revokeTokenHash: 'h',
      repository: 'acme/<web>',
      runId: '77',
    },
  );
  const key: ActivityKey = {
    leaseId,
    provider: 'aws',
    keyId: 'ASIAKEY1',
    account: '111122223333',
    region: 'us-east-1',
    windowStart: T0,
    windowEnd: new Date(T0.getTime() + 900_000),
    nextPollAt: T0,
    status: 'collecting',
  };
  const log = captureLog();
  const counted: string[] = [];
  const p = policy();
  await flagForbidden({
    store,
    policy: () => p,
    log,
    now: () => T0,
    newRequestId: () => 'req_flag',
    counted: ({ action }) => counted.push(action),
    notify: notifyForbidden({ fetch: globalThis.fetch, log, publicUrl: 'https://jitkey.acme.example' }),
  })(
    key,
    Array.from({ length: count }, (_, i) => ({
      leaseId,
      keyId: 'ASIAKEY1',
      eventId: `ev-${i + 1}`,
      at: new Date(T0.getTime() + 60_000),
      name: 'CreateUser',
      source: 'iam.amazonaws.com',
      region: 'us-east-1',
      resources: [],
      ...event,
    })),
  );
  const rows = (await store.queryAudit({ role: roleName })).filter((r) => r.event === 'activity');
  return { log, counted, rows };
}

describe('a forbidden action on the notify channel', () => {
  it("POSTs forbidden_action to the role's JSON webhook, after the audit row", async () => {
    const { rows, counted } = await flag('hooked', { errorCode: 'AccessDenied' });
    expect(rows).toHaveLength(1);
    expect(counted).toEqual(['iam:CreateUser']);
    expect(received).toEqual([
      {
        path: '/hook',
        body: {
          event: 'forbidden_action',
          lease_id: 'lease-hooked',
          role: 'hooked',
          provider: 'aws',
          repository: 'acme/<web>',
          run_id: '77',
          action: 'iam:CreateUser',
          forbidden_by: 'iam:Create*',
          at: '2026-12-01T10:01:00.000Z',
          refused: 'AccessDenied',
          reason: "lease used iam:CreateUser, which role 'hooked' forbids (iam:Create*)",
          lease_url: 'https://jitkey.acme.example/console/leases/lease-hooked',
        },
      },
    ]);
  });

  it('names no key, token or hash, though the audit row does', async () => {
    const { rows } = await flag('hooked');
    expect(rows[0]!.reason).toContain('ASIAKEY1');
    expect(received).toHaveLength(1);
    expect(JSON.stringify(received[0]!.body)).not.toContain('ASIAKEY1');
  });

  it('posts a Slack message with every value escaped, and logs no webhook path', async () => {
    const { log } = await flag('slacked');
    expect(received).toHaveLength(1);
    const message = received[0]!.body as { text: string; blocks: { fields?: { text: string }[] }[] };
    expect(message.text).toBe('Forbidden action: iam:CreateUser by a lease of role slacked');
    expect(message.blocks[1]!.fields).toContainEqual({
      type: 'mrkdwn',
      text: '*Repository*\nacme/&lt;web&gt;',
      verbatim: true,
    });
    expect(JSON.stringify(message)).toContain('https://jitkey.acme.example/console/leases/lease-slacked');
    expect(JSON.stringify(log.lines)).not.toContain('secret');
    expect(log.lines).toContainEqual(
      expect.objectContaining({
        msg: 'forbidden action notification sent',
        fields: { lease_id: 'lease-slacked', url: `${base}/…` },
      }),
    );
  });

  it('tells nobody for a role without approval.notify; the audit row is still written', async () => {
    const { rows } = await flag('silent');
    expect(rows).toHaveLength(1);
    expect(received).toEqual([]);
  });

  it('tells the channel of the first few of a burst; every one keeps its audit row', async () => {
    const { rows, counted, log } = await flag('hooked', { errorCode: 'AccessDenied' }, 40);
    expect(rows).toHaveLength(40);
    expect(counted).toHaveLength(40);
    expect(received).toHaveLength(MAX_NOTICES_AT_ONCE);
    expect(log.lines).toContainEqual(
      expect.objectContaining({
        level: 'warn',
        msg: 'more forbidden actions than the notify channel is told at once',
        fields: { lease_id: 'lease-hooked', told: MAX_NOTICES_AT_ONCE, untold: 40 - MAX_NOTICES_AT_ONCE },
      }),
    );
  });

  it('a webhook that refuses is logged and changes nothing else', async () => {
    answer = 500;
    const { rows, log } = await flag('hooked');
    expect(rows).toHaveLength(1);
    expect(received).toHaveLength(1);
    expect(log.lines).toContainEqual(
      expect.objectContaining({
        level: 'warn',
        msg: 'forbidden action notification refused',
        fields: expect.objectContaining({ status: 500 }),
      }),
    );
  });
});
