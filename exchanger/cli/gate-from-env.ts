/**
 * GitHub's deployment gate from the environment: on whenever a GitHub App is configured (its
 * deliveries also need `JITKEY_GITHUB_WEBHOOK_SECRET`), and the reconciler's interval,
 * `JITKEY_GATE_RECONCILE_INTERVAL` (a duration such as `5m`, the default; `0` turns it off).
 */
import { createGate, type Gate } from '../gate/gate.js';
import { RECONCILE_INTERVAL_MS } from '../gate/reconciler.js';
import type { GateDeps } from '../gate/types.js';
import { githubAppConfigFromEnv } from '../github/config.js';
import { createGateGithub } from '../github/deployment-gate.js';
import { intervalMsFromEnv } from './interval-from-env.js';

type Env = Readonly<Record<string, string | undefined>>;

export function gateFromEnv(env: Env, deps: Omit<GateDeps, 'gateGithub'>): Gate | undefined {
  const config = githubAppConfigFromEnv(env);
  if (!config || !deps.github) return undefined;
  return createGate({
    ...deps,
    gateGithub: createGateGithub({
      appId: config.appId,
      privateKey: config.privateKey,
      apiUrl: config.apiUrl,
    }),
  });
}

/** Milliseconds between reconciler passes; 0: none. */
export function reconcileIntervalFromEnv(env: Env): number {
  return intervalMsFromEnv(env, 'JITKEY_GATE_RECONCILE_INTERVAL', RECONCILE_INTERVAL_MS, {
    examples: '5m or 30s',
    off: 'the reconciler',
  });
}
