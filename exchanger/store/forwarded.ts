/**
 * A Store whose every call runs in another process, over a message channel (node:cluster's IPC):
 * `jitkey serve --workers N` on SQLite, where only the primary holds the database and writes it
 * (`forwarded-host.ts` runs the calls there). One writer keeps SQLite's file lock uncontended, and
 * the host's group commit batches every worker's writes together.
 *
 * The calls of one event-loop turn travel in one message, their answers likewise. A call settles
 * only once the host's store has answered it, so an acknowledged write is committed in the host
 * whatever happens to this process after. Values cross as JSON, their Dates tagged
 * (`forwarded-wire.ts`). Errors cross as their code and message: a JitkeyError arrives as
 * a JitkeyError of the same code, so the HTTP answer is the one a local store would have caused.
 */
import { type ErrorCode, JitkeyError } from '../errors.js';
import type { AuditEntry } from './audit-types.js';
import { auditLimit } from './common.js';
import { MAX_AUDIT_PAGE } from './console-reads.js';
import { decode, encode } from './forwarded-wire.js';
import type { Store } from './types.js';

/** The methods that cross as they are (`streamAudit` is made of `auditPage` calls). */
export const FORWARDED_METHODS = [
  'consumeJti',
  'record',
  'getLease',
  'markRevoked',
  'queryAudit',
  'auditPage',
  'listActiveLeases',
  'runState',
  'spendToken',
  'recordGrant',
  'completeRun',
  'purgeExpired',
  'createApprovalRequest',
  'getApprovalRequest',
  'listApprovalRequests',
  'countApprovalRequests',
  'updateApprovalRequest',
  'createSession',
  'getSession',
  'extendSession',
  'deleteSession',
  'addActivityKey',
  'claimActivityKeys',
  'saveActivity',
  'activityKeysById',
  'addActivityEvents',
  'leaseActivity',
  'claimExportCursor',
  'advanceExportCursor',
  'releaseExportCursor',
  'readExport',
  'ping',
] as const satisfies readonly (keyof Store)[];

export type ForwardedMethod = (typeof FORWARDED_METHODS)[number];

// Every method of the port crosses, or is built here from one that does: a method added to
// Store and not to the list above fails to compile.
type Local = 'kind' | 'streamAudit' | 'close';
const everyMethod: Exclude<keyof Store, ForwardedMethod | Local> extends never ? true : never = true;
void everyMethod;

/** A failure as it crosses: a JitkeyError's code and what else the client or the log sees. */
export interface WireError {
  code?: ErrorCode;
  message: string;
  retryAfter?: number;
  detail?: string;
}

/** One turn's calls, from the client: `[call id, method, arguments]` (arguments `encode`d). */
export interface StoreCalls {
  jitkey: 'store-calls';
  calls: [number, ForwardedMethod, unknown[]][];
}

/** One turn's answers, from the host: `[call id, value]` (`encode`d) or `[call id, null, error]`. */
export interface StoreAnswers {
  jitkey: 'store-answers';
  answers: ([number, unknown] | [number, null, WireError])[];
}

/**
 * `claimExportCursor`'s `gone` is a function and cannot cross: the client sends this in its
 * place and the host asks its own (same host, so it sees the same processes).
 */
export const ASK_GONE = 'ask-gone';

export interface Channel {
  send(message: StoreCalls): void;
  /** Calls `listener` with each message that arrives (any message: it picks its own). */
  onMessage(listener: (message: unknown) => void): void;
  /** Calls `listener` once the other side is gone: no answer will come. */
  onClose(listener: () => void): void;
}

export function toWire(err: unknown): WireError {
  if (err instanceof JitkeyError) {
    return {
      code: err.code,
      message: err.message,
      ...(err.retryAfter !== undefined ? { retryAfter: err.retryAfter } : {}),
      ...(err.detail !== undefined ? { detail: err.detail } : {}),
    };
  }
  return { message: err instanceof Error ? err.message : String(err) };
}

export function fromWire(wire: WireError): Error {
  if (!wire.code) return new Error(wire.message);
  return new JitkeyError(wire.code, wire.message, {
    ...(wire.retryAfter !== undefined ? { retryAfter: wire.retryAfter } : {}),
    ...(wire.detail !== undefined ? { detail: wire.detail } : {}),
  });
}

const unreachable = (why: string) => new JitkeyError('unavailable', `the store is ${why}`, { retryAfter: 1 });

export function forwardedStore(channel: Channel, kind: Store['kind']): Store {
  const pending = new Map<number, { resolve: (value: unknown) => void; reject: (err: Error) => void }>();
  let outbox: StoreCalls['calls'] = [];
  let next = 0;
  /** Why calls are refused from now on: the host is gone, or this end was closed. */
  let refused: string | undefined;
  let drained: (() => void) | undefined;
  /** What every `close` waits on: one promise, so a second close cannot orphan the first. */
  let closed: Promise<void> | undefined;
  const settled = () => pending.size === 0 && drained?.();

  const flush = () => {
    const calls = outbox;
    outbox = [];
    if (calls.length > 0) channel.send({ jitkey: 'store-calls', calls });
  };
  channel.onMessage((message) => {
    if ((message as StoreAnswers | undefined)?.jitkey !== 'store-answers') return;
    for (const [id, value, error] of (message as StoreAnswers).answers) {
      const call = pending.get(id);
      pending.delete(id);
      if (error) call?.reject(fromWire(error));
      else call?.resolve(decode(value));
    }
    settled();
  });
  channel.onClose(() => {
    refused = 'not reachable: its process has ended';
    for (const call of pending.values()) call.reject(unreachable(refused));
    pending.clear();
    settled();
  });

  const call = <T>(method: ForwardedMethod, args: unknown[]): Promise<T> => {
    if (refused) return Promise.reject(unreachable(refused));
    const id = next++;
    return new Promise<T>((resolve, reject) => {
      pending.set(id, { resolve: resolve as (value: unknown) => void, reject });
      // The calls of this turn go together, after the requests that arrived in it have run.
      if (outbox.length === 0) setImmediate(flush);
      outbox.push([id, method, encode(args) as unknown[]]);
    });
  };

  const methods = Object.fromEntries(
    FORWARDED_METHODS.map((method) => [method, (...args: unknown[]) => call(method, args)]),
  ) as Pick<Store, ForwardedMethod>;
  return {
    ...methods,
    kind,
    claimExportCursor: (name, holder, now, until, isGone) =>
      call('claimExportCursor', [name, holder, now, until, ...(isGone ? [ASK_GONE] : [])]),
    /**
     * Keyset pages of `auditPage`: memory stays one page whatever matches, and stopping early
     * leaves nothing open in the host. Exact where the keys are (SQLite's integer milliseconds).
     */
    async *streamAudit(filter): AsyncGenerator<AuditEntry> {
      let remaining = filter.limit === undefined ? Number.POSITIVE_INFINITY : auditLimit(filter.limit);
      let after = undefined as Awaited<ReturnType<Store['auditPage']>>['next'];
      while (remaining > 0) {
        const limit = Math.min(MAX_AUDIT_PAGE, remaining);
        const page = await methods.auditPage(filter, { limit, ...(after ? { after } : {}) });
        for (const entry of page.entries) yield entry;
        if (!page.next || page.entries.length < limit) return;
        remaining -= page.entries.length;
        after = page.next;
      }
    },
    // The host's store stays open for the other processes; this one only stops calling it.
    close() {
      flush();
      refused ??= 'closed';
      closed ??= pending.size > 0 ? new Promise<void>((resolve) => (drained = resolve)) : Promise.resolve();
      return closed;
    },
  };
}
