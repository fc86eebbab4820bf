/**
 * The platform admins' screens in headless Chromium against `jitkey serve` as a process: leases
 * in force and their Revoke button (the GitHub stand-in sees the token deleted), the 404 that
 * everyone else gets, axe-core on each screen at a phone's 390 px, by keyboard.
 */
import { readFileSync } from 'node:fs';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { approvalRoles, USERS } from '../approvals/support.js';
import { launchBrowser } from '../support/browser.js';
import { runCli } from '../support/exchanger-process.js';
import { adminPolicy, type ConsoleStack, startConsoleStack } from './support.js';

let c: ConsoleStack;
let browser: Browser;
const PHONE = { width: 390, height: 844 };

const policy = (issuer: string, notifyUrl: string) =>
  adminPolicy(
    issuer,
    `  web-read:
    description: Read acme/web's contents
    provider: github
    github: { repositories: [acme/web], permissions: { contents: read } }
    allow:
      - { repository: acme/web, repository_id: "123456" }
  deploy:
    provider: aws
    aws: { role_arn: arn:aws:iam::111122223333:role/web-deploy }
    allow:
      - { repository: acme/web, ref: refs/heads/main }
${approvalRoles(notifyUrl)}`,
  );

beforeAll(async () => {
  c = await startConsoleStack({
    policy,
    env: { JITKEY_GITHUB_WEBHOOK_SECRET: 'console-admin-webhook-secret' },
  });
  browser = await launchBrowser();
}, 120_000);
afterAll(async () => {
  await browser?.close();
  await c?.stop();
});

async function phone(): Promise<{ context: BrowserContext; page: Page }> {
  const context = await browser.newContext({ viewport: PHONE });
  const page = await context.newPage();
  page.on('dialog', (d) => {
    throw new Error(`a dialog opened: ${d.message()}`);
  });
  return { context, page };
}

