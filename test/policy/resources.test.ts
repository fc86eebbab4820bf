/**
 * Teams own resources (docs/org-policy.md): a team file's role may grant only what org.yaml's
 * teams.<name>.resources (or a shared: entry naming the team) holds, matched on the resource
 * granted — role ARN, service account and delegates, cluster/namespace/service account,
 * repository and permission level — never on the role's name.
 */
import { describe, expect, it } from 'vitest';
import { validateDirectory } from '../../exchanger/policy/load/directory.js';
import { loadPolicy } from '../../exchanger/policy/load/load-policy.js';
import { formatIssue } from '../../exchanger/policy/model/errors.js';

/** A loopback API server needs no ca_data: the scope compares the server URL, nothing else. */
const K8S = 'http://127.0.0.1:6443';
const ORG = `version: 1
issuers:
  - { url: https://token.actions.githubusercontent.com, audience: jitkey }
teams:
  web:
    resources:
      aws: { role_arns: ["arn:aws:iam::111122223333:role/web-*"] }
      gcp: { projects: [acme-web] }
      kubernetes: { clusters: ["${K8S}"], namespaces: [web, web-*] }
      github: { repositories: ["acme/web*"], permissions: { contents: write, pull_requests: write } }
  payments:
    resources:
      aws: { accounts: ["444455556666"], role_arns: ["arn:aws:iam::111122223333:role/payments-*"] }
      gcp: { projects: [acme-payments] }
      kubernetes: { clusters: ["${K8S}"], namespaces: [payments], service_accounts: [deploy], audiences: [vault] }
      github: { repositories: ["acme/payments-*"], permissions: { contents: read } }
shared:
  - teams: [web, payments]
    resources:
      aws: { role_arns: ["arn:aws:iam::111122223333:role/payments-artifacts-read"] }
`;

/** A team file with one role `r` of the given provider block. */
function team(owners: string, provider: string, block: string, repo = owners.replace('*', 'app')): string {
  return `version: 1
owners: [${owners}]
roles:
  r:
    provider: ${provider}
    ${provider}: ${block}
    allow:
      - { repository: ${repo}, repository_id: "1", ref: refs/heads/main }
`;
}
const PAYMENTS = team(
  'acme/payments-*',
  'aws',
  '{ role_arn: "arn:aws:iam::111122223333:role/payments-deploy" }',
);

function errors(web: string, org = ORG): string[] {
  return validateDirectory('org', [
    { name: 'org.yaml', file: 'org/org.yaml', text: org },
    { name: 'payments.yaml', file: 'org/payments.yaml', text: PAYMENTS.replace('  r:', '  p:') },
    { name: 'web.yaml', file: 'org/web.yaml', text: web },
  ]).issues.map((i) => formatIssue(i));
}
const web = (provider: string, block: string) => team('acme/web', provider, block);
const kube = (ns: string, sa = 'deploy') =>
  web('kubernetes', `{ server: "${K8S}", namespace: ${ns}, service_account: ${sa} }`);

