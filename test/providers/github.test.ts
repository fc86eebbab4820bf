/**
 * The github provider and the shared GitHub App client through the real `@octokit/rest`, against
 * the loopback GitHub stand-in.
 */
import { createHash, generateKeyPairSync } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeJwt, decodeProtectedHeader } from 'jose';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createGithubApp } from '../../exchanger/github/app.js';
import { actionsIssuerOf, githubAppConfigFromEnv } from '../../exchanger/github/config.js';
import { parseAppPrivateKey, signAppJwt } from '../../exchanger/github/jwt.js';
import type { Role } from '../../exchanger/policy/model/types.js';
import { createGithubProvider, type GithubProvider } from '../../exchanger/providers/github.js';
import {
  type GithubStandin,
  type GithubStandinOptions,
  startGithubStandin,
} from '../support/github-standin.js';
import { rejection } from '../support/rejection.js';
import { mintRequestFor as request } from './mint-request.js';

const STANDIN: GithubStandinOptions = {
  installations: [
    {
      owner: 'acme',
      permissions: {
        contents: 'write',
        pull_requests: 'write',
        issues: 'read',
        metadata: 'read',
        actions: 'read',
      },
      repositories: ['web', 'infra'],
    },
    { owner: 'octo-user', type: 'User', permissions: { contents: 'read' }, repositories: ['dotfiles'] },
  ],
};

function role(github: Partial<NonNullable<Role['github']>> = {}, name = 'bump-deps'): Role {
  return {
    name,
    provider: 'github',
    github: {
      owner: 'acme',
      repositories: ['infra'],
      permissions: { contents: 'write', pull_requests: 'write' },
      ...github,
    },
    durationSeconds: 900,
    maxDurationSeconds: 3600,
    allow: [],
    deny: [],
    requireProtectedEnvironment: false,
  };
}

let gh: GithubStandin;
let provider: GithubProvider;

beforeEach(async () => {
  gh = await startGithubStandin(STANDIN);
  provider = createGithubProvider({ appId: gh.appId, privateKey: gh.privateKeyPem, apiUrl: gh.url });
});

afterEach(async () => {
  await gh.stop();
});

const paths = () => gh.requests.map((r) => `${r.method} ${r.path} ${r.status}`);

