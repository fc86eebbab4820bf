/**
 * `refresh: true` end to end: the built Action starts the credentials agent (dist/agent), the real
 * AWS SDK container-credentials providers and google-auth-library's metadata client take
 * credentials from it twice across a renewal, against `jitkey serve` and the STS / IAM stand-ins.
 * Renewal is moved to 5 % of the lease (JITKEY_AGENT_RENEW_AT) so the test need not wait 40 s.
 * Then: the post step stops the agent and every lease is revoked; an agent killed mid-job makes the
 * next credential request fail clearly and leaves nothing in the workspace or the log.
 */
import { DecodeAuthorizationMessageCommand, STSClient } from '@aws-sdk/client-sts';
import { fromContainerMetadata, fromHttp } from '@aws-sdk/credential-providers';
import { Compute } from 'google-auth-library';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { openStore } from '../../exchanger/store/open.js';
import { eventually } from '../support/eventually.js';
import { type GcpStandin, startGcpStandin } from '../support/gcp-standin.js';
import { deliverWebhook, workflowRun } from '../support/github-webhook.js';
import { assertMaskedFirst, assertNoLeaks, errors, log, runMain, runPost } from '../support/runner.js';
import { policyFor, type Stack, startStack } from '../support/stack.js';
import { startTokenEndpoint, type TokenEndpoint } from '../support/token-endpoint.js';

const GCP_ROLE = `  read-gcp:
    provider: gcp
    gcp: { service_account: ci-reader@proj.iam.gserviceaccount.com }
    allow:
      - repository_id: "123456"
`;
const JOB_ENV = { GITHUB_REPOSITORY: 'acme/web', GITHUB_RUN_ID: '9876543210', JITKEY_AGENT_RENEW_AT: '0.05' };

const WEBHOOK_SECRET = 'refresh-webhook-secret';

let gcp: GcpStandin;
let stack: Stack;
let tokens: TokenEndpoint;
let runAttempt = 0;

beforeAll(async () => {
  gcp = await startGcpStandin();
  const key = await gcp.writeServiceAccountKey();
  stack = await startStack({
    policy: (issuer) => policyFor(issuer, GCP_ROLE),
    exchanger: {
      env: {
        GOOGLE_APPLICATION_CREDENTIALS: key.path,
        JITKEY_GCP_IAM_ENDPOINT: gcp.url,
        JITKEY_GITHUB_WEBHOOK_SECRET: WEBHOOK_SECRET,
      },
    },
  });
  // Each test is its own run attempt, so max_duration and webhooks of one never touch another.
  tokens = await startTokenEndpoint({
    token: (aud) => stack.idp.mint({ aud, run_attempt: String(runAttempt) }),
  });
});
afterAll(async () => {
  await tokens?.stop();
  await stack?.stop();
  await gcp?.stop();
});
afterEach(() => {
  vi.unstubAllEnvs();
});

async function main(role: string) {
  runAttempt++;
  const result = await runMain({
    inputs: { 'exchanger-url': stack.exchanger.url, role, duration: '60', refresh: 'true' },
    env: { ...tokens.env, ...JOB_ENV },
  });
  expect(errors(result), log(result)).toEqual([]);
  return result;
}

const until = <T>(what: string, probe: () => Promise<T | undefined> | T | undefined) =>
  eventually(probe, what, 400);

async function leasesOfRun(): Promise<{ id: string; revoked: boolean }[]> {
  const store = await openStore(stack.exchanger.store, { purgeIntervalMs: 0 });
  try {
    const rows = await store.queryAudit({ outcome: 'allowed' });
    const ids = rows.filter((r) => r.event === 'exchange' && r.claims.run_attempt === String(runAttempt));
    return Promise.all(
      ids.map(async (r) => ({
        id: r.leaseId!,
        revoked: (await store.getLease(r.leaseId!))?.revokedAt !== undefined,
      })),
    );
  } finally {
    await store.close();
  }
}

