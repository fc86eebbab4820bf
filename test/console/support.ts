/**
 * `jitkey serve` with its console on, for the console's browser tests: the approval roles and
 * approvers of `test/approvals/support.ts`, a GitHub stand-in that also plays the App's OAuth
 * client, and helpers to sign in through the stand-in's page, run axe-core in the page and write
 * screenshots (to test/screenshots/, git-ignored).
 *
 *   const c = await startConsoleStack();
 *   const page = await browser.newPage();
 *   await c.signIn(page, 'alice');          // lands on /console/
 *   expect(await c.axe(page)).toEqual([]);  // serious and critical violations
 */
import { mkdirSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { approvalRoles, startWebhook, USERS, type UserName, type Webhook } from '../approvals/support.js';
import { type GithubStandin, githubAppEnv, startGithubStandin } from '../support/github-standin.js';
import { REPO_ROOT } from '../support/paths.js';
import { policyFor, type Stack, startStack } from '../support/stack.js';

/**
 * A policy whose console admins are bob and the stand-in's acme/platform-leads team (carol),
 * with `roles` (YAML lines under `roles:`, indented two spaces) for the issuer at `issuer`.
 */
export const adminPolicy = (issuer: string, roles: string) => `version: 1
issuers:
  - url: ${issuer}
    audience: jitkey
defaults: { duration: 15m, max_duration: 1h }
admins: [bob, acme/platform-leads]
roles:
${roles}`;

export const CLIENT = { clientId: 'Iv23liConsoleTest', clientSecret: 'console-client-secret-0001' };
export const SCREENSHOTS = join(REPO_ROOT, 'test', 'screenshots');

/** A loopback port free right now: the console's public URL must be known before it starts. */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as { port: number };
  await new Promise((r) => server.close(r));
  return port;
}

export interface ConsoleStack {
  stack: Stack;
  gh: GithubStandin;
  webhook: Webhook;
  /** The console's origin (`JITKEY_PUBLIC_URL`). */
  url: string;
  /** From the console's sign-in page through the stand-in's "Authorize" to the page signed in. */
  signIn(page: Page, user: UserName, path?: string): Promise<void>;
  /** axe-core's serious and critical violations on the page, as `id: help (n nodes)`. */
  axe(page: Page): Promise<string[]>;
  screenshot(page: Page, name: string): Promise<void>;
  stop(): Promise<void>;
}

const AXE = readFileSync(join(REPO_ROOT, 'node_modules', 'axe-core', 'axe.min.js'), 'utf8');

export async function startConsoleStack(
  options: {
    env?: Record<string, string>;
    store?: string;
    /** The policy, given the issuer's URL and the notify receiver's (default: the approval roles). */
    policy?: (issuer: string, notifyUrl: string) => string;
  } = {},
): Promise<ConsoleStack> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const webhook = await startWebhook();
  const gh = await startGithubStandin({
    installations: [
      {
        owner: 'acme',
        permissions: { members: 'read', actions: 'read', contents: 'read' },
        repositories: ['web'],
      },
    ],
    users: Object.fromEntries(Object.values(USERS).map((u) => [u.token, { login: u.login, id: u.id }])),
    teams: { 'acme/platform-leads': ['carol'] },
    oauth: { ...CLIENT, callbackUrl: `${url}/console/auth/callback` },
  });
  const stack = await startStack({
    policy: (issuer) =>
      options.policy?.(issuer, webhook.url) ?? policyFor(issuer, approvalRoles(webhook.url)),
    exchanger: {
      port,
      ...(options.store ? { store: options.store } : {}),
      env: {
        ...githubAppEnv(gh),
        JITKEY_PUBLIC_URL: url,
        JITKEY_GITHUB_APP_CLIENT_ID: CLIENT.clientId,
        JITKEY_GITHUB_APP_CLIENT_SECRET: CLIENT.clientSecret,
        ...options.env,
      },
    },
  });
  mkdirSync(SCREENSHOTS, { recursive: true });
  return {
    stack,
    gh,
    webhook,
    url,
    async signIn(page, user, path = '/console/') {
      await page.goto(`${url}${path}`);
      await page.getByRole('link', { name: 'Sign in with GitHub' }).click();
      await page.waitForURL(/\/login\/oauth\/authorize/);
      await page.fill('#login', USERS[user].login);
      await Promise.all([page.waitForURL(`${url}/console/**`), page.click('button[type=submit]')]);
    },
    async axe(page) {
      // Evaluated through the DevTools protocol: the console's CSP rightly refuses an inline script tag.
      await page.evaluate(AXE);
      const violations = (await page.evaluate(
        `axe.run(document, { resultTypes: ['violations'] }).then((r) => r.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.length })))`,
      )) as Array<{ id: string; impact: string; help: string; nodes: number }>;
      return violations
        .filter((v) => v.impact === 'serious' || v.impact === 'critical')
        .map((v) => `${v.id}: ${v.help} (${v.nodes} nodes)`);
    },
    async screenshot(page, name) {
      // What a phone shows first (390 × 844): small enough to commit a few in docs/console/.
      await page.screenshot({ path: join(SCREENSHOTS, `${name}.png`) });
    },
    async stop() {
      await stack.stop();
      await Promise.all([gh.stop(), webhook.stop()]);
    },
  };
}
