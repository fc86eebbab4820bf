import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { evaluate } from '../../exchanger/policy/evaluate/evaluate.js';
import { checkDirectory, checkPolicy } from '../../exchanger/policy/lint/check.js';
import { compileDirectory, validateDirectory } from '../../exchanger/policy/load/directory.js';
import { loadPolicy } from '../../exchanger/policy/load/load-policy.js';
import { formatIssue } from '../../exchanger/policy/model/errors.js';
import type { Policy } from '../../exchanger/policy/model/types.js';
import { buildkiteClaims, CIRCLECI_ORG_ID, circleciClaims, gitlabClaims } from '../support/ci-claims.js';
import { CI_URLS, fourCiPolicy } from '../support/ci-policy.js';

const iat = 1_700_000_000;
const std = (iss: string, aud = 'jitkey') => ({ iss, aud, iat, exp: iat + 300 });
const gitlab = (over: Record<string, unknown> = {}, iss = CI_URLS.gitlab) => ({
  ...gitlabClaims(std(iss)),
  ...over,
});
const buildkite = (over: Record<string, unknown> = {}) => ({
  ...buildkiteClaims(std(CI_URLS.buildkite)),
  ...over,
});
const circleci = (over: Record<string, unknown> = {}) => ({
  ...circleciClaims(std(CI_URLS.circleci)),
  ...over,
});
const github = (over: Record<string, unknown> = {}) => ({
  iss: CI_URLS.github,
  repository: 'acme/web',
  repository_id: '123456',
  repository_owner_id: '7890',
  ref: 'refs/heads/main',
  environment: 'production',
  event_name: 'push',
  ...over,
});

const EXTRA = `  list-and-number:
    provider: aws
    aws: { role_arn: arn:aws:iam::111122223333:role/x }
    issuers: [${CI_URLS.buildkite}, ${CI_URLS.circleci}]
    allow:
      - issuer: ${CI_URLS.buildkite}
        organization_id: 0184990a-477b-4fa8-9968-496074483a77
        build_number: "12"
      - issuer: ${CI_URLS.circleci}
        oidc.circleci.com/project-id: c4f1e2d3-a5b6-4c7d-8e9f-0a1b2c3d4e5f
        oidc.circleci.com/context-ids: a74579f1-2e7d-451e-b009-5c082ad2729e
        oidc.circleci.com/ssh-rerun: "false"
  gitlab-case:
    provider: aws
    aws: { role_arn: arn:aws:iam::111122223333:role/x }
    issuers: [${CI_URLS.gitlab}]
    allow:
      - project_id: "20"
        project_path: My-Group/My-Project
        environment: Production
        ref_protected: "true"
`;

