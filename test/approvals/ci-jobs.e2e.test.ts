/**
 * Approvals for a GitLab job (docs/ci-systems.md): the real exchanger with a GitLab stand-in
 * issuer and the GitHub API stand-in that identifies approvers. The approver sees the job in
 * GitLab's terms (the notification, `jitkey requests`, `jitkey approve`), and the redemption must
 * come from the same pipeline.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ExchangerProcess, runCli, startExchanger } from '../support/exchanger-process.js';
import { type GithubStandin, githubAppEnv, startGithubStandin } from '../support/github-standin.js';
import { type OidcIssuer, startOidcIssuer } from '../support/oidc-issuer.js';
import { STS_KEY, stsEnv } from '../support/stack.js';
import { type StsStandin, startStsStandin } from '../support/sts-standin.js';
import { startWebhook, USERS, type Webhook } from './support.js';

let gitlab: OidcIssuer;
let sts: StsStandin;
let gh: GithubStandin;
let webhook: Webhook;
let exchanger: ExchangerProcess;

beforeAll(async () => {
  [gitlab, sts, webhook] = await Promise.all([
    startOidcIssuer({ shape: 'gitlab' }),
    startStsStandin(STS_KEY),
    startWebhook(),
  ]);
  gh = await startGithubStandin({
    installations: [{ owner: 'acme', permissions: { members: 'read' }, repositories: ['web'] }],
    users: Object.fromEntries(Object.values(USERS).map((u) => [u.token, { login: u.login, id: u.id }])),
  });
  const policy = `version: 1
issuers:
  - { url: ${gitlab.url}, audience: jitkey, kind: gitlab }
roles:
  db-admin:
    provider: aws
    aws: { role_arn: "arn:aws:iam::111122223333:role/db-admin", region: eu-west-1 }
    approval: { approvers: [alice], timeout: 30m, notify: ${webhook.url} }
    allow:
      - project_id: "20"
        ref_protected: "true"
`;
  exchanger = await startExchanger({
    policy,
    env: { ...stsEnv(sts), ...githubAppEnv(gh), JITKEY_PUBLIC_URL: 'https://jitkey.acme.example' },
  });
});
afterAll(async () => {
  await exchanger?.stop();
  await Promise.all([gitlab, sts, gh, webhook].map((s) => s?.stop()));
});

async function post(path: string, token: string, body: unknown) {
  const res = await fetch(`${exchanger.url}${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}
const cli = (args: string[]) => runCli([...args, '--url', exchanger.url], { GH_TOKEN: USERS.alice.token });

describe('an approval for a GitLab job', () => {
  it('names the job in GitLab terms to the approver and redeems only from the same pipeline', async () => {
    const pending = await post('/v1/exchange', gitlab.mint(), { role: 'db-admin' });
    expect(pending.status).toBe(202);
    const id = pending.body.request_id as string;

    await expect.poll(() => webhook.received.length).toBe(1);
    expect(webhook.received[0]!.body).toMatchObject({
      request_id: id,
      role: 'db-admin',
      ref: 'main',
      environment: 'production',
      job: {
        kind: 'gitlab',
        system: 'GitLab CI/CD',
        project: 'my-group/my-project',
        run: 'pipeline 574',
        job: 'job 302',
        ref: 'main',
        actor: 'sample-user',
        url: `${gitlab.url}/my-group/my-project/-/jobs/302`,
      },
    });

    const listed = await cli(['requests']);
    expect(listed.code).toBe(0);
    expect(listed.stdout).toContain('my-group/my-project');
    expect(listed.stdout).toContain('pipeline 574');

    const approved = await cli(['approve', id]);
    expect(approved.code).toBe(0);
    expect(approved.stdout).toContain(
      `Approved request ${id}: role db-admin for GitLab CI/CD my-group/my-project (main), pipeline 574, job 302, started by sample-user, ${gitlab.url}/my-group/my-project/-/jobs/302.`,
    );

    const poll = pending.body.poll_token as string;
    // GitLab mints a job's id_tokens once: a second `id_tokens` entry is the job's fresh token.
    const otherPipeline = await post(`/v1/requests/${id}/redeem`, gitlab.mint({ pipeline_id: '575' }), {
      poll_token: poll,
    });
    expect([otherPipeline.status, otherPipeline.body.message]).toEqual([
      403,
      "this token is not from the run that asked for approval (pipeline_id '575'): redeem with a fresh token of that same run",
    ]);
    const redeemed = await post(`/v1/requests/${id}/redeem`, gitlab.mint(), { poll_token: poll });
    expect(redeemed.status).toBe(200);
    expect(sts.requests.at(-1)!.params).toMatchObject({ RoleSessionName: 'jitkey-gl-574-302' });
  });
});
