/**
 * The console end to end, in real headless Chromium against `jitkey serve` as a process: an
 * approver signs in through the GitHub stand-in's OAuth page, finds the job that waits in their
 * queue, reads the request (claims, links, what the role grants) and approves or denies it; the
 * Action, run as the runner runs it, finishes with credentials or fails with the reason. Also
 * self-approval and re-runs refused in the page, escaping of hostile claim values, and axe-core on
 * every screen (no serious or critical violation), at a phone's 390 px width.
 */
import Database from 'better-sqlite3';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { USERS } from '../approvals/support.js';
import { launchBrowser } from '../support/browser.js';
import { eventually } from '../support/eventually.js';
import { runCli } from '../support/exchanger-process.js';
import { actionRunner, errors, log, type StepResult } from '../support/runner.js';
import { startTokenEndpoint, type TokenEndpoint } from '../support/token-endpoint.js';
import { type ConsoleStack, startConsoleStack } from './support.js';

let c: ConsoleStack;
let browser: Browser;
let tokens: TokenEndpoint;
let runId = 7000;
const PHONE = { width: 390, height: 844 };

beforeAll(async () => {
  c = await startConsoleStack();
  tokens = await startTokenEndpoint({ token: (aud) => c.stack.idp.mint({ aud, run_id: String(runId) }) });
  browser = await launchBrowser();
}, 120_000);
afterAll(async () => {
  await browser?.close();
  await tokens?.stop();
  await c?.stop();
});

const { runMain } = actionRunner(process.execPath);

function job(role: string): Promise<StepResult> {
  runId++;
  return runMain({
    inputs: { 'exchanger-url': c.url, role },
    env: {
      ...tokens.env,
      GITHUB_REPOSITORY: 'acme/web',
      GITHUB_RUN_ID: String(runId),
      GITHUB_RUN_ATTEMPT: '1',
      GITHUB_WORKFLOW: 'Deploy',
      GITHUB_JOB: 'migrate',
    },
    timeoutMs: 90_000,
  });
}

/** A fresh browser context (its own cookies), as a phone; `javaScript: false` as with it turned off. */
async function phone(javaScript = true): Promise<{ context: BrowserContext; page: Page }> {
  const context = await browser.newContext({ viewport: PHONE, javaScriptEnabled: javaScript });
  const page = await context.newPage();
  page.on('dialog', (d) => {
    throw new Error(`a dialog opened: ${d.message()}`);
  });
  return { context, page };
}

/** The queue card of run `run`, once the job has asked (the queue is read at each load). */
async function cardOf(page: Page, run: number) {
  return eventually(async () => {
    await page.goto(`${c.url}/console/`);
    const card = page.locator('li.card', { hasText: `Run ${run} attempt 1` });
    return (await card.count()) === 1 ? card : undefined;
  }, `run ${run} in the queue`);
}

async function auditOf(requestId: string) {
  const out = await runCli(['audit', '--store', c.stack.exchanger.store, '--json']);
  return out.stdout
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Record<string, string>)
    .filter((r) => r.request_id === requestId)
    .reverse();
}

