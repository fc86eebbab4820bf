/**
 * The primary of `jitkey serve --workers N`: starts N workers (node:cluster; they share the
 * listening socket and the primary hands connections out round-robin), and keeps the promises
 * of a single `jitkey serve` for the whole group:
 * - SIGHUP reloads every worker or none: each loads the policy aside, and only when all of them
 *   could does the primary tell them to swap it in (one refusal aborts it everywhere);
 * - SIGTERM/SIGINT drain every worker (each finishes its in-flight requests), then exit;
 * - `/metrics`, asked of any worker, is the sum over all processes;
 * - a worker that dies is replaced; one that dies before the group first listened stops it.
 */
import cluster, { type Worker } from 'node:cluster';
import type { Logger } from '../log.js';
import { aggregateMetrics, createMetrics, type MetricsSnapshot } from '../server/metrics.js';
import { isMessage, type ToPrimary, type ToWorker, WORKER_INDEX_ENV } from './cluster-protocol.js';

const REPLY_TIMEOUT_MS = 10_000;
const RESTART_DELAY_MS = 1_000;
/** Past the workers' own grace period, a worker still running is killed. */
const KILL_AFTER_MS = 30_000;

export interface PrimaryOptions {
  workers: number;
  log: Logger;
  /** What the one `listening` line reports once every worker listens. */
  describe: (url: string) => Record<string, unknown>;
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
  let nextId = 0;
  const replies = new Map<number, { from: Set<Worker>; got: Map<Worker, ToPrimary>; done: () => void }>();

  /** Sends `message(id)` to every live worker and waits for each one's reply (or the timeout). */
  const ask = async (message: (id: number) => ToWorker): Promise<Map<Worker, ToPrimary>> => {
    const id = nextId++;
    const from = new Set([...slots.values()].filter((w) => w.isConnected()));
    const got = new Map<Worker, ToPrimary>();
    if (from.size === 0) return got;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, REPLY_TIMEOUT_MS);
      replies.set(id, {
        from,
        got,
        done: () => {
          clearTimeout(timer);
          resolve();
        },
      });
      for (const w of from) w.send(message(id));
    });
    replies.delete(id);
    return got;
  };

  const clusterMetrics = async (): Promise<string> => {
    const answers = await ask((id) => ({ jitkey: 'collect', id }));
    const snapshots: MetricsSnapshot[] = [await metrics.snapshot()];
    for (const a of answers.values()) if (a.jitkey === 'metrics-snapshot') snapshots.push(a.snapshot);
    return aggregateMetrics(snapshots);
  };

  let reloading = Promise.resolve();
  const reload = async () => {
    const answers = await ask((id) => ({ jitkey: 'stage-reload', id }));
    const expected = [...slots.values()].filter((w) => w.isConnected()).length;
    const refused = [...answers.values()].find((a) => a.jitkey === 'staged' && !a.ok);
    const ok = !refused && answers.size === expected && expected > 0;
    const verdict: ToWorker = ok ? { jitkey: 'commit-reload', id: -1 } : { jitkey: 'abort-reload', id: -1 };
    for (const w of answers.keys()) if (w.isConnected()) w.send(verdict);
    metrics.reloads.inc({ outcome: ok ? 'ok' : 'invalid' });
    if (ok) {
      const first = [...answers.values()][0] as Extract<ToPrimary, { jitkey: 'staged'; ok: true }>;
      log.info('policy reloaded', { ...options.describe(url ?? ''), roles: first.roles, workers: expected });
    } else {
      log.error('policy reload refused; the previous policy stays in force', {
        problems:
          refused && refused.jitkey === 'staged' && !refused.ok
            ? refused.problems
            : `${expected - answers.size} of ${expected} workers did not answer`,
      });
    }
  };

  const onMessage = (worker: Worker, index: number) => (message: unknown) => {
    if (!isMessage<ToPrimary>(message)) return;
    if (message.jitkey === 'listening') {
      listened.add(index);
      if (url === undefined && listened.size === options.workers) {
        url = message.url;
        log.info('listening', { ...options.describe(url), workers: options.workers });
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
    const pending = replies.get(message.id);
    if (!pending?.from.has(worker)) return;
    pending.got.set(worker, message);
    if (pending.got.size === pending.from.size) pending.done();
  };

  let ready: (() => void) | undefined;
  let finish: (() => void) | undefined;
  let fail: ((err: Error) => void) | undefined;
  let failed = false;
  const start = (index: number) => {
    const worker = cluster.fork({ [WORKER_INDEX_ENV]: String(index) });
    slots.set(index, worker);
    worker.on('message', onMessage(worker, index));
    worker.on('exit', (code, signal) => {
      if (slots.get(index) === worker) slots.delete(index);
      // Replies it owed would never come: stop waiting for them.
      for (const pending of replies.values()) {
        if (pending.from.delete(worker) && pending.got.size >= pending.from.size) pending.done();
      }
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
      log.info('stopped');
      // A group that never started exits as a failure, whichever worker stopped last.
      process.exit(failed ? 1 : 0);
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
