/**
 * `require_protected_environment: true`, verified: the token's `environment` must exist in its
 * repository with at least one protection rule (required reviewers, a wait timer, a branch policy,
 * a custom protection rule) or a deployment branch policy. The answer comes from the GitHub API
 * through the App's installation on the repository's owner, and is cached for at most 60 s.
 *
 * Fail closed: when GitHub cannot be asked (network, 5xx, rate limit, the App not installed or
 * lacking Actions: read) the check throws `upstream_error` (502) — no credentials are issued, and
 * the client learns that the check could not be made rather than that its job is misconfigured;
 * the Action retries 5xx. Such failures are not cached. A definite answer (no claim, no such
 * environment, no protection) is `access_denied` (403).
 */
import { type Claims, ownClaim } from '../claims.js';
import { JitkeyError } from '../errors.js';
import { type Logger, silentLogger } from '../log.js';
import type { Guard } from '../policy/evaluate/guard.js';
import { asciiLower } from '../policy/model/glob.js';
import type { Role } from '../policy/model/types.js';
import type { EnvironmentInfo, GithubApp } from './app.js';

export const MAX_ENVIRONMENT_CACHE_TTL_MS = 60_000;

export interface EnvironmentGuardOptions {
  /** The App client (`createGithubApp`, or the GitHub provider's `.app`). */
  github: Pick<GithubApp, 'getEnvironment'>;
  now?: () => Date;
  /** How long an answer is reused; default and ceiling 60 000 ms. */
  cacheTtlMs?: number;
  log?: Logger;
}

type Answer = { at: number; environment: EnvironmentInfo | undefined };

export function createEnvironmentGuard(options: EnvironmentGuardOptions): Guard {
  const now = options.now ?? (() => new Date());
  const ttl = Math.min(
    Math.max(options.cacheTtlMs ?? MAX_ENVIRONMENT_CACHE_TTL_MS, 0),
    MAX_ENVIRONMENT_CACHE_TTL_MS,
  );
  const log = options.log ?? silentLogger;
  const cache = new Map<string, Answer>();
  const pending = new Map<string, Promise<EnvironmentInfo | undefined>>();

  async function lookup(owner: string, repo: string, name: string): Promise<EnvironmentInfo | undefined> {
    // GitHub compares owner, repository and environment names case-insensitively; so does the cache.
    // ASCII folding only (reference.md §2, policy file): Unicode lowering would make `\u212A`
    // (Kelvin) share the key of `k`.
    const key = asciiLower(`${owner}/${repo}\n${name}`);
    const at = now().getTime();
    const hit = cache.get(key);
    if (hit && at - hit.at < ttl) return hit.environment;
    // Concurrent checks of one environment share one request.
    let asking = pending.get(key);
    if (!asking) {
      asking = options.github.getEnvironment(owner, repo, name).finally(() => pending.delete(key));
      pending.set(key, asking);
    }
    const environment = await asking;
    cache.set(key, { at, environment });
    for (const [k, v] of cache) if (at - v.at >= ttl) cache.delete(k);
    return environment;
  }

  return {
    async check(role: Role, claims: Claims, token: { appGithub: boolean }): Promise<void> {
      if (!role.requireProtectedEnvironment) return;
      // The environment is looked up where the App is installed: another issuer's token naming
      // one of its repositories would pass on the word of a job that never ran there.
      if (!token.appGithub) {
        throw new JitkeyError(
          'access_denied',
          `role '${role.name}' requires a protected environment, which only a token of the GitHub the ` +
            "exchanger's App asks (JITKEY_GITHUB_ISSUER) can show",
        );
      }
      const environment = ownClaim(claims, 'environment');
      if (typeof environment !== 'string' || environment === '') {
        throw new JitkeyError(
          'access_denied',
          `role '${role.name}' requires a protected environment; add \`environment:\` to the job`,
        );
      }
      const repository = ownClaim(claims, 'repository');
      const [owner, repo, extra] = typeof repository === 'string' ? repository.split('/') : [];
      if (!owner || !repo || extra !== undefined) {
        throw new JitkeyError(
          'access_denied',
          `role '${role.name}' requires a protected environment, and the token has no valid repository claim`,
        );
      }
      const found = await lookup(owner, repo, environment);
      if (!found) {
        throw new JitkeyError(
          'access_denied',
          `environment '${environment}' does not exist in ${owner}/${repo} (or the jitkey GitHub App cannot see that repository); role '${role.name}' requires a protected environment`,
        );
      }
      if (found.protectionRules.length === 0 && !found.deploymentBranchPolicy) {
        throw new JitkeyError(
          'access_denied',
          `environment '${environment}' has no protection rules in ${owner}/${repo}: role '${role.name}' requires a protected environment — add required reviewers, a wait timer or a deployment branch policy to it`,
        );
      }
      log.debug('environment protection verified', {
        role: role.name,
        repository: `${owner}/${repo}`,
        environment,
        rules: found.protectionRules,
        deployment_branch_policy: found.deploymentBranchPolicy,
      });
    },
  };
}
