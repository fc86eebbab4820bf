/**
 * Lease activity, GitHub (issue 26, item 2), end to end: a job gets a GitHub App installation
 * token and acts with it; the GitHub stand-in's organization audit log records those actions
 * under the token's `hashed_token`; `jitkey serve`'s collector reads them back through
 * `GET /orgs/{org}/audit-log` (paging by the Link header), and `jitkey audit lease ID` lists them.
 * Where the App lacks the permission or the organization has no audit-log API, the lease says so.
 */
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '../support/eventually.js';
import { type AuditLogStandin, addAuditLog } from '../support/github-audit-log.js';
import { type GithubStandin, githubAppEnv, startGithubStandin } from '../support/github-standin.js';
import { granted, leaseActivity } from '../support/lease-activity.js';
import { policyFor, type Stack, startStack } from '../support/stack.js';

let gh: GithubStandin;
let log: AuditLogStandin;
let stack: Stack;

const role = (name: string, repo: string) => `  ${name}:
    provider: github
    github: { repositories: [${repo}], permissions: { contents: write } }
    allow:
      - repository_id: "123456"
`;

beforeAll(async () => {
  gh = await startGithubStandin({
    installations: [
      // acme is on GitHub Enterprise Cloud, and the App may read its audit log.
      {
        owner: 'acme',
        permissions: { contents: 'write', organization_administration: 'read' },
        repositories: ['infra'],
      },
      // small has the permission but no audit-log API (not Enterprise Cloud): 404.
      {
        owner: 'small',
        permissions: { contents: 'write', organization_administration: 'read' },
        repositories: ['infra'],
      },
      // closed is on Enterprise Cloud, but the App was not given Administration: read.
      { owner: 'closed', permissions: { contents: 'write' }, repositories: ['infra'] },
    ],
  });
  log = addAuditLog(gh, { orgs: ['acme', 'closed'] });
  stack = await startStack({
    policy: (issuer) =>
      policyFor(
        issuer,
        role('bump', 'acme/infra') + role('small-bump', 'small/infra') + role('closed-bump', 'closed/infra'),
      ),
    exchanger: {
      env: {
        ...githubAppEnv(gh),
        JITKEY_LEASE_ACTIVITY: 'github',
        JITKEY_ACTIVITY_POLL_INTERVAL: '1s',
        JITKEY_ACTIVITY_HORIZON: '1h',
      },
    },
  });
});
afterAll(async () => {
  await stack?.stop();
  await gh?.stop();
});

describe('lease activity from the GitHub audit log', () => {
  it("lists what the lease's token did, found by its hashed_token, across pages", async () => {
    const g = await granted(stack, 'bump');
    const other = await granted(stack, 'bump');
    log.noise(300);
    // One millisecond apart, in the lease's window: the order they are listed in is theirs.
    const t0 = Date.now() - 500;
    const at = (ms: number) => new Date(t0 + ms);
    log.act(g.credentials.token, 'git.clone', { repo: 'acme/infra', userAgent: 'git/2.45.1', at: at(0) });
    for (let i = 1; i <= 110; i++)
      log.act(g.credentials.token, 'git.fetch', { repo: 'acme/infra', at: at(i) });
    log.act(g.credentials.token, 'git.push', { repo: 'acme/infra', operationType: 'modify', at: at(111) });
    log.act(other.credentials.token, 'repo.access', { repo: 'acme/infra' });

    const { text, json } = await eventually(async () => {
      const a = await leaseActivity(stack.exchanger.store, g.lease_id);
      return a.json.events.length >= 112 ? a : undefined;
    }, '112 events in the lease activity');
    const hashed = createHash('sha256').update(g.credentials.token).digest('base64');
    expect(json.credentials).toEqual([
      expect.objectContaining({
        provider: 'github',
        key_id: hashed,
        matched_by: 'token (hashed_token)',
        account: 'acme',
        status: 'collecting',
      }),
    ]);
    expect(json.events).toHaveLength(112);
    expect(json.events[0]).toMatchObject({
      name: 'git.clone',
      source: 'github',
      read_only: true,
      resources: [{ type: 'repository', name: 'acme/infra' }],
      details: {
        actor: 'jitkey[bot]',
        user_agent: 'git/2.45.1',
        operation_type: 'access',
        programmatic_access_type: 'GitHub App server-to-server token',
      },
    });
    expect(json.events.at(-1)).toMatchObject({ name: 'git.push', read_only: false });
    // The token itself, and the records' addresses, are never kept.
    expect(text).not.toContain(g.credentials.token);
    expect(text).not.toContain('192.0.2.10');
    // The other lease got its own event only.
    const second = await eventually(async () => {
      const a = await leaseActivity(stack.exchanger.store, other.lease_id);
      return a.json.events.length >= 1 ? a : undefined;
    }, "the other lease's event");
    expect(second.json.events.map((e: { name: string }) => e.name)).toEqual(['repo.access']);
    // Each query asked by the hash (never the token), and the second page came from the Link header.
    const ours = log.queries.filter((q) => q.phrase.includes(hashed));
    expect(ours.length).toBeGreaterThan(0);
    expect(ours.every((q) => q.status === 200 && q.org === 'acme')).toBe(true);
    expect(ours.some((q) => q.after)).toBe(true);
    expect(log.queries.some((q) => q.phrase.includes(g.credentials.token))).toBe(false);
  });

  it('says plainly when the organization has no audit-log API (404)', async () => {
    const g = await granted(stack, 'small-bump');
    const { json } = await eventually(async () => {
      const a = await leaseActivity(stack.exchanger.store, g.lease_id);
      return a.json.credentials[0]?.reason ? a : undefined;
    }, 'a reason');
    expect(json.credentials[0].reason).toBe(
      "activity unavailable: GitHub has no audit-log API for 'small' (404: Not Found): it exists for organizations on GitHub Enterprise Cloud only",
    );
    expect(json.events).toEqual([]);
  });

  it('says plainly when the App lacks Administration: read', async () => {
    const g = await granted(stack, 'closed-bump');
    const { json, text } = await eventually(async () => {
      const a = await leaseActivity(stack.exchanger.store, g.lease_id);
      return a.json.credentials[0]?.reason ? a : undefined;
    }, 'a reason');
    expect(json.credentials[0].reason).toContain(
      "activity unavailable: no token to read the audit log of 'closed': the GitHub App needs the organization permission Administration: read (organization_administration)",
    );
    expect(text).not.toContain(g.credentials.token);
  });
});
