/**
 * Cloud Logging's `entries.list` for the GCP stand-in (`gcp-standin.ts`), over the Cloud Audit Logs
 * entries of calls made with access tokens the stand-in issued:
 *
 *   gcp.useToken(accessToken, { serviceName: 'storage.googleapis.com', methodName: 'storage.objects.get',
 *                               resourceName: 'projects/_/buckets/b/objects/o' })   // what Google logs
 *   gcp.logging.queries      // every entries.list: resourceNames, filter, page token, caller, status
 *   gcp.logging.deny(email)  // entries.list by that caller → 403 PERMISSION_DENIED
 *   gcp.logging.throttleNext(n)  // → 429 RESOURCE_EXHAUSTED
 *
 * Each entry is a `cloudaudit.googleapis.com%2Fdata_access` (or `%2Factivity` for writes) entry in
 * the service account's project, naming the account as `principalEmail` and the chain that got its
 * token (the caller of generateAccessToken, then the delegates) as `serviceAccountDelegationInfo`,
 * as Google logs impersonation. Like Logging it wants `resourceNames` (projects/ID), `orderBy`
 * `timestamp asc|desc`, `pageSize` ≤ 1000, and pages by `nextPageToken`. The filter is the Logging
 * query language, of which it understands terms joined by AND: `logName:"…"`,
 * `protoPayload.authenticationInfo.principalEmail="…"`,
 * `protoPayload.authenticationInfo.serviceAccountDelegationInfo.firstPartyPrincipal.principalEmail="…"`
 * (any element of the chain) and `timestamp>=|<=|>|<"RFC 3339"`; anything else → 400, so a
 * test fails when jitkey sends what the stand-in cannot check. Test-only.
 */
import { randomBytes } from 'node:crypto';

export type LoggingStatus = 'INVALID_ARGUMENT' | 'PERMISSION_DENIED' | 'RESOURCE_EXHAUSTED';

export class LoggingError extends Error {
  constructor(
    readonly status: LoggingStatus,
    message: string,
  ) {
    super(message);
  }
}

export interface AuditLogEntry {
  insertId: string;
  logName: string;
  timestamp: string;
  resource: { type: string; labels: Record<string, string> };
  protoPayload: {
    '@type': string;
    serviceName: string;
    methodName: string;
    resourceName?: string;
    status?: { code: number; message?: string };
    authenticationInfo: {
      principalEmail: string;
      serviceAccountDelegationInfo: { firstPartyPrincipal: { principalEmail: string } }[];
    };
    requestMetadata: { callerIp: string; callerSuppliedUserAgent?: string };
    request?: unknown;
  };
}

export interface LoggingQuery {
  resourceNames: unknown;
  filter: string;
  pageToken?: string;
  caller: string;
  status: number;
}

export interface LoggedCall {
  serviceName: string;
  methodName: string;
  resourceName?: string;
  /** A write (Admin Activity log) rather than a read (Data Access). */
  write?: boolean;
  /** google.rpc.Code of a refused call (7: PERMISSION_DENIED). */
  code?: number;
  userAgent?: string;
  at?: Date;
}

const PRINCIPAL = 'protoPayload.authenticationInfo.principalEmail';
const CHAIN =
  'protoPayload.authenticationInfo.serviceAccountDelegationInfo.firstPartyPrincipal.principalEmail';
const TERM = /^([A-Za-z.]+)\s*(>=|<=|=|:|>|<)\s*"((?:[^"\\]|\\.)*)"$/;

type Test = (e: AuditLogEntry) => boolean;

function term(text: string): Test {
  const m = TERM.exec(text.trim());
  if (!m) throw new LoggingError('INVALID_ARGUMENT', `Unparseable filter: ${text}`);
  const [, field, op, raw] = m as unknown as [string, string, string, string];
  const value = raw.replace(/\\(.)/g, '$1');
  if (field === 'logName' && op === ':') return (e) => e.logName.includes(value);
  if (field === PRINCIPAL && op === '=')
    return (e) => e.protoPayload.authenticationInfo.principalEmail === value;
  if (field === CHAIN && op === '=') {
    return (e) =>
      e.protoPayload.authenticationInfo.serviceAccountDelegationInfo.some(
        (d) => d.firstPartyPrincipal.principalEmail === value,
      );
  }
  if (field === 'timestamp' && op !== '=' && op !== ':') {
    const bound = Date.parse(value);
    if (Number.isNaN(bound)) throw new LoggingError('INVALID_ARGUMENT', `Invalid timestamp: ${value}`);
    return (e) => {
      const t = Date.parse(e.timestamp);
      return op === '>=' ? t >= bound : op === '<=' ? t <= bound : op === '>' ? t > bound : t < bound;
    };
  }
  throw new LoggingError('INVALID_ARGUMENT', `the stand-in does not understand '${text}'`);
}

export function parseFilter(filter: string): Test {
  const tests = filter.split(/\s+AND\s+/).map(term);
  return (e) => tests.every((t) => t(e));
}