describe('a policy over GitHub, two GitLab instances, Buildkite and CircleCI', () => {
  const policy: Policy = loadPolicy(fourCiPolicy(CI_URLS, EXTRA), 'policy.yaml');
  const decide = (role: string, claims: Record<string, unknown>) => evaluate(policy.roles.get(role)!, claims);

  it('loads with each issuer kind, and check finds nothing to warn about', () => {
    expect(policy.issuers.map((i) => [i.kind ?? 'github', i.replay ?? 'jti', i.maxLifetimeSeconds])).toEqual([
      ['github', 'jti', undefined],
      ['gitlab', 'jti', 3600],
      ['gitlab', 'jti', 3600],
      ['buildkite', 'token', 900],
      ['circleci', 'token', 3600],
    ]);
    expect(checkPolicy(fourCiPolicy(CI_URLS), 'policy.yaml')).toEqual({ ok: true, errors: [], warnings: [] });
  });

  it('grants each system its own rule, by its own claim names', () => {
    expect(decide('web-deploy', github()).reason).toBe("role 'web-deploy' granted: allow[0] held");
    expect(decide('web-deploy', gitlab()).reason).toBe("role 'web-deploy' granted: allow[1] held");
    expect(decide('gitlab-deploy', gitlab()).granted).toBe(true);
    expect(decide('buildkite-deploy', buildkite()).granted).toBe(true);
    expect(decide('circleci-deploy', circleci()).granted).toBe(true);
  });

  it('never lets a GitLab token meet a GitHub rule, even with claims named like GitHub’s', () => {
    const posing = gitlab({
      project_id: '99',
      repository: 'acme/web',
      repository_id: '123456',
      ref: 'refs/heads/main',
      environment: 'production',
    });
    const d = decide('web-deploy', posing);
    expect(d.granted).toBe(false);
    expect(d.allow[0]!.conditions[0]).toEqual({
      claim: 'iss',
      held: false,
      reason: 'mismatch',
      actual: CI_URLS.gitlab,
    });
  });

  it('tells two GitLab instances apart: the same claims from another instance are refused', () => {
    const other = gitlab({}, CI_URLS.gitlab2);
    for (const role of ['gitlab-deploy', 'web-deploy']) {
      const d = decide(role, other);
      expect([d.granted, d.code]).toEqual([false, 'issuer']);
    }
  });

  it('refuses what each system’s deny rules and pins name', () => {
    expect(decide('buildkite-deploy', buildkite({ build_source: 'schedule' })).code).toBe('deny_rule');
    expect(decide('buildkite-deploy', buildkite({ organization_id: 'another-org' })).granted).toBe(false);
    expect(decide('gitlab-deploy', gitlab({ ref_protected: 'false' })).granted).toBe(false);
    expect(decide('circleci-deploy', circleci({ 'oidc.circleci.com/ssh-rerun': true })).reason).toBe(
      "role 'circleci-deploy' denied: no allow rule held — allow[0]: oidc.circleci.com/ssh-rerun was 'true'",
    );
  });

  it('compares documented numbers and booleans as their text, and lists by any element', () => {
    expect(decide('list-and-number', buildkite()).reason).toBe(
      "role 'list-and-number' granted: allow[0] held",
    );
    expect(decide('list-and-number', buildkite({ build_number: 13 })).granted).toBe(false);
    expect(decide('list-and-number', circleci()).reason).toBe(
      "role 'list-and-number' granted: allow[1] held",
    );
    const noContext = circleci({ 'oidc.circleci.com/context-ids': ['0f0e0d0c-0000-4000-8000-000000000000'] });
    expect(decide('list-and-number', noContext).granted).toBe(false);
    // A GitHub-kind claim is still a string only: a number there is not its text.
    expect(decide('web-deploy', github({ repository_id: 123456 })).granted).toBe(false);
  });

  it('folds case where GitLab does (paths), not where it does not (environments)', () => {
    expect(decide('gitlab-case', gitlab({ environment: 'Production' })).granted).toBe(true);
    expect(decide('gitlab-case', gitlab({ environment: 'production' })).granted).toBe(false);
  });
});

const P = (roles: string, issuers = '') => `version: 1
issuers:
  - { url: https://token.actions.githubusercontent.com, audience: jitkey }
  - { url: https://gitlab.com, audience: jitkey, kind: gitlab }
  - { url: https://agent.buildkite.com, audience: jitkey, kind: buildkite }
  - { url: https://oidc.circleci.com/org/b2e1a0c3-5d4f-4e6a-9b8c-7d6e5f4a3b21, audience: org, kind: circleci }
${issuers}roles:
${roles}`;
const ROLE = (issuers: string, allow: string, deny = '') => `  a:
    provider: aws
    aws: { role_arn: "arn:aws:iam::111122223333:role/r" }
    issuers: [${issuers}]
    allow:
${allow}${deny}`;

