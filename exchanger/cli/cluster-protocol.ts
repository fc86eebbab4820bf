/**
 * The messages between `jitkey serve --workers N`'s primary and its workers (over node:cluster's
 * IPC channel). Every message carries `jitkey` so neither side mistakes Node's or prom-client's
 * own messages on the same channel for one of these.
 */
import type { FoldedCode, FoldedEvent } from '../exchange/refusal-fold.js';
import type { PolicyFileText } from '../policy/load/directory.js';
import type { PolicySnapshot } from '../policy/load/snapshot.js';
import type { MetricsSnapshot } from '../server/metrics.js';

/** A snapshot without its files' text, which goes before it in `policy-part` messages. */
export type SnapshotHead = Omit<PolicySnapshot, 'files'>;

export type ToPrimary =
  /** The worker's server accepts connections, with this policy in force. */
  | { jitkey: 'listening'; url: string; digest: string }
  /** A starting worker wants the policy in force. */
  | { jitkey: 'policy-wanted'; id: number }
  /** A `policy-part` was taken: the primary sends the next. */
  | { jitkey: 'part-taken'; id: number }
  /** A `/metrics` request reached this worker: it wants the sum over every process. */
  | { jitkey: 'metrics-wanted'; id: number }
  /** Answer to `collect`: this worker's own metrics. */
  | { jitkey: 'metrics-snapshot'; id: number; snapshot: MetricsSnapshot }
  /** Answer to `stage-reload`: the policy compiled (not yet in force), or why not. */
  | { jitkey: 'staged'; id: number; ok: true; roles: number; digest: string }
  | { jitkey: 'staged'; id: number; ok: false; problems: string }
  /**
   * The limits held for the whole server, counted by the primary (issue 24, item 10): does
   * this refusal get its own audit row (`answer` true/false); the refusal fold's summary rows
   * that are due (`answer` AuditEntry[]); may this address make another approver call, or
   * start another console sign-in (`answer` undefined, or the refusal).
   */
  | { jitkey: 'fold-admit'; id: number; subject: string; event: FoldedEvent; code: FoldedCode }
  | { jitkey: 'fold-due'; id: number; all: boolean }
  | { jitkey: 'approver-call'; id: number; peer: string }
  | { jitkey: 'sign-in'; id: number; peer: string };

export type ToWorker =
  | { jitkey: 'collect'; id: number }
  | { jitkey: 'metrics-text'; id: number; text: string }
  | { jitkey: 'metrics-text'; id: number; error: string }
  /**
   * A piece of a policy file's text (`first`: a file starts here). A policy goes in pieces so
   * that no worker parses one message of megabytes between two requests.
   */
  | { jitkey: 'policy-part'; id: number; file: string; name: string; text: string; first: boolean }
  /** The parts of `id` are complete: the policy to start with. */
  | { jitkey: 'policy'; id: number; head: SnapshotHead }
  /** The parts of `id` are complete: compile that policy and hold it, ready to swap in. */
  | { jitkey: 'stage-reload'; id: number; head: SnapshotHead }
  /** Every worker staged it: put it in force (`commit`), or drop it (`abort`). */
  | { jitkey: 'commit-reload'; id: number }
  | { jitkey: 'abort-reload'; id: number }
  /** The primary's answer to `fold-admit`, `fold-due`, `approver-call` or `sign-in`. */
  | { jitkey: 'answer'; id: number; value: unknown };

/** The primary's answer to `approver-call` or `sign-in` when the address is over its budget. */
export interface BudgetRefusal {
  message: string;
  retryAfter: number;
}

export function isMessage<T extends { jitkey: string }>(value: unknown): value is T {
  return typeof value === 'object' && value !== null && typeof (value as T).jitkey === 'string';
}

/** Worker index (1…N) the primary hands each worker in its environment, kept across restarts. */
export const WORKER_INDEX_ENV = 'JITKEY_WORKER_INDEX';

/** Set (to the store's kind) when the primary holds the store and the worker calls it there. */
export const STORE_VIA_PRIMARY_ENV = 'JITKEY_STORE_VIA_PRIMARY';

/** Characters of policy text per `policy-part` message. */
const PART_CHARS = 256 * 1024;

/** The `policy-part` messages that carry a snapshot's files, then its head. */
export function policyMessages(id: number, snapshot: PolicySnapshot): ToWorker[] {
  const out: ToWorker[] = [];
  for (const f of snapshot.files) {
    for (let at = 0; at === 0 || at < f.text.length; at += PART_CHARS) {
      const text = f.text.slice(at, at + PART_CHARS);
      out.push({ jitkey: 'policy-part', id, file: f.file, name: f.name, text, first: at === 0 });
    }
  }
  return out;
}

/** Collects `policy-part` messages into files, by the id of the snapshot they belong to. */
export function partCollector(): {
  add(part: Extract<ToWorker, { jitkey: 'policy-part' }>): void;
  take(id: number, head: SnapshotHead): PolicySnapshot;
} {
  const files = new Map<number, PolicyFileText[]>();
  return {
    add(part) {
      const list = files.get(part.id) ?? [];
      files.set(part.id, list);
      const last = list.at(-1);
      if (part.first || !last) list.push({ file: part.file, name: part.name, text: part.text });
      else last.text += part.text;
    },
    take(id, head) {
      const list = files.get(id) ?? [];
      files.delete(id);
      return { ...head, files: list };
    },
  };
}
