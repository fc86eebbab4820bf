/**
 * What webhook bodies may hold of a worker's memory while they are read (issue 24, item 7).
 *
 * A body is charged as its bytes arrive, never from the `Content-Length` it declares, so a
 * connection that sends headers and nothing else holds nothing. Until a body's signature is
 * known its sender could be anyone: an address that has not delivered a validly signed body
 * lately is held to a small share, and all such addresses together to the part of the budget
 * not reserved. The reserved part is for addresses that have (GitHub's), so a flood from
 * elsewhere cannot make real deliveries answer 429; GitHub does not redeliver by itself, and a
 * lost `workflow_run completed` leaves the run's leases live.
 */
import { isIPv4, isIPv6 } from 'node:net';

export interface WebhookBudgetLimits {
  /** Body bytes held at once, across deliveries. */
  totalBytes: number;
  /** The part of `totalBytes` only proven senders may use. */
  reservedBytes: number;
  /** What one sender not proven may hold at once (GitHub's `workflow_run` bodies are tens of KiB). */
  perAddressBytes: number;
  /** How long a validly signed delivery makes its sender's address proven. */
  provenForMs: number;
  /** Proven addresses remembered; past this the longest unseen is forgotten. */
  maxProven: number;
}

const MiB = 1024 * 1024;

export const WEBHOOK_BUDGET: WebhookBudgetLimits = {
  totalBytes: 64 * MiB,
  reservedBytes: 32 * MiB,
  perAddressBytes: 2 * MiB,
  provenForMs: 24 * 60 * 60 * 1000,
  maxProven: 10_000,
};

export interface BodyTicket {
  /** Charges `n` more bytes; returns why not (the message of a 429) when that passes a limit. */
  take(n: number): string | undefined;
  /** The body was validly signed: its sender counts as proven from now on. */
  signed(): void;
  /** Gives back what the body holds; once, however often it is called. */
  release(): void;
}

export interface WebhookBudget {
  /** One body's account, for a sender at `address`. */
  open(address: string): BodyTicket;
}

/** Bytes held, by whether their senders were proven when their bodies began. */
export interface BudgetHeld {
  proven: number;
  unproven: number;
}

export function createWebhookBudget(
  limits: Partial<WebhookBudgetLimits> = {},
  options: { now?: () => number; onChange?: (held: BudgetHeld) => void } = {},
): WebhookBudget {
  const now = options.now ?? Date.now;
  const l = { ...WEBHOOK_BUDGET, ...limits };
  let held = 0;
  let unprovenHeld = 0;
  const byAddress = new Map<string, number>();
  const provenAt = new Map<string, number>();
  const changed = () => options.onChange?.({ proven: held - unprovenHeld, unproven: unprovenHeld });

  const isProven = (key: string) => {
    const at = provenAt.get(key);
    return at !== undefined && now() - at < l.provenForMs;
  };

  return {
    open(address) {
      const key = addressKey(address);
      const proven = isProven(key);
      let mine = 0;
      let released = false;
      return {
        take(n) {
          if (held + n > l.totalBytes) return 'the exchanger is reading as many webhook bodies as it will';
          if (!proven) {
            const own = byAddress.get(key) ?? 0;
            if (own + n > l.perAddressBytes) {
              return `webhook bodies from an address without a validly signed delivery lately are held to ${l.perAddressBytes / MiB} MiB at once`;
            }
            if (unprovenHeld + n > l.totalBytes - l.reservedBytes) {
              return 'the exchanger is reading as many webhook bodies from unproven senders as it will';
            }
            byAddress.set(key, own + n);
            unprovenHeld += n;
          }
          held += n;
          mine += n;
          changed();
          return undefined;
        },
        signed() {
          provenAt.delete(key);
          provenAt.set(key, now());
          if (provenAt.size > l.maxProven) provenAt.delete(provenAt.keys().next().value!);
        },
        release() {
          if (released) return;
          released = true;
          held -= mine;
          if (!proven) {
            unprovenHeld -= mine;
            const left = (byAddress.get(key) ?? mine) - mine;
            if (left <= 0) byAddress.delete(key);
            else byAddress.set(key, left);
          }
          if (mine > 0) changed();
        },
      };
    },
  };
}

/**
 * Whose share a sender uses: an IPv4 address (also when IPv4-mapped), or an IPv6 address's /64,
 * the block one host or one customer of a provider is usually given.
 */
export function addressKey(address: string): string {
  const plain = address.replace(/%.*$/, '');
  if (plain.toLowerCase().startsWith('::ffff:') && isIPv4(plain.slice(7))) return plain.slice(7);
  if (!isIPv6(plain)) return plain;
  const [head = '', tail] = plain.toLowerCase().split('::');
  const groups = (s: string) => (s ? s.split(':').flatMap((g) => (g.includes('.') ? ['0', '0'] : [g])) : []);
  const front = groups(head);
  const back = tail === undefined ? [] : groups(tail);
  const all = [...front, ...Array(Math.max(0, 8 - front.length - back.length)).fill('0'), ...back];
  return `${all
    .slice(0, 4)
    .map((g) => Number.parseInt(g, 16).toString(16))
    .join(':')}::/64`;
}
