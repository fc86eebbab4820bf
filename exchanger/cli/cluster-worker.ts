/**
 * The worker's side of `jitkey serve --workers N`: answers the primary's requests (its metrics,
 * the two phases of a policy reload) and asks it for the cluster-wide `/metrics`.
 */
import type { Logger } from '../log.js';
import type { MetricsSnapshot } from '../server/metrics.js';
import { isMessage, type ToPrimary, type ToWorker } from './cluster-protocol.js';

/** How long a `/metrics` request waits for the primary's sum before it fails. */
const METRICS_TIMEOUT_MS = 10_000;

export interface WorkerDeps {
  snapshot(): Promise<MetricsSnapshot>;
  /** Loads the policy file and keeps the result aside; throws what is wrong with it. */
  stageReload(): Promise<{ roles: number }>;
  commitReload(): void;
  abortReload(): void;
  log: Logger;
}

export interface WorkerLink {
  listening(url: string): void;
  /** The text exposition summed over the primary and every worker. */
  clusterMetrics(): Promise<string>;
}

export function linkWorker(deps: WorkerDeps): WorkerLink {
  const send = (message: ToPrimary) => {
    if (process.connected) process.send!(message);
  };
  const waiting = new Map<number, { resolve: (text: string) => void; reject: (err: Error) => void }>();
  let next = 0;

  process.on('message', (message: unknown) => {
    if (!isMessage<ToWorker>(message)) return;
    switch (message.jitkey) {
      case 'collect':
        deps.snapshot().then(
          (snapshot) => send({ jitkey: 'metrics-snapshot', id: message.id, snapshot }),
          // An empty snapshot keeps the sum going; the failure is the operator's to see.
          (err: unknown) => {
            deps.log.error('metrics collection failed', { error: err as Error });
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
      case 'stage-reload':
        deps.stageReload().then(
          ({ roles }) => send({ jitkey: 'staged', id: message.id, ok: true, roles }),
          (err: unknown) => send({ jitkey: 'staged', id: message.id, ok: false, problems: String(err) }),
        );
        return;
      case 'commit-reload':
        deps.commitReload();
        return;
      case 'abort-reload':
        deps.abortReload();
        return;
    }
  });

  return {
    listening: (url) => send({ jitkey: 'listening', url }),
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

/** `log` with `fields` added to every line. */
export function tagged(log: Logger, fields: Record<string, unknown>): Logger {
  return {
    debug: (msg, f) => log.debug(msg, { ...fields, ...f }),
    info: (msg, f) => log.info(msg, { ...fields, ...f }),
    warn: (msg, f) => log.warn(msg, { ...fields, ...f }),
    error: (msg, f) => log.error(msg, { ...fields, ...f }),
  };
}