describe('a team grants only its own resources', () => {
  it.each([
    {
      name: 'an AWS role of its own',
      text: web('aws', '{ role_arn: "arn:aws:iam::111122223333:role/web-deploy" }'),
    },
    {
      name: 'its own role in another case (IAM role names are case-insensitive)',
      text: web('aws', '{ role_arn: "arn:aws:iam::111122223333:role/WEB-deploy" }'),
    },
    {
      // IAM role names are unique whatever the path: role/web-* is web's role under /ci/ too.
      name: 'its own role under an IAM path',
      text: web('aws', '{ role_arn: "arn:aws:iam::111122223333:role/ci/web-deploy" }'),
    },
    {
      name: 'a role org.yaml shares with it',
      text: web('aws', '{ role_arn: "arn:aws:iam::111122223333:role/payments-artifacts-read" }'),
    },
    {
      name: 'a service account of its project',
      text: web('gcp', '{ service_account: ci@acme-web.iam.gserviceaccount.com }'),
    },
    { name: 'its namespace', text: kube('web-preview') },
    {
      name: 'its repositories, within the permission caps',
      text: web(
        'github',
        '{ repositories: [acme/web], permissions: { contents: read, pull_requests: write } }',
      ),
    },
  ])('$name loads', ({ text }) => {
    expect(errors(text)).toEqual([]);
  });

  const outside = (id: string, key: string, scope: string) =>
    `roles.r.${key}: '${id}' is outside team 'web' resources in org/org.yaml: teams.web.resources.${scope}`;
  it.each([
    {
      name: "payments' AWS role",
      text: web('aws', '{ role_arn: "arn:aws:iam::111122223333:role/payments-deploy" }'),
      want: `org/web.yaml:6:22: ${outside('arn:aws:iam::111122223333:role/payments-deploy', 'aws.role_arn', 'aws (role_arns arn:aws:iam::111122223333:role/web-*)')}; grant a resource of the team's, or have the platform team add it to teams.web.resources.aws`,
    },
    {
      name: "payments' AWS role spelt in capitals",
      text: web('aws', '{ role_arn: "arn:aws:iam::111122223333:role/PAYMENTS-deploy" }'),
      want: outside('arn:aws:iam::111122223333:role/PAYMENTS-deploy', 'aws.role_arn', 'aws'),
    },
    {
      name: "any role of payments' account",
      text: web('aws', '{ role_arn: "arn:aws:iam::444455556666:role/web-deploy" }'),
      want: outside('arn:aws:iam::444455556666:role/web-deploy', 'aws.role_arn', 'aws'),
    },
    {
      name: "payments' GCP service account",
      text: web('gcp', '{ service_account: artifacts@acme-payments.iam.gserviceaccount.com }'),
      want: `org/web.yaml:6:29: ${outside('artifacts@acme-payments.iam.gserviceaccount.com', 'gcp.service_account', 'gcp (projects acme-web)')}`,
    },
    {
      name: "payments' service account as a delegate",
      text: web(
        'gcp',
        '{ service_account: ci@acme-web.iam.gserviceaccount.com, delegates: [artifacts@acme-payments.iam.gserviceaccount.com] }',
      ),
      want: outside('artifacts@acme-payments.iam.gserviceaccount.com', 'gcp.delegates', 'gcp'),
    },
    {
      name: 'the payments namespace',
      text: kube('payments'),
      want: outside(`${K8S} payments/deploy`, 'kubernetes.namespace', 'kubernetes'),
    },
    {
      name: 'kube-system/admin',
      text: kube('kube-system', 'admin'),
      want: outside(`${K8S} kube-system/admin`, 'kubernetes.namespace', 'kubernetes'),
    },
    {
      name: 'another cluster',
      text: kube('web').replace(K8S, 'https://other.acme.example'),
      want: outside('https://other.acme.example web/deploy', 'kubernetes.namespace', 'kubernetes'),
    },
    {
      name: 'a repository of payments',
      text: team(
        'acme/web',
        'github',
        '{ repositories: [acme/payments-api], permissions: { contents: read } }',
        'acme/web',
      ),
      want: outside('acme/payments-api', 'github.repositories', 'github'),
    },
    {
      name: 'a permission above its cap',
      text: web('github', '{ repositories: [acme/web], permissions: { contents: admin } }'),
      want: "org/web.yaml:6:29: roles.r.github.permissions on 'acme/web': contents: admin (at most write) is above what its team's resources allow; ask for less, or have the platform team raise github.permissions in org.yaml",
    },
    {
      name: 'a permission its team has none of',
      text: web('github', '{ repositories: [acme/web], permissions: { administration: read } }'),
      want: 'administration: read (not granted to the team)',
    },
  ])('$name is a load error naming the resource and the scope', ({ text, want }) => {
    expect(errors(text).join('\n')).toContain(want);
  });

  it('an account id holds only the aws partition; a scope names another partition to hold it', () => {
    const account = (ids: string) =>
      ORG.replace(
        'aws: { role_arns: ["arn:aws:iam::111122223333:role/web-*"] }',
        `aws: { accounts: [${ids}] }`,
      );
    const govRole = web('aws', '{ role_arn: "arn:aws-us-gov:iam::777788889999:role/web-deploy" }');
    expect(errors(govRole, account('"777788889999"')).join('\n')).toContain(
      "roles.r.aws.role_arn: 'arn:aws-us-gov:iam::777788889999:role/web-deploy' is outside team 'web' resources",
    );
    expect(errors(govRole, account('"aws-us-gov:777788889999"'))).toEqual([]);
    const plainRole = web('aws', '{ role_arn: "arn:aws:iam::777788889999:role/web-deploy" }');
    expect(errors(plainRole, account('"777788889999"'))).toEqual([]);
    expect(errors(plainRole, account('"aws-us-gov:777788889999"')).join('\n')).toContain('is outside team');
  });

  it('a provider the team has no resources for cannot be granted at all', () => {
    const org = ORG.replace('      gcp: { projects: [acme-web] }\n', '');
    expect(errors(web('gcp', '{ service_account: ci@acme-web.iam.gserviceaccount.com }'), org)).toEqual([
      "org/web.yaml:6:29: roles.r: team 'web' has no gcp resources in org/org.yaml, so it may grant none: the platform team adds teams.web.resources.gcp there (or a shared: entry listing 'web')",
    ]);
  });

  it('Kubernetes audiences stay within the scope’s list', () => {
    const payments = (aud: string) =>
      team(
        'acme/payments-*',
        'kubernetes',
        `{ server: "${K8S}", namespace: payments, service_account: deploy, audiences: [${aud}] }`,
      ).replace('  r:', '  p:');
    const load = (text: string) =>
      validateDirectory('org', [
        { name: 'org.yaml', file: 'org/org.yaml', text: ORG },
        { name: 'payments.yaml', file: 'org/payments.yaml', text },
        { name: 'web.yaml', file: 'org/web.yaml', text: kube('web') },
      ]).issues.map((i) => i.message);
    expect(load(payments('vault'))).toEqual([]);
    expect(load(payments('sts.amazonaws.com'))).toEqual([
      "roles.p.kubernetes.audiences: sts.amazonaws.com not in its team's kubernetes.audiences; drop the audience, or have the platform team list it in org.yaml",
    ]);
  });
});

