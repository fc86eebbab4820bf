/**
 * The policy a `jitkey serve` process holds, with its verifier, and its reloads. A reload comes
 * in two steps, so a cluster's primary can put a policy in force in every worker or in none:
 * everything that can refuse it (parsing, the issuers' URLs, a role the providers cannot serve)
 * runs in `stage`; `commit` only swaps. One process reloads both steps at once (`reload`, on
 * SIGHUP): an invalid policy is refused and the one in force stays.
 */
import { warnApprovalsUnconfigured } from '../approvals/service.js';
import { appGithubIssuer, kindOf } from '../ci-kinds.js';
import type { GithubApp } from '../github/app.js';
import { actionsIssuerOf, githubApiUrlFromEnv, githubIssuerFromEnv } from '../github/config.js';
import type { Logger } from '../log.js';
import type { PolicySnapshot } from '../policy/load/snapshot.js';
import type { Policy } from '../policy/model/types.js';
import type { ClusterNames } from '../policy/validate/resources.js';
import type { Providers } from '../providers/types.js';
import type { Metrics } from '../server/metrics.js';
import type { ReadyTokenVerifier } from '../token/types.js';
import { createVerifier } from '../token/verify-token.js';
import { type Loaded, loadAside } from './policy-aside.js';
import { checkProviderRoles } from './providers-from-env.js';

export interface LivePolicy {
  policy(): Policy;
  verifier(): ReadyTokenVerifier;
  digest(): string;
  stage(snapshot?: PolicySnapshot): Promise<{ roles: number; digest: string }>;
  commit(): void;
  abort(): void;
  reload(): Promise<void>;
}

export function livePolicy(
  first: Loaded,
  o: {
    path: string;
    env: NodeJS.ProcessEnv;
    log: Logger;
    providers: Providers;
    github: GithubApp | undefined;
    metrics: Pick<Metrics, 'policyInfo' | 'reloads'>;
    /** Server URLs that name one cluster (`clusterNamesFromEnv`), for each reload. */
    clusters: ClusterNames;
  },
): LivePolicy {
  const { log, providers, github, metrics } = o;
  const jwksCooldownMs = o.env.JITKEY_JWKS_COOLDOWN_MS ? Number(o.env.JITKEY_JWKS_COOLDOWN_MS) : undefined;
  const makeVerifier = (p: Policy) =>
    createVerifier({ issuers: p.issuers, log, ...(jwksCooldownMs !== undefined ? { jwksCooldownMs } : {}) });
  /** `jitkey_policy_info{digest}`: which policy this process holds. */
  const show = (p: Policy, d: string) => {
    metrics.policyInfo.reset();
    metrics.policyInfo.set({ digest: d }, 1);
    warnUnconfigured(p, providers, log);
    warnApprovalsUnconfigured(p, github, log);
    warnGithubIssuerUnnamed(p, o.env, log, github !== undefined);
  };
  // A role the exchanger's own configuration cannot serve (a Kubernetes server no context names)
  // stops the start, as it refuses a reload.
  checkProviderRoles(first.policy, providers);
  checkGithubIssuer(first.policy, o.env);
  let policy = first.policy;
  let digest = first.digest;
  let verifier = makeVerifier(policy);
  show(policy, digest);

  let staged: { policy: Policy; verifier: ReadyTokenVerifier; digest: string } | undefined;
  /**
   * Reloads one after another: two SIGHUPs in quick succession, the first of a large policy, would
   * otherwise let the first commit last, over the newer file read by the second. At most one waits
   * behind the one running (it reads the files when it starts), however many SIGHUPs come.
   */
  let reloading: Promise<void> = Promise.resolve();
  let queued = false;
  const live: LivePolicy = {
    policy: () => policy,
    verifier: () => verifier,
    digest: () => digest,
    async stage(snapshot) {
      staged = undefined;
      const next = await loadAside(snapshot ? { snapshot } : { path: o.path }, o.clusters);
      checkProviderRoles(next.policy, providers);
      checkGithubIssuer(next.policy, o.env);
      const nextVerifier =
        JSON.stringify(next.policy.issuers) !== JSON.stringify(policy.issuers)
          ? makeVerifier(next.policy)
          : verifier;
      staged = { policy: next.policy, verifier: nextVerifier, digest: next.digest };
      return { roles: next.roles, digest: next.digest };
    },
    commit() {
      if (!staged) return;
      ({ policy, verifier, digest } = staged);
      staged = undefined;
      show(policy, digest);
    },
    abort() {
      staged = undefined;
    },
    reload() {
      if (queued) return reloading;
      queued = true;
      const run = () => {
        queued = false;
        return reloadOnce();
      };
      // On either outcome of the one before: a reload that threw must not stop every later one.
      reloading = reloading.then(run, run);
      return reloading;
    },
  };
  async function reloadOnce(): Promise<void> {
    try {
      const { roles } = await live.stage();
      live.commit();
      metrics.reloads.inc({ outcome: 'ok' });
      log.info('policy reloaded', { policy: o.path, roles, digest });
    } catch (err) {
      metrics.reloads.inc({ outcome: 'invalid' });
      log.error('policy reload refused; the previous policy stays in force', {
        policy: o.path,
        problems: String(err),
      });
    }
  }
  return live;
}

