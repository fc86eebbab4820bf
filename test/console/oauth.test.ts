/**
 * The console's side of GitHub's OAuth web flow (`exchanger/console/oauth.ts`) against the GitHub
 * stand-in, which checks what GitHub checks: the client secret, the code (once), `redirect_uri`
 * and the PKCE verifier. Each refusal reaches the person as words to act on, never the secret.
 */
import { createServer } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ConsoleConfig } from '../../exchanger/console/config.js';
import { exchangeCode, startSignIn } from '../../exchanger/console/oauth.js';
import { type GithubStandin, startGithubStandin } from '../support/github-standin.js';
import { useLoopbackServers } from '../support/loopback-servers.js';

const listen = useLoopbackServers();
const CALLBACK = 'http://127.0.0.1:9/console/auth/callback';
let gh: GithubStandin;
let config: ConsoleConfig;

beforeAll(async () => {
  gh = await startGithubStandin({
    users: { gho_alice: { login: 'alice', id: 1001 } },
    oauth: { clientId: 'Iv23test', clientSecret: 'right-secret', callbackUrl: CALLBACK },
  });
  config = {
    clientId: 'Iv23test',
    clientSecret: 'right-secret',
    origin: 'http://127.0.0.1:9',
    redirectUri: CALLBACK,
    githubWebUrl: gh.url,
  };
});
afterAll(() => gh?.stop());

/** Authorizes on the stand-in's page as `login`; the code and state GitHub sends back. */
async function authorize(url: string, login = 'alice'): Promise<{ code: string; state: string }> {
  const page = await fetch(url);
  expect(page.status).toBe(200);
  expect(await page.text()).toContain('Authorize');
  const form = new URLSearchParams(new URL(url).searchParams);
  form.set('login', login);
  const res = await fetch(`${gh.url}/login/oauth/authorize`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: form.toString(),
    redirect: 'manual',
  });
  expect(res.status).toBe(302);
  const back = new URL(res.headers.get('location')!);
  expect(`${back.origin}${back.pathname}`).toBe(CALLBACK);
  return { code: back.searchParams.get('code')!, state: back.searchParams.get('state')! };
}

describe('the OAuth web flow', () => {
  it('asks with state and an S256 challenge, and gets a token GET /user answers for, once', async () => {
    const start = startSignIn(config);
    const asked = new URL(start.url).searchParams;
    expect(asked.get('code_challenge_method')).toBe('S256');
    expect(asked.get('redirect_uri')).toBe(CALLBACK);
    expect(asked.get('code_challenge')).not.toContain(start.verifier);
    const { code, state } = await authorize(start.url);
    expect(state).toBe(start.state);
    const token = await exchangeCode(config, fetch, code, start.verifier);
    const user = await fetch(`${gh.url}/user`, { headers: { authorization: `token ${token}` } });
    expect(await user.json()).toMatchObject({ login: 'alice', id: 1001 });
    await expect(exchangeCode(config, fetch, code, start.verifier)).rejects.toMatchObject({
      code: 'invalid_request',
      message: expect.stringContaining('(bad_verification_code)'),
    });
  });

  it('is refused with another verifier, another secret or another redirect_uri', async () => {
    const a = startSignIn(config);
    const first = await authorize(a.url);
    await expect(exchangeCode(config, fetch, first.code, startSignIn(config).verifier)).rejects.toThrow(
      /GitHub did not accept the sign-in \(bad_verification_code\)/,
    );
    const b = startSignIn(config);
    const second = await authorize(b.url);
    const wrong = { ...config, clientSecret: 'wrong-secret' };
    const refused = exchangeCode(wrong, fetch, second.code, b.verifier);
    await expect(refused).rejects.toThrow(/incorrect_client_credentials.*JITKEY_GITHUB_APP_CLIENT_SECRET/);
    await expect(refused).rejects.not.toThrow(/wrong-secret/);
    const c = startSignIn(config);
    const third = await authorize(c.url);
    await expect(
      exchangeCode({ ...config, redirectUri: 'http://127.0.0.1:9/elsewhere' }, fetch, third.code, c.verifier),
    ).rejects.toThrow(/redirect_uri_mismatch/);
    expect(gh.oauth!.exchanges.map((e) => e.outcome)).toEqual(
      expect.arrayContaining([
        'bad_verification_code',
        'incorrect_client_credentials',
        'redirect_uri_mismatch',
      ]),
    );
  });

  it('is refused on GitHub’s page for a callback URL the client did not register', async () => {
    const start = startSignIn({ ...config, redirectUri: 'https://evil.example/console/auth/callback' });
    const page = await fetch(start.url);
    expect(page.status).toBe(400);
    expect(await page.text()).toContain('redirect_uri is not associated with this application');
  });

  it('does not follow a redirect with the client secret, and says to try again', async () => {
    const seen: string[] = [];
    const serve = async (handler: Parameters<typeof createServer>[1]) => ({
      url: `http://127.0.0.1:${await listen(createServer(handler))}`,
    });
    const elsewhere = await serve((req, res) => {
      seen.push(req.url ?? '');
      res.end('{"access_token":"gho_elsewhere"}');
    });
    const moved = await serve((_req, res) =>
      res.writeHead(307, { location: `${elsewhere.url}/login/oauth/access_token` }).end(),
    );
    const refused = exchangeCode({ ...config, githubWebUrl: moved.url }, fetch, 'code', 'verifier');
    await expect(refused).rejects.toMatchObject({
      code: 'upstream_error',
      message: 'GitHub could not be reached to finish the sign-in: try again',
    });
    expect(seen).toEqual([]);
  });
});
