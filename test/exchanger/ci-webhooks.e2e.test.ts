/**
 * Job-end revocation from GitLab's pipeline webhook and Buildkite's build webhook
 * (docs/ci-systems.md), through the real exchanger: a finished pipeline's or build's leases are
 * revoked and its later tokens refused; a token of another instance, a wrong webhook token or an
 * unfinished pipeline changes nothing.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseSenders } from '../../exchanger/server/ci-webhooks.js';
import { type CiStandins, startCiIssuers } from '../support/ci-issuers.js';
import { fourCiPolicy } from '../support/ci-policy.js';
import { type ExchangerProcess, runCli, startExchanger } from '../support/exchanger-process.js';
import { STS_KEY, stsEnv } from '../support/stack.js';
import { type StsStandin, startStsStandin } from '../support/sts-standin.js';

const GITLAB_TOKEN = 'gitlab-webhook-token-0001';
const GITLAB2_TOKEN = 'gitlab-webhook-token-0002';
const BUILDKITE_TOKEN = 'buildkite-webhook-token-01';
/** Another team's project webhook on the first instance: its token speaks for project 21 only. */
const GITLAB_TEAM_TOKEN = 'gitlab-webhook-token-team-21';

let ci: CiStandins;
let sts: StsStandin;
let exchanger: ExchangerProcess;

beforeAll(async () => {
  [ci, sts] = await Promise.all([startCiIssuers(), startStsStandin(STS_KEY)]);
  const { gitlab, gitlab2 } = ci;
  const dir = mkdtempSync(join(tmpdir(), 'jitkey-ci-hooks-'));
  writeFileSync(
    join(dir, 'gitlab'),
    `# instance token\n${gitlab.url} ${GITLAB_TOKEN}\n${gitlab2.url} ${GITLAB2_TOKEN}\n` +
      `${gitlab.url} ${GITLAB_TEAM_TOKEN} projects=21,22\n`,
  );
  writeFileSync(join(dir, 'buildkite'), `acme-inc ${BUILDKITE_TOKEN}\n`);
  const extra = `  gitlab2-deploy:
    provider: aws
    aws: { role_arn: arn:aws:iam::111122223333:role/ci-deploy }
    issuers: [${gitlab2.url}]
    allow:
      - { project_id: "20", ref_protected: "true" }
`;
  exchanger = await startExchanger({
    policy: fourCiPolicy(ci.urls, extra),
    env: {
      ...stsEnv(sts),
      JITKEY_GITLAB_WEBHOOK_TOKENS_FILE: join(dir, 'gitlab'),
      JITKEY_BUILDKITE_WEBHOOK_TOKENS_FILE: join(dir, 'buildkite'),
    },
  });
});
afterAll(async () => {
  await exchanger?.stop();
  await Promise.all([ci?.stop(), sts?.stop()]);
});