describe('github provider', () => {
  it('mints an installation token for exactly the role repositories and permissions', async () => {
    const minted = await provider.mint(request(role()));

    expect(gh.issued).toHaveLength(1);
    const issued = gh.issued[0]!;
    expect(issued.token).toMatch(/^ghs_[A-Za-z0-9]{36}$/);
    expect(minted).toEqual({
      credentials: {
        token: issued.token,
        permissions: { contents: 'write', pull_requests: 'write' },
        repositories: ['acme/infra'],
      },
      expiresAt: issued.expiresAt,
      revocationSecret: issued.token,
      // What GitHub's audit log names the token by (base64 SHA-256), never the token itself.
      activityKey: {
        keyId: createHash('sha256').update(issued.token).digest('base64'),
        account: 'acme',
        region: new URL(gh.url).host,
      },
    });
    expect(paths()).toEqual([
      'GET /orgs/acme/installation 200',
      'POST /app/installations/1000/access_tokens 201',
    ]);
    expect(gh.requests[1]).toMatchObject({
      auth: { kind: 'app' },
      body: { repositories: ['infra'], permissions: { contents: 'write', pull_requests: 'write' } },
    });
  });

  it("uses GitHub's expiry (one hour) as the lease expiry", async () => {
    const before = Date.now();
    const minted = await provider.mint(request(role()));
    const after = Date.now();
    // GitHub's clock + 1 h, to the second. Not `≤ before + 1 h`: that failed whenever the mint
    // crossed a second boundary (a slow, loaded machine), as GitHub's clock had moved on too.
    const expires = minted.expiresAt.getTime();
    expect(expires).toBeGreaterThanOrEqual(Math.floor(before / 1000) * 1000 + 3600_000);
    expect(expires).toBeLessThanOrEqual(after + 3600_000);
  });

  it("maps permissions beyond the installation's to upstream_error 422", async () => {
    const e = await rejection(
      provider.mint(request(role({ permissions: { contents: 'write', administration: 'write' } }))),
    );
    expect(e.code).toBe('upstream_error');
    expect(e.status).toBe(502);
    expect(e.message).toContain('HTTP 422');
    expect(e.message).toContain('The permissions requested are not granted to this installation.');
    expect(e.message).toContain("permissions beyond the installation's");
    expect(gh.issued).toHaveLength(0);
  });

  it('maps a higher level than the installation grants to 422', async () => {
    const e = await rejection(provider.mint(request(role({ permissions: { issues: 'write' } }))));
    expect(e.message).toContain('HTTP 422');
  });

  it('maps a repository outside the installation to 422', async () => {
    const e = await rejection(provider.mint(request(role({ repositories: ['secret-repo'] }))));
    expect(e.code).toBe('upstream_error');
    expect(e.message).toContain('HTTP 422');
    expect(e.message).toContain('repository that does not exist or is not accessible');
  });

  it('caches the installation id per owner', async () => {
    await provider.mint(request(role()));
    await provider.mint(request(role({ repositories: ['web'] })));
    await provider.mint(request(role({ owner: 'ACME' })));
    expect(gh.requests.filter((r) => r.path.endsWith('/installation'))).toHaveLength(1);
    expect(gh.issued).toHaveLength(3);
  });

  it('finds a user account installation through /users/{owner}/installation after the org lookup 404s', async () => {
    const minted = await provider.mint(
      request(role({ owner: 'octo-user', repositories: ['dotfiles'], permissions: { contents: 'read' } })),
    );
    expect(minted.credentials).toMatchObject({
      repositories: ['octo-user/dotfiles'],
      permissions: { contents: 'read' },
    });
    expect(paths().slice(0, 2)).toEqual([
      'GET /orgs/octo-user/installation 404',
      'GET /users/octo-user/installation 200',
    ]);
  });

  it('says so when the App is not installed on the owner', async () => {
    const e = await rejection(provider.mint(request(role({ owner: 'nobody' }))));
    expect(e.code).toBe('upstream_error');
    expect(e.message).toContain("the GitHub App is not installed on 'nobody'");
  });

  it('revokes the token with DELETE /installation/token', async () => {
    const minted = await provider.mint(request(role()));
    await provider.revoke!(role(), minted.revocationSecret!);
    expect(gh.revocations).toEqual([minted.revocationSecret]);
    expect(gh.tokenInfo(minted.revocationSecret!)).toBeUndefined();
    expect(gh.requests.at(-1)).toMatchObject({
      method: 'DELETE',
      path: '/installation/token',
      status: 204,
      auth: { kind: 'installation', token: minted.revocationSecret },
    });
  });

  it('treats a token GitHub no longer accepts (401) as revoked', async () => {
    const minted = await provider.mint(request(role()));
    await provider.revoke!(role(), minted.revocationSecret!);
    await expect(provider.revoke!(role(), minted.revocationSecret!)).resolves.toBeUndefined();
    expect(gh.requests.at(-1)).toMatchObject({ path: '/installation/token', status: 401 });
    expect(gh.revocations).toHaveLength(1);
  });

  it('maps a GitHub server error to upstream_error naming the status', async () => {
    gh.failNext({ method: 'POST', path: /access_tokens$/ }, 503);
    const e = await rejection(provider.mint(request(role())));
    expect(e.code).toBe('upstream_error');
    expect(e.message).toContain('HTTP 503');
  });

  it('maps an unreachable API to upstream_error', async () => {
    const down = createGithubProvider({
      appId: gh.appId,
      privateKey: gh.privateKeyPem,
      apiUrl: 'http://127.0.0.1:9',
    });
    const e = await rejection(down.mint(request(role())));
    expect(e.code).toBe('upstream_error');
    expect(e.message).toContain('no answer');
  });

  it('works against a GHES-style API path (https://HOST/api/v3)', async () => {
    const ghes = await startGithubStandin({ ...STANDIN, pathPrefix: '/api/v3' });
    try {
      const p = createGithubProvider({ appId: ghes.appId, privateKey: ghes.privateKeyPem, apiUrl: ghes.url });
      const minted = await p.mint(request(role()));
      expect(minted.credentials).toMatchObject({ repositories: ['acme/infra'] });
      expect(ghes.url).toMatch(/\/api\/v3$/);
    } finally {
      await ghes.stop();
    }
  });

  it('reports an App JWT GitHub rejects (wrong key) with a hint', async () => {
    const other = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({
      type: 'pkcs8',
      format: 'pem',
    });
    const wrong = createGithubProvider({ appId: gh.appId, privateKey: other.toString(), apiUrl: gh.url });
    const e = await rejection(wrong.mint(request(role())));
    expect(e.code).toBe('upstream_error');
    expect(e.message).toContain('HTTP 401');
    expect(e.message).toContain("GitHub rejected the App's JWT");
    expect(e.message).not.toMatch(/eyJ/);
  });

  it('shares one App client with whoever asks for `.app`', () => {
    const shared = createGithubProvider({ app: provider.app });
    expect(shared.app).toBe(provider.app);
  });
});

