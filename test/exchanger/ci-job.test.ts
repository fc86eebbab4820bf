/**
 * A job named in its own CI system's terms (`exchanger/ci-job.ts`, `claims.ts`): what an audit
 * row keeps, the run its leases belong to, the name and link people see (audit table, Slack).
 */
import { describe, expect, it } from 'vitest';
import { slackMessage } from '../../exchanger/approvals/slack.js';
import { requestView } from '../../exchanger/approvals/views.js';
import { formatAuditTable } from '../../exchanger/audit/format.js';
import { describeJob, jobName, jobRun, sameJobClaims } from '../../exchanger/ci-job.js';
import { identifyingClaims } from '../../exchanger/claims.js';
import { queuePage } from '../../exchanger/console/view-queue.js';
import { requestPage } from '../../exchanger/console/view-request.js';
import { roleSessionName, sessionTags, sourceIdentity } from '../../exchanger/providers/aws-params.js';
import type { ApprovalRequestRecord } from '../../exchanger/store/approvals-types.js';
import { awsRole } from '../providers/aws-fixtures.js';
import { buildkiteClaims, CIRCLECI_ORG_ID, circleciClaims, gitlabClaims } from '../support/ci-claims.js';

const std = (iss: string) => ({ iss, aud: 'jitkey', iat: 1_700_000_000, exp: 1_700_000_300 });
const gitlab = gitlabClaims(std('https://gitlab.example.com'));
const buildkite = buildkiteClaims(std('https://agent.buildkite.com'));
const circleci = circleciClaims(std(`https://oidc.circleci.com/org/${CIRCLECI_ORG_ID}`));

describe('a job in its own terms', () => {
  it.each([
    {
      name: 'GitLab: project, pipeline and job, linked to the job on its instance',
      claims: gitlab,
      want: {
        kind: 'gitlab',
        system: 'GitLab CI/CD',
        project: 'my-group/my-project',
        run: 'pipeline 574',
        job: 'job 302',
        ref: 'main',
        actor: 'sample-user',
        url: 'https://gitlab.example.com/my-group/my-project/-/jobs/302',
      },
      line: 'GitLab CI/CD my-group/my-project pipeline 574 job 302 (main)',
    },
    {
      name: 'Buildkite: organization/pipeline, build number and job, linked to the build',
      claims: buildkite,
      want: {
        kind: 'buildkite',
        system: 'Buildkite',
        project: 'acme-inc/super-duper-app',
        run: 'build 12',
        job: 'job 0184990a-477b-4fa8-9968-496074483cee',
        ref: 'main',
        url: 'https://buildkite.com/acme-inc/super-duper-app/builds/12#0184990a-477b-4fa8-9968-496074483cee',
      },
      line: 'Buildkite acme-inc/super-duper-app build 12 job 0184990a-477b-4fa8-9968-496074483cee (main)',
    },
    {
      name: 'CircleCI: the repository and ref, linked to the project (its tokens name no workflow)',
      claims: circleci,
      want: {
        kind: 'circleci',
        system: 'CircleCI',
        project: 'github.com/acme/web',
        ref: 'refs/heads/main',
        url: 'https://app.circleci.com/pipelines/gh/acme/web',
      },
      line: 'CircleCI github.com/acme/web (refs/heads/main)',
    },
  ])('$name', ({ claims, want, line }) => {
    expect(jobName(identifyingClaims(claims))).toEqual(want);
    expect(describeJob(claims)).toBe(line);
  });

  it('keeps each system’s identifying claims, numbers as their text', () => {
    expect(identifyingClaims(buildkite)).toMatchObject({ build_number: '12', organization_slug: 'acme-inc' });
    expect(identifyingClaims(circleci)).toMatchObject({
      iss: `https://oidc.circleci.com/org/${CIRCLECI_ORG_ID}`,
      'oidc.circleci.com/ssh-rerun': 'false',
    });
    expect(identifyingClaims(gitlab)).not.toHaveProperty('user_email');
  });

  it('links only http(s) instances, and encodes every part', () => {
    const odd = { ...gitlab, iss: 'javascript:alert(1)//', project_path: 'a b/c?d' };
    expect(jobName(odd).url).toBeUndefined();
    expect(jobName({ ...gitlab, project_path: 'a b/c?d' }).url).toBe(
      'https://gitlab.example.com/a%20b/c%3Fd/-/jobs/302',
    );
  });

  it('links an http instance only on loopback: anything else must be https', () => {
    expect(jobName({ ...gitlab, iss: 'http://gitlab.example.com' }).url).toBeUndefined();
    expect(jobName({ ...gitlab, iss: 'http://127.0.0.1.example.com' }).url).toBeUndefined();
    for (const iss of ['http://127.0.0.1:8080', 'http://localhost:3000', 'http://[::1]:9000']) {
      expect(jobName({ ...gitlab, iss }).url).toBe(`${iss}/my-group/my-project/-/jobs/302`);
    }
  });

  it('keys runs by instance and project (GitLab) and by organization and pipeline (Buildkite); CircleCI has none', () => {
    expect(jobRun(gitlab)).toEqual({
      repositoryId: 'gitlab:https://gitlab.example.com/projects/20',
      runId: '574',
      runAttempt: '1',
    });
    expect(jobRun({ ...gitlab, iss: 'https://gitlab.com' })?.repositoryId).toBe(
      'gitlab:https://gitlab.com/projects/20',
    );
    expect(jobRun(buildkite)).toEqual({
      repositoryId: 'buildkite:acme-inc/super-duper-app',
      runId: '12',
      runAttempt: '1',
    });
    expect(jobRun(circleci)).toBeUndefined();
    expect(sameJobClaims(gitlab)).toEqual(['iss', 'project_id', 'pipeline_id']);
  });
});

