/** Pieces both store implementations share: failure wrapping, claim columns, the purge timer. */
import { JitkeyError } from '../errors.js';
import type { Logger } from '../log.js';
import type { StoreOptions } from './types.js';

/** Rows deleted per purge statement, so a purge never holds the database for long. */
export const PURGE_CHUNK = 5000;
/**
 * Leases are kept a day past their expiry, then deleted: by then the credential is dead, the
 * sealed revocation material is useless, and a late `revoke` is answered `not_found`. The audit
 * trail (kept per `auditRetentionDays`) still names the lease, its role, repository and expiry.
 */
export const LEASE_GRACE_MS = 24 * 60 * 60 * 1000;
export const DEFAULT_PURGE_INTERVAL_MS = 60_000;
export const DEFAULT_AUDIT_LIMIT = 1000;
const DAY_MS = 24 * 60 * 60 * 1000;

/** The error every caller sees when the store fails: 503, details only for operators. */
export function storeFailure(what: string, cause: unknown): JitkeyError {
  if (cause instanceof JitkeyError) return cause;
  const message = unreachable(cause)
    ? 'the store is unreachable; try again shortly'
    : `the store could not ${what}; try again shortly`;
  const detail = `${what}: ${cause instanceof Error ? cause.message : String(cause)}`;
  return new JitkeyError('unavailable', message, { cause, retryAfter: 1, detail });
}

/** Opening failed: the operator starting jitkey reads this, so it says what went wrong. */
export function openFailure(where: string, cause: unknown): JitkeyError {
  const why = cause instanceof Error ? cause.message : String(cause);
  return new JitkeyError('unavailable', `cannot open the store at ${where}: ${why}`, {
    cause,
    retryAfter: 1,
    detail: why,
  });
}

const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENOTFOUND',
  'EPIPE',
]);

function unreachable(cause: unknown): boolean {
  if (!(cause instanceof Error)) return false;
  const code = (cause as { code?: unknown }).code;
  if (
    typeof code === 'string' &&
    (NETWORK_CODES.has(code) || code.startsWith('57P') || code.startsWith('08'))
  )
    return true;
  return /timeout|terminat|Connection|connect/i.test(cause.message);
}

/** Refuses a database a newer jitkey migrated: its schema may mean what this one does not know. */
export function checkSchemaVersion(store: string, current: number, known: number): void {
  if (current > known) {
    throw new Error(
      `the ${store} store has schema version ${current}, newer than this jitkey knows (${known}): upgrade jitkey`,
    );
  }
}

/** `repository` gets a real column (filtered on); the other identifying claims go in JSON. */
export function splitClaims(claims: Record<string, string>): { repository: string | null; rest: string } {
  const { repository, ...rest } = claims;
  return { repository: repository ?? null, rest: JSON.stringify(rest) };
}

export function joinClaims(repository: string | null, rest: unknown): Record<string, string> {
  const parsed = (typeof rest === 'string' ? JSON.parse(rest) : (rest ?? {})) as Record<string, string>;
  return repository === null ? parsed : { repository, ...parsed };
}

export function auditLimit(limit: number | undefined): number {
  if (limit === undefined) return DEFAULT_AUDIT_LIMIT;
  if (!Number.isSafeInteger(limit) || limit < 1) {
    throw new JitkeyError('invalid_request', `audit limit must be a positive whole number, not ${limit}`);
  }
  return limit;
}

export interface PurgeSettings {
  intervalMs: number;
  retentionMs: number | undefined;
  now: () => Date;
}

export function purgeSettings(options: StoreOptions): PurgeSettings {
  const intervalMs = options.purgeIntervalMs ?? DEFAULT_PURGE_INTERVAL_MS;
  if (!Number.isFinite(intervalMs) || intervalMs < 0) {
    throw new RangeError(`purgeIntervalMs must be 0 (off) or a positive number, not ${intervalMs}`);
  }
  const days = options.auditRetentionDays;
  if (days !== undefined && (!Number.isFinite(days) || days <= 0)) {
    throw new RangeError(`auditRetentionDays must be a positive number of days, not ${days}`);
  }
  return {
    intervalMs,
    retentionMs: days === undefined ? undefined : days * DAY_MS,
    now: options.now ?? (() => new Date()),
  };
}

export interface PurgeCounts {
  jtis: number;
  leases: number;
  approvals: number;
  completedRuns: number;
  audit: number;
  sessions: number;
  /** Lease activity keys and events: kept as long as the audit trail. */
  activityKeys: number;
  activity: number;
  /** Run attempts' first leases of each role, kept after the leases themselves. */
  runFirstLeases: number;
}

/** A table a purge deletes from: its key, the time column compared with the cutoff, and what it does. */
export interface PurgeTarget {
  table: string;
  key: string;
  column: string;
  what: string;
  /**
   * Rows whose deletion re-opens a door (spent jtis) are purged only once the database's own clock,
   * less this margin, is past them too: an instance whose clock runs ahead must not drop a jti that
   * another instance would still accept the token for.
   */
  databaseClockMarginMs?: number;
  /**
   * Leases: before a chunk is deleted, the earliest `created_at` of each run attempt and role
   * among it is kept in `run_first_leases` (`RUN_FIRST_LEASE_KEPT_MS`).
   */
  keepsFirstLeases?: boolean;
}

/**
 * A run attempt's first lease of each role is what its `max_duration` counts from
 * (`exchange/run-limits.ts`). Leases go a day after they expire, but when the first did is kept
 * this long after it was made, or a run still asking a day later would start its `max_duration`
 * over. A GitHub Actions run lasts 35 days at most.
 */