describe('jitkey check: rules against their issuers’ kinds', () => {
  const errors = (text: string) => checkPolicy(text, 'policy.yaml').errors;

  it('refuses a claim the issuer’s kind never carries, where it is written', () => {
    expect(
      errors(P(ROLE('https://gitlab.com', '      - project_id: "20"\n        repository_id: "123456"\n'))),
    ).toEqual([
      "policy.yaml:14:9: error: roles.a.allow[0].repository_id: GitLab CI/CD tokens (issuer https://gitlab.com) carry no 'repository_id' claim ('repository_id' is a GitHub Actions claim)",
    ]);
  });

  it('asks a role of two kinds to scope a rule to one issuer', () => {
    const role = ROLE(
      'https://token.actions.githubusercontent.com, https://gitlab.com',
      '      - repository_id: "123456"\n        ref: refs/heads/main\n',
    );
    expect(errors(P(role))).toEqual([
      "policy.yaml:13:9: error: roles.a.allow[0].repository_id: GitLab CI/CD tokens (issuer https://gitlab.com) carry no 'repository_id' claim ('repository_id' is a GitHub Actions claim); to write rules for one issuer of the role, add issuer: URL to the rule",
    ]);
  });

  it('refuses a rule issuer the role is not bound to, and unpinned or wildcard pins per kind', () => {
    const role = ROLE(
      'https://gitlab.com',
      [
        '      - issuer: https://agent.buildkite.com',
        '        organization_id: x',
        '      - ref: main',
        '      - namespace_path: "*/platform"',
        '      - project_id: "2*"',
        '',
      ].join('\n'),
    );
    expect(errors(P(role))).toEqual([
      "policy.yaml:13:17: error: roles.a.allow[0].issuer: 'https://agent.buildkite.com' is not one of this role's issuers (https://gitlab.com); name one of them, or add it to the role's issuers",
      'policy.yaml:15:9: error: roles.a.allow[1] must pin whose GitLab CI/CD jobs it admits: add project_id or namespace_id (or project_path / namespace_path); gitlab.com issues the tokens of every project on it',
      "policy.yaml:16:25: error: roles.a.allow[2].namespace_path: '*/platform' pins nothing: it does not name the owner exactly",
      "policy.yaml:17:21: error: roles.a.allow[3].project_id: '2*' pins nothing: an id pin must be exact",
    ]);
  });

  it('needs an organization for Buildkite (one issuer for every organization) and a project for CircleCI', () => {
    expect(errors(P(ROLE('https://agent.buildkite.com', '      - pipeline_slug: deploy\n')))).toEqual([
      'policy.yaml:13:9: error: roles.a.allow[0] must pin whose Buildkite jobs it admits: add organization_id (or organization_slug); https://agent.buildkite.com issues the tokens of every Buildkite organization',
    ]);
    const circle = ROLE(
      'https://oidc.circleci.com/org/b2e1a0c3-5d4f-4e6a-9b8c-7d6e5f4a3b21',
      '      - oidc.circleci.com/vcs-origin: github.com/*/web\n',
    );
    expect(errors(P(circle))).toEqual([
      "policy.yaml:13:39: error: roles.a.allow[0].oidc.circleci.com/vcs-origin: 'github.com/*/web' pins nothing: it does not name the owner exactly",
    ]);
  });

  it('refuses require_protected_environment on a role no GitHub issuer may use', () => {
    const pinned = '      - project_id: "20"\n';
    const protectedRole = (issuers: string, allow: string) =>
      ROLE(issuers, allow).replace('    issuers:', '    require_protected_environment: true\n    issuers:');
    expect(errors(P(protectedRole('https://gitlab.com', pinned)))).toEqual([
      'policy.yaml:8:3: error: roles.a.require_protected_environment: only GitHub Actions tokens can show a protected GitHub environment, and this role is bound to gitlab issuers only; drop it, and pin the system\'s own protection in the rules (GitLab: environment_protected: "true")',
    ]);
    // With a GitHub issuer among its issuers, it loads (the other kind's tokens are refused).
    const both = protectedRole(
      'https://token.actions.githubusercontent.com, https://gitlab.com',
      '      - { issuer: https://gitlab.com, project_id: "20" }\n      - { issuer: https://token.actions.githubusercontent.com, repository_id: "1" }\n',
    );
    expect(errors(P(both))).toEqual([]);
  });

  it('refuses an unknown kind and a lifetime over a day', () => {
    const text = `version: 1
issuers:
  - { url: https://gitlab.com, audience: jitkey, kind: gitlabb, max_token_lifetime: 48h }
roles:
  a: { provider: aws, aws: { role_arn: "arn:aws:iam::111122223333:role/r" }, allow: [ { repository_id: "1" } ] }
`;
    expect(errors(text)).toEqual([
      "policy.yaml:3:56: error: issuers[0].kind: 'gitlabb' must be one of github, gitlab, buildkite, circleci; did you mean 'gitlab'?",
      'policy.yaml:3:85: error: issuers[0].max_token_lifetime must be between 1m and 24h',
    ]);
  });
});

