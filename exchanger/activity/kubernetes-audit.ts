/**
 * Kubernetes lease activity (issue 26, item 2), the pure part: what the API server's audit
 * webhook sends (`audit.k8s.io/v1` `EventList`) and which of its events were made with one of
 * jitkey's tokens. A bound service-account token carries a `jti`; the API server writes it into
 * every event of a request the token authenticated, as
 * `user.extra["authentication.kubernetes.io/credential-id"] = ["JTI=<jti>"]` (KEP-4193).
 *
 * Almost every event of a cluster is someone else's, so the filter never parses them: it looks
 * for `"JTI=` in the bytes (a native search), reads the id up to the closing quote, and asks the
 * caller which ids are jitkey's (a set lookup). Only a batch holding one of them is parsed, and
 * then each event is checked where it counts: the id must be in `user.extra`, so a user agent or
 * an impersonation header that merely spells one out does not attach an event to a lease.
 *
 * Only the final stage of a request is kept (`ResponseComplete`, or `Panic`), once per request:
 * the earlier stages say less, and the same request would be counted twice. A request is its
 * `auditID` with a digest of the event (`eventIdOf`): the API server takes a client's `Audit-ID`
 * header as it comes, so the auditID alone would let a lease's holder hide a forbidden request
 * behind the id of a harmless one it made before. Of each event jitkey
 * keeps what a responder reads (time, verb, resource, request URI, response code, user agent,
 * source addresses), never the request or response bodies a richer audit level would add.
 */
import { createHash } from 'node:crypto';
import { auditedUserAgent } from '../net/request-client.js';
import { kubernetesResourceName } from '../policy/model/kubernetes-actions.js';
import type { ActivityEvent } from '../store/activity-types.js';

const MARK = Buffer.from('"JTI=');
/**
 * What comes before a TokenRequest's record of the token it issued (the API server's annotation):
 * jitkey's own request, logged before the token's key is stored. Not a candidate: looked up then,
 * the id would be remembered as not jitkey's (`kubernetes-keys.ts`), and every event the token
 * later makes dropped. Raw quotes, which a value chosen by a client cannot hold unescaped.
 */
// Kubernetes 1.30 on: `authentication.kubernetes.io/issued-credential-id`; 1.29 had `….k8s.io/…`.
const ISSUED = Buffer.from('/issued-credential-id":');
const QUOTE = 0x22;
/**
 * A service-account token's jti is a UUID (the API server makes it so). Anything else is not a
 * candidate: a client can spell out thousands of `"JTI=` in one user agent (escaped, each one
 * ends in a backslash before the next quote), and each candidate costs a store read.
 */
const JTI_LENGTH = 36;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const CREDENTIAL_ID = 'authentication.kubernetes.io/credential-id';
const FINAL_STAGES = new Set(['ResponseComplete', 'Panic']);
const READ_VERBS = new Set(['get', 'list', 'watch']);
const MAX_SOURCE_IPS = 8;
/** The API server writes kind and apiVersion first; they are looked for in this much of the head. */
const HEAD_BYTES = 512;

/** The credential ids (`JTI=<uuid>`) anywhere in the body: candidates only, checked after parsing. */
export function candidateJtis(body: Buffer): Set<string> {
  const found = new Set<string>();
  let at = body.indexOf(MARK);
  while (at !== -1) {
    const start = at + MARK.length;
    const end = body.indexOf(QUOTE, start);
    if (end === -1) break;
    const issued = at >= ISSUED.length && body.subarray(at - ISSUED.length, at).equals(ISSUED);
    if (end - start === JTI_LENGTH && !issued) {
      const id = body.toString('latin1', start, end);
      if (UUID.test(id)) found.add(id);
    }
    at = body.indexOf(MARK, end + 1);
  }
  return found;
}

/** Why the body is not an `audit.k8s.io/v1` EventList as the API server writes one; else undefined. */
export function eventListProblem(body: Buffer): string | undefined {
  const head = body.toString('utf8', 0, Math.min(body.length, HEAD_BYTES));
  if (!/^\s*\{/.test(head)) return 'the body is not a JSON object';
  const version = /"apiVersion"\s*:\s*"([^"]*)"/.exec(head)?.[1];
  if (!/"kind"\s*:\s*"EventList"/.test(head) || version === undefined) {
    return 'the body is not an audit EventList (kind: EventList and apiVersion first, as the API server writes it)';
  }
  if (version !== 'audit.k8s.io/v1') {
    return `the body is an EventList of ${version}: set the API server's --audit-webhook-version to audit.k8s.io/v1`;
  }
  return undefined;
}

