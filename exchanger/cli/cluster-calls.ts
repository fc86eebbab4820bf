/**
 * The primary's conversations with its workers: a question put to several workers whose answers
 * are gathered (or given up on at a timeout, or when a worker exits), and a policy sent one part
 * at a time, each part only once the worker has taken the one before.
 */
import type { Worker } from 'node:cluster';
import type { PolicySnapshot } from '../policy/load/snapshot.js';
import { policyMessages, type ToPrimary, type ToWorker } from './cluster-protocol.js';

export interface AskOptions {
  timeoutMs: number;
  /** Runs before the question goes to a worker, such as sending it a policy's parts. */
  before?: (worker: Worker, id: number) => Promise<void>;
}

export function workerCalls() {
  let nextId = 0;
  const replies = new Map<number, { from: Set<Worker>; got: Map<Worker, ToPrimary>; done: () => void }>();
  /** Per worker, the policy part it is being sent, until it says it took it. */
  const partTaken = new Map<Worker, () => void>();

  return {
    newId: () => nextId++,

    /**
     * A policy's parts, one at a time: each is parsed by the worker's serving thread, so a burst
     * of megabytes would hold up its requests; the next goes once the worker has taken one.
     */
    async sendParts(worker: Worker, id: number, snapshot: PolicySnapshot): Promise<void> {
      for (const part of policyMessages(id, snapshot)) {
        if (!worker.isConnected()) return;
        const taken = new Promise<void>((resolve) => partTaken.set(worker, resolve));
        worker.send(part);
        await taken;
      }
      partTaken.delete(worker);
    },

    /** Sends `message(id)` to each of `to` and waits for each one's reply, or the timeout. */
    async ask(
      message: (id: number) => ToWorker,
      to: Worker[],
      { timeoutMs, before = async () => {} }: AskOptions,
    ): Promise<Map<Worker, ToPrimary>> {
      const id = nextId++;
      const from = new Set(to);
      const got = new Map<Worker, ToPrimary>();
      if (from.size === 0) return got;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, timeoutMs);
        replies.set(id, {
          from,
          got,
          done: () => {
            clearTimeout(timer);
            resolve();
          },
        });
        for (const w of from) void before(w, id).then(() => w.isConnected() && w.send(message(id)));
      });
      replies.delete(id);
      return got;
    },

    /** A worker's message that may answer a question asked, or say it took a part. */
    receive(worker: Worker, message: ToPrimary): void {
      if (message.jitkey === 'part-taken') {
        partTaken.get(worker)?.();
        return;
      }
      if (!('id' in message)) return;
      const pending = replies.get(message.id);
      if (!pending?.from.has(worker)) return;
      pending.got.set(worker, message);
      if (pending.got.size === pending.from.size) pending.done();
    },

    /** A worker exited: replies it owed would never come, so nobody waits for them. */
    forget(worker: Worker): void {
      partTaken.get(worker)?.();
      partTaken.delete(worker);
      for (const pending of replies.values()) {
        if (pending.from.delete(worker) && pending.got.size >= pending.from.size) pending.done();
      }
    },
  };
}
