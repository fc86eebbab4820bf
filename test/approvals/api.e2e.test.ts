/**
 * The approval API against `jitkey serve` as a process, with a GitHub API stand-in that knows the
 * approvers' tokens: 202 pending, status by poll token, listing and deciding by approvers (and
 * refusing everyone else), redemption by the same run only and only once, expiry, the notify
 * webhook and the audit trail.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '../support/eventually.js';
import { runCli } from '../support/exchanger-process.js';
import { deliverWebhook, workflowRun } from '../support/github-webhook.js';
import { type ApprovalStack, startApprovalStack, USERS, WEBHOOK_SECRET } from './support.js';

let s: ApprovalStack;
beforeAll(async () => {
  s = await startApprovalStack();
});
afterAll(async () => {
  await s?.stop();
});

/** A job of run `run_id` asks for `role`; its 202 body. */
async function ask(role: string, claims: Record<string, unknown> = {}, body: Record<string, unknown> = {}) {
  const res = await s.stack.exchange(s.stack.idp.mint(claims), { role, ...body });
  expect(res.status, JSON.stringify(res.body)).toBe(202);
  return res.body as {
    status: string;
    request_id: string;
    poll_token: string;
    expires_at: string;
    approvers: string[];
    required: number;
  };
}

const poll = async (id: string, pollToken: string) => {
  const res = await fetch(`${s.stack.exchanger.url}/v1/requests/${id}`, {
    headers: { authorization: `Bearer ${pollToken}` },
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
};

const redeem = (id: string, pollToken: string, claims: Record<string, unknown> = {}) =>
  s.stack.post(
    `/v1/requests/${id}/redeem`,
    { poll_token: pollToken },
    { authorization: `Bearer ${s.stack.idp.mint(claims)}` },
  );

describe('POST /v1/exchange for a role with approval', () => {
  it('answers 202 pending once the claims pass, and audits the request', async () => {
    const pending = await ask('db-admin');
    expect(pending).toEqual({
      status: 'pending',
      request_id: expect.stringMatching(/^req_/),
      poll_token: expect.any(String),
      expires_at: expect.any(String),
      approvers: ['alice', 'acme/platform-leads', 'octocat'],
      required: 1,
    });
    expect(Date.parse(pending.expires_at) - Date.now()).toBeGreaterThan(29 * 60_000);
    expect(await poll(pending.request_id, pending.poll_token)).toMatchObject({
      status: 200,
      body: { status: 'pending', approvals: [], role: 'db-admin', required: 1 },
    });
    const audit = await runCli(['audit', '--store', s.stack.exchanger.store, '--json']);
    const rows = audit.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(rows.find((r) => r.request_id === pending.request_id)).toMatchObject({
      event: 'approval_request',
      outcome: 'pending',
      role: 'db-admin',
    });
    expect(audit.stdout).not.toContain(pending.poll_token);
    expect(s.stack.exchanger.output()).not.toContain(pending.poll_token);
  });

  it('refuses a job the claims do not allow with 403, before any approval', async () => {
    const res = await s.stack.exchange(s.stack.idp.mint({ ref: 'refs/heads/dev' }), { role: 'db-admin' });
    expect(res.status).toBe(403);
    expect(res.body.error).toBe('access_denied');
  });

  it('tells the notify webhook, without secrets, with the command an approver runs', async () => {
    const pending = await ask('db-admin');
    const hook = await eventually(
      async () => s.webhook.received.find((r) => r.body.request_id === pending.request_id),
      'the webhook',
    );
    expect(hook.body).toEqual({
      event: 'approval_requested',
      request_id: pending.request_id,
      role: 'db-admin',
      repository: 'acme/web',
      ref: 'refs/heads/main',
      environment: 'production',
      event_name: 'push',
      workflow_ref: expect.any(String),
      run_id: '9876543210',
      run_attempt: '1',
      actor: 'octocat',
      approvers: ['alice', 'acme/platform-leads', 'octocat'],
      required: 1,
      created_at: expect.any(String),
      expires_at: pending.expires_at,
      approve_command: `jitkey approve ${pending.request_id} --url https://jitkey.acme.example`,
    });
    expect(JSON.stringify(hook)).not.toContain(pending.poll_token);
  });
});

describe('approvers', () => {
  it('are told which status is listed, with what they sent quoted, escaped and cut', async () => {
    const status = `\u202e${'x'.repeat(5_000)}`;
    const res = await s.asUser('alice', 'GET', `/v1/requests?status=${encodeURIComponent(status)}`);
    expect(res.status).toBe(400);
    expect(res.body.message).toMatch(/^status '\\u202ex+…' is not listed: only status=pending is/);
    expect(res.body.message.length).toBeLessThan(200);
  });

  it('list the pending requests they may decide, through a login or a team', async () => {
    const pending = await ask('db-admin');
    const alice = await s.asUser('alice', 'GET', '/v1/requests?status=pending');
    expect(alice.status).toBe(200);
    expect(alice.body.approver).toBe('alice');
    expect(alice.body.requests.map((r: { request_id: string }) => r.request_id)).toContain(
      pending.request_id,
    );
    expect(
      alice.body.requests.find((r: { request_id: string }) => r.request_id === pending.request_id),
    ).toMatchObject({
      role: 'db-admin',
      repository: 'acme/web',
      ref: 'refs/heads/main',
      actor: 'octocat',
      run_id: '9876543210',
    });
    const carol = await s.asUser('carol', 'GET', '/v1/requests');
    expect(carol.body.requests.map((r: { request_id: string }) => r.request_id)).toContain(
      pending.request_id,
    );
    // mallory is no approver; octocat started the job: neither sees it.
    expect((await s.asUser('mallory', 'GET', '/v1/requests')).body.requests).toEqual([]);
    const octocat = await s.asUser('octocat', 'GET', '/v1/requests');
    expect(octocat.body.requests.map((r: { request_id: string }) => r.request_id)).not.toContain(
      pending.request_id,
    );
  });

  it('jitkey requests prints them as a table', async () => {
    const pending = await ask('db-admin');
    const out = await s.cli(['requests'], 'alice');
    expect(out.code, out.stderr).toBe(0);
    expect(out.stdout).toMatch(/^ID\s+ROLE\s+REPOSITORY\s+REF\s+ACTOR\s+RUN\s+AGE\s+APPROVALS\s+EXPIRES IN/);
    const line = out.stdout.split('\n').find((l) => l.startsWith(pending.request_id))!;
    expect(line).toMatch(/db-admin\s+acme\/web\s+refs\/heads\/main\s+octocat\s+9876543210\/1\s+\S+\s+0\/1/);
  });

  it('a GitHub token GitHub does not know gets 401', async () => {
    const res = await fetch(`${s.stack.exchanger.url}/v1/requests`, {
      headers: { authorization: 'Bearer gho_unknown' },
    });
    expect(res.status).toBe(401);
    expect(((await res.json()) as { error: string }).error).toBe('invalid_token');
  });

  it('someone not listed is refused with 403 access_denied, learns nothing, and is audited', async () => {
    const pending = await ask('db-admin');
    const out = await s.cli(['approve', pending.request_id], 'mallory');
    expect(out.code).toBe(1);
    expect(out.stderr).toMatch(/^403 access_denied: mallory is not an approver for request req_/);
    expect(out.stderr).not.toMatch(/acme\/web|db-admin|octocat/);
    const res = await s.asUser('mallory', 'POST', `/v1/requests/${pending.request_id}/deny`, {
      reason: 'no',
    });
    expect(res.status).toBe(403);
    expect((await poll(pending.request_id, pending.poll_token)).body.status).toBe('pending');
    const audit = await runCli(['audit', '--store', s.stack.exchanger.store, '--json']);
    const refused = audit.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l))
      .filter((r) => r.request_id === pending.request_id && r.actor === 'mallory');
    expect(refused.map((r) => [r.event, r.outcome, r.error_code])).toEqual([
      ['deny', 'denied', 'access_denied'],
      ['approve', 'denied', 'access_denied'],
    ]);
  });

  it("the job's own actor may not approve it: 403 self_approval", async () => {
    const pending = await ask('db-admin'); // actor octocat, actor_id 1, listed as an approver
    const out = await s.cli(['approve', pending.request_id], 'octocat');
    expect(out.code).toBe(1);
    expect(out.stderr).toMatch(/^403 self_approval: /);
    expect((await poll(pending.request_id, pending.poll_token)).body.status).toBe('pending');
  });

  it('an unknown request id is 404 for an approver', async () => {
    const out = await s.cli(['approve', 'req_doesnotexist'], 'alice');
    expect(out.code).toBe(1);
    expect(out.stderr).toMatch(/^404 not_found/);
  });

  it('required: 2 needs two distinct approvers; the same one twice counts once', async () => {
    const pending = await ask('two-keys');
    const first = await s.cli(['approve', pending.request_id, '--reason', 'looks fine'], 'alice');
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).toContain('Status: pending (1 of 2 approvals)');
    const again = await s.cli(['approve', pending.request_id], 'alice');
    expect(again.stdout).toContain('Status: pending (1 of 2 approvals)');
    expect(await redeem(pending.request_id, pending.poll_token)).toMatchObject({
      status: 409,
      body: { error: 'not_approved' },
    });
    const second = await s.cli(['approve', pending.request_id], 'carol');
    expect(second.stdout).toContain('Status: approved (2 of 2 approvals)');
    const status = await poll(pending.request_id, pending.poll_token);
    expect(status.body).toMatchObject({
      status: 'approved',
      approvals: [{ login: 'alice' }, { login: 'Carol' }],
    });
  });
});

