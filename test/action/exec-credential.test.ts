/**
 * The Kubernetes exec credential plugin of `refresh: true`: the ExecCredential the agent's
 * kubernetes kind answers, the exec user written into the kubeconfig, and what the plugin prints
 * (and refuses) for each answer of the agent, against a real server on loopback.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { execCredentialResult, runExecCredential } from '../../src/agent/exec-credential.js';
import { EXEC_CREDENTIAL_PATH, execCredential, KINDS } from '../../src/agent/kinds.js';
import type { Lease } from '../../src/shared/api.js';
import { execUser, kubeconfigDocument } from '../../src/shared/kubeconfig.js';
import { MAX_RESPONSE_BYTES } from '../../src/transport/http.js';

const lease: Extract<Lease, { provider: 'kubernetes' }> = {
  leaseId: 'lease_k1',
  revokeToken: 'rt',
  role: 'deploy-web',
  expiresAt: '2030-01-01T00:10:00.123Z',
  provider: 'kubernetes',
  credentials: {
    server: 'https://k8s.acme.internal',
    namespace: 'web',
    token: 'sa-token-1',
    expires_at: '2030-01-01T00:10:00.123Z',
  },
};
const kind = KINDS.kubernetes!;
const get = (path: string, method = 'GET') => ({ method, path, headers: {} });

describe('the kubernetes credential kind', () => {
  it('answers the ExecCredential: token and the lease end in whole RFC 3339 seconds', () => {
    const answer = kind.answer(get(EXEC_CREDENTIAL_PATH), lease, 0);
    expect(answer?.status).toBe(200);
    expect(JSON.parse(answer!.body)).toEqual({
      apiVersion: 'client.authentication.k8s.io/v1',
      kind: 'ExecCredential',
      status: { token: 'sa-token-1', expirationTimestamp: '2030-01-01T00:10:00Z' },
    });
    expect(execCredential('t', '2030-01-01T00:10:00Z').status.expirationTimestamp).toBe(
      '2030-01-01T00:10:00Z',
    );
  });

  it('needs the bearer, answers only GET on its path, and only for kubernetes leases', () => {
    expect(kind.bearer).toBe(true);
    expect(kind.answer(get(EXEC_CREDENTIAL_PATH, 'POST'), lease, 0)?.status).toBe(405);
    expect(kind.answer(get('/aws/credentials'), lease, 0)).toBeUndefined();
    const aws = { ...lease, provider: 'aws' } as unknown as Lease;
    expect(kind.answer(get(EXEC_CREDENTIAL_PATH), aws, 0)).toBeUndefined();
    expect(kind.exports({ origin: 'http://127.0.0.1:1', host: '127.0.0.1:1', bearer: 'b' }, lease)).toEqual(
      [],
    );
  });
});

describe('the kubeconfig exec user', () => {
  it('runs node with the agent script; the agent URL and bearer are env entries, not arguments', () => {
    const user = execUser({
      node: '/opt/node',
      script: '/a/dist/agent/index.js',
      origin: 'http://127.0.0.1:9',
      bearer: 'B',
    });
    const doc = kubeconfigDocument(lease, user);
    expect(doc.users[0]!.user).toEqual({
      exec: {
        apiVersion: 'client.authentication.k8s.io/v1',
        command: '/opt/node',
        args: ['/a/dist/agent/index.js', 'exec-credential'],
        env: [
          { name: 'JITKEY_AGENT_URL', value: 'http://127.0.0.1:9' },
          { name: 'JITKEY_AGENT_TOKEN', value: 'B' },
        ],
        interactiveMode: 'Never',
        provideClusterInfo: false,
        installHint: expect.stringContaining('jitkey Action'),
      },
    });
    expect(JSON.stringify(doc)).not.toContain('sa-token-1');
  });
});

describe('what the plugin prints', () => {
  const origin = 'http://127.0.0.1:7';
  it('passes a valid ExecCredential through on stdout', () => {
    const body = JSON.stringify(execCredential('tok', lease.expiresAt));
    expect(execCredentialResult(origin, { status: 200, body })).toEqual({
      code: 0,
      stdout: `${body}\n`,
      stderr: '',
    });
  });

  it('prints nothing on stdout and says why on stderr otherwise', () => {
    expect(execCredentialResult(origin, { error: 'connect ECONNREFUSED 127.0.0.1:7' })).toEqual({
      code: 1,
      stdout: '',
      stderr:
        "jitkey: the credentials agent at http://127.0.0.1:7 did not answer (connect ECONNREFUSED 127.0.0.1:7); it runs only between this job's jitkey step and its post step, which stops it and revokes the lease\n",
    });
    expect(
      execCredentialResult(origin, { status: 503, body: JSON.stringify({ message: 'the lease ended' }) })
        .stderr,
    ).toBe('jitkey: the credentials agent at http://127.0.0.1:7 answered 503: the lease ended\n');
    const wrong = execCredentialResult(origin, { status: 200, body: '{"AccessKeyId":"x"}' });
    expect([wrong.code, wrong.stdout]).toEqual([1, '']);
    expect(wrong.stderr).toContain('did not answer an ExecCredential');
  });
});

describe('runExecCredential', () => {
  let server: Server | undefined;
  afterEach(async () => {
    await new Promise((r) => server?.close(r) ?? r(undefined));
    server = undefined;
  });

  it('refuses to run without its env entries, or to send the bearer anywhere but loopback', async () => {
    expect((await runExecCredential({})).stderr).toMatch(
      /JITKEY_AGENT_URL and JITKEY_AGENT_TOKEN are not set/,
    );
    const elsewhere = await runExecCredential({
      JITKEY_AGENT_URL: 'https://evil.example',
      JITKEY_AGENT_TOKEN: 'b',
    });
    expect([elsewhere.code, elsewhere.stderr]).toEqual([
      1,
      "jitkey: JITKEY_AGENT_URL must be the agent's http://127.0.0.1:<port> origin\n",
    ]);
  });

  it('asks the agent path with the bearer and prints its answer', async () => {
    const seen: { url?: string; auth?: string }[] = [];
    server = createServer((req, res) => {
      seen.push({ url: req.url, auth: req.headers.authorization });
      res.end(JSON.stringify(execCredential('tok-2', lease.expiresAt)));
    });
    await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
    const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const result = await runExecCredential({ JITKEY_AGENT_URL: origin, JITKEY_AGENT_TOKEN: 'bear' });
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout).status.token).toBe('tok-2');
    expect(seen).toEqual([{ url: EXEC_CREDENTIAL_PATH, auth: 'Bearer bear' }]);
  });

  it("refuses an answer over the transport's cap (it had no limit), printing nothing on stdout", async () => {
    server = createServer((_req, res) => {
      // No Content-Length: the cap is counted as the body streams in.
      res.write(Buffer.alloc(MAX_RESPONSE_BYTES, ' '));
      res.end('{}');
    });
    await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
    const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const result = await runExecCredential({ JITKEY_AGENT_URL: origin, JITKEY_AGENT_TOKEN: 'bear' });
    expect(result).toEqual({
      code: 1,
      stdout: '',
      stderr: `jitkey: The credentials agent at ${origin} answered 200 with more than ${MAX_RESPONSE_BYTES} bytes; an answer that large is not its own: check the URL\n`,
    });
  });
});
