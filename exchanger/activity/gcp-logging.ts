/**
 * GCP lease activity: Cloud Audit Logs through Cloud Logging `entries.list`
 * (`POST https://logging.googleapis.com/v2/entries:list`), **by service account and time window**.
 *
 * An OAuth access token is not named in Google's audit records: they name the principal
 * (`protoPayload.authenticationInfo.principalEmail`, the role's service account) and, for
 * impersonation, the chain that got its token (`serviceAccountDelegationInfo`, whose first party
 * is the exchanger's own identity). So the lookup reads the entries of that service account,
 * impersonated by this exchanger, between the lease's start and its horizon: another lease of the
 * same account in the same window, or a token jitkey minted before, shows up too. jitkey never
 * claims per-token precision for GCP (`audit/activity.ts` labels the result).
 *
 * Read from the project the service account belongs to (`…@PROJECT.iam.gserviceaccount.com`):
 * calls on resources of other projects are logged there and are not read. Data Access logs
 * appear only where they are enabled. The exchanger authenticates as the GCP provider does
 * (Application Default Credentials, cloud-platform scope, a self-signed JWT with a key file).
 * Cloud Logging allows 60 `entries.list` a minute per project: one queue per project spaces them
 * (`budget.ts`), and RESOURCE_EXHAUSTED delays the poll (`ActivityThrottled`).
 */
import type { Logger } from '../log.js';
import { fetchTransport, httpCall, type Transport } from '../net/http-client.js';
import { parseServiceUrl } from '../net/service-url.js';
import { GRPC_NAMES } from '../providers/gcp-errors.js';
import type { ActivityEvent, ActivityKey } from '../store/activity-types.js';
import { upstreamMessage } from '../text/upstream-message.js';
import type { RateBudget } from './budget.js';
import { type ActivityLookup, ActivityThrottled, ActivityTruncated } from './cloudtrail.js';
import { eventText as text } from './event-text.js';

export const DEFAULT_LOGGING_ENDPOINT = 'https://logging.googleapis.com';

/** What the lookup needs of google-auth-library's `GoogleAuth`. */
export interface GoogleIdentity {
  /** Headers that authenticate a request to `url` (the bearer). */
  headers(url: string): Promise<Headers>;
  /** The exchanger's own principal (`client_email`), the first party of every delegation chain. */
  email(): Promise<string>;
}

export interface GcpLoggingOptions {
  identity: GoogleIdentity;
  budget: RateBudget;
  log: Logger;
  /** `JITKEY_GCP_LOGGING_ENDPOINT`: scheme, host and port. */
  endpoint?: string;
  /** The HTTP core's transport (default: Node's fetch). */
  transport?: Transport;
  timeoutMs?: number;
  /** Pages one poll reads at most (1000 entries each); past it the entries read are kept (`ActivityTruncated`). */
  maxPages?: number;
}

type Found = Omit<ActivityEvent, 'leaseId' | 'keyId'>;

/** The Logging query: the account's audit entries, impersonated by `own`, in the window. */
export function activityFilter(serviceAccount: string, own: string, start: Date, end: Date): string {
  const quoted = (s: string) => `"${s.replace(/["\\]/g, '\\$&')}"`;
  return [
    'logName:"cloudaudit.googleapis.com"',
    `protoPayload.authenticationInfo.principalEmail=${quoted(serviceAccount)}`,
    `protoPayload.authenticationInfo.serviceAccountDelegationInfo.firstPartyPrincipal.principalEmail=${quoted(own)}`,
    `timestamp>=${quoted(start.toISOString())}`,
    `timestamp<=${quoted(end.toISOString())}`,
  ].join(' AND ');
}

