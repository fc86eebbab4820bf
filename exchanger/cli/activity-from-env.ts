/**
 * `jitkey serve`'s lease activity settings (issue 26, item 2), from the environment:
 *
 *   JITKEY_LEASE_ACTIVITY=aws,github,gcp,kubernetes
 *                                         whose leases' activity is collected (default: off):
 *                                         AWS from CloudTrail, GitHub from the organization audit
 *                                         log, GCP from Cloud Audit Logs (by service account),
 *                                         Kubernetes from the API server's audit webhook
 *                                         (`kubernetes-audit-from-env.ts`)
 *   JITKEY_GCP_LOGGING_ENDPOINT           Cloud Logging (default https://logging.googleapis.com)
 *   JITKEY_ACTIVITY_HORIZON=15m           poll until this long after a lease's credential ends
 *   JITKEY_ACTIVITY_POLL_INTERVAL=5m      how often a lease's activity is read again meanwhile
 *   JITKEY_ACTIVITY_THROTTLE_BACKOFF=1s   CloudTrail's first back-off after a ThrottlingException
 *                                         (doubled on each one in a row)
 *   JITKEY_ACTIVITY_THROTTLED_RETRY=30s   how soon a poll that stayed throttled is tried again
 *
 * Each takes a duration (`15m`, `30s`) or milliseconds (`200ms`). A bad value stops the start
 * with what to write instead.
 */
import { rateBudget } from '../activity/budget.js';
import { cloudTrailLookup, DEFAULT_THROTTLE_BACKOFF_MS } from '../activity/cloudtrail.js';
import {
  type Collector,
  DEFAULT_HORIZON_MS,
  DEFAULT_POLL_MS,
  DEFAULT_THROTTLED_RETRY_MS,
  startActivityCollector,
} from '../activity/collector.js';
import { flagForbidden } from '../activity/forbidden.js';
import { applicationDefaultIdentity } from '../activity/gcp-identity.js';
import { gcpLoggingLookup } from '../activity/gcp-logging.js';
import { githubAuditLogLookup } from '../activity/github-audit-log.js';
import { pushedActivity } from '../activity/kubernetes-intake.js';
import { notifyForbidden } from '../approvals/forbidden-notify.js';
import { publicUrlFromEnv } from '../approvals/notify.js';
import { parseDuration } from '../duration.js';
import type { GithubApp } from '../github/app.js';
import type { Logger } from '../log.js';
import { parseServiceUrl } from '../net/service-url.js';
import type { Policy } from '../policy/model/types.js';
import { newRequestId } from '../server/request-id.js';
import type { Store } from '../store/types.js';

/** The providers whose activity a lookup reads. */
export const ACTIVITY_PROVIDERS = ['aws', 'github', 'gcp', 'kubernetes'] as const;
type ActivityProvider = (typeof ACTIVITY_PROVIDERS)[number];

export interface ActivitySettings {
  providers: ActivityProvider[];
  horizonMs: number;
  pollMs: number;
  throttleBackoffMs: number;
  throttledRetryMs: number;
  gcpLoggingEndpoint?: string;
  /** `JITKEY_PUBLIC_URL`: the lease's console page, linked from a forbidden-action message. */
  publicUrl?: string;
}

type Env = Record<string, string | undefined>;

/** Undefined when collection is off. */
export function activityFromEnv(env: Env): ActivitySettings | undefined {
  const which = env.JITKEY_LEASE_ACTIVITY?.trim().toLowerCase() ?? '';
  if (which === '' || which === 'off') return undefined;
  const providers: ActivityProvider[] = [];
  for (const name of which.split(',').map((p) => p.trim())) {
    const known = ACTIVITY_PROVIDERS.find((p) => p === name);
    if (!known) {
      throw new Error(
        `JITKEY_LEASE_ACTIVITY must be 'off' or a list of ${ACTIVITY_PROVIDERS.join(', ')} (e.g. aws,github), got '${env.JITKEY_LEASE_ACTIVITY}': '${name}' is not one of them`,
      );
    }
    if (!providers.includes(known)) providers.push(known);
  }
  const logging = env.JITKEY_GCP_LOGGING_ENDPOINT?.trim();
  const publicUrl = publicUrlFromEnv(env);
  if (logging) parseServiceUrl(logging, 'JITKEY_GCP_LOGGING_ENDPOINT');
  return {
    providers,
    horizonMs: durationMs(env, 'JITKEY_ACTIVITY_HORIZON', DEFAULT_HORIZON_MS),
    pollMs: durationMs(env, 'JITKEY_ACTIVITY_POLL_INTERVAL', DEFAULT_POLL_MS),
    throttleBackoffMs: durationMs(env, 'JITKEY_ACTIVITY_THROTTLE_BACKOFF', DEFAULT_THROTTLE_BACKOFF_MS),
    throttledRetryMs: durationMs(env, 'JITKEY_ACTIVITY_THROTTLED_RETRY', DEFAULT_THROTTLED_RETRY_MS),
    ...(logging ? { gcpLoggingEndpoint: logging } : {}),
    ...(publicUrl ? { publicUrl } : {}),
  };
}