describe('what people read', () => {
  const request: ApprovalRequestRecord = {
    id: 'req_1',
    role: 'db-admin',
    status: 'pending',
    version: 1,
    pollTokenHash: 'x',
    createdAt: new Date('2026-01-01T00:00:00Z'),
    expiresAt: new Date('2026-01-01T00:30:00Z'),
    approvers: ['alice'],
    required: 1,
    approvals: [],
    claims: identifyingClaims(gitlab),
  };

  it('Slack names the GitLab job with a link to it', () => {
    const message = slackMessage(request) as { text: string; blocks: Array<{ fields?: unknown[] }> };
    expect(message.text).toBe('Approval needed: role db-admin for my-group/my-project');
    expect(message.blocks[1]!.fields!.slice(0, 3)).toEqual([
      { type: 'mrkdwn', text: '*Role*\ndb-admin', verbatim: true },
      {
        type: 'mrkdwn',
        text: '*GitLab CI/CD job*\n<https://gitlab.example.com/my-group/my-project/-/jobs/302|my-group/my-project pipeline 574 job 302>',
        verbatim: true,
      },
      { type: 'mrkdwn', text: '*Actor*\nsample-user', verbatim: true },
    ]);
  });

  it('jitkey audit’s table shows the project, ref, trigger and run of each system', () => {
    const row = (claims: Record<string, unknown>) => ({
      at: new Date('2026-01-01T00:00:00Z'),
      requestId: 'r',
      event: 'exchange' as const,
      outcome: 'allowed' as const,
      role: 'deploy',
      reason: 'granted for 15m',
      claims: identifyingClaims(claims),
    });
    const table = formatAuditTable([row(gitlab), row(buildkite)]);
    expect(table).toMatch(/my-group\/my-project\s+main\s+push\s+pipeline 574/);
    expect(table).toMatch(/acme-inc\/super-duper-app\s+main\s+webhook\s+build 12/);
  });

  it('the console’s queue and request pages name and link the GitLab job', () => {
    const view = requestView(request, 'pending', { approvers: ['alice'], required: 1 });
    const who = { login: 'alice', id: '1001', csrf: 'x', idHash: 'h' };
    const link =
      '<a href="https://gitlab.example.com/my-group/my-project/-/jobs/302">GitLab CI/CD pipeline 574 job 302</a>';
    const queue = queuePage({
      who,
      items: [{ view, claims: request.claims, durationText: '15m' }],
      total: 1,
      now: request.createdAt,
      githubWebUrl: 'https://github.com',
    }).toString();
    expect(queue).toContain('<span class="muted">for</span> my-group/my-project</h2>');
    expect(queue).toContain(link);
    const page = requestPage({
      who,
      detail: { view, claims: request.claims, history: [] },
      role: undefined,
      now: request.createdAt,
      githubWebUrl: 'https://github.com',
    }).toString();
    expect(page).toContain('<span class="muted">for</span> my-group/my-project</h1>');
    expect(page).toContain(link);
  });
});

describe('AWS sessions name the job', () => {
  it.each([
    {
      name: 'GitLab',
      claims: gitlab,
      session: 'jitkey-gl-574-302',
      source: 'sample-user@gitlab.example.com',
    },
    { name: 'Buildkite', claims: buildkite, session: 'jitkey-bk-12-super-duper-app', source: undefined },
    {
      name: 'CircleCI (no run: the lease id)',
      claims: circleci,
      session: 'jitkey-lease_0123456789abcdef',
      source: 'e5d4c3b2-a1f0-4e9d-8c7b-6a5f4e3d2c1b@circleci.com',
    },
  ])('$name', ({ claims, session, source }) => {
    expect(roleSessionName(claims, 'lease_0123456789abcdef')).toBe(session);
    expect(sourceIdentity(claims)).toBe(source);
  });

  it("never names another system's user as a GitHub login would be named", () => {
    // A GitLab user may register any GitHub login: IAM and CloudTrail must not read them as one.
    expect(sourceIdentity({ ...gitlab, user_login: 'octocat' })).toBe('octocat@gitlab.example.com');
    expect(sourceIdentity({ ...gitlab, user_login: 'octocat', iss: 'not a url' })).toBeUndefined();
    expect(sourceIdentity({ repository: 'acme/web', actor: 'octocat' })).toBe('octocat');
  });

  it("session tags take another system's documented number as its text", () => {
    // biome-ignore lint/suspicious/noTemplateCurlyInString: session_tags templates are literal ${…} text
    const role = awsRole({ sessionTags: { build: '${pipeline_slug}#${build_number}' } });
    expect(sessionTags(role, buildkite)).toEqual([{ Key: 'build', Value: 'super-duper-app#12' }]);
  });
});
