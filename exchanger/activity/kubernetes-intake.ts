/**
 * One audit batch from the API server, taken in (`POST /v1/kubernetes/audit`): the events of
 * jitkey's tokens found (`kubernetes-audit.ts`, `kubernetes-keys.ts`), stored with their leases,
 * each once, and the new ones checked against the role's `forbid_actions` (`forbidden.ts`).
 * Everything else in the batch is dropped unread.
 */
import { invalidRequest } from '../errors.js';
import type { Logger } from '../log.js';
import type { ActivityEvent, ActivityKey } from '../store/activity-types.js';
import type { Store } from '../store/types.js';
import type { ActivityLookup } from './cloudtrail.js';
import { candidateJtis, eventListProblem, keptEvents } from './kubernetes-audit.js';
import type { JtiDirectory } from './kubernetes-keys.js';
import { type NewEventsListener, tellNewEvents } from './new-events.js';

export interface AuditIntakeDeps {
  directory: JtiDirectory;
  store: Pick<Store, 'addActivityEvents'>;
  log: Logger;
  /** Told a key's events stored for the first time; its failure is logged. */
  onNewEvents?: NewEventsListener;
}

export interface IntakeOutcome {
  /** Distinct credential ids the batch names (jitkey's and others'). */
  candidates: number;
  /** Events of jitkey's tokens in the batch, and how many of them were not stored before. */
  kept: number;
  added: number;
}

/** Events written to the store at once (PostgreSQL binds 11 values per event). */
const CHUNK = 200;

export function auditIntake(deps: AuditIntakeDeps): (body: Buffer) => Promise<IntakeOutcome> {
  return async (body) => {
    const problem = eventListProblem(body);
    if (problem) throw invalidRequest(problem);
    const candidates = candidateJtis(body);
    if (candidates.size === 0) return { candidates: 0, kept: 0, added: 0 };
    const keys = await deps.directory.resolve(candidates);
    if (keys.size === 0) return { candidates: candidates.size, kept: 0, added: 0 };
    let kept: ReturnType<typeof keptEvents>;
    try {
      kept = keptEvents(body, (jti) => keys.has(jti));
    } catch (err) {
      throw invalidRequest(
        err instanceof SyntaxError ? 'the body is not valid JSON' : (err as Error).message,
        err,
      );
    }
    const byKey = new Map<ActivityKey, ActivityEvent[]>();
    for (const { jti, event } of kept) {
      const key = keys.get(jti)!;
      const list = byKey.get(key) ?? [];
      list.push({ ...event, leaseId: key.leaseId, keyId: key.keyId });
      byKey.set(key, list);
    }
    let added = 0;
    for (const [key, events] of byKey) {
      const fresh = new Set<string>();
      for (let i = 0; i < events.length; i += CHUNK) {
        for (const id of await deps.store.addActivityEvents(events.slice(i, i + CHUNK))) fresh.add(id);
      }
      added += fresh.size;
      await tellNewEvents(deps.onNewEvents, key, events, fresh, deps.log);
    }
    return { candidates: candidates.size, kept: kept.length, added };
  };
}

/**
 * The collector's "lookup" of a Kubernetes key: its events are pushed by the audit webhook, so a
 * poll reads nothing and only moves the key to `complete` once its horizon has passed.
 */
export const pushedActivity: ActivityLookup = async () => [];
