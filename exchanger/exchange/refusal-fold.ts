/**
 * Refusals are audit rows that callers make the exchanger write. Anyone on the network can send a
 * token that does not verify (an exchange, a redemption, or a webhook delivery without its
 * signature); anyone holding a spent token can replay it; and anyone who can run a job on a
 * trusted public issuer (github.com, gitlab.com, Buildkite) holds tokens that verify and are
 * refused. So each subject gets one row per window, event and code, and the refusals after it in
 * that window are counted and written as one summary row when the window ends (issue 16, item 2).
 * The subject: a client address (an IPv6 one by its /64) for a token that did not verify; the
 * token for a replay; for any other refusal of a verified token, its issuer, job (run attempt,
 * else `sub`) and role. The first row of each names the job with its claims; errors of ours
 * (`upstream_error`, `internal_error`) are never folded.
 */
import { jobRun } from '../ci-job.js';
import { type Claims, ownClaim } from '../claims.js';
import { hashSecret } from '../digest.js';
import type { ErrorCode } from '../errors.js';
import type { Logger } from '../log.js';
import { limitKey } from '../net/ip.js';
import type { AuditEntry } from '../store/audit-types.js';
import type { Store } from '../store/types.js';
import { quote } from '../text/quote.js';

export const FOLD_WINDOW_MS = 60_000;
/** Subjects tracked at once; past this, new ones share one bucket (an address-hopping flood). */
const MAX_PEERS = 10_000;
const OVERFLOW_PEER = 'other peers or tokens';
/** What anyone can be refused on without a job of their own: an unverified token, a replay. */
const ANONYMOUS: ReadonlySet<FoldedCode> = new Set(['invalid_token', 'token_replayed', 'delivery_replayed']);

/** The requests an unverified caller can be refused on (a webhook without its signature is one). */
export type FoldedEvent = 'exchange' | 'redeem' | 'webhook';
/**
 * What was wrong: no valid token (or signature), a token already spent, or a signed webhook
 * delivery already acted on (anyone who saw it could send it again).
 */
export type FoldedCode = ErrorCode | 'delivery_replayed';

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
  refusal: {
    peer: string;
    event: FoldedEvent;
    claims?: Claims | undefined;
    code?: ErrorCode;
    role?: string | undefined;
  },
): boolean | Promise<boolean> {
  const { claims } = refusal;
  if (!fold) return true;
  // An IPv6 client by its /64 (its audit row keeps the full address): else one host could fill
  // the fold's subjects and fold every other client's refusals into the overflow.
  if (!claims) return fold.admit(limitKey(refusal.peer), refusal.event, 'invalid_token');
  const { code } = refusal;
  if (code === undefined || code === 'upstream_error' || code === 'internal_error' || code === 'unavailable')
    return true;
  const iss = quote(ownClaim(claims, 'iss'), 100);
  if (code === 'token_replayed') {
    // By token, wherever it comes from: each spent token still gets its own first row. A token
    // without a jti (Buildkite, CircleCI) by a digest of its claims: one bucket for all of them
    // would let one replay hide another's.
    const jti = ownClaim(claims, 'jti');
    const id =
      typeof jti === 'string'
        ? `jti ${quote(jti, 64)}`
        : `claims ${hashSecret(JSON.stringify(claims)).slice(0, 16)}`;
    return fold.admit(`${id} of ${iss}`, refusal.event, 'token_replayed');
  }
  const run = jobRun(claims);
  const job = run
    ? `run ${run.runId} attempt ${run.runAttempt} of ${run.repositoryId}`
    : `sub ${quote(ownClaim(claims, 'sub'), 100)}`;
  const role = refusal.role === undefined ? '' : ` for role ${quote(refusal.role, 100)}`;
  return fold.admit(`${job} of ${iss}${role}`, refusal.event, code);
}

function summaryOf(w: Window): string {
  if (w.code === 'delivery_replayed') {
    return `${w.folded} more replay${w.folded === 1 ? '' : 's'} of webhook ${w.subject}, not acted on`;
  }
  const n = `${w.folded} more refused request${w.folded === 1 ? '' : 's'}`;
  if (w.code === 'token_replayed') return `${n} replaying the token with ${w.subject}`;
  if (w.code === 'invalid_token') {
    const what = w.event === 'webhook' ? 'a wrong webhook signature' : 'an unverified token';
    return `${n} with ${what} from ${w.subject}`;
  }
  return `${n} (${w.code}) of ${w.subject}`;
}

export function createRefusalFold(options: { now: () => Date; windowMs?: number; requestId: () => string }): {
  admit(subject: string, event?: FoldedEvent, code?: FoldedCode): boolean;
  due(all?: boolean): AuditEntry[];
} {
  const windowMs = options.windowMs ?? FOLD_WINDOW_MS;
  // Two sets of windows, each bounded on its own: refusals anyone can send (no token, a replay)
  // must not crowd out those that name a job, which are audited, not folded, when theirs is full.
  const windows = new Map<string, Window>();
  const jobs = new Map<string, Window>();
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
      const ofJob = !ANONYMOUS.has(code);
      const map = ofJob ? jobs : windows;
      let subject = who;
      if (!map.has(`${event} ${code} ${who}`) && map.size >= MAX_PEERS) {
        if (ofJob) return true;
        subject = OVERFLOW_PEER;
      }
      const key = `${event} ${code} ${subject}`;
      const w = map.get(key);
      if (w && at - w.start < windowMs) {
        w.folded++;
        return false;
      }
      if (w && w.folded > 0) ended.push(summary(w));
      map.set(key, { subject, event, code, start: at, folded: 0 });
      return true;
    },
    due(all = false) {
      const at = options.now().getTime();
      const rows = ended.splice(0);
      for (const map of [windows, jobs]) {
        for (const [key, w] of map) {
          if (!all && at - w.start < windowMs) continue;
          if (w.folded > 0) rows.push(summary(w));
          map.delete(key);
        }
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