describe('jitkey check: each system’s documented pitfalls', () => {
  const warnings = (text: string) => checkPolicy(text, 'policy.yaml');

  it('GitLab: an unprotected ref or environment for a write role, a path without its id', () => {
    const role = ROLE('https://gitlab.com', '      - project_path: my-group/my-project\n        ref: main\n');
    expect(warnings(P(role))).toEqual({
      ok: true,
      errors: [],
      warnings: [
        "policy.yaml:13:9: warning: roles.a.allow[0] names project_path without project_id: a renamed or deleted project's or group's path can be taken by another; add project_id (immutable) as well",
        'policy.yaml:13:9: warning: role \'a\' (privileged) allow[0] admits GitLab jobs on an unprotected ref or environment: anyone who can push a branch can run such a pipeline; add ref_protected: "true" or environment_protected: "true"',
      ],
    });
    // Nothing of GitHub's (pull_request events, refs/heads/…) is said of a GitLab role.
    const pinned = ROLE(
      'https://gitlab.com',
      '      - project_id: "20"\n        environment_protected: "true"\n',
    );
    expect(warnings(P(pinned)).warnings).toEqual([]);
  });

  it('Buildkite: slugs without the organization id', () => {
    const role = ROLE(
      'https://agent.buildkite.com',
      '      - organization_slug: acme\n        pipeline_slug: deploy\n',
    );
    expect(warnings(P(role)).warnings).toEqual([
      'policy.yaml:13:9: warning: roles.a.allow[0] pins Buildkite by organization_slug without organization_id: a slug can be re-used by another organization once renamed or deleted; add organization_id (the job requests it: buildkite-agent oidc request-token --claim organization_id,pipeline_id)',
    ]);
  });

  it('CircleCI: a write role open to SSH reruns, unless a rule or a deny rule closes it', () => {
    const url = 'https://oidc.circleci.com/org/b2e1a0c3-5d4f-4e6a-9b8c-7d6e5f4a3b21';
    const open = ROLE(url, '      - oidc.circleci.com/project-id: p\n');
    expect(warnings(P(open)).warnings).toEqual([
      'policy.yaml:13:9: warning: role \'a\' (privileged) allow[0] admits CircleCI jobs rerun with SSH (oidc.circleci.com/ssh-rerun true: a person has a shell in the job); add "oidc.circleci.com/ssh-rerun": "false" or a deny rule for "true"',
    ]);
    const denied = ROLE(
      url,
      '      - oidc.circleci.com/project-id: p\n',
      '    deny:\n      - oidc.circleci.com/ssh-rerun: "true"\n',
    );
    expect(warnings(P(denied)).warnings).toEqual([]);
  });
});

