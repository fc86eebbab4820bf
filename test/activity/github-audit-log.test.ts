/**
 * The GitHub audit-log lookup's pure parts: which `Link` it follows (the API's own origin and
 * path only: the App's token goes nowhere else), and what it keeps of an event (another token's
 * event, or one without a time or action, is not kept; the address never is); and, against the
 * GitHub stand-in in process, that a rate-limit answer delays the poll and a revoked token of
 * its own is replaced once.
 */
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rateBudget } from '../../exchanger/activity/budget.js';
import { ActivityThrottled, ActivityTruncated } from '../../exchanger/activity/cloudtrail.js';
import { eventOf, githubAuditLogLookup, nextPage } from '../../exchanger/activity/github-audit-log.js';
import { createGithubApp } from '../../exchanger/github/app.js';
import { silentLogger } from '../../exchanger/log.js';
import { type AuditLogStandin, addAuditLog } from '../support/github-audit-log.js';
import { type GithubStandin, startGithubStandin } from '../support/github-standin.js';

const API = new URL('https://ghe.acme.example/api/v3/');
const HASH = 'n4bQgYhMfWWaL+qgxVrQFaO/TxsrC4Is0V1sFbDwCgg=';

describe('nextPage', () => {
  it.each([
    {
      name: 'the next page on the API',
      link: '<https://ghe.acme.example/api/v3/orgs/acme/audit-log?after=MS4x&phrase=x>; rel="next", <https://ghe.acme.example/api/v3/orgs/acme/audit-log?before=MS4w>; rel="prev"',
      want: 'https://ghe.acme.example/api/v3/orgs/acme/audit-log?after=MS4x&phrase=x',
    },
    {
      name: 'no next',
      link: '<https://ghe.acme.example/api/v3/orgs/acme/audit-log?before=x>; rel="prev"',
      want: undefined,
    },
    { name: 'no header', link: null, want: undefined },
  ])('$name', ({ link, want }) => {
    expect(nextPage(link, API)?.toString()).toBe(want);
  });

  it.each([
    ['another host', '<https://evil.example/api/v3/orgs/acme/audit-log?after=x>; rel="next"'],
    ['http on the same host', '<http://ghe.acme.example/api/v3/orgs/acme/audit-log?after=x>; rel="next"'],
    ['outside the API path', '<https://ghe.acme.example/login?after=x>; rel="next"'],
  ])('refuses a next link to %s', (_, link) => {
    expect(() => nextPage(link, API)).toThrow("GitHub's Link header pointed off the API");
  });
});

describe('eventOf', () => {
  const raw = {
    '@timestamp': 1764583200123,
    _document_id: 'doc-1',
    action: 'git.push',
    actor: 'jitkey[bot]',
    actor_ip: '192.0.2.10',
    repo: 'acme/infra',
    user_agent: 'git/2.45.1\u001b[31m',
    operation_type: 'modify',
    hashed_token: HASH,
  };

  it('keeps the time, action, repository and details of its own token, not the address', () => {
    const e = eventOf(raw, HASH);
    expect(e).toEqual({
      eventId: 'doc-1',
      at: new Date(1764583200123),
      name: 'git.push',
      source: 'github',
      resources: [{ type: 'repository', name: 'acme/infra' }],
      readOnly: false,
      details: { actor: 'jitkey[bot]', user_agent: 'git/2.45.1 [31m', operation_type: 'modify' },
    });
    expect(JSON.stringify(e)).not.toContain('192.0.2.10');
  });

  it("drops another token's event, and one with no time or action", () => {
    expect(eventOf({ ...raw, hashed_token: 'other' }, HASH)).toBeUndefined();
    expect(eventOf({ ...raw, '@timestamp': undefined, created_at: undefined }, HASH)).toBeUndefined();
    expect(eventOf({ ...raw, action: '' }, HASH)).toBeUndefined();
  });
});