function durationMs(env: Env, name: string, fallback: number): number {
  const text = env[name]?.trim();
  if (!text) return fallback;
  const ms = /^(\d+)ms$/.exec(text);
  if (ms && Number(ms[1]) > 0) return Number(ms[1]);
  try {
    return parseDuration(text) * 1000;
  } catch {
    throw new Error(`${name} must be a duration such as 15m, 30s or 500ms, got '${text}'`);
  }
}

/**
 * The background collector, with one request budget per upstream for the whole process:
 * CloudTrail 2 a second per account and region, GitHub's audit log 1,750 an hour per caller
 * (spaced per organization), Cloud Logging 60 a minute per project.
 */
export function startActivity(
  settings: ActivitySettings,
  deps: {
    store: Store;
    log: Logger;
    policy: () => Policy;
    forbiddenActions: { inc(labels: { role: string; action: string }): void };
    /** The GitHub App, for GitHub activity. */
    github?: GithubApp | undefined;
  },
): Collector & { close(): void } {
  const { store, log } = deps;
  const on = new Set(settings.providers);
  const aws = on.has('aws')
    ? cloudTrailLookup({ budget: rateBudget({ perSecond: 2 }), log, backoffMs: settings.throttleBackoffMs })
    : undefined;
  if (on.has('github') && !deps.github) {
    throw new Error(
      'JITKEY_LEASE_ACTIVITY names github, whose activity is read with the GitHub App: set JITKEY_GITHUB_APP_ID and its private key',
    );
  }
  const github =
    on.has('github') && deps.github
      ? githubAuditLogLookup({ app: deps.github, budget: rateBudget({ perSecond: 1750 / 3600 }), log })
      : undefined;
  const gcp = on.has('gcp')
    ? gcpLoggingLookup({
        identity: applicationDefaultIdentity(),
        budget: rateBudget({ perSecond: 1 }),
        log,
        ...(settings.gcpLoggingEndpoint ? { endpoint: settings.gcpLoggingEndpoint } : {}),
      })
    : undefined;
  const collector = startActivityCollector({
    store,
    lookups: {
      ...(aws ? { aws } : {}),
      ...(github ? { github } : {}),
      ...(gcp ? { gcp } : {}),
      // Pushed by the audit webhook: the polls only close each key at its horizon.
      ...(on.has('kubernetes') ? { kubernetes: pushedActivity } : {}),
    },
    log,
    onNewEvents: forbiddenFlagger({
      ...deps,
      ...(settings.publicUrl ? { publicUrl: settings.publicUrl } : {}),
    }),
    horizonMs: settings.horizonMs,
    pollMs: settings.pollMs,
    throttledRetryMs: settings.throttledRetryMs,
    tickMs: Math.min(settings.pollMs, 10_000),
  });
  return { ...collector, close: () => aws?.close() };
}

/**
 * Flags a role's `forbid_actions` in new activity: an audit row, the metric (`forbidden.ts`) and
 * a message on the role's `approval.notify`, linking the lease's console page when
 * `publicUrl` is known (`approvals/forbidden-notify.ts`).
 */
export function forbiddenFlagger(deps: {
  store: Store;
  log: Logger;
  policy: () => Policy;
  forbiddenActions: { inc(labels: { role: string; action: string }): void };
  publicUrl?: string;
}): ReturnType<typeof flagForbidden> {
  return flagForbidden({
    store: deps.store,
    policy: deps.policy,
    log: deps.log,
    now: () => new Date(),
    newRequestId,
    counted: (labels) => deps.forbiddenActions.inc(labels),
    notify: notifyForbidden({
      fetch: globalThis.fetch,
      log: deps.log,
      ...(deps.publicUrl ? { publicUrl: deps.publicUrl } : {}),
    }),
  });
}
