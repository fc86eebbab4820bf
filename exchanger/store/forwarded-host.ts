/**
 * The host of forwarded stores (`forwarded.ts`): the process that holds the one real store runs
 * each client's calls on it, in the order they arrived, and sends the answers of one event-loop
 * turn back in one message. Writes from every client land in the store's one group commit.
 */
import {
  ASK_GONE,
  FORWARDED_METHODS,
  type ForwardedMethod,
  type StoreAnswers,
  type StoreCalls,
  toWire,
} from './forwarded.js';
import { decode, encode } from './forwarded-wire.js';
import type { Store } from './types.js';

export interface StoreHostOptions {
  /** What `claimExportCursor` asks, for a client that passed its own `gone`. */
  gone?: (holder: string) => boolean;
}

export interface ClientLink {
  /** Takes a message from the client; false when it is not one of the store's. */
  receive(message: unknown): boolean;
}

const ALLOWED = new Set<string>(FORWARDED_METHODS);

export function isStoreCalls(message: unknown): message is StoreCalls {
  return (message as StoreCalls | undefined)?.jitkey === 'store-calls';
}

/** Serves one client: `send` carries the answers back to it (and drops them once it is gone). */
export function hostClient(
  store: Store,
  send: (message: StoreAnswers) => void,
  options: StoreHostOptions = {},
): ClientLink {
  let outbox: StoreAnswers['answers'] = [];
  const flush = () => {
    const answers = outbox;
    outbox = [];
    send({ jitkey: 'store-answers', answers });
  };
  const answer = (entry: StoreAnswers['answers'][number]) => {
    if (outbox.length === 0) setImmediate(flush);
    outbox.push(entry);
  };

  const run = (method: ForwardedMethod, args: unknown[]): Promise<unknown> => {
    if (!ALLOWED.has(method)) return Promise.reject(new Error(`not a store method: ${String(method)}`));
    if (method === 'claimExportCursor' && args[4] === ASK_GONE) {
      const [name, holder, now, until] = args as Parameters<Store['claimExportCursor']>;
      return store.claimExportCursor(name, holder, now, until, options.gone);
    }
    return (store[method] as (...a: unknown[]) => Promise<unknown>)(...args);
  };

  return {
    receive(message) {
      if (!isStoreCalls(message)) return false;
      for (const [id, method, args] of message.calls) {
        let result: Promise<unknown>;
        try {
          result = run(method, decode(args) as unknown[]);
        } catch (err) {
          result = Promise.reject(err);
        }
        result.then(
          (value) => answer([id, encode(value)]),
          (err: unknown) => answer([id, null, toWire(err)]),
        );
      }
      return true;
    },
  };
}
