/**
 * GitHub's deployment gate end to end: `jitkey serve` as a process, the GitHub stand-in holding
 * jobs that target protected environments (`github-gate.ts`) and sending signed
 * `deployment_protection_rule` deliveries. Approve through the API → GitHub records `approved`
 * and starts the job → the job's exchange gets credentials at once; deny → `rejected`, the job
 * never starts; a delivery GitHub dropped is found by the reconciler; a re-run needs its own
 * approval, which whoever started it cannot give; a deployment no gated role covers is rejected.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { USERS, type UserName } from '../approvals/support.js';
import { eventually } from '../support/eventually.js';
import { runCli } from '../support/exchanger-process.js';
import { GATE_SHA, type GateJob, type GithubGate, githubGate } from '../support/github-gate.js';
import { type GithubStandin, githubAppEnv, startGithubStandin } from '../support/github-standin.js';
import { deliverWebhook } from '../support/github-webhook.js';
import { actionNodes, actionRunner, errors, log } from '../support/runner.js';
import { type Answer, policyFor, ROLE_ARN, type Stack, startStack } from '../support/stack.js';
import { startTokenEndpoint } from '../support/token-endpoint.js';

const SECRET = 'gate-webhook-secret';
const PUBLIC_URL = 'https://jitkey.acme.example';

const ROLES = `  release:
    provider: aws
    aws: { role_arn: ${ROLE_ARN} }
    approval: { approvers: [alice, bob], required: 1, gate: true }
    allow:
      - repository_id: "123456"
        environment: production
        ref: refs/heads/main
  two-keys-release:
    provider: aws
    aws: { role_arn: ${ROLE_ARN} }
    approval: { approvers: [alice, bob, carol], required: 2, gate: true }
    allow:
      - repository_id: "123456"
        environment: canary
  in-job-only:
    provider: aws
    aws: { role_arn: ${ROLE_ARN} }
    approval: { approvers: [alice, bob] }
    allow:
      - repository_id: "123456"
        environment: staging
`;

let gh: GithubStandin;
let gate: GithubGate;
let stack: Stack;
let runId = 7000;

beforeAll(async () => {
  gh = await startGithubStandin({
    installations: [
      {
        owner: 'acme',
        permissions: { members: 'read', actions: 'read', deployments: 'write' },
        repositories: ['web'],
      },
    ],
    users: Object.fromEntries(Object.values(USERS).map((u) => [u.token, { login: u.login, id: u.id }])),
  });
  gate = githubGate(gh, {
    repositories: { 'acme/web': 123456 },
    rules: { 'acme/web': ['production', 'canary', 'staging', 'reconciled'] },
  });
  stack = await startStack({
    policy: (issuer) => policyFor(issuer, ROLES),
    exchanger: {
      env: {
        ...githubAppEnv(gh),
        JITKEY_PUBLIC_URL: PUBLIC_URL,
        JITKEY_GITHUB_WEBHOOK_SECRET: SECRET,
        JITKEY_GATE_RECONCILE_INTERVAL: '1s',
      },
    },
  });
});
afterAll(async () => {
  await stack?.stop();
  await gh?.stop();
});

async function asUser(user: UserName, method: 'GET' | 'POST', path: string, body?: unknown): Promise<Answer> {
  const res = await fetch(`${stack.exchanger.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${USERS[user].token}`, 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: text ? JSON.parse(text) : undefined };
}

/** The gate request of `job` (its run and attempt), as approver `user` lists it. */
async function requestOf(job: GateJob, role = 'release', user: UserName = 'bob'): Promise<string> {
  return eventually(async () => {
    const res = await asUser(user, 'GET', '/v1/requests?status=pending');
    expect(res.status).toBe(200);
    const found = (res.body.requests as Array<Record<string, string>>).find(
      (r) => r.run_id === String(job.runId) && r.run_attempt === String(job.attempt) && r.role === role,
    );
    return found?.request_id;
  }, `the gate request of run ${job.runId} attempt ${job.attempt}`);
}

const reviewsOf = (job: GateJob) =>
  gate.reviews.filter((r) => r.runId === job.runId && r.attempt === job.attempt);
const finalOf = (job: GateJob) =>
  eventually(() => reviewsOf(job).find((r) => r.state), `the gate's answer for run ${job.runId}`);