describe('a policy directory: team roles for GitLab jobs', () => {
  const org = `version: 1
issuers:
  - { url: https://token.actions.githubusercontent.com, audience: jitkey }
  - { url: https://gitlab.com, audience: jitkey, kind: gitlab }
teams:
  ops: { issuers: [https://gitlab.com], resources: { aws: { accounts: ["111122223333"] } } }
`;
  const team = (allow: string) => `version: 1
owners: [my-group/*]
roles:
  deploy:
    provider: aws
    aws: { role_arn: "arn:aws:iam::111122223333:role/ops" }
    allow:
${allow}`;
  const issues = (allow: string) =>
    validateDirectory('org', [
      { name: 'ops.yaml', file: 'org/ops.yaml', text: team(allow) },
      { name: 'org.yaml', file: 'org/org.yaml', text: org },
    ]).issues.map((i) => formatIssue(i));

  it('reads ownership from GitLab’s project path, and its claims from the team’s issuer', () => {
    expect(
      issues('      - { project_path: my-group/app, project_id: "20", ref_protected: "true" }\n'),
    ).toEqual([]);
    expect(
      issues(
        '      - { project_path: other-group/app, project_id: "21" }\n      - { project_id: "20" }\n      - { repository_id: "1" }\n',
      ),
    ).toEqual([
      "org/ops.yaml:10:11: roles.deploy.allow[2].repository_id: GitLab CI/CD tokens (issuer https://gitlab.com) carry no 'repository_id' claim ('repository_id' is a GitHub Actions claim)",
      "org/ops.yaml:8:25: roles.deploy.allow[0].project_path: 'other-group/app' reaches outside team 'ops' owners (my-group/*)",
      'org/ops.yaml:9:9: roles.deploy.allow[1] pins no project_path or namespace_path: ownership cannot be checked on ids; add one',
      'org/ops.yaml:10:9: roles.deploy.allow[2] pins no project_path or namespace_path: ownership cannot be checked on ids; add one',
    ]);
  });
});

it('folds case in a deny rule where any of its kinds does: GitHub’s environment in a two-kind role', () => {
  const role = ROLE(
    'https://token.actions.githubusercontent.com, https://gitlab.com',
    '      - { issuer: https://token.actions.githubusercontent.com, repository_id: "123456", repository_owner_id: "7890" }\n' +
      '      - { issuer: https://gitlab.com, project_id: "20", namespace_id: "72" }\n',
    '    deny:\n      - environment: production\n',
  );
  const a = loadPolicy(P(role), 'policy.yaml').roles.get('a')!;
  expect(evaluate(a, github({ environment: 'staging' })).code).toBe('granted');
  // GitHub resolves environment names case-insensitively: PRODUCTION is production.
  expect(evaluate(a, github({ environment: 'PRODUCTION' })).code).toBe('deny_rule');
  expect(evaluate(a, gitlab({ environment: 'production' })).code).toBe('deny_rule');
});