describe('an organization permission acts on all of its owner', () => {
  const webScope =
    'github: { repositories: ["acme/web*"], permissions: { contents: write, pull_requests: write } }';
  const withScope = (scope: string) => ORG.replace(webScope, scope);
  const github = web('github', '{ repositories: [acme/web], permissions: { organization_secrets: write } }');

  it('a scope holding only some of the owner’s repositories may not cap one', () => {
    const org = withScope(
      'github: { repositories: ["acme/web*", "other/web"], permissions: { contents: write, organization_secrets: write } }',
    );
    expect(errors(github, org)).toEqual([
      "org/org.yaml:10:59: teams.web.resources.github.permissions: organization_secrets acts on every repository of acme and other, but this scope holds only some of them (acme/web*, other/web): a role with them would reach other teams' repositories. Hold all of the owner (acme/*, other/*), or drop organization_secrets",
    ]);
  });

  it('members and team_discussions are organization permissions too; a shared entry is held alike', () => {
    const org = `${ORG}  - teams: [web, payments]
    resources:
      github: { repositories: ["acme/web"], permissions: { members: read, team_discussions: write } }
`;
    expect(errors(web('aws', '{ role_arn: "arn:aws:iam::111122223333:role/web-x" }'), org)).toEqual([
      "org/org.yaml:23:45: shared[1].resources.github.permissions: members, team_discussions act on every repository of acme, but this scope holds only some of them (acme/web): a role with them would reach other teams' repositories. Hold all of the owner (acme/*), or drop members, team_discussions",
    ]);
  });

  it('a scope holding all of the owner (in any case) caps one; a repository permission needs no more', () => {
    const org = withScope(
      'github: { repositories: ["ACME/*", "acme/web"], permissions: { contents: write, organization_secrets: write } }',
    );
    expect(errors(github, org)).toEqual([]);
    expect(errors(web('github', '{ repositories: [acme/web], permissions: { contents: write } }'))).toEqual(
      [],
    );
  });
});

