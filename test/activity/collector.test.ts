/**
 * The collector's bookkeeping on a real (SQLite) store, with the lookup handed in: a failing poll
 * records "activity unavailable: reason" and is tried again until the horizon; a throttled one
 * is only delayed; a key is complete once a poll past the horizon succeeds; one cut at its page
 * limit keeps what it read and is never complete.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { rateBudget } from '../../exchanger/activity/budget.js';
import {
  type ActivityLookup,
  ActivityThrottled,
  ActivityTruncated,
} from '../../exchanger/activity/cloudtrail.js';
import { startActivityCollector } from '../../exchanger/activity/collector.js';
import type { ActivityKey } from '../../exchanger/store/activity-types.js';
import { openStore } from '../../exchanger/store/open.js';
import type { Store } from '../../exchanger/store/types.js';

const T0 = new Date('2025-03-01T12:00:00Z');
const min = (m: number) => new Date(T0.getTime() + m * 60_000);
const key: ActivityKey = {
  leaseId: 'lease-1',
  provider: 'aws',
  keyId: 'ASIAKEY1',
  account: '111122223333',
  region: 'us-east-1',
  windowStart: T0,
  windowEnd: min(15),
  nextPollAt: min(5),
  status: 'collecting',
};
const event = { eventId: 'e1', at: min(2), name: 'ListBuckets', source: 's3.amazonaws.com', resources: [] };

let store: Store;
afterEach(() => store?.close());

async function world(lookup: ActivityLookup) {
  store = await openStore('sqlite::memory:', { purgeIntervalMs: 0 });
  await store.addActivityKey(key);
  let now = min(5);
  const collector = startActivityCollector({
    store,
    lookups: { aws: lookup },
    log: { debug() {}, info() {}, warn() {}, error() {} },
    now: () => now,
    horizonMs: 15 * 60_000,
    pollMs: 5 * 60_000,
    tickMs: 3_600_000,
  });
  return {
    at: (m: number) => {
      now = min(m);
    },
    tick: () => collector.tick(),
    stop: () => collector.stop(),
    read: () => store.leaseActivity('lease-1'),
  };
}

describe('the activity collector', () => {
  it('fails soft: records why, tries again, and is unavailable only when the horizon passed failing', async () => {
    let fail = true;
    const w = await world(async () => {
      if (fail)
        throw Object.assign(new Error('User is not authorized to perform: cloudtrail:LookupEvents'), {
          name: 'AccessDeniedException',
        });
      return [event];
    });
    await w.tick();
    let { keys } = await w.read();
    expect(keys[0]).toMatchObject({
      status: 'collecting',
      reason:
        'activity unavailable: AccessDeniedException: User is not authorized to perform: cloudtrail:LookupEvents',
      nextPollAt: min(10),
    });
    fail = false;
    w.at(10);
    await w.tick();
    ({ keys } = await w.read());
    expect(keys[0]).toMatchObject({ status: 'collecting', polledAt: min(10), nextPollAt: min(15) });
    expect(keys[0]!.reason).toBeUndefined();
    fail = true;
    w.at(30); // the horizon: 15 min past the window's end
    await w.tick();
    const after = await w.read();
    expect(after.keys[0]).toMatchObject({
      status: 'unavailable',
      reason: expect.stringContaining('activity unavailable: AccessDenied'),
    });
    expect(after.events.map((e) => e.eventId)).toEqual(['e1']);
    w.at(60);
    await w.tick(); // not polled again
    await w.stop();
  });

  it('a throttled poll is only delayed; a poll past the horizon completes the key', async () => {
    let throttled = true;
    const w = await world(async () => {
      if (throttled) throw new ActivityThrottled('CloudTrail throttled 5 lookups in a row');
      return [event];
    });
    await w.tick();
    expect((await w.read()).keys[0]).toMatchObject({
      status: 'collecting',
      nextPollAt: new Date(min(5).getTime() + 30_000),
    });
    expect((await w.read()).keys[0]!.reason).toBeUndefined();
    throttled = false;
    w.at(31);
    await w.tick();
    const { keys, events } = await w.read();
    expect(keys[0]).toMatchObject({ status: 'complete', polledAt: min(31) });
    expect(events).toHaveLength(1);
    await w.stop();
  });

  it('a poll cut at its page limit keeps what it read, says so, and ends at the horizon', async () => {
    // A lease whose holder made more calls than a poll reads: the first pages are kept and
    // flagged, not thrown away and asked for again every 30 s for ever.
    const w = await world(async () => {
      throw new ActivityTruncated('more than 20 pages of audit log', [event]);
    });
    await w.tick();
    let { keys, events } = await w.read();
    const reason = 'activity truncated: more than 20 pages of audit log; the 1 events read are shown';
    expect(keys[0]).toMatchObject({ status: 'collecting', reason, nextPollAt: min(10), polledAt: min(5) });
    expect(events.map((e) => e.eventId)).toEqual(['e1']);
    w.at(30);
    await w.tick();
    ({ keys, events } = await w.read());
    expect(keys[0]).toMatchObject({ status: 'unavailable', reason, polledAt: min(30) });
    expect(events).toHaveLength(1);
    await w.stop();
  });

  it('the budget gives one account and region its turns in order, half a second apart', async () => {
    let clock = 0;
    const waits: number[] = [];
    const budget = rateBudget({
      perSecond: 2,
      now: () => clock,
      sleep: async (ms) => {
        waits.push(ms);
      },
    });
    await Promise.all([
      budget.take('a/us-east-1'),
      budget.take('a/us-east-1'),
      budget.take('a/us-east-1'),
      budget.take('b/us-east-1'),
    ]);
    expect(waits).toEqual([500, 1000]);
    clock = 100;
    budget.backoff('a/us-east-1', 4000); // a throttling answer: everyone on a/us-east-1 waits
    await budget.take('a/us-east-1');
    expect(waits.at(-1)).toBe(4000);
  });
});
