/**
 * The exchanger's GitHub App client, shared by the GitHub provider (installation tokens for jobs),
 * the environment guard (is this environment protected?) and approvals (who is this approver,
 * are they in that team?). One Octokit instance, no auth strategy: every call carries its own
 * `authorization` — the App JWT, an installation token or an approver's token.
 *
 * Caches: the App JWT (until 2 minutes before it expires), installation ids per owner (until GitHub
 * answers 404 for one: the App was reinstalled), and the exchanger's own read tokens per owner and
 * permission set (until 5 minutes before they expire). Tokens minted for jobs are never cached.
 */
import type { KeyObject } from 'node:crypto';
import { Octokit } from '@octokit/rest';
import { JitkeyError } from '../errors.js';
import { type Logger, silentLogger } from '../log.js';
import { parseServiceUrl } from '../net/service-url.js';
import { DEFAULT_GITHUB_API_URL } from './config.js';
import { appJwtHint, githubStatus, upstream } from './errors.js';
import { parseAppPrivateKey, signAppJwt } from './jwt.js';

export type GithubPermissionLevel = 'read' | 'write' | 'admin';
export type GithubPermissions = Record<string, GithubPermissionLevel>;

export interface GithubAppOptions {
  /** `JITKEY_GITHUB_APP_ID`: the App id (or client id), the JWT's `iss`. */
  appId: string;
  /** `JITKEY_GITHUB_APP_PRIVATE_KEY(_FILE)`: PEM (PKCS#1 or PKCS#8) or a KeyObject. */
  privateKey: string | KeyObject;
  /** `JITKEY_GITHUB_API_URL`; default https://api.github.com, GHES https://HOST/api/v3. http only on loopback. */
  apiUrl?: string;
  fetch?: typeof globalThis.fetch;
  now?: () => Date;
  log?: Logger;
  /** Per GitHub request; default 10 s. */
  timeoutMs?: number;
}

export interface InstallationToken {
  token: string;
  expiresAt: Date;
  /** As GitHub granted them. */
  permissions: Record<string, string>;
  /** `owner/name`, as GitHub listed them; empty when the token covers all the installation's repositories. */
  repositories: string[];
}

export interface EnvironmentInfo {
  name: string;
  /** The `type` of each protection rule: `required_reviewers`, `wait_timer`, `branch_policy`, … */
  protectionRules: string[];
  /** `deployment_branch_policy` is set (protected branches or custom branch patterns). */
  deploymentBranchPolicy: boolean;
}

export interface GithubApp {
  readonly apiUrl: string;
  /** The App's installation on an organization or user account (cached). */
  installationId(owner: string): Promise<number>;
  /** A fresh installation token narrowed to exactly these repositories (names without owner) and permissions. */
  createInstallationToken(
    owner: string,
    scope: { repositories?: readonly string[]; permissions?: GithubPermissions },
  ): Promise<InstallationToken>;
  /** `DELETE /installation/token`; a token GitHub no longer accepts (401) counts as revoked. */
  revokeInstallationToken(token: string): Promise<'revoked' | 'already_invalid'>;
  /** The environment, or `undefined` when GitHub answers 404. Needs the App's Actions: read permission. */
  getEnvironment(owner: string, repo: string, name: string): Promise<EnvironmentInfo | undefined>;
  /** Who holds this GitHub token (`GET /user`); throws `invalid_token` when GitHub rejects it. */
  getUser(userToken: string): Promise<{ login: string; id: number }>;
  /** Active member of `org/teamSlug`? Needs the App's Members: read organization permission. */
  isTeamMember(org: string, teamSlug: string, username: string): Promise<boolean>;
  /**
   * Who started a run attempt (`triggering_actor`: whoever clicked re-run) and whose run it is
   * (`actor`), as GitHub user ids. Needs Actions: read; throws `upstream_error` when GitHub cannot
   * answer, `access_denied` when it knows no such run attempt.
   */
  getRunAttempt(owner: string, repo: string, runId: string, attempt: string): Promise<RunAttempt>;
}

export interface RunAttempt {
  actorId?: string;
  triggeringActorId?: string;
  triggeringActorLogin?: string;
}

const API_VERSION = '2022-11-28';
const JWT_REUSE_MARGIN_S = 120;
const INTERNAL_TOKEN_MARGIN_MS = 5 * 60_000;
const ACTIONS_READ: GithubPermissions = { actions: 'read' };
const MEMBERS_READ: GithubPermissions = { members: 'read' };

type TokenScopeParams = NonNullable<Parameters<Octokit['rest']['apps']['createInstallationAccessToken']>[0]>;