// A shared machine runs the Action, jitkey serve and Chromium at once: room beyond the default.
describe('the console in Chromium', { timeout: 90_000 }, () => {
  it('an approver signs in with GitHub, reviews the waiting job and approves it; the Action gets credentials', async () => {
    const main = job('db-admin');
    const { context, page } = await phone();

    await page.goto(`${c.url}/console/`);
    expect(await page.locator('h1').textContent()).toBe('Sign in');
    expect(await c.axe(page)).toEqual([]);
    await c.screenshot(page, 'sign-in');

    const callbacks: string[] = [];
    page.on('request', (r) => {
      if (r.url().includes('/console/auth/callback')) callbacks.push(r.url());
    });
    await c.signIn(page, 'alice');
    expect(page.url()).toBe(`${c.url}/console/`);
    // The code and state went to the callback only; the page after it carries neither.
    expect(callbacks).toHaveLength(1);
    expect(callbacks[0]).toMatch(/[?&]code=[0-9a-f]+/);

    const [session] = (await context.cookies()).filter((k) => k.name === '__Host-jitkey_session');
    expect(session).toMatchObject({ httpOnly: true, secure: true, sameSite: 'Lax', path: '/' });
    expect((await context.cookies()).map((k) => k.name)).not.toContain('__Host-jitkey_login');

    const card = await cardOf(page, runId);
    const text = (await card.textContent()) ?? '';
    for (const shown of [
      'db-admin',
      'acme/web',
      'aws',
      'refs/heads/main',
      'production',
      'push',
      'octocat',
      '0 of 1',
      "the role's default",
    ]) {
      expect(text).toContain(shown);
    }
    expect(await card.getByRole('link', { name: `Run ${runId} attempt 1` }).getAttribute('href')).toBe(
      `${c.gh.url}/acme/web/actions/runs/${runId}/attempts/1`,
    );
    expect(await card.getByRole('link', { name: 'Workflow file' }).getAttribute('href')).toMatch(
      new RegExp(`^${c.gh.url}/acme/web/blob/[0-9a-f]{40}/\\.github/workflows/deploy\\.yml$`),
    );
    expect(await c.axe(page)).toEqual([]);
    await c.screenshot(page, 'queue');

    await card.getByRole('link', { name: /^Review/ }).click();
    await page.waitForURL(/\/console\/requests\/req_/);
    const id = page.url().split('/').pop()!;
    const body = (await page.locator('main').textContent()) ?? '';
    for (const shown of [
      'db-admin',
      'Status: pending',
      'arn:aws:iam::111122223333:role/web-deploy',
      'eu-west-1',
      'job_workflow_sha',
      String(runId),
      'allow[0]',
      'alice, acme/platform-leads, octocat',
      'approval_request',
    ]) {
      expect(body).toContain(shown);
    }
    expect(await c.axe(page)).toEqual([]);
    await c.screenshot(page, 'request');

    // By keyboard alone: type the note, Tab to Approve, Enter.
    await page.focus('#approve-note');
    await page.keyboard.type('schema migration, ticket OPS-12');
    await page.keyboard.press('Tab');
    expect(await page.evaluate('document.activeElement?.textContent')).toBe('Approve');
    await Promise.all([page.waitForURL(/done=approve/), page.keyboard.press('Enter')]);
    expect(await page.locator('.notice.ok').textContent()).toBe('You approved this request.');
    expect(await page.locator('p.status').textContent()).toContain('approved');
    expect(await c.axe(page)).toEqual([]);

    const step = await main;
    expect(errors(step), log(step)).toEqual([]);
    expect(step.exitCode).toBe(0);
    expect(log(step)).toContain(`Request ${id} approved by alice.`);
    expect(step.env.AWS_ACCESS_KEY_ID).toMatch(/^ASIA/);

    const rows = await auditOf(id);
    expect(rows.map((r) => [r.event, r.outcome, r.actor ?? null])).toEqual([
      ['approval_request', 'pending', null],
      ['approve', 'allowed', 'alice'],
      ['redeem', 'allowed', null],
    ]);
    expect(rows[1]!.reason).toBe('approved (1 of 1): schema migration, ticket OPS-12; the job may redeem it');

    // No secret in the clear: not the session id in the store, not the user's GitHub token or
    // the OAuth code in the exchanger's log.
    const db = new Database(c.stack.exchanger.storePath!, { readonly: true });
    const stored = JSON.stringify(db.prepare('SELECT * FROM console_sessions').all());
    db.close();
    expect(stored).toContain('"login":"alice"');
    expect(stored).not.toContain(session!.value);
    const output = c.stack.exchanger.output();
    for (const token of c.gh.oauth!.tokens.get('alice')!) expect(output).not.toContain(token);
    expect(output).not.toContain(new URL(callbacks[0]!).searchParams.get('code'));
    expect(output).not.toContain(session!.value);
    await context.close();
  });

  it("a denial's reason fails the Action with it (in a browser with JavaScript off)", async () => {
    const main = job('db-admin');
    const { context, page } = await phone(false);
    await c.signIn(page, 'carol'); // through the acme/platform-leads team
    const card = await cardOf(page, runId);
    await card.getByRole('link', { name: /^Review/ }).click();
    await page.waitForURL(/\/console\/requests\/req_/);
    const id = page.url().split('/').pop()!;

    // The browser refuses an empty reason; the server does too (a form posted without one).
    expect(await page.locator('#deny-reason').getAttribute('required')).not.toBeNull();
    await page.fill('#deny-reason', 'not during the release freeze');
    await Promise.all([page.waitForURL(/done=deny/), page.getByRole('button', { name: 'Deny' }).click()]);
    expect(await page.locator('p.status').textContent()).toContain('denied');

    const step = await main;
    expect(step.exitCode).toBe(1);
    expect(errors(step)).toEqual([
      `Approval for role 'db-admin' was denied (request ${id}): not during the release freeze`,
    ]);
    await context.close();
  });

  it('refuses self-approval: the job’s own actor gets the 404 of an unknown request, a re-run’s starter a refusal', async () => {
    const main = job('db-admin');
    const rerunBy = runId;
    const own = await phone();
    await c.signIn(own.page, 'alice');
    const card = await cardOf(own.page, rerunBy);
    const href = (await card.getByRole('link', { name: /^Review/ }).getAttribute('href'))!;

    // octocat (actor_id 1) started the job: not in their queue, and the request is a plain 404.
    const octocat = await phone();
    await c.signIn(octocat.page, 'octocat');
    expect(await octocat.page.locator('li.card', { hasText: `Run ${rerunBy} attempt 1` }).count()).toBe(0);
    const mine = await octocat.page.goto(`${c.url}${href}`);
    const unknown = await octocat.page.context().request.get(`${c.url}/console/requests/req_doesnotexist`);
    expect(mine!.status()).toBe(404);
    expect(unknown.status()).toBe(404);
    expect(await mine!.text()).toBe(await unknown.text());
    await octocat.context.close();

    // alice clicked "re-run" on this attempt: GitHub says so, and her approval is refused in the page.
    c.gh.setRunAttempt('acme/web', String(rerunBy), '1', {
      actor: { login: 'octocat', id: 1 },
      triggering_actor: { login: 'alice', id: USERS.alice.id },
    });
    await own.page.goto(`${c.url}${href}`);
    const refused = await Promise.all([
      own.page.waitForResponse((r) => r.url().endsWith('/approve')),
      own.page.getByRole('button', { name: 'Approve' }).click(),
    ]);
    expect(refused[0].status()).toBe(403);
    expect(await own.page.locator('.notice.error').textContent()).toContain(
      'alice started attempt 1 of this run (a re-run) and cannot approve it',
    );
    expect(await own.page.locator('p.status').textContent()).toContain('pending');
    expect(await c.axe(own.page)).toEqual([]);
    await c.screenshot(own.page, 'refused');

    // bob is no approver of db-admin, and carol denies so the job ends.
    const carol = await phone();
    await c.signIn(carol.page, 'carol', href);
    expect(carol.page.url()).toBe(`${c.url}${href}`);
    await carol.page.fill('#deny-reason', 'cleanup');
    await Promise.all([
      carol.page.waitForURL(/done=deny/),
      carol.page.getByRole('button', { name: 'Deny' }).click(),
    ]);
    expect((await main).exitCode).toBe(1);
    await Promise.all([carol.context.close(), own.context.close()]);
  });

  it('needs two distinct approvers where the role says two, each from their own session', async () => {
    const pending = await c.stack.exchange(c.stack.idp.mint({ run_id: '8300' }), { role: 'two-keys' });
    const id = pending.body.request_id as string;
    const approveAs = async (user: 'alice' | 'bob') => {
      const { context, page } = await phone();
      await c.signIn(page, user, `/console/requests/${id}`);
      await Promise.all([
        page.waitForURL(/done=approve/),
        page.getByRole('button', { name: 'Approve' }).click(),
      ]);
      const status = (await page.locator('p.status').textContent()) ?? '';
      const approvals = (await page.locator('#approvals-h').textContent()) ?? '';
      await context.close();
      return { status, approvals };
    };
    const first = await approveAs('alice');
    expect(first.status).toContain('pending');
    expect(first.approvals).toBe('Approvals: 1 of 2');
    const second = await approveAs('bob');
    expect(second.status).toContain('approved');
    expect(second.approvals).toBe('Approvals: 2 of 2');
  });

  it('shows hostile claim values as text: markup, quotes and bidi controls', async () => {
    const branch = 'refs/heads/<img src=x onerror=alert(1)>';
    const pending = await c.stack.exchange(
      c.stack.idp.mint({
        ref: branch,
        run_id: '8100',
        environment: 'prod\u202eno',
        workflow_ref: `acme/web/.github/workflows/"quoted" 'name'.yml@${branch}`,
      }),
      { role: 'two-keys' },
    );
    expect(pending.status).toBe(202);
    const { context, page } = await phone();
    await c.signIn(page, 'alice');
    await page.goto(`${c.url}/console/requests/${pending.body.request_id}`);
    expect(await page.locator('main img').count()).toBe(0);
    const main = (await page.locator('main').textContent()) ?? '';
    expect(main).toContain(branch);
    expect(main).toContain(`"quoted" 'name'.yml`);
    expect(main).not.toContain('\u202e');
    expect(await page.locator('.ctl').first().textContent()).toBe('\\u202e');
    expect(await c.axe(page)).toEqual([]);
    await context.close();
  });
});

