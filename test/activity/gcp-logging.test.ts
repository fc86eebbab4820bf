/**
 * The GCP activity lookup against the GCP stand-in's Cloud Logging, in process, authenticated as
 * the provider is (a service-account key file through Application Default Credentials): what it
 * asks, what it keeps of an entry, and that a quota answer delays the poll (`ActivityThrottled`)
 * rather than failing it; past its page limit it hands over what it read (`ActivityTruncated`).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rateBudget } from '../../exchanger/activity/budget.js';
import { ActivityThrottled, ActivityTruncated } from '../../exchanger/activity/cloudtrail.js';
import { applicationDefaultIdentity } from '../../exchanger/activity/gcp-identity.js';
import { activityFilter, entryOf, gcpLoggingLookup } from '../../exchanger/activity/gcp-logging.js';
import { silentLogger } from '../../exchanger/log.js';
import type { ActivityKey } from '../../exchanger/store/activity-types.js';
import { type GcpStandin, type ServiceAccountKey, startGcpStandin } from '../support/gcp-standin.js';

const SA = 'deployer@proj-one.iam.gserviceaccount.com';
let gcp: GcpStandin;
let key: ServiceAccountKey;
const before = process.env.GOOGLE_APPLICATION_CREDENTIALS;

beforeAll(async () => {
  gcp = await startGcpStandin({ loggingPageSize: 1 });
  key = await gcp.writeServiceAccountKey();
  process.env.GOOGLE_APPLICATION_CREDENTIALS = key.path;
});
afterAll(async () => {
  if (before === undefined) delete process.env.GOOGLE_APPLICATION_CREDENTIALS;
  else process.env.GOOGLE_APPLICATION_CREDENTIALS = before;
  await gcp?.stop();
});

const T0 = new Date(Date.now() - 60_000);
const activityKey: ActivityKey = {
  leaseId: 'lease_1',
  provider: 'gcp',
  keyId: SA,
  account: 'proj-one',
  region: 'global',
  windowStart: T0,
  windowEnd: new Date(T0.getTime() + 600_000),
  nextPollAt: T0,
  status: 'collecting',
};

describe('the GCP activity lookup', () => {
  it('reads the entries of the account impersonated by this exchanger, page by page', async () => {
    gcp.logging.record(SA, [key.email], {
      serviceName: 'iam.googleapis.com',
      methodName: 'google.iam.admin.v1.CreateServiceAccountKey',
      resourceName: 'projects/-/serviceAccounts/x',
      write: true,
      code: 7,
      at: new Date(T0.getTime() + 1000),
    });
    gcp.logging.record(SA, [key.email, 'middle@proj-one.iam.gserviceaccount.com'], {
      serviceName: 'storage.googleapis.com',
      methodName: 'storage.objects.get',
      at: new Date(T0.getTime() + 2000),
    });
    gcp.logging.record(SA, ['someone@proj-one.iam.gserviceaccount.com'], {
      serviceName: 'storage.googleapis.com',
      methodName: 'storage.objects.delete',
      at: new Date(T0.getTime() + 3000),
    });
    const lookup = gcpLoggingLookup({
      identity: applicationDefaultIdentity(),
      budget: rateBudget({ perSecond: 1000 }),
      log: silentLogger,
      endpoint: gcp.url,
    });
    const found = await lookup(activityKey, { start: T0, end: new Date() });
    expect(found.map((e) => [e.name, e.source, e.errorCode, e.readOnly])).toEqual([
      ['google.iam.admin.v1.CreateServiceAccountKey', 'iam.googleapis.com', 'PERMISSION_DENIED', false],
      ['storage.objects.get', 'storage.googleapis.com', undefined, undefined],
    ]);
    const asked = gcp.logging.queries.filter((q) => q.status === 200);
    expect(asked.length).toBe(2); // one entry a page here: two pages, by nextPageToken
    expect(asked[1]!.pageToken).toBeDefined();
    expect(asked.every((q) => q.caller === key.email)).toBe(true);
    expect(JSON.stringify(found)).not.toContain('never stored by jitkey');
  });

  it('hands over the entries it read when there are more pages than it reads in one poll', async () => {
    const lookup = gcpLoggingLookup({
      identity: applicationDefaultIdentity(),
      budget: rateBudget({ perSecond: 1000 }),
      log: silentLogger,
      endpoint: gcp.url,
      maxPages: 1,
    });
    const cut = await lookup(activityKey, { start: T0, end: new Date() }).then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(cut).toBeInstanceOf(ActivityTruncated);
    expect((cut as ActivityTruncated).message).toBe('more than 1 pages of log entries');
    expect((cut as ActivityTruncated).events.map((e) => e.name)).toEqual([
      'google.iam.admin.v1.CreateServiceAccountKey',
    ]);
  });

  it('delays on RESOURCE_EXHAUSTED, and says what to grant on PERMISSION_DENIED', async () => {
    const lookup = gcpLoggingLookup({
      identity: applicationDefaultIdentity(),
      budget: rateBudget({ perSecond: 1000 }),
      log: silentLogger,
      endpoint: gcp.url,
    });
    gcp.logging.throttleNext(1);
    await expect(lookup(activityKey, { start: T0, end: new Date() })).rejects.toBeInstanceOf(
      ActivityThrottled,
    );
    gcp.logging.deny(key.email);
    await expect(lookup(activityKey, { start: T0, end: new Date() })).rejects.toThrow(
      /refused entries\.list on projects\/proj-one \(403 PERMISSION_DENIED.*roles\/logging\.viewer/,
    );
  });

  it('quotes the filter values', () => {
    expect(activityFilter('a"b@p.iam.gserviceaccount.com', 'x\\y', T0, T0)).toContain(
      'principalEmail="a\\"b@p.iam.gserviceaccount.com"',
    );
    expect(activityFilter('s', 'x\\y', T0, T0)).toContain('principalEmail="x\\\\y"');
  });

  it('keeps no request, response or address of an entry, and skips one without a method', () => {
    const e = entryOf({
      insertId: 'i1',
      timestamp: '2026-12-01T10:00:00.123456789Z',
      logName: 'projects/p/logs/cloudaudit.googleapis.com%2Fdata_access',
      resource: { type: 'gcs_bucket', labels: { location: 'eu' } },
      protoPayload: {
        serviceName: 'storage.googleapis.com',
        methodName: 'storage.objects.get',
        requestMetadata: { callerIp: '192.0.2.1', callerSuppliedUserAgent: 'curl/8' },
        request: { secret: 's3cret' },
      },
    });
    expect(e).toEqual({
      eventId: 'i1',
      at: new Date('2026-12-01T10:00:00.123Z'),
      name: 'storage.objects.get',
      source: 'storage.googleapis.com',
      region: 'eu',
      resources: [{ type: 'gcs_bucket' }],
      details: { user_agent: 'curl/8' },
    });
    expect(entryOf({ timestamp: '2026-12-01T10:00:00Z', protoPayload: {} })).toBeUndefined();
  });
});