describe('GitHub App client (shared with approvals)', () => {
  it('GET /user answers who holds a token; an unknown token is invalid_token', async () => {
    gh.addUserToken('gho_alice', { login: 'alice', id: 1001 });
    expect(await provider.app.getUser('gho_alice')).toEqual({ login: 'alice', id: 1001 });
    const e = await rejection(provider.app.getUser('gho_nobody'));
    expect(e.code).toBe('invalid_token');
  });

  it('team membership through an installation token with members: read', async () => {
    gh.addInstallation({ owner: 'corp', permissions: { members: 'read' }, repositories: [] });
    gh.setTeam('corp/deployers', ['alice']);
    const app = createGithubApp({ appId: gh.appId, privateKey: gh.privateKeyPem, apiUrl: gh.url });
    expect(await app.isTeamMember('corp', 'deployers', 'Alice')).toBe(true);
    expect(await app.isTeamMember('corp', 'deployers', 'bob')).toBe(false);
    expect(await app.isTeamMember('corp', 'other-team', 'alice')).toBe(false);
    // one internal token, reused
    expect(gh.issued).toHaveLength(1);
    expect(gh.issued[0]?.permissions).toEqual({ members: 'read' });
  });

  it('team membership: an installation without members: read says which permission is missing', async () => {
    const e = await rejection(provider.app.isTeamMember('acme', 'deployers', 'alice'));
    expect(e.code).toBe('upstream_error');
    expect(e.message).toContain('needs members: read');
  });
});

describe('GitHub App JWT and configuration', () => {
  it('signs RS256 with iss = app id, iat = now − 60 s, exp 9 minutes ahead', async () => {
    const now = new Date('2030-01-01T00:00:00Z');
    const { jwt } = await signAppJwt('424242', parseAppPrivateKey(gh.privateKeyPem), now);
    expect(decodeProtectedHeader(jwt)).toEqual({ alg: 'RS256', typ: 'JWT' });
    const t = now.getTime() / 1000;
    expect(decodeJwt(jwt)).toEqual({ iss: '424242', iat: t - 60, exp: t + 540 });
  });

  it('reads the App settings from the environment', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'jitkey-gh-'));
    try {
      const file = join(dir, 'app.pem');
      await writeFile(file, gh.privateKeyPem);
      expect(
        githubAppConfigFromEnv({ JITKEY_GITHUB_APP_ID: '42', JITKEY_GITHUB_APP_PRIVATE_KEY_FILE: file }),
      ).toEqual({
        appId: '42',
        privateKey: gh.privateKeyPem,
        apiUrl: 'https://api.github.com',
      });
      const oneLine = gh.privateKeyPem.replace(/\n/g, '\\n');
      const config = githubAppConfigFromEnv({
        JITKEY_GITHUB_APP_ID: '42',
        JITKEY_GITHUB_APP_PRIVATE_KEY: oneLine,
        JITKEY_GITHUB_API_URL: 'https://ghe.acme.internal/api/v3/',
      });
      expect(config?.apiUrl).toBe('https://ghe.acme.internal/api/v3');
      expect(parseAppPrivateKey(config!.privateKey).asymmetricKeyType).toBe('rsa');
      expect(githubAppConfigFromEnv({})).toBeUndefined();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it.each([
    ['a key without an id', { JITKEY_GITHUB_APP_PRIVATE_KEY: 'x' }, 'JITKEY_GITHUB_APP_ID is required'],
    ['an id without a key', { JITKEY_GITHUB_APP_ID: '1' }, 'is required with JITKEY_GITHUB_APP_ID'],
    [
      'both key sources',
      {
        JITKEY_GITHUB_APP_ID: '1',
        JITKEY_GITHUB_APP_PRIVATE_KEY: 'x',
        JITKEY_GITHUB_APP_PRIVATE_KEY_FILE: '/k',
      },
      'not both',
    ],
    [
      'http on a non-loopback host',
      {
        JITKEY_GITHUB_APP_ID: '1',
        JITKEY_GITHUB_APP_PRIVATE_KEY: 'x',
        JITKEY_GITHUB_API_URL: 'http://ghe.acme.internal/api/v3',
      },
      'only on loopback',
    ],
  ])('refuses %s', (_name, env, message) => {
    expect(() => githubAppConfigFromEnv(env)).toThrow(message);
  });

  it('refuses a private key that is not an RSA PEM, without quoting it', () => {
    expect(() => createGithubApp({ appId: '1', privateKey: 'not-a-key-secret' })).toThrow(
      /not a PEM private key/,
    );
    expect(() => createGithubApp({ appId: '1', privateKey: 'not-a-key-secret' })).not.toThrow(/secret/);
  });
});

describe('actionsIssuerOf: whose Actions tokens the App’s GitHub issues', () => {
  it.each([
    ['https://api.github.com', 'https://token.actions.githubusercontent.com'],
    ['https://api.acme.ghe.com', 'https://token.actions.acme.ghe.com'],
    ['https://ghes.acme.example/api/v3', 'https://ghes.acme.example/_services/token'],
    ['http://127.0.0.1:8080', undefined],
  ])('%s → %s', (api, issuer) => {
    expect(actionsIssuerOf(api)).toBe(issuer);
  });
});
