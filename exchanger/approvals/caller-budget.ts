/**
 * Approver calls (`GET /v1/requests`, approve, deny) per client address per minute (issue 16,
 * item 10). Each can cost GitHub API calls; a person deciding needs a handful a minute.
 */
import { JitkeyError } from '../errors.js';

export const APPROVER_CALLS_PER_MINUTE = 120;
const WINDOW_MS = 60_000;
const MAX_PEERS = 10_000;

export function callerBudget(options: {
  now: () => Date;
  perMinute?: number;
  /** What is counted, for the refusal (default 'approver calls'). */
  what?: string;
}): (peer: string) => void {
  const limit = options.perMinute ?? APPROVER_CALLS_PER_MINUTE;
  const what = options.what ?? 'approver calls';
  const windows = new Map<string, { start: number; used: number }>();
  return (peer) => {
    const at = options.now().getTime();
    let w = windows.get(peer);
    if (!w || at - w.start >= WINDOW_MS) {
      if (windows.size >= MAX_PEERS) {
        for (const [k, v] of windows) if (at - v.start >= WINDOW_MS) windows.delete(k);
      }
      w = { start: at, used: 0 };
      windows.set(peer, w);
    }
    if (++w.used > limit) {
      const retryAfter = Math.max(1, Math.ceil((w.start + WINDOW_MS - at) / 1000));
      throw new JitkeyError(
        'rate_limited',
        `more than ${limit} ${what} a minute from this address; retry in ${retryAfter} s`,
        { retryAfter },
      );
    }
  };
}
