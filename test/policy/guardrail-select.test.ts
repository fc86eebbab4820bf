/**
 * Guardrails select roles by what they grant (applies_to.aws / gcp / kubernetes / github), not
 * only by name, and name globs match case-insensitively (role names are unique so): the same
 * ARN under another name, or PROD-web-hotfix for prod-*, does not escape.
 */
import { describe, expect, it } from 'vitest';
import { evaluate } from '../../exchanger/policy/evaluate/evaluate.js';
import { compileDirectory, validateDirectory } from '../../exchanger/policy/load/directory.js';
import { formatIssue } from '../../exchanger/policy/model/errors.js';
import type { Policy } from '../../exchanger/policy/model/types.js';

const PAY_ARN = 'arn:aws:iam::111122223333:role/payments-deploy';
const K8S = 'http://127.0.0.1:6443';

function org(
  appliesTo: string,
  githubCaps = 'contents: admin, issues: write',
  repositories = 'acme/payments-*',
): string {
  return `version: 1
issuers:
  - { url: https://token.actions.githubusercontent.com, audience: jitkey }
teams:
  payments:
    resources:
      aws: { accounts: ["111122223333"] }
      gcp: { projects: [acme-payments] }
      kubernetes: { clusters: ["${K8S}"], namespaces: [payments, payments-*] }
      github: { repositories: ["${repositories}"], permissions: { ${githubCaps} } }
guardrails:
  - name: g
    applies_to: ${appliesTo}
    deny:
      - runner_environment: self-hosted
`;
}

const allow = `    allow:
      - { repository: acme/payments-api, repository_id: "1", ref: refs/heads/main }
`;
const PAYMENTS = `version: 1
owners: ["acme/payments-*"]
roles:
  prod-payments-deploy:
    provider: aws
    aws: { role_arn: "${PAY_ARN}" }
${allow}  hotfix:
    provider: aws
    aws: { role_arn: "${PAY_ARN.replace('payments-deploy', 'Payments-Deploy')}" }
${allow}  PROD-web-hotfix:
    provider: aws
    aws: { role_arn: "arn:aws:iam::111122223333:role/payments-other" }
${allow}  ledger-sa:
    provider: gcp
    gcp: { service_account: ledger@acme-payments.iam.gserviceaccount.com }
${allow}  k8s-deploy:
    provider: kubernetes
    kubernetes: { server: "${K8S}", namespace: payments-prod, service_account: deploy }
${allow}  repo-admin:
    provider: github
    github: { repositories: [acme/payments-api], permissions: { contents: admin } }
${allow}  repo-write:
    provider: github
    github: { repositories: [acme/payments-api], permissions: { issues: write, contents: read } }
${allow}  repo-read:
    provider: github
    github: { repositories: [acme/payments-api], permissions: { contents: read } }
${allow}`;

/** The directory with a guardrail selecting by `appliesTo`; `payments` is the team's file. */
function load(appliesTo: string, payments = PAYMENTS, githubCaps?: string, repositories?: string): Policy {
  const {
    org: o,
    teams,
    issues,
  } = validateDirectory('org', [
    { name: 'org.yaml', file: 'org/org.yaml', text: org(appliesTo, githubCaps, repositories) },
    { name: 'payments.yaml', file: 'org/payments.yaml', text: payments },
  ]);
  expect(issues.map((i) => formatIssue(i))).toEqual([]);
  return compileDirectory('org', o!, teams);
}
const selected = (p: Policy) => [...p.roles.values()].filter((r) => r.guardrails?.length).map((r) => r.name);