describe('re-runs (issue 16, item 5)', () => {
  it('whoever clicked re-run may not approve the attempt: GitHub names them, the token does not', async () => {
    s.gh.setRunAttempt('acme/web', '5550001', '2', {
      actor: { login: 'octocat', id: 1 },
      triggering_actor: { login: 'alice', id: 1001 },
    });
    const pending = await ask('db-admin', { run_id: '5550001', run_attempt: '2' });
    const out = await s.cli(['approve', pending.request_id], 'alice');
    expect(out.code).toBe(1);
    expect(out.stderr).toMatch(/^403 self_approval: alice started attempt 2 of this run/);
    expect(s.gh.requests.some((r) => r.path === '/repos/acme/web/actions/runs/5550001/attempts/2')).toBe(
      true,
    );
    expect((await poll(pending.request_id, pending.poll_token)).body.status).toBe('pending');
    const carol = await s.cli(['approve', pending.request_id], 'carol');
    expect(carol.code, carol.stderr).toBe(0);
  });

  it('fails closed when GitHub cannot answer for the run attempt', async () => {
    const pending = await ask('db-admin', { run_id: '5550002' });
    s.gh.failNext({ method: 'GET', path: /\/actions\/runs\/5550002\/attempts\/1$/ }, 503, 2);
    const out = await s.cli(['approve', pending.request_id], 'alice');
    expect(out.code).toBe(1);
    expect(out.stderr).toMatch(/^502 upstream_error: /);
    expect((await poll(pending.request_id, pending.poll_token)).body.status).toBe('pending');
  });
});

