/**
 * `jitkey credentials` for a role with `approval`, as a GitLab job runs it: the exchange answers
 * 202, the client says who can approve and how and polls; an approver runs `jitkey approve`; the
 * client redeems with the job's second token (a second `id_tokens` entry) and writes the
 * credentials. Also a denial, and a job that has no second token.
 */
import { existsSync, readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ApprovalStack, startApprovalStack } from '../approvals/support.js';
import { eventually } from '../support/eventually.js';
import { ciJob, fakeBuildkiteAgent, type RunningClient } from '../support/jitkey-credentials.js';

let s: ApprovalStack;
let runId = 7000;
beforeAll(async () => {
  s = await startApprovalStack();
}, 60_000);
afterAll(async () => {
  await s?.stop();
});

/**
 * A job of a fresh run, its tokens in id_tokens variables: JITKEY_ID_TOKEN for the exchange and,
 * unless `tokens: 1`, JITKEY_REDEEM_TOKEN for the redemption. Export lines go to `env` in its dir.
 */
function gitlabJob(role: string, o: { tokens?: 1 | 2; extra?: string[]; secondRun?: string } = {}) {
  const run = String(++runId);
  const job = ciJob();
  const first = s.stack.idp.mint({ run_id: run });
  const second = s.stack.idp.mint({ run_id: o.secondRun ?? run });
  const env: Record<string, string> = { JITKEY_ID_TOKEN: first, GITLAB_CI: 'true' };
  const args = ['--url', s.stack.exchanger.url, '--role', role, '--token-env', 'JITKEY_ID_TOKEN'];
  args.push('--out', job.path('env'), ...(o.extra ?? []));
  if (o.tokens !== 1) {
    env.JITKEY_REDEEM_TOKEN = second;
    args.push('--redeem-token-env', 'JITKEY_REDEEM_TOKEN');
  }
  return { job, first, second, client: job.start(args, env) };
}

/** The request id the client printed, once it is waiting. */
const requestIdOf = (client: RunningClient) =>
  eventually(
    async () => /approve request (req_\S+)\./.exec(client.stderr())?.[1],
    'the pending request in the log',
  );

