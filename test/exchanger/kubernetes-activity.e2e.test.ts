/**
 * Lease activity, Kubernetes (issue 26, items 2 and 3), end to end: a job gets a Kubernetes token
 * from `jitkey serve` and uses it against the Kubernetes stand-in, which audits every request as
 * an API server does (the token's jti in `user.extra`) and posts its events, among thousands of a
 * busy cluster's, to `POST /v1/kubernetes/audit`. The lease's activity lists the job's calls and
 * nothing else; a verb the role forbids is flagged; a sender without the webhook's bearer, or a
 * body over the cap, stores nothing.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '../support/eventually.js';
import { runCli } from '../support/exchanger-process.js';
import { type GithubStandin, githubAppEnv, startGithubStandin } from '../support/github-standin.js';
import { eventList, unrelatedEvents } from '../support/kubernetes-audit.js';
import { type KubernetesStandin, startKubernetesStandin } from '../support/kubernetes-standin.js';
import { leaseActivity } from '../support/lease-activity.js';
import { firstStatus, type RawConnection, rawConnect } from '../support/raw-http.js';
import { policyFor, type Stack, startStack } from '../support/stack.js';

let stack: Stack;
let kube: KubernetesStandin;
let gh: GithubStandin;
let auditUrl: string;
const AUDIT_TOKEN = randomBytes(32).toString('hex');
const ALICE = { token: 'gho_alice_token_0001', login: 'alice', id: 1001 };
const MALLORY = { token: 'gho_mallory_token_0666', login: 'mallory', id: 1666 };

const role = (name: string, server: string, forbid = '') => `  ${name}:
    provider: kubernetes
    kubernetes: { server: "${server}", namespace: web, service_account: deployer }
${forbid ? `    forbid_actions: ${forbid}\n` : ''}    allow:
      - repository_id: "123456"
`;

beforeAll(async () => {
  kube = await startKubernetesStandin({ namespaces: { web: ['deployer'] } });
  gh = await startGithubStandin({
    installations: [{ owner: 'acme', permissions: { members: 'read' }, repositories: ['web'] }],
    users: Object.fromEntries([ALICE, MALLORY].map((u) => [u.token, { login: u.login, id: u.id }])),
  });
  const tokenFile = join(mkdtempSync(join(tmpdir(), 'jitkey-kaudit-')), 'audit-token');
  writeFileSync(tokenFile, `${AUDIT_TOKEN}\n`, { mode: 0o600 });
  stack = await startStack({
    policy: (issuer) =>
      policyFor(
        issuer,
        `${role('deploy-k8s', kube.url)}${role('guarded-k8s', kube.url, '["delete secrets", "* pods/exec"]')}admins: [alice]
`,
      ),
    exchanger: {
      env: {
        ...githubAppEnv(gh),
        JITKEY_KUBECONFIG: kube.writeKubeconfig(),
        JITKEY_LEASE_ACTIVITY: 'kubernetes',
        JITKEY_KUBERNETES_AUDIT_TOKEN_FILE: tokenFile,
        JITKEY_ACTIVITY_POLL_INTERVAL: '1s',
        JITKEY_ACTIVITY_HORIZON: '1h',
      },
    },
  });
  auditUrl = `${stack.exchanger.url}/v1/kubernetes/audit`;
});
afterAll(async () => {
  await stack?.stop();
  await kube?.stop();
  await gh?.stop();
});

interface Granted {
  lease_id: string;
  credentials: { token: string; server: string; namespace: string };
}

async function grant(name = 'deploy-k8s'): Promise<Granted & { jti: string }> {
  const res = await stack.exchange(stack.idp.mint(), { role: name });
  expect(res.status).toBe(200);
  const g = res.body as Granted;
  const jti = kube.issued.find((i) => i.token === g.credentials.token)?.jti;
  expect(jti).toBeDefined();
  return { ...g, jti: jti! };
}

/** The job's requests with its token, as kubectl would send them; the stand-in's answers. */
async function use(g: Granted, calls: [method: string, path: string][]): Promise<number[]> {
  const statuses: number[] = [];
  for (const [method, path] of calls) {
    const res = await fetch(`${kube.url}${path}`, {
      method,
      headers: { authorization: `Bearer ${g.credentials.token}`, 'user-agent': 'kubectl/v1.31.0 (e2e)' },
    });
    await res.arrayBuffer();
    statuses.push(res.status);
  }
  return statuses;
}

