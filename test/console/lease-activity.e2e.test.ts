/**
 * The console's lease page (issue 26) in headless Chromium against `jitkey serve` as a process:
 * an admin reads what an AWS lease's keys did (from the CloudTrail stand-in), with the events
 * the role forbids marked; a lease whose provider's activity is off says so; anyone not named in
 * `admins:` gets the plain 404. axe-core on each page, at a phone's 390 px.
 */
import { GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchBrowser } from '../support/browser.js';
import { type CloudTrailStandin, startCloudTrailStandin, stsCalls } from '../support/cloudtrail-standin.js';
import { eventually } from '../support/eventually.js';
import { leaseActivity } from '../support/lease-activity.js';
import { ROLE_ARN } from '../support/stack.js';
import { adminPolicy, type ConsoleStack, startConsoleStack } from './support.js';

let c: ConsoleStack;
let trail: CloudTrailStandin;
let browser: Browser;

const policy = (issuer: string, notifyUrl: string) =>
  adminPolicy(
    issuer,
    `  guarded:
    provider: aws
    aws: { role_arn: ${ROLE_ARN}, region: us-east-1 }
    forbid_actions: ["sts:GetCaller*"]
    allow:
      - { repository_id: "123456" }
  guarded-bg:
    provider: aws
    aws: { role_arn: ${ROLE_ARN}, region: us-east-1 }
    forbid_actions: ["sts:GetCaller*"]
    approval:
      approvers: [alice, bob]
      notify: ${notifyUrl}
      break_glass: { allowed: [OctoCat] }
    allow:
      - { repository_id: "123456" }
  web-read:
    provider: github
    github: { repositories: [acme/web], permissions: { contents: read } }
    allow:
      - { repository_id: "123456" }
`,
  );

beforeAll(async () => {
  trail = await startCloudTrailStandin();
  c = await startConsoleStack({
    policy,
    env: {
      JITKEY_LEASE_ACTIVITY: 'aws',
      JITKEY_ACTIVITY_POLL_INTERVAL: '1s',
      JITKEY_ACTIVITY_HORIZON: '1h',
      AWS_ENDPOINT_URL_CLOUDTRAIL: trail.url,
    },
  });
  trail.feed(stsCalls(c.stack.sts));
  browser = await launchBrowser();
}, 120_000);
afterAll(async () => {
  await browser?.close();
  await c?.stop();
  await trail?.stop();
});

async function phone(): Promise<{ context: BrowserContext; page: Page }> {
  const context = await browser.newContext({ viewport: { width: 390, height: 844 } });
  return { context, page: await context.newPage() };
}

/** The job "uses" its AWS credentials: `count` calls to the STS stand-in with them. */
async function useAws(g: { credentials: Record<string, string> }, count: number): Promise<void> {
  const sts = new STSClient({
    region: 'us-east-1',
    endpoint: c.stack.sts.url,
    credentials: {
      accessKeyId: g.credentials.access_key_id!,
      secretAccessKey: g.credentials.secret_access_key!,
      sessionToken: g.credentials.session_token!,
    },
  });
  try {
    for (let i = 0; i < count; i++) await sts.send(new GetCallerIdentityCommand({}));
  } finally {
    sts.destroy();
  }
}

async function eventsIn(leaseId: string, count: number): Promise<void> {
  await eventually(
    async () =>
      (await leaseActivity(c.stack.exchanger.store, leaseId)).json.events.length >= count ? true : undefined,
    `${count} events`,
  );
}

