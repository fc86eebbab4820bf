/**
 * Verified environment protection (`require_protected_environment: true`): the guard asks the GitHub
 * API, through the App's installation on the repository owner, via the real `@octokit/rest`.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Claims } from '../../exchanger/claims.js';
import { createGithubApp, type GithubApp } from '../../exchanger/github/app.js';
import { createEnvironmentGuard } from '../../exchanger/github/environment-guard.js';
import type { Guard } from '../../exchanger/policy/evaluate/guard.js';
import type { Role } from '../../exchanger/policy/model/types.js';
import {
  BRANCH_POLICY_ONLY_ENVIRONMENT,
  type GithubStandin,
  PROTECTED_ENVIRONMENT,
  startGithubStandin,
  UNPROTECTED_ENVIRONMENT,
} from '../support/github-standin.js';
import { rejection } from '../support/rejection.js';

function role(requireProtectedEnvironment = true): Role {
  return {
    name: 'deploy-web-prod',
    provider: 'aws',
    aws: { roleArn: 'arn:aws:iam::111122223333:role/web-deploy' },
    durationSeconds: 900,
    maxDurationSeconds: 3600,
    allow: [],
    deny: [],
    requireProtectedEnvironment,
  };
}

const claims = (environment?: string, repository = 'acme/web'): Claims => ({
  repository,
  ...(environment === undefined ? {} : { environment }),
});

let gh: GithubStandin;
let app: GithubApp;
let clock: Date;
let guard: Guard;

beforeEach(async () => {
  gh = await startGithubStandin({
    installations: [
      { owner: 'acme', permissions: { contents: 'write', actions: 'read' }, repositories: ['web', 'infra'] },
      { owner: 'no-actions', permissions: { contents: 'read' }, repositories: ['web'] },
    ],
    environments: {
      'acme/web': {
        production: PROTECTED_ENVIRONMENT,
        release: BRANCH_POLICY_ONLY_ENVIRONMENT,
        staging: UNPROTECTED_ENVIRONMENT,
        timer: {
          protection_rules: [{ id: 3, type: 'wait_timer', wait_timer: 30 }],
          deployment_branch_policy: null,
        },
      },
      'no-actions/web': { production: PROTECTED_ENVIRONMENT },
    },
  });
  app = createGithubApp({ appId: gh.appId, privateKey: gh.privateKeyPem, apiUrl: gh.url });
  clock = new Date('2030-01-01T00:00:00Z');
  guard = createEnvironmentGuard({ github: app, now: () => clock, cacheTtlMs: 60_000 });
});

afterEach(async () => {
  await gh.stop();
});

const environmentRequests = () => gh.requests.filter((r) => r.path.includes('/environments/'));

/** A token of the GitHub the App asks about (`appGithubIssuer`). */
const GH = { appGithub: true };

