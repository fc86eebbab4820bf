/**
 * Telling a listener (the `forbid_actions` check, `forbidden.ts`) about events stored for the
 * first time, shared by the collector and the Kubernetes audit intake: its failure is logged and
 * never fails the poll or the batch that stored them.
 */
import type { Logger } from '../log.js';
import type { ActivityEvent, ActivityKey } from '../store/activity-types.js';

export type NewEventsListener = (key: ActivityKey, events: ActivityEvent[]) => Promise<void>;

/** Hands `listener` the events of `events` whose ids are in `added`; nothing when none are. */
export async function tellNewEvents(
  listener: NewEventsListener | undefined,
  key: ActivityKey,
  events: ActivityEvent[],
  added: ReadonlySet<string>,
  log: Logger,
): Promise<void> {
  if (!added.size || !listener) return;
  await listener(
    key,
    events.filter((e) => added.has(e.eventId)),
  ).catch((err: unknown) =>
    log.warn('could not check new lease activity', { lease_id: key.leaseId, error: err as Error }),
  );
}