export function createGithubApp(options: GithubAppOptions): GithubApp {
  const appId = String(options.appId).trim();
  if (!appId) throw new Error('GitHub App: appId is required');
  const key = parseAppPrivateKey(options.privateKey);
  const apiUrl = parseServiceUrl(options.apiUrl ?? DEFAULT_GITHUB_API_URL, 'JITKEY_GITHUB_API_URL')
    .toString()
    .replace(/\/$/, '');
  const now = options.now ?? (() => new Date());
  const log = options.log ?? silentLogger;
  const timeoutMs = options.timeoutMs ?? 10_000;
  const octokit = new Octokit({
    baseUrl: apiUrl,
    userAgent: 'jitkey',
    request: options.fetch ? { fetch: options.fetch } : {},
    // Octokit logs each request (method, path, status): operators' debug level, no headers.
    log: {
      debug: (m: string) => log.debug(m),
      info: (m: string) => log.debug(m),
      warn: (m: string) => log.warn(m),
      error: (m: string) => log.debug(m),
    },
  });

  const call = (authorization: string) => ({
    headers: { authorization, 'x-github-api-version': API_VERSION },
    request: { signal: AbortSignal.timeout(timeoutMs) },
  });

  let appJwt: { jwt: string; exp: number } | undefined;
  const appAuth = async (): Promise<ReturnType<typeof call>> => {
    const nowS = Math.floor(now().getTime() / 1000);
    if (!appJwt || appJwt.exp - JWT_REUSE_MARGIN_S <= nowS) appJwt = await signAppJwt(appId, key, now());
    return call(`Bearer ${appJwt.jwt}`);
  };

  const installations = new Map<string, Promise<number>>();

  async function lookupInstallation(owner: string): Promise<number> {
    try {
      return (await octokit.rest.apps.getOrgInstallation({ org: owner, ...(await appAuth()) })).data.id;
    } catch (e) {
      if (githubStatus(e) !== 404) {
        throw upstream(`looking up the GitHub App's installation on '${owner}'`, e, appJwtHint(e));
      }
    }
    try {
      return (await octokit.rest.apps.getUserInstallation({ username: owner, ...(await appAuth()) })).data.id;
    } catch (e) {
      if (githubStatus(e) === 404) {
        throw new JitkeyError(
          'upstream_error',
          `the GitHub App is not installed on '${owner}': install it on that organization or user (GitHub answered 404)`,
        );
      }
      throw upstream(`looking up the GitHub App's installation on '${owner}'`, e, appJwtHint(e));
    }
  }

  function installationId(owner: string): Promise<number> {
    const k = owner.toLowerCase();
    let id = installations.get(k);
    if (!id) {
      const p = lookupInstallation(owner);
      id = p;
      installations.set(k, p);
      p.catch(() => {
        if (installations.get(k) === p) installations.delete(k);
      });
    }
    return id;
  }

  async function createInstallationToken(
    owner: string,
    scope: { repositories?: readonly string[]; permissions?: GithubPermissions },
    hint422 = "the role asks for permissions beyond the installation's, or repositories the installation cannot access",
    retried = false,
  ): Promise<InstallationToken> {
    const id = await installationId(owner);
    const body: Partial<TokenScopeParams> = {};
    if (scope.repositories?.length) body.repositories = [...scope.repositories];
    if (scope.permissions && Object.keys(scope.permissions).length) {
      body.permissions = scope.permissions as TokenScopeParams['permissions'];
    }
    let data: Awaited<ReturnType<Octokit['rest']['apps']['createInstallationAccessToken']>>['data'];
    try {
      ({ data } = await octokit.rest.apps.createInstallationAccessToken({
        installation_id: id,
        ...body,
        ...(await appAuth()),
      }));
    } catch (e) {
      const status = githubStatus(e);
      if (status === 404 && !retried) {
        // The cached installation is gone (the App was reinstalled): look it up again, once.
        installations.delete(owner.toLowerCase());
        return createInstallationToken(owner, scope, hint422, true);
      }
      throw upstream(
        `creating a GitHub installation token on '${owner}'`,
        e,
        status === 422 ? hint422 : appJwtHint(e),
      );
    }
    return {
      token: data.token,
      expiresAt: new Date(data.expires_at),
      permissions: { ...(data.permissions as Record<string, string> | undefined) },
      repositories: (data.repositories ?? []).map((r) => r.full_name),
    };
  }

  const internalTokens = new Map<string, Promise<InstallationToken>>();

  /** The exchanger's own read token for `owner` with `permissions`, cached; `fresh` drops a rejected one. */
  async function internalToken(
    owner: string,
    permissions: GithubPermissions,
    fresh = false,
  ): Promise<string> {
    const needs = Object.entries(permissions)
      .map(([name, level]) => `${name}: ${level}`)
      .join(', ');
    const k = `${owner.toLowerCase()} ${JSON.stringify(Object.entries(permissions).sort())}`;
    const hit = fresh ? undefined : internalTokens.get(k);
    if (hit) {
      const t = await hit.catch(() => undefined);
      if (t && t.expiresAt.getTime() - INTERNAL_TOKEN_MARGIN_MS > now().getTime()) return t.token;
    }
    const p = createInstallationToken(
      owner,
      { permissions },
      `the GitHub App's installation on '${owner}' needs ${needs}`,
    );
    internalTokens.set(k, p);
    p.catch(() => {
      if (internalTokens.get(k) === p) internalTokens.delete(k);
    });
    return (await p).token;
  }

  /** Runs `fn` with an internal token; a 401 (token revoked meanwhile) gets one retry with a new token. */
  async function withInternalToken<T>(
    owner: string,
    permissions: GithubPermissions,
    fn: (auth: ReturnType<typeof call>) => Promise<T>,
  ): Promise<T> {
    const token = await internalToken(owner, permissions);
    try {
      return await fn(call(`token ${token}`));
    } catch (e) {
      if (githubStatus(e) !== 401) throw e;
      return fn(call(`token ${await internalToken(owner, permissions, true)}`));
    }
  }

  return {
    apiUrl,
    installationId,
    createInstallationToken: (owner, scope) => createInstallationToken(owner, scope),

    async revokeInstallationToken(token) {
      try {
        await octokit.rest.apps.revokeInstallationAccessToken(call(`token ${token}`));
        return 'revoked';
      } catch (e) {
        if (githubStatus(e) === 401) return 'already_invalid';
        throw upstream('revoking a GitHub installation token', e);
      }
    },

    async getEnvironment(owner, repo, name) {
      try {
        return await withInternalToken(owner, ACTIONS_READ, async (auth) => {
          try {
            const { data } = await octokit.rest.repos.getEnvironment({
              owner,
              repo,
              environment_name: name,
              ...auth,
            });
            return {
              name: data.name,
              protectionRules: (data.protection_rules ?? []).map((r) => String(r.type)),
              deploymentBranchPolicy: data.deployment_branch_policy != null,
            };
          } catch (e) {
            if (githubStatus(e) === 404) return undefined;
            throw e;
          }
        });
      } catch (e) {
        if (e instanceof JitkeyError) throw e;
        throw upstream(
          `reading environment '${name}' of ${owner}/${repo}`,
          e,
          githubStatus(e) === 403
            ? 'the GitHub App needs the Actions: read repository permission'
            : undefined,
        );
      }
    },

    async getUser(userToken) {
      try {
        const { data } = await octokit.rest.users.getAuthenticated(call(`token ${userToken}`));
        return { login: data.login, id: data.id };
      } catch (e) {
        if (githubStatus(e) === 401) {
          throw new JitkeyError('invalid_token', 'GitHub did not accept this GitHub token (401)');
        }
        throw upstream('asking GitHub who holds a token (GET /user)', e);
      }
    },

    async getRunAttempt(owner, repo, runId, attempt) {
      const what = `run ${runId} attempt ${attempt} of ${owner}/${repo}`;
      try {
        return await withInternalToken(owner, ACTIONS_READ, async (auth) => {
          const { data } = await octokit.rest.actions.getWorkflowRunAttempt({
            owner,
            repo,
            run_id: Number(runId),
            attempt_number: Number(attempt),
            ...auth,
          });
          const id = (u: { id?: number } | null | undefined) =>
            u?.id === undefined ? undefined : String(u.id);
          const actorId = id(data.actor);
          const triggeringActorId = id(data.triggering_actor);
          return {
            ...(actorId ? { actorId } : {}),
            ...(triggeringActorId ? { triggeringActorId } : {}),
            ...(data.triggering_actor?.login ? { triggeringActorLogin: data.triggering_actor.login } : {}),
          };
        });
      } catch (e) {
        if (e instanceof JitkeyError) throw e;
        if (githubStatus(e) === 404) {
          throw new JitkeyError('access_denied', `GitHub knows no ${what}: the approval is refused`);
        }
        throw upstream(
          `asking GitHub who started ${what}`,
          e,
          githubStatus(e) === 403
            ? 'the GitHub App needs the Actions: read repository permission'
            : undefined,
        );
      }
    },

    async isTeamMember(org, teamSlug, username) {
      try {
        return await withInternalToken(org, MEMBERS_READ, async (auth) => {
          try {
            const { data } = await octokit.rest.teams.getMembershipForUserInOrg({
              org,
              team_slug: teamSlug,
              username,
              ...auth,
            });
            return data.state === 'active';
          } catch (e) {
            if (githubStatus(e) === 404) return false;
            throw e;
          }
        });
      } catch (e) {
        if (e instanceof JitkeyError) throw e;
        throw upstream(
          `reading ${username}'s membership of ${org}/${teamSlug}`,
          e,
          githubStatus(e) === 403
            ? 'the GitHub App needs the Members: read organization permission'
            : undefined,
        );
      }
    },
  };
}
