/**
 * The console's pure pieces: escaping, where `?next=` may lead, the origin check of form posts,
 * GitHub links, and sessions' idle and absolute expiry (on a real SQLite store, a moved clock).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { describe, expect, it } from 'vitest';
import { safeNext } from '../../exchanger/console/auth.js';
import { consoleConfigFromEnv, githubWebUrl } from '../../exchanger/console/config.js';
import { checkSameOrigin } from '../../exchanger/console/form.js';
import { escapeHtml, html } from '../../exchanger/console/html.js';
import { runUrl, workflowUrl } from '../../exchanger/console/links.js';
import { approverPages, QUEUE_SHOWN } from '../../exchanger/console/pages.js';
import { ABSOLUTE_MS, createSessions, IDLE_MS, SESSION_COOKIE } from '../../exchanger/console/session.js';
import { JitkeyError } from '../../exchanger/errors.js';
import { silentLogger } from '../../exchanger/log.js';
import { openStore } from '../../exchanger/store/open.js';
import { ONE_GITHUB_ROLE } from '../support/app-policy.js';

describe('escaping', () => {
  it('turns markup, quotes and invisible controls into text', () => {
    expect(html`<p title="${'"x" \'y\''}">${'<img src=x onerror=alert(1)>'}</p>`.text).toBe(
      '<p title="&quot;x&quot; &#39;y&#39;">&lt;img src=x onerror=alert(1)&gt;</p>',
    );
    expect(escapeHtml('main\u202enoisserpmi')).toBe(
      'main<span class="ctl" title="invisible character">\\u202e</span>noisserpmi',
    );
    const shown = escapeHtml('a\u200bb\u0000');
    expect(shown.includes('\u200b') || shown.includes('\u0000')).toBe(false);
    expect(shown).toContain('\\u200b');
  });
});

describe('?next=', () => {
  it.each([
    ['/console/requests/req_1', '/console/requests/req_1'],
    ['/console/?x=1', '/console/?x=1'],
    ['//evil.example/console/', '/console/'],
    ['https://evil.example/console/', '/console/'],
    ['/console/\\evil', '/console/'],
    ['/console/../v1/requests', '/console/'],
    ['/console/auth/login', '/console/'],
    ['/elsewhere', '/console/'],
    [null, '/console/'],
  ])('%s leads to %s', (next, to) => {
    expect(safeNext(next)).toBe(to);
  });
});

describe('form posts', () => {
  const req = (headers: Record<string, string>) => ({ headers }) as unknown as IncomingMessage;
  const origin = 'https://jitkey.example';
  it.each([
    [{ origin, 'sec-fetch-site': 'same-origin' }, true],
    [{ origin }, true],
    [{ origin: 'null', 'sec-fetch-site': 'same-origin' }, true],
    [{ origin: 'null' }, false],
    [{}, false],
    [{ origin: 'https://evil.example' }, false],
    [{ origin, 'sec-fetch-site': 'same-site' }, false],
    [{ 'sec-fetch-site': 'cross-site' }, false],
  ])('%j is accepted: %s', (headers, ok) => {
    const check = () => checkSameOrigin(req(headers), origin);
    if (ok) expect(check).not.toThrow();
    else expect(check).toThrow(/did not come from a page of this console/);
  });
});

describe('configuration', () => {
  const base = { disabled: false, apiUrl: 'https://api.github.com', hasApp: true };
  const env = {
    JITKEY_GITHUB_APP_CLIENT_ID: 'Iv1.x',
    JITKEY_GITHUB_APP_CLIENT_SECRET: 's',
    JITKEY_PUBLIC_URL: 'https://jitkey.example/',
  };
  it('derives the callback from JITKEY_PUBLIC_URL alone', () => {
    expect(consoleConfigFromEnv(env, base)).toMatchObject({
      origin: 'https://jitkey.example',
      redirectUri: 'https://jitkey.example/console/auth/callback',
      githubWebUrl: 'https://github.com',
    });
  });
  it('is off without the OAuth client or with --no-console, and refuses half a configuration', () => {
    expect(consoleConfigFromEnv({}, base)).toBeUndefined();
    expect(consoleConfigFromEnv(env, { ...base, disabled: true })).toBeUndefined();
    expect(() => consoleConfigFromEnv({ ...env, JITKEY_GITHUB_APP_CLIENT_SECRET: '' }, base)).toThrow(
      /both JITKEY_GITHUB_APP_CLIENT_ID and JITKEY_GITHUB_APP_CLIENT_SECRET/,
    );
    expect(() => consoleConfigFromEnv({ ...env, JITKEY_PUBLIC_URL: '' }, base)).toThrow(/JITKEY_PUBLIC_URL/);
    expect(() =>
      consoleConfigFromEnv({ ...env, JITKEY_PUBLIC_URL: 'http://jitkey.example' }, base),
    ).toThrow();
    expect(() =>
      consoleConfigFromEnv({ ...env, JITKEY_PUBLIC_URL: 'https://x.example/jitkey' }, base),
    ).toThrow(/must be an origin/);
    expect(() => consoleConfigFromEnv(env, { ...base, hasApp: false })).toThrow(/JITKEY_GITHUB_APP_ID/);
  });
  it('finds GitHub’s web URL from its API URL', () => {
    expect(githubWebUrl('https://ghe.example/api/v3')).toBe('https://ghe.example');
    expect(githubWebUrl('http://127.0.0.1:9000')).toBe('http://127.0.0.1:9000');
  });
});

describe('links', () => {
  const web = 'https://github.com';
  const sha = 'a'.repeat(40);
  it('point at the run attempt and the workflow at its exact commit, or nowhere', () => {
    const claims = {
      repository: 'acme/web',
      run_id: '42',
      run_attempt: '2',
      job_workflow_ref: 'acme/shared/.github/workflows/deploy db.yml@refs/heads/main',
      job_workflow_sha: sha,
    };
    expect(runUrl(web, claims)).toBe('https://github.com/acme/web/actions/runs/42/attempts/2');
    expect(workflowUrl(web, claims)).toBe(
      `https://github.com/acme/shared/blob/${sha}/.github/workflows/deploy%20db.yml`,
    );
    expect(runUrl(web, { ...claims, repository: 'acme/web"><x' })).toBeUndefined();
    expect(workflowUrl(web, { ...claims, job_workflow_sha: 'main' })).toBeUndefined();
    expect(workflowUrl(web, { ...claims, job_workflow_ref: 'acme/web/../../x@main' })).toBeUndefined();
  });
});

describe('sessions', () => {
  it('end after an hour unused, after twelve hours however used, and at sign-out', async () => {
    const store = await openStore('sqlite::memory:', { purgeIntervalMs: 0 });
    let now = new Date('2026-01-01T00:00:00Z');
    const sessions = createSessions(store, () => now);
    const cookieOf = (setCookie: string) => {
      expect(setCookie).toMatch(/^__Host-jitkey_session=[\w-]{43}; Path=\/; Secure; HttpOnly; SameSite=Lax;/);
      return { headers: { cookie: setCookie.split(';')[0]! } } as unknown as IncomingMessage;
    };
    const advance = (ms: number) => (now = new Date(now.getTime() + ms));

    const a = cookieOf(await sessions.start({ login: 'alice', id: '1001' }));
    advance(IDLE_MS - 1000);
    expect((await sessions.read(a))?.login).toBe('alice'); // used: an hour more from here
    advance(IDLE_MS - 1000);
    expect((await sessions.read(a))?.id).toBe('1001');
    advance(IDLE_MS + 1);
    expect(await sessions.read(a)).toBeUndefined();

    const b = cookieOf(await sessions.start({ login: 'bob', id: '1002' }));
    for (let used = IDLE_MS / 2; used < ABSOLUTE_MS; used += IDLE_MS / 2) {
      advance(IDLE_MS / 2); // used every half hour: never idle
      expect((await sessions.read(b))?.login).toBe('bob');
    }
    advance(IDLE_MS / 2 + 1);
    expect(await sessions.read(b)).toBeUndefined();

    const c = cookieOf(await sessions.start({ login: 'carol', id: '1003' }));
    const who = await sessions.read(c);
    expect(await sessions.end(who)).toBe(
      `${SESSION_COOKIE}=; Path=/; Secure; HttpOnly; SameSite=Lax; Max-Age=0`,
    );
    expect(await sessions.read(c)).toBeUndefined();
    await store.close();
  });
});

/** What approverPages needs besides the approvals, the same in every test here. */
const PAGE_DEPS = {
  policy: () => ONE_GITHUB_ROLE,
  config: {
    clientId: 'c',
    clientSecret: 's',
    origin: 'https://j.example',
    redirectUri: 'x',
    githubWebUrl: 'https://github.com',
  },
  log: silentLogger,
  now: () => new Date(0),
};

