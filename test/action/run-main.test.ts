import { afterEach, describe, expect, it } from 'vitest';
import { run } from '../../src/main/run.js';
import { startTokenEndpoint, type TokenEndpoint } from '../support/token-endpoint.js';
import {
  AWS_LEASE,
  type FakeServer,
  fakeCore,
  fakeDeps,
  fakeJwt,
  type Reply,
  startFakeServer,
} from './fakes.js';

const CLAIMS = {
  aud: 'jitkey',
  repository: 'acme/web',
  ref: 'refs/heads/feature/x',
  environment: 'staging',
  event_name: 'pull_request',
  workflow_ref: 'acme/web/.github/workflows/deploy.yml@refs/heads/feature/x',
  job_workflow_ref: 'acme/web/.github/workflows/deploy.yml@refs/heads/feature/x',
  actor: 'octocat',
};

let server: FakeServer | undefined;
let tokens: TokenEndpoint | undefined;
afterEach(async () => {
  await server?.stop();
  await tokens?.stop();
  server = tokens = undefined;
});

async function runWith(reply: Reply | ((n: number) => Reply), inputs: Record<string, string> = {}, env = {}) {
  let n = 0;
  server = await startFakeServer(() => (typeof reply === 'function' ? reply(n++) : reply));
  tokens = await startTokenEndpoint({ token: (aud) => fakeJwt({ ...CLAIMS, aud }) });
  const fc = fakeCore({ 'exchanger-url': server.url, role: 'deploy-web-prod', ...inputs });
  const deps = fakeDeps(fc, { ...tokens.env, GITHUB_REPOSITORY: 'acme/web', GITHUB_RUN_ID: '42', ...env });
  await run(deps);
  return fc;
}

