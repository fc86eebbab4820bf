/**
 * A local AWS CloudTrail stand-in for lease activity tests: a node:http server on 127.0.0.1 that
 * speaks the JSON 1.1 protocol of `LookupEvents` closely enough for `@aws-sdk/client-cloudtrail`.
 *
 *   const trail = await startCloudTrailStandin({ deliveryDelayMs: 1500 });
 *   trail.record({ accessKeyId, eventName: 'GetCallerIdentity', eventSource: 'sts.amazonaws.com', at });
 *   trail.feed(stsCalls(stack.sts))        // every call the STS stand-in saw made with a key it issued
 *   trail.lookups                          // every LookupEvents asked: key, page token, status, time
 *   trail.throttleNext(3)                  // the next 3 requests answer ThrottlingException
 *   await trail.stop()
 *
 * Like CloudTrail it wants `POST /` with `X-Amz-Target: CloudTrail_20131101.LookupEvents` and
 * `Content-Type: application/x-amz-json-1.1`, signed (an `Authorization: AWS4-HMAC-SHA256
 * Credential=KEY/DATE/REGION/cloudtrail/aws4_request, SignedHeaders=…, Signature=<64 hex>`
 * header, checked for its shape, not its signature); it answers at most 2 requests a second per
 * region (more: 400 `ThrottlingException`), pages by `NextToken` (`pageSize` events a page), and
 * shows an event only `deliveryDelayMs` after it happened (CloudTrail's delivery delay).
 */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { StsStandin } from './sts-standin.js';

export interface TrailRecord {
  accessKeyId: string;
  eventName: string;
  eventSource: string;
  at: Date;
  region?: string;
  errorCode?: string;
  readOnly?: boolean;
  resources?: { type: string; name: string }[];
}

export interface LookupRecord {
  accessKeyId: string;
  region: string;
  nextToken?: string;
  status: number;
  error?: string;
  at: number;
}

export interface CloudTrailStandin {
  url: string;
  lookups: LookupRecord[];
  record(event: TrailRecord): void;
  /** Records come from here too, read again at every lookup (the STS stand-in's calls). */
  feed(source: () => TrailRecord[]): void;
  throttleNext(count: number): void;
  stop(): Promise<void>;
}

/**
 * What CloudTrail would record of every call made with a key the STS stand-in issued, read anew
 * at each lookup: `trail.feed(stsCalls(stack.sts))`.
 */
export function stsCalls(sts: Pick<StsStandin, 'issued' | 'callsWith'>): () => TrailRecord[] {
  return () =>
    sts.issued.flatMap((c) =>
      sts.callsWith(c.accessKeyId).map((call) => ({
        accessKeyId: call.accessKeyId,
        eventName: call.eventName,
        eventSource: 'sts.amazonaws.com',
        at: call.at,
        region: call.region,
        readOnly: true,
        ...(call.errorCode ? { errorCode: call.errorCode } : {}),
      })),
    );
}

const AUTH =
  /^AWS4-HMAC-SHA256 Credential=([A-Z0-9]{4,128})\/(\d{8})\/([a-z0-9-]+)\/cloudtrail\/aws4_request, ?SignedHeaders=([a-z0-9;-]+), ?Signature=[0-9a-f]{64}$/;

