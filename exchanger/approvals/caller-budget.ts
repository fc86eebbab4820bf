/**
 * Approver calls (`GET /v1/requests`, approve, deny) per client address per minute (issue 16,
 * item 10). Each can cost GitHub API calls; a person deciding needs a handful a minute. Also the
 * console's sign-in budget.
 */
import { JitkeyError } from '../errors.js';
import { limitKey } from '../net/ip.js';

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
  // Oldest window first: a window that restarts moves to the end.
  const windows = new Map<string, { start: number; used: number }>();
  return (peer) => {
    // An IPv6 client by its /64, as every per-address limit: else one host has 2^64 budgets.
    const key = limitKey(peer);
    const at = options.now().getTime();
    let w = windows.get(key);
    if (!w || at - w.start >= WINDOW_MS) {
      windows.delete(key);
      for (const [k, v] of windows) {
        if (at - v.start < WINDOW_MS) break;
        windows.delete(k);
      }
      // Still full of live windows (many clients, or a spread of addresses): the oldest goes,
      // so the map stays bounded and a new client is still counted.
      if (windows.size >= MAX_PEERS) windows.delete(windows.keys().next().value as string);
      w = { start: at, used: 0 };
      windows.set(key, w);
    }
    if (++w.used > limit) {
      const retryAfter = Math.max(1, Math.ceil((w.start + WINDOW_MS - at) / 1000));
      throw new JitkeyError(
        'rate_limited',
        `more than ${limit} ${what} a minute from this address${key.endsWith('/64') ? "'s /64" : ''}; retry in ${retryAfter} s`,
        { retryAfter },
      );
    }
  };
}