describe('environment guard', () => {
  it('does nothing for roles that do not require a protected environment', async () => {
    await guard.check(role(false), claims(), GH);
    expect(gh.requests).toHaveLength(0);
  });

  it.each([
    ['required reviewers', 'production'],
    ['a deployment branch policy', 'release'],
    ['a wait timer', 'timer'],
  ])('passes an environment protected by %s', async (_name, environment) => {
    await expect(guard.check(role(), claims(environment), GH)).resolves.toBeUndefined();
    expect(environmentRequests()).toMatchObject([
      {
        method: 'GET',
        path: `/repos/acme/web/environments/${environment}`,
        status: 200,
        auth: { kind: 'installation' },
      },
    ]);
  });

  it('asks with an installation token narrowed to actions: read', async () => {
    await guard.check(role(), claims('production'), GH);
    expect(gh.issued.map((t) => t.permissions)).toEqual([{ actions: 'read' }]);
  });

  it('denies an environment without protection rules', async () => {
    const e = await rejection(guard.check(role(), claims('staging'), GH));
    expect(e.code).toBe('access_denied');
    expect(e.message).toContain("environment 'staging' has no protection rules in acme/web");
    expect(e.message).toContain("role 'deploy-web-prod' requires a protected environment");
  });

  it("denies another issuer's token, whatever its claims, and asks GitHub nothing", async () => {
    // A token of another CI (or a second GitHub) naming a protected environment of the App's.
    const e = await rejection(guard.check(role(), claims('production'), { appGithub: false }));
    expect(e.code).toBe('access_denied');
    expect(e.message).toBe(
      "role 'deploy-web-prod' requires a protected environment, which only a token of the GitHub the exchanger's App asks (JITKEY_GITHUB_ISSUER) can show",
    );
    expect(gh.requests).toHaveLength(0);
  });

  it('denies a job without an environment', async () => {
    for (const c of [claims(), claims(''), { repository: 'acme/web', environment: 7 }]) {
      const e = await rejection(guard.check(role(), c, GH));
      expect(e.code).toBe('access_denied');
      expect(e.message).toContain('requires a protected environment; add `environment:` to the job');
    }
    expect(gh.requests).toHaveLength(0);
  });

  it('denies an environment that does not exist (404)', async () => {
    const e = await rejection(guard.check(role(), claims('prod'), GH));
    expect(e.code).toBe('access_denied');
    expect(e.message).toContain("environment 'prod' does not exist in acme/web");
    expect(environmentRequests()[0]?.status).toBe(404);
  });

  it('fails closed when the API fails: upstream_error naming the status, not cached', async () => {
    gh.failNext({ method: 'GET', path: /\/environments\// }, 503);
    const e = await rejection(guard.check(role(), claims('production'), GH));
    expect(e.code).toBe('upstream_error');
    expect(e.message).toContain('HTTP 503');
    await expect(guard.check(role(), claims('production'), GH)).resolves.toBeUndefined();
    expect(environmentRequests().map((r) => r.status)).toEqual([503, 200]);
  });

  it('fails closed when the App cannot read environments (no actions: read)', async () => {
    const e = await rejection(guard.check(role(), claims('production', 'no-actions/web'), GH));
    expect(e.code).toBe('upstream_error');
    expect(e.message).toContain('needs actions: read');
  });

  it('fails closed, naming the permission, when GitHub refuses the environment read (403)', async () => {
    gh.failNext(
      { method: 'GET', path: /\/environments\// },
      403,
      1,
      'Resource not accessible by integration',
    );
    const e = await rejection(guard.check(role(), claims('production'), GH));
    expect(e.code).toBe('upstream_error');
    expect(e.message).toContain('HTTP 403');
    expect(e.message).toContain('the GitHub App needs the Actions: read repository permission');
  });

  it('fails closed when the App is not installed on the owner', async () => {
    const e = await rejection(guard.check(role(), claims('production', 'elsewhere/web'), GH));
    expect(e.code).toBe('upstream_error');
    expect(e.message).toContain("not installed on 'elsewhere'");
  });

  it('fails closed when GitHub is unreachable', async () => {
    const down = createGithubApp({
      appId: gh.appId,
      privateKey: gh.privateKeyPem,
      apiUrl: 'http://127.0.0.1:9',
    });
    const e = await rejection(
      createEnvironmentGuard({ github: down }).check(role(), claims('production'), GH),
    );
    expect(e.code).toBe('upstream_error');
  });

  it('reuses an answer within the TTL and asks again after it', async () => {
    await guard.check(role(), claims('production'), GH);
    clock = new Date(clock.getTime() + 59_999);
    await guard.check(role(), claims('PRODUCTION', 'Acme/Web'), GH); // GitHub's names are case-insensitive
    expect(environmentRequests()).toHaveLength(1);

    clock = new Date(clock.getTime() + 1);
    await guard.check(role(), claims('production'), GH);
    expect(environmentRequests()).toHaveLength(2);
  });

  it('caches denials too, and sees a newly added protection after the TTL', async () => {
    await rejection(guard.check(role(), claims('staging'), GH));
    gh.setEnvironment('acme/web', 'staging', PROTECTED_ENVIRONMENT);
    await rejection(guard.check(role(), claims('staging'), GH));
    expect(environmentRequests()).toHaveLength(1);
    clock = new Date(clock.getTime() + 60_000);
    await expect(guard.check(role(), claims('staging'), GH)).resolves.toBeUndefined();
  });

  it('never caches longer than 60 s', async () => {
    const long = createEnvironmentGuard({ github: app, now: () => clock, cacheTtlMs: 3_600_000 });
    await long.check(role(), claims('production'), GH);
    clock = new Date(clock.getTime() + 60_000);
    await long.check(role(), claims('production'), GH);
    expect(environmentRequests()).toHaveLength(2);
  });

  it('concurrent checks of one environment share one request', async () => {
    await Promise.all([1, 2, 3].map(() => guard.check(role(), claims('production'), GH)));
    expect(environmentRequests()).toHaveLength(1);
  });

  it("reuses the exchanger's own read token across checks", async () => {
    await guard.check(role(), claims('production'), GH);
    await guard.check(role(), claims('release'), GH);
    await guard.check(role(), claims('timer'), GH);
    expect(gh.issued).toHaveLength(1);
  });
});
