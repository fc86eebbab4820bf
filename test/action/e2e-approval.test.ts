/**
 * The built Action run as the runner runs it, for roles with `approval`, against `jitkey serve`
 * and a GitHub API stand-in that knows the approvers' tokens: the step waits; an approver runs
 * `jitkey approve`; the step redeems and finishes with credentials; the post step revokes them;
 * the audit trail has the request, the approval (who), the redemption and the revocation. Also a
 * denial (the approver's reason fails the step), expiry on the exchanger, the Action's own
 * approval-timeout, and a wrong approver.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ApprovalStack, startApprovalStack } from '../approvals/support.js';
import { eventually } from '../support/eventually.js';
import { runCli } from '../support/exchanger-process.js';
import { actionNodes, actionRunner, assertNoLeaks, errors, log, type StepResult } from '../support/runner.js';
import { startTokenEndpoint, type TokenEndpoint } from '../support/token-endpoint.js';

let s: ApprovalStack;
let tokens: TokenEndpoint;
/** This test's run: each test is its own run, so it finds its own request among the pending ones. */
let runId = 5000;

beforeAll(async () => {
  s = await startApprovalStack();
  tokens = await startTokenEndpoint({ token: (aud) => s.stack.idp.mint({ aud, run_id: String(runId) }) });
});
afterAll(async () => {
  await tokens?.stop();
  await s?.stop();
});

function jobOn(
  runMain: ReturnType<typeof actionRunner>['runMain'],
  role: string,
  inputs: Record<string, string> = {},
): Promise<StepResult> {
  runId++;
  return runMain({
    inputs: { 'exchanger-url': s.stack.exchanger.url, role, ...inputs },
    env: {
      ...tokens.env,
      GITHUB_REPOSITORY: 'acme/web',
      GITHUB_RUN_ID: String(runId),
      GITHUB_RUN_ATTEMPT: '1',
      GITHUB_WORKFLOW: 'Deploy',
      GITHUB_JOB: 'migrate',
    },
    timeoutMs: 90_000,
  });
}

/** The request the current run is waiting on, as an approver's `jitkey requests --json` lists it. */
async function waitingRequest(): Promise<string> {
  const run = String(runId);
  return eventually(async () => {
    const out = await s.cli(['requests', '--json'], 'alice');
    expect(out.code, out.stderr).toBe(0);
    const { requests } = JSON.parse(out.stdout) as {
      requests: Array<{ request_id: string; run_id: string }>;
    };
    return requests.find((r) => r.run_id === run)?.request_id;
  }, `run ${run}'s approval request`);
}

async function auditOf(requestId: string, leaseId?: string) {
  const out = await runCli(['audit', '--store', s.stack.exchanger.store, '--json']);
  return out.stdout
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Record<string, string>)
    .filter((r) => r.request_id === requestId || (leaseId && r.lease_id === leaseId))
    .reverse();
}

describe.each(actionNodes())('e2e: the Action waits for a human approval, on $name', (node) => {
  const { runMain, runPost } = actionRunner(node.path);
  const job = (role: string, inputs: Record<string, string> = {}) => jobOn(runMain, role, inputs);
  it('prints who can approve and how, waits, redeems on approval, and the post step revokes', async () => {
    const main = job('db-admin');
    const id = await waitingRequest();

    const wrong = await s.cli(['approve', id], 'mallory');
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toMatch(/^403 access_denied: mallory is not an approver/);

    const approved = await s.cli(['approve', id, '--reason', 'schema migration, ticket OPS-12'], 'alice');
    expect(approved.code, approved.stderr).toBe(0);
    expect(approved.stdout).toContain(`Approved request ${id}: role db-admin for acme/web (refs/heads/main)`);

    const step = await main;
    expect(errors(step), log(step)).toEqual([]);
    expect(step.exitCode).toBe(0);
    const text = log(step);
    expect(text).toContain(
      `Role 'db-admin' needs approval: 1 of alice, acme/platform-leads, octocat must approve request ${id}.`,
    );
    expect(text).toContain(`An approver runs:  jitkey approve ${id} --url ${s.stack.exchanger.url}`);
    expect(text).toContain(`Request ${id} approved by alice.`);
    expect(step.env.AWS_ACCESS_KEY_ID).toMatch(/^ASIA/);
    expect(step.outputs.provider).toBe('aws');
    expect(step.summary).toContain('| Approvers | alice, acme/platform-leads, octocat (1 required) |');
    expect(step.summary).toMatch(/\| Approved by \| alice at \S+ \|/);
    const leaseId = step.outputs['lease-id']!;
    const secrets = {
      accessKey: step.env.AWS_ACCESS_KEY_ID!,
      secretKey: step.env.AWS_SECRET_ACCESS_KEY!,
      sessionToken: step.env.AWS_SESSION_TOKEN!,
      revokeToken: step.state.revoke_token!,
    };
    assertNoLeaks(step, secrets, {
      env: ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN'],
      state: ['revoke_token'],
    });

    const post = await runPost(step);
    expect(post.exitCode, log(post)).toBe(0);

    const rows = await auditOf(id, leaseId);
    expect(rows.map((r) => [r.event, r.outcome, r.actor ?? null, r.error_code ?? null])).toEqual([
      ['approval_request', 'pending', null, null],
      ['approve', 'denied', 'mallory', 'access_denied'],
      ['approve', 'allowed', 'alice', null],
      ['redeem', 'allowed', null, null],
      ['revoke', 'revoked', null, null],
    ]);
    expect(rows[2]!.reason).toBe('approved (1 of 1): schema migration, ticket OPS-12; the job may redeem it');
    expect(rows[3]).toMatchObject({ lease_id: leaseId, reason: 'granted for 15m; approved by alice' });
  });

  it("fails with the approver's reason when denied", async () => {
    const main = job('db-admin');
    const id = await waitingRequest();
    const denied = await s.cli(['deny', id, '--reason', 'not during the release freeze'], 'carol');
    expect(denied.code, denied.stderr).toBe(0);
    const step = await main;
    expect(step.exitCode).toBe(1);
    expect(errors(step)).toEqual([
      `Approval for role 'db-admin' was denied (request ${id}): not during the release freeze`,
    ]);
    expect(step.env).toEqual({});
    const rows = await auditOf(id);
    expect(rows.map((r) => [r.event, r.actor ?? null])).toEqual([
      ['approval_request', null],
      ['deny', 'Carol'],
    ]);
  });

  it('fails with a clear message when the request expires on the exchanger', async () => {
    const step = await job('hasty'); // approval timeout: 2s, and nobody approves
    expect(step.exitCode).toBe(1);
    const [message] = errors(step);
    expect(message).toMatch(
      /^Approval request req_\S+ for role 'hasty' expired on the exchanger: nobody approved it within its \S+ timeout \(0 of 1 approvals\); it could have been approved by .+\. Re-run the job to ask again\.$/,
    );
  });

  it('gives up at its own approval-timeout', async () => {
    const step = await job('db-admin', { 'approval-timeout': '3s' });
    expect(step.exitCode).toBe(1);
    expect(errors(step)[0]).toMatch(
      /^No approval for role 'db-admin' within approval-timeout \(3s\); request req_\S+ is still pending\. Ask an approver \(alice, acme\/platform-leads, octocat\)/,
    );
  });
});