const LIST = ['GET', '/api/v1/namespaces/web/configmaps'] as [string, string];
const GET = ['GET', '/api/v1/namespaces/web/configmaps/app-config'] as [string, string];
const DELETE_SECRET = ['DELETE', '/api/v1/namespaces/web/secrets/db-password'] as [string, string];
const EXEC = ['POST', '/api/v1/namespaces/web/pods/web-0/exec?command=sh'] as [string, string];

const activity = (leaseId: string) => leaseActivity(stack.exchanger.store, leaseId);

async function flagged(leaseId: string) {
  const { code, stdout } = await runCli(['audit', '--store', stack.exchanger.store, '--json']);
  expect(code).toBe(0);
  return stdout
    .trimEnd()
    .split('\n')
    .map((line) => JSON.parse(line))
    .filter((r) => r.event === 'activity' && r.lease_id === leaseId);
}

describe('lease activity from the Kubernetes audit webhook', () => {
  it("lists the calls made with each lease's token, and nothing of the rest of the cluster", async () => {
    const first = await grant();
    const second = await grant();
    expect(await use(first, [LIST, GET])).toEqual([200, 200]);
    expect(await use(second, [LIST])).toEqual([200]);
    const statuses = await kube.flushAudit({ url: auditUrl, token: AUDIT_TOKEN, unrelated: 3000 });
    expect(statuses.length).toBeGreaterThanOrEqual(8);
    expect(new Set(statuses)).toEqual(new Set([200]));

    const { text, json } = await activity(first.lease_id);
    expect(json).toMatchObject({ lease_id: first.lease_id, role: 'deploy-k8s', provider: 'kubernetes' });
    expect(json.credentials).toEqual([
      expect.objectContaining({
        provider: 'kubernetes',
        key_id: first.jti,
        account: kube.url,
        region: 'web',
        status: 'collecting',
      }),
    ]);
    // One event per request (its final stage), none of the exchanger's own calls or the cluster's.
    expect(json.events.map((e: { name: string; source: string }) => `${e.name} ${e.source}`)).toEqual([
      'list configmaps',
      'get configmaps',
    ]);
    expect(json.events[1]).toMatchObject({
      region: 'web',
      read_only: true,
      key_id: first.jti,
      resources: [{ type: 'configmaps', name: 'app-config' }],
      details: {
        request_uri: '/api/v1/namespaces/web/configmaps/app-config',
        response_code: 200,
        user: 'system:serviceaccount:web:deployer',
        user_agent: 'kubectl/v1.31.0 (e2e)',
        source_ips: ['127.0.0.1'],
        stage: 'ResponseComplete',
      },
    });
    expect(json.events[1].error_code).toBeUndefined();
    // The token names the lease; it is never kept.
    expect(text).not.toContain(first.credentials.token);
    expect(stack.exchanger.output()).not.toContain(first.credentials.token);
    expect(stack.exchanger.output()).not.toContain(AUDIT_TOKEN);
    const other = await activity(second.lease_id);
    expect(other.json.events.map((e: { key_id: string }) => e.key_id)).toEqual([second.jti]);
    const metrics = await (await fetch(`${stack.exchanger.url}/metrics`)).text();
    expect(metrics).toContain(`jitkey_kubernetes_audit_batches_total{status="200"} ${statuses.length}`);
    expect(metrics).toMatch(/^jitkey_kubernetes_audit_events_total 3$/m);

    // The table names the lease, its token's jti and what it did.
    const table = await runCli(['audit', 'lease', first.lease_id, '--store', stack.exchanger.store]);
    expect(table.code).toBe(0);
    expect(table.stdout).toContain(
      `kubernetes key ${first.jti} (${kube.url}, web), by token (jti): collecting (the API server's audit webhook sends the events)`,
    );
    expect(table.stdout).toMatch(/configmaps +get +web +yes/);
  });

  it('GET /v1/leases/{id}/activity shows them to the admins, and nobody else', async () => {
    const g = await grant();
    await use(g, [GET]);
    await kube.flushAudit({ url: auditUrl, token: AUDIT_TOKEN, unrelated: 200 });
    const get = async (token: string) => {
      const res = await fetch(`${stack.exchanger.url}/v1/leases/${g.lease_id}/activity`, {
        headers: { authorization: `Bearer ${token}` },
      });
      // biome-ignore lint/suspicious/noExplicitAny: answers are inspected field by field
      return { status: res.status, body: (await res.json()) as any };
    };
    const admin = await get(ALICE.token);
    expect(admin.status).toBe(200);
    expect(admin.body.events).toEqual([
      expect.objectContaining({ name: 'get', source: 'configmaps', key_id: g.jti, read_only: true }),
    ]);
    const other = await get(MALLORY.token);
    expect(other.status).toBe(403);
    expect(JSON.stringify(other.body)).not.toContain('configmaps');
  });

  it('flags a verb the role forbids, refused or not: an audit row and a metric', async () => {
    const g = await grant('guarded-k8s');
    // The service account may not delete Secrets (403); the stand-in has no exec (404).
    expect(await use(g, [LIST, DELETE_SECRET, EXEC])).toEqual([200, 403, 404]);
    const sent = eventList([...kube.pendingAudit()]);
    expect(new Set(await kube.flushAudit({ url: auditUrl, token: AUDIT_TOKEN, unrelated: 1000 }))).toEqual(
      new Set([200]),
    );
    // The API server sends a batch again when it saw no answer: nothing is added or flagged twice.
    const again = await fetch(auditUrl, {
      method: 'POST',
      headers: { authorization: `Bearer ${AUDIT_TOKEN}`, 'content-type': 'application/json' },
      body: sent,
    });
    expect(await again.json()).toEqual({ kept: 3, added: 0 });
    const { json } = await activity(g.lease_id);
    expect(json.events.map((e: { name: string; source: string }) => `${e.name} ${e.source}`)).toEqual([
      'list configmaps',
      'delete secrets',
      'create pods/exec',
    ]);
    expect(json.events[1]).toMatchObject({ error_code: '403 Forbidden', read_only: false });
    const rows = await flagged(g.lease_id);
    const reasons = rows.map((r) => r.reason as string).sort();
    expect(reasons).toEqual([
      expect.stringContaining(
        `lease used create pods/exec, which role 'guarded-k8s' forbids (* pods/exec): at `,
      ),
      expect.stringContaining(
        `lease used delete secrets, which role 'guarded-k8s' forbids (delete secrets): at `,
      ),
    ]);
    expect(reasons[1]).toContain(
      `on db-password in namespace web with token jti ${g.jti}; Kubernetes refused it: 403 Forbidden (audit event `,
    );
    for (const row of rows) {
      expect(row).toMatchObject({ outcome: 'denied', error_code: 'forbidden_action', role: 'guarded-k8s' });
    }
    const metrics = await (await fetch(`${stack.exchanger.url}/metrics`)).text();
    expect(metrics).toContain('jitkey_forbidden_actions_total{role="guarded-k8s",action="delete secrets"} 1');
    expect(metrics).toContain(
      // Counted by the entry matched: the client spells a request's resource and group.
      'jitkey_forbidden_actions_total{role="guarded-k8s",action="* pods/exec"} 1',
    );
  });

  it('a sender without the bearer token gets 401 and stores nothing', async () => {
    const g = await grant();
    await use(g, [LIST]);
    const pending = [...kube.pendingAudit()];
    const post = (headers: Record<string, string>) =>
      fetch(auditUrl, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        body: eventList(pending),
      });
    for (const headers of [
      {} as Record<string, string>,
      { authorization: `Bearer ${randomBytes(32).toString('hex')}` },
      { authorization: `Bearer ${AUDIT_TOKEN}x` },
      { authorization: `Basic ${AUDIT_TOKEN}` },
    ]) {
      const res = await post(headers);
      expect(res.status).toBe(401);
      expect(await res.json()).toMatchObject({ error: 'invalid_token' });
    }
    expect((await activity(g.lease_id)).json.events).toEqual([]);
    const metrics = await (await fetch(`${stack.exchanger.url}/metrics`)).text();
    expect(metrics).toContain('jitkey_kubernetes_audit_batches_total{status="401"} 4');
    // The same events, with the token: kept.
    expect((await post({ authorization: `Bearer ${AUDIT_TOKEN}` })).status).toBe(200);
    expect((await activity(g.lease_id)).json.events).toHaveLength(1);
    await kube.flushAudit({ url: auditUrl, token: AUDIT_TOKEN });
  });

  it('a body over 10 MiB is refused, and nothing of it is stored', async () => {
    const g = await grant();
    await use(g, [LIST]);
    // The job's event first, then a cluster's worth: the cut comes after it has been sent.
    const body = Buffer.from(eventList([...kube.pendingAudit(), ...unrelatedEvents(12_000)]));
    expect(body.length).toBeGreaterThan(10 * 1024 * 1024);
    const port = Number(new URL(stack.exchanger.url).port);
    const head = `POST /v1/kubernetes/audit HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${AUDIT_TOKEN}\r\nContent-Type: application/json\r\n`;
    // Declared too large: refused before a byte of it is read. Streamed (chunked, no length):
    // refused at the cap.
    for (const [streamed, send] of [
      [false, (conn: RawConnection) => conn.socket.write(`${head}Content-Length: ${body.length}\r\n\r\n`)],
      [
        true,
        (conn: RawConnection) => {
          conn.socket.write(`${head}Transfer-Encoding: chunked\r\n\r\n`);
          for (let i = 0; i < body.length && !conn.socket.destroyed; i += 64 * 1024) {
            const chunk = body.subarray(i, i + 64 * 1024);
            conn.socket.write(`${chunk.length.toString(16)}\r\n`);
            conn.socket.write(chunk);
            conn.socket.write('\r\n');
          }
          conn.socket.write('0\r\n\r\n');
        },
      ],
    ] as const) {
      const conn = await rawConnect(port);
      try {
        send(conn);
        const status = await firstStatus(conn);
        if (streamed && status === undefined) {
          // The body is cut, not drained: closing a socket with unread bytes makes the kernel reset
          // it, which can discard the 400 before a client still sending reads it (docs/hardening.md).
          expect(conn.errorCode()).toBe('ECONNRESET');
          continue;
        }
        expect(status).toBe(400);
        const answer = await eventually(() => /\{.*\}/s.exec(conn.received())?.[0], 'the answer body');
        expect(JSON.parse(answer)).toMatchObject({
          error: 'invalid_request',
          message: 'request body exceeds 10 MiB',
        });
        await conn.closed;
      } finally {
        conn.socket.destroy();
      }
    }
    expect((await activity(g.lease_id)).json.events).toEqual([]);
    // The API server does not send a refused batch again: the log says what to set.
    expect(stack.exchanger.output()).toContain(
      'a kubernetes audit batch over 10 MiB was refused and is lost',
    );
    expect(stack.exchanger.output()).toContain('--audit-webhook-truncate-enabled=true');
    await kube.flushAudit({ url: auditUrl, token: AUDIT_TOKEN });
  });

  it('a body that is not an audit.k8s.io/v1 EventList is refused, saying why', async () => {
    const res = await fetch(auditUrl, {
      method: 'POST',
      headers: { authorization: `Bearer ${AUDIT_TOKEN}`, 'content-type': 'application/json' },
      body: '{"kind":"EventList","apiVersion":"audit.k8s.io/v1beta1","items":[]}',
    });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { message: string }).message).toContain(
      "set the API server's --audit-webhook-version to audit.k8s.io/v1",
    );
  });

  it('refuses to start with kubernetes activity but no webhook token, saying what to set', async () => {
    const { code, stderr } = await runCli(
      [
        'serve',
        '--policy',
        stack.exchanger.policyPath,
        '--port',
        '0',
        '--workers',
        '1',
        '--store',
        'sqlite::memory:',
      ],
      { JITKEY_LEASE_ACTIVITY: 'kubernetes', JITKEY_KUBECONFIG: kube.writeKubeconfig() },
    );
    expect(code).not.toBe(0);
    expect(stderr).toContain(
      "JITKEY_LEASE_ACTIVITY names kubernetes, whose events the API server's audit webhook sends: set JITKEY_KUBERNETES_AUDIT_TOKEN_FILE",
    );
  });
});
