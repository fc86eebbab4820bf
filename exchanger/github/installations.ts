/**
 * Installation tokens for an owner's repositories: which installation of the App covers an
 * organization or user (cached per owner until GitHub answers 404 for it: the App was
 * reinstalled), minting a token narrowed to repositories and permissions, and revoking one.
 * Tokens minted here are never cached (the exchanger's own read tokens are, in internal-token.ts).
 */
import type { Octokit } from '@octokit/rest';
import { JitkeyError } from '../errors.js';
import type { GithubClient } from './client.js';
import { appJwtHint, githubStatus, upstream } from './errors.js';

export type GithubPermissionLevel = 'read' | 'write' | 'admin';
export type GithubPermissions = Record<string, GithubPermissionLevel>;

export interface InstallationToken {
  token: string;
  expiresAt: Date;
  /** As GitHub granted them. */
  permissions: Record<string, string>;
  /** `owner/name`, as GitHub listed them; empty when the token covers all the installation's repositories. */
  repositories: string[];
}

export interface TokenScope {
  repositories?: readonly string[];
  permissions?: GithubPermissions;
}

export interface Installations {
  /** The App's installation on an organization or user account (cached). */
  installationId(owner: string): Promise<number>;
  /** A fresh token narrowed to exactly these repositories (names without owner) and permissions. */
  createInstallationToken(owner: string, scope: TokenScope, hint422?: string): Promise<InstallationToken>;
  /** `DELETE /installation/token`; a token GitHub no longer accepts (401) counts as revoked. */
  revokeInstallationToken(token: string): Promise<'revoked' | 'already_invalid'>;
}

type TokenScopeParams = NonNullable<Parameters<Octokit['rest']['apps']['createInstallationAccessToken']>[0]>;

const DEFAULT_HINT_422 =
  "the role asks for permissions beyond the installation's, or repositories the installation cannot access";

export function createInstallations(client: GithubClient): Installations {
  const { octokit } = client;
  const installations = new Map<string, Promise<number>>();

  async function lookupInstallation(owner: string): Promise<number> {
    try {
      return (await octokit.rest.apps.getOrgInstallation({ org: owner, ...(await client.asApp()) })).data.id;
    } catch (e) {
      if (githubStatus(e) !== 404) {
        throw upstream(`looking up the GitHub App's installation on '${owner}'`, e, appJwtHint(e));
      }
    }
    try {
      return (await octokit.rest.apps.getUserInstallation({ username: owner, ...(await client.asApp()) }))
        .data.id;
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
    scope: TokenScope,
    hint422 = DEFAULT_HINT_422,
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
        ...(await client.asApp()),
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

  async function revokeInstallationToken(token: string): Promise<'revoked' | 'already_invalid'> {
    try {
      await octokit.rest.apps.revokeInstallationAccessToken(client.as(`token ${token}`));
      return 'revoked';
    } catch (e) {
      if (githubStatus(e) === 401) return 'already_invalid';
      throw upstream('revoking a GitHub installation token', e);
    }
  }

  return {
    installationId,
    createInstallationToken: (owner, scope, hint422) => createInstallationToken(owner, scope, hint422),
    revokeInstallationToken,
  };
}