/** The job's own exchange, with the claims GitHub puts in a token of that run. */
const jobExchange = (job: GateJob, role = 'release', claims: Record<string, string> = {}) =>
  stack.exchange(
    stack.idp.mint({
      run_id: String(job.runId),
      run_attempt: String(job.attempt),
      environment: job.environment,
      sha: job.sha,
      ...claims,
    }),
    { role },
  );

async function auditRows(requestId: string) {
  const out = await runCli(['audit', '--store', stack.exchanger.store, '--json']);
  return out.stdout
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Record<string, string>)
    .filter((r) => r.request_id === requestId)
    .reverse();
}

describe('deployment_protection_rule: jitkey decides before the job starts', () => {
  it('answers 202, opens a request, and on approval GitHub starts the job, whose exchange gets credentials at once', async () => {
    const job = gate.hold({ runId: ++runId });
    const delivered = await gate.deliver(job, stack.exchanger.url, SECRET);
    expect(delivered).toEqual({ status: 202, body: { accepted: true } });
    const id = await requestOf(job);
    // The first status report says who can approve, with the console's link.
    const waiting = await eventually(() => reviewsOf(job)[0], 'a status report');
    expect(waiting.state).toBeUndefined();
    expect(waiting.comment).toContain(`${PUBLIC_URL}/console/requests/${id}`);
    expect(waiting.comment).toContain('0 of 1 approvals');
    expect(job.started).toBe(false);

    // Before the gate opens, the job cannot have run; a token of it would wait like any other.
    const approve = await asUser('alice', 'POST', `/v1/requests/${id}/approve`, { reason: 'release 4.2' });
    expect(approve.status, JSON.stringify(approve.body)).toBe(200);
    const answer = await finalOf(job);
    expect(answer.state).toBe('approved');
    expect(answer.comment).toContain('approved by @alice');
    expect(answer.comment).toContain(`${PUBLIC_URL}/console/requests/${id}`);
    expect(job.started).toBe(true);

    const creds = await jobExchange(job);
    expect(creds.status, JSON.stringify(creds.body)).toBe(200);
    expect(creds.body.credentials.access_key_id).toMatch(/^ASIA/);
    // The deployment's other jobs (a matrix) get theirs too, each its own lease.
    const again = await jobExchange(job);
    expect(again.status).toBe(200);
    expect(again.body.lease_id).not.toBe(creds.body.lease_id);

    const rows = await auditRows(id);
    expect(rows.map((r) => [r.event, r.outcome])).toEqual(
      expect.arrayContaining([
        ['approval_request', 'pending'],
        ['approve', 'allowed'],
        ['gate', 'allowed'],
        ['redeem', 'allowed'],
      ]),
    );
    expect(rows.find((r) => r.event === 'redeem')?.reason).toMatch(/approved at the gate by alice/);
    // The grant names the job's client, as every exchange's row does (issue 26).
    expect(rows.find((r) => r.event === 'redeem')?.client_address).toBe('127.0.0.1');
  });

  it('a token of another sha, attempt or environment does not redeem the gate approval: it waits in the job', async () => {
    const job = gate.hold({ runId: ++runId });
    await gate.deliver(job, stack.exchanger.url, SECRET);
    const id = await requestOf(job);
    expect((await asUser('bob', 'POST', `/v1/requests/${id}/approve`)).status).toBe(200);
    expect((await finalOf(job)).state).toBe('approved');
    const others: Record<string, string>[] = [
      { sha: 'b'.repeat(40) },
      { run_attempt: '2' },
      { run_id: String(runId + 500) },
    ];
    for (const claims of others) {
      const res = await jobExchange(job, 'release', claims);
      expect(res.status, JSON.stringify(claims)).toBe(202);
    }
  });

  it('a denial answers rejected with the reason, and the job never starts', async () => {
    const job = gate.hold({ runId: ++runId });
    await gate.deliver(job, stack.exchanger.url, SECRET);
    const id = await requestOf(job);
    const deny = await asUser('bob', 'POST', `/v1/requests/${id}/deny`, { reason: 'freeze until Monday' });
    expect(deny.status).toBe(200);
    const answer = await finalOf(job);
    expect(answer.state).toBe('rejected');
    expect(answer.comment).toContain('denied by @bob: freeze until Monday');
    expect(job.started).toBe(false);
    expect(job.state).toBe('rejected');
  });

  it('reports each approval as it arrives ("1 of 2 approvals: @alice"), and approves at the second', async () => {
    const job = gate.hold({ runId: ++runId, environment: 'canary' });
    await gate.deliver(job, stack.exchanger.url, SECRET);
    const id = await requestOf(job, 'two-keys-release');
    expect((await asUser('alice', 'POST', `/v1/requests/${id}/approve`)).status).toBe(200);
    const report = await eventually(
      () => reviewsOf(job).find((r) => !r.state && r.comment.includes('1 of 2 approvals')),
      'the status report of the first approval',
    );
    expect(report.comment).toContain('1 of 2 approvals: @alice');
    expect(reviewsOf(job).some((r) => r.state)).toBe(false);
    expect((await asUser('bob', 'POST', `/v1/requests/${id}/approve`)).status).toBe(200);
    const answer = await finalOf(job);
    expect(answer.state).toBe('approved');
    expect(answer.comment).toMatch(/approved by @alice, @bob/);
  });

  it('a re-run is a new attempt that needs its own approval, which whoever started it cannot give', async () => {
    const first = gate.hold({ runId: ++runId });
    await gate.deliver(first, stack.exchanger.url, SECRET);
    const firstId = await requestOf(first);
    expect((await asUser('bob', 'POST', `/v1/requests/${firstId}/approve`)).status).toBe(200);
    expect((await finalOf(first)).state).toBe('approved');

    const rerun = gate.rerun(first, { login: USERS.alice.login, id: USERS.alice.id });
    await gate.deliver(rerun, stack.exchanger.url, SECRET);
    const secondId = await requestOf(rerun, 'release', 'bob');
    expect(secondId).not.toBe(firstId);
    // The attempt-1 approval does not carry over: attempt 2's job waits.
    expect((await jobExchange(rerun)).status).toBe(202);

    const self = await asUser('alice', 'POST', `/v1/requests/${secondId}/approve`);
    expect(self.status).toBe(403);
    expect(self.body.error).toBe('self_approval');
    expect(reviewsOf(rerun).some((r) => r.state)).toBe(false);

    expect((await asUser('bob', 'POST', `/v1/requests/${secondId}/approve`)).status).toBe(200);
    expect((await finalOf(rerun)).state).toBe('approved');
    expect((await jobExchange(rerun)).status).toBe(200);
  });

  it('an approval of an attempt a re-run followed answers nothing: GitHub would apply it to the re-run', async () => {
    const first = gate.hold({ runId: ++runId });
    await gate.deliver(first, stack.exchanger.url, SECRET);
    const firstId = await requestOf(first);
    // Attempt 1 was cancelled and alice re-ran it; attempt 2 waits at the gate.
    const rerun = gate.rerun(first, { login: USERS.alice.login, id: USERS.alice.id });
    await gate.deliver(rerun, stack.exchanger.url, SECRET);
    await requestOf(rerun, 'release', 'bob');
    // Alice may not approve her re-run, but may approve attempt 1's request, which bob's push started.
    expect((await asUser('alice', 'POST', `/v1/requests/${firstId}/approve`)).status).toBe(200);
    await eventually(
      async () =>
        (await auditRows(firstId)).find(
          (r) => r.reason === `closed: run ${first.runId} attempt 1 completed` && r.outcome === 'denied',
        ),
      'attempt 1’s request closed as its run attempt’s',
    );
    expect(reviewsOf(rerun).filter((r) => r.state)).toEqual([]);
    expect(rerun.started).toBe(false);
  });

  it('refuses a signed delivery that says of the run what GitHub does not, and audits it', async () => {
    // A run on a feature branch; a delivery signed with the secret that calls it main.
    const job = gate.hold({ runId: ++runId, ref: 'refs/heads/evil-feature', sha: 'b'.repeat(40) });
    const forged = { ...gate.payload(job), ref: 'refs/heads/main', sha: GATE_SHA };
    const res = await deliverWebhook(stack.exchanger.url, SECRET, forged, {
      event: 'deployment_protection_rule',
    });
    expect(res.status).toBe(202);
    const refused = await eventually(async () => {
      const out = await runCli(['audit', '--store', stack.exchanger.store, '--json', '--outcome', 'error']);
      return out.stdout
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as Record<string, string>)
        .find((r) => r.event === 'gate' && r.reason?.includes(`run ${job.runId}'s`));
    }, 'the refused delivery’s audit row');
    expect(refused.reason).toBe(
      `deployment_protection_rule: the delivery's sha '${GATE_SHA}' is not run ${job.runId}'s ('${'b'.repeat(40)}'); not acted on`,
    );
    const listed = await asUser('bob', 'GET', '/v1/requests?status=pending');
    expect(
      (listed.body.requests as Array<Record<string, string>>).some((r) => r.run_id === String(job.runId)),
    ).toBe(false);
  });

  it('finds a deployment whose delivery GitHub dropped (the reconciler), and answers it', async () => {
    const job = gate.hold({ runId: ++runId, environment: 'production' });
    // No delivery: only GitHub's list of waiting runs knows of it.
    const id = await requestOf(job);
    expect((await asUser('alice', 'POST', `/v1/requests/${id}/approve`)).status).toBe(200);
    expect((await finalOf(job)).state).toBe('approved');
    expect(job.started).toBe(true);
    expect(
      gh.requests.some(
        (r) => r.path === '/repos/acme/web/actions/runs' && r.query.includes('status=waiting'),
      ),
    ).toBe(true);
  });

  it('retries an answer GitHub refuses, audits the failure, and the reconciler answers again', async () => {
    const job = gate.hold({ runId: ++runId });
    await gate.deliver(job, stack.exchanger.url, SECRET);
    const id = await requestOf(job);
    // The answer and its two retries fail; the failure is audited; a later pass delivers it.
    gh.failNext(
      { method: 'POST', path: `/repos/acme/web/actions/runs/${job.runId}/deployment_protection_rule` },
      502,
      3,
    );
    expect((await asUser('alice', 'POST', `/v1/requests/${id}/approve`)).status).toBe(200);
    const failed = await eventually(
      async () => (await auditRows(id)).find((r) => r.event === 'gate' && r.outcome === 'error'),
      'the audited failure',
    );
    expect(failed.reason).toMatch(
      /approved for environment production .* not delivered after 3 attempt\(s\): .*HTTP 502/,
    );
    expect((await finalOf(job)).state).toBe('approved');
    expect(job.started).toBe(true);
    const metrics = await (await fetch(`${stack.exchanger.url}/metrics`)).text();
    expect(metrics).toMatch(/jitkey_decisions_total\{[^}]*outcome="gate_answer_failed"[^}]*\} [1-9]/);
    expect(metrics).toMatch(/jitkey_decisions_total\{[^}]*outcome="gate_approved"[^}]*\} [1-9]/);
  });

  it('rejects a deployment no role with approval.gate covers, saying what to change', async () => {
    const job = gate.hold({ runId: ++runId, environment: 'staging' });
    expect((await gate.deliver(job, stack.exchanger.url, SECRET)).status).toBe(202);
    const answer = await finalOf(job);
    expect(answer.state).toBe('rejected');
    expect(answer.comment).toContain('No role with `approval.gate: true`');
    expect(job.started).toBe(false);
  });

  it('refuses a delivery with a wrong signature (401)', async () => {
    const job = gate.hold({ runId: ++runId, environment: 'staging', sha: GATE_SHA });
    const res = await gate.deliver(job, stack.exchanger.url, 'not-the-secret');
    expect(res.status).toBe(401);
  });

  it('the Action on the runner GitHub started (after `jitkey approve`) gets credentials with no wait', async () => {
    const job = gate.hold({ runId: ++runId });
    await gate.deliver(job, stack.exchanger.url, SECRET);
    const id = await requestOf(job);
    const approved = await runCli(['approve', id, '--url', stack.exchanger.url], {
      GH_TOKEN: USERS.bob.token,
    });
    expect(approved.code, approved.stderr).toBe(0);
    expect((await finalOf(job)).state).toBe('approved');
    expect(job.started).toBe(true);

    const tokens = await startTokenEndpoint({
      token: (aud) =>
        stack.idp.mint({
          aud,
          run_id: String(job.runId),
          run_attempt: '1',
          environment: 'production',
          sha: job.sha,
        }),
    });
    try {
      const { runMain } = actionRunner(actionNodes()[0]!.path);
      const step = await runMain({
        inputs: { 'exchanger-url': stack.exchanger.url, role: 'release' },
        env: {
          ...tokens.env,
          GITHUB_REPOSITORY: 'acme/web',
          GITHUB_RUN_ID: String(job.runId),
          GITHUB_RUN_ATTEMPT: '1',
          GITHUB_WORKFLOW: 'Deploy',
          GITHUB_JOB: 'release',
        },
        timeoutMs: 60_000,
      });
      expect(errors(step), log(step)).toEqual([]);
      expect(step.exitCode).toBe(0);
      expect(step.env.AWS_ACCESS_KEY_ID).toMatch(/^ASIA/);
      expect(log(step)).not.toContain('needs approval');
    } finally {
      await tokens.stop();
    }
  });
});
