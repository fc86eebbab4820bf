/**
 * Roles bound to issuers: with two trusted issuers every role says which it trusts (on the role,
 * or for a team's roles in org.yaml), a token of the other issuer is refused even with the same
 * claims, and with one issuer roles are bound to it implicitly.
 */
import { describe, expect, it } from 'vitest';
import { evaluate } from '../../exchanger/policy/evaluate/evaluate.js';
import { explain } from '../../exchanger/policy/evaluate/explain.js';
import { issuerRefusal } from '../../exchanger/policy/evaluate/issuer-refusal.js';
import { compileDirectory, validateDirectory } from '../../exchanger/policy/load/directory.js';
import { loadPolicy } from '../../exchanger/policy/load/load-policy.js';
import { formatIssue } from '../../exchanger/policy/model/errors.js';
import { loadErrors } from '../support/policy-issues.js';

const A = 'https://token.actions.githubusercontent.com';
const B = 'https://ghes.acme.example/_services/token';
const TWO = `version: 1
issuers:
  - { url: ${A}, audience: jitkey }
  - { url: ${B}, audience: jitkey }
`;
const role = (issuers = '') => `roles:
  deploy:
    provider: aws
    aws: { role_arn: "arn:aws:iam::111122223333:role/deploy" }
${issuers}    allow:
      - { repository: acme/web, repository_id: "2", ref: refs/heads/main }
`;
const claims = { repository: 'acme/web', repository_id: '2', ref: 'refs/heads/main' };

describe('a single-file policy with two issuers', () => {
  it('refuses a role that does not say which issuer it trusts', () => {
    expect(loadErrors(TWO + role())).toEqual([
      'p.yaml:6:3: roles.deploy: the policy trusts 2 issuers; say which this role trusts with issuers: [url], or a token from any of them could get it',
    ]);
  });

  it('refuses an issuer the policy does not trust', () => {
    expect(loadErrors(TWO + role('    issuers: [https://evil.example]\n'))).toEqual([
      `p.yaml:9:15: roles.deploy.issuers: 'https://evil.example' is not one of the policy's issuers (${A}, ${B}); name a url listed under issuers`,
    ]);
  });

  it('grants a role bound to A only to a token of A: the same claims from B are refused', () => {
    const p = loadPolicy(TWO + role(`    issuers: [${A}]\n`), 'p.yaml');
    const deploy = p.roles.get('deploy')!;
    expect(deploy.issuers).toEqual([A]);
    expect(evaluate(deploy, { ...claims, iss: A }).granted).toBe(true);
    const fromB = evaluate(deploy, { ...claims, iss: B });
    expect(fromB).toMatchObject({ granted: false, code: 'issuer' });
    expect(fromB.reason).toBe(
      `role 'deploy' denied: it is not bound to this token's issuer (iss was '${B}'); use a role bound to that issuer`,
    );
    expect(evaluate(deploy, claims)).toMatchObject({ granted: false, code: 'issuer' });
    expect(explain(p, 'deploy', { ...claims, iss: B })).toContain(
      "issuers: failed (the token's iss is not one the role is bound to)",
    );
  });

  it('the exchange check uses the verified issuer, whatever the claims say', () => {
    const p = loadPolicy(TWO + role(`    issuers: [${A}]\n`), 'p.yaml');
    const trusted = p.issuers.map((i) => i.url);
    expect(issuerRefusal(p.roles.get('deploy')!, A, trusted)).toBeUndefined();
    expect(issuerRefusal(p.roles.get('deploy')!, B, trusted)).toContain('not bound to this token');
  });
});

describe('a single-file policy with one issuer', () => {
  const ONE = `version: 1\nissuers:\n  - { url: ${A}, audience: jitkey }\n`;
  it('binds every role to it implicitly: no issuers key needed', () => {
    const p = loadPolicy(ONE + role(), 'p.yaml');
    const deploy = p.roles.get('deploy')!;
    expect(deploy.issuers).toBeUndefined();
    expect(evaluate(deploy, claims).granted).toBe(true);
    expect(issuerRefusal(deploy, A, [A])).toBeUndefined();
    expect(issuerRefusal(deploy, B, [A])).toContain("iss was 'https://ghes.acme.example/_services/token'");
  });
});

const ORG = `${TWO}teams:
  web:
    issuers: [${A}]
    resources: { aws: { accounts: ["111122223333"] } }
`;
const WEB = `version: 1
owners: [acme/web]
${role()}`;

function dir(org: string, web: string) {
  return validateDirectory('org', [
    { name: 'org.yaml', file: 'org/org.yaml', text: org },
    { name: 'web.yaml', file: 'org/web.yaml', text: web },
  ]);
}

describe('a policy directory with two issuers', () => {
  it('teams.<name>.issuers binds the team’s roles', () => {
    const { org, teams, issues } = dir(ORG, WEB);
    expect(issues).toEqual([]);
    const deploy = compileDirectory('org', org!, teams).roles.get('deploy')!;
    expect(deploy.issuers).toEqual([A]);
    expect(evaluate(deploy, { ...claims, iss: B }).code).toBe('issuer');
  });

  it.each([
    {
      name: 'an unbound team role',
      org: TWO,
      web: WEB,
      want: "org/web.yaml:4:3: roles.deploy: the policy trusts 2 issuers; say which this role trusts with issuers: [url] (or teams.web.issuers in org.yaml for all of team 'web'), or a token from any of them could get it",
    },
    {
      name: 'a role naming an issuer outside its team’s',
      org: ORG,
      web: `version: 1\nowners: [acme/web]\n${role(`    issuers: [${B}]\n`)}`,
      want: `org/web.yaml:7:15: roles.deploy.issuers: '${B}' is not among teams.web.issuers in org.yaml (${A}); only those issuers' tokens may get this team's roles`,
    },
    {
      name: 'a team bound to an issuer org.yaml does not trust',
      org: ORG.replace(`issuers: [${A}]`, 'issuers: [https://evil.example]'),
      web: WEB,
      want: `org/org.yaml:7:15: teams.web.issuers: 'https://evil.example' is not one of the issuers above (${A}, ${B}); name a url listed under issuers`,
    },
  ])('$name is a load error', ({ org, web, want }) => {
    expect(dir(org, web).issues.map((i) => formatIssue(i))).toContain(want);
  });
});
