/**
 * Audit rows and lease activity events as OCSF 1.3.0 events (https://schema.ocsf.io/1.3.0):
 *
 * - credentials issued, refused or ended (`exchange`, `redeem`, `revoke`): Authentication
 *   (class 3002, category 3 Identity & Access Management): Logon (1) when a job authenticated
 *   with its OpenID Connect token for credentials, Logoff (2) when a lease was revoked;
 * - every other decision (approval requests, approvals, denials, expiries, the deployment gate,
 *   webhooks, a forbidden action found): API Activity (class 6003, category 6 Application
 *   Activity) on jitkey's own API;
 * - what a lease's credentials did upstream (a CloudTrail event): API Activity (6003).
 *
 * `type_uid` is `class_uid * 100 + activity_id`. What OCSF has no attribute for (role, lease,
 * claims) is under `unmapped`. Nothing secret is in an audit row or an activity event (key ids
 * name a credential, never grant it), so nothing secret is in these.
 */
import type { ActivityEvent } from '../store/activity-types.js';
import type { AuditEntry } from '../store/audit-types.js';
import type { ExportRecord } from '../store/export-cursor-types.js';

export const OCSF_VERSION = '1.3.0';

type Json = Record<string, unknown>;
type Source = { provider?: string; account?: string; region?: string };

const AUTHENTICATION = {
  class_uid: 3002,
  class_name: 'Authentication',
  category_uid: 3,
  category_name: 'Identity & Access Management',
};
const API_ACTIVITY = {
  class_uid: 6003,
  class_name: 'API Activity',
  category_uid: 6,
  category_name: 'Application Activity',
};

const CLOUDS = new Set(['aws', 'gcp']);
const SEVERITY: Record<number, string> = { 1: 'Informational', 2: 'Low', 4: 'High' };
const ACTIVITY: Record<number, string> = { 1: 'Create', 2: 'Read', 3: 'Update', 4: 'Delete', 99: 'Other' };

/** The OCSF event of one exported record, as one line of JSON text. */
export function ocsfEvent(record: ExportRecord, product: { version?: string } = {}): string {
  const event =
    record.stream === 'audit'
      ? auditEvent(record.entry, record.id, product)
      : activityEvent(record.event, record.id, record.source ?? {}, product);
  return JSON.stringify(event);
}

function base(
  kind: typeof AUTHENTICATION,
  activityId: number,
  activityName: string,
  severityId: number,
  at: Date,
  metadata: Json,
): Json {
  return {
    ...kind,
    activity_id: activityId,
    activity_name: activityName,
    type_uid: kind.class_uid * 100 + activityId,
    type_name: `${kind.class_name}: ${activityName}`,
    severity_id: severityId,
    severity: SEVERITY[severityId],
    time: at.getTime(),
    metadata,
  };
}

function metadata(uid: string, product: { version?: string }, correlation?: string): Json {
  return {
    version: OCSF_VERSION,
    uid,
    ...(correlation ? { correlation_uid: correlation } : {}),
    product: {
      name: 'jitkey',
      vendor_name: 'jitkey',
      ...(product.version ? { version: product.version } : {}),
    },
  };
}

function status(outcome: AuditEntry['outcome']): { status_id: number; status: string } {
  if (outcome === 'allowed' || outcome === 'revoked') return { status_id: 1, status: 'Success' };
  if (outcome === 'denied' || outcome === 'error') return { status_id: 2, status: 'Failure' };
  return { status_id: 99, status: 'Other' }; // pending: an approval is awaited
}

/** Low for a refusal, High for a forbidden action found in a lease's activity. */
function auditSeverity(e: AuditEntry): number {
  if (e.event === 'activity') return 4;
  return e.outcome === 'denied' || e.outcome === 'error' ? 2 : 1;
}

const AUTHENTICATION_EVENTS: Partial<Record<AuditEntry['event'], [number, string]>> = {
  exchange: [1, 'Logon'],
  redeem: [1, 'Logon'],
  revoke: [2, 'Logoff'],
};

const API_EVENTS: Partial<Record<AuditEntry['event'], number>> = {
  approval_request: 1,
  approve: 3,
  deny: 3,
  expire: 3,
};

