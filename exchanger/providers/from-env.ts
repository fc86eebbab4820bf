/**
 * Builds the providers and guards `jitkey serve` runs with, from each platform's own
 * conventions (SPEC section 1). A provider whose platform is not configured is left out; a role
 * that needs it then fails with `upstream_error` naming the missing configuration.
 */

import { createGithubApp, type GithubApp } from '../github/app.js';
import { githubAppConfigFromEnv } from '../github/config.js';
import { createEnvironmentGuard } from '../github/environment-guard.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../server/metrics.js';
import { createAwsProvider } from './aws.js';
import { createGithubProvider } from './github.js';
import type { Guard, Providers } from './types.js';

type Env = Readonly<Record<string, string | undefined>>;

export interface ProviderDeps {
  log: Logger;
  metrics: Metrics;
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
  const observe = (provider: string, seconds: number, outcome: string) =>
    deps.metrics.upstream.observe({ provider, outcome }, seconds);
  const providers: Providers = {
    // The AWS SDK finds its credentials lazily (default chain), so AWS is always offered.
    aws: createAwsProvider({ log: deps.log, observe }),
  };
  if (app) providers.github = createGithubProvider({ app, log: deps.log });
  return providers;
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