/** The fields of an audit event read here (audit.k8s.io/v1 `Event`). */
interface AuditEvent {
  auditID?: unknown;
  stage?: unknown;
  verb?: unknown;
  requestURI?: unknown;
  user?: { username?: unknown; extra?: Record<string, unknown> };
  impersonatedUser?: { username?: unknown };
  sourceIPs?: unknown;
  userAgent?: unknown;
  objectRef?: {
    resource?: unknown;
    namespace?: unknown;
    name?: unknown;
    apiGroup?: unknown;
    subresource?: unknown;
  };
  responseStatus?: { code?: unknown; reason?: unknown };
  requestReceivedTimestamp?: unknown;
  stageTimestamp?: unknown;
}

/** One event kept, with the jti that names its key. */
export interface KeptEvent {
  jti: string;
  event: Omit<ActivityEvent, 'leaseId' | 'keyId'>;
}

/**
 * The events of `body` made with a token whose jti `ours` holds, final stage only, once per
 * auditID. Throws a SyntaxError when the body is not JSON, an Error when it holds no `items` list.
 */
export function keptEvents(body: Buffer, ours: (jti: string) => boolean): KeptEvent[] {
  const list = JSON.parse(body.toString('utf8')) as { items?: unknown };
  if (!Array.isArray(list.items)) throw new Error('the EventList has no items list');
  const kept = new Map<string, KeptEvent>();
  for (const item of list.items as AuditEvent[]) {
    if (!item || typeof item !== 'object') continue;
    const jti = jtiOf(item);
    if (jti === undefined || !ours(jti)) continue;
    if (typeof item.stage !== 'string' || !FINAL_STAGES.has(item.stage)) continue;
    const event = activityOf(item);
    if (event && !kept.has(event.eventId)) kept.set(event.eventId, { jti, event });
  }
  return [...kept.values()];
}

/** The jti of the credential that authenticated the request, from `user.extra` only. */
function jtiOf(e: AuditEvent): string | undefined {
  const ids = e.user?.extra?.[CREDENTIAL_ID];
  if (!Array.isArray(ids)) return undefined;
  for (const id of ids) {
    if (typeof id === 'string' && id.startsWith('JTI=') && id.length > 4) return id.slice(4);
  }
  return undefined;
}

const text = (v: unknown): string => (typeof v === 'string' ? v : '');
/** Cut and escaped as a client's user agent is in an audit row: bounded, no control characters. */
const shown = (v: unknown): string | undefined => auditedUserAgent(text(v) || undefined);

function activityOf(e: AuditEvent): KeptEvent['event'] | undefined {
  const auditId = text(e.auditID);
  const at = new Date(text(e.stageTimestamp) || text(e.requestReceivedTimestamp));
  if (!auditId || Number.isNaN(at.getTime())) return undefined;
  const ref = e.objectRef ?? {};
  const resource = text(ref.resource);
  // A non-resource request (/healthz, /apis) has no object: its path names it.
  const source = resource
    ? kubernetesResourceName({
        resource,
        group: text(ref.apiGroup),
        subresource: text(ref.subresource),
      })
    : (shown(text(e.requestURI).split('?')[0]) ?? '');
  const verb = text(e.verb);
  const code = typeof e.responseStatus?.code === 'number' ? e.responseStatus.code : undefined;
  const reason = text(e.responseStatus?.reason);
  const sourceIps = Array.isArray(e.sourceIPs)
    ? e.sourceIPs.filter((ip): ip is string => typeof ip === 'string').slice(0, MAX_SOURCE_IPS)
    : [];
  const details: Record<string, unknown> = {
    request_uri: shown(e.requestURI),
    response_code: code,
    user: shown(e.user?.username),
    impersonated_user: shown(e.impersonatedUser?.username),
    user_agent: shown(e.userAgent),
    source_ips: sourceIps.map((ip) => shown(ip)),
    stage: text(e.stage),
  };
  for (const [k, v] of Object.entries(details)) if (v === undefined) delete details[k];
  const event = {
    at,
    name: verb,
    source,
    ...(text(ref.namespace) ? { region: text(ref.namespace) } : {}),
    resources: text(ref.name) ? [{ type: source, name: shown(ref.name) ?? '' }] : [],
    ...(code !== undefined && code >= 400 ? { errorCode: reason ? `${code} ${reason}` : String(code) } : {}),
    ...(verb ? { readOnly: READ_VERBS.has(verb) } : {}),
    details,
  };
  return { eventId: eventIdOf(auditId, text(e.requestReceivedTimestamp), event), ...event };
}

/** Hex digits of the digest in an event id: 96 bits, beyond a client's reach to collide on purpose. */
const DIGEST_HEX = 24;

/**
 * `<auditID>#<digest>`: the auditID (cut and escaped, as the client may have chosen it) to find
 * the request in the API server's own log, and a digest of the full auditID, the time it was
 * received and all that is kept of it, so two requests sharing an auditID stay two, while the
 * same event sent again gets the same id and adds nothing.
 */
function eventIdOf(auditId: string, received: string, kept: object): string {
  const digest = createHash('sha256')
    .update(JSON.stringify([auditId, received, kept]))
    .digest('hex')
    .slice(0, DIGEST_HEX);
  return `${shown(auditId) ?? auditId}#${digest}`;
}
