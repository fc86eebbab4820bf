/**
 * Refusals of callers whose token did not verify are the one kind of audit row anyone on the
 * network can make the exchanger write. Each peer gets one row per window; the refusals after it
 * in that window are counted and written as one summary row when the window ends (issue 16,
 * item 2). Refusals of verified tokens are always audited one by one: they name a job.
 */
import type { AuditEntry } from '../store/types.js';

export const FOLD_WINDOW_MS = 60_000;
/** Peers tracked at once; past this, new peers share one bucket (an address-hopping flood). */
const MAX_PEERS = 10_000;
const OVERFLOW_PEER = 'other peers';

export interface RefusalFold {
  /** True when this refusal gets its own audit row; false when it was counted into the window. */
  admit(peer: string): boolean;
  /** Summary rows for the windows that have ended (all of them with `all`), which it forgets. */
  due(all?: boolean): AuditEntry[];
}

interface Window {
  start: number;
  folded: number;
}

export function createRefusalFold(options: {
  now: () => Date;
  windowMs?: number;
  requestId: () => string;
}): RefusalFold {
  const windowMs = options.windowMs ?? FOLD_WINDOW_MS;
  const windows = new Map<string, Window>();
  const ended: AuditEntry[] = [];
  const summary = (peer: string, w: Window): AuditEntry => ({
    at: options.now(),
    requestId: options.requestId(),
    event: 'exchange',
    outcome: 'denied',
    errorCode: 'invalid_token',
    reason: `${w.folded} more refused request${w.folded === 1 ? '' : 's'} with an unverified token from ${peer} in ${windowMs / 1000} s after the one audited (counted, not audited one by one)`,
    claims: {},
  });
  return {
    admit(address) {
      const at = options.now().getTime();
      const peer = windows.has(address) || windows.size < MAX_PEERS ? address : OVERFLOW_PEER;
      const w = windows.get(peer);
      if (w && at - w.start < windowMs) {
        w.folded++;
        return false;
      }
      if (w && w.folded > 0) ended.push(summary(peer, w));
      windows.set(peer, { start: at, folded: 0 });
      return true;
    },
    due(all = false) {
      const at = options.now().getTime();
      const rows = ended.splice(0);
      for (const [peer, w] of windows) {
        if (!all && at - w.start < windowMs) continue;
        if (w.folded > 0) rows.push(summary(peer, w));
        windows.delete(peer);
      }
      return rows;
    },
  };
}
