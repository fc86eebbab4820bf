/**
 * `jitkey serve` and the console's configuration: on with the App's OAuth client, off with
 * `--no-console`, and a half configuration stops the start saying what to set.
 */
import { expect, it } from 'vitest';
import { startExchanger } from '../support/exchanger-process.js';
import { githubAppEnv, startGithubStandin } from '../support/github-standin.js';
import { policyFor } from '../support/stack.js';
import { CLIENT } from './support.js';

const POLICY = policyFor('https://token.actions.githubusercontent.com');

it('serves the console with the OAuth client configured, and not with --no-console', async () => {
  const gh = await startGithubStandin();
  const env = {
    ...githubAppEnv(gh),
    JITKEY_PUBLIC_URL: 'http://127.0.0.1:9',
    JITKEY_GITHUB_APP_CLIENT_ID: CLIENT.clientId,
    JITKEY_GITHUB_APP_CLIENT_SECRET: CLIENT.clientSecret,
  };
  const on = await startExchanger({ policy: POLICY, env });
  const off = await startExchanger({ policy: POLICY, env, args: ['--no-console'] });
  try {
    const page = await fetch(`${on.url}/console/`);
    expect(page.status).toBe(401); // the sign-in page
    expect(page.headers.get('content-type')).toBe('text/html; charset=utf-8');
    const none = await fetch(`${off.url}/console/`);
    expect(none.status).toBe(404);
    expect(((await none.json()) as { error: string }).error).toBe('not_found');
    // The API is unchanged beside it.
    expect((await fetch(`${on.url}/healthz`)).status).toBe(200);
  } finally {
    await Promise.all([on.stop(), off.stop(), gh.stop()]);
  }
});

it('refuses to start with half a console configuration, naming what to set', async () => {
  const gh = await startGithubStandin();
  try {
    await expect(
      startExchanger({
        policy: POLICY,
        env: { ...githubAppEnv(gh), JITKEY_GITHUB_APP_CLIENT_ID: CLIENT.clientId },
      }),
    ).rejects.toThrow(/both JITKEY_GITHUB_APP_CLIENT_ID and JITKEY_GITHUB_APP_CLIENT_SECRET/);
    await expect(
      startExchanger({
        policy: POLICY,
        env: {
          ...githubAppEnv(gh),
          JITKEY_GITHUB_APP_CLIENT_ID: CLIENT.clientId,
          JITKEY_GITHUB_APP_CLIENT_SECRET: CLIENT.clientSecret,
        },
      }),
    ).rejects.toThrow(/the console needs JITKEY_PUBLIC_URL/);
  } finally {
    await gh.stop();
  }
});