function auditEvent(e: AuditEntry, id: string, product: { version?: string }): Json {
  const meta = metadata(id, product, e.requestId);
  const common: Json = {
    ...status(e.outcome),
    ...(e.errorCode ? { status_code: e.errorCode } : {}),
    status_detail: e.reason,
    message: `${e.event} ${e.outcome}${e.role ? ` (role ${e.role})` : ''}`,
    ...(e.clientAddress ? { src_endpoint: { ip: e.clientAddress } } : {}),
    ...(e.userAgent ? { http_request: { user_agent: e.userAgent } } : {}),
    ...(e.provider ? { cloud: { provider: e.provider } } : {}),
    unmapped: {
      event: e.event,
      outcome: e.outcome,
      role: e.role,
      provider: e.provider,
      lease_id: e.leaseId,
      expires_at: e.expiresAt?.toISOString(),
      request_id: e.requestId,
      claims: e.claims,
    },
  };
  // The person who acted (an approver, an admin) or the job's actor; with their GitHub user id.
  const who = e.actor ?? e.claims.actor;
  const uid = e.actor !== undefined ? e.actorId : e.claims.actor_id;
  const user = who ? { user: { name: who, ...(uid ? { uid } : {}), type_id: 1, type: 'User' } } : {};
  const actor = who ? { actor: user } : {};
  const auth = AUTHENTICATION_EVENTS[e.event];
  if (auth) {
    return {
      ...base(AUTHENTICATION, auth[0], auth[1], auditSeverity(e), e.at, meta),
      ...common,
      // The principal is the workload: the repository the job's token names.
      user: {
        name: e.claims.repository ?? 'unknown',
        ...(e.claims.repository_id ? { uid: e.claims.repository_id } : {}),
        type_id: 3,
        type: 'System',
      },
      auth_protocol_id: 4,
      auth_protocol: 'OpenID',
      service: { name: 'jitkey' },
      ...actor,
    };
  }
  const activityId = API_EVENTS[e.event] ?? 99;
  return {
    ...base(API_ACTIVITY, activityId, ACTIVITY[activityId]!, auditSeverity(e), e.at, meta),
    ...common,
    actor: { ...user, app_name: 'jitkey' },
    api: { operation: e.event, service: { name: 'jitkey' }, request: { uid: e.requestId } },
    resources: [
      ...(e.role ? [{ type: 'role', name: e.role }] : []),
      ...(e.leaseId ? [{ type: 'lease', uid: e.leaseId }] : []),
    ],
  };
}

/**
 * Each activity of OCSF's API Activity class, by the verbs that begin an operation's name. A name
 * is read by its last dotted part with its first letter lowered, so AWS's `DeleteObject`, GCP's
 * `storage.objects.delete` and Kubernetes' `delete` meet the same verb; a verb counts only as a
 * whole word (`Settings` is not `Set`, `address` is not `add`).
 */
const VERBS: [number, string][] = [
  [2, 'get list watch describe lookup head select search'],
  [1, 'create put run start add register upload import generate issue insert'],
  [4, 'delete deletecollection remove terminate deregister destroy revoke'],
  [3, 'update patch modify set attach detach change enable disable tag untag replace reset stop'],
];
const VERB_OF = VERBS.map(
  ([id, verbs]) => [id, new RegExp(`^(?:${verbs.replaceAll(' ', '|')})(?![a-z])`)] as const,
);

/** Create, Read, Update, Delete or Other, from the read-only flag and the call's verb. */
export function apiActivityId(e: Pick<ActivityEvent, 'name' | 'readOnly'>): number {
  if (e.readOnly === true) return 2;
  const last = e.name.slice(e.name.lastIndexOf('.') + 1);
  const name = last.charAt(0).toLowerCase() + last.slice(1);
  for (const [id, verb] of VERB_OF) if (verb.test(name)) return id;
  return 99;
}

function activityEvent(e: ActivityEvent, id: string, source: Source, product: { version?: string }): Json {
  const activityId = apiActivityId(e);
  return {
    ...base(API_ACTIVITY, activityId, ACTIVITY[activityId]!, 1, e.at, metadata(id, product)),
    ...(e.errorCode
      ? { status_id: 2, status: 'Failure', status_code: e.errorCode }
      : { status_id: 1, status: 'Success' }),
    message: `${e.source} ${e.name}${e.errorCode ? ` (${e.errorCode})` : ''}`,
    // The lease's credential made the call: its key id names it (CloudTrail records it too).
    actor: { user: { credential_uid: e.keyId, type_id: 99, type: 'Other' }, session: { uid: e.leaseId } },
    api: {
      operation: e.name,
      service: { name: e.source },
      ...(e.errorCode ? { response: { error: e.errorCode } } : {}),
    },
    resources: e.resources.map((r) => ({
      ...(r.type ? { type: r.type } : {}),
      ...(r.name ? { name: r.name } : {}),
    })),
    // The provider is the key's (once the key is purged the event goes without a cloud); a
    // Kubernetes cluster or GitHub is not a cloud provider in OCSF's sense.
    ...(source.provider && CLOUDS.has(source.provider)
      ? {
          cloud: {
            provider: source.provider.toUpperCase(),
            ...((e.region ?? source.region) ? { region: e.region ?? source.region } : {}),
            ...(source.account ? { account: { uid: source.account } } : {}),
          },
        }
      : {}),
    unmapped: {
      lease_id: e.leaseId,
      key_id: e.keyId,
      upstream_event_id: e.eventId,
      read_only: e.readOnly,
      // What else the upstream recorded (Kubernetes: request URI, response code, addresses).
      details: e.details,
    },
  };
}
