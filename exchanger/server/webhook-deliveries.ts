/**
 * Which signed webhook deliveries this worker has already acted on, so a replay is not acted on
 * again (issue 24, item 7). A delivery is known by its `X-GitHub-Delivery` id, and by its
 * signature, which stands for its body: the id is outside what GitHub signs, so a captured body
 * sent again under a new id is still the same delivery. GitHub's own redelivery keeps both.
 *
 * A delivery whose work failed is forgotten, so GitHub's redelivery of it (after a `5xx`) is
 * worked on. Kept in memory for as long as GitHub offers a redelivery, up to a count.
 */

export interface DeliveryLimits {
  /** How long a delivery is remembered (GitHub offers redelivery for 3 days). */
  keepMs: number;
  /** Deliveries remembered at once; past this the oldest are forgotten. */
  max: number;
}

export const DELIVERY_MEMORY: DeliveryLimits = { keepMs: 3 * 24 * 60 * 60 * 1000, max: 20_000 };

export type DeliveryStart =
  | { replayOf: string }
  | {
      /** The work failed: a later copy is worked on (until then, copies are replays). */
      failed(): void;
    };

export interface DeliveryMemory {
  /** `id` is the delivery header ('' when absent), `signature` the body's verified HMAC. */
  begin(id: string, signature: string): DeliveryStart;
}

interface Seen {
  /** The id of the delivery first seen with this id or body. */
  first: string;
  at: number;
}

export function createDeliveryMemory(
  limits: Partial<DeliveryLimits> = {},
  now: () => number = Date.now,
): DeliveryMemory {
  const { keepMs, max } = { ...DELIVERY_MEMORY, ...limits };
  const seen = new Map<string, Seen>();
  const forget = () => {
    // Insertion order is time order: the oldest come first.
    for (const [key, s] of seen) {
      if (seen.size <= 2 * max && now() - s.at < keepMs) break;
      seen.delete(key);
    }
  };
  return {
    begin(id, signature) {
      forget();
      const keys = [`body ${signature}`, ...(id ? [`id ${id}`] : [])];
      for (const key of keys) {
        const s = seen.get(key);
        if (s) return { replayOf: s.first };
      }
      const entry: Seen = { first: id, at: now() };
      for (const key of keys) seen.set(key, entry);
      return {
        failed: () => {
          for (const key of keys) if (seen.get(key) === entry) seen.delete(key);
        },
      };
    },
  };
}
