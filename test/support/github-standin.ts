/**
 * A local GitHub REST API stand-in on 127.0.0.1 (random port) for a GitHub App, closely enough for
 * `@octokit/rest`. For tests, the demo and others' end-to-end tests.
 *
 *   const gh = await startGithubStandin({
 *     installations: [{ owner: 'acme', permissions: { contents: 'write', actions: 'read', members: 'read' },
 *                       repositories: ['web', 'infra'] }],
 *     environments: { 'acme/web': { production: PROTECTED_ENVIRONMENT, staging: {} } },
 *     users: { 'gho_alice': { login: 'alice', id: 1001 } },     // approvers' own tokens
 *     teams: { 'acme/deployers': ['alice'] },
 *   });
 *   createGithubProvider({ appId: gh.appId, privateKey: gh.privateKeyPem, apiUrl: gh.url });
 *   …
 *   gh.requests        // every request: { method, path, query, auth, body?, status, error? }
 *   gh.issued          // every installation token: { token, installationId, owner, permissions, repositories, expiresAt, revoked }
 *   gh.revocations     // tokens revoked through DELETE /installation/token, in order
 *   gh.failNext({ method: 'GET', path: /\/environments\// }, 503, 2)   // the next 2 matching requests fail
 *   const held = gh.holdNext({ method: 'POST', path: /access_tokens$/ })  // the next matching request waits:
 *   await held.arrived; …; held.release()                               // (a slow GitHub, without timers)
 *   gh.setEnvironment('acme/web', 'production', undefined)           // (re)define or delete an environment
 *   gh.addInstallation({...}); gh.addUserToken(token, user); gh.setTeam('acme/deployers', ['bob'])
 *   await gh.stop()
 *
 * Options: `appId` (default '424242'), `privateKeyPem` (default: an RSA key generated once per process,
 * exposed as `gh.privateKeyPem`), `pathPrefix` ('' like api.github.com, '/api/v3' like GHES), `tokenTtlSeconds`
 * (3600), `now`.
 *
 * Like GitHub it checks:
 * - App JWT (`Authorization: Bearer`): RS256 signed by the App key, `iss` = the App id, `exp` in the
 *   future and at most 10 minutes ahead, `iat` not in the future → else 401.
 * - `GET /orgs/{org}/installation` (organization installations only), `GET /users/{user}/installation`,
 *   `GET /repos/{owner}/{repo}/installation`, `GET /app`: App JWT; 404 when not installed.
 * - `POST /app/installations/{id}/access_tokens` `{repositories?, permissions?}`: App JWT; 422 for a
 *   permission the installation lacks or at a lower level, or a repository not in it; 201
 *   `{token: ghs_…, expires_at, permissions, repository_selection, repositories?}`.
 * - `DELETE /installation/token` with an installation token: 204, then the token is dead; 401 for an
 *   unknown, revoked or expired token.
 * - `GET /repos/{owner}/{repo}/environments/{name}` with an installation token that covers the
 *   repository and has `actions: read` (else 403 "Resource not accessible by integration"); 404 when
 *   the repository is not in the installation or has no such environment. Names compare case-insensitively.
 * - `GET /user` with a configured user token → `{login, id}`, else 401.
 * - With `oauth` (a GitHub App's OAuth client), GitHub's web sign-in at the server's root:
 *   `/login/oauth/authorize` (a page with an "Authorize" button) and `/login/oauth/access_token`,
 *   checking the client secret, `redirect_uri`, the code (single use) and PKCE (`github-oauth.ts`).
 * - `GET /orgs/{org}/teams/{slug}/memberships/{user}` with an installation token of `org` with
 *   `members: read` → 200 `{state: 'active', role: 'member'}` or 404.
 * - `GET /repos/{owner}/{repo}/actions/runs/{id}/attempts/{n}` with an installation token that covers
 *   the repository and has `actions: read` (else 403): the attempt with `actor` and `triggering_actor`
 *   (`setRunAttempt`; an attempt not set was started by `defaultRunActor`, octocat id 1, the test
 *   issuer's default actor); 404 for a repository outside the installation.
 * - `GET /orgs/{org}/audit-log` when `addAuditLog(gh, …)` (`github-audit-log.ts`) adds it: the
 *   actions done with installation tokens issued here, searched by `hashed_token`, paged by `Link`.
 * Errors are GitHub's JSON (`{message, documentation_url, status}`). Test-only: never import this from `exchanger/`.
 */