async function post(path: string, headers: Record<string, string>, body: unknown) {
  const res = await fetch(`${exchanger.url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}
const exchange = (token: string, role: string) =>
  post('/v1/exchange', { authorization: `Bearer ${token}` }, { role });
const pipelineHook = (token: string, status: string, pipeline = 574) =>
  post(
    '/v1/gitlab/webhook',
    { 'x-gitlab-token': token, 'x-gitlab-event': 'Pipeline Hook' },
    { object_kind: 'pipeline', object_attributes: { id: pipeline, status }, project: { id: 20 } },
  );

describe('GitLab pipeline webhook', () => {
  it('refuses a wrong token before reading the body, and leaves a running pipeline alone', async () => {
    expect((await pipelineHook('not-the-token-at-all', 'success')).status).toBe(401);
    expect((await exchange(ci.gitlab.mint(), 'gitlab-deploy')).status).toBe(200);
    expect((await exchange(ci.gitlab2.mint(), 'gitlab2-deploy')).status).toBe(200);
    expect((await pipelineHook(GITLAB_TOKEN, 'running')).body).toEqual({ revoked: 0 });
  });

  it("refuses a project-scoped token for another project's pipeline", async () => {
    const other = await pipelineHook(GITLAB_TEAM_TOKEN, 'success');
    expect([other.status, other.body.message]).toEqual([
      403,
      'this X-Gitlab-Token may end the pipelines of projects 21, 22 only, not of project 20',
    ]);
    // Project 20's pipeline still runs: its tokens still get credentials.
    expect((await exchange(ci.gitlab.mint(), 'gitlab-deploy')).status).toBe(200);
  });

  it('revokes a finished pipeline’s leases on its own instance only, and refuses its later tokens', async () => {
    const done = await pipelineHook(GITLAB_TOKEN, 'success');
    expect(done).toEqual({ status: 200, body: { revoked: 2 } });
    const later = await exchange(ci.gitlab.mint(), 'gitlab-deploy');
    expect([later.status, later.body.message]).toEqual([
      403,
      'GitLab pipeline 574 has completed (its pipeline webhook said it finished): its tokens get no more credentials; run a new pipeline (a job retried in this one stays in it)',
    ]);
    // The same project and pipeline ids on the second instance are another pipeline.
    expect((await exchange(ci.gitlab2.mint(), 'gitlab2-deploy')).status).toBe(200);
    expect((await exchange(ci.gitlab.mint({ pipeline_id: '575' }), 'gitlab-deploy')).status).toBe(200);
    // Delivered again: the run is already completed and its leases revoked.
    expect((await pipelineHook(GITLAB_TOKEN, 'success')).body).toEqual({ revoked: 0 });
    const audit = await runCli(['audit', '--store', exchanger.store, '--json', '--outcome', 'revoked']);
    expect(audit.stdout).toContain('lease revoked: its pipeline or build finished');
  });
});

describe('webhook token files', () => {
  it('name an instance or organization as its tokens write it, or stop the start', () => {
    const token = '0123456789abcdef';
    expect(() => parseSenders(`https://gitlab.com/ ${token}`, 'f', { projects: true })).toThrow(
      "f:1: 'https://gitlab.com/' is not a GitLab issuer url as its tokens' iss writes it (https://host, no trailing /)",
    );
    expect(() => parseSenders(`Acme-Inc ${token}`, 'f')).toThrow(
      "f:1: 'Acme-Inc' is not a Buildkite organization slug (lowercase letters, digits and -)",
    );
    expect(parseSenders(`https://gitlab.com ${token}`, 'f', { projects: true })).toHaveLength(1);
    expect(parseSenders(`acme-inc ${token}`, 'f')).toHaveLength(1);
  });

  it('take projects= on a GitLab line only, and only numeric ids', () => {
    const line = 'https://gitlab.example 0123456789abcdef projects=20,21';
    expect([...(parseSenders(line, 'f', { projects: true })[0]?.projects ?? [])]).toEqual(['20', '21']);
    expect(() => parseSenders(line, 'f')).toThrow("f:1: write '<organization slug> <token>'");
    expect(() =>
      parseSenders('https://gitlab.example 0123456789abcdef projects=acme/web', 'f', { projects: true }),
    ).toThrow('f:1: write');
  });
});

describe('Buildkite build webhook', () => {
  it('revokes a finished build’s leases', async () => {
    expect((await exchange(ci.buildkite.mint(), 'buildkite-deploy')).status).toBe(200);
    const hook = (token: string, event: string, build: Record<string, unknown> = { state: 'passed' }) =>
      post(
        '/v1/buildkite/webhook',
        { 'x-buildkite-token': token, 'x-buildkite-event': event },
        { event, build: { id: 'b1', number: 12, ...build }, pipeline: { slug: 'super-duper-app' } },
      );
    expect((await hook('wrong-buildkite-token', 'build.finished')).status).toBe(401);
    expect((await hook(BUILDKITE_TOKEN, 'build.running')).body).toEqual({ revoked: 0 });
    // Stopped at a block step, Buildkite says finished and blocked: the steps after it go on.
    expect((await hook(BUILDKITE_TOKEN, 'build.finished', { state: 'blocked', blocked: true })).body).toEqual(
      {
        revoked: 0,
      },
    );
    expect(
      (await exchange(ci.buildkite.mint({ nbf: Math.floor(Date.now() / 1000) - 2 }), 'buildkite-deploy'))
        .status,
    ).toBe(200);
    // The lease of before the block, and the one after it.
    expect((await hook(BUILDKITE_TOKEN, 'build.finished')).body).toEqual({ revoked: 2 });
    // Another token of the build (Buildkite's carry no jti: two asked for in one second are one token).
    const later = await exchange(
      ci.buildkite.mint({ nbf: Math.floor(Date.now() / 1000) - 1 }),
      'buildkite-deploy',
    );
    expect([later.status, later.body.error]).toEqual([403, 'run_completed']);
  });
});
