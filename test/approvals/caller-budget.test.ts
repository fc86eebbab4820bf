/**
 * The approver-call and sign-in budgets (`approvals/caller-budget.ts`): per client address, an
 * IPv6 client by its /64, and bounded in memory however many addresses call.
 */
import { describe, expect, it } from 'vitest';
import { APPROVER_CALLS_PER_MINUTE, callerBudget } from '../../exchanger/approvals/caller-budget.js';
import { JitkeyError } from '../../exchanger/errors.js';

let clock = Date.parse('2026-12-06T23:00:00Z');
const now = () => new Date(clock);

/** How many of `n` spends pass (the rest throw `rate_limited`). */
function allowed(spend: (peer: string) => void, peers: (i: number) => string, n: number): number {
  let ok = 0;
  for (let i = 0; i < n; i++) {
    try {
      spend(peers(i));
      ok++;
    } catch (err) {
      if (!(err instanceof JitkeyError) || err.code !== 'rate_limited') throw err;
    }
  }
  return ok;
}

describe('callerBudget', () => {
  it('gives one /64 one budget however many of its addresses call', () => {
    const spend = callerBudget({ now });
    const oneSlash64 = (i: number) => `2001:db8:1:2::${(i + 1).toString(16)}`;
    expect(allowed(spend, oneSlash64, 50 * APPROVER_CALLS_PER_MINUTE)).toBe(APPROVER_CALLS_PER_MINUTE);
    // Another /64, and an IPv4 client, each have their own.
    expect(allowed(spend, () => '2001:db8:1:3::1', 1)).toBe(1);
    expect(allowed(spend, () => '198.51.100.7', 1)).toBe(1);
  });

  it('counts sign-ins the same way, and says the /64 is what is over', () => {
    const spend = callerBudget({ now, perMinute: 20, what: 'sign-in attempts' });
    expect(allowed(spend, (i) => `2001:db8:9:9:${i.toString(16)}::1`, 20)).toBe(20);
    expect(() => spend('2001:db8:9:9::abcd')).toThrow(
      /more than 20 sign-in attempts a minute from this address's \/64/,
    );
  });

  it('forgets the oldest client at its cap of 10,000 rather than growing without bound', () => {
    const spend = callerBudget({ now, perMinute: 1 });
    spend('192.0.2.1');
    expect(() => spend('192.0.2.1')).toThrow(JitkeyError);
    // 10,000 other clients within the same minute: the first one's window is the oldest.
    clock += 1;
    for (let i = 0; i < 10_000; i++) spend(`10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`);
    // It was evicted, so it starts a new window; the newest client is still held.
    expect(() => spend('192.0.2.1')).not.toThrow();
    expect(() => spend('10.0.39.15')).toThrow(JitkeyError);
  });
});
