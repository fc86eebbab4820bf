/**
 * Refusals of callers whose token did not verify are the one kind of audit row anyone on the
 * network can make the exchanger write (an exchange, a redemption, or a webhook delivery without
 * its signature); a replay of a spent token is one that anyone holding the token can repeat.
 * Each client address (an IPv6 one by its /64; for a replay: each token) gets one row per window
 * and event; the refusals after it in that window are counted and written as one summary row when
 * the window ends (issue 16, item 2). Other refusals of verified tokens are always audited one by
 * one: they name a job.
 */
import { type Claims, ownClaim } from '../claims.js';
import type { Logger } from '../log.js';
import { limitKey } from '../net/ip.js';
import type { AuditEntry } from '../store/audit-types.js';
import type { Store } from '../store/types.js';
import { quote } from '../text/quote.js';

export const FOLD_WINDOW_MS = 60_000;
/** Subjects tracked at once; past this, new ones share one bucket (an address-hopping flood). */
const MAX_PEERS = 10_000;
const OVERFLOW_PEER = 'other peers or tokens';

/** The requests an unverified caller can be refused on (a webhook without its signature is one). */
export type FoldedEvent = 'exchange' | 'redeem' | 'webhook';
/**
 * What was wrong: no valid token (or signature), a token already spent, or a signed webhook
 * delivery already acted on (anyone who saw it could send it again).
 */
export type FoldedCode = 'invalid_token' | 'token_replayed' | 'delivery_replayed';

export interface RefusalFold {
  /**
   * True when this refusal gets its own audit row; false when it was counted into the window.
   * `subject` is whose refusals are counted together: a client address, or for a replay the token.
   */
  admit(subject: string, event?: FoldedEvent, code?: FoldedCode): boolean | Promise<boolean>;
  /** Summary rows for the windows that have ended (all of them with `all`), which it forgets. */
  due(all?: boolean): AuditEntry[] | Promise<AuditEntry[]>;
}

interface Window {
  subject: string;
  event: FoldedEvent;
  code: FoldedCode;
  start: number;
  folded: number;
}

/**
 * Whether a refusal gets its own audit row: for an unverified caller, or a replayed token, only
 * when the fold admits it; any other refusal always. One rule for exchanges, redemptions and
 * webhook deliveries.
 */
export function auditsRefusal(
  fold: RefusalFold | undefined,
  refusal: { peer: string; event: FoldedEvent; claims?: Claims | undefined; code?: string },
): boolean | Promise<boolean> {
  const { claims } = refusal;
  if (!fold) return true;
  // An IPv6 client by its /64 (its audit row keeps the full address): else one host could fill
  // the fold's subjects and fold every other client's refusals into the overflow.
  if (!claims) return fold.admit(limitKey(refusal.peer), refusal.event, 'invalid_token');
  if (refusal.code !== 'token_replayed') return true;
  // By token, wherever it comes from: each spent token still gets its own first row.
  const token = `jti ${quote(ownClaim(claims, 'jti'), 64)} of ${quote(ownClaim(claims, 'iss'), 100)}`;
  return fold.admit(token, refusal.event, 'token_replayed');
}

function summaryOf(w: Window): string {
  if (w.code === 'delivery_replayed') {
    return `${w.folded} more replay${w.folded === 1 ? '' : 's'} of webhook ${w.subject}, not acted on`;
  }
  const n = `${w.folded} more refused request${w.folded === 1 ? '' : 's'}`;
  if (w.code === 'token_replayed') return `${n} replaying the token with ${w.subject}`;
  const what = w.event === 'webhook' ? 'a wrong webhook signature' : 'an unverified token';
  return `${n} with ${what} from ${w.subject}`;
}

export function createRefusalFold(options: { now: () => Date; windowMs?: number; requestId: () => string }): {
  admit(subject: string, event?: FoldedEvent, code?: FoldedCode): boolean;
  due(all?: boolean): AuditEntry[];
} {
  const windowMs = options.windowMs ?? FOLD_WINDOW_MS;
  const windows = new Map<string, Window>();
  const ended: AuditEntry[] = [];
  const summary = (w: Window): AuditEntry => ({
    at: options.now(),
    requestId: options.requestId(),
    event: w.event,
    outcome: 'denied',
    errorCode: w.code,
    reason: `${summaryOf(w)} in ${windowMs / 1000} s after the one audited (counted, not audited one by one)`,
    claims: {},
  });
  return {
    admit(who, event = 'exchange', code = 'invalid_token') {
      const at = options.now().getTime();
      let subject = who;
      if (!windows.has(`${event} ${code} ${who}`) && windows.size >= MAX_PEERS) subject = OVERFLOW_PEER;
      const key = `${event} ${code} ${subject}`;
      const w = windows.get(key);
      if (w && at - w.start < windowMs) {
        w.folded++;
        return false;
      }
      if (w && w.folded > 0) ended.push(summary(w));
      windows.set(key, { subject, event, code, start: at, folded: 0 });
      return true;
    },
    due(all = false) {
      const at = options.now().getTime();
      const rows = ended.splice(0);
      for (const [key, w] of windows) {
        if (!all && at - w.start < windowMs) continue;
        if (w.folded > 0) rows.push(summary(w));
        windows.delete(key);
      }
      return rows;
    },
  };
}

/** How often ended windows are written. */
const WRITE_INTERVAL_MS = 5_000;

/**
 * Writes the fold's summary rows as their windows end and, at `stop`, every window still open:
 * awaited, so a shutdown closes the store only after the last minute's count is in it.
 */
export function writeFoldedRefusals(
  fold: RefusalFold,
  deps: { store: Pick<Store, 'record'>; log: Logger },
  intervalMs = WRITE_INTERVAL_MS,
): { stop(): Promise<void> } {
  const write = async (all: boolean) =>
    Promise.all(
      (await fold.due(all)).map((entry) =>
        deps.store.record(entry).catch((err: unknown) => {
          deps.log.warn('could not audit folded refusals', { reason: entry.reason, error: err as Error });
        }),
      ),
    );
  let writing: Promise<unknown> = Promise.resolve();
  const timer = setInterval(() => {
    writing = write(false);
  }, intervalMs).unref();
  let stopped: Promise<void> | undefined;
  return {
    stop() {
      stopped ??= (async () => {
        clearInterval(timer);
        await writing;
        await write(true);
      })();
      return stopped;
    },
  };
}