export function gcpLoggingLookup(options: GcpLoggingOptions): ActivityLookup {
  const base = parseServiceUrl(options.endpoint ?? DEFAULT_LOGGING_ENDPOINT, 'JITKEY_GCP_LOGGING_ENDPOINT');
  const url = new URL('/v2/entries:list', base).toString();
  const transport = options.transport ?? fetchTransport();
  const maxPages = options.maxPages ?? 20;

  return async (key: ActivityKey, range: { start: Date; end: Date }) => {
    const own = await options.identity.email();
    const body = {
      resourceNames: [`projects/${key.account}`],
      filter: activityFilter(key.keyId, own, range.start, range.end),
      orderBy: 'timestamp asc',
      pageSize: 1000,
    };
    const found: Found[] = [];
    let pageToken: string | undefined;
    let pages = 0;
    do {
      if (pages++ >= maxPages)
        throw new ActivityTruncated(`more than ${maxPages} pages of log entries`, found);
      await options.budget.take(key.account);
      const res = await httpCall(
        {
          name: 'Cloud Logging POST /v2/entries:list',
          method: 'POST',
          url,
          headers: {
            ...Object.fromEntries(await options.identity.headers(url)),
            'content-type': 'application/json',
            'user-agent': 'jitkey',
          },
          body: JSON.stringify(pageToken ? { ...body, pageToken } : body),
          timeoutMs: options.timeoutMs ?? 10_000,
          // 1000 audit entries: a few megabytes at most.
          maxBytes: 32 * 1024 * 1024,
        },
        transport,
      );
      const answer = (res.ok ? res.json() : parsedOrEmpty(res.text())) as {
        entries?: unknown[];
        nextPageToken?: string;
        error?: { status?: string; message?: string };
      };
      if (!res.ok) throw refusal(res.status, answer.error, key.account);
      for (const entry of answer.entries ?? []) {
        const e = entryOf(entry);
        if (e) found.push(e);
      }
      pageToken = answer.nextPageToken || undefined;
    } while (pageToken);
    return found;
  };
}

/** An error answer's body when it is JSON (Google's `{error: {status, message}}`), else nothing. */
function parsedOrEmpty(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return {};
  }
}

function refusal(status: number, error: { status?: string; message?: string } | undefined, project: string) {
  const code = error?.status ?? String(status);
  const message = upstreamMessage(error?.message ?? '');
  const said = `${status} ${code}${message ? `: ${message}` : ''}`;
  if (status === 429 || code === 'RESOURCE_EXHAUSTED') {
    return new ActivityThrottled(`Cloud Logging throttled entries.list on projects/${project} (${said})`);
  }
  if (status === 403) {
    return new Error(
      `Cloud Logging refused entries.list on projects/${project} (${said}): the exchanger's identity needs logging.logEntries.list there (roles/logging.viewer; roles/logging.privateLogViewer for Data Access logs)`,
    );
  }
  return new Error(`Cloud Logging answered entries.list on projects/${project} with ${said}`);
}

/** What an incident responder reads of one audit entry: never the request or response bodies. */
export function entryOf(raw: unknown): Found | undefined {
  if (typeof raw !== 'object' || raw === null) return undefined;
  const entry = raw as {
    insertId?: unknown;
    timestamp?: unknown;
    logName?: unknown;
    resource?: { type?: unknown; labels?: Record<string, unknown> };
    protoPayload?: {
      serviceName?: unknown;
      methodName?: unknown;
      resourceName?: unknown;
      status?: { code?: unknown };
      resourceLocation?: { currentLocations?: unknown[] };
      requestMetadata?: { callerSuppliedUserAgent?: unknown };
    };
  };
  const p = entry.protoPayload;
  const at = typeof entry.timestamp === 'string' ? new Date(entry.timestamp) : undefined;
  const method = text(p?.methodName);
  if (!p || !at || Number.isNaN(at.getTime()) || !method) return undefined;
  const resources: Found['resources'] = [];
  const resourceName = text(p.resourceName);
  const resourceType = text(entry.resource?.type);
  if (resourceName || resourceType) {
    resources.push({
      ...(resourceType ? { type: resourceType } : {}),
      ...(resourceName ? { name: resourceName } : {}),
    });
  }
  const agent = text(p.requestMetadata?.callerSuppliedUserAgent);
  const labels = entry.resource?.labels ?? {};
  const region =
    text(p.resourceLocation?.currentLocations?.[0]) ??
    text(labels.location) ??
    text(labels.region) ??
    text(labels.zone);
  const code = typeof p.status?.code === 'number' ? p.status.code : 0;
  const logName = text(entry.logName) ?? '';
  return {
    eventId: text(entry.insertId) ?? `${at.toISOString()}/${method}`,
    at,
    name: method,
    source: text(p.serviceName) ?? '',
    ...(region ? { region } : {}),
    resources,
    ...(code !== 0 ? { errorCode: GRPC_NAMES[code] ?? String(code) } : {}),
    // Admin Activity entries record writes; Data Access ones mix reads and writes: not said.
    ...(logName.endsWith('cloudaudit.googleapis.com%2Factivity') ? { readOnly: false } : {}),
    ...(agent ? { details: { user_agent: agent } } : {}),
  };
}