export const RUN_FIRST_LEASE_KEPT_MS = 35 * DAY_MS;

/** `run_first_leases`'s columns, as both stores write and read them. */
export const RUN_FIRST_LEASE_KEY = ['repository_id', 'run_id', 'run_attempt', 'role'] as const;

/** See `PurgeTarget.databaseClockMarginMs`: well above any clock skew between instances. */
export const JTI_PURGE_MARGIN_MS = 5 * 60_000;

export const PURGE_TARGETS = {
  jtis: {
    table: 'used_jtis',
    key: 'issuer, jti',
    column: 'expires_at',
    what: 'purge used token ids',
    databaseClockMarginMs: JTI_PURGE_MARGIN_MS,
  },
  leases: {
    table: 'leases',
    key: 'id',
    column: 'expires_at',
    what: 'purge expired leases',
    keepsFirstLeases: true,
  },
  approvals: {
    table: 'approval_requests',
    key: 'id',
    column: 'expires_at',
    what: 'purge expired approval requests',
  },
  completedRuns: {
    table: 'completed_runs',
    key: 'repository_id, run_id, run_attempt',
    column: 'completed_at',
    what: 'purge completed run attempts',
  },
  audit: { table: 'audit', key: 'id', column: 'at', what: 'purge old audit rows' },
  sessions: {
    table: 'console_sessions',
    key: 'id_hash',
    column: 'expires_at',
    what: 'purge expired console sessions',
  },
  activityKeys: {
    table: 'lease_activity_keys',
    key: 'lease_id, key_id',
    column: 'window_end',
    what: 'purge old lease activity',
  },
  activity: {
    table: 'lease_activity',
    key: 'lease_id, event_id',
    column: 'at',
    what: 'purge old lease activity',
  },
  runFirstLeases: {
    table: 'run_first_leases',
    key: RUN_FIRST_LEASE_KEY.join(', '),
    column: 'first_lease_at',
    what: "purge run attempts' first leases",
  },
} as const satisfies Record<keyof PurgeCounts, PurgeTarget>;

/**
 * One purge: used token ids past their expiry, leases and approval requests a grace day past
 * theirs, completed run attempts a day after they completed, audit rows past the retention (kept forever without one). `chunked` deletes the rows of
 * `target` older than `cutoffMs` (milliseconds since the epoch) and counts them.
 */
async function purgeRows(
  now: Date,
  settings: PurgeSettings,
  chunked: (target: PurgeTarget, cutoffMs: number) => Promise<number>,
): Promise<PurgeCounts> {
  const at = now.getTime();
  const jtis = await chunked(PURGE_TARGETS.jtis, at - JTI_PURGE_MARGIN_MS);
  const leases = await chunked(PURGE_TARGETS.leases, at - LEASE_GRACE_MS);
  const approvals = await chunked(PURGE_TARGETS.approvals, at - LEASE_GRACE_MS);
  // A completed attempt blocks its tokens (`run_completed`); none lives 15 minutes past its
  // issue (MAX_TOKEN_LIFETIME_SECONDS), so a day later the row guards nothing.
  const completedRuns = await chunked(PURGE_TARGETS.completedRuns, at - LEASE_GRACE_MS);
  const audit =
    settings.retentionMs === undefined ? 0 : await chunked(PURGE_TARGETS.audit, at - settings.retentionMs);
  // A session past its expiry is refused on read already: deleting it only keeps the table small.
  const sessions = await chunked(PURGE_TARGETS.sessions, at);
  // What a lease's credentials did is part of the trail: it outlives the lease, as its audit rows do.
  const retained = (target: PurgeTarget) =>
    settings.retentionMs === undefined ? Promise.resolve(0) : chunked(target, at - settings.retentionMs);
  const activityKeys = await retained(PURGE_TARGETS.activityKeys);
  const activity = await retained(PURGE_TARGETS.activity);
  const runFirstLeases = await chunked(PURGE_TARGETS.runFirstLeases, at - RUN_FIRST_LEASE_KEPT_MS);
  return { jtis, leases, approvals, completedRuns, audit, sessions, activityKeys, activity, runFirstLeases };
}

/**
 * A store's purge: scheduled per `settings` (`stop` ends it), and on demand as `purgeExpired`,
 * which answers the number of used token ids deleted.
 */
export function startPurge(
  settings: PurgeSettings,
  log: Logger,
  chunked: (target: PurgeTarget, cutoffMs: number) => Promise<number>,
): { purgeExpired(now: Date): Promise<number>; stop(): Promise<void> } {
  const purge = (now: Date) => purgeRows(now, settings, chunked);
  const { stop } = schedulePurge(purge, settings, log);
  return { purgeExpired: async (now) => (await purge(now)).jtis, stop };
}

/**
 * Runs `purge` every `intervalMs` on an unref'd timer (it never keeps the process alive), one
 * run at a time; a failure is logged and the next tick tries again. `stop` waits for a run in
 * progress.
 */
export function schedulePurge(
  purge: (now: Date) => Promise<PurgeCounts>,
  settings: PurgeSettings,
  log: Logger,
): { stop(): Promise<void> } {
  if (settings.intervalMs === 0) return { stop: async () => {} };
  let running: Promise<void> | undefined;
  const timer = setInterval(() => {
    if (running) return;
    running = purge(settings.now())
      .then(
        (counts) => log.debug('store purge done', { ...counts }),
        (err: unknown) => log.warn('store purge failed; retrying on the next tick', { error: err as Error }),
      )
      .finally(() => {
        running = undefined;
      });
  }, settings.intervalMs);
  timer.unref();
  return {
    async stop() {
      clearInterval(timer);
      await running;
    },
  };
}
