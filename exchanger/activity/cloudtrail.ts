/**
 * AWS lease activity: CloudTrail `LookupEvents` by `AccessKeyId` (the one lookup attribute that
 * names a single STS session), through `@aws-sdk/client-cloudtrail`, each page a turn of the
 * shared budget (`budget.ts`). The SDK's own retries are off: a retry that skipped the queue would
 * spend the rate the queue is sharing. A ThrottlingException backs the whole account and region
 * off and retries the page; past `maxThrottled` answers in a row the poll gives up as
 * `ActivityThrottled`, and the collector tries again later: throttling delays, never loses.
 *
 * Only what an incident responder reads is kept of each event: time, name, source, region,
 * resources, error code, read-only flag; never the request parameters or the rest of the record.
 */
import {
  CloudTrailClient,
  LookupEventsCommand,
  type LookupEventsCommandOutput,
} from '@aws-sdk/client-cloudtrail';
import type { Logger } from '../log.js';
import { checkUrl } from '../net/url-rule.js';
import type { ActivityEvent, ActivityKey } from '../store/activity-types.js';
import type { RateBudget } from './budget.js';
import { eventText as text } from './event-text.js';

/** The events made with one key between `start` and `end`. */
export type ActivityLookup = (
  key: ActivityKey,
  range: { start: Date; end: Date },
) => Promise<Omit<ActivityEvent, 'leaseId' | 'keyId'>[]>;

/** Throttled past what one poll waits for; the collector polls the key again later. */
export class ActivityThrottled extends Error {}

/**
 * More than one poll reads (its page limit): the events read so far, oldest first. Not retried
 * sooner as a throttle would be: the same pages would come first again, and a lease's holder who
 * made that many calls would otherwise hold the upstream's budget, and hide its activity, forever.
 */
export class ActivityTruncated extends Error {
  constructor(
    message: string,
    readonly events: Awaited<ReturnType<ActivityLookup>>,
  ) {
    super(message);
  }
}

export interface CloudTrailOptions {
  budget: RateBudget;
  log: Logger;
  /** The CloudTrail endpoint for every region; unset: the SDK's (`AWS_ENDPOINT_URL_CLOUDTRAIL`, …). */
  endpoint?: string;
  credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
  /** Throttling answers in a row one page waits through (default 5). */
  maxThrottled?: number;
  /** The first back-off after a throttling answer, doubled each time (default 1 s). */
  backoffMs?: number;
  /** Pages one poll reads at most (50 events each, newest first); past it `ActivityTruncated`. */
  maxPages?: number;
}

/** 10,000 events, 100 s of one account and region's rate: more than a CI job's management calls. */
export const DEFAULT_CLOUDTRAIL_MAX_PAGES = 200;

const ENV_ENDPOINTS = ['AWS_ENDPOINT_URL_CLOUDTRAIL', 'AWS_ENDPOINT_URL'] as const;
/** `JITKEY_ACTIVITY_THROTTLE_BACKOFF`'s default. */
export const DEFAULT_THROTTLE_BACKOFF_MS = 1000;

export function cloudTrailLookup(options: CloudTrailOptions): ActivityLookup & { close(): void } {
  if (options.endpoint !== undefined) checkUrl(options.endpoint, 'AWS CloudTrail endpoint');
  else {
    for (const name of ENV_ENDPOINTS) {
      const value = process.env[name];
      if (value) checkUrl(value, name);
    }
  }
  const clients = new Map<string, CloudTrailClient>();
  const clientFor = (region: string) => {
    let client = clients.get(region);
    if (!client) {
      client = new CloudTrailClient({
        region,
        maxAttempts: 1,
        ...(options.endpoint ? { endpoint: options.endpoint } : {}),
        ...(options.credentials ? { credentials: options.credentials } : {}),
      });
      clients.set(region, client);
    }
    return client;
  };
  const maxThrottled = options.maxThrottled ?? 5;
  const backoffMs = options.backoffMs ?? DEFAULT_THROTTLE_BACKOFF_MS;
  const maxPages = options.maxPages ?? DEFAULT_CLOUDTRAIL_MAX_PAGES;

  const lookup = async (key: ActivityKey, range: { start: Date; end: Date }) => {
    const client = clientFor(key.region);
    const budgetKey = `${key.account}/${key.region}`;
    const found: Omit<ActivityEvent, 'leaseId' | 'keyId'>[] = [];
    let nextToken: string | undefined;
    let pages = 0;
    do {
      // Unbounded, a key used 100,000 times would hold its account and region's queue for a
      // quarter of an hour every poll (2,000 pages at 2 a second).
      if (pages++ >= maxPages) {
        throw new ActivityTruncated(`more than ${maxPages} pages of CloudTrail events`, found);
      }
      let page: LookupEventsCommandOutput | undefined;
      for (let throttled = 0; !page; ) {
        await options.budget.take(budgetKey);
        try {
          page = await client.send(
            new LookupEventsCommand({
              LookupAttributes: [{ AttributeKey: 'AccessKeyId', AttributeValue: key.keyId }],
              StartTime: range.start,
              EndTime: range.end,
              MaxResults: 50,
              ...(nextToken ? { NextToken: nextToken } : {}),
            }),
          );
        } catch (err) {
          if ((err as Error).name !== 'ThrottlingException') throw err;
          throttled++;
          const wait = backoffMs * 2 ** (throttled - 1);
          options.budget.backoff(budgetKey, wait);
          options.log.info('cloudtrail throttled the activity lookup; backing off', {
            lease_id: key.leaseId,
            account: key.account,
            region: key.region,
            wait_ms: wait,
          });
          if (throttled >= maxThrottled) {
            throw new ActivityThrottled(`CloudTrail throttled ${throttled} lookups in a row`);
          }
        }
      }
      for (const e of page.Events ?? []) found.push(eventOf(e, key.region));
      nextToken = page.NextToken || undefined;
    } while (nextToken);
    return found;
  };
  return Object.assign(lookup, {
    close() {
      for (const client of clients.values()) client.destroy();
      clients.clear();
    },
  });
}

interface TrailEvent {
  EventId?: string;
  EventName?: string;
  EventTime?: Date;
  EventSource?: string;
  ReadOnly?: string;
  Resources?: { ResourceType?: string; ResourceName?: string }[];
  CloudTrailEvent?: string;
}

function eventOf(e: TrailEvent, region: string): Omit<ActivityEvent, 'leaseId' | 'keyId'> {
  // The full record is JSON text; only its region and error code are read from it.
  let record: { awsRegion?: unknown; errorCode?: unknown } = {};
  try {
    record = JSON.parse(e.CloudTrailEvent ?? '{}') ?? {};
  } catch {
    // a record that does not parse still has its summary fields
  }
  const errorCode = text(record.errorCode);
  return {
    eventId: text(e.EventId) ?? `${e.EventTime?.toISOString()}/${text(e.EventName)}`,
    at: e.EventTime ?? new Date(0),
    name: text(e.EventName) ?? '',
    source: text(e.EventSource) ?? '',
    region: text(record.awsRegion) ?? region,
    // A resource's name is often the caller's to choose: cleaned and cut as every upstream's text.
    resources: (e.Resources ?? []).map((r) => {
      const type = text(r.ResourceType);
      const name = text(r.ResourceName);
      return { ...(type ? { type } : {}), ...(name ? { name } : {}) };
    }),
    ...(errorCode ? { errorCode } : {}),
    ...(e.ReadOnly === 'true' || e.ReadOnly === 'false' ? { readOnly: e.ReadOnly === 'true' } : {}),
  };
}
