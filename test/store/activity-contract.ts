/** The store contract for lease activity (issue 26, item 2): keys to poll, claimed once, events kept once. */
import { describe, expect, it } from 'vitest';
import type { ActivityEvent, ActivityKey } from '../../exchanger/store/activity-types.js';
import type { Store, StoreOptions } from '../../exchanger/store/types.js';

const T0 = new Date('2025-03-01T12:00:00.000Z');
const at = (minutes: number) => new Date(T0.getTime() + minutes * 60_000);

const key = (overrides: Partial<ActivityKey> = {}): ActivityKey => ({
  leaseId: 'lease-1',
  provider: 'aws',
  keyId: 'ASIAEXAMPLE1',
  account: '111122223333',
  region: 'us-east-1',
  windowStart: T0,
  windowEnd: at(15),
  nextPollAt: at(5),
  status: 'collecting',
  ...overrides,
});

const event = (eventId: string, minutes: number, overrides: Partial<ActivityEvent> = {}): ActivityEvent => ({
  leaseId: 'lease-1',
  keyId: 'ASIAEXAMPLE1',
  eventId,
  at: at(minutes),
  name: 'PutObject',
  source: 's3.amazonaws.com',
  region: 'us-east-1',
  resources: [{ type: 'AWS::S3::Object', name: 'arn:aws:s3:::bucket/key' }],
  readOnly: false,
  ...overrides,
});

export function activityContract(open: (options?: StoreOptions) => Promise<Store>): void {
  describe('lease activity', () => {
    it('outlives its lease, and goes with the audit retention', async () => {
      const kept = await open();
      await kept.addActivityKey(key({ windowEnd: at(-60 * 24 * 60) }));
      await kept.saveActivity(key({ windowEnd: at(-60 * 24 * 60) }), [event('old', -60 * 24 * 60)]);
      await kept.purgeExpired(T0);
      expect((await kept.leaseActivity('lease-1')).events).toHaveLength(1);
      const retaining = await open({ auditRetentionDays: 30 });
      await retaining.addActivityKey(key({ leaseId: 'lease-2' }));
      await retaining.purgeExpired(T0);
      expect(await retaining.leaseActivity('lease-1')).toEqual({ keys: [], events: [] });
      expect((await retaining.leaseActivity('lease-2')).keys).toHaveLength(1);
    });

    it('registers a key once, and a due key is claimed by one caller until its lease runs out', async () => {
      const [a, b] = [await open(), await open()];
      await a.addActivityKey(key());
      await a.addActivityKey(key({ status: 'complete' })); // the same lease and key: kept as first written
      await a.addActivityKey(key({ leaseId: 'lease-2', nextPollAt: at(60) }));
      expect(await a.claimActivityKeys(at(4), at(10), 10)).toEqual([]);
      const claimed = await a.claimActivityKeys(at(5), at(10), 10);
      expect(claimed).toEqual([key()]);
      expect(await b.claimActivityKeys(at(6), at(10), 10)).toEqual([]);
      expect((await b.claimActivityKeys(at(10), at(11), 10)).map((k) => k.leaseId)).toEqual(['lease-1']);
    });

    it('keeps each event once, with the key state of the last poll', async () => {
      const store = await open();
      await store.addActivityKey(key());
      const readOnly = event('e2', 3, {
        name: 'GetCallerIdentity',
        source: 'sts.amazonaws.com',
        resources: [],
        readOnly: true,
        errorCode: 'AccessDenied',
      });
      const first = await store.saveActivity(key({ nextPollAt: at(10), polledAt: at(5) }), [
        event('e1', 1),
        readOnly,
      ]);
      expect(first.sort()).toEqual(['e1', 'e2']);
      const second = await store.saveActivity(
        key({
          status: 'unavailable',
          reason: 'activity unavailable: AccessDenied',
          nextPollAt: at(20),
          polledAt: at(5),
        }),
        [event('e1', 1), event('e3', 2, { region: undefined, readOnly: undefined })],
      );
      expect(second).toEqual(['e3']); // only what was not seen before
      const { keys, events } = await store.leaseActivity('lease-1');
      expect(keys).toEqual([
        key({
          status: 'unavailable',
          reason: 'activity unavailable: AccessDenied',
          nextPollAt: at(20),
          polledAt: at(5),
        }),
      ]);
      const { region: _r, readOnly: _o, ...bare } = event('e3', 2);
      expect(events).toEqual([event('e1', 1), bare, readOnly]);
      expect(await store.leaseActivity('lease-none')).toEqual({ keys: [], events: [] });
      // Not collecting any more: never claimed again.
      expect(await store.claimActivityKeys(at(100), at(101), 10)).toEqual([]);
      expect(await store.saveActivity(key({ status: 'complete' }), [])).toEqual([]);
    });

    it('finds keys by id, and keeps pushed events once without touching their key', async () => {
      const store = await open();
      const jti = key({
        leaseId: 'lease-k',
        provider: 'kubernetes',
        keyId: 'jti-1',
        account: 'https://kube',
        region: 'web',
      });
      await store.addActivityKey(jti);
      await store.addActivityKey(key());
      expect(await store.activityKeysById(['jti-1', 'jti-unknown'])).toEqual([jti]);
      expect(await store.activityKeysById([])).toEqual([]);
      const pushed = event('audit-1', 2, {
        leaseId: 'lease-k',
        keyId: 'jti-1',
        name: 'delete',
        source: 'secrets',
        region: 'web',
        resources: [{ type: 'secrets', name: 'db' }],
        errorCode: '403 Forbidden',
        readOnly: false,
        details: {
          request_uri: '/api/v1/namespaces/web/secrets/db',
          response_code: 403,
          source_ips: ['10.0.0.7'],
        },
      });
      expect(
        await store.addActivityEvents([pushed, event('audit-2', 3, { leaseId: 'lease-k', keyId: 'jti-1' })]),
      ).toEqual(expect.arrayContaining(['audit-1', 'audit-2']));
      expect(await store.addActivityEvents([pushed])).toEqual([]);
      expect(await store.addActivityEvents([])).toEqual([]);
      const { keys, events } = await store.leaseActivity('lease-k');
      expect(keys).toEqual([jti]);
      expect(events).toEqual([pushed, event('audit-2', 3, { leaseId: 'lease-k', keyId: 'jti-1' })]);
    });
  });
}
