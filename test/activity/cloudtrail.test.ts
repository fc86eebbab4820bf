/**
 * The CloudTrail lookup against the CloudTrail stand-in, in process: it reads every page of a
 * key's events, and stops at its page limit handing over what it read (`ActivityTruncated`), so
 * a key used a hundred thousand times cannot hold its account and region's queue; a resource's
 * name, often the caller's to choose, is kept cleaned and cut like every upstream's text.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { rateBudget } from '../../exchanger/activity/budget.js';
import { ActivityTruncated, cloudTrailLookup } from '../../exchanger/activity/cloudtrail.js';
import { silentLogger } from '../../exchanger/log.js';
import type { ActivityKey } from '../../exchanger/store/activity-types.js';
import { type CloudTrailStandin, startCloudTrailStandin } from '../support/cloudtrail-standin.js';

const T0 = new Date(Date.now() - 60_000);
const key: ActivityKey = {
  leaseId: 'lease_1',
  provider: 'aws',
  keyId: 'ASIAKEYUSEDALOT',
  account: '111122223333',
  region: 'us-east-1',
  windowStart: T0,
  windowEnd: new Date(T0.getTime() + 600_000),
  nextPollAt: T0,
  status: 'collecting',
};
let trail: CloudTrailStandin;

beforeAll(async () => {
  trail = await startCloudTrailStandin({ pageSize: 2, perSecond: 1000 });
  for (let i = 0; i < 7; i++) {
    trail.record({
      accessKeyId: key.keyId,
      eventName: `Call${i}`,
      eventSource: 'sts.amazonaws.com',
      at: new Date(T0.getTime() + 1000 * (i + 1)),
    });
  }
});
afterAll(() => trail?.stop());

const lookup = (maxPages?: number) =>
  cloudTrailLookup({
    budget: rateBudget({ perSecond: 1000 }),
    log: silentLogger,
    endpoint: trail.url,
    credentials: { accessKeyId: 'AKIAREADER', secretAccessKey: 'reader-secret' },
    ...(maxPages ? { maxPages } : {}),
  });

it("reads every page of the key's events", async () => {
  const l = lookup();
  const found = await l(key, { start: T0, end: new Date() });
  l.close();
  expect(found).toHaveLength(7);
});

it("keeps a resource's name as every upstream's text: controls replaced, cut to 200", async () => {
  const other = { ...key, keyId: 'ASIAKEYNAMED' };
  trail.record({
    accessKeyId: other.keyId,
    eventName: 'PutParameter',
    eventSource: 'ssm.amazonaws.com',
    at: new Date(T0.getTime() + 1000),
    resources: [{ type: 'AWS::SSM::Parameter', name: `/app/\u001b[2J${'x'.repeat(400)}` }],
  });
  const l = lookup();
  const [found] = await l(other, { start: T0, end: new Date() });
  l.close();
  const name = found!.resources[0]!.name!;
  expect(name.startsWith('/app/ [2Jxxx')).toBe(true);
  expect(name).toHaveLength(200);
  expect(name.endsWith('…')).toBe(true);
});

it('stops at its page limit and hands over the pages it read, newest first', async () => {
  const l = lookup(3);
  const cut = await l(key, { start: T0, end: new Date() }).then(
    () => undefined,
    (err: unknown) => err,
  );
  l.close();
  expect(cut).toBeInstanceOf(ActivityTruncated);
  expect((cut as ActivityTruncated).message).toBe('more than 3 pages of CloudTrail events');
  expect((cut as ActivityTruncated).events.map((e) => e.name)).toEqual([
    'Call6',
    'Call5',
    'Call4',
    'Call3',
    'Call2',
    'Call1',
  ]);
  expect(trail.lookups.filter((q) => q.accessKeyId === key.keyId && q.status === 200)).toHaveLength(4 + 3);
});