describe("org guardrails read another system's claims as its own rules do", () => {
  const org = `version: 1
issuers:
  - { url: ${CI_URLS.gitlab}, audience: jitkey, kind: gitlab }
  - { url: ${CI_URLS.circleci}, audience: ${CIRCLECI_ORG_ID}, kind: circleci }
teams:
  ops: { resources: { aws: { accounts: ["111122223333"] } } }
guardrails:
  - name: no-ssh
    deny:
      - { issuer: ${CI_URLS.circleci}, oidc.circleci.com/ssh-rerun: "true" }
  - name: no-legacy
    deny:
      - { issuer: ${CI_URLS.gitlab}, project_path: my-group/legacy }
`;
  const team = `version: 1
owners: [my-group/*, acme/*]
roles:
  ci:
    provider: aws
    aws: { role_arn: "arn:aws:iam::111122223333:role/ci" }
    issuers: [${CI_URLS.circleci}]
    allow:
      - { oidc.circleci.com/project-id: c4f1e2d3-a5b6-4c7d-8e9f-0a1b2c3d4e5f, oidc.circleci.com/vcs-origin: github.com/acme/web }
  gl:
    provider: aws
    aws: { role_arn: "arn:aws:iam::111122223333:role/gl" }
    issuers: [${CI_URLS.gitlab}]
    allow:
      - { namespace_path: my-group, namespace_id: "72", ref_protected: "true" }
`;
  const policy = (orgText = org) => {
    const {
      org: doc,
      teams,
      issues,
    } = validateDirectory('org', [
      { name: 'ops.yaml', file: 'org/ops.yaml', text: team },
      { name: 'org.yaml', file: 'org/org.yaml', text: orgText },
    ]);
    expect(issues.map((i) => formatIssue(i))).toEqual([]);
    return compileDirectory('org', doc!, teams);
  };

  it("holds on CircleCI's boolean ssh-rerun", () => {
    const role = policy().roles.get('ci')!;
    expect(evaluate(role, circleci()).code).toBe('granted');
    const ssh = evaluate(role, circleci({ 'oidc.circleci.com/ssh-rerun': true }));
    expect([ssh.code, ssh.granted]).toEqual(['guardrail', false]);
  });

  it('folds case where GitLab does: a project path in another case is the same project', () => {
    const role = policy().roles.get('gl')!;
    expect(evaluate(role, gitlab({ project_path: 'my-group/app' })).code).toBe('granted');
    expect(evaluate(role, gitlab({ project_path: 'My-Group/Legacy' })).code).toBe('guardrail');
  });

  it("fails closed on a claim the token's issuer never carries: a team cannot bind its way around it", () => {
    const unscoped = policy(`${org}  - name: hosted-runners
    deny:
      - { runner_environment: self-hosted }
`);
    // CircleCI tokens never say where the job ran: the guardrail cannot check, so it denies.
    const ci = evaluate(unscoped.roles.get('ci')!, circleci());
    expect([ci.code, ci.guardrail]).toEqual(['guardrail', 'hosted-runners']);
    expect(ci.reason).toBe(
      "role 'ci' denied by org guardrail 'hosted-runners': runner_environment is a claim this token's issuer never carries (a guardrail denies what it cannot check)",
    );
    // Nor does a value such a token carries anyway count: CircleCI's tokens never say it.
    const forged = evaluate(unscoped.roles.get('ci')!, circleci({ runner_environment: 'github-hosted' }));
    expect(forged.code).toBe('guardrail');
    // GitLab's do: read as any condition, and a GitLab token without it fails it as usual.
    const gl = unscoped.roles.get('gl')!;
    expect(evaluate(gl, gitlab({ runner_environment: 'gitlab-hosted' })).code).toBe('granted');
    expect(evaluate(gl, gitlab({ runner_environment: 'self-hosted' })).code).toBe('guardrail');
    const without = gitlab();
    delete without.runner_environment;
    expect(evaluate(gl, without).code).toBe('granted');
    // A value the guardrail cannot read (not a string) holds, as it cannot tell; a null is read as
    // a value, as Buildkite's step_key of a step without a key is.
    expect(evaluate(gl, gitlab({ runner_environment: 1 })).code).toBe('guardrail');
    expect(evaluate(gl, gitlab({ runner_environment: null })).code).toBe('granted');
  });

  it("refuses a guardrail rule whose issuer: is not a trusted issuer's url: it would hold for nothing", () => {
    const typo = org.replace(`issuer: ${CI_URLS.gitlab},`, `issuer: ${CI_URLS.gitlab}/,`);
    const { issues } = validateDirectory('org', [
      { name: 'ops.yaml', file: 'org/ops.yaml', text: team },
      { name: 'org.yaml', file: 'org/org.yaml', text: typo },
    ]);
    expect(issues.map((i) => i.message)).toEqual([
      `guardrails.no-legacy.deny[0].issuer: '${CI_URLS.gitlab}/' is not one of the issuers, so the rule would never hold; did you mean '${CI_URLS.gitlab}'?`,
    ]);
  });

  it('jitkey check says which roles a guardrail denies every token of an issuer, and how to scope it', () => {
    const check = (orgText: string) =>
      checkDirectory('org', [
        { name: 'ops.yaml', file: 'org/ops.yaml', text: team },
        { name: 'org.yaml', file: 'org/org.yaml', text: orgText },
      ]).warnings.filter((w) => w.includes('org guardrail'));
    // Scoped with issuer:, each guardrail reads only the tokens that carry its claims.
    expect(check(org)).toEqual([]);
    expect(
      check(`${org}  - name: hosted-runners
    deny:
      - { runner_environment: self-hosted }
`),
    ).toEqual([
      `org/ops.yaml:4:3: warning: org guardrail 'hosted-runners' tests runner_environment, which CircleCI tokens never carry: it denies role 'ci' every token of ${CI_URLS.circleci} that the rest of its rule matches (a guardrail denies what it cannot check). If it is not meant for them, give its rule issuer: in org.yaml`,
    ]);
  });
});