describe('redeem', () => {
  it('with a fresh token of the same run: 200 with credentials, once; another run is refused', async () => {
    const pending = await ask('db-admin', {}, { duration_seconds: 900 });
    expect((await s.cli(['approve', pending.request_id], 'alice')).code).toBe(0);

    const otherRun = await redeem(pending.request_id, pending.poll_token, { run_id: '1111111111' });
    expect(otherRun.status).toBe(403);
    expect(otherRun.body).toMatchObject({ error: 'access_denied' });
    expect(otherRun.body.message).toContain("run_id '1111111111'");
    const retried = await redeem(pending.request_id, pending.poll_token, { run_attempt: '2' });
    expect(retried.status).toBe(403);

    const wrongPoll = await redeem(pending.request_id, 'not-the-poll-token');
    expect(wrongPoll).toMatchObject({ status: 404, body: { error: 'not_found' } });

    const granted = await redeem(pending.request_id, pending.poll_token);
    expect(granted.status, JSON.stringify(granted.body)).toBe(200);
    expect(granted.body).toMatchObject({
      lease_id: expect.stringMatching(/^lease_/),
      revoke_token: expect.any(String),
      role: 'db-admin',
      provider: 'aws',
      credentials: { access_key_id: expect.any(String), region: 'eu-west-1' },
    });
    // The lease runs from redemption for the duration asked at the exchange.
    const lasts = Date.parse(granted.body.expires_at) - Date.now();
    expect(lasts).toBeGreaterThan(14 * 60_000);
    expect(lasts).toBeLessThanOrEqual(15 * 60_000);

    const second = await redeem(pending.request_id, pending.poll_token);
    expect(second).toMatchObject({ status: 409, body: { error: 'already_redeemed' } });
    expect((await poll(pending.request_id, pending.poll_token)).body.status).toBe('redeemed');

    const revoked = await s.stack.post('/v1/revoke', {
      lease_id: granted.body.lease_id,
      revoke_token: granted.body.revoke_token,
    });
    expect(revoked.status).toBe(204);

    const audit = await runCli(['audit', '--store', s.stack.exchanger.store, '--json']);
    const rows = audit.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l))
      .filter((r) => r.request_id === pending.request_id || r.lease_id === granted.body.lease_id)
      .reverse();
    expect(rows.map((r) => [r.event, r.outcome, r.error_code ?? null, r.actor ?? null])).toEqual([
      ['approval_request', 'pending', null, null],
      ['approve', 'allowed', null, 'alice'],
      ['redeem', 'denied', 'access_denied', null],
      ['redeem', 'denied', 'access_denied', null],
      ['redeem', 'denied', 'not_found', null],
      ['redeem', 'allowed', null, null],
      ['redeem', 'denied', 'already_redeemed', null],
      ['revoke', 'revoked', null, null],
    ]);
    expect(rows[5].reason).toBe('granted for 15m; approved by alice');
    expect(audit.stdout).not.toContain(granted.body.revoke_token);
  });

  it('of concurrent redemptions exactly one gets credentials', async () => {
    const pending = await ask('db-admin');
    await s.cli(['approve', pending.request_id], 'carol');
    const results = await Promise.all(
      Array.from({ length: 5 }, () => redeem(pending.request_id, pending.poll_token)),
    );
    expect(results.map((r) => r.status).sort()).toEqual([200, 409, 409, 409, 409]);
  });

  it('a replayed OIDC token is refused even for an approved request', async () => {
    const pending = await ask('db-admin');
    await s.cli(['approve', pending.request_id], 'alice');
    const token = s.stack.idp.mint();
    const use = () =>
      s.stack.post(
        `/v1/requests/${pending.request_id}/redeem`,
        { poll_token: pending.poll_token },
        { authorization: `Bearer ${token}` },
      );
    expect((await use()).status).toBe(200);
    expect(await use()).toMatchObject({ status: 401, body: { error: 'token_replayed' } });
  });
});