describe('applies_to selects by what a role grants', () => {
  it.each([
    {
      name: 'an ARN: the same role under another name (and in other case) is selected too',
      appliesTo: `{ aws: { role_arns: ["${PAY_ARN}"] } }`,
      want: ['prod-payments-deploy', 'hotfix'],
    },
    {
      name: 'an ARN glob',
      appliesTo: '{ aws: { role_arns: ["arn:aws:iam::*:role/payments-*"] } }',
      want: ['prod-payments-deploy', 'hotfix', 'PROD-web-hotfix'],
    },
    {
      name: 'an AWS account',
      appliesTo: '{ aws: { accounts: ["111122223333"] } }',
      want: ['prod-payments-deploy', 'hotfix', 'PROD-web-hotfix'],
    },
    { name: 'a GCP project', appliesTo: '{ gcp: { projects: [acme-payments] } }', want: ['ledger-sa'] },
    {
      name: 'a GCP service account',
      appliesTo: '{ gcp: { service_accounts: ["ledger@*"] } }',
      want: ['ledger-sa'],
    },
    {
      name: 'a Kubernetes namespace',
      appliesTo: '{ kubernetes: { namespaces: ["payments-*"] } }',
      want: ['k8s-deploy'],
    },
    {
      name: 'a Kubernetes cluster',
      appliesTo: `{ kubernetes: { clusters: ["${K8S}/"] } }`,
      want: ['k8s-deploy'],
    },
    {
      // Only the permission named: repo-write's issues: write is not a contents: write.
      name: 'a GitHub permission at or above a level',
      appliesTo: '{ github: { permissions: { contents: write } } }',
      want: ['repo-admin'],
    },
    {
      name: 'github write: true: any permission at write or above',
      appliesTo: '{ github: { write: true } }',
      want: ['repo-admin', 'repo-write'],
    },
    {
      name: 'github write: false: roles with none',
      appliesTo: '{ github: { write: false } }',
      want: ['repo-read'],
    },
    {
      name: 'github write together with repositories: both hold',
      appliesTo: '{ github: { repositories: ["acme/payments-api"], write: true } }',
      want: ['repo-admin', 'repo-write'],
    },
    {
      name: 'any of two GitHub permissions',
      appliesTo: '{ github: { permissions: { contents: admin, issues: write } } }',
      want: ['repo-admin', 'repo-write'],
    },
    {
      name: 'several provider blocks: a role granting from any of them',
      appliesTo: '{ gcp: { projects: [acme-payments] }, kubernetes: { namespaces: [payments-prod] } }',
      want: ['ledger-sa', 'k8s-deploy'],
    },
    {
      name: 'a name glob, case-insensitively: PROD-web-hotfix is a prod-* role',
      appliesTo: '{ roles: ["prod-*"] }',
      want: ['prod-payments-deploy', 'PROD-web-hotfix'],
    },
    {
      name: 'keys together: a name and a resource must both hold',
      appliesTo: `{ roles: ["prod-*"], aws: { role_arns: ["${PAY_ARN}"] } }`,
      want: ['prod-payments-deploy'],
    },
    {
      name: 'write and team still select',
      appliesTo: '{ write: false, teams: [payments] }',
      want: ['repo-read'],
    },
  ])('$name', ({ appliesTo, want }) => {
    expect(selected(load(appliesTo))).toEqual(want);
  });

  it('the guardrail denies the renamed role holding the same ARN', () => {
    const p = load(`{ aws: { role_arns: ["${PAY_ARN}"] } }`);
    const claims = {
      repository: 'acme/payments-api',
      repository_id: '1',
      ref: 'refs/heads/main',
      runner_environment: 'self-hosted',
    };
    expect(evaluate(p.roles.get('hotfix')!, claims)).toMatchObject({
      granted: false,
      code: 'guardrail',
      guardrail: 'g',
    });
    expect(evaluate(p.roles.get('hotfix')!, { ...claims, runner_environment: 'github-hosted' }).granted).toBe(
      true,
    );
  });

  it('a bad selector is a load error at line:col', () => {
    const { issues } = validateDirectory('org', [
      { name: 'org.yaml', file: 'org/org.yaml', text: org('{ aws: { acounts: ["1"] } }') },
      { name: 'payments.yaml', file: 'org/payments.yaml', text: PAYMENTS },
    ]);
    expect(issues.map((i) => formatIssue(i))).toEqual([
      "org/org.yaml:13:26: unknown key 'acounts' in guardrails.g.applies_to.aws; did you mean 'accounts'?",
    ]);
  });
});

/** An org.yaml and one team file `t.yaml` of AWS roles `name: ARN`, loaded; the selected roles. */
function selectedAws(scope: string, appliesTo: string, roles: Record<string, string>): string[] {
  const orgText = `version: 1
issuers:
  - { url: https://token.actions.githubusercontent.com, audience: jitkey }
teams:
  t:
    resources:
      aws: ${scope}
guardrails:
  - name: g
    applies_to: ${appliesTo}
    deny:
      - runner_environment: self-hosted
`;
  const teamText = `version: 1
owners: ["acme/t"]
roles:
${Object.entries(roles)
  .map(([name, arn]) => `  ${name}:\n    provider: aws\n    aws: { role_arn: "${arn}" }\n${allow}`)
  .join('')}`;
  const {
    org: o,
    teams,
    issues,
  } = validateDirectory('org', [
    { name: 'org.yaml', file: 'org/org.yaml', text: orgText },
    { name: 't.yaml', file: 'org/t.yaml', text: teamText.replaceAll('acme/payments-api', 'acme/t') },
  ]);
  expect(issues.map((i) => formatIssue(i))).toEqual([]);
  return selected(compileDirectory('org', o!, teams));
}

