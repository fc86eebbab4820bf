/**
 * One queued request budget per AWS account and region: CloudTrail answers `LookupEvents` at
 * most 2 requests a second per account and region, and a caller past it gets ThrottlingException.
 * Every lookup in this process takes its turn here, first come first served, so leases polled
 * side by side share the rate instead of racing for it; a throttling answer pushes the next turn
 * back for everyone using that account and region.
 */

export interface RateBudget {
  /** Resolves when it is this caller's turn for `key`. */
  take(key: string): Promise<void>;
  /** Nobody on `key` goes before `ms` from now (the upstream said slow down). */
  backoff(key: string, ms: number): void;
}

export function rateBudget(
  options: { perSecond?: number; now?: () => number; sleep?: (ms: number) => Promise<void> } = {},
): RateBudget {
  const gapMs = 1000 / (options.perSecond ?? 2);
  const now = options.now ?? Date.now;
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const nextSlot = new Map<string, number>();
  return {
    async take(key) {
      const at = Math.max(now(), nextSlot.get(key) ?? 0);
      // The slot is reserved now, in call order: later callers queue behind it.
      nextSlot.set(key, at + gapMs);
      const wait = at - now();
      if (wait > 0) await sleep(wait);
    },
    backoff(key, ms) {
      nextSlot.set(key, Math.max(nextSlot.get(key) ?? 0, now() + ms));
    },
  };
}
