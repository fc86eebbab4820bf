/**
 * A policy directory (org.yaml + team files): load errors at file:line:col, ownership escapes,
 * ceilings, unique role names across files, and guardrails deciding before a team's rules.
 */
import { mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { evaluate } from '../../exchanger/policy/evaluate/evaluate.js';
import {
  compileDirectory,
  type PolicyFileText,
  readPolicyDir,
  validateDirectory,
} from '../../exchanger/policy/load/directory.js';
import { loadPolicyFile } from '../../exchanger/policy/load/load-policy.js';
import { formatIssue, PolicyError } from '../../exchanger/policy/model/errors.js';
import type { Policy } from '../../exchanger/policy/model/types.js';

const ORG = `version: 1
issuers:
  - { url: https://token.actions.githubusercontent.com, audience: jitkey }
defaults: { duration: 15m, max_duration: 1h }
ceilings: { max_duration: 2h, providers: [aws, github] }
teams:
  web: { providers: [github], max_duration: 30m, resources: { github: { repositories: [acme/web], permissions: { issues: write } } } }
  payments: { resources: { aws: { role_arns: ["arn:aws:iam::111122223333:role/pay*"] }, github: { repositories: ["acme/payments-*"], permissions: { contents: read } } } }
guardrails:
  - name: no-untrusted-events-on-write
    applies_to: { write: true }
    deny:
      - event_name: [pull_request_target, workflow_run]
  - name: prod-hosted-only
    applies_to: { roles: ["prod-*"], providers: [aws] }
    deny:
      - runner_environment: self-hosted
`;

const PAYMENTS = `version: 1
owners: [acme/payments-*]
roles:
  prod-pay:
    provider: aws
    aws: { role_arn: "arn:aws:iam::111122223333:role/pay" }
    allow:
      - { repository: acme/payments-api, repository_id: "1", ref: refs/heads/main }
    deny:
      - ref: refs/heads/main
        event_name: workflow_run
  pay-read:
    provider: github
    github: { repositories: [acme/payments-api], permissions: { contents: read } }
    allow:
      - { repository: "acme/payments-*", repository_owner_id: "9" }
`;

const WEB = `version: 1
owners: [acme/web]
roles:
  web-bot:
    provider: github
    github: { repositories: [acme/web], permissions: { issues: write } }
    allow:
      - { repository: acme/web, repository_id: "2", ref: refs/heads/main }
`;

function files(over: Record<string, string | undefined> = {}): PolicyFileText[] {
  const all: Record<string, string | undefined> = {
    'org.yaml': ORG,
    'payments.yaml': PAYMENTS,
    'web.yaml': WEB,
    ...over,
  };
  return Object.entries(all)
    .filter((e): e is [string, string] => e[1] !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : 1))
    .map(([name, text]) => ({ name, file: `org/${name}`, text }));
}

function errors(over: Record<string, string | undefined>): string[] {
  return validateDirectory('org', files(over)).issues.map((i) => formatIssue(i));
}

function load(over: Record<string, string | undefined> = {}): Policy {
  const { org, teams, issues } = validateDirectory('org', files(over));
  expect(issues).toEqual([]);
  return compileDirectory('org', org!, teams);
}

describe('a policy directory', () => {
  it('loads org.yaml and the team files as one policy; each role knows its file', () => {
    const p = load();
    expect([...p.roles.keys()]).toEqual(['prod-pay', 'pay-read', 'web-bot']);
    expect(p.roles.get('web-bot')?.source).toBe('org/web.yaml');
    expect(p.issuers[0]?.audience).toBe('jitkey');
    // web's own ceiling (30m) lowers the org default (1h).
    expect(p.roles.get('web-bot')?.maxDurationSeconds).toBe(1800);
    expect(p.roles.get('prod-pay')?.maxDurationSeconds).toBe(3600);
  });

  it('selects guardrails by write access, name glob and provider', () => {
    const p = load();
    const names = (role: string) => p.roles.get(role)?.guardrails?.map((g) => g.name);
    expect(names('prod-pay')).toEqual(['no-untrusted-events-on-write', 'prod-hosted-only']);
    expect(names('pay-read')).toBeUndefined(); // read-only github role, not prod-*
    expect(names('web-bot')).toEqual(['no-untrusted-events-on-write']);
  });

  it('follows symbolic links, as a Kubernetes ConfigMap volume presents its files', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'jitkey-cm-'));
    mkdirSync(join(dir, '..2026_12_04'));
    for (const f of files()) {
      writeFileSync(join(dir, '..2026_12_04', f.name), f.text);
      symlinkSync(join('..data', f.name), join(dir, f.name));
    }
    symlinkSync('..2026_12_04', join(dir, '..data'));
    const p = await loadPolicyFile(dir);
    expect([...p.roles.keys()]).toEqual(['prod-pay', 'pay-read', 'web-bot']);
  });

  it('a single-file policy still loads through the same entry point', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'jitkey-dir-'));
    writeFileSync(
      join(dir, 'one.yaml'),
      ORG.replace(/ceilings[\s\S]*$/, '') + PAYMENTS.replace(/^version: 1\nowners.*\n/, ''),
    );
    const p = await loadPolicyFile(join(dir, 'one.yaml'));
    expect(p.roles.get('prod-pay')?.guardrails).toBeUndefined();
  });
});

