/**
 * The GitHub audit-log lookup's pure parts: which `Link` it follows (the API's own origin and
 * path only: the App's token goes nowhere else), and what it keeps of an event (another token's
 * event, or one without a time or action, is not kept; the address never is).
 */
import { describe, expect, it } from 'vitest';
import { eventOf, nextPage } from '../../exchanger/activity/github-audit-log.js';

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
