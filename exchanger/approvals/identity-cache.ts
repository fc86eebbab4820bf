/**
 * Approver identities and team memberships, remembered briefly (issue 16, item 10): without it,
 * every `GET /v1/requests` or decision with a junk token costs a `GET /user` upstream, and anyone
 * can spend the App's rate limit. A token is remembered by its SHA-256, never itself; GitHub's
 * "no" (401) is remembered as long as its "yes"; a failure to ask is not remembered at all.
 */
import { hashSecret } from '../digest.js';
import { JitkeyError } from '../errors.js';
import { asciiLower } from '../policy/model/glob.js';
import type { ApproverDirectory } from './approvers.js';

export const IDENTITY_CACHE_TTL_MS = 60_000;
const MAX_ENTRIES = 10_000;

type Entry<T> = { at: number; value: Promise<T> };

export function cachedDirectory(
  github: ApproverDirectory,
  options: { now: () => Date; ttlMs?: number },
): ApproverDirectory {
  const ttl = options.ttlMs ?? IDENTITY_CACHE_TTL_MS;
  const users = new Map<string, Entry<{ login: string; id: number }>>();
  const teams = new Map<string, Entry<boolean>>();

  function remember<T>(map: Map<string, Entry<T>>, key: string, ask: () => Promise<T>): Promise<T> {
    const at = options.now().getTime();
    const hit = map.get(key);
    if (hit && at - hit.at < ttl) return hit.value;
    if (map.size >= MAX_ENTRIES) {
      for (const [k, v] of map) if (at - v.at >= ttl) map.delete(k);
      if (map.size >= MAX_ENTRIES) map.delete(map.keys().next().value as string);
    }
    const value = ask();
    map.set(key, { at, value });
    // Only definite answers stay: GitHub's 401 for a token, or its answer. Outages are asked again.
    value.catch((err: unknown) => {
      const definite = err instanceof JitkeyError && err.code === 'invalid_token';
      if (!definite && map.get(key)?.value === value) map.delete(key);
    });
    return value;
  }

  return {
    getUser: (token) => remember(users, hashSecret(token), () => github.getUser(token)),
    isTeamMember: (org, slug, username) =>
      remember(teams, asciiLower(`${org}/${slug} ${username}`), () =>
        github.isTeamMember(org, slug, username),
      ),
    getRunAttempt: (owner, repo, runId, attempt) => github.getRunAttempt(owner, repo, runId, attempt),
  };
}
