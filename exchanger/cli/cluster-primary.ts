/**
 * The primary of `jitkey serve --workers N`: starts N workers (node:cluster; they share the
 * listening socket and the primary hands connections out round-robin), and keeps the promises
 * of a single `jitkey serve` for the whole group:
 * - SIGHUP reloads every worker or none: the primary reads and validates the policy once and
 *   hands that content to every worker; each compiles it aside, and only when all of them hold
 *   it (with the same digest) does the primary tell them to swap it in (one refusal aborts it
 *   everywhere). A starting or replaced worker is handed the policy in force, never the file;
 * - SIGTERM/SIGINT drain every worker (each finishes its in-flight requests), then exit;
 * - `/metrics`, asked of any worker, is the sum over all processes;
 * - the refusal fold and the approver-call budget are counted here, once for the whole server,
 *   whichever worker a request reaches (each worker asks over IPC);
 * - a worker that dies is replaced; one that dies before the group first listened stops it;
 * - on SQLite with JITKEY_SQLITE_WRITER=primary, the primary holds the one store: each worker's store calls run here
 *   (store/forwarded-host.ts), so one process writes the file and one group commit takes every
 *   worker's writes. It closes once the last worker has stopped; when the primary dies, its
 *   workers' channel closes and they exit with it (node:cluster), never serving without a store.
 */
import cluster, { type Worker } from 'node:cluster';
import type { Logger } from '../log.js';
import type { PolicySnapshot } from '../policy/load/snapshot.js';
import { aggregateMetrics, createMetrics, type MetricsSnapshot } from '../server/metrics.js';
import { hostClient, type StoreHostOptions } from '../store/forwarded-host.js';
import type { Store } from '../store/types.js';
import { workerCalls } from './cluster-calls.js';
import { clusterLimits, isLimitQuestion } from './cluster-limits.js';
import {
  isMessage,
  type SnapshotHead,
  STORE_VIA_PRIMARY_ENV,
  type ToPrimary,
  type ToWorker,
  WORKER_INDEX_ENV,
} from './cluster-protocol.js';
import type { Validated } from './policy-aside.js';

const REPLY_TIMEOUT_MS = 10_000;
/**
 * How long workers have to compile a reloaded policy: a 40,000-role directory takes each worker
 * seconds of CPU to parse, and N workers on fewer cores take turns.
 */
const STAGE_TIMEOUT_MS = 300_000;
const RESTART_DELAY_MS = 1_000;
/** Past the workers' own grace period, a worker still running is killed. */
const KILL_AFTER_MS = 30_000;

export interface PrimaryOptions {
  workers: number;
  log: Logger;
  /** What the one `listening` line reports once every worker listens. */
  describe: (url: string) => Record<string, unknown>;
  /** The policy read and validated at start: every worker starts with it. */
  policy: Validated;
  /** Reads and validates the policy again (SIGHUP); throws what is wrong with it. */
  load: () => Promise<Validated>;
  /** The store the workers call through the primary (SQLite); without it, each opens its own. */
  store?: { store: Store } & StoreHostOptions;
}