it('examples/ci-systems.yaml checks without an error or a warning', () => {
  const text = readFileSync(new URL('../../examples/ci-systems.yaml', import.meta.url), 'utf8');
  expect(checkPolicy(text, 'examples/ci-systems.yaml')).toEqual({ ok: true, errors: [], warnings: [] });
});

/** An org.yaml of one issuer and one guardrail rule scoped to it, and a team file of one role. */
function guardrailDirectory(o: {
  issuer: string;
  kind: string;
  guardrail: string;
  deny: string;
  owners: string;
  role: string;
  allow: string;
}) {
  return [
    {
      name: 'org.yaml',
      file: 'org/org.yaml',
      text: `version: 1
issuers:
  - { url: ${o.issuer}, audience: jitkey, kind: ${o.kind} }
teams:
  ops: { resources: { aws: { accounts: ["111122223333"] } } }
guardrails:
  - name: ${o.guardrail}
    deny:
      - { issuer: ${o.issuer}, ${o.deny} }
`,
    },
    {
      name: 'ops.yaml',
      file: 'org/ops.yaml',
      text: `version: 1
owners: [${o.owners}]
roles:
  ${o.role}:
    provider: aws
    aws: { role_arn: "arn:aws:iam::111122223333:role/${o.role}" }
    allow:
      - ${o.allow}
`,
    },
  ];
}

/** The directory's role, compiled; the directory must load without an issue. */
function compiledRole(files: ReturnType<typeof guardrailDirectory>, name: string) {
  const { org, teams, issues } = validateDirectory('org', files);
  expect(issues.map((i) => formatIssue(i))).toEqual([]);
  return compileDirectory('org', org!, teams).roles.get(name)!;
}

describe('an org guardrail on a claim the job chooses to ask for (Buildkite)', () => {
  const files = guardrailDirectory({
    issuer: CI_URLS.buildkite,
    kind: 'buildkite',
    guardrail: 'no-shared-queues',
    deny: 'queue_key: "shared-*"',
    owners: 'acme-inc/*',
    role: 'bk',
    allow: '{ organization_slug: acme-inc, organization_id: 0184990a-477b-4fa8-9968-496074483a77 }',
  });

  it('a job that leaves the claim out is denied, as one on a shared queue is', () => {
    const role = compiledRole(files, 'bk');
    expect(evaluate(role, buildkite({ queue_key: 'private-1' })).code).toBe('granted');
    expect(evaluate(role, buildkite({ queue_key: 'shared-1' })).code).toBe('guardrail');
    const left = evaluate(role, buildkite());
    expect([left.code, left.reason]).toEqual([
      'guardrail',
      "role 'bk' denied by org guardrail 'no-shared-queues': iss was 'https://agent.buildkite.com'; queue_key was missing (a guardrail denies what it cannot check)",
    ]);
  });

  it('jitkey check says so at each role it selects', () => {
    expect(checkDirectory('org', files).warnings).toEqual([
      `org/ops.yaml:4:3: warning: org guardrail 'no-shared-queues' tests queue_key, which Buildkite tokens carry only sometimes (a job asks for it, or the system leaves it out): it denies role 'bk' every token of ${CI_URLS.buildkite} without it that the rest of its rule matches (a guardrail denies what it cannot check)`,
    ]);
  });
});