export async function startCloudTrailStandin(
  options: { deliveryDelayMs?: number; pageSize?: number; perSecond?: number } = {},
): Promise<CloudTrailStandin> {
  const delay = options.deliveryDelayMs ?? 0;
  const pageSize = options.pageSize ?? 2;
  const perSecond = options.perSecond ?? 2;
  const records: (TrailRecord & { eventId: string })[] = [];
  const sources: (() => TrailRecord[])[] = [];
  const ids = new Map<string, string>();
  const lookups: LookupRecord[] = [];
  const recent = new Map<string, number[]>();
  let throttle = 0;

  const all = (): (TrailRecord & { eventId: string })[] => {
    const fed = sources.flatMap((s) => s());
    return [
      ...records,
      ...fed.map((r) => {
        const key = `${r.accessKeyId}/${r.at.getTime()}/${r.eventName}`;
        const id = ids.get(key) ?? randomUUID();
        ids.set(key, id);
        return { ...r, eventId: id };
      }),
    ];
  };

  const answer = (res: ServerResponse, status: number, body: unknown) => {
    res.writeHead(status, { 'content-type': 'application/x-amz-json-1.1', 'x-amzn-requestid': randomUUID() });
    res.end(JSON.stringify(body));
  };
  const fail = (res: ServerResponse, status: number, type: string, message: string) =>
    answer(res, status, { __type: type, message });

  const handle = (req: IncomingMessage, res: ServerResponse, body: string) => {
    const lookup: LookupRecord = { accessKeyId: '', region: '', status: 0, at: Date.now() };
    lookups.push(lookup);
    const done = (status: number, error?: string) => {
      lookup.status = status;
      if (error) lookup.error = error;
    };
    if (req.method !== 'POST' || req.url !== '/') {
      done(404, 'UnknownOperation');
      return fail(res, 404, 'UnknownOperationException', 'POST / only');
    }
    if (req.headers['x-amz-target'] !== 'CloudTrail_20131101.LookupEvents') {
      done(400, 'UnknownOperation');
      return fail(res, 400, 'UnknownOperationException', `unknown target ${req.headers['x-amz-target']}`);
    }
    if (req.headers['content-type'] !== 'application/x-amz-json-1.1') {
      done(400, 'SerializationException');
      return fail(res, 400, 'SerializationException', 'expected application/x-amz-json-1.1');
    }
    const auth = AUTH.exec(String(req.headers.authorization ?? ''));
    if (!auth || !auth[4]!.split(';').includes('x-amz-date') || !req.headers['x-amz-date']) {
      done(403, 'MissingAuthenticationToken');
      return fail(res, 403, 'MissingAuthenticationTokenException', 'the request is not signed (SigV4)');
    }
    const region = auth[3]!;
    lookup.region = region;
    // Past `perSecond` requests in the last second (per region, as per account and region).
    const now = Date.now();
    const window = (recent.get(region) ?? []).filter((t) => t > now - 1000);
    window.push(now);
    recent.set(region, window);
    if (throttle > 0 || window.length > perSecond) {
      if (throttle > 0) throttle--;
      done(400, 'ThrottlingException');
      return fail(res, 400, 'ThrottlingException', 'Rate exceeded');
    }
    let input: {
      LookupAttributes?: { AttributeKey: string; AttributeValue: string }[];
      StartTime?: number;
      EndTime?: number;
      NextToken?: string;
      MaxResults?: number;
    };
    try {
      input = JSON.parse(body);
    } catch {
      done(400, 'SerializationException');
      return fail(res, 400, 'SerializationException', 'body is not JSON');
    }
    const attr = input.LookupAttributes?.[0];
    if (input.LookupAttributes?.length !== 1 || attr?.AttributeKey !== 'AccessKeyId') {
      done(400, 'InvalidLookupAttributes');
      return fail(res, 400, 'InvalidLookupAttributesException', 'this stand-in looks up by AccessKeyId only');
    }
    lookup.accessKeyId = attr.AttributeValue;
    if (input.NextToken) lookup.nextToken = input.NextToken;
    const start = (input.StartTime ?? 0) * 1000;
    const end = (input.EndTime ?? Number.MAX_SAFE_INTEGER / 1000) * 1000;
    const matching = all()
      .filter((r) => r.accessKeyId === attr.AttributeValue)
      .filter((r) => r.at.getTime() >= start && r.at.getTime() <= end)
      .filter((r) => r.at.getTime() + delay <= now)
      .sort((a, b) => b.at.getTime() - a.at.getTime());
    const from = input.NextToken ? Number(Buffer.from(input.NextToken, 'base64url').toString()) : 0;
    const size = Math.min(pageSize, input.MaxResults ?? 50);
    const page = matching.slice(from, from + size);
    const next =
      from + size < matching.length ? Buffer.from(String(from + size)).toString('base64url') : undefined;
    done(200);
    answer(res, 200, {
      Events: page.map((r) => ({
        EventId: r.eventId,
        EventName: r.eventName,
        EventTime: r.at.getTime() / 1000,
        EventSource: r.eventSource,
        ReadOnly: String(r.readOnly ?? true),
        AccessKeyId: r.accessKeyId,
        Username: 'jitkey-session',
        Resources: (r.resources ?? []).map((x) => ({ ResourceType: x.type, ResourceName: x.name })),
        CloudTrailEvent: JSON.stringify({
          eventVersion: '1.08',
          eventTime: r.at.toISOString(),
          eventSource: r.eventSource,
          eventName: r.eventName,
          awsRegion: r.region ?? region,
          sourceIPAddress: '127.0.0.1',
          userIdentity: { type: 'AssumedRole', accessKeyId: r.accessKeyId },
          ...(r.errorCode ? { errorCode: r.errorCode, errorMessage: 'denied' } : {}),
          requestParameters: { secret: 'never stored by jitkey' },
        }),
      })),
      ...(next ? { NextToken: next } : {}),
    });
  };

  const server = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => (body += c));
    req.on('end', () => handle(req, res, body));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    lookups,
    record: (event) => records.push({ ...event, eventId: randomUUID() }),
    feed: (source) => sources.push(source),
    throttleNext: (count) => {
      throttle = count;
    },
    stop: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