function warnUnconfigured(policy: Policy, providers: Record<string, unknown>, log: Logger): void {
  for (const role of policy.roles.values()) {
    if (!providers[role.provider]) {
      log.warn('a role uses a provider this exchanger has no configuration for; its exchanges will fail', {
        role: role.name,
        provider: role.provider,
      });
    }
  }
}

/** `JITKEY_GITHUB_ISSUER`, when set, names one of the policy's `github` issuers (`appGithubIssuer`). */
function checkGithubIssuer(policy: Policy, env: NodeJS.ProcessEnv): void {
  const named = githubIssuerFromEnv(env);
  if (!named || appGithubIssuer(policy.issuers, named)) return;
  const github = policy.issuers.filter((i) => kindOf(i) === 'github').map((i) => i.url);
  throw new Error(
    `JITKEY_GITHUB_ISSUER '${named}' is not one of the policy's github issuers ` +
      `(${github.join(', ') || 'none'}): name the issuer whose Actions tokens the GitHub of JITKEY_GITHUB_API_URL issues, exactly as under issuers`,
  );
}

/**
 * Two GitHubs trusted and neither named: what acts on GitHub's word acts for neither. One named
 * (or the only one) whose tokens another GitHub than the App's issues: it acts on the wrong one's.
 */
function warnGithubIssuerUnnamed(policy: Policy, env: NodeJS.ProcessEnv, log: Logger, app: boolean): void {
  const github = policy.issuers.filter((i) => kindOf(i) === 'github');
  const named = githubIssuerFromEnv(env);
  if (github.length >= 2 && !named) {
    log.warn(
      'the policy trusts several github issuers and JITKEY_GITHUB_ISSUER names none: break-glass, on-call auto-approval, the deployment gate and require_protected_environment act for no token',
      { issuers: github.map((i) => i.url) },
    );
    return;
  }
  if (!app) return;
  const issuer = appGithubIssuer(policy.issuers, named);
  const apiUrl = githubApiUrlFromEnv(env);
  const expected = actionsIssuerOf(apiUrl);
  if (issuer && expected && issuer !== expected && !issuer.startsWith(`${expected}/`)) {
    log.warn(
      "the github issuer the App's GitHub is taken to issue tokens for is not that GitHub's: break-glass, on-call, the gate and require_protected_environment would ask it about another GitHub's runs; set JITKEY_GITHUB_ISSUER or JITKEY_GITHUB_API_URL",
      { issuer, github_api_url: apiUrl, expected_issuer: expected },
    );
  }
}
