/**
 * The Kubernetes stand-in's audit log, as an API server with an audit webhook backend at
 * `Metadata` level keeps it: two events a request (`RequestReceived`, `ResponseComplete`) whose
 * user carries the credential id of the token that authenticated it (`JTI=<jti>`), and `flush`,
 * which posts them, spread among as many events of a busy cluster as asked, in EventList batches
 * (400 events, the API server's default) to a webhook with a bearer token.
 */
import { randomUUID } from 'node:crypto';
import { auditEvent, CREDENTIAL_ID, eventList, unrelatedEvents } from './kubernetes-audit.js';

export interface AuditedRequest {
  method: string;
  url: URL;
  remoteAddress?: string;
  userAgent?: string;
  /** Who the token authenticated as; undefined: the request was anonymous or refused (401). */
  username?: string;
  /** The jti of the token that authenticated it, when it has one. */
  jti?: string;
  status: number;
  /** The `reason` of a refusal's Status. */
  reason?: string;
  at: Date;
}

export interface FlushOptions {
  url: string;
  token?: string;
  unrelated?: number;
  batchSize?: number;
}

export interface AuditLog {
  record(request: AuditedRequest): void;
  /** Events recorded and not yet posted. */
  pending(): Record<string, unknown>[];
  /** Posts the pending events with `unrelated` others; the answers' statuses, batch by batch. */
  flush(options: FlushOptions): Promise<number[]>;
}

export function createAuditLog(): AuditLog {
  let events: Record<string, unknown>[] = [];
  return {
    record(r) {
      const user = r.username
        ? {
            username: r.username,
            uid: randomUUID(),
            groups: ['system:serviceaccounts', 'system:authenticated'],
            ...(r.jti ? { extra: { [CREDENTIAL_ID]: [`JTI=${r.jti}`] } } : {}),
          }
        : { username: 'system:anonymous', groups: ['system:unauthenticated'] };
      const base = {
        auditID: randomUUID(),
        ...requestAttributes(r.method, r.url),
        requestURI: `${r.url.pathname}${r.url.search}`,
        user,
        sourceIPs: [r.remoteAddress ?? '127.0.0.1'],
        ...(r.userAgent ? { userAgent: r.userAgent } : {}),
        at: r.at,
      };
      events.push(
        auditEvent({ ...base, stage: 'RequestReceived' }),
        auditEvent({
          ...base,
          stage: 'ResponseComplete',
          code: r.status,
          ...(r.reason ? { reason: r.reason } : {}),
        }),
      );
    },
    pending: () => events,
    async flush({ url, token, unrelated = 0, batchSize = 400 }) {
      const ours = events;
      events = [];
      // Spread the recorded events evenly through the others, as a busy cluster interleaves them.
      const others = unrelatedEvents(unrelated);
      const all: Record<string, unknown>[] = [];
      const step = ours.length ? Math.max(1, Math.floor(others.length / ours.length)) : 0;
      let o = 0;
      for (const event of ours) {
        all.push(...others.slice(o, o + step), event);
        o += step;
      }
      all.push(...others.slice(o));
      const statuses: number[] = [];
      for (let i = 0; i < all.length; i += batchSize) {
        const res = await fetch(url, {
          method: 'POST',
          headers: {
            'content-type': 'application/json',
            'user-agent': 'kube-apiserver-admission',
            ...(token ? { authorization: `Bearer ${token}` } : {}),
          },
          body: eventList(all.slice(i, i + batchSize)),
        });
        await res.arrayBuffer();
        statuses.push(res.status);
      }
      return statuses;
    },
  };
}

/** The verb and object an API server's audit event names for a request path. */
function requestAttributes(
  method: string,
  url: URL,
): {
  verb: string;
  objectRef?: {
    resource: string;
    namespace?: string;
    name?: string;
    apiGroup?: string;
    subresource?: string;
  };
} {
  const m =
    /^\/(?:api\/v1|apis\/([^/]+)\/[^/]+)(?:\/namespaces\/([^/]+))?\/([^/]+)(?:\/([^/]+))?(?:\/([^/]+))?$/.exec(
      url.pathname,
    );
  // A path outside the API groups (/version, /healthz): the lowercase method, and no object.
  if (!m) return { verb: method.toLowerCase() };
  const [, group, namespace, resource = '', name, subresource] = m;
  const verbs: Record<string, string> = { POST: 'create', PUT: 'update', PATCH: 'patch' };
  const verb =
    verbs[method] ??
    (method === 'DELETE'
      ? name
        ? 'delete'
        : 'deletecollection'
      : url.searchParams.get('watch') === 'true'
        ? 'watch'
        : name
          ? 'get'
          : 'list');
  return {
    verb,
    objectRef: {
      resource,
      ...(namespace ? { namespace } : {}),
      ...(name ? { name } : {}),
      ...(group ? { apiGroup: group } : {}),
      ...(subresource ? { subresource } : {}),
    },
  };
}