export function gcpAuditLog(options: { pageSize?: number } = {}) {
  const entries: AuditLogEntry[] = [];
  const queries: LoggingQuery[] = [];
  const denied = new Set<string>();
  let throttle = 0;
  const cap = options.pageSize ?? 1000;

  return {
    entries,
    queries,
    deny(email: string) {
      denied.add(email.toLowerCase());
    },
    throttleNext(n: number) {
      throttle = n;
    },
    /** The entry Google logs of a call made with a token for `serviceAccount`, got through `chain`. */
    record(serviceAccount: string, chain: string[], call: LoggedCall): AuditLogEntry {
      const project = /@([^.]+)\.iam\.gserviceaccount\.com$/.exec(serviceAccount)?.[1] ?? 'unknown';
      const at = (call.at ?? new Date()).toISOString().replace('Z', '417Z');
      const entry: AuditLogEntry = {
        insertId: randomBytes(8).toString('hex'),
        logName: `projects/${project}/logs/cloudaudit.googleapis.com%2F${call.write ? 'activity' : 'data_access'}`,
        timestamp: at,
        resource: { type: 'gcs_bucket', labels: { project_id: project, location: 'europe-west1' } },
        protoPayload: {
          '@type': 'type.googleapis.com/google.cloud.audit.AuditLog',
          serviceName: call.serviceName,
          methodName: call.methodName,
          ...(call.resourceName ? { resourceName: call.resourceName } : {}),
          ...(call.code ? { status: { code: call.code, message: 'denied' } } : {}),
          authenticationInfo: {
            principalEmail: serviceAccount,
            serviceAccountDelegationInfo: chain.map((principalEmail) => ({
              firstPartyPrincipal: { principalEmail },
            })),
          },
          requestMetadata: {
            callerIp: '192.0.2.20',
            ...(call.userAgent ? { callerSuppliedUserAgent: call.userAgent } : {}),
          },
          request: { secret: 'never stored by jitkey' },
        },
      };
      entries.push(entry);
      return entry;
    },
    /** entries.list; throws LoggingError as Google answers. */
    list(body: unknown, caller: string): { entries: AuditLogEntry[]; nextPageToken?: string } {
      const b = (body ?? {}) as {
        resourceNames?: unknown;
        filter?: unknown;
        orderBy?: unknown;
        pageSize?: unknown;
        pageToken?: unknown;
      };
      const q: LoggingQuery = {
        resourceNames: b.resourceNames,
        filter: typeof b.filter === 'string' ? b.filter : '',
        caller,
        status: 0,
        ...(typeof b.pageToken === 'string' ? { pageToken: b.pageToken } : {}),
      };
      queries.push(q);
      try {
        const names = Array.isArray(b.resourceNames) ? b.resourceNames : [];
        if (
          names.length === 0 ||
          names.some((n) => typeof n !== 'string' || !/^projects\/[a-z0-9-]+$/.test(n))
        ) {
          throw new LoggingError(
            'INVALID_ARGUMENT',
            'resourceNames: at least one projects/PROJECT_ID is required',
          );
        }
        const order = b.orderBy ?? 'timestamp asc';
        if (order !== 'timestamp asc' && order !== 'timestamp desc') {
          throw new LoggingError('INVALID_ARGUMENT', `orderBy must be "timestamp asc" or "timestamp desc"`);
        }
        const size = b.pageSize === undefined ? 50 : Number(b.pageSize);
        if (!Number.isInteger(size) || size < 1 || size > 1000) {
          throw new LoggingError('INVALID_ARGUMENT', 'pageSize must be between 1 and 1000');
        }
        if (denied.has(caller.toLowerCase())) {
          throw new LoggingError(
            'PERMISSION_DENIED',
            `Permission 'logging.logEntries.list' denied on resource (or it may not exist).`,
          );
        }
        if (throttle > 0) {
          throttle--;
          throw new LoggingError('RESOURCE_EXHAUSTED', 'Quota exceeded for quota metric Read requests');
        }
        const test = parseFilter(q.filter);
        const projects = new Set(names.map((n) => String(n).slice('projects/'.length)));
        const matching = entries
          .filter((e) => projects.has(e.logName.split('/')[1]!))
          .filter(test)
          .sort(
            (x, y) =>
              (order === 'timestamp asc' ? 1 : -1) * (Date.parse(x.timestamp) - Date.parse(y.timestamp)),
          );
        const from = q.pageToken ? Number(Buffer.from(q.pageToken, 'base64url').toString()) : 0;
        const take = Math.min(size, cap);
        const page = matching.slice(from, from + take);
        const more = from + take < matching.length;
        q.status = 200;
        return {
          entries: page,
          ...(more ? { nextPageToken: Buffer.from(String(from + take)).toString('base64url') } : {}),
        };
      } catch (e) {
        q.status =
          e instanceof LoggingError
            ? { INVALID_ARGUMENT: 400, PERMISSION_DENIED: 403, RESOURCE_EXHAUSTED: 429 }[e.status]
            : 500;
        throw e;
      }
    },
  };
}

export type GcpAuditLog = ReturnType<typeof gcpAuditLog>;