async function auditRows(): Promise<Array<Record<string, unknown>>> {
  const out = await runCli(['audit', '--store', c.stack.exchanger.store, '--json']);
  return out.stdout
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

/** No horizontal scrolling at 390 px: the page is no wider than the viewport. */
async function fitsPhone(page: Page): Promise<boolean> {
  return page.evaluate('document.documentElement.scrollWidth <= window.innerWidth');
}

describe('leases', () => {
  it('an admin (through a team) revokes a GitHub lease by keyboard; GitHub sees the token deleted', async () => {
    const granted = await c.stack.exchange(c.stack.idp.mint({ run_id: '9100' }), { role: 'web-read' });
    expect(granted.status, JSON.stringify(granted.body)).toBe(200);
    const token = granted.body.credentials.token as string;
    const leaseId = granted.body.lease_id as string;

    const { context, page } = await phone();
    await c.signIn(page, 'carol', '/console/leases');
    expect(page.url()).toBe(`${c.url}/console/leases`);
    expect(await page.getByRole('navigation', { name: 'Console' }).textContent()).toContain('Leases');
    const card = page.locator('li.card', { hasText: leaseId });
    expect(await card.count()).toBe(1);
    const text = (await card.textContent()) ?? '';
    for (const shown of ['web-read', 'acme/web', 'github', '9100', 'GitHub deletes the token at once.']) {
      expect(text).toContain(shown);
    }
    expect(await page.locator('main').textContent()).toContain('What revoke means, per provider');
    expect(await c.axe(page)).toEqual([]);
    expect(await fitsPhone(page)).toBe(true);
    await c.screenshot(page, 'leases');
    // The page never shows the credential or the revoke token.
    const html = await page.content();
    expect(html).not.toContain(token);
    expect(html).not.toContain(granted.body.revoke_token as string);

    // Filtered by provider: the AWS filter hides it, the GitHub one shows it.
    await page.selectOption('#f-provider', 'aws');
    await Promise.all([
      page.waitForURL(/provider=aws/),
      page.getByRole('button', { name: 'Filter' }).click(),
    ]);
    expect(await page.locator('li.card', { hasText: leaseId }).count()).toBe(0);
    await page.goto(`${c.url}/console/leases?provider=github&repository=ACME/web&role=web-read`);
    expect(await page.locator('li.card', { hasText: leaseId }).count()).toBe(1);

    // By keyboard: focus the card's Revoke button, press Enter.
    await page
      .locator('li.card', { hasText: leaseId })
      .getByRole('button', { name: /^Revoke/ })
      .focus();
    await Promise.all([page.waitForURL(/done=upstream/), page.keyboard.press('Enter')]);
    expect(await page.locator('.notice.ok').textContent()).toContain('revoked upstream');
    expect(await page.locator('li.card', { hasText: leaseId }).count()).toBe(0);
    expect(c.gh.revocations).toContain(token);
    expect(await c.axe(page)).toEqual([]);
    const metrics = await (await fetch(`${c.url}/metrics`)).text();
    expect(metrics).toMatch(/jitkey_revocations_total\{provider="github",outcome="upstream"\} 1/);

    const revoked = (await auditRows()).find((r) => r.event === 'revoke' && r.lease_id === leaseId);
    expect(revoked).toMatchObject({ outcome: 'revoked', actor: 'Carol', provider: 'github' });
    expect(revoked!.reason).toBe('lease revoked by Carol in the console (revoked upstream)');
    expect(c.stack.exchanger.output()).not.toContain(token);
    await context.close();
  });

  it('is a 404 for anyone not named in admins, like a page that does not exist, and revokes nothing', async () => {
    const granted = await c.stack.exchange(c.stack.idp.mint({ run_id: '9101' }), { role: 'web-read' });
    expect(granted.status).toBe(200);
    const { context, page } = await phone();
    await c.signIn(page, 'alice'); // an approver, not an admin
    expect(await page.getByRole('navigation', { name: 'Console' }).textContent()).not.toContain('Leases');
    const leases = await page.goto(`${c.url}/console/leases`);
    const unknown = await page.context().request.get(`${c.url}/console/requests/req_doesnotexist`);
    expect(leases!.status()).toBe(404);
    expect(unknown.status()).toBe(404);
    expect(await leases!.text()).toBe(await unknown.text());

    await page.goto(`${c.url}/console/`);
    const csrf = (await page.locator('input[name=csrf]').first().getAttribute('value'))!;
    const post = await page
      .context()
      .request.post(`${c.url}/console/leases/${granted.body.lease_id}/revoke`, {
        form: { csrf },
        headers: { origin: c.url, 'sec-fetch-site': 'same-origin' },
      });
    expect(post.status()).toBe(404);
    expect(c.gh.revocations).not.toContain(granted.body.credentials.token);
    expect(
      (await auditRows()).some((r) => r.event === 'revoke' && r.lease_id === granted.body.lease_id),
    ).toBe(false);
    await context.close();
  });
});

describe('audit', () => {
  const HOSTILE = 'refs/heads/<img src=x onerror=alert(1)>';

  it('an admin filters the trail, sees hostile values as text, and downloads the filtered rows as CSV', async () => {
    const denied = await c.stack.exchange(c.stack.idp.mint({ ref: HOSTILE, run_id: '9200' }), {
      role: 'deploy',
    });
    expect(denied.status).toBe(403);
    const granted = await c.stack.exchange(c.stack.idp.mint({ run_id: '9201' }), { role: 'deploy' });
    expect(granted.status).toBe(200);

    const { context, page } = await phone();
    await c.signIn(page, 'bob', '/console/audit'); // an admin by login
    await page.selectOption('#a-outcome', 'denied');
    await page.fill('#a-repository', 'acme/web');
    await page.fill('#a-since', '1h');
    await Promise.all([
      page.waitForURL(/outcome=denied/),
      page.getByRole('button', { name: 'Filter' }).click(),
    ]);
    const main = (await page.locator('main').textContent()) ?? '';
    expect(main).toContain(HOSTILE);
    expect(main).toContain(denied.body.request_id);
    expect(main).not.toContain(granted.body.request_id);
    expect(await page.locator('main img').count()).toBe(0);
    expect(await c.axe(page)).toEqual([]);
    expect(await fitsPhone(page)).toBe(true);
    await c.screenshot(page, 'audit');

    // The CSV link carries the filter; the file holds only the rows that match.
    const [download] = await Promise.all([
      page.waitForEvent('download'),
      page.getByRole('link', { name: 'CSV' }).click(),
    ]);
    const csv = readFileSync((await download.path())!, 'utf8');
    const [header, ...lines] = csv.trimEnd().split('\r\n');
    expect(header!.split(',').slice(0, 4)).toEqual(['at', 'request_id', 'event', 'outcome']);
    expect(lines.length).toBeGreaterThan(0);
    expect(lines.every((l) => l.split(',')[3] === 'denied')).toBe(true);
    expect(csv).toContain(denied.body.request_id);
    expect(csv).not.toContain(granted.body.request_id);

    // Streamed: no length known up front, sent in chunks, as an attachment.
    const cookie = (await context.cookies()).map((k) => `${k.name}=${k.value}`).join('; ');
    const res = await fetch(`${c.url}/console/audit/export?format=jsonl&outcome=denied`, {
      headers: { cookie },
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-length')).toBeNull();
    expect(res.headers.get('transfer-encoding')).toBe('chunked');
    expect(res.headers.get('content-disposition')).toMatch(
      /^attachment; filename="jitkey-audit-\d{8}T\d{6}\.jsonl"$/,
    );
    const json = (await res.text())
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l) as { outcome: string });
    expect(json.length).toBeGreaterThan(0);
    expect(json.every((r) => r.outcome === 'denied')).toBe(true);
    await context.close();
  });

  it('an approver who is no admin sees the rows of the requests they decided, and no others', async () => {
    const pending = await c.stack.exchange(c.stack.idp.mint({ run_id: '9300' }), { role: 'db-admin' });
    expect(pending.status).toBe(202);
    const id = pending.body.request_id as string;
    const { context, page } = await phone();
    await c.signIn(page, 'alice', `/console/requests/${id}`);
    await Promise.all([
      page.waitForURL(/done=approve/),
      page.getByRole('button', { name: 'Approve' }).click(),
    ]);
    await page.goto(`${c.url}/console/audit`);
    // The Request column, wherever it stands: each row links its request id to its own filter.
    const requests = await page.locator('tbody tr a[href*="request_id="]').allTextContents();
    expect(requests.length).toBeGreaterThan(0);
    expect(new Set(requests)).toEqual(new Set([id]));
    expect(await page.locator('main').textContent()).toContain(
      'The rows of the requests you approved or denied',
    );
    expect(await c.axe(page)).toEqual([]);
    await context.close();

    // Mallory, no approver, read the id in a job log: her Deny is refused (and audited), and the
    // refusal opens none of the request's rows to her.
    const m = await phone();
    await c.signIn(m.page, 'mallory');
    const csrf = (await m.page.locator('input[name=csrf]').first().getAttribute('value'))!;
    const deny = await m.page.context().request.post(`${c.url}/console/requests/${id}/deny`, {
      form: { csrf, reason: 'let me see' },
      headers: { origin: c.url, 'sec-fetch-site': 'same-origin' },
    });
    expect(deny.status()).toBe(404);
    expect(
      (await auditRows()).some((r) => r.request_id === id && r.event === 'deny' && r.actor === 'mallory'),
    ).toBe(true);
    await m.page.goto(`${c.url}/console/audit?request_id=${id}`);
    expect(await m.page.locator('tbody tr').count()).toBe(0);
    expect(await m.page.locator('main').textContent()).toContain('No row matches.');
    const exported = await m.page
      .context()
      .request.get(`${c.url}/console/audit/export?format=jsonl&request_id=${id}`);
    expect(exported.status()).toBe(200);
    expect(await exported.text()).toBe('');
    await m.context.close();

    // Alice renames her account and someone else registers 'alice': the login does not carry her
    // decisions along, as her audit rows name her user id too.
    c.gh.renameUser('alice', 'alice-renamed');
    c.gh.addUserToken('gho_eve_as_alice', { login: 'alice', id: 66_666 });
    try {
      const eve = await phone();
      await c.signIn(eve.page, 'alice', '/console/audit');
      expect(await eve.page.locator('tbody tr').count()).toBe(0);
      expect(await eve.page.locator('main').textContent()).toContain('No row matches.');
      const theirs = await eve.page.context().request.get(`${c.url}/console/audit/export?format=jsonl`);
      expect(await theirs.text()).toBe('');
      await eve.context.close();
    } finally {
      c.gh.renameUser('alice', 'eve');
      c.gh.renameUser('alice-renamed', 'alice');
    }
    const approve = (await auditRows()).find((r) => r.request_id === id && r.event === 'approve');
    expect(approve).toMatchObject({ actor: 'alice', actor_id: String(USERS.alice.id) });
  });
});

describe('policy', () => {
  it('an admin reads the roles and explains a decision from claims, then from a past request', async () => {
    const denied = await c.stack.exchange(c.stack.idp.mint({ ref: 'refs/heads/dev', run_id: '9400' }), {
      role: 'deploy',
    });
    expect(denied.status).toBe(403);
    const { context, page } = await phone();
    await c.signIn(page, 'bob', '/console/policy');
    const main = (await page.locator('main').textContent()) ?? '';
    for (const shown of [
      'web-read',
      'contents: read',
      'db-admin',
      '1 of alice, acme/platform-leads, octocat',
      'bob',
    ]) {
      expect(main).toContain(shown);
    }
    expect(await c.axe(page)).toEqual([]);
    expect(await fitsPhone(page)).toBe(true);

    await page.selectOption('#x-role', 'deploy');
    await page.fill(
      '#x-claims',
      JSON.stringify({ repository: 'acme/web', ref: 'refs/heads/<img src=x onerror=alert(1)>' }),
    );
    await page.getByRole('button', { name: 'Explain' }).click();
    expect(await page.locator('#answer-h').textContent()).toBe('Decision: denied');
    const pre = (await page.locator('pre.explain').textContent()) ?? '';
    expect(pre).toContain("role 'deploy' (aws)");
    expect(pre).toContain("ref: failed (token has 'refs/heads/<img src=x onerror=alert(1)>')");
    expect(await page.locator('main img').count()).toBe(0);
    expect(await c.axe(page)).toEqual([]);
    await c.screenshot(page, 'policy');

    await page.selectOption('#x-role', '');
    await page.fill('#x-claims', '');
    await page.fill('#x-request', denied.body.request_id);
    await page.getByRole('button', { name: 'Explain' }).click();
    expect(await page.locator('#answer-h').textContent()).toBe('Decision: denied');
    expect(await page.locator('pre.explain').textContent()).toContain(
      "ref: failed (token has 'refs/heads/dev')",
    );

    // Bad input says what to write.
    await page.fill('#x-request', '');
    await page.fill('#x-claims', '{"repository": ');
    await page.getByRole('button', { name: 'Explain' }).click();
    expect(await page.locator('.notice.error').textContent()).toMatch(/^Claims: not JSON/);
    await context.close();

    const alice = await phone();
    await c.signIn(alice.page, 'alice');
    expect((await alice.page.goto(`${c.url}/console/policy`))!.status()).toBe(404);
    await alice.context.close();
  });
});
