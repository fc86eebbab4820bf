/**
 * The built Action (dist/) run as the runner runs it, against `jitkey serve` as a real process, the
 * test OIDC issuer behind a stand-in of the runner's token endpoint, and the STS stand-in.
 */
import { createServer } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../support/exchanger-process.js';
import {
  actionNodes,
  actionRunner,
  assertMaskedFirst,
  assertNoLeaks,
  errors,
  log,
  type StepResult,
} from '../support/runner.js';
import { type Stack, startStack } from '../support/stack.js';
import { startTokenEndpoint, type TokenEndpoint } from '../support/token-endpoint.js';

const AWS_VARS = ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN'];
const JOB_ENV = {
  GITHUB_REPOSITORY: 'acme/web',
  GITHUB_RUN_ID: '9876543210',
  GITHUB_RUN_ATTEMPT: '1',
  GITHUB_WORKFLOW: 'Deploy',
  GITHUB_JOB: 'deploy',
  GITHUB_SERVER_URL: 'https://github.com',
};

let stack: Stack;
let tokens: TokenEndpoint;
/** Claims the next minted token carries over the issuer's defaults (acme/web, main, production, push). */
let claims: Record<string, string> = {};

beforeAll(async () => {
  stack = await startStack();
  tokens = await startTokenEndpoint({ token: (aud) => stack.idp.mint({ aud, ...claims }) });
});
afterAll(async () => {
  await tokens?.stop();
  await stack?.stop();
});

const inputs = (extra: Record<string, string> = {}) => ({
  'exchanger-url': stack.exchanger.url,
  role: 'deploy',
  duration: '20m',
  ...extra,
});

async function audit(leaseId: string) {
  const out = await runCli(['audit', '--store', stack.exchanger.store, '--json']);
  expect(out.code).toBe(0);
  return out.stdout
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as { event: string; outcome: string; lease_id?: string })
    .filter((r) => r.lease_id === leaseId);
}