describe('the lease page', () => {
  it("shows an admin the lease's activity, its state and the events the role forbids", async () => {
    const granted = await c.stack.exchange(c.stack.idp.mint(), { role: 'guarded' });
    expect(granted.status).toBe(200);
    const g = granted.body;
    await useAws(g, 2);
    await eventsIn(g.lease_id, 2);

    const { context, page } = await phone();
    await c.signIn(page, 'carol', '/console/leases');
    // From the leases list to the lease's page.
    await Promise.all([
      page.waitForURL(`${c.url}/console/leases/${g.lease_id}`),
      page
        .locator('li.card', { hasText: g.lease_id })
        .getByRole('link', { name: new RegExp(g.lease_id) })
        .click(),
    ]);
    expect(await page.getByRole('heading', { level: 1 }).textContent()).toBe(`Lease ${g.lease_id}`);
    expect(await page.locator('#activity-h').textContent()).toBe('Activity: collecting');
    const main = (await page.locator('main').textContent()) ?? '';
    for (const shown of ['guarded', 'aws credential', g.credentials.access_key_id, 'Matched byaccess key']) {
      expect(main).toContain(shown);
    }
    const rows = page.locator('table tbody tr');
    expect(await rows.count()).toBe(2);
    expect(await rows.first().textContent()).toContain('GetCallerIdentity');
    expect(await page.locator('tr.flagged').count()).toBe(2);
    expect(await rows.first().locator('td').last().textContent()).toBe('yes (sts:GetCaller*)');
    expect(await page.getByRole('alert').textContent()).toContain('2 events used an action the role forbids');
    expect(await c.axe(page)).toEqual([]);
    expect(await page.evaluate('document.documentElement.scrollWidth <= window.innerWidth')).toBe(true);
    await c.screenshot(page, 'lease-activity');
    const html = await page.content();
    expect(html).not.toContain(g.credentials.secret_access_key);
    expect(html).not.toContain(g.credentials.session_token);
    expect(html).not.toContain(g.revoke_token);
    await context.close();
  });

  it('says so when the activity of a provider is not collected (GitHub is off here)', async () => {
    const granted = await c.stack.exchange(c.stack.idp.mint(), { role: 'web-read' });
    expect(granted.status).toBe(200);
    const { context, page } = await phone();
    await c.signIn(page, 'bob', `/console/leases/${granted.body.lease_id}`);
    expect(await page.locator('#activity-h').textContent()).toBe('Activity: not collected');
    const main = (await page.locator('main').textContent()) ?? '';
    expect(main).toContain('lease activity is off for this provider (JITKEY_LEASE_ACTIVITY)');
    expect(main).not.toContain(granted.body.credentials.token);
    expect(await c.axe(page)).toEqual([]);
    await context.close();
  });

  it("tells the role's notify channel of a forbidden action, linking this page", async () => {
    // Break-glass: the role has approval.notify, and octocat's run gets it at once.
    const granted = await c.stack.exchange(c.stack.idp.mint({ run_id: '8101' }), { role: 'guarded-bg' });
    expect(granted.status, JSON.stringify(granted.body)).toBe(200);
    await useAws(granted.body, 1);
    const told = await eventually(
      () => c.webhook.received.find((r) => r.body.event === 'forbidden_action'),
      'a forbidden_action notification',
    );
    expect(told.body).toMatchObject({
      lease_id: granted.body.lease_id,
      role: 'guarded-bg',
      provider: 'aws',
      action: 'sts:GetCallerIdentity',
      forbidden_by: 'sts:GetCaller*',
      lease_url: `${c.url}/console/leases/${granted.body.lease_id}`,
    });
    const text = JSON.stringify(told.body);
    expect(text).not.toContain(granted.body.credentials.secret_access_key);
    expect(text).not.toContain(granted.body.credentials.session_token);
    expect(text).not.toContain(granted.body.revoke_token);
  });

  it('is the plain 404 for anyone not named in admins, and for an unknown lease', async () => {
    const granted = await c.stack.exchange(c.stack.idp.mint(), { role: 'guarded' });
    const { context, page } = await phone();
    await c.signIn(page, 'alice');
    const denied = await page.goto(`${c.url}/console/leases/${granted.body.lease_id}`);
    const unknown = await page.context().request.get(`${c.url}/console/requests/req_doesnotexist`);
    expect(denied!.status()).toBe(404);
    expect(await denied!.text()).toBe(await unknown.text());
    await context.close();
    const admin = await phone();
    await c.signIn(admin.page, 'bob');
    expect((await admin.page.goto(`${c.url}/console/leases/lease_nope`))!.status()).toBe(404);
    await admin.context.close();
  });
});
