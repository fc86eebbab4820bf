/**
 * An exchanger stack with approval roles, for the approval end-to-end tests: the OIDC issuer, STS
 * stand-in and `jitkey serve` of `stack.ts`, a GitHub API stand-in that knows the approvers' own
 * tokens and a team, and a loopback receiver for the `notify` webhook.
 *
 *   const s = await startApprovalStack();
 *   const pending = await s.stack.exchange(s.stack.idp.mint(), { role: 'db-admin' });   // 202
 *   await s.cli(['approve', id], 'alice');      // `jitkey approve ID --url …` with alice's GH_TOKEN
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { runCli } from '../support/exchanger-process.js';
import { type GithubStandin, githubAppEnv, startGithubStandin } from '../support/github-standin.js';
import { type Answer, policyFor, ROLE_ARN, type Stack, startStack } from '../support/stack.js';

/** Approvers and their GitHub tokens. `octocat` (id 1) is the test issuer's default job actor. */
export const USERS = {
  alice: { token: 'gho_alice_token_0001', login: 'alice', id: 1001 },
  bob: { token: 'gho_bob_token_0002', login: 'bob', id: 1002 },
  carol: { token: 'gho_carol_token_0003', login: 'Carol', id: 1003 }, // in acme/platform-leads
  mallory: { token: 'gho_mallory_token_0666', login: 'mallory', id: 1666 },
  octocat: { token: 'gho_octocat_token_0001', login: 'octocat', id: 1 },
} as const;
export type UserName = keyof typeof USERS;

export function approvalRoles(notifyUrl: string): string {
  return `  db-admin:
    description: Production database, approved per use
    provider: aws
    aws: { role_arn: ${ROLE_ARN}, region: eu-west-1 }
    max_duration: 30m
    approval:
      approvers: [alice, acme/platform-leads, octocat]
      required: 1
      timeout: 30m
      notify: ${notifyUrl}
    allow:
      - repository: acme/web
        repository_id: "123456"
        ref: refs/heads/main
  two-keys:
    provider: aws
    aws: { role_arn: ${ROLE_ARN} }
    approval: { approvers: [alice, bob, acme/platform-leads], required: 2, timeout: 30m }
    allow:
      - repository_id: "123456"
  hasty:
    provider: aws
    aws: { role_arn: ${ROLE_ARN} }
    approval: { approvers: [alice], timeout: 2s }
    allow:
      - repository_id: "123456"
`;
}

export interface Webhook {
  url: string;
  received: Array<{ headers: Record<string, unknown>; body: Record<string, unknown> }>;
  stop(): Promise<void>;
}

export async function startWebhook(): Promise<Webhook> {
  const received: Webhook['received'] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      received.push({ headers: req.headers, body: JSON.parse(Buffer.concat(chunks).toString('utf8')) });
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`,
    received,
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** The exchanger's `JITKEY_GITHUB_WEBHOOK_SECRET` in this stack. */
export const WEBHOOK_SECRET = 'approval-stack-webhook-secret';

export interface ApprovalStack {
  stack: Stack;
  gh: GithubStandin;
  webhook: Webhook;
  /** `jitkey <args> --url <exchanger>` as `user` (their token in GH_TOKEN). */
  cli(args: string[], user: UserName): Promise<{ code: number | null; stdout: string; stderr: string }>;
  /** An approver's HTTP call with their GitHub token. */
  asUser(user: UserName, method: 'GET' | 'POST', path: string, body?: unknown): Promise<Answer>;
  stop(): Promise<void>;
}

export async function startApprovalStack(options: { githubApp?: boolean } = {}): Promise<ApprovalStack> {
  const webhook = await startWebhook();
  const gh = await startGithubStandin({
    installations: [
      { owner: 'acme', permissions: { members: 'read', actions: 'read' }, repositories: ['web'] },
    ],
    users: Object.fromEntries(Object.values(USERS).map((u) => [u.token, { login: u.login, id: u.id }])),
    teams: { 'acme/platform-leads': ['carol'] },
  });
  const appEnv: Record<string, string> = options.githubApp === false ? {} : githubAppEnv(gh);
  const stack = await startStack({
    policy: (issuer) => policyFor(issuer, approvalRoles(webhook.url)),
    exchanger: {
      env: {
        ...appEnv,
        JITKEY_PUBLIC_URL: 'https://jitkey.acme.example',
        JITKEY_GITHUB_WEBHOOK_SECRET: WEBHOOK_SECRET,
      },
    },
  });
  const url = stack.exchanger.url;
  return {
    stack,
    gh,
    webhook,
    cli: (args, user) => runCli([...args, '--url', url], { GH_TOKEN: USERS[user].token }),
    async asUser(user, method, path, body) {
      const res = await fetch(`${url}${path}`, {
        method,
        headers: { authorization: `Bearer ${USERS[user].token}`, 'content-type': 'application/json' },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
      const text = await res.text();
      return { status: res.status, headers: res.headers, body: text ? JSON.parse(text) : undefined };
    },
    async stop() {
      await stack.stop();
      await Promise.all([gh.stop(), webhook.stop()]);
    },
  };
}