describe('the lookup against the stand-in', () => {
  let gh: GithubStandin;
  let log: AuditLogStandin;
  beforeAll(async () => {
    gh = await startGithubStandin({
      installations: [
        {
          owner: 'acme',
          permissions: { contents: 'write', organization_administration: 'read' },
          repositories: ['web'],
        },
      ],
    });
    log = addAuditLog(gh, { orgs: ['acme'] });
  });
  afterAll(() => gh?.stop());

  const lookupAndKey = async (maxPages?: number) => {
    const app = createGithubApp({ appId: gh.appId, privateKey: gh.privateKeyPem, apiUrl: gh.url });
    const job = await app.createInstallationToken('acme', { permissions: { contents: 'write' } });
    log.act(job.token, 'git.push', { repo: 'acme/web', at: new Date(Date.now() - 1000) });
    const hashed = createHash('sha256').update(job.token).digest('base64');
    const key = {
      leaseId: 'lease_1',
      provider: 'github',
      keyId: hashed,
      account: 'acme',
      region: 'x',
      windowStart: new Date(Date.now() - 60_000),
      windowEnd: new Date(Date.now() + 60_000),
      nextPollAt: new Date(),
      status: 'collecting' as const,
    };
    const lookup = githubAuditLogLookup({
      app,
      budget: rateBudget({ perSecond: 1000 }),
      log: silentLogger,
      ...(maxPages ? { maxPages } : {}),
    });
    return { lookup, key, job, range: { start: key.windowStart, end: new Date() } };
  };

  it('delays on a rate-limit answer (429), and finds the events next time', async () => {
    const { lookup, key, range } = await lookupAndKey();
    gh.failNext({ method: 'GET', path: /\/audit-log$/ }, 429, 1, 'API rate limit exceeded');
    await expect(lookup(key, range)).rejects.toBeInstanceOf(ActivityThrottled);
    expect((await lookup(key, range)).map((e) => e.name)).toEqual(['git.push']);
  });

  it('delays on a secondary rate limit said only by its message (403), not blaming the permission', async () => {
    const { lookup, key, range } = await lookupAndKey();
    gh.failNext(
      { method: 'GET', path: /\/audit-log$/ },
      403,
      1,
      'You have exceeded a secondary rate limit. Please wait a few minutes before you try again.',
    );
    await expect(lookup(key, range)).rejects.toBeInstanceOf(ActivityThrottled);
    gh.failNext({ method: 'GET', path: /\/audit-log$/ }, 403, 1, 'Resource not accessible by integration');
    await expect(lookup(key, range)).rejects.toThrow(
      /needs the organization permission Administration: read/,
    );
  });

  it('blames the permission for a refused token, not for a GitHub that did not answer', async () => {
    const { lookup, key, range } = await lookupAndKey();
    gh.failNext({ method: 'POST', path: /\/access_tokens$/ }, 503, 1, 'Service Unavailable');
    const down = await lookup(key, range).then(
      () => undefined,
      (err: unknown) => err as Error,
    );
    expect(down?.message).toMatch(/^no token to read the audit log of 'acme': .*HTTP 503/);
    expect(down?.message).not.toContain('Administration');
  });

  it('takes one fresh token of its own when GitHub says its cached one is dead (401)', async () => {
    const { lookup, key, range } = await lookupAndKey();
    await lookup(key, range);
    const minted = gh.issued.length;
    gh.failNext({ method: 'GET', path: /\/audit-log$/ }, 401, 1, 'Bad credentials');
    expect((await lookup(key, range)).map((e) => e.name)).toEqual(['git.push']);
    expect(gh.issued.length).toBe(minted + 1);
  });

  it('hands over the pages it read when there are more than it reads in one poll', async () => {
    const { lookup, key, job, range } = await lookupAndKey(2);
    for (let i = 0; i < 250; i++) log.act(job.token, 'git.fetch', { at: new Date(Date.now() - 2000 + i) });
    const cut = await lookup(key, range).then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(cut).toBeInstanceOf(ActivityTruncated);
    expect((cut as ActivityTruncated).message).toBe('more than 2 pages of audit log');
    const kept = (cut as ActivityTruncated).events;
    expect(kept).toHaveLength(200);
    expect(new Set(kept.map((e) => e.name))).toEqual(new Set(['git.fetch']));
    expect(kept[0]!.at.getTime()).toBeLessThan(kept[199]!.at.getTime()); // the oldest first
  });
});
