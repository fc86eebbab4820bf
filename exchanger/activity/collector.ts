/**
 * The lease activity collector (issue 26, item 2): in the background of `jitkey serve`, never on
 * a request's path. Each credential registered at mint time (`addActivityKey`) is polled every
 * `pollMs` while its lease runs and after it ends, until `horizonMs` past its end: upstreams
 * deliver their records late (CloudTrail: typically 5 to 15 minutes). Each poll reads the whole
 * window again and the store keeps each event once, so a late record is found by a later poll.
 *
 * Fails soft: a poll that fails records "activity unavailable: reason" on the key and is tried
 * again on the next poll; a key whose last poll past the horizon failed stays `unavailable`.
 * Throttling is not a failure: the key is polled again shortly, and is complete only once a poll
 * past the horizon has read everything. A lookup that stops at its page limit (`ActivityTruncated`)
 * hands over what it read: kept and flagged, the reason says so, and the key is polled as usual and
 * ends `unavailable` at its horizon, never `complete`.
 */
import type { Logger } from '../log.js';
import type { ActivityKey } from '../store/activity-types.js';
import type { Store } from '../store/types.js';
import { type ActivityLookup, ActivityThrottled, ActivityTruncated } from './cloudtrail.js';
import { type NewEventsListener, tellNewEvents } from './new-events.js';

export const DEFAULT_HORIZON_MS = 15 * 60_000;
export const DEFAULT_POLL_MS = 5 * 60_000;
const DEFAULT_TICK_MS = 10_000;
/** Keys one tick takes at most; the rest wait for the next. */
const BATCH = 50;
/** How long a taken key is kept from other instances: longer than any poll takes. */
const CLAIM_MS = 10 * 60_000;
/** Records made a little before the window (clock skew between jitkey and AWS) are still read. */
const SKEW_MS = 5 * 60_000;
/** After a throttled poll, the key is polled again this soon (`JITKEY_ACTIVITY_THROTTLED_RETRY`). */
export const DEFAULT_THROTTLED_RETRY_MS = 30_000;

export interface CollectorOptions {
  store: Pick<Store, 'claimActivityKeys' | 'saveActivity'>;
  /** One lookup per provider; a key of another provider is marked unavailable. */
  lookups: Partial<Record<string, ActivityLookup>>;
  log: Logger;
  now?: () => Date;
  horizonMs?: number;
  pollMs?: number;
  /** How often due keys are looked for. */
  tickMs?: number;
  throttledRetryMs?: number;
  /** Told the events a poll found for the first time (`forbidden.ts`); its failure is logged. */
  onNewEvents?: NewEventsListener;
}

export interface Collector {
  /** One round: every due key polled. Resolves when they are saved. */
  tick(): Promise<void>;
  stop(): Promise<void>;
}

export function startActivityCollector(options: CollectorOptions): Collector {
  const now = options.now ?? (() => new Date());
  const horizonMs = options.horizonMs ?? DEFAULT_HORIZON_MS;
  const pollMs = options.pollMs ?? DEFAULT_POLL_MS;
  const retryMs = options.throttledRetryMs ?? DEFAULT_THROTTLED_RETRY_MS;
  const { store, log } = options;

  const poll = async (key: ActivityKey): Promise<void> => {
    const at = now();
    const horizon = key.windowEnd.getTime() + horizonMs;
    const last = at.getTime() >= horizon;
    const next = new Date(Math.min(at.getTime() + pollMs, horizon));
    const lookup = options.lookups[key.provider];
    if (!lookup) {
      await store.saveActivity(
        { ...key, status: 'unavailable', reason: `activity unavailable: not collected for ${key.provider}` },
        [],
      );
      return;
    }
    let events: Awaited<ReturnType<ActivityLookup>>;
    let cut: string | undefined;
    try {
      events = await lookup(key, {
        start: new Date(key.windowStart.getTime() - SKEW_MS),
        end: new Date(Math.min(at.getTime(), horizon)),
      });
    } catch (err) {
      if (err instanceof ActivityTruncated) {
        // What was read is kept and flagged; the key is never `complete`, and ends at its horizon
        // like any other, so a lease that did more than a poll reads cannot hold the budget forever.
        events = err.events;
        cut = `activity truncated: ${err.message}; the ${events.length} events read are shown`;
        log.warn('lease activity truncated', { lease_id: key.leaseId, provider: key.provider, reason: cut });
      } else if (err instanceof ActivityThrottled) {
        log.info('lease activity delayed: throttled', { lease_id: key.leaseId, error: err });
        await store.saveActivity({ ...key, nextPollAt: new Date(at.getTime() + retryMs) }, []);
        return;
      } else {
        const reason = `activity unavailable: ${describe(err)}`;
        log.warn('lease activity poll failed', { lease_id: key.leaseId, provider: key.provider, reason });
        await store.saveActivity(
          { ...key, status: last ? 'unavailable' : 'collecting', reason, nextPollAt: last ? at : next },
          [],
        );
        return;
      }
    }
    const { reason: _, ...state } = key;
    const found = events.map((e) => ({ ...e, leaseId: key.leaseId, keyId: key.keyId }));
    const added = new Set(
      await store.saveActivity(
        {
          ...state,
          status: !last ? 'collecting' : cut ? 'unavailable' : 'complete',
          ...(cut ? { reason: cut } : {}),
          nextPollAt: next,
          polledAt: at,
        },
        found,
      ),
    );
    await tellNewEvents(options.onNewEvents, key, found, added, log);
  };

  let running: Promise<void> | undefined;
  let stopped = false;
  const tick = async () => {
    const at = now();
    const keys = await store.claimActivityKeys(at, new Date(at.getTime() + CLAIM_MS), BATCH);
    // Side by side: the budget queues the lookups of one account and region.
    await Promise.all(
      keys.map((key) =>
        poll(key).catch((err: unknown) =>
          log.warn('could not save lease activity', { lease_id: key.leaseId, error: err as Error }),
        ),
      ),
    );
  };
  const timer = setInterval(() => {
    if (running || stopped) return;
    running = tick()
      .catch((err: unknown) => log.warn('lease activity round failed', { error: err as Error }))
      .finally(() => {
        running = undefined;
      });
  }, options.tickMs ?? DEFAULT_TICK_MS);
  timer.unref();
  return {
    tick,
    async stop() {
      stopped = true;
      clearInterval(timer);
      await running;
    },
  };
}

/** An upstream error as one line: its code (AccessDeniedException) and message, nothing else. */
function describe(err: unknown): string {
  if (!(err instanceof Error)) return String(err).slice(0, 300);
  const name = err.name && err.name !== 'Error' ? `${err.name}: ` : '';
  return `${name}${err.message}`.replace(/\s+/g, ' ').slice(0, 300);
}
