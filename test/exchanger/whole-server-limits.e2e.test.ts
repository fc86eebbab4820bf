/**
 * `jitkey serve --workers N` holds one client address to the server's limits, not N times them
 * (issue 24, item 10): the approver-call budget and the refusal fold are counted by the primary
 * for every worker. (The per-address connection cap is shared out between the workers:
 * test/exchanger/worker-share.test.ts.)
 */
import { afterEach, describe, expect, it } from 'vitest';
import { SIGN_INS_PER_MINUTE } from '../../exchanger/console/auth.js';
import { approvalRoles } from '../approvals/support.js';
import { CLIENT, freePort } from '../console/support.js';
import { runCli } from '../support/exchanger-process.js';
import { type GithubStandin, githubAppEnv, startGithubStandin } from '../support/github-standin.js';
import { sendOnOwnConnection } from '../support/own-connection.js';
import { policyFor, type Stack, startStack } from '../support/stack.js';

let stack: Stack | undefined;
let gh: GithubStandin | undefined;
afterEach(async () => {
  await stack?.stop();
  await gh?.stop();
  stack = undefined;
  gh = undefined;
});

/** One request on a connection of its own: the primary hands each to the next worker. */
const send = (url: string, method: string, path: string, headers: Record<string, string>, body?: unknown) =>
  sendOnOwnConnection(url, method, path, body, headers);

/** The workers (by the `worker` field of their log lines) that refused a request. */
const refusingWorkers = (output: string) =>
  new Set([...output.matchAll(/"worker":(\d+)[^\n]*"msg":"request refused"/g)].map((m) => m[1]));

describe('jitkey serve --workers 2: one budget for the whole server', () => {
  it('approver calls: 120 a minute from one address in all, so 200 junk tokens cost GitHub 120 /user calls', async () => {
    gh = await startGithubStandin({
      installations: [
        { owner: 'acme', permissions: { members: 'read', actions: 'read' }, repositories: ['web'] },
      ],
    });
    stack = await startStack({
      policy: (issuer) => policyFor(issuer, approvalRoles('http://127.0.0.1:9/notify')),
      exchanger: {
        args: ['--workers', '2'],
        env: { ...githubAppEnv(gh), JITKEY_PUBLIC_URL: 'https://jitkey.acme.example' },
      },
    });
    const s = stack;
    const statuses: number[] = [];
    for (let batch = 0; batch < 20; batch++) {
      const answers = await Promise.all(
        Array.from({ length: 10 }, (_, i) =>
          send(s.exchanger.url, 'GET', '/v1/requests', { authorization: `Bearer gho_junk_${batch}_${i}` }),
        ),
      );
      statuses.push(...answers.map((a) => a.status));
    }
    const userCalls = gh.requests.filter((r) => r.path === '/user').length;
    expect(statuses.filter((x) => x === 401)).toHaveLength(120);
    expect(statuses.filter((x) => x === 429)).toHaveLength(80);
    expect(userCalls).toBe(120);
    // Both workers took requests: the budget was one across them, not one each.
    expect(refusingWorkers(s.exchanger.output())).toEqual(new Set(['1', '2']));
  }, 120_000);

  it('console sign-ins: 20 starts a minute from one address in all, not 20 per worker', async () => {
    gh = await startGithubStandin({
      installations: [{ owner: 'acme', permissions: { members: 'read' }, repositories: ['web'] }],
    });
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    stack = await startStack({
      exchanger: {
        args: ['--workers', '2'],
        port,
        env: {
          ...githubAppEnv(gh),
          JITKEY_PUBLIC_URL: url,
          JITKEY_GITHUB_APP_CLIENT_ID: CLIENT.clientId,
          JITKEY_GITHUB_APP_CLIENT_SECRET: CLIENT.clientSecret,
        },
      },
    });
    const statuses: number[] = [];
    for (let batch = 0; batch < 6; batch++) {
      const answers = await Promise.all(
        Array.from({ length: 10 }, () => send(url, 'GET', '/console/auth/login', {})),
      );
      statuses.push(...answers.map((a) => a.status));
    }
    expect(statuses.filter((x) => x === 303)).toHaveLength(SIGN_INS_PER_MINUTE);
    expect(statuses.filter((x) => x === 429)).toHaveLength(60 - SIGN_INS_PER_MINUTE);
  }, 120_000);

  it('refusal fold: one audit row per address per minute for unverified tokens, and one count', async () => {
    stack = await startStack({ exchanger: { args: ['--workers', '2'] } });
    const s = stack;
    const junk = 30;
    for (let i = 0; i < junk; i++) {
      const answer = await send(
        s.exchanger.url,
        'POST',
        '/v1/exchange',
        { authorization: `Bearer not.a.token${i}` },
        { role: 'deploy' },
      );
      expect(answer.status).toBe(401);
    }
    expect(refusingWorkers(s.exchanger.output())).toEqual(new Set(['1', '2']));
    // The last minute's count is written as the workers stop.
    await s.exchanger.stop();
    const out = await runCli(['audit', '--store', s.exchanger.store, '--json', '--outcome', 'denied']);
    const rows = out.stdout
      .trim()
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as { error_code: string; reason: string });
    const unverified = rows.filter((r) => r.error_code === 'invalid_token');
    expect(unverified).toHaveLength(2);
    const summaries = unverified.filter((r) => /more refused request/.test(r.reason));
    expect(summaries).toHaveLength(1);
    expect(summaries[0]!.reason).toContain(`${junk - 1} more refused requests`);
  }, 120_000);
});
