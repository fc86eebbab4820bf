/**
 * The built Action against `jitkey serve` for a GitHub App role: GH_TOKEN is the installation token
 * the (stand-in) GitHub API issued, and the post step's revocation reaches GitHub itself.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { githubRole, startGithubStack } from '../support/github-stack.js';
import type { GithubStandin } from '../support/github-standin.js';
import {
  actionNodes,
  actionRunner,
  assertMaskedFirst,
  assertNoLeaks,
  errors,
  log,
} from '../support/runner.js';
import type { Stack } from '../support/stack.js';
import { startTokenEndpoint, type TokenEndpoint } from '../support/token-endpoint.js';

let gh: GithubStandin;
let stack: Stack;
let tokens: TokenEndpoint;

beforeAll(async () => {
  ({ gh, stack } = await startGithubStack({
    roles: githubRole(),
    installations: [
      { owner: 'acme', permissions: { contents: 'write', metadata: 'read' }, repositories: ['web', 'infra'] },
    ],
  }));
  tokens = await startTokenEndpoint({ token: (aud) => stack.idp.mint({ aud }) });
});
afterAll(async () => {
  await tokens?.stop();
  await stack?.stop();
  await gh?.stop();
});

describe.each(actionNodes())('e2e: the Action against jitkey serve (GitHub App), on $name', (node) => {
  const { runMain, runPost } = actionRunner(node.path);
  it('exports GH_TOKEN as issued, and the post step revokes it at GitHub', async () => {
    const main = await runMain({
      inputs: { 'exchanger-url': stack.exchanger.url, role: 'bump-deps' },
      env: { ...tokens.env, GITHUB_REPOSITORY: 'acme/web', GITHUB_RUN_ID: '1' },
    });
    expect(errors(main), log(main)).toEqual([]);
    const issued = gh.issued.at(-1)!;
    expect(issued).toMatchObject({
      owner: 'acme',
      repositories: ['infra'],
      permissions: { contents: 'write' },
    });
    expect(main.env).toEqual({ GH_TOKEN: issued.token });
    expect(main.outputs.provider).toBe('github');
    const secrets = {
      ghToken: issued.token,
      revokeToken: main.state.revoke_token!,
      oidc: tokens.issued.at(-1)!,
    };
    assertMaskedFirst(main, Object.values(secrets));
    assertNoLeaks(main, secrets, { env: ['GH_TOKEN'], state: ['revoke_token'] });
    expect(main.summary).toContain('| Provider | github |');

    const post = await runPost(main);
    expect(post.exitCode, log(post)).toBe(0);
    expect(post.commands.filter((c) => c.command === 'warning')).toEqual([]);
    expect(gh.revocations).toContain(issued.token);
    expect(post.env).toEqual({ GH_TOKEN: '' });
    assertNoLeaks(post, secrets);
  });
});
