/**
 * One `jitkey serve` process over a policy that mixes GitHub, two GitLab instances, Buildkite and
 * CircleCI (docs/ci-systems.md): stand-in issuers on loopback mint each system's documented claim
 * shape, and the real exchanger grants, refuses, refuses replays, names the job to STS and in the
 * audit trail (`jitkey audit`), each in its own system's terms.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CiStandins, startCiIssuers } from '../support/ci-issuers.js';
import { fourCiPolicy, ROLE_ARN } from '../support/ci-policy.js';
import { type ExchangerProcess, runCli, startExchanger } from '../support/exchanger-process.js';
import { STS_KEY, stsEnv } from '../support/stack.js';
import { type StsStandin, startStsStandin } from '../support/sts-standin.js';

let ci: CiStandins;
let sts: StsStandin;
let exchanger: ExchangerProcess;

beforeAll(async () => {
  [ci, sts] = await Promise.all([startCiIssuers(), startStsStandin(STS_KEY)]);
  exchanger = await startExchanger({ policy: fourCiPolicy(ci.urls), env: stsEnv(sts) });
});
afterAll(async () => {
  await exchanger?.stop();
  await Promise.all([ci?.stop(), sts?.stop()]);
});

async function exchange(token: string, role: string) {
  const res = await fetch(`${exchanger.url}/v1/exchange`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ role }),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

async function audit(...args: string[]) {
  const out = await runCli(['audit', '--store', exchanger.store, '--json', ...args]);
  expect(out.code).toBe(0);
  return out.stdout
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

const lastCall = () => sts.requests.at(-1)!.params;

describe('one policy, four CI systems, through the real exchanger', () => {
  it('grants a GitLab job, names it to STS by pipeline and job, and audits it in GitLab terms', async () => {
    const res = await exchange(ci.gitlab.mint({ user_login: 'sample-user' }), 'gitlab-deploy');
    expect(res.status).toBe(200);
    expect(lastCall()).toMatchObject({
      RoleArn: ROLE_ARN,
      RoleSessionName: 'jitkey-gl-574-302',
      SourceIdentity: 'sample-user@127.0.0.1',
    });
    const [row] = await audit('--role', 'gitlab-deploy', '--outcome', 'allowed');
    expect(row!.claims).toEqual({
      iss: ci.gitlab.url,
      project_path: 'my-group/my-project',
      project_id: '20',
      namespace_id: '72',
      ref: 'main',
      ref_protected: 'true',
      sha: '714a629c0b401fdce83e847fc9589983fc6f46bc',
      environment: 'production',
      environment_protected: 'true',
      pipeline_source: 'push',
      pipeline_id: '574',
      job_id: '302',
      user_login: 'sample-user',
      user_id: '1',
    });
    const table = await runCli(['audit', '--store', exchanger.store, '--role', 'gitlab-deploy']);
    expect(table.stdout).toContain('my-group/my-project');
    expect(table.stdout).toContain('pipeline 574');
  });

  it('grants the same role to GitHub and GitLab jobs by their own rules', async () => {
    expect((await exchange(ci.github.mint(), 'web-deploy')).status).toBe(200);
    expect(lastCall().RoleSessionName).toBe('jitkey-9876543210-1');
    expect((await exchange(ci.gitlab.mint(), 'web-deploy')).status).toBe(200);
  });

  it('never gives a GitLab token a GitHub rule, even with GitHub-named claims', async () => {
    const posing = ci.gitlab.mint({
      project_id: '99',
      repository: 'acme/web',
      repository_id: '123456',
      ref: 'refs/heads/main',
      environment: 'production',
    });
    const res = await exchange(posing, 'web-deploy');
    expect(res.status).toBe(403);
    expect(res.body.message).toBe(
      `role 'web-deploy' denied: no allow rule held — allow[0]: iss was '${ci.gitlab.url}' — allow[1]: project_id was '99'`,
    );
  });

  it('tells two GitLab instances apart: the same job from the other instance is refused', async () => {
    const res = await exchange(ci.gitlab2.mint(), 'gitlab-deploy');
    expect(res.status).toBe(403);
    expect(res.body.message).toBe(
      `role 'gitlab-deploy' denied: it is not bound to this token's issuer (iss was '${ci.gitlab2.url}'); use a role bound to that issuer`,
    );
  });

  it('refuses a replayed GitLab token by its jti', async () => {
    const token = ci.gitlab.mint();
    expect((await exchange(token, 'gitlab-deploy')).status).toBe(200);
    const again = await exchange(token, 'gitlab-deploy');
    expect([again.status, again.body.error]).toEqual([401, 'token_replayed']);
  });

  it('grants a Buildkite job (no jti) once: the same token again is a replay, a fresh token is not', async () => {
    const token = ci.buildkite.mint();
    expect((await exchange(token, 'buildkite-deploy')).status).toBe(200);
    expect(lastCall().RoleSessionName).toBe('jitkey-bk-12-super-duper-app');
    expect(lastCall().SourceIdentity).toBeUndefined();
    const again = await exchange(token, 'buildkite-deploy');
    expect([again.status, again.body.error]).toEqual([401, 'token_replayed']);
    expect(
      (await exchange(ci.buildkite.mint({ nbf: Math.floor(Date.now() / 1000) - 1 }), 'buildkite-deploy'))
        .status,
    ).toBe(200);
    const scheduled = await exchange(ci.buildkite.mint({ build_source: 'schedule' }), 'buildkite-deploy');
    expect(scheduled.status).toBe(403);
    const [row] = await audit('--role', 'buildkite-deploy', '--outcome', 'allowed');
    expect(row!.claims).toMatchObject({
      organization_slug: 'acme-inc',
      build_number: '12',
      job_id: expect.any(String),
    });
  });

  it('grants a CircleCI job its one-hour token once, and refuses an SSH rerun', async () => {
    const token = ci.circleci.mint();
    const res = await exchange(token, 'circleci-deploy');
    expect(res.status).toBe(200);
    expect(lastCall().SourceIdentity).toBe('e5d4c3b2-a1f0-4e9d-8c7b-6a5f4e3d2c1b@circleci.com');
    expect((await exchange(token, 'circleci-deploy')).body.error).toBe('token_replayed');
    const ssh = await exchange(ci.circleci.mint({ 'oidc.circleci.com/ssh-rerun': true }), 'circleci-deploy');
    expect([ssh.status, ssh.body.message]).toEqual([
      403,
      "role 'circleci-deploy' denied: no allow rule held — allow[0]: oidc.circleci.com/ssh-rerun was 'true'",
    ]);
  });

  it('refuses a token over its issuer kind’s lifetime', async () => {
    const res = await exchange(ci.buildkite.mint({}, { lifetimeSeconds: 3600 }), 'buildkite-deploy');
    expect([res.status, res.body.message]).toEqual([
      401,
      `the token is valid for 3600 s ("exp" - "iat"); at most 900 s is accepted for this issuer (issuers[].max_token_lifetime)`,
    ]);
  });
});

describe('jitkey check', () => {
  it('refuses a GitHub claim in a GitLab role at its file:line:col, and warns of an unprotected ref', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'jitkey-ci-')), 'policy.yaml');
    writeFileSync(
      file,
      `version: 1
issuers:
  - { url: https://gitlab.com, audience: jitkey, kind: gitlab }
roles:
  deploy:
    provider: aws
    aws: { role_arn: "${ROLE_ARN}" }
    allow:
      - project_id: "20"
        repository: acme/web
      - project_id: "20"
`,
    );
    const out = await runCli(['check', '--policy', file]);
    expect(out.code).toBe(1);
    expect(out.stdout + out.stderr).toContain(
      `${file}:10:9: error: roles.deploy.allow[0].repository: GitLab CI/CD tokens (issuer https://gitlab.com) carry no 'repository' claim ('repository' is a GitHub Actions claim)`,
    );
    expect(out.stdout + out.stderr).toContain(
      `${file}:11:9: warning: role 'deploy' (privileged) allow[1] admits GitLab jobs on an unprotected ref or environment`,
    );
  });
});
