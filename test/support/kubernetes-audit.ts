/**
 * Kubernetes audit events as the API server's webhook backend writes them: `audit.k8s.io/v1`
 * `Event`s in an `EventList`, fields in the order Go's encoder writes the struct, at `Metadata`
 * level (no request or response objects) unless asked. Used by the Kubernetes stand-in (events of
 * the requests it served), the receiver's tests and the bench (a cluster's unrelated traffic).
 */
import { randomUUID } from 'node:crypto';

export const CREDENTIAL_ID = 'authentication.kubernetes.io/credential-id';

export interface AuditUser {
  username: string;
  uid?: string;
  groups?: string[];
  extra?: Record<string, string[]>;
}

export interface AuditEventInput {
  auditID?: string;
  stage?: 'RequestReceived' | 'ResponseStarted' | 'ResponseComplete' | 'Panic';
  verb: string;
  requestURI: string;
  user: AuditUser;
  impersonatedUser?: AuditUser;
  sourceIPs?: string[];
  userAgent?: string;
  objectRef?: {
    resource: string;
    namespace?: string;
    name?: string;
    apiGroup?: string;
    apiVersion?: string;
    subresource?: string;
  };
  /** Omitted at RequestReceived, as the API server does. */
  code?: number;
  reason?: string;
  at?: Date;
  /** `Request` level and above: the request body, which jitkey must never keep. */
  requestObject?: unknown;
}

/** One event, as a plain object in the API server's field order. */
export function auditEvent(e: AuditEventInput): Record<string, unknown> {
  const at = (e.at ?? new Date()).toISOString().replace('Z', '000Z');
  const stage = e.stage ?? 'ResponseComplete';
  const failed = e.code !== undefined && e.code >= 400;
  return {
    kind: 'Event',
    apiVersion: 'audit.k8s.io/v1',
    level: e.requestObject === undefined ? 'Metadata' : 'Request',
    auditID: e.auditID ?? randomUUID(),
    stage,
    requestURI: e.requestURI,
    verb: e.verb,
    user: e.user,
    ...(e.impersonatedUser ? { impersonatedUser: e.impersonatedUser } : {}),
    sourceIPs: e.sourceIPs ?? ['10.0.0.1'],
    userAgent: e.userAgent ?? 'kubectl/v1.31.0 (linux/amd64) kubernetes/9edcffc',
    ...(e.objectRef ? { objectRef: { apiVersion: 'v1', ...e.objectRef } } : {}),
    ...(stage !== 'RequestReceived' && e.code !== undefined
      ? {
          responseStatus: {
            metadata: {},
            ...(failed ? { status: 'Failure', message: 'refused', reason: e.reason ?? 'Forbidden' } : {}),
            code: e.code,
          },
        }
      : {}),
    ...(e.requestObject !== undefined ? { requestObject: e.requestObject } : {}),
    requestReceivedTimestamp: at,
    stageTimestamp: at,
    annotations: { 'authorization.k8s.io/decision': failed ? 'forbid' : 'allow' },
  };
}

/** The body the webhook posts: `{"kind":"EventList","apiVersion":"audit.k8s.io/v1",…}`. */
export function eventList(events: Record<string, unknown>[]): string {
  return JSON.stringify({ kind: 'EventList', apiVersion: 'audit.k8s.io/v1', metadata: {}, items: events });
}

/**
 * `count` events of a busy cluster that are none of jitkey's: pods and controllers with their own
 * bound tokens (a `JTI=` credential id each, reused for many requests, as pods reuse a token for
 * an hour), people with client certificates, and anonymous probes.
 */
export function unrelatedEvents(
  count: number,
  options: { tokens?: number; at?: Date } = {},
): Record<string, unknown>[] {
  const tokens = Array.from({ length: options.tokens ?? 500 }, () => randomUUID());
  const resources = ['pods', 'configmaps', 'secrets', 'leases', 'events', 'endpointslices', 'deployments'];
  const verbs = ['get', 'list', 'watch', 'update', 'patch', 'create'];
  const out: Record<string, unknown>[] = [];
  for (let i = 0; i < count; i++) {
    const resource = resources[i % resources.length]!;
    const ns = `team-${i % 40}`;
    const kind = i % 10;
    const user: AuditUser =
      kind < 7
        ? {
            username: `system:serviceaccount:${ns}:worker-${i % 97}`,
            uid: randomUUID(),
            groups: ['system:serviceaccounts', `system:serviceaccounts:${ns}`, 'system:authenticated'],
            extra: {
              [CREDENTIAL_ID]: [`JTI=${tokens[i % tokens.length]}`],
              'authentication.kubernetes.io/node-name': [`node-${i % 12}`],
              'authentication.kubernetes.io/pod-name': [`worker-${i % 97}-7d9f8c6b5-x2x4z`],
            },
          }
        : kind < 9
          ? {
              username: `user-${i % 13}@example.com`,
              groups: ['developers', 'system:authenticated'],
              extra: { [CREDENTIAL_ID]: [`X509SHA256=${(i % 13).toString(16).padStart(64, 'a')}`] },
            }
          : { username: 'system:anonymous', groups: ['system:unauthenticated'] };
    out.push(
      auditEvent({
        verb: verbs[i % verbs.length]!,
        requestURI: `/api/v1/namespaces/${ns}/${resource}/item-${i % 1000}?resourceVersion=0`,
        user,
        sourceIPs: [`10.${(i >> 8) % 256}.${i % 256}.7`],
        userAgent: `kube-controller/v1.31.0 (linux/amd64) worker-${i % 97}`,
        objectRef: { resource, namespace: ns, name: `item-${i % 1000}` },
        code: kind === 9 ? 401 : 200,
        ...(options.at ? { at: options.at } : {}),
      }),
    );
  }
  return out;
}