describe('guardrails decide before the team rules', () => {
  const p = load();
  const base = {
    repository: 'acme/payments-api',
    repository_id: '1',
    repository_owner_id: '9',
    ref: 'refs/heads/main',
    event_name: 'push',
    runner_environment: 'github-hosted',
  };
  it.each([
    {
      name: 'allowed when no guardrail holds',
      role: 'prod-pay',
      claims: {},
      code: 'granted',
      reason: "role 'prod-pay' granted: allow[0] held",
    },
    {
      name: 'a guardrail denies although the allow rule holds',
      role: 'prod-pay',
      claims: { event_name: 'pull_request_target' },
      code: 'guardrail',
      guardrail: 'no-untrusted-events-on-write',
      reason:
        "role 'prod-pay' denied by org guardrail 'no-untrusted-events-on-write': event_name was 'pull_request_target'",
    },
    {
      name: 'the guardrail wins over the role’s own deny rule that also holds',
      role: 'prod-pay',
      claims: { event_name: 'workflow_run' },
      code: 'guardrail',
      guardrail: 'no-untrusted-events-on-write',
      reason:
        "role 'prod-pay' denied by org guardrail 'no-untrusted-events-on-write': event_name was 'workflow_run'",
    },
    {
      name: 'the first guardrail that holds is named',
      role: 'prod-pay',
      claims: { runner_environment: 'self-hosted' },
      code: 'guardrail',
      guardrail: 'prod-hosted-only',
      reason:
        "role 'prod-pay' denied by org guardrail 'prod-hosted-only': runner_environment was 'self-hosted'",
    },
    {
      name: 'a role no guardrail selects is decided by its own rules',
      role: 'pay-read',
      claims: { event_name: 'pull_request_target' },
      code: 'granted',
      reason: "role 'pay-read' granted: allow[0] held",
    },
  ])('$name', ({ role, claims, code, guardrail, reason }) => {
    const d = evaluate(p.roles.get(role)!, { ...base, ...claims });
    expect(d.code).toBe(code);
    expect(d.granted).toBe(code === 'granted');
    expect(d.guardrail).toBe(guardrail);
    expect(d.reason).toBe(reason);
  });

  it('a denial names the guardrail but none of its patterns', () => {
    const d = evaluate(p.roles.get('prod-pay')!, { ...base, runner_environment: 'self-hosted' });
    expect(d.reason).toContain("'prod-hosted-only'");
    expect(d.reason).not.toMatch(/prod-\*|applies_to|aws/);
  });
});