import { createPrivateKey, createPublicKey, generateKeyPair, type KeyObject, randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { promisify } from 'node:util';
import { jwtVerify } from 'jose';
import { type GithubOAuth, githubOAuth, type OAuthClient } from './github-oauth.js';

/** The GitHub App this stand-in plays, as `jitkey serve` reads it from its environment. */
export const githubAppEnv = (gh: Pick<GithubStandin, 'appId' | 'privateKeyPem' | 'url'>) => ({
  JITKEY_GITHUB_APP_ID: gh.appId,
  JITKEY_GITHUB_APP_PRIVATE_KEY: gh.privateKeyPem,
  JITKEY_GITHUB_API_URL: gh.url,
});

export type PermissionLevel = 'read' | 'write' | 'admin';

export interface StandinInstallation {
  id?: number;
  owner: string;
  /** Default `Organization`. */
  type?: 'Organization' | 'User';
  permissions: Record<string, PermissionLevel>;
  /** Repository names (without owner) the installation covers. */
  repositories: string[];
}

export interface StandinEnvironment {
  protection_rules?: Array<{ type: string } & Record<string, unknown>>;
  deployment_branch_policy?: { protected_branches: boolean; custom_branch_policies: boolean } | null;
}

export const PROTECTED_ENVIRONMENT: StandinEnvironment = {
  protection_rules: [
    {
      id: 1,
      type: 'required_reviewers',
      prevent_self_review: true,
      reviewers: [{ type: 'Team', reviewer: { slug: 'deployers' } }],
    },
  ],
  deployment_branch_policy: null,
};
export const BRANCH_POLICY_ONLY_ENVIRONMENT: StandinEnvironment = {
  protection_rules: [],
  deployment_branch_policy: { protected_branches: true, custom_branch_policies: false },
};
export const UNPROTECTED_ENVIRONMENT: StandinEnvironment = {
  protection_rules: [],
  deployment_branch_policy: null,
};

export interface GithubStandinOptions {
  appId?: string;
  privateKeyPem?: string;
  pathPrefix?: string;
  installations?: StandinInstallation[];
  /** `owner/repo` → environment name → environment. */
  environments?: Record<string, Record<string, StandinEnvironment>>;
  /** User token → user. */
  users?: Record<string, { login: string; id: number }>;
  /** `org/team-slug` → logins with an active membership. */
  teams?: Record<string, string[]>;
  /** Who started a run attempt that `setRunAttempt` did not set (default octocat, id 1). */
  defaultRunActor?: { login: string; id: number };
  tokenTtlSeconds?: number;
  now?: () => Date;
  /** The GitHub App's OAuth client, for the web sign-in (`gh.oauth`). */
  oauth?: OAuthClient;
}

export type GithubRequestAuth =
  | { kind: 'app' }
  | { kind: 'installation'; installationId: number; token: string }
  | { kind: 'user'; login: string }
  | { kind: 'none' }
  | { kind: 'invalid'; reason: string };

export interface GithubRecordedRequest {
  method: string;
  /** Without `pathPrefix`, decoded: `/repos/acme/web/environments/production`. */
  path: string;
  query: string;
  auth: GithubRequestAuth;
  body?: unknown;
  status: number;
  error?: string;
}

export interface GithubIssuedToken {
  token: string;
  installationId: number;
  owner: string;
  permissions: Record<string, PermissionLevel>;
  /** Names without owner; all of the installation's when none were asked for. */
  repositories: string[];
  expiresAt: Date;
  revoked: boolean;
}

export interface GithubStandin {
  /** The API base URL (`JITKEY_GITHUB_API_URL`), with `pathPrefix`. */
  url: string;
  appId: string;
  privateKeyPem: string;
  /** The web sign-in, when `oauth` was given: its token exchanges and the user tokens it issued. */
  oauth: GithubOAuth | undefined;
  requests: GithubRecordedRequest[];
  issued: GithubIssuedToken[];
  revocations: string[];
  failNext(
    match: { method?: string; path: string | RegExp },
    status: number,
    times?: number,
    message?: string,
  ): void;
  /**
   * The next matching request is held once it arrived (authenticated, before it is answered)
   * until `release()`: a GitHub as slow as a test needs, with no timer.
   */
  holdNext(match: { method?: string; path: string | RegExp }): { arrived: Promise<void>; release(): void };
  addInstallation(installation: StandinInstallation): number;
  setEnvironment(repository: string, name: string, environment: StandinEnvironment | undefined): void;
  addUserToken(token: string, user: { login: string; id: number }): void;
  /**
   * The account with login `from` is now called `to` (its id stays; its tokens still work). The
   * old login is free: `addUserToken` with it and a new id is someone else registering it.
   */
  renameUser(from: string, to: string): void;
  setTeam(team: string, logins: string[]): void;
  /** Who started the run (`actor`) and this attempt of it (`triggering_actor`, e.g. a re-run). */
  setRunAttempt(
    repository: string,
    runId: string,
    attempt: string,
    who: { actor: { login: string; id: number }; triggering_actor: { login: string; id: number } },
  ): void;
  /** The live (not revoked, not expired) token's record. */
  tokenInfo(token: string): GithubIssuedToken | undefined;
  /** More routes, tried before the 404 (`github-gate.ts`: GitHub's deployment gate). */
  addRoute(route: StandinRoute): void;
  /** The installations, as configured and added. */
  installations(): ReadonlyArray<Required<StandinInstallation>>;
  stop(): Promise<void>;
}

/**
 * An extra route: `undefined` when the request is not its own. `token` is the installation token's
 * record when the request carries one (its installation's repositories and permissions). A third
 * element adds answer headers (a `Link` for paging).
 */
export type StandinRoute = (request: {
  method: string;
  path: string;
  query: URLSearchParams;
  auth: GithubRequestAuth;
  body: unknown;
  token: GithubIssuedToken | undefined;
}) => [number, unknown] | [number, unknown, Record<string, string>] | undefined;

const LEVEL: Record<PermissionLevel, number> = { read: 1, write: 2, admin: 3 };
const DOCS = 'https://docs.github.com/rest';
const generateKeyPairAsync = promisify(generateKeyPair);

class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

let sharedAppKey: Promise<KeyObject> | undefined;
/** One generated App key per process: RSA generation is slow, and stand-ins are started per test. */
function defaultAppKey(): Promise<KeyObject> {
  sharedAppKey ??= generateKeyPairAsync('rsa', { modulusLength: 2048 }).then((pair) => pair.privateKey);
  return sharedAppKey;
}

function isoSeconds(d: Date): string {
  return d.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

export async function startGithubStandin(options: GithubStandinOptions = {}): Promise<GithubStandin> {
  const now = options.now ?? (() => new Date());
  const appId = options.appId ?? '424242';
  const privateKey: KeyObject = options.privateKeyPem
    ? createPrivateKey(options.privateKeyPem)
    : await defaultAppKey();
  const privateKeyPem =
    options.privateKeyPem ?? privateKey.export({ type: 'pkcs1', format: 'pem' }).toString();
  const publicKey = createPublicKey(privateKey);
  const prefix = (options.pathPrefix ?? '').replace(/\/$/, '');
  const ttl = options.tokenTtlSeconds ?? 3600;

  const installations: Array<Required<StandinInstallation>> = [];
  const environments = new Map<string, Map<string, StandinEnvironment & { name: string }>>();
  const users = new Map(Object.entries(options.users ?? {}));
  const teams = new Map<string, Set<string>>();
  const requests: GithubRecordedRequest[] = [];
  const issued: GithubIssuedToken[] = [];
  const revocations: string[] = [];
  const failures: Array<{
    method?: string;
    path: string | RegExp;
    status: number;
    times: number;
    message: string;
  }> = [];
  const holds: Array<{
    method?: string;
    path: string | RegExp;
    arrive: () => void;
    released: Promise<void>;
  }> = [];
  const extraRoutes: StandinRoute[] = [];
  let nextInstallationId = 1000;
  let nextEnvironmentId = 1;

  const lc = (s: string) => s.toLowerCase();

  function addInstallation(i: StandinInstallation): number {
    const id = i.id ?? nextInstallationId++;
    installations.push({
      id,
      owner: i.owner,
      type: i.type ?? 'Organization',
      permissions: { ...i.permissions },
      repositories: [...i.repositories],
    });
    return id;
  }
  function setEnvironment(repository: string, name: string, env: StandinEnvironment | undefined) {
    let envs = environments.get(lc(repository));
    if (!envs) {
      envs = new Map();
      environments.set(lc(repository), envs);
    }
    if (env) envs.set(lc(name), { ...env, name });
    else envs.delete(lc(name));
  }
  const setTeam = (team: string, logins: string[]) => teams.set(lc(team), new Set(logins.map(lc)));
  type RunActors = Parameters<GithubStandin['setRunAttempt']>[3];
  const runAttempts = new Map<string, RunActors>();
  const defaultRunActor = options.defaultRunActor ?? { login: 'octocat', id: 1 };

  for (const i of options.installations ?? []) addInstallation(i);
  for (const [repo, envs] of Object.entries(options.environments ?? {})) {
    for (const [name, env] of Object.entries(envs)) setEnvironment(repo, name, env);
  }
  for (const [team, logins] of Object.entries(options.teams ?? {})) setTeam(team, logins);

  const liveToken = (token: string) => {
    const t = issued.find((i) => i.token === token);
    return t && !t.revoked && t.expiresAt.getTime() > now().getTime() ? t : undefined;
  };
  const installationJson = (i: Required<StandinInstallation>) => ({
    id: i.id,
    account: { login: i.owner, id: 9000 + i.id, type: i.type },
    app_id: Number(appId),
    app_slug: 'jitkey',
    target_type: i.type,
    permissions: i.permissions,
    repository_selection: 'selected',
  });

  async function authenticate(req: IncomingMessage): Promise<GithubRequestAuth> {
    const header = req.headers.authorization;
    if (!header) return { kind: 'none' };
    const m = /^(Bearer|token) (\S+)$/i.exec(header);
    if (!m) return { kind: 'invalid', reason: 'malformed Authorization header' };
    const credential = m[2]!;
    if (credential.split('.').length === 3) {
      try {
        const nowS = Math.floor(now().getTime() / 1000);
        const { payload } = await jwtVerify(credential, publicKey, {
          algorithms: ['RS256'],
          currentDate: now(),
        });
        if (String(payload.iss) !== appId)
          return { kind: 'invalid', reason: "'Issuer' claim ('iss') must be the App id" };
        if (typeof payload.exp !== 'number')
          return { kind: 'invalid', reason: "'Expiration time' claim ('exp') missing" };
        if (payload.exp > nowS + 600)
          return { kind: 'invalid', reason: "'Expiration time' claim ('exp') is too far in the future" };
        if (typeof payload.iat !== 'number' || payload.iat > nowS) {
          return {
            kind: 'invalid',
            reason: "'Issued at' claim ('iat') must be an Integer representing a time in the past",
          };
        }
        return { kind: 'app' };
      } catch (e) {
        return { kind: 'invalid', reason: `A JSON web token could not be decoded (${(e as Error).message})` };
      }
    }
    const t = liveToken(credential);
    if (t) return { kind: 'installation', installationId: t.installationId, token: credential };
    const user = users.get(credential);
    if (user) return { kind: 'user', login: user.login };
    return { kind: 'invalid', reason: 'Bad credentials' };
  }

  async function readJson(req: IncomingMessage): Promise<unknown> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const text = Buffer.concat(chunks).toString('utf8');
    if (!text) return undefined;
    try {
      return JSON.parse(text);
    } catch {
      throw new ApiError(400, 'Problems parsing JSON');
    }
  }

  const requireAuth = (auth: GithubRequestAuth, kind: GithubRequestAuth['kind']) => {
    if (auth.kind === 'invalid') throw new ApiError(401, auth.reason);
    if (auth.kind !== kind) {
      throw new ApiError(
        auth.kind === 'none' ? 401 : 403,
        kind === 'app'
          ? 'A JSON web token could not be decoded'
          : auth.kind === 'none'
            ? 'Requires authentication'
            : 'Resource not accessible by integration',
      );
    }
  };

  function installationToken(auth: GithubRequestAuth) {
    if (auth.kind !== 'installation') return undefined;
    return issued.find((t) => t.token === auth.token);
  }

  async function route(
    req: IncomingMessage,
    path: string,
    record: GithubRecordedRequest,
  ): Promise<[number, unknown] | [number, unknown, Record<string, string>]> {
    const auth = record.auth;
    const method = req.method ?? 'GET';
    const at = (verb: string, pattern: RegExp) => (method === verb ? pattern.exec(path) : null);

    if (method === 'GET' && path === '/app') {
      requireAuth(auth, 'app');
      return [200, { id: Number(appId), slug: 'jitkey', name: 'jitkey' }];
    }
    const orgInstallation = at('GET', /^\/orgs\/([^/]+)\/installation$/);
    if (orgInstallation) {
      requireAuth(auth, 'app');
      const i = installations.find(
        (x) => lc(x.owner) === lc(orgInstallation[1]!) && x.type === 'Organization',
      );
      if (!i) throw new ApiError(404, 'Not Found');
      return [200, installationJson(i)];
    }
    const userInstallation = at('GET', /^\/users\/([^/]+)\/installation$/);
    if (userInstallation) {
      requireAuth(auth, 'app');
      const i = installations.find((x) => lc(x.owner) === lc(userInstallation[1]!));
      if (!i) throw new ApiError(404, 'Not Found');
      return [200, installationJson(i)];
    }
    const repoInstallation = at('GET', /^\/repos\/([^/]+)\/([^/]+)\/installation$/);
    if (repoInstallation) {
      requireAuth(auth, 'app');
      const i = installations.find(
        (x) =>
          lc(x.owner) === lc(repoInstallation[1]!) &&
          x.repositories.some((r) => lc(r) === lc(repoInstallation[2]!)),
      );
      if (!i) throw new ApiError(404, 'Not Found');
      return [200, installationJson(i)];
    }
    const accessTokens = at('POST', /^\/app\/installations\/(\d+)\/access_tokens$/);
    if (accessTokens) {
      requireAuth(auth, 'app');
      const i = installations.find((x) => x.id === Number(accessTokens[1]));
      if (!i) throw new ApiError(404, 'Not Found');
      const body = (record.body ?? {}) as { repositories?: unknown; permissions?: unknown };
      let repositories = i.repositories;
      if (body.repositories !== undefined) {
        if (!Array.isArray(body.repositories) || body.repositories.some((r) => typeof r !== 'string')) {
          throw new ApiError(
            422,
            "Invalid request.\n\nFor 'properties/repositories', it is not an array of strings.",
          );
        }
        const asked = body.repositories as string[];
        if (asked.some((r) => !i.repositories.some((have) => lc(have) === lc(r)))) {
          throw new ApiError(
            422,
            'There is at least one repository that does not exist or is not accessible to the parent installation.',
          );
        }
        repositories = asked.map((r) => i.repositories.find((have) => lc(have) === lc(r))!);
      }
      let permissions = i.permissions;
      if (body.permissions !== undefined) {
        const asked = body.permissions as Record<string, unknown>;
        if (typeof asked !== 'object' || asked === null || Array.isArray(asked))
          throw new ApiError(422, 'Invalid request.');
        for (const [name, level] of Object.entries(asked)) {
          const have = i.permissions[name];
          if (
            typeof level !== 'string' ||
            !(level in LEVEL) ||
            !have ||
            LEVEL[level as PermissionLevel] > LEVEL[have]
          ) {
            throw new ApiError(422, 'The permissions requested are not granted to this installation.');
          }
        }
        permissions = asked as Record<string, PermissionLevel>;
      }
      const token = `ghs_${randomBytes(27).toString('base64url').replace(/[-_]/g, 'x').slice(0, 36)}`;
      const expiresAt = new Date(Math.floor(now().getTime() / 1000) * 1000 + ttl * 1000);
      issued.push({
        token,
        installationId: i.id,
        owner: i.owner,
        permissions: { ...permissions },
        repositories: [...repositories],
        expiresAt,
        revoked: false,
      });
      return [
        201,
        {
          token,
          expires_at: isoSeconds(expiresAt),
          permissions,
          repository_selection: 'selected',
          ...(body.repositories !== undefined
            ? {
                repositories: repositories.map((name, n) => ({
                  id: 5000 + n,
                  name,
                  full_name: `${i.owner}/${name}`,
                  private: true,
                  owner: { login: i.owner },
                })),
              }
            : {}),
        },
      ];
    }
    if (method === 'DELETE' && path === '/installation/token') {
      if (auth.kind !== 'installation') throw new ApiError(401, 'Bad credentials');
      const t = installationToken(auth)!;
      t.revoked = true;
      revocations.push(t.token);
      return [204, undefined];
    }
    const environmentRoute = at('GET', /^\/repos\/([^/]+)\/([^/]+)\/environments\/([^/]+)$/);
    if (environmentRoute) {
      requireAuth(auth, 'installation');
      const t = installationToken(auth)!;
      const [owner, repo, name] = [environmentRoute[1]!, environmentRoute[2]!, environmentRoute[3]!];
      const i = installations.find((x) => x.id === t.installationId)!;
      if (lc(i.owner) !== lc(owner) || !i.repositories.some((r) => lc(r) === lc(repo)))
        throw new ApiError(404, 'Not Found');
      if (!t.repositories.some((r) => lc(r) === lc(repo)) || !t.permissions.actions) {
        throw new ApiError(403, 'Resource not accessible by integration');
      }
      const env = environments.get(lc(`${owner}/${repo}`))?.get(lc(name));
      if (!env) throw new ApiError(404, 'Not Found');
      const id = nextEnvironmentId++;
      return [
        200,
        {
          id,
          node_id: `EN_${id}`,
          name: env.name,
          url: `${prefix}/repos/${owner}/${repo}/environments/${encodeURIComponent(env.name)}`,
          html_url: `https://github.com/${owner}/${repo}/deployments/activity_log?environments_filter=${encodeURIComponent(env.name)}`,
          created_at: '2024-01-01T00:00:00Z',
          updated_at: '2024-01-01T00:00:00Z',
          can_admins_bypass: true,
          protection_rules: env.protection_rules ?? [],
          deployment_branch_policy: env.deployment_branch_policy ?? null,
        },
      ];
    }
    if (method === 'GET' && path === '/user') {
      if (auth.kind !== 'user')
        throw new ApiError(401, auth.kind === 'none' ? 'Requires authentication' : 'Bad credentials');
      const user = [...users.values()].find((u) => u.login === auth.login)!;
      return [200, { login: user.login, id: user.id, type: 'User' }];
    }
    const attemptRoute = at('GET', /^\/repos\/([^/]+)\/([^/]+)\/actions\/runs\/(\d+)\/attempts\/(\d+)$/);
    if (attemptRoute) {
      requireAuth(auth, 'installation');
      const t = installationToken(auth)!;
      const [owner, repo, runId, attempt] = attemptRoute.slice(1) as [string, string, string, string];
      const i = installations.find((x) => x.id === t.installationId)!;
      if (lc(i.owner) !== lc(owner) || !i.repositories.some((r) => lc(r) === lc(repo)))
        throw new ApiError(404, 'Not Found');
      if (!t.permissions.actions) throw new ApiError(403, 'Resource not accessible by integration');
      const who = runAttempts.get(lc(`${owner}/${repo}#${runId}/${attempt}`)) ?? {
        actor: defaultRunActor,
        triggering_actor: defaultRunActor,
      };
      const user = (u: { login: string; id: number }) => ({ login: u.login, id: u.id, type: 'User' });
      return [
        200,
        {
          id: Number(runId),
          run_attempt: Number(attempt),
          status: 'in_progress',
          repository: { full_name: `${owner}/${repo}` },
          actor: user(who.actor),
          triggering_actor: user(who.triggering_actor),
        },
      ];
    }
    const membership = at('GET', /^\/orgs\/([^/]+)\/teams\/([^/]+)\/memberships\/([^/]+)$/);
    if (membership) {
      requireAuth(auth, 'installation');
      const t = installationToken(auth)!;
      const [org, slug, username] = [membership[1]!, membership[2]!, membership[3]!];
      if (lc(t.owner) !== lc(org) || !t.permissions.members)
        throw new ApiError(403, 'Resource not accessible by integration');
      if (!teams.get(lc(`${org}/${slug}`))?.has(lc(username))) throw new ApiError(404, 'Not Found');
      return [200, { url: `${prefix}/teams/1/memberships/${username}`, role: 'member', state: 'active' }];
    }
    for (const extra of extraRoutes) {
      const answer = extra({
        method,
        path,
        query: new URLSearchParams(record.query),
        auth,
        body: record.body,
        token: installationToken(auth),
      });
      if (answer) return answer;
    }
    throw new ApiError(404, 'Not Found');
  }

  const oauth =
    options.oauth &&
    githubOAuth({
      client: options.oauth,
      user: (login) => [...users.values()].find((u) => lc(u.login) === lc(login)),
      addUserToken: (token, user) => users.set(token, user),
      now,
    });

  const server = createServer((req, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    // GitHub's web sign-in lives at the web root, beside (not under) a GHES API prefix.
    if (oauth?.handle(req, res, url.pathname)) return;
    const rawPath = url.pathname.startsWith(`${prefix}/`) ? url.pathname.slice(prefix.length) : url.pathname;
    const path = rawPath
      .split('/')
      .map((s) => decodeURIComponent(s))
      .join('/');
    const record: GithubRecordedRequest = {
      method: req.method ?? '',
      path,
      query: url.search,
      auth: { kind: 'none' },
      status: 0,
    };
    requests.push(record);
    const handle = async (): Promise<[number, unknown] | [number, unknown, Record<string, string>]> => {
      record.body = await readJson(req);
      record.auth = await authenticate(req);
      if (prefix && !url.pathname.startsWith(`${prefix}/`)) throw new ApiError(404, 'Not Found');
      const f = failures.find(
        (x) =>
          (!x.method || x.method === record.method) &&
          (typeof x.path === 'string' ? x.path === path : x.path.test(path)),
      );
      if (f) {
        if (--f.times <= 0) failures.splice(failures.indexOf(f), 1);
        throw new ApiError(f.status, f.message);
      }
      const h = holds.find(
        (x) =>
          (!x.method || x.method === record.method) &&
          (typeof x.path === 'string' ? x.path === path : x.path.test(path)),
      );
      if (h) {
        holds.splice(holds.indexOf(h), 1);
        h.arrive();
        await h.released;
      }
      return route(req, path, record);
    };
    handle()
      .catch((e: unknown): [number, unknown] => {
        const err = e instanceof ApiError ? e : new ApiError(500, String(e));
        record.error = err.message;
        return [err.status, { message: err.message, documentation_url: DOCS, status: String(err.status) }];
      })
      .then(([status, body, headers]) => {
        record.status = status;
        if (status === 204 || body === undefined) {
          res.writeHead(status);
          res.end();
        } else {
          res.writeHead(status, {
            ...headers,
            'content-type': 'application/json; charset=utf-8',
            'x-github-request-id': randomBytes(4).toString('hex'),
          });
          res.end(JSON.stringify(body));
        }
      });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}${prefix}`;

  return {
    url,
    appId,
    privateKeyPem,
    oauth,
    requests,
    issued,
    revocations,
    failNext(match, status, times = 1, message = 'Server Error') {
      failures.push({ ...match, status, times, message });
    },
    holdNext(match) {
      let arrive = () => {};
      let release = () => {};
      const arrived = new Promise<void>((r) => (arrive = r));
      const released = new Promise<void>((r) => (release = r));
      holds.push({ ...match, arrive, released });
      return { arrived, release };
    },
    addInstallation,
    setEnvironment,
    addUserToken(token, user) {
      users.set(token, user);
    },
    renameUser(from, to) {
      for (const [token, user] of users)
        if (lc(user.login) === lc(from)) users.set(token, { ...user, login: to });
    },
    setTeam,
    setRunAttempt(repository, runId, attempt, who) {
      runAttempts.set(lc(`${repository}#${runId}/${attempt}`), who);
    },
    tokenInfo: liveToken,
    addRoute(r) {
      extraRoutes.push(r);
    },
    installations: () => installations,
    async stop() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