describe('run (main step)', () => {
  it('exports AWS credentials, sets outputs and state, writes the summary', async () => {
    const fc = await runWith({ status: 200, body: AWS_LEASE }, { duration: '15m' });
    expect(fc.failed).toEqual([]);
    expect(server!.requests[0]).toMatchObject({ method: 'POST', path: '/v1/exchange' });
    expect(server!.requests[0]!.json).toEqual({ role: 'deploy-web-prod', duration_seconds: 900 });
    expect(server!.requests[0]!.headers.authorization).toBe(`Bearer ${tokens!.issued[0]}`);
    const c = AWS_LEASE.credentials;
    expect(fc.exported).toEqual({
      AWS_ACCESS_KEY_ID: c.access_key_id,
      AWS_SECRET_ACCESS_KEY: c.secret_access_key,
      AWS_SESSION_TOKEN: c.session_token,
      AWS_REGION: 'us-east-1',
      AWS_DEFAULT_REGION: 'us-east-1',
    });
    expect(fc.outputs).toEqual({
      'lease-id': AWS_LEASE.lease_id,
      'expires-at': AWS_LEASE.expires_at,
      provider: 'aws',
    });
    expect(fc.state).toEqual({
      lease_id: AWS_LEASE.lease_id,
      revoke_token: AWS_LEASE.revoke_token,
      exchanger_url: server!.url,
      expires_at: AWS_LEASE.expires_at,
      exported_env: 'AWS_ACCESS_KEY_ID,AWS_SECRET_ACCESS_KEY,AWS_SESSION_TOKEN,AWS_REGION,AWS_DEFAULT_REGION',
      revoke: 'true',
    });
    expect(fc.summary.join('')).toContain(AWS_LEASE.lease_id);
    expect(tokens!.requests[0]!.audience).toBe('jitkey');
  });

  it("asks for the token before it opens the exchanger's connection", async () => {
    server = await startFakeServer(() => ({ status: 200, body: AWS_LEASE }));
    tokens = await startTokenEndpoint({ token: (aud) => fakeJwt({ ...CLAIMS, aud }) });
    const fc = fakeCore({ 'exchanger-url': server.url, role: 'deploy-web-prod' });
    const deps = fakeDeps(fc, tokens.env);
    const send = deps.send;
    let answered = 0;
    deps.send = async (req) => {
      const res = await send(req);
      answered++;
      return res;
    };
    // Opened while the token's request is out: after it was sent, before its answer.
    deps.preconnect = (url) =>
      fc.calls.push({ method: 'preconnect', args: [url.href, `answered ${answered}`] });
    await run(deps);
    expect(fc.failed).toEqual([]);
    // The exchange waits for the token, so the token's request goes out first.
    expect(
      fc.calls.filter((c) => c.method === 'send' || c.method === 'preconnect').map((c) => c.method),
    ).toEqual(['send', 'preconnect', 'send']);
    expect(fc.calls.find((c) => c.method === 'preconnect')!.args).toEqual([`${server.url}/`, 'answered 0']);
  });

  it('without a region exports no region variables', async () => {
    const { region: _, ...credentials } = AWS_LEASE.credentials;
    const fc = await runWith({ status: 200, body: { ...AWS_LEASE, credentials } });
    expect(Object.keys(fc.exported)).toEqual([
      'AWS_ACCESS_KEY_ID',
      'AWS_SECRET_ACCESS_KEY',
      'AWS_SESSION_TOKEN',
    ]);
  });

  it.each([
    {
      provider: 'gcp',
      credentials: {
        access_token: 'ya29.fake-gcp-token',
        token_type: 'Bearer',
        service_account: 'ci@p.iam.gserviceaccount.com',
      },
      env: {
        GOOGLE_OAUTH_ACCESS_TOKEN: 'ya29.fake-gcp-token',
        CLOUDSDK_AUTH_ACCESS_TOKEN: 'ya29.fake-gcp-token',
      },
      outputs: { 'gcp-access-token': 'ya29.fake-gcp-token' },
    },
    {
      provider: 'github',
      credentials: {
        token: 'ghs_fakeInstallationToken',
        permissions: { contents: 'write' },
        repositories: ['acme/infra'],
      },
      env: { GH_TOKEN: 'ghs_fakeInstallationToken' },
      outputs: { 'github-token': 'ghs_fakeInstallationToken' },
    },
  ])(
    'exports $provider credentials and outputs them when asked',
    async ({ provider, credentials, env, outputs }) => {
      const fc = await runWith(
        { status: 200, body: { ...AWS_LEASE, provider, credentials } },
        { 'output-credentials': 'true' },
      );
      expect(fc.exported).toEqual(env);
      expect(fc.outputs).toEqual({
        'lease-id': AWS_LEASE.lease_id,
        'expires-at': AWS_LEASE.expires_at,
        provider,
        ...outputs,
      });
      expect(fc.calls.filter((c) => c.method === 'setSecret').map((c) => c.args[0])).toContain(
        Object.values(outputs)[0],
      );
    },
  );

  it('outputs AWS credentials with output-credentials and exports nothing without export-env', async () => {
    const fc = await runWith(
      { status: 200, body: AWS_LEASE },
      { 'output-credentials': 'true', 'export-env': 'false' },
    );
    expect(fc.exported).toEqual({});
    expect(fc.state.exported_env).toBe('');
    expect(fc.outputs).toMatchObject({
      'aws-access-key-id': AWS_LEASE.credentials.access_key_id,
      'aws-secret-access-key': AWS_LEASE.credentials.secret_access_key,
      'aws-session-token': AWS_LEASE.credentials.session_token,
    });
  });

  it('warns when the credentials go nowhere', async () => {
    const fc = await runWith({ status: 200, body: AWS_LEASE }, { 'export-env': 'false' });
    expect(fc.calls.some((c) => c.method === 'warning' && c.args[0]!.includes('both false'))).toBe(true);
  });

  it('on 403 fails with the reasons and a table of the token claims', async () => {
    const fc = await runWith({
      status: 403,
      body: {
        error: 'access_denied',
        message: "role deploy-web-prod: rule 1: ref 'refs/heads/feature/x' does not match",
        request_id: 'req_403',
      },
    });
    expect(fc.failed).toHaveLength(1);
    const message = fc.failed[0]!;
    expect(message).toContain(
      "The exchanger denied role 'deploy-web-prod' (403 access_denied, request_id req_403)",
    );
    expect(message).toContain("rule 1: ref 'refs/heads/feature/x' does not match");
    expect(message).toMatch(/^ {2}repository +acme\/web$/m);
    expect(message).toMatch(/^ {2}ref +refs\/heads\/feature\/x$/m);
    expect(message).toMatch(/^ {2}environment +staging$/m);
    expect(message).toMatch(/^ {2}event_name +pull_request$/m);
    expect(message).toMatch(
      /^ {2}workflow_ref +acme\/web\/.github\/workflows\/deploy.yml@refs\/heads\/feature\/x$/m,
    );
    expect(message).toMatch(/^ {2}job_workflow_ref +acme/m);
    expect(message).not.toContain('octocat'); // only the six claims
    expect(message).not.toContain(tokens!.issued[0]!);
    const summary = fc.summary.join('');
    expect(summary).toContain('no credentials for role deploy-web-prod');
    expect(summary).toContain('| event_name | pull_request |');
    expect(summary).not.toContain('non-secret claims'); // the table only once
    expect(fc.exported).toEqual({});
    expect(fc.state).toEqual({});
  });

  it('shows a claim missing from the token', async () => {
    server = await startFakeServer(() => ({ status: 403, body: { error: 'access_denied', message: 'no' } }));
    tokens = await startTokenEndpoint({ token: () => fakeJwt({ repository: 'acme/web' }) });
    const fc = fakeCore({ 'exchanger-url': server.url, role: 'r' });
    await run(fakeDeps(fc, tokens.env));
    expect(fc.failed[0]).toMatch(/^ {2}environment +\(not in token\)$/m);
  });

  it.each([
    {
      error: 'invalid_token',
      says: "rejected the job's OIDC token (401 invalid_token, request_id req_401)",
      hint: 'audience',
    },
    { error: 'token_replayed', says: '401 token_replayed, request_id req_401', hint: 'fresh OIDC token' },
  ])('on 401 $error says so with the request_id', async ({ error, says, hint }) => {
    const fc = await runWith({
      status: 401,
      body: { error, message: 'aud mismatch', request_id: 'req_401' },
    });
    expect(fc.failed[0]).toContain(says);
    expect(fc.failed[0]).toContain('aud mismatch');
    expect(fc.failed[0]).toContain(hint);
  });

  it('on 400 names the role, the reason and the request_id', async () => {
    const fc = await runWith({
      status: 400,
      body: {
        error: 'invalid_request',
        message: 'duration 2h is over the role max 1h',
        request_id: 'req_400',
      },
    });
    expect(fc.failed[0]).toContain(
      "refused the request for role 'deploy-web-prod' (400 invalid_request, request_id req_400)",
    );
    expect(fc.failed[0]).toContain('duration 2h is over the role max 1h');
  });

  it('without ACTIONS_ID_TOKEN_REQUEST_URL asks for `permissions: id-token: write` and mentions forks', async () => {
    server = await startFakeServer(() => ({ status: 500 }));
    const fc = fakeCore({ 'exchanger-url': server.url, role: 'r' });
    await run(fakeDeps(fc, {}));
    expect(fc.failed).toHaveLength(1);
    expect(fc.failed[0]).toContain('permissions: id-token: write');
    expect(fc.failed[0]).toMatch(/fork/i);
    expect(server.requests).toHaveLength(0);
  });

  it('fails on bad inputs before any request', async () => {
    server = await startFakeServer(() => ({ status: 500 }));
    const fc = fakeCore({ 'exchanger-url': server.url, role: 'r', revoke: 'maybe' });
    await run(fakeDeps(fc, {}));
    expect(fc.failed[0]).toContain("input 'revoke': must be true or false, got 'maybe'");
    expect(fc.calls.some((c) => c.method === 'send')).toBe(false);
  });

  it('refuses an answer without the credentials, quoting no value', async () => {
    const fc = await runWith({
      status: 200,
      body: { ...AWS_LEASE, credentials: { access_key_id: 'AKIA_ONLY' } },
    });
    expect(fc.failed[0]).toContain("lacks a valid 'credentials.secret_access_key'");
    expect(fc.failed[0]).not.toContain('AKIA_ONLY');
  });

  it('refuses an answer whose expires_at is not a time (the refresh agent times renewals by it)', async () => {
    const fc = await runWith({ status: 200, body: { ...AWS_LEASE, expires_at: 'soon' } });
    expect(fc.failed[0]).toContain("lacks a valid 'expires_at'");
  });
});