describe('the console over plain HTTP', () => {
  it('sends its security headers on every page and on the stylesheet', async () => {
    for (const path of ['/console/', '/console/static/console.css', '/console/requests/req_nope']) {
      const res = await fetch(`${c.url}${path}`);
      expect(res.headers.get('content-security-policy'), path).toBe(
        "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
      );
      expect(res.headers.get('x-content-type-options'), path).toBe('nosniff');
      expect(res.headers.get('referrer-policy'), path).toBe('no-referrer');
    }
  });

  it('refuses a form post without the session’s CSRF token or from another origin, and decides nothing', async () => {
    const pending = await c.stack.exchange(c.stack.idp.mint({ run_id: '8200' }), { role: 'db-admin' });
    const id = pending.body.request_id as string;
    const { context, page } = await phone();
    await c.signIn(page, 'alice');
    await page.goto(`${c.url}/console/requests/${id}`);
    const csrf = (await page.locator('input[name=csrf]').first().getAttribute('value'))!;
    const cookie = (await context.cookies()).map((k) => `${k.name}=${k.value}`).join('; ');
    const post = (headers: Record<string, string>, form: Record<string, string>) =>
      fetch(`${c.url}/console/requests/${id}/approve`, {
        method: 'POST',
        redirect: 'manual',
        headers: { cookie, 'content-type': 'application/x-www-form-urlencoded', ...headers },
        body: new URLSearchParams(form).toString(),
      });
    const same = { origin: c.url, 'sec-fetch-site': 'same-origin' };
    expect((await post(same, {})).status).toBe(403);
    // Another first character: its six bits are all the token's, so the bytes always differ,
    // where a last character's unused bits could leave them the same (a token ending in 'A' was
    // once "changed" into itself).
    const forged = `${csrf[0] === 'A' ? 'B' : 'A'}${csrf.slice(1)}`;
    expect((await post(same, { csrf: forged })).status).toBe(403);
    expect(
      (await post({ origin: 'https://evil.example', 'sec-fetch-site': 'cross-site' }, { csrf })).status,
    ).toBe(403);
    expect((await post({ origin: 'null', 'sec-fetch-site': 'cross-site' }, { csrf })).status).toBe(403);
    expect((await post({}, { csrf })).status).toBe(403);
    expect((await c.stack.exchanger.output()).includes(csrf)).toBe(false);
    const still = await auditOf(id);
    expect(still.map((r) => r.event)).toEqual(['approval_request']);
    // Chromium's own same-origin post under no-referrer: `Origin: null` with Sec-Fetch-Site.
    expect((await post({ origin: 'null', 'sec-fetch-site': 'same-origin' }, { csrf })).status).toBe(303);
    expect((await auditOf(id)).map((r) => r.event)).toEqual(['approval_request', 'approve']);
    await context.close();
  });

  it('leads ?next= only inside /console/, and a spent sign-in cannot be replayed', async () => {
    const { context, page } = await phone();
    let callback: { url: string; cookie: string } | undefined;
    page.on('request', async (r) => {
      if (r.url().includes('/console/auth/callback')) {
        callback = { url: r.url(), cookie: (await r.allHeaders()).cookie ?? '' };
      }
    });
    await page.goto(`${c.url}/console/auth/login?next=${encodeURIComponent('//evil.example/console/')}`);
    await page.fill('#login', 'alice');
    await Promise.all([page.waitForURL(`${c.url}/console/**`), page.click('button[type=submit]')]);
    expect(page.url()).toBe(`${c.url}/console/`);
    await eventually(async () => callback?.cookie || undefined, 'the callback request');
    expect(callback!.cookie).toContain('__Host-jitkey_login=');
    const replay = await fetch(callback!.url, { headers: { cookie: callback!.cookie }, redirect: 'manual' });
    expect(replay.status).toBe(400);
    expect(await replay.text()).toContain('This sign-in was already used');
    // Signing in again in the same browser replaces the session: the first one is gone.
    const first = (await context.cookies()).find((k) => k.name === '__Host-jitkey_session')!.value;
    await page.goto(`${c.url}/console/auth/login`);
    await page.fill('#login', 'alice');
    await Promise.all([page.waitForURL(`${c.url}/console/**`), page.click('button[type=submit]')]);
    const firstCookie = `__Host-jitkey_session=${first}`;
    expect((await fetch(`${c.url}/console/`, { headers: { cookie: firstCookie } })).status).toBe(401);
    // Signing out deletes the session: its cookie no longer opens the console.
    const cookie = (await context.cookies()).map((k) => `${k.name}=${k.value}`).join('; ');
    await page.getByRole('button', { name: 'Sign out' }).click();
    expect(await page.locator('.notice.ok').textContent()).toBe('You are signed out.');
    expect((await fetch(`${c.url}/console/`, { headers: { cookie } })).status).toBe(401);
    await context.close();
  });

  it('holds its routes to the API’s body limit', async () => {
    const res = await fetch(`${c.url}/console/requests/req_x/approve`, {
      method: 'POST',
      headers: { origin: c.url, 'content-type': 'application/x-www-form-urlencoded' },
      body: `note=${'x'.repeat(20 * 1024)}`,
    });
    expect(res.status).toBe(400);
    expect(await res.text()).toContain('request body exceeds 16 KiB');
  });

  it('limits sign-in attempts per client address', async () => {
    let last = 0;
    for (let i = 0; i < 25 && last !== 429; i++) {
      last = (await fetch(`${c.url}/console/auth/login`, { redirect: 'manual' })).status;
    }
    expect(last).toBe(429);
    // A callback with a pre-login cookie this exchanger did not set (no MAC, or another's) costs
    // no GitHub call and no store write: the budget of starts cannot be walked around.
    const exchanges = c.gh.oauth!.exchanges.length;
    for (const cookie of ['s1.v1.L2NvbnNvbGUv', 's1.v1.L2NvbnNvbGUv.bm90LXRoZS1tYWM']) {
      const forged = await fetch(`${c.url}/console/auth/callback?state=s1&code=c1`, {
        headers: { cookie: `__Host-jitkey_login=${cookie}` },
        redirect: 'manual',
      });
      expect(forged.status).toBe(400);
      expect(await forged.text()).toContain('This sign-in did not start in this browser');
    }
    expect(c.gh.oauth!.exchanges.length).toBe(exchanges);
  });
});
