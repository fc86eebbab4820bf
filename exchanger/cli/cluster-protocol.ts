/**
 * The messages between `jitkey serve --workers N`'s primary and its workers (over node:cluster's
 * IPC channel). Every message carries `jitkey` so neither side mistakes Node's or prom-client's
 * own messages on the same channel for one of these.
 */
import type { MetricsSnapshot } from '../server/metrics.js';

export type ToPrimary =
  /** The worker's server accepts connections. */
  | { jitkey: 'listening'; url: string }
  /** A `/metrics` request reached this worker: it wants the sum over every process. */
  | { jitkey: 'metrics-wanted'; id: number }
  /** Answer to `collect`: this worker's own metrics. */
  | { jitkey: 'metrics-snapshot'; id: number; snapshot: MetricsSnapshot }
  /** Answer to `stage-reload`: the new policy loaded (not yet in force), or why not. */
  | { jitkey: 'staged'; id: number; ok: true; roles: number }
  | { jitkey: 'staged'; id: number; ok: false; problems: string };

export type ToWorker =
  | { jitkey: 'collect'; id: number }
  | { jitkey: 'metrics-text'; id: number; text: string }
  | { jitkey: 'metrics-text'; id: number; error: string }
  /** Load the policy file and hold it, ready to swap in. */
  | { jitkey: 'stage-reload'; id: number }
  /** Every worker staged it: put it in force (`commit`), or drop it (`abort`). */
  | { jitkey: 'commit-reload'; id: number }
  | { jitkey: 'abort-reload'; id: number };

export function isMessage<T extends { jitkey: string }>(value: unknown): value is T {
  return typeof value === 'object' && value !== null && typeof (value as T).jitkey === 'string';
}

/** Worker index (1…N) the primary hands each worker in its environment, kept across restarts. */
export const WORKER_INDEX_ENV = 'JITKEY_WORKER_INDEX';