describe('a team file notifies over https only', () => {
  it('refuses a loopback http notify, which would post to the exchanger host’s own services', () => {
    const text = web('aws', '{ role_arn: "arn:aws:iam::111122223333:role/web-x" }').replace(
      '    allow:',
      '    approval:\n      approvers: [alice]\n      notify: "http://127.0.0.1:15000/quitquitquit"\n    allow:',
    );
    expect(errors(text)).toEqual([
      "org/web.yaml:4:3: roles.r.approval.notify: a team file may not notify http://127.0.0.1:15000/quitquitquit: write an https:// URL of another host (plain http and loopback reach the exchanger's own host: for single-file test policies only)",
    ]);
    expect(
      errors(text.replace('http://127.0.0.1:15000/quitquitquit', 'https://hooks.acme.example/jitkey')),
    ).toEqual([]);
    // However the URL is spelt: as fetch reads it, it is http or the exchanger's own host.
    for (const spelt of [
      'HTTP://127.0.0.1:15000/q',
      'http:/localhost:15000/q',
      'https://localhost:15000/q',
    ]) {
      expect(errors(text.replace('http://127.0.0.1:15000/quitquitquit', spelt))).toEqual([
        `org/web.yaml:4:3: roles.r.approval.notify: a team file may not notify ${spelt}: write an https:// URL of another host (plain http and loopback reach the exchanger's own host: for single-file test policies only)`,
      ]);
    }
  });
});

describe('session tags: only the keys org.yaml lets a team set', () => {
  const ARN = 'arn:aws:iam::111122223333:role/web-deploy';
  const tagged = (tags: string) => web('aws', `{ role_arn: "${ARN}", session_tags: ${tags} }`);
  const withKeys = ORG.replace(
    'role_arns: ["arn:aws:iam::111122223333:role/web-*"]',
    'role_arns: ["arn:aws:iam::111122223333:role/web-*"], session_tags: [repository, run]',
  );

  it("refuses a tag key the team's scope does not list (a team tagging itself payments' team)", () => {
    const refusal = (keys: string) =>
      `org/web.yaml:6:22: roles.r.aws.session_tags: ${keys} not in its team's aws.session_tags in org.yaml; IAM reads a session tag as the principal's own (over the role's tag of that key), so the platform team says which keys a team may set: drop the tag, or have the platform team list it there`;
    expect(errors(tagged('{ team: payments }'))).toEqual([refusal('team')]);
    // biome-ignore lint/suspicious/noTemplateCurlyInString: session_tags templates are written `${claim}`
    expect(errors(tagged('{ team: payments, repository: "${repository}" }'), withKeys)).toEqual([
      refusal('team'),
    ]);
  });

  it('takes the keys it lists, in any case (IAM compares tag keys so)', () => {
    // biome-ignore lint/suspicious/noTemplateCurlyInString: session_tags templates are written `${claim}`
    expect(errors(tagged('{ Repository: "${repository}", run: "${run_id}" }'), withKeys)).toEqual([]);
  });

  it('a key that is no tag key, or session_tags in a guardrail, is a load error', () => {
    expect(errors(tagged('{ repository: x }'), withKeys.replace('[repository, run]', '["aws:x"]'))).toContain(
      "org/org.yaml:7:82: teams.web.resources.aws.session_tags: 'aws:x' is not a session tag key (1–128 letters, digits, spaces and _.:/=+-@, not aws:…)",
    );
    const guardrail = `${ORG}guardrails:\n  - name: g\n    applies_to: { aws: { session_tags: [team] } }\n    deny:\n      - { runner_environment: self-hosted }\n`;
    expect(errors(web('aws', `{ role_arn: "${ARN}" }`), guardrail)).toEqual([
      "org/org.yaml:23:26: guardrails.g.applies_to.aws.session_tags caps what a team's roles may tag; a guardrail selects by role_arns or accounts",
    ]);
  });
});

