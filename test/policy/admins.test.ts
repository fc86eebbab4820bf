/**
 * `admins:` (who may use the console): GitHub logins and org/team slugs, in a single-file policy
 * or org.yaml, never in a team file; exposed lower-cased on the compiled policy.
 */
import { describe, expect, it } from 'vitest';
import { compileDirectory, validateDirectory } from '../../exchanger/policy/load/directory.js';
import { loadPolicy } from '../../exchanger/policy/load/load-policy.js';
import { formatIssue } from '../../exchanger/policy/model/errors.js';
import { loadErrors } from '../support/policy-issues.js';

const HEAD = `version: 1
issuers:
  - { url: https://token.actions.githubusercontent.com, audience: jitkey }
`;
const ROLES = `roles:
  web-read:
    provider: github
    github: { repositories: [acme/web], permissions: { contents: read } }
    allow:
      - { repository: acme/web, repository_id: "2" }
`;

describe('admins in a single-file policy', () => {
  it('keeps logins and org/team slugs apart, lower-cased and without repeats', () => {
    const p = loadPolicy(`${HEAD}admins: [Octocat, acme/Platform-Leads, octocat, hubot]\n${ROLES}`, 'p.yaml');
    expect(p.admins).toEqual({ logins: ['octocat', 'hubot'], teams: ['acme/platform-leads'] });
  });

  it('keeps a pinned login:id as one person, lower-cased', () => {
    const p = loadPolicy(`${HEAD}admins: [Octocat:583231, acme/leads]\n${ROLES}`, 'p.yaml');
    expect(p.admins).toEqual({ logins: ['octocat:583231'], teams: ['acme/leads'] });
  });

  it('is empty when the policy names none', () => {
    expect(loadPolicy(HEAD + ROLES, 'p.yaml').admins).toEqual({ logins: [], teams: [] });
  });

  it.each([
    {
      name: 'an email is neither a login nor a team',
      admins: '[octo@example.com]',
      want: "p.yaml:4:10: admins: 'octo@example.com' is neither a GitHub login (octocat) nor an org/team slug (acme/platform)",
    },
    {
      name: 'a pin that is no user id says how to find the id',
      admins: '[octocat:cat]',
      want: "p.yaml:4:10: admins: 'octocat:cat' pins no user id: write octocat:ID with the account's numeric GitHub user id (its owner's 'gh api user --jq .id')",
    },
    {
      name: 'a bare login beside its own pin would let whoever holds the login in',
      admins: '[octocat:583231, octocat]',
      want: "p.yaml:4:26: admins: 'octocat' lets whoever holds the login through, which undoes 'octocat:583231': keep only 'octocat:583231'",
    },
    {
      name: 'one user id under two logins is one account',
      admins: '[a:7, b:7]',
      want: "p.yaml:4:15: admins: 'b:7' and 'a:7' are one account (user id 7): keep one",
    },
    {
      name: 'a nested team path',
      admins: '[acme/a/b]',
      want: "p.yaml:4:10: admins: 'acme/a/b' is neither a GitHub login (octocat) nor an org/team slug (acme/platform)",
    },
    { name: 'an empty list', admins: '[]', want: 'p.yaml:4:9: admins must not be empty' },
    {
      name: 'a map instead of a list',
      admins: '{ octocat: true }',
      want: 'p.yaml:4:9: admins must be a list of strings, not a map',
    },
  ])('$name is a load error at line:col', ({ admins, want }) => {
    expect(loadErrors(`${HEAD}admins: ${admins}\n${ROLES}`)).toContain(want);
  });
});

const ORG = `${HEAD}admins: [acme/platform, Hubot]
teams:
  web:
    resources:
      github: { repositories: [acme/web], permissions: { contents: read } }
`;
const WEB = `version: 1
owners: [acme/web]
${ROLES}`;

describe('admins in a policy directory', () => {
  const dir = (web: string) =>
    validateDirectory('org', [
      { name: 'org.yaml', file: 'org/org.yaml', text: ORG },
      { name: 'web.yaml', file: 'org/web.yaml', text: web },
    ]);

  it('org.yaml names them', () => {
    const { org, teams, issues } = dir(WEB);
    expect(issues).toEqual([]);
    expect(compileDirectory('org', org!, teams).admins).toEqual({
      logins: ['hubot'],
      teams: ['acme/platform'],
    });
  });

  it('a team file may not: the error says where they belong', () => {
    const issues = dir(WEB.replace('owners:', 'admins: [mallory]\nowners:')).issues.map((i) =>
      formatIssue(i),
    );
    expect(issues).toEqual([
      "org/web.yaml:2:1: unknown key 'admins' in the team file; issuers, defaults, admins, ceilings and guardrails belong in org.yaml (the platform team decides them)",
    ]);
  });
});