export function runPrimary(options: PrimaryOptions): Promise<void> {
  const { log } = options;
  // The primary's own registry holds the reload counts (reloads are decided here) and its own
  // process metrics; the workers' registries hold everything else.
  const metrics = createMetrics();
  const slots = new Map<number, Worker>();
  const listened = new Set<number>();
  let url: string | undefined;
  let stopping = false;

  /** The policy in force: what a starting worker is handed. */
  let current = options.policy;
  const live = () => [...slots.values()].filter((w) => w.isConnected());

  const calls = workerCalls();
  const ask = (
    message: (id: number) => ToWorker,
    {
      to = live(),
      timeoutMs = REPLY_TIMEOUT_MS,
      before,
    }: { to?: Worker[]; timeoutMs?: number; before?: (worker: Worker, id: number) => Promise<void> } = {},
  ) => calls.ask(message, to, { timeoutMs, ...(before ? { before } : {}) });

  const headOf = ({ files: _, ...head }: PolicySnapshot): SnapshotHead => head;

  /**
   * Compiles `next` in `to` and puts it in force in all of them, or in none: every one must
   * answer that it holds exactly `next` (its digest).
   */
  const stage = async (next: Validated, to: Worker[]): Promise<string | undefined> => {
    const { snapshot } = next;
    const answers = await ask((id) => ({ jitkey: 'stage-reload', id, head: headOf(snapshot) }), {
      to,
      timeoutMs: STAGE_TIMEOUT_MS,
      before: (worker, id) => calls.sendParts(worker, id, snapshot),
    });
    let problem: string | undefined;
    for (const a of answers.values()) {
      if (a.jitkey !== 'staged') continue;
      if (!a.ok) problem ??= a.problems;
      else if (a.digest !== snapshot.digest)
        problem ??= `a worker compiled policy ${a.digest}, not the ${snapshot.digest} it was handed`;
    }
    if (answers.size < to.length)
      problem ??= `${to.length - answers.size} of ${to.length} workers did not answer`;
    const verdict: ToWorker = problem
      ? { jitkey: 'abort-reload', id: -1 }
      : { jitkey: 'commit-reload', id: -1 };
    for (const w of answers.keys()) if (w.isConnected()) w.send(verdict);
    return problem;
  };

  const clusterMetrics = async (): Promise<string> => {
    const answers = await ask((id) => ({ jitkey: 'collect', id }));
    const snapshots: MetricsSnapshot[] = [await metrics.snapshot()];
    for (const a of answers.values()) if (a.jitkey === 'metrics-snapshot') snapshots.push(a.snapshot);
    return aggregateMetrics(snapshots);
  };

  let reloading = Promise.resolve();
  const reload = async () => {
    let next: Validated;
    try {
      next = await options.load();
    } catch (err) {
      metrics.reloads.inc({ outcome: 'invalid' });
      log.error('policy reload refused; the previous policy stays in force', { problems: String(err) });
      return;
    }
    // Workers still starting are not asked: they are handed the policy in force once this ends.
    const to = [...slots.entries()].filter(([i, w]) => listened.has(i) && w.isConnected()).map(([, w]) => w);
    const problem = to.length === 0 ? 'no worker is running' : await stage(next, to);
    metrics.reloads.inc({ outcome: problem ? 'invalid' : 'ok' });
    if (problem) {
      log.error('policy reload refused; the previous policy stays in force', { problems: problem });
      return;
    }
    current = next;
    log.info('policy reloaded', {
      ...options.describe(url ?? ''),
      roles: next.roles,
      digest: next.snapshot.digest,
      workers: to.length,
    });
  };

  /** A starting worker gets the policy in force, after any reload under way has settled. */
  const handPolicy = (worker: Worker) => {
    reloading = reloading.then(async () => {
      const id = calls.newId();
      const { snapshot } = current;
      await calls.sendParts(worker, id, snapshot);
      if (worker.isConnected())
        worker.send({ jitkey: 'policy', id, head: headOf(snapshot) } satisfies ToWorker);
    });
  };

  // Whole-server limits: counted once here, so N workers hold one address to one budget.
  const limits = clusterLimits();
  const answer = (worker: Worker, id: number, value: unknown) => {
    if (worker.isConnected()) worker.send({ jitkey: 'answer', id, value } satisfies ToWorker);
  };

  const onMessage = (worker: Worker, index: number) => {
    const store =
      options.store &&
      hostClient(options.store.store, (m) => worker.isConnected() && worker.send(m), options.store);
    return (message: unknown) => {
      if (store?.receive(message)) return;
      onWorkerMessage(worker, index, message);
    };
  };

  const onWorkerMessage = (worker: Worker, index: number, message: unknown) => {
    if (!isMessage<ToPrimary>(message)) return;
    if (isLimitQuestion(message)) return answer(worker, message.id, limits(message));
    if (message.jitkey === 'policy-wanted') return handPolicy(worker);
    if (message.jitkey === 'listening') {
      listened.add(index);
      // Handed the policy before a reload put another in force: it takes that one too.
      if (message.digest !== current.snapshot.digest) {
        const behind = current;
        reloading = reloading.then(async () => {
          const problem = behind === current ? await stage(current, [worker]) : undefined;
          if (problem)
            log.error('a restarted worker could not take the policy in force', {
              worker: index,
              problems: problem,
            });
        });
      }
      if (url === undefined && listened.size === options.workers) {
        url = message.url;
        log.info('listening', {
          ...options.describe(url),
          digest: current.snapshot.digest,
          workers: options.workers,
        });
        ready?.();
      }
      return;
    }
    if (message.jitkey === 'metrics-wanted') {
      clusterMetrics().then(
        (text) => worker.isConnected() && worker.send({ jitkey: 'metrics-text', id: message.id, text }),
        (err: unknown) =>
          worker.isConnected() &&
          worker.send({ jitkey: 'metrics-text', id: message.id, error: String(err) } satisfies ToWorker),
      );
      return;
    }
    calls.receive(worker, message);
  };

  let ready: (() => void) | undefined;
  let finish: (() => void) | undefined;
  let fail: ((err: Error) => void) | undefined;
  let failed = false;
  const start = (index: number) => {
    const worker = cluster.fork({
      [WORKER_INDEX_ENV]: String(index),
      ...(options.store ? { [STORE_VIA_PRIMARY_ENV]: options.store.store.kind } : {}),
    });
    slots.set(index, worker);
    worker.on('message', onMessage(worker, index));
    worker.on('exit', (code, signal) => {
      if (slots.get(index) === worker) slots.delete(index);
      calls.forget(worker);
      if (stopping) {
        if (slots.size === 0) finish?.();
        return;
      }
      if (url === undefined) {
        fail?.(new Error(`worker ${index} exited (${signal ?? `code ${code}`}) before it listened`));
        return;
      }
      // A replacement that cannot start (say the policy file now holds a policy a reload
      // refused) is retried after a pause rather than in a tight loop.
      const delay = listened.has(index) ? 0 : RESTART_DELAY_MS;
      log.error('a worker exited; starting another', { worker: index, code, signal, in_ms: delay });
      listened.delete(index);
      setTimeout(() => stopping || start(index), delay);
    });
  };

  const stop = (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    log.info('shutting down: workers finish their in-flight requests', { signal });
    for (const w of slots.values()) w.process.kill('SIGTERM');
    setTimeout(() => {
      for (const w of slots.values()) w.process.kill('SIGKILL');
    }, KILL_AFTER_MS).unref();
    if (slots.size === 0) finish?.();
  };

  return new Promise<void>((resolve, reject) => {
    fail = (err) => {
      stopping = true;
      failed = true;
      for (const w of slots.values()) w.process.kill('SIGTERM');
      reject(err);
    };
    finish = () => {
      // Every worker has stopped: nothing calls the store any more.
      const closed = options.store?.store.close() ?? Promise.resolve();
      closed
        .catch((err: unknown) => log.error('closing the store failed', { error: err as Error }))
        .finally(() => {
          log.info('stopped');
          // A group that never started exits as a failure, whichever worker stopped last.
          process.exit(failed ? 1 : 0);
        });
    };
    process.on('SIGHUP', () => {
      reloading = reloading.then(reload, reload);
    });
    process.on('SIGTERM', () => stop('SIGTERM'));
    process.on('SIGINT', () => stop('SIGINT'));
    // Resolves once every worker listens: `serve` returns, the process keeps running.
    ready = resolve;
    for (let i = 1; i <= options.workers; i++) start(i);
  });
}