describe('two teams share a resource only when org.yaml says so', () => {
  const wide = ORG.replace(
    'role_arns: ["arn:aws:iam::111122223333:role/web-*"]',
    'role_arns: ["arn:aws:iam::111122223333:role/*"]',
  );
  it('overlapping scopes: the resource in both is refused to each team without a shared entry', () => {
    const text = web('aws', '{ role_arn: "arn:aws:iam::111122223333:role/payments-deploy" }');
    expect(errors(text, wide)).toEqual([
      "org/payments.yaml:6:22: roles.p.aws.role_arn: 'arn:aws:iam::111122223333:role/payments-deploy' is also in team 'web' resources (org/org.yaml:6:5); two teams may grant one resource only when org/org.yaml lists it under shared: with both teams",
      "org/web.yaml:6:22: roles.r.aws.role_arn: 'arn:aws:iam::111122223333:role/payments-deploy' is also in team 'payments' resources (org/org.yaml:12:5); two teams may grant one resource only when org/org.yaml lists it under shared: with both teams",
    ]);
    // The shared role stays grantable by web: the shared entry names both teams.
    const shared = web('aws', '{ role_arn: "arn:aws:iam::111122223333:role/payments-artifacts-read" }');
    expect(errors(shared, wide).filter((e) => e.startsWith('org/web.yaml'))).toEqual([]);
  });

  it("a shared entry that leaves a team out keeps it out, even where the team's own scope is wider", () => {
    // web's scope holds every role of the account; a role no team's own scope holds is shared
    // with payments alone (with payments and data, say: a one-team entry is an error of its own,
    // left out here, as are payments' overlaps with web's wide scope).
    const narrowShared = wide
      .replace('teams: [web, payments]', 'teams: [payments]')
      .replace('role/payments-artifacts-read', 'role/ledger-read');
    const text = web('aws', '{ role_arn: "arn:aws:iam::111122223333:role/ledger-read" }');
    expect(errors(text, narrowShared).filter((e) => e.startsWith('org/web.yaml'))).toEqual([
      "org/web.yaml:6:22: roles.r.aws.role_arn: 'arn:aws:iam::111122223333:role/ledger-read' is shared in org/org.yaml (org/org.yaml:18:5) only with 'payments'; grant a resource of the team's, or have the platform team add 'web' to that shared: entry",
    ]);
  });

  it('a shared entry naming a team without a file is a load error', () => {
    const org = ORG.replace('teams: [web, payments]', 'teams: [web, paymnts]');
    expect(errors(web('aws', '{ role_arn: "arn:aws:iam::111122223333:role/web-x" }'), org)).toContain(
      "org/org.yaml:18:5: shared[0].teams: no team file 'paymnts.yaml' in the directory",
    );
  });

  it.each([
    {
      name: 'a role ARN pattern without its account',
      org: ORG.replace('role/web-*', 'role/web-*').replace(
        'arn:aws:iam::111122223333:role/web-*',
        'arn:aws:iam::*:role/web-*',
      ),
      want: "teams.web.resources.aws.role_arns: 'arn:aws:iam::*:role/web-*' is not a role ARN pattern like arn:aws:iam::111122223333:role/team-* (the account written out)",
    },
    {
      name: 'an account that is not 12 digits',
      org: ORG.replace('"444455556666"', '"4444"'),
      want: "teams.payments.resources.aws.accounts: '4444' is not a 12-digit AWS account id",
    },
    {
      name: 'kubernetes without namespaces',
      org: ORG.replace(', namespaces: [web, web-*]', ''),
      want: "teams.web.resources.kubernetes: missing required key 'namespaces'",
    },
    {
      name: 'github without permissions',
      org: ORG.replace(', permissions: { contents: write, pull_requests: write }', ''),
      want: "teams.web.resources.github: missing required key 'permissions'",
    },
  ])('$name is a load error in org.yaml', ({ org, want }) => {
    expect(
      errors(web('aws', '{ role_arn: "arn:aws:iam::111122223333:role/web-x" }'), org).join('\n'),
    ).toContain(want);
  });
});

describe('a single-file policy', () => {
  it('is unaffected: it may grant any resource', () => {
    const p = loadPolicy(
      `version: 1
issuers: [{ url: https://token.actions.githubusercontent.com, audience: jitkey }]
roles:
  r:
    provider: aws
    aws: { role_arn: "arn:aws:iam::444455556666:role/anything" }
    allow: [{ repository: acme/web, repository_id: "1" }]
`,
      'p.yaml',
    );
    expect(p.roles.get('r')?.aws?.roleArn).toBe('arn:aws:iam::444455556666:role/anything');
  });
});