describe('my queue', () => {
  it(`shows the newest ${QUEUE_SHOWN} of a longer queue, and says how many wait`, async () => {
    const queued = Array.from({ length: QUEUE_SHOWN + 50 }, (_, n) => ({
      view: {
        request_id: `req_${n}`,
        status: 'pending' as const,
        role: 'db-admin',
        repository: 'acme/web',
        approvers: ['alice'],
        required: 1,
        created_at: new Date(n * 1000).toISOString(),
        expires_at: new Date(n * 1000 + 60_000).toISOString(),
        approvals: [],
      },
      claims: { repository: 'acme/web' },
    }));
    const pages = approverPages({
      approvals: {
        queuePageAs: async (_who, shown) => ({
          items: [...queued].reverse().slice(0, shown),
          total: queued.length,
        }),
        detailAs: async () => Promise.reject(new Error('not read')),
        decideAs: async () => Promise.reject(new Error('not read')),
      },
      ...PAGE_DEPS,
    });
    let body = '';
    const res = { writeHead: () => res, end: (text: string) => (body = text) } as unknown as ServerResponse;
    await pages.queue(res, { login: 'alice', id: '1001', csrf: 'x', idHash: 'h' });
    expect(body.match(/<li class="card">/g)).toHaveLength(QUEUE_SHOWN);
    expect(body).toContain(
      `${QUEUE_SHOWN + 50} pending requests you may decide, newest first; the newest ${QUEUE_SHOWN} are shown.`,
    );
    expect(body.indexOf(`req_${QUEUE_SHOWN + 49}`)).toBeLessThan(body.indexOf(`req_${QUEUE_SHOWN + 48}`));
    expect(body).not.toContain('req_49"');
  });
});

