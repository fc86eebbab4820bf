/**
 * GitHub's deployment gate from the environment: on whenever a GitHub App is configured (its
 * deliveries also need `JITKEY_GITHUB_WEBHOOK_SECRET`), and the reconciler's interval,
 * `JITKEY_GATE_RECONCILE_INTERVAL` (a duration such as `5m`, the default; `0` turns it off).
 */
import { parseDuration } from '../duration.js';
import { createGate, type Gate } from '../gate/gate.js';
import { RECONCILE_INTERVAL_MS } from '../gate/reconciler.js';
import type { GateDeps } from '../gate/types.js';
import { githubAppConfigFromEnv } from '../github/config.js';
import { createGateGithub } from '../github/deployment-gate.js';

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
  const text = env.JITKEY_GATE_RECONCILE_INTERVAL?.trim();
  if (!text) return RECONCILE_INTERVAL_MS;
  if (text === '0') return 0;
  try {
    return parseDuration(text) * 1000;
  } catch {
    throw new Error(
      `JITKEY_GATE_RECONCILE_INTERVAL must be a duration such as 5m or 30s (0 turns the reconciler off), got '${text}'`,
    );
  }
}
