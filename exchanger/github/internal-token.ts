/**
 * The exchanger's own read tokens, for the questions it asks GitHub itself (environments, run
 * attempts, team membership): one installation token per owner and permission set, cached until
 * 5 minutes before it expires. A token revoked meanwhile (GitHub answers 401) is replaced once.
 */
import type { JitkeyError } from '../errors.js';
import type { CallOptions, GithubClient } from './client.js';
import { githubStatus, upstream } from './errors.js';
import type { GithubPermissions, Installations } from './installations.js';

/** Runs `fn` with call options carrying an internal token for `owner` with `permissions`. */
export type AsExchanger = <T>(
  owner: string,
  permissions: GithubPermissions,
  fn: (auth: CallOptions) => Promise<T>,
) => Promise<T>;

export const ACTIONS_READ: GithubPermissions = { actions: 'read' };
export const MEMBERS_READ: GithubPermissions = { members: 'read' };
export const ACTIONS_READ_MISSING = 'the GitHub App needs the Actions: read repository permission';
export const MEMBERS_READ_MISSING = 'the GitHub App needs the Members: read organization permission';

/** A failed read as `upstream_error`, naming the permission when GitHub answered 403; jitkey's own errors pass. */
export function readFailure(action: string, e: unknown, missingPermission: string): JitkeyError {
  return upstream(action, e, githubStatus(e) === 403 ? missingPermission : undefined);
}

/**
 * `read` as the exchanger on `owner`, GitHub's 404 answered with `notFound`; any other failure is a
 * `readFailure` naming `action` (and `missingPermission` on a 403).
 */
export async function readOrNotFound<T, N>(
  asExchanger: AsExchanger,
  owner: string,
  [permissions, missingPermission]: readonly [GithubPermissions, string],
  action: string,
  read: (auth: CallOptions) => Promise<T>,
  notFound: N,
): Promise<T | N> {
  try {
    return await asExchanger<T | N>(owner, permissions, async (auth) => {
      try {
        return await read(auth);
      } catch (e) {
        if (githubStatus(e) === 404) return notFound;
        throw e;
      }
    });
  } catch (e) {
    throw readFailure(action, e, missingPermission);
  }
}

const INTERNAL_TOKEN_MARGIN_MS = 5 * 60_000;

export function createAsExchanger(
  client: GithubClient,
  installations: Pick<Installations, 'createInstallationToken'>,
): AsExchanger {
  const internalTokens = new Map<string, ReturnType<Installations['createInstallationToken']>>();

  /** The read token for `owner` with `permissions`, cached; `fresh` drops a rejected one. */
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
      if (t && t.expiresAt.getTime() - INTERNAL_TOKEN_MARGIN_MS > client.now().getTime()) return t.token;
    }
    const p = installations.createInstallationToken(
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

  return async (owner, permissions, fn) => {
    const token = await internalToken(owner, permissions);
    try {
      return await fn(client.as(`token ${token}`));
    } catch (e) {
      if (githubStatus(e) !== 401) throw e;
      return fn(client.as(`token ${await internalToken(owner, permissions, true)}`));
    }
  };
}