describe('load errors name file:line:col', () => {
  it.each([
    {
      name: 'a role reaching a repository outside its owners',
      over: { 'web.yaml': WEB.replace('{ repository: acme/web,', '{ repository: acme/payments-api,') },
      want: "org/web.yaml:8:23: roles.web-bot.allow[0].repository: 'acme/payments-api' reaches outside team 'web' owners (acme/web)",
    },
    {
      name: 'a glob wider than the owners',
      over: { 'payments.yaml': PAYMENTS.replace('"acme/payments-*"', '"acme/*"') },
      want: "org/payments.yaml:16:23: roles.pay-read.allow[0].repository: 'acme/*' reaches outside team 'payments' owners (acme/payments-*)",
    },
    {
      name: 'a whole owner granted by repository_owner',
      over: {
        'payments.yaml': PAYMENTS.replace(
          '{ repository: "acme/payments-*", repository_owner_id: "9" }',
          '{ repository_owner: acme }',
        ),
      },
      want: "org/payments.yaml:16:29: roles.pay-read.allow[0].repository_owner: 'acme' reaches outside team 'payments' owners (acme/payments-*)",
    },
    {
      name: 'a rule pinned by ids only',
      over: {
        'payments.yaml': PAYMENTS.replace(
          '{ repository: "acme/payments-*", repository_owner_id: "9" }',
          '{ repository_id: "1" }',
        ),
      },
      want: 'org/payments.yaml:16:9: roles.pay-read.allow[0] pins no repository or repository_owner: ownership cannot be checked on ids; add one',
    },
    {
      name: 'a github role writing to another team’s repository',
      over: { 'web.yaml': WEB.replace('repositories: [acme/web]', 'repositories: [acme/payments-api]') },
      want: "org/web.yaml:4:3: roles.web-bot.github.repositories: 'acme/payments-api' is outside team 'web' owners (acme/web)",
    },
    {
      name: 'a role name used in two files',
      over: { 'web.yaml': WEB.replace('web-bot:', 'pay-read:') },
      want: "org/web.yaml:4:3: role 'pay-read' is also defined at org/payments.yaml:12:3: role names must be unique across the policy directory",
    },
    {
      name: 'a provider the team may not use',
      over: {
        'web.yaml': `${WEB}  web-aws:\n    provider: aws\n    aws: { role_arn: "arn:aws:iam::111122223333:role/w" }\n    allow: [{ repository: acme/web, ref: refs/heads/main }]\n`,
      },
      want: "org/web.yaml:10:15: roles.web-aws.provider: team 'web' may not use 'aws' (org/org.yaml teams.web.providers allows github)",
    },
    {
      name: 'a provider outside the org ceiling',
      over: {
        'payments.yaml': PAYMENTS.replace(
          'provider: aws\n    aws: { role_arn: "arn:aws:iam::111122223333:role/pay" }',
          'provider: gcp\n    gcp: { service_account: "a@b.iam.gserviceaccount.com" }',
        ),
      },
      want: "org/payments.yaml:5:15: roles.prod-pay.provider: team 'payments' may not use 'gcp' (org/org.yaml ceilings.providers allows aws, github)",
    },
    {
      name: 'a max_duration above the ceiling',
      over: {
        'payments.yaml': PAYMENTS.replace('    provider: aws\n', '    provider: aws\n    max_duration: 3h\n'),
      },
      want: "org/payments.yaml:6:19: roles.prod-pay.max_duration: 3h is above the ceiling of 2h set in org/org.yaml for team 'payments'",
    },
    {
      name: 'a team limit above the org ceiling',
      over: { 'org.yaml': ORG.replace('max_duration: 30m', 'max_duration: 4h') },
      want: 'org/org.yaml:7:45: teams.web.max_duration (4h) is above ceilings.max_duration (2h)',
    },
    {
      name: 'org keys in a team file',
      over: { 'web.yaml': WEB.replace('owners:', 'guardrails: []\nowners:') },
      want: "org/web.yaml:2:1: unknown key 'guardrails' in the team file; issuers, defaults, admins, ceilings and guardrails belong in org.yaml (the platform team decides them)",
    },
    {
      name: 'roles in org.yaml',
      over: { 'org.yaml': `${ORG}roles: {}\n` },
      want: "org/org.yaml:18:1: unknown key 'roles' in org.yaml; roles belong in team files, not in org.yaml",
    },
    {
      name: 'a wildcard owner',
      over: { 'web.yaml': WEB.replace('owners: [acme/web]', 'owners: ["*/web"]') },
      want: "org/web.yaml:2:10: owners: '*/web' has a wildcard owner: name the GitHub owner",
    },
    {
      name: 'a guardrail selecting a team with no file',
      over: { 'org.yaml': ORG.replace('applies_to: { write: true }', 'applies_to: { teams: [paymnts] }') },
      want: "org/org.yaml:10:5: guardrails.no-untrusted-events-on-write.applies_to.teams: no team file 'paymnts.yaml' in the directory",
    },
    {
      name: 'limits for a team with no file (a misspelt team would run unlimited)',
      over: { 'org.yaml': ORG.replace('  web: {', '  wbe: {') },
      want: "org/org.yaml:7:3: teams.wbe: no team file 'wbe.yaml' in the directory",
    },
    {
      name: 'a typo in a guardrail selector',
      over: { 'org.yaml': ORG.replace('applies_to: { write: true }', 'applies_to: { rols: ["x"] }') },
      want: "org/org.yaml:11:19: unknown key 'rols' in guardrails.no-untrusted-events-on-write.applies_to; did you mean 'roles'?",
    },
    {
      name: 'no org.yaml',
      over: { 'org.yaml': undefined },
      want: 'org:1:1: no org.yaml in the policy directory: it holds the issuers, defaults and guardrails',
    },
  ])('$name', ({ over, want }) => {
    expect(errors(over)).toContain(want);
  });

  it.each([
    { pattern: 'acme/payments-api-*', inside: true },
    { pattern: 'ACME/Payments-API', inside: true }, // repository names compare case-insensitively
    { pattern: 'acme/payments-**', inside: true }, // a repository has one '/': ** reaches as far as *
    { pattern: 'acme/payments**', inside: false }, // would admit acme/paymentsX
    { pattern: 'acme**', inside: false }, // would admit acmeevil/payments-x
    { pattern: '**', inside: false },
  ])('ownership: $pattern inside acme/payments-* is $inside', ({ pattern, inside }) => {
    const got = errors({ 'payments.yaml': PAYMENTS.replace('"acme/payments-*"', `"${pattern}"`) });
    expect(got.some((e) => e.includes('reaches outside'))).toBe(!inside);
  });

  it('one bad file refuses the whole directory, with every file’s problems', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'jitkey-dir-'));
    for (const f of files({ 'web.yaml': 'version: 1\nowners: [acme/web]\nroles: [\n' }))
      writeFileSync(join(dir, f.name), f.text);
    writeFileSync(join(dir, 'web.test.yaml'), 'not: a team file\n'); // fixtures are not team files
    const e = (await loadPolicyFile(dir).catch((x: unknown) => x)) as PolicyError;
    expect(e).toBeInstanceOf(PolicyError);
    expect(e.issues.map((i) => i.file)).toEqual([join(dir, 'web.yaml')]);
    expect(e.issues[0]?.line).toBe(4);
    expect((await readPolicyDir(dir)).map((f) => f.name)).toEqual(['org.yaml', 'payments.yaml', 'web.yaml']);
  });
});
