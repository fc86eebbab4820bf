/**
 * The worker's side of `jitkey serve --workers N`: takes the policy the primary read (at start
 * and for each reload), answers the primary's requests (its metrics, the two phases of a
 * reload) and asks it for the cluster-wide `/metrics`. When the primary holds the store
 * (JITKEY_SQLITE_WRITER=primary), the worker calls it over the same channel (store/forwarded.ts).
 */
import { JitkeyError } from '../errors.js';
import type { RefusalFold } from '../exchange/refusal-fold.js';
import type { Logger } from '../log.js';
import type { PolicySnapshot } from '../policy/load/snapshot.js';
import type { MetricsSnapshot } from '../server/metrics.js';
import type { AuditEntry } from '../store/audit-types.js';
import { forwardedStore } from '../store/forwarded.js';
import type { Store } from '../store/types.js';
import {
  type BudgetRefusal,
  isMessage,
  partCollector,
  STORE_VIA_PRIMARY_ENV,
  type ToPrimary,
  type ToWorker,
} from './cluster-protocol.js';

/** How long a `/metrics` request waits for the primary's sum before it fails. */
const METRICS_TIMEOUT_MS = 10_000;
/** How long a request waits for the primary's count of a whole-server limit. */
const ASK_TIMEOUT_MS = 5_000;

export interface WorkerDeps {
  snapshot(): Promise<MetricsSnapshot>;
  /** Compiles the primary's snapshot and keeps the result aside; throws what is wrong with it. */
  stageReload(snapshot: PolicySnapshot): Promise<{ roles: number; digest: string }>;
  commitReload(): void;
  abortReload(): void;
}

export interface WorkerLink {
  /** The policy in force, as the primary read it: asked for once, at start. */
  policy(): Promise<PolicySnapshot>;
  /** Starts answering the primary; until then a reload is refused (the worker is starting). */
  attach(deps: WorkerDeps): void;
  listening(url: string, digest: string): void;
  /** The text exposition summed over the primary and every worker. */
  clusterMetrics(): Promise<string>;
  /** The refusal fold of the whole server, kept by the primary. */
  refusals: RefusalFold;
  /** Spends one approver call of the address's whole-server budget; throws 429 past it. */
  approverCall(peer: string): Promise<void>;
  /** Spends one console sign-in start of the address's whole-server budget; throws 429 past it. */
  signIn(peer: string): Promise<void>;
  /** The store the primary holds, when it holds it (SQLite): every call runs there. */
  primaryStore(): Store | undefined;
}