describe.each(actionNodes())('e2e: the Action against jitkey serve (AWS), on $name', (node) => {
  const { runMain, runPost } = actionRunner(node.path);
  let main: StepResult;
  let secrets: Record<string, string>;

  it('an allowed job gets exactly what STS issued, masked first, and nothing leaks', async () => {
    claims = {};
    main = await runMain({ inputs: inputs(), env: { ...tokens.env, ...JOB_ENV } });
    expect(errors(main), log(main)).toEqual([]);
    expect(main.exitCode).toBe(0);

    const issued = stack.sts.issued.at(-1)!;
    expect(issued.durationSeconds).toBe(1200);
    expect(main.env).toEqual({
      AWS_ACCESS_KEY_ID: issued.accessKeyId,
      AWS_SECRET_ACCESS_KEY: issued.secretAccessKey,
      AWS_SESSION_TOKEN: issued.sessionToken,
      AWS_REGION: 'us-east-1',
      AWS_DEFAULT_REGION: 'us-east-1',
    });
    expect(main.outputs).toEqual({
      'lease-id': expect.stringMatching(/^lease_/),
      'expires-at': issued.expiration.toISOString(),
      provider: 'aws',
    });
    expect(main.state).toMatchObject({
      lease_id: main.outputs['lease-id'],
      exchanger_url: stack.exchanger.url,
      revoke: 'true',
      exported_env: [...AWS_VARS, 'AWS_REGION', 'AWS_DEFAULT_REGION'].join(','),
    });
    expect(tokens.requests.at(-1)).toMatchObject({ audience: 'jitkey', authorized: true, status: 200 });

    secrets = {
      oidcToken: tokens.issued.at(-1)!,
      revokeToken: main.state.revoke_token!,
      accessKeyId: issued.accessKeyId,
      secretAccessKey: issued.secretAccessKey,
      sessionToken: issued.sessionToken,
    };
    assertMaskedFirst(main, Object.values(secrets));
    assertNoLeaks(main, secrets, { env: AWS_VARS, state: ['revoke_token'] });
    for (const secret of Object.values(secrets)) expect(stack.exchanger.output()).not.toContain(secret);

    expect(main.summary).toContain('| Role | deploy |');
    expect(main.summary).toContain('| Provider | aws |');
    expect(main.summary).toContain(`| Expires | ${main.outputs['expires-at']} |`);
    expect(main.summary).toContain(`| Lease | ${main.outputs['lease-id']} |`);
    expect(main.summary).toContain('| Repository | acme/web |');
  });

  it('the post step revokes the lease (audited) and clears the exported variables', async () => {
    const post = await runPost(main, { env: tokens.env });
    expect(post.exitCode, log(post)).toBe(0);
    expect(post.commands.filter((c) => c.command === 'warning')).toEqual([]);
    expect(post.env).toEqual(Object.fromEntries(Object.keys(main.env).map((n) => [n, ''])));
    assertMaskedFirst(post, [secrets.revokeToken!]);
    assertNoLeaks(post, secrets);
    const rows = await audit(main.outputs['lease-id']!);
    expect(rows.map((r) => r.outcome).sort()).toEqual(['allowed', 'revoked']);
  });

  it('output-credentials puts the credentials in outputs; export-env false exports none', async () => {
    claims = {};
    const step = await runMain({
      inputs: inputs({ 'output-credentials': 'true', 'export-env': 'false' }),
      env: { ...tokens.env, ...JOB_ENV },
    });
    expect(step.exitCode, log(step)).toBe(0);
    const issued = stack.sts.issued.at(-1)!;
    expect(step.env).toEqual({});
    expect(step.outputs).toMatchObject({
      'aws-access-key-id': issued.accessKeyId,
      'aws-secret-access-key': issued.secretAccessKey,
      'aws-session-token': issued.sessionToken,
    });
    const s = { a: issued.accessKeyId, b: issued.secretAccessKey, c: issued.sessionToken };
    assertMaskedFirst(step, Object.values(s));
    assertNoLeaks(step, s, { outputs: ['aws-access-key-id', 'aws-secret-access-key', 'aws-session-token'] });
    const post = await runPost(step);
    expect(post.exitCode).toBe(0);
    expect(post.env).toEqual({});
  });

  it('a denial fails the step with the reasons and the token claims', async () => {
    claims = { ref: 'refs/heads/dev', environment: 'staging' };
    const issuedBefore = stack.sts.issued.length;
    const step = await runMain({ inputs: inputs(), env: { ...tokens.env, ...JOB_ENV } });
    expect(step.exitCode).toBe(1);
    const [message, ...more] = errors(step);
    expect(more).toEqual([]);
    expect(message).toMatch(
      /^The exchanger denied role 'deploy' \(403 access_denied, request_id req_[^)]+\):$/m,
    );
    expect(message).toContain('refs/heads/dev');
    expect(message).toContain('staging');
    expect(message).toMatch(/^ {2}repository +acme\/web$/m);
    expect(message).toMatch(/^ {2}ref +refs\/heads\/dev$/m);
    expect(message).toMatch(/^ {2}environment +staging$/m);
    expect(message).toMatch(/^ {2}event_name +push$/m);
    expect(message).toMatch(
      /^ {2}workflow_ref +acme\/web\/\.github\/workflows\/deploy\.yml@refs\/heads\/main$/m,
    );
    expect(message).toMatch(/^ {2}job_workflow_ref +acme\/web\//m);
    expect(step.env).toEqual({});
    expect(step.state).toEqual({});
    expect(stack.sts.issued.length).toBe(issuedBefore);
    expect(step.summary).toContain('no credentials for role deploy');
    const token = tokens.issued.at(-1)!;
    assertMaskedFirst(step, [token]);
    assertNoLeaks(step, { token });
    // post after a failed main: nothing to revoke, nothing to clear, no failure
    const post = await runPost(step);
    expect(post.exitCode).toBe(0);
    expect(post.env).toEqual({});
  });

  it('without `permissions: id-token: write` the step says so', async () => {
    const step = await runMain({ inputs: inputs(), env: JOB_ENV });
    expect(step.exitCode).toBe(1);
    expect(errors(step)).toHaveLength(1);
    expect(errors(step)[0]).toContain('permissions: id-token: write');
    expect(errors(step)[0]).toMatch(/fork/);
  });

  it('an unreachable exchanger fails within the retry budget with a clear message', async () => {
    const port = await closedPort();
    const step = await runMain({
      inputs: inputs({ 'exchanger-url': `http://127.0.0.1:${port}`, retries: '2' }),
      env: { ...tokens.env, ...JOB_ENV },
    });
    expect(step.exitCode).toBe(1);
    expect(errors(step)).toEqual([
      `Could not reach the exchanger at http://127.0.0.1:${port} after 3 attempts: connect ECONNREFUSED 127.0.0.1:${port}`,
    ]);
    const retries = step.stdoutLines.filter((l) => l.includes('retrying in'));
    expect(retries).toHaveLength(2);
    expect(retries[1]).toMatch(/attempt 3 of 3\)$/);
    assertNoLeaks(step, Object.fromEntries(tokens.issued.slice(-3).map((t, i) => [`token${i}`, t])));
  });
});

/** A loopback port nobody listens on. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const { port } = server.address() as { port: number };
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}