const agentAlive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describe('refresh: true', () => {
  it('an agent that cannot start fails the step, and the post step still revokes the lease', async () => {
    runAttempt++;
    const result = await runMain({
      inputs: { 'exchanger-url': stack.exchanger.url, role: 'deploy', duration: '60', refresh: 'true' },
      // The agent's working directory does not exist: spawning it fails.
      env: { ...tokens.env, ...JOB_ENV, RUNNER_TEMP: '/nonexistent/jitkey-runner-temp' },
    });
    expect(result.exitCode).not.toBe(0);
    expect(log(result)).toMatch(/agent/);
    const [lease] = await leasesOfRun();
    expect(result.state.lease_id).toBe(lease!.id);
    const post = await runPost(result);
    expect(post.exitCode, log(post)).toBe(0);
    expect(await leasesOfRun()).toEqual([{ id: lease!.id, revoked: true }]);
  });

  it('AWS: the SDK container providers get renewed keys; the post step stops the agent and revokes every lease', async () => {
    const result = await main('deploy');
    expect(Object.keys(result.env).sort()).toEqual([
      'AWS_CONTAINER_AUTHORIZATION_TOKEN',
      'AWS_CONTAINER_CREDENTIALS_FULL_URI',
      'AWS_DEFAULT_REGION',
      'AWS_REGION',
    ]);
    expect(result.env.AWS_CONTAINER_CREDENTIALS_FULL_URI).toMatch(
      /^http:\/\/127\.0\.0\.1:\d+\/aws\/credentials$/,
    );
    const bearer = result.env.AWS_CONTAINER_AUTHORIZATION_TOKEN!;
    const pid = Number(result.state.agent_pid);
    for (const [name, value] of Object.entries(result.env)) vi.stubEnv(name, value);

    const first = await fromContainerMetadata()();
    expect(first.accessKeyId).toBe(stack.sts.issued.at(-1)!.accessKeyId);
    const issuedBefore = stack.sts.issued.length;
    // The agent renews at 5 % of the 60 s lease: wait for the second AssumeRole.
    await until('a renewal', async () => (stack.sts.issued.length > issuedBefore ? true : undefined));
    const second = await until('renewed keys from the agent', async () => {
      const c = await fromHttp({})();
      return c.accessKeyId !== first.accessKeyId ? c : undefined;
    });
    expect(second.accessKeyId).toBe(stack.sts.issued.at(-1)!.accessKeyId);
    expect(second.sessionToken).toBe(stack.sts.issued.at(-1)!.sessionToken);
    // 60 s lease: STS was asked for 900 s, the keys end by the session policy at the lease's end.
    expect(stack.sts.issued.at(-1)!.durationSeconds).toBe(900);
    const sts = new STSClient({
      endpoint: stack.sts.url,
      region: 'us-east-1',
      credentials: second,
      maxAttempts: 1,
    });
    await expect(
      sts.send(new DecodeAuthorizationMessageCommand({ EncodedMessage: 'x' })),
    ).resolves.toMatchObject({ DecodedMessage: JSON.stringify({ allowed: false, message: 'x' }) });
    stack.sts.advance(61_000);
    await expect(
      sts.send(new DecodeAuthorizationMessageCommand({ EncodedMessage: 'x' })),
    ).rejects.toMatchObject({
      name: 'AccessDenied',
    });
    stack.sts.advance(-61_000);
    sts.destroy();

    // A request without the token is refused.
    const anonymous = await fetch(result.env.AWS_CONTAINER_CREDENTIALS_FULL_URI!);
    expect(anonymous.status).toBe(401);

    const post = await runPost(result);
    expect(post.exitCode, log(post)).toBe(0);
    expect(post.commands.filter((c) => c.command === 'warning')).toEqual([]);
    expect(log(post)).toMatch(
      /stopped the credentials agent after \d+ renewal\(s\); revoked \d+ renewed lease\(s\)/,
    );
    await until('the agent to exit', async () => (agentAlive(pid) ? undefined : true));
    await expect(fromHttp({})()).rejects.toThrow();
    const leases = await leasesOfRun();
    expect(leases.length).toBeGreaterThanOrEqual(2);
    expect(leases.filter((l) => !l.revoked)).toEqual([]);
    expect(post.env).toMatchObject({
      AWS_CONTAINER_CREDENTIALS_FULL_URI: '',
      AWS_CONTAINER_AUTHORIZATION_TOKEN: '',
    });

    const secrets = {
      bearer,
      first: first.secretAccessKey,
      second: second.secretAccessKey,
      oidc: tokens.issued.at(-1)!,
    };
    assertMaskedFirst(result, [bearer]);
    assertNoLeaks(result, { bearer }, { env: ['AWS_CONTAINER_AUTHORIZATION_TOKEN'], state: ['agent_token'] });
    assertNoLeaks(post, secrets);
  });

  it('GCP: google-auth-library reads the metadata endpoint, twice across a renewal', async () => {
    const result = await main('read-gcp');
    expect(Object.keys(result.env)).toEqual(['GCE_METADATA_HOST']);
    vi.stubEnv('GCE_METADATA_HOST', result.env.GCE_METADATA_HOST!);
    const host = result.env.GCE_METADATA_HOST!;

    const first = (await new Compute().getAccessToken()).token!;
    expect(first).toBe(gcp.issued.at(-1)!.accessToken);
    const second = await until('a renewed token', async () => {
      const t = (await new Compute().getAccessToken()).token!;
      return t !== first ? t : undefined;
    });
    expect(second).toBe(gcp.issued.at(-1)!.accessToken);
    expect(gcp.issued.at(-1)!.lifetimeSeconds).toBe(60);

    const path = `http://${host}/computeMetadata/v1/instance/service-accounts/default/email`;
    const without = await fetch(path);
    expect(without.status).toBe(403);
    expect(without.headers.get('metadata-flavor')).toBe('Google');
    const email = await fetch(path, { headers: { 'metadata-flavor': 'Google' } });
    expect([email.status, await email.text(), email.headers.get('metadata-flavor')]).toEqual([
      200,
      'ci-reader@proj.iam.gserviceaccount.com',
      'Google',
    ]);

    const post = await runPost(result);
    expect(post.exitCode, log(post)).toBe(0);
    const gcpLeases = await leasesOfRun();
    expect(gcpLeases.length).toBeGreaterThanOrEqual(2); // the first lease and a renewal
    expect(gcpLeases.filter((l) => !l.revoked)).toEqual([]);
    await expect(fetch(path, { headers: { 'metadata-flavor': 'Google' } })).rejects.toThrow();
    assertNoLeaks(post, { first, second });
  });

  it('after a workflow_run completed webhook the agent is refused its renewal (403 run_completed)', async () => {
    const result = await main('deploy');
    const origin = result.state.agent_origin!;
    const bearer = result.env.AWS_CONTAINER_AUTHORIZATION_TOKEN!;
    const hook = await deliverWebhook(
      stack.exchanger.url,
      WEBHOOK_SECRET,
      workflowRun(9876543210, runAttempt),
    );
    expect(hook.status).toBe(200);
    const status = await until('the agent to stop renewing', async () => {
      const res = await fetch(`${origin}/v1/agent/status`, {
        headers: { authorization: `Bearer ${bearer}` },
      });
      const s = (await res.json()) as { stopped?: string };
      return s.stopped ? s : undefined;
    });
    expect(status.stopped).toMatch(
      /refused the renewal: run_completed: run 9876543210 attempt \d+ has completed/,
    );
    const runLeases = await leasesOfRun();
    expect(runLeases.length).toBeGreaterThanOrEqual(1);
    expect(runLeases.filter((l) => !l.revoked)).toEqual([]);
    const post = await runPost(result);
    expect(post.exitCode, log(post)).toBe(0);
    expect(log(post)).toMatch(/renewing had stopped: the exchanger refused the renewal: run_completed/);
  });

  it('an agent killed mid-job: the next credential request fails clearly; nothing leaks', async () => {
    const result = await main('deploy');
    const pid = Number(result.state.agent_pid);
    for (const [name, value] of Object.entries(result.env)) vi.stubEnv(name, value);
    const before = await fromHttp({})();
    process.kill(pid, 'SIGKILL');
    await until('the agent to die', async () => (agentAlive(pid) ? undefined : true));
    const err = await fromHttp({})().then(
      () => undefined,
      (e: Error) => e,
    );
    expect(err?.message ?? '').toMatch(/127\.0\.0\.1|ECONNREFUSED|connect|fetch failed|Failed/i);

    const post = await runPost(result);
    expect(post.exitCode, log(post)).toBe(0);
    const warnings = post.commands.filter((c) => c.command === 'warning').map((c) => c.message);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(
      /credentials agent did not answer .*killed or had already stopped.*end on their own/,
    );
    // The main step's own lease is still revoked by the post step.
    expect((await leasesOfRun()).find((l) => l.id === result.outputs['lease-id'])?.revoked).toBe(true);
    const secrets = {
      bearer: result.env.AWS_CONTAINER_AUTHORIZATION_TOKEN!,
      secret: before.secretAccessKey,
      session: before.sessionToken!,
    };
    assertNoLeaks(post, secrets);
    assertNoLeaks(result, { secret: before.secretAccessKey }, {});
  });
});
