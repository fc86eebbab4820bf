/**
 * Refusals of callers whose token did not verify are the one kind of audit row anyone on the
 * network can make the exchanger write (an exchange, a redemption, or a webhook delivery without
 * its signature). Each peer gets one row per window and event; the refusals after it in that
 * window are counted and written as one summary row when the window ends (issue 16, item 2).
 * Refusals of verified tokens are always audited one by one: they name a job.
 */
import type { Logger } from '../log.js';
import type { AuditEntry, Store } from '../store/types.js';

export const FOLD_WINDOW_MS = 60_000;
/** Peers tracked at once; past this, new peers share one bucket (an address-hopping flood). */
const MAX_PEERS = 10_000;
const OVERFLOW_PEER = 'other peers';

/** The requests an unverified caller can be refused on (a webhook without its signature is one). */
export type FoldedEvent = 'exchange' | 'redeem' | 'webhook';

export interface RefusalFold {
  /** True when this refusal gets its own audit row; false when it was counted into the window. */
  admit(peer: string, event?: FoldedEvent): boolean;
  /** Summary rows for the windows that have ended (all of them with `all`), which it forgets. */
  due(all?: boolean): AuditEntry[];
}

interface Window {
  peer: string;
  event: FoldedEvent;
  start: number;
  folded: number;
}

/**
 * Whether a refusal gets its own audit row: always once the token verified; for an unverified
 * caller only when the fold admits it. One rule for exchanges and redemptions.
 */
export function auditsRefusal(
  fold: RefusalFold | undefined,
  verified: boolean,
  peer: string,
  event: FoldedEvent,
): boolean {
  return verified || !fold || fold.admit(peer, event);
}

export function createRefusalFold(options: {
  now: () => Date;
  windowMs?: number;
  requestId: () => string;
}): RefusalFold {
  const windowMs = options.windowMs ?? FOLD_WINDOW_MS;
  const windows = new Map<string, Window>();
  const ended: AuditEntry[] = [];
  const summary = (w: Window): AuditEntry => ({
    at: options.now(),
    requestId: options.requestId(),
    event: w.event,
    outcome: 'denied',
    errorCode: 'invalid_token',
    reason: `${w.folded} more refused request${w.folded === 1 ? '' : 's'} with ${w.event === 'webhook' ? 'a wrong webhook signature' : 'an unverified token'} from ${w.peer} in ${windowMs / 1000} s after the one audited (counted, not audited one by one)`,
    claims: {},
  });
  return {
    admit(address, event = 'exchange') {
      const at = options.now().getTime();
      let peer = address;
      if (!windows.has(`${event} ${address}`) && windows.size >= MAX_PEERS) peer = OVERFLOW_PEER;
      const key = `${event} ${peer}`;
      const w = windows.get(key);
      if (w && at - w.start < windowMs) {
        w.folded++;
        return false;
      }
      if (w && w.folded > 0) ended.push(summary(w));
      windows.set(key, { peer, event, start: at, folded: 0 });
      return true;
    },
    due(all = false) {
      const at = options.now().getTime();
      const rows = ended.splice(0);
      for (const [key, w] of windows) {
        if (!all && at - w.start < windowMs) continue;
        if (w.folded > 0) rows.push(summary(w));
        windows.delete(key);
      }
      return rows;
    },
  };
}

/** How often ended windows are written. */
const WRITE_INTERVAL_MS = 5_000;

/**
 * Writes the fold's summary rows as their windows end and, at `stop`, every window still open:
 * awaited, so a shutdown closes the store only after the last minute's count is in it.
 */
export function writeFoldedRefusals(
  fold: RefusalFold,
  deps: { store: Pick<Store, 'record'>; log: Logger },
  intervalMs = WRITE_INTERVAL_MS,
): { stop(): Promise<void> } {
  const write = (all: boolean) =>
    Promise.all(
      fold.due(all).map((entry) =>
        deps.store.record(entry).catch((err: unknown) => {
          deps.log.warn('could not audit folded refusals', { reason: entry.reason, error: err as Error });
        }),
      ),
    );
  let writing: Promise<unknown> = Promise.resolve();
  const timer = setInterval(() => {
    writing = write(false);
  }, intervalMs).unref();
  let stopped: Promise<void> | undefined;
  return {
    stop() {
      stopped ??= (async () => {
        clearInterval(timer);
        await writing;
        await write(true);
      })();
      return stopped;
    },
  };
}