describe('an org guardrail on an agent tag the job chooses to ask for (Buildkite agent_tag:NAME)', () => {
  const files = guardrailDirectory({
    issuer: CI_URLS.buildkite,
    kind: 'buildkite',
    guardrail: 'no-untrusted-agents',
    deny: 'claims: { "agent_tag:queue": "untrusted-*" }',
    owners: 'acme-inc/*',
    role: 'bk',
    allow: '{ organization_slug: acme-inc, organization_id: 0184990a-477b-4fa8-9968-496074483a77 }',
  });

  it('a job on an untrusted agent that leaves the tag out is denied, as one naming it is', () => {
    const role = compiledRole(files, 'bk');
    expect(evaluate(role, buildkite({ 'agent_tag:queue': 'deploy' })).code).toBe('granted');
    expect(evaluate(role, buildkite({ 'agent_tag:queue': 'untrusted-1' })).code).toBe('guardrail');
    // A null tells no more than a missing tag (the agent has no such tag, say).
    expect(evaluate(role, buildkite({ 'agent_tag:queue': null })).code).toBe('guardrail');
    const left = evaluate(role, buildkite());
    expect([left.code, left.reason]).toEqual([
      'guardrail',
      "role 'bk' denied by org guardrail 'no-untrusted-agents': iss was 'https://agent.buildkite.com'; agent_tag:queue was missing (a guardrail denies what it cannot check)",
    ]);
  });

  it('jitkey check says so at each role it selects', () => {
    expect(checkDirectory('org', files).warnings).toEqual([
      `org/ops.yaml:4:3: warning: org guardrail 'no-untrusted-agents' tests agent_tag:queue, which Buildkite tokens carry only sometimes (a job asks for it, or the system leaves it out): it denies role 'bk' every token of ${CI_URLS.buildkite} without it that the rest of its rule matches (a guardrail denies what it cannot check)`,
    ]);
  });

  it("another kind's token without the custom claim fails the condition, as in any rule", () => {
    const github = guardrailDirectory({
      issuer: 'https://token.actions.githubusercontent.com',
      kind: 'github',
      guardrail: 'no-untrusted-agents',
      deny: 'claims: { "agent_tag:queue": "untrusted-*" }',
      owners: 'acme/*',
      role: 'gh',
      allow: '{ repository: acme/app, repository_id: "1" }',
    });
    expect(checkDirectory('org', github).warnings.filter((w) => w.includes('guardrail'))).toEqual([]);
    const role = compiledRole(github, 'gh');
    expect(
      role.guardrails?.[0]?.deny[0]?.conditions.find((c) => c.claim === 'agent_tag:queue'),
    ).toMatchObject({
      failClosed: true,
    });
    expect(
      role.guardrails?.[0]?.deny[0]?.conditions.find((c) => c.claim === 'agent_tag:queue')?.missingHoldsFor,
    ).toBeUndefined();
  });
});

describe('an org guardrail on a claim GitLab sends only sometimes (groups_direct)', () => {
  const files = guardrailDirectory({
    issuer: CI_URLS.gitlab,
    kind: 'gitlab',
    guardrail: 'no-contractors',
    deny: 'groups_direct: contractors',
    owners: 'my-group/*',
    role: 'gl',
    allow: '{ namespace_path: my-group, namespace_id: "72" }',
  });

  it('a token without it is denied (the instance may not send it), as a contractor’s is', () => {
    const role = compiledRole(files, 'gl');
    expect(evaluate(role, gitlab({ groups_direct: ['my-group', 'ops'] })).code).toBe('granted');
    expect(evaluate(role, gitlab({ groups_direct: ['my-group', 'contractors'] })).code).toBe('guardrail');
    const left = evaluate(role, gitlab());
    expect([left.code, left.reason]).toEqual([
      'guardrail',
      `role 'gl' denied by org guardrail 'no-contractors': iss was '${CI_URLS.gitlab}'; groups_direct was missing (a guardrail denies what it cannot check)`,
    ]);
  });
});