describe('an IAM path or partition does not take a role out of a guardrail', () => {
  const account = '{ accounts: ["111122223333", "aws-cn:111122223333"] }';
  const roles = {
    plain: 'arn:aws:iam::111122223333:role/prod-db-admin',
    'under-a-path': 'arn:aws:iam::111122223333:role/ci/prod-db-admin',
    'deep-path': 'arn:aws:iam::111122223333:role/a/b/PROD-x',
    'path-named-prod': 'arn:aws:iam::111122223333:role/prod-ci/deploy',
    china: 'arn:aws-cn:iam::111122223333:role/prod-db-admin',
  };

  it.each([
    {
      name: "docs/org-policy.md's role/prod-* holds the role's name under any path",
      appliesTo: '{ aws: { role_arns: ["arn:aws:iam::*:role/prod-*"] } }',
      want: ['plain', 'under-a-path', 'deep-path'],
    },
    {
      name: 'a pattern with a path still matches the path',
      appliesTo: '{ aws: { role_arns: ["arn:aws:iam::111122223333:role/ci/*"] } }',
      want: ['under-a-path'],
    },
    {
      name: 'an account id is the aws partition’s account only',
      appliesTo: '{ aws: { accounts: ["111122223333"] } }',
      want: ['plain', 'under-a-path', 'deep-path', 'path-named-prod'],
    },
    {
      name: 'a partition-qualified account is that partition’s',
      appliesTo: '{ aws: { accounts: ["aws-cn:111122223333"] } }',
      want: ['china'],
    },
  ])('$name', ({ appliesTo, want }) => {
    expect(selectedAws(account, appliesTo, roles)).toEqual(want);
  });

  it('a scope may not say github write (it caps permissions), nor an account without its partition', () => {
    const { issues } = validateDirectory('org', [
      {
        name: 'org.yaml',
        file: 'org/org.yaml',
        text: org('{ aws: { accounts: ["aws:111122223333"] } }').replace(
          'permissions: { contents: admin, issues: write } }',
          'permissions: { contents: admin, issues: write }, write: true }',
        ),
      },
      { name: 'payments.yaml', file: 'org/payments.yaml', text: PAYMENTS },
    ]);
    expect(issues.map((i) => formatIssue(i))).toEqual([
      'org/org.yaml:10:101: teams.payments.resources.github.write selects roles in a guardrail; a scope caps them with permissions',
      "org/org.yaml:13:37: guardrails.g.applies_to.aws.accounts: 'aws:111122223333' is not a 12-digit AWS account id (of the aws partition; aws-cn:… or aws-us-gov:… for another)",
    ]);
  });
});

/** A payments team file of GitHub roles on acme/payments-api: role name → its permissions (YAML). */
const githubTeam = (roles: Record<string, string>) =>
  `version: 1
owners: ["acme/payments-*"]
roles:
${Object.entries(roles)
  .map(
    ([name, permissions]) => `  ${name}:
    provider: github
    github: { repositories: [acme/payments-api], permissions: ${permissions} }
${allow}`,
  )
  .join('')}`;

describe('an organization permission acts on every repository of its owner', () => {
  it('a guardrail naming another repository of the owner selects the role, whatever it lists', () => {
    const team = githubTeam({
      'org-secrets': '{ organization_secrets: write }',
      'repo-read': '{ contents: read }',
    });
    const caps = 'contents: admin, issues: write, organization_secrets: write';
    // The scope must hold all of acme to cap an organization permission at all.
    expect(selected(load('{ github: { repositories: ["acme/web"] } }', team, caps, 'acme/*'))).toEqual([
      'org-secrets',
    ]);
  });

  it.each([
    { appliesTo: '{ github: { repositories: ["acme/web"], permissions: { contents: write } } }', want: [] },
    { appliesTo: '{ github: { repositories: ["acme/web"], write: true } }', want: [] },
    { appliesTo: '{ github: { repositories: ["ACME/web"], write: false } }', want: ['mixed'] },
    { appliesTo: '{ github: { repositories: ["other/web"] } }', want: [] },
  ])('only it reaches the other repositories: $appliesTo selects $want', ({ appliesTo, want }) => {
    // contents: write is on acme/payments-api alone; members: read reaches every repository.
    const team = githubTeam({ mixed: '{ contents: write, members: read }' });
    const caps = 'contents: admin, issues: write, members: read';
    expect(selected(load(appliesTo, team, caps, 'acme/*'))).toEqual(want);
  });
});