describe('denial and expiry', () => {
  it('a denial ends the request with its reason; it can no longer be approved or redeemed', async () => {
    const pending = await ask('two-keys');
    const out = await s.cli(['deny', pending.request_id, '--reason', 'change freeze until Monday'], 'bob');
    expect(out.code, out.stderr).toBe(0);
    expect(out.stdout).toContain('Denied request');
    expect((await poll(pending.request_id, pending.poll_token)).body).toMatchObject({
      status: 'denied',
      reason: 'change freeze until Monday',
      denied_by: 'bob',
    });
    const late = await s.cli(['approve', pending.request_id], 'alice');
    expect(late.code).toBe(1);
    expect(late.stderr).toMatch(
      /^400 invalid_request: this request can no longer be approved: it was denied by bob/,
    );
    expect(await redeem(pending.request_id, pending.poll_token)).toMatchObject({
      status: 409,
      body: { error: 'not_approved' },
    });
  });

  it('deny needs a reason', async () => {
    const out = await s.cli(['deny', 'req_x'], 'bob');
    expect(out.code).toBe(2);
    expect(out.stderr).toContain('--reason is required');
  });

  it('a request nobody decides expires at its timeout, and is audited as expired', async () => {
    const pending = await ask('hasty'); // timeout: 2s
    const expired = await eventually(async () => {
      const { body } = await poll(pending.request_id, pending.poll_token);
      return body.status === 'expired' ? body : undefined;
    }, 'the request to expire');
    expect(expired).toMatchObject({ status: 'expired', approvals: [] });
    const late = await s.cli(['approve', pending.request_id], 'alice');
    expect(late.stderr).toMatch(/no longer be approved: it expired at /);
    const audit = await runCli(['audit', '--store', s.stack.exchanger.store, '--json']);
    const rows = audit.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l))
      .filter((r) => r.request_id === pending.request_id);
    expect(rows.map((r) => r.event)).toEqual(['expire', 'approval_request']);
    expect(rows[0].reason).toBe('expired with 0 of 1 approvals');
  });
});

