/**
 * `jitkey serve`'s lease activity settings (issue 26, item 2), from the environment:
 *
 *   JITKEY_LEASE_ACTIVITY=aws             collect AWS leases' CloudTrail activity (default: off)
 *   JITKEY_ACTIVITY_HORIZON=15m           poll until this long after a lease's credential ends
 *   JITKEY_ACTIVITY_POLL_INTERVAL=5m      how often a lease's activity is read again meanwhile
 *
 * A bad value stops the start with what to write instead.
 */
import { rateBudget } from '../activity/budget.js';
import { cloudTrailLookup } from '../activity/cloudtrail.js';
import {
  type Collector,
  DEFAULT_HORIZON_MS,
  DEFAULT_POLL_MS,
  startActivityCollector,
} from '../activity/collector.js';
import { flagForbidden } from '../activity/forbidden.js';
import { parseDuration } from '../duration.js';
import type { Logger } from '../log.js';
import type { Policy } from '../policy/types.js';
import { newRequestId } from '../server/request-id.js';
import type { Store } from '../store/types.js';

export interface ActivitySettings {
  horizonMs: number;
  pollMs: number;
}

type Env = Record<string, string | undefined>;

/** Undefined when collection is off. */
export function activityFromEnv(env: Env): ActivitySettings | undefined {
  const which = env.JITKEY_LEASE_ACTIVITY?.trim().toLowerCase() ?? '';
  if (which === '' || which === 'off') return undefined;
  if (which !== 'aws') {
    throw new Error(
      `JITKEY_LEASE_ACTIVITY must be 'aws' (CloudTrail activity of AWS leases) or 'off', got '${env.JITKEY_LEASE_ACTIVITY}': Kubernetes, GitHub and GCP activity are not collected yet`,
    );
  }
  return {
    horizonMs: durationMs(env, 'JITKEY_ACTIVITY_HORIZON', DEFAULT_HORIZON_MS),
    pollMs: durationMs(env, 'JITKEY_ACTIVITY_POLL_INTERVAL', DEFAULT_POLL_MS),
  };
}

function durationMs(env: Env, name: string, fallback: number): number {
  const text = env[name]?.trim();
  if (!text) return fallback;
  try {
    return parseDuration(text) * 1000;
  } catch {
    throw new Error(`${name} must be a duration such as 15m or 30s, got '${text}'`);
  }
}

/** The background collector, with one CloudTrail budget for the whole process. */
export function startActivity(
  settings: ActivitySettings,
  deps: {
    store: Store;
    log: Logger;
    policy: () => Policy;
    forbiddenActions: { inc(labels: { role: string; action: string }): void };
  },
): Collector & { close(): void } {
  const { store, log } = deps;
  const aws = cloudTrailLookup({ budget: rateBudget({ perSecond: 2 }), log });
  const collector = startActivityCollector({
    store,
    lookups: { aws },
    log,
    onNewEvents: flagForbidden({
      store,
      policy: deps.policy,
      log,
      now: () => new Date(),
      newRequestId,
      counted: (labels) => deps.forbiddenActions.inc(labels),
    }),
    horizonMs: settings.horizonMs,
    pollMs: settings.pollMs,
    tickMs: Math.min(settings.pollMs, 10_000),
  });
  return { ...collector, close: () => aws.close() };
}
