/**
 * The built Action behind a proxy, as on a self-hosted runner: the exchanger is an https address
 * only the proxy can resolve (jitkey.test, reached by CONNECT), the runner's token endpoint a
 * plain-http one (runner.test, sent to the proxy in absolute form). The proxy records what passed.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ConnectProxy, startConnectProxy } from '../support/connect-proxy.js';
import { errors, runMain, runPost } from '../support/runner.js';
import { type Stack, startStack } from '../support/stack.js';
import { HOSTS_PRELOAD, startTlsFront, TEST_CA, type TlsFront } from '../support/tls-front.js';
import { startTokenEndpoint, type TokenEndpoint } from '../support/token-endpoint.js';

const CREDENTIALS = { user: 'ci@corp', password: 'pr0xy:s3cret/pw' };
const JOB_ENV = { GITHUB_REPOSITORY: 'acme/web', GITHUB_RUN_ID: '9876543210', GITHUB_RUN_ATTEMPT: '1' };

let stack: Stack;
let tokens: TokenEndpoint;
let front: TlsFront;
let proxy: ConnectProxy;

beforeAll(async () => {
  stack = await startStack();
  tokens = await startTokenEndpoint({ token: (aud) => stack.idp.mint({ aud }) });
  front = await startTlsFront(Number(new URL(stack.exchanger.url).port));
  proxy = await startConnectProxy({
    hosts: { 'jitkey.test': '127.0.0.1', 'runner.test': '127.0.0.1' },
    credentials: CREDENTIALS,
  });
});
afterAll(async () => {
  await proxy?.stop();
  await front?.stop();
  await tokens?.stop();
  await stack?.stop();
});

const exchangerUrl = () => `https://jitkey.test:${front.port}`;
const tokenUrl = () => tokens.url.replace('127.0.0.1', 'runner.test');
const proxyUrl = (password = CREDENTIALS.password) =>
  `http://${encodeURIComponent(CREDENTIALS.user)}:${encodeURIComponent(password)}@127.0.0.1:${proxy.port}`;
const stepEnv = (extra: Record<string, string>) => ({
  ...JOB_ENV,
  ACTIONS_ID_TOKEN_REQUEST_URL: tokenUrl(),
  ACTIONS_ID_TOKEN_REQUEST_TOKEN: tokens.requestToken,
  NODE_EXTRA_CA_CERTS: TEST_CA,
  ...extra,
});

describe('the Action behind a proxy', () => {
  it('reaches the token endpoint and the exchanger through HTTP(S)_PROXY, with the proxy credentials', async () => {
    const before = proxy.records.length;
    const main = await runMain({
      inputs: { 'exchanger-url': exchangerUrl(), role: 'deploy' },
      // Lower case for https, upper case for http: both spellings are read.
      env: stepEnv({ https_proxy: proxyUrl(), HTTP_PROXY: proxyUrl() }),
    });
    expect(errors(main)).toEqual([]);
    expect(main.exitCode).toBe(0);
    expect(main.env.AWS_ACCESS_KEY_ID).toMatch(/^ASIA/);

    const passed = proxy.records.slice(before);
    expect(passed).toEqual([
      {
        method: 'GET',
        target: `${tokenUrl()}&audience=jitkey`,
        authorized: true,
        sentCredentials: true,
      },
      { method: 'CONNECT', target: `jitkey.test:${front.port}`, authorized: true, sentCredentials: true },
    ]);
    // Inside the tunnel the proxy sees TLS only: never the OIDC token or the credentials.
    const tunnelled = proxy.tunnelled().toString('latin1');
    expect(tokens.issued.at(-1)).toBeTruthy();
    expect(tunnelled).not.toContain(tokens.issued.at(-1));
    expect(tunnelled).not.toContain('v1/exchange');
    for (const text of [main.stdout, main.stderr, main.summary]) {
      expect(text).not.toContain(CREDENTIALS.password);
      expect(text).not.toContain(encodeURIComponent(CREDENTIALS.password));
    }

    const post = await runPost(main, { env: { https_proxy: proxyUrl(), NODE_EXTRA_CA_CERTS: TEST_CA } });
    expect(post.exitCode).toBe(0);
    expect(post.stdout).toContain(`jitkey: revoked lease ${main.outputs['lease-id']}.`);
    expect(proxy.records.slice(before + passed.length)).toEqual([
      { method: 'CONNECT', target: `jitkey.test:${front.port}`, authorized: true, sentCredentials: true },
    ]);
  });

  it('goes direct to hosts NO_PROXY names (domain suffix, leading dot)', async () => {
    const before = proxy.records.length;
    const main = await runMain({
      inputs: { 'exchanger-url': exchangerUrl(), role: 'deploy' },
      env: stepEnv({
        HTTPS_PROXY: proxyUrl(),
        HTTP_PROXY: proxyUrl(),
        NO_PROXY: 'example.com, .test',
        // The step resolves *.test itself, as a hosts file on the runner would make it.
        NODE_OPTIONS: `--require ${HOSTS_PRELOAD}`,
      }),
    });
    expect(errors(main)).toEqual([]);
    expect(main.exitCode).toBe(0);
    expect(main.env.AWS_ACCESS_KEY_ID).toMatch(/^ASIA/);
    expect(proxy.records.slice(before)).toEqual([]);
  });

  it('fails with a message naming the variable when the proxy refuses its credentials, without quoting them', async () => {
    const before = proxy.records.length;
    const main = await runMain({
      inputs: { 'exchanger-url': exchangerUrl(), role: 'deploy', retries: '1' },
      env: stepEnv({ HTTPS_PROXY: proxyUrl('wrong-password'), HTTP_PROXY: proxyUrl('wrong-password') }),
    });
    expect(main.exitCode).toBe(1);
    expect(errors(main)).toEqual([
      `The proxy http://127.0.0.1:${proxy.port} (HTTP_PROXY) wants credentials (407 Proxy Authentication Required): it refused the user and password in HTTP_PROXY`,
    ]);
    // Refused at once: a wrong password is not retried.
    expect(proxy.records.slice(before)).toHaveLength(1);
    expect(`${main.stdout}${main.stderr}`).not.toContain('wrong-password');
  });
});