export function linkWorker(log: Logger): WorkerLink {
  const send = (message: ToPrimary) => {
    if (process.connected) process.send!(message);
  };
  const waiting = new Map<number, { resolve: (text: string) => void; reject: (err: Error) => void }>();
  const answers = new Map<number, (value: unknown) => void>();
  const parts = partCollector();
  let next = 0;
  let deps: WorkerDeps | undefined;
  let initial: ((snapshot: PolicySnapshot) => void) | undefined;

  process.on('message', (message: unknown) => {
    if (!isMessage<ToWorker>(message)) return;
    switch (message.jitkey) {
      case 'collect':
        if (!deps) return void send({ jitkey: 'metrics-snapshot', id: message.id, snapshot: [] });
        deps.snapshot().then(
          (snapshot) => send({ jitkey: 'metrics-snapshot', id: message.id, snapshot }),
          // An empty snapshot keeps the sum going; the failure is the operator's to see.
          (err: unknown) => {
            log.error('metrics collection failed', { error: err as Error });
            send({ jitkey: 'metrics-snapshot', id: message.id, snapshot: [] });
          },
        );
        return;
      case 'metrics-text': {
        const pending = waiting.get(message.id);
        waiting.delete(message.id);
        if ('text' in message) pending?.resolve(message.text);
        else pending?.reject(new Error(message.error));
        return;
      }
      case 'answer':
        answers.get(message.id)?.(message.value);
        answers.delete(message.id);
        return;
      case 'policy-part':
        parts.add(message);
        // Taken once the requests that waited meanwhile have run.
        setImmediate(() => send({ jitkey: 'part-taken', id: message.id }));
        return;
      case 'policy':
        initial?.(parts.take(message.id, message.head));
        initial = undefined;
        return;
      case 'stage-reload': {
        const snapshot = parts.take(message.id, message.head);
        if (!deps) {
          send({ jitkey: 'staged', id: message.id, ok: false, problems: 'a worker is still starting' });
          return;
        }
        deps.stageReload(snapshot).then(
          ({ roles, digest }) => send({ jitkey: 'staged', id: message.id, ok: true, roles, digest }),
          (err: unknown) => send({ jitkey: 'staged', id: message.id, ok: false, problems: String(err) }),
        );
        return;
      }
      case 'commit-reload':
        deps?.commitReload();
        return;
      case 'abort-reload':
        deps?.abortReload();
        return;
    }
  });

  /** Asks the primary; rejects when it does not answer in time (it is gone or stuck). */
  const ask = <T>(message: (id: number) => ToPrimary): Promise<T> => {
    const id = next++;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        answers.delete(id);
        reject(new Error('the primary did not answer in time'));
      }, ASK_TIMEOUT_MS);
      answers.set(id, (value) => {
        clearTimeout(timer);
        resolve(value as T);
      });
      send(message(id));
    });
  };

  /** One of the whole-server budgets the primary keeps: 429 past it, 503 when it cannot say. */
  const spendOf = async (budget: 'approver-call' | 'sign-in', peer: string, what: string) => {
    const refusal = await ask<BudgetRefusal | undefined>((id) => ({ jitkey: budget, id, peer })).catch(() => {
      throw new JitkeyError('unavailable', `the exchanger could not count ${what}; retry shortly`);
    });
    if (refusal) throw new JitkeyError('rate_limited', refusal.message, { retryAfter: refusal.retryAfter });
  };

  return {
    refusals: {
      // Without the primary's count, a refusal is audited on its own: never lose a row.
      admit: (subject, event = 'exchange', code = 'invalid_token') =>
        ask<boolean>((id) => ({ jitkey: 'fold-admit', id, subject, event, code })).catch(() => true),
      due: (all = false) =>
        ask<AuditEntry[]>((id) => ({ jitkey: 'fold-due', id, all })).then(
          // Dates cross the channel as text.
          (rows) => rows.map((row) => ({ ...row, at: new Date(row.at) })),
          () => [],
        ),
    },
    approverCall: (peer) => spendOf('approver-call', peer, 'approver calls'),
    primaryStore() {
      const kind = process.env[STORE_VIA_PRIMARY_ENV];
      if (kind !== 'sqlite' && kind !== 'postgres') return undefined;
      return forwardedStore(
        {
          send: (message) => process.connected && process.send!(message),
          onMessage: (listener) => process.on('message', listener),
          onClose: (listener) => process.once('disconnect', listener),
        },
        kind,
      );
    },
    signIn: (peer) => spendOf('sign-in', peer, 'sign-ins'),
    policy() {
      return new Promise<PolicySnapshot>((resolve) => {
        initial = resolve;
        send({ jitkey: 'policy-wanted', id: next++ });
      });
    },
    attach(d) {
      deps = d;
    },
    listening: (url, digest) => send({ jitkey: 'listening', url, digest }),
    clusterMetrics() {
      const id = next++;
      return new Promise<string>((resolve, reject) => {
        const timer = setTimeout(() => {
          waiting.delete(id);
          reject(new Error('the primary did not answer with the metrics in time'));
        }, METRICS_TIMEOUT_MS);
        const settle =
          <T>(fn: (value: T) => void) =>
          (value: T) => {
            clearTimeout(timer);
            fn(value);
          };
        waiting.set(id, { resolve: settle(resolve), reject: settle(reject) });
        send({ jitkey: 'metrics-wanted', id });
      });
    },
  };
}
