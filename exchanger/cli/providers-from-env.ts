/**
 * Builds the providers and guards `jitkey serve` runs with, from each platform's own
 * conventions (reference.md §1). A provider whose platform is not configured is left out; a role
 * that needs it then fails with `upstream_error` naming the missing configuration.
 */

import { createGithubApp, type GithubApp } from '../github/app.js';
import { githubAppConfigFromEnv } from '../github/config.js';
import { createEnvironmentGuard } from '../github/environment-guard.js';
import type { Logger } from '../log.js';
import { parseServiceUrl } from '../net/service-url.js';
import type { Guard } from '../policy/evaluate/guard.js';
import type { Policy } from '../policy/model/types.js';
import { createAwsProvider } from '../providers/aws.js';
import { createGithubProvider } from '../providers/github.js';
import { createKubernetesProvider } from '../providers/kubernetes.js';
import { createKubeApi } from '../providers/kubernetes-api.js';
import { kubeCredentialsFromEnv } from '../providers/kubernetes-config.js';
import type { Provider, Providers } from '../providers/types.js';

type Env = Readonly<Record<string, string | undefined>>;

export interface ProviderDeps {
  log: Logger;
}

/** The GitHub App client is shared by the provider, the environment guard and approvals. */
export function githubAppFromEnv(env: Env, log: Logger): GithubApp | undefined {
  const config = githubAppConfigFromEnv(env);
  return config ? createGithubApp({ ...config, log }) : undefined;
}

export function buildProviders(
  env: Env,
  deps: ProviderDeps,
  app = githubAppFromEnv(env, deps.log),
): Providers {
  const providers: Providers = {
    // The AWS SDK finds its credentials lazily (default chain), so AWS is always offered.
    aws: createAwsProvider({ log: deps.log }),
  };
  if (app) providers.github = createGithubProvider({ app, log: deps.log });
  // GCP's client library costs ~0.3 s to load: load it on the first GCP exchange, but check
  // its endpoint now so a bad value stops the start, not a job.
  const gcpEndpoint = env.JITKEY_GCP_IAM_ENDPOINT?.trim();
  if (gcpEndpoint) parseServiceUrl(gcpEndpoint, 'JITKEY_GCP_IAM_ENDPOINT');
  providers.gcp = lazyProvider('gcp', async () => {
    const { createGcpProvider, gcpConfigFromEnv } = await import('../providers/gcp.js');
    return createGcpProvider({ ...gcpConfigFromEnv(env), log: deps.log });
  });
  // Cheap (no client library: see kubernetes-api.ts), so built now; a bad JITKEY_KUBECONFIG stops the start.
  // Not lazy on purpose: its sweep must run at start, before any kubernetes exchange.
  const kube = kubeCredentialsFromEnv(env);
  if (kube) {
    providers.kubernetes = createKubernetesProvider({
      connect: (server) => createKubeApi(kube.connectionFor(server)),
      log: deps.log,
    });
  }
  return providers;
}

/**
 * Throws, listing them, when the exchanger's own configuration cannot serve some of the policy's
 * roles (`Provider.check`): at start and at each reload, so the mistake stops the start or the
 * reload instead of failing a job.
 */
export function checkProviderRoles(policy: Policy, providers: Providers): void {
  const roles = [...policy.roles.values()];
  const problems: string[] = [];
  for (const [name, provider] of Object.entries(providers)) {
    if (provider?.check) problems.push(...provider.check(roles.filter((r) => r.provider === name)));
  }
  if (problems.length > 0) throw new Error(problems.join('\n'));
}

/** A provider built on first use; a failed build is tried again on the next request. */
export function lazyProvider(name: Provider['name'], load: () => Promise<Provider>): Provider {
  let loading: Promise<Provider> | undefined;
  const get = () => {
    loading ??= load().catch((err: unknown) => {
      loading = undefined;
      throw err;
    });
    return loading;
  };
  return {
    name,
    mint: async (request) => (await get()).mint(request),
    revoke: async (role, secret) => {
      const provider = await get();
      await provider.revoke?.(role, secret);
    },
  };
}

export function buildGuards(env: Env, deps: { log: Logger }, app = githubAppFromEnv(env, deps.log)): Guard[] {
  if (!app) return [missingAppGuard];
  return [createEnvironmentGuard({ github: app, log: deps.log })];
}

/** Fail closed: a role that requires a protected environment cannot be checked without the App. */
const missingAppGuard: Guard = {
  async check(role) {
    if (!role.requireProtectedEnvironment) return;
    const { JitkeyError } = await import('../errors.js');
    throw new JitkeyError(
      'access_denied',
      `role '${role.name}' requires a protected environment, and this exchanger has no GitHub App configured to check it (JITKEY_GITHUB_APP_ID)`,
    );
  },
};