describe('a decision in the console', () => {
  it('spends the approver-call budget of its address first, as the API does', async () => {
    const decided: string[] = [];
    const spent: string[] = [];
    const pages = approverPages({
      approvals: {
        queuePageAs: async () => Promise.reject(new Error('not read')),
        detailAs: async () => Promise.reject(new Error('not read')),
        decideAs: async (id) => {
          decided.push(id);
          return Promise.reject(new Error('not needed'));
        },
      },
      ...PAGE_DEPS,
      decisionBudget: (peer) => {
        spent.push(peer);
        if (spent.length > 1) throw new JitkeyError('rate_limited', 'more than 1 approver calls a minute');
      },
    });
    const req = { socket: { remoteAddress: '127.0.0.9' }, headers: {} } as unknown as IncomingMessage;
    const res = {} as ServerResponse;
    const who = { login: 'mallory', id: '666', csrf: 'x', idHash: 'h' };
    await expect(
      pages.decide(req, res, who, 'req_1', 'deny', new URLSearchParams('reason=because')),
    ).rejects.toThrow('not needed');
    await expect(
      pages.decide(req, res, who, 'req_2', 'deny', new URLSearchParams('reason=because')),
    ).rejects.toMatchObject({
      code: 'rate_limited',
    });
    expect([spent, decided]).toEqual([['127.0.0.9', '127.0.0.9'], ['req_1']]);
  });
});
