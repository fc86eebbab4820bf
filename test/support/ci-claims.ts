/**
 * The claim sets GitLab, Buildkite and CircleCI put in their OIDC tokens, as each one's own
 * documentation shows them (docs/ci-systems.md cites the pages): the stand-in issuer
 * (`oidc-issuer.ts`, `shape`) mints these, so tests meet the real shapes, numbers, booleans,
 * arrays and namespaced names included.
 *
 * Test-only: never import this from `exchanger/`.
 */
import { randomUUID } from 'node:crypto';

export type CiShape = 'github' | 'gitlab' | 'buildkite' | 'circleci';

export interface Standard {
  iss: string;
  aud: string;
  iat: number;
  exp: number;
}

/** GitLab `id_tokens` (docs.gitlab.com "OpenID Connect (OIDC) Authentication Using ID Tokens"). */
export function gitlabClaims(s: Standard): Record<string, unknown> {
  return {
    namespace_id: '72',
    namespace_path: 'my-group',
    project_id: '20',
    project_path: 'my-group/my-project',
    user_id: '1',
    user_login: 'sample-user',
    user_email: 'sample-user@example.com',
    pipeline_id: '574',
    pipeline_source: 'push',
    job_id: '302',
    ref: 'main',
    ref_type: 'branch',
    ref_path: 'refs/heads/main',
    ref_protected: 'true',
    environment: 'production',
    environment_protected: 'true',
    deployment_tier: 'production',
    runner_id: 1,
    runner_environment: 'self-hosted',
    sha: '714a629c0b401fdce83e847fc9589983fc6f46bc',
    ci_config_ref_uri: 'gitlab.example.com/my-group/my-project//.gitlab-ci.yml@refs/heads/main',
    ci_config_sha: '714a629c0b401fdce83e847fc9589983fc6f46bc',
    project_visibility: 'private',
    jti: randomUUID(),
    iss: s.iss,
    iat: s.iat,
    nbf: s.iat - 5,
    exp: s.exp,
    sub: 'project_path:my-group/my-project:ref_type:branch:ref:main',
    aud: s.aud,
  };
}

/**
 * Buildkite `buildkite-agent oidc request-token --claim organization_id,pipeline_id`
 * (buildkite.com/docs/agent/cli/reference/oidc): no `jti`; `build_number` is a number.
 */
export function buildkiteClaims(s: Standard): Record<string, unknown> {
  return {
    iss: s.iss,
    sub: 'organization:acme-inc:pipeline:super-duper-app:ref:refs/heads/main:commit:9f3182061f1e2cca4702c368cbc039b7dc9d4485:step:deploy',
    aud: s.aud,
    iat: s.iat,
    nbf: s.iat,
    exp: s.exp,
    organization_slug: 'acme-inc',
    pipeline_slug: 'super-duper-app',
    build_number: 12,
    build_branch: 'main',
    build_commit: '9f3182061f1e2cca4702c368cbc039b7dc9d4485',
    step_key: 'deploy',
    job_id: '0184990a-477b-4fa8-9968-496074483cee',
    agent_id: '0184990a-4782-42b5-afc1-16715b10b8ff',
    build_source: 'webhook',
    runner_environment: 'self-hosted',
    organization_id: '0184990a-477b-4fa8-9968-496074483a77',
    pipeline_id: '0184990a-4782-42b5-afc1-16715b10b1a0',
  };
}

/** The CircleCI organization id the stand-in's issuer path names (`/org/<id>`). */
export const CIRCLECI_ORG_ID = 'b2e1a0c3-5d4f-4e6a-9b8c-7d6e5f4a3b21';

/**
 * CircleCI `$CIRCLE_OIDC_TOKEN_V2` (circleci.com/docs "Using OpenID Connect tokens in jobs"): no
 * `jti`; namespaced claims; `ssh-rerun` a boolean, `context-ids` an array.
 */
export function circleciClaims(s: Standard): Record<string, unknown> {
  const project = 'c4f1e2d3-a5b6-4c7d-8e9f-0a1b2c3d4e5f';
  const user = 'e5d4c3b2-a1f0-4e9d-8c7b-6a5f4e3d2c1b';
  return {
    iss: s.iss,
    sub: `org/${CIRCLECI_ORG_ID}/project/${project}/user/${user}/vcs-origin/github.com/acme/web/vcs-ref/refs/heads/main`,
    aud: s.aud,
    iat: s.iat,
    exp: s.exp,
    'oidc.circleci.com/project-id': project,
    'oidc.circleci.com/context-ids': ['a74579f1-2e7d-451e-b009-5c082ad2729e'],
    'oidc.circleci.com/vcs-origin': 'github.com/acme/web',
    'oidc.circleci.com/vcs-ref': 'refs/heads/main',
    'oidc.circleci.com/ssh-rerun': false,
  };
}

export const PRESETS: Record<Exclude<CiShape, 'github'>, (s: Standard) => Record<string, unknown>> = {
  gitlab: gitlabClaims,
  buildkite: buildkiteClaims,
  circleci: circleciClaims,
};

/** Each system's token lifetime by default: GitLab the job timeout (1 h), Buildkite 5 min, CircleCI 1 h. */
export const LIFETIME: Record<CiShape, number> = {
  github: 300,
  gitlab: 3600,
  buildkite: 300,
  circleci: 3600,
};