describe('jitkey credentials and approvals', () => {
  it('waits, saying who can approve and how; redeems with the second token once approved', async () => {
    const started = gitlabJob('db-admin');
    const id = await requestIdOf(started.client);
    // While it waits, its command line (as every process on the machine sees it) holds no token.
    const cmdline = readFileSync(`/proc/${started.client.child.pid}/cmdline`, 'utf8');
    expect(cmdline).toContain('--token-env\0JITKEY_ID_TOKEN');
    expect(cmdline).not.toContain(started.first);
    expect(cmdline).not.toContain(started.second);

    const approved = await s.cli(['approve', id, '--reason', 'release 42'], 'alice');
    expect(approved.code, approved.stderr).toBe(0);
    const run = await started.client.done;
    expect(run.code, run.stderr).toBe(0);
    const lines = run.stderr.split('\n');
    expect(lines.slice(0, 4)).toEqual([
      `Role 'db-admin' needs approval: 1 of alice, acme/platform-leads, octocat must approve request ${id}.`,
      `An approver runs:  jitkey approve ${id} --url ${s.stack.exchanger.url}`,
      expect.stringMatching(/^Waiting up to 30m \(the request expires at \S+\)\.$/),
      `Request ${id} approved by alice.`,
    ]);
    expect(lines[4]).toMatch(
      /^jitkey: issued aws credentials for role 'db-admin' until \S+ \(lease lease_\S+\): /,
    );
    const issued = s.stack.sts.issued.at(-1)!;
    expect(readFileSync(started.job.path('env'), 'utf8')).toContain(
      `export AWS_ACCESS_KEY_ID='${issued.accessKeyId}'\n`,
    );
    started.job.assertNoSecret(started.first, [run]);
    started.job.assertNoSecret(started.second, [run]);
  });

  it('with --token-command (Buildkite), runs the command again for a fresh token to redeem', async () => {
    const run = String(++runId);
    const job = ciJob();
    const tokens = [s.stack.idp.mint({ run_id: run }), s.stack.idp.mint({ run_id: run })];
    const agent = fakeBuildkiteAgent(job.dir, tokens);
    const client = job.start(
      [
        ...['--url', s.stack.exchanger.url, '--role', 'db-admin', '--format', 'json'],
        ...['--token-command', 'buildkite-agent oidc request-token --audience jitkey'],
      ],
      { PATH: `${agent.bin}:${process.env.PATH ?? ''}`, BUILDKITE: 'true' },
    );
    const id = await requestIdOf(client);
    expect((await s.cli(['approve', id], 'alice')).code).toBe(0);
    const done = await client.done;
    expect(done.code, done.stderr).toBe(0);
    expect(JSON.parse(done.stdout)).toMatchObject({ role: 'db-admin', provider: 'aws' });
    expect(readFileSync(agent.log, 'utf8')).toBe('oidc request-token --audience jitkey\n'.repeat(2));
    for (const token of tokens) job.assertNoSecret(token, [done]);
  });

  it("refuses to redeem with another run's token, saying it was the redemption that failed (exit 1)", async () => {
    const { client } = gitlabJob('db-admin', { secondRun: '1' });
    const id = await requestIdOf(client);
    expect((await s.cli(['approve', id], 'alice')).code).toBe(0);
    const run = await client.done;
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(
      new RegExp(
        `\\nRedeeming approved request ${id} for role 'db-admin' failed \\(403 access_denied, request_id req_\\S+\\):\\n`,
      ),
    );
    expect(run.stdout).toBe('');
  });

  it("fails with the approver's reason when denied (exit 3)", async () => {
    const { client } = gitlabJob('db-admin');
    const id = await requestIdOf(client);
    expect((await s.cli(['deny', id, '--reason', 'not during the freeze'], 'carol')).code).toBe(0);
    const run = await client.done;
    expect(run.code).toBe(3);
    expect(run.stdout).toBe('');
    expect(run.stderr.trimEnd().split('\n').at(-1)).toBe(
      `Approval for role 'db-admin' was denied (request ${id}): not during the freeze`,
    );
  });

  it('gives up at --wait-approval, saying who could approve (exit 3)', async () => {
    const { job, client } = gitlabJob('db-admin', { extra: ['--wait-approval', '2s'] });
    const run = await client.done;
    expect(run.code).toBe(3);
    expect(run.stderr.trimEnd().split('\n').at(-1)).toMatch(
      /^No approval for role 'db-admin' within --wait-approval \(2s\); request req_\S+ is still pending\. Ask an approver \(alice, acme\/platform-leads, octocat\) and re-run the job, or raise --wait-approval\.$/,
    );
    expect(existsSync(job.path('env'))).toBe(false);
  });

  it('says when the request expires on the exchanger (exit 3)', async () => {
    const { client } = gitlabJob('hasty'); // the role's approval timeout: 2s
    const run = await client.done;
    expect(run.code).toBe(3);
    expect(run.stderr.trimEnd().split('\n').at(-1)).toMatch(
      /^Approval request req_\S+ for role 'hasty' expired on the exchanger before anyone approved it; re-run the job to ask again\.$/,
    );
  });

  it('says at once that a job with one token in a variable cannot redeem an approval (exit 3)', async () => {
    const { client } = gitlabJob('db-admin', { tokens: 1 });
    const run = await client.done;
    expect(run.code).toBe(3);
    expect(run.stderr).toMatch(
      /^Role 'db-admin' needs approval \(request req_\S+\), and redeeming an approval spends a second, unused token, which the variable JITKEY_ID_TOKEN cannot give: add a second token \(GitLab: another id_tokens entry\) and pass it with --redeem-token-env\.\n$/,
    );
  });
});