describe('secrets', () => {
  it("the exchanger's log never holds an approver's GitHub token or a poll token", async () => {
    const pending = await ask('db-admin');
    await s.cli(['approve', pending.request_id], 'carol');
    await redeem(pending.request_id, pending.poll_token);
    const output = s.stack.exchanger.output();
    for (const user of Object.values(USERS)) expect(output).not.toContain(user.token);
    expect(output).not.toContain(pending.poll_token);
  });
});

describe('without a GitHub App', () => {
  it('roles with approval are refused at exchange time, saying why (fail closed)', async () => {
    const bare = await startApprovalStack({ githubApp: false });
    try {
      const res = await bare.stack.exchange(bare.stack.idp.mint(), { role: 'db-admin' });
      expect(res.status).toBe(403);
      expect(res.body.error).toBe('access_denied');
      expect(res.body.message).toContain('no GitHub App configured to identify approvers');
      expect(bare.stack.exchanger.output()).toMatch(/a role needs approval and no GitHub App is configured/);
    } finally {
      await bare.stop();
    }
  });
});

describe('when the run completes (GitHub workflow_run webhook)', () => {
  it('closes its pending and approved requests: no longer listed, not redeemable, audited', async () => {
    const runId = String(Date.now());
    const ask = () => s.stack.exchange(s.stack.idp.mint({ run_id: runId }), { role: 'db-admin' });
    const pending = (await ask()).body;
    const approved = (await ask()).body;
    expect((await s.asUser('alice', 'POST', `/v1/requests/${approved.request_id}/approve`, {})).status).toBe(
      200,
    );
    const other = (await s.stack.exchange(s.stack.idp.mint(), { role: 'db-admin' })).body;

    const hook = await deliverWebhook(s.stack.exchanger.url, WEBHOOK_SECRET, workflowRun(runId, 1));
    expect(hook.status).toBe(200);

    const listed = (await s.asUser('alice', 'GET', '/v1/requests?status=pending')).body.requests.map(
      (r: { request_id: string }) => r.request_id,
    );
    expect(listed).not.toContain(pending.request_id);
    expect(listed).toContain(other.request_id);
    for (const r of [pending, approved]) {
      const status = await fetch(`${s.stack.exchanger.url}/v1/requests/${r.request_id}`, {
        headers: { authorization: `Bearer ${r.poll_token}` },
      });
      expect(((await status.json()) as { status: string }).status).toBe('expired');
    }
    const redeem = await s.stack.post(
      `/v1/requests/${approved.request_id}/redeem`,
      { poll_token: approved.poll_token },
      { authorization: `Bearer ${s.stack.idp.mint({ run_id: runId })}` },
    );
    expect(redeem.status).toBe(409);
    expect(redeem.body.error).toBe('not_approved');
    expect(redeem.body.message).toContain(`(run ${runId} attempt 1 completed) without being redeemed`);
    const audit = await runCli(['audit', '--store', s.stack.exchanger.store, '--json']);
    const closed = audit.stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { event: string; reason: string; request_id: string })
      .filter((row) => row.event === 'expire' && row.reason === `closed: run ${runId} attempt 1 completed`);
    expect(closed.map((row) => row.request_id).sort()).toEqual(
      [pending.request_id, approved.request_id].sort(),
    );
  });
});
