/**
 * `jitkey audit` filter flags → AuditFilter. Pure: the CLI passes its parsed flags and the
 * current time; every bad value gets a message that says what to write instead.
 */
import { parseDuration } from '../duration.js';
import { invalidRequest } from '../errors.js';
import { addressKeyRange } from '../net/request-client.js';
import type { AuditFilter, AuditOutcome } from '../store/audit-types.js';

export interface AuditQueryOptions {
  /** How far back (`30m`, `1h`, `2d`) or an RFC 3339 time (`2024-05-01T12:00:00Z`, `2024-05-01`). */
  since?: string;
  /** `owner/name`, compared case-insensitively like GitHub does. */
  repository?: string;
  outcome?: string;
  role?: string;
  /** A client address (`192.0.2.7`) or CIDR range (`10.0.0.0/8`, `2001:db8::/32`). */
  client?: string;
  limit?: string | number;
}

export const AUDIT_OUTCOMES: readonly AuditOutcome[] = ['allowed', 'denied', 'error', 'revoked', 'pending'];
export const MAX_AUDIT_LIMIT = 1_000_000;

export function parseAuditFilter(options: AuditQueryOptions, now: Date = new Date()): AuditFilter {
  const filter: AuditFilter = {};
  if (options.since !== undefined) filter.since = parseSince(options.since, now);
  if (options.repository !== undefined) {
    if (!/^[^/\s]+\/[^/\s]+$/.test(options.repository)) {
      throw invalidRequest(`invalid --repository '${options.repository}': write OWNER/NAME, e.g. acme/web`);
    }
    filter.repository = options.repository;
  }
  if (options.outcome !== undefined) {
    const outcome = AUDIT_OUTCOMES.find((o) => o === options.outcome);
    if (!outcome) {
      throw invalidRequest(
        `invalid --outcome '${options.outcome}': write one of ${AUDIT_OUTCOMES.join(', ')}`,
      );
    }
    filter.outcome = outcome;
  }
  if (options.role !== undefined) {
    if (options.role.trim() === '') throw invalidRequest('invalid --role: give a role name from the policy');
    filter.role = options.role;
  }
  if (options.client !== undefined) {
    try {
      filter.client = addressKeyRange(options.client, 'invalid --client').canonical;
    } catch (err) {
      throw invalidRequest((err as Error).message);
    }
  }
  if (options.limit !== undefined) filter.limit = parseLimit(options.limit);
  return filter;
}

const RFC3339 =
  /^(\d{4})-(\d{2})-(\d{2})(?:[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?(?<zone>[Zz]|[+-]\d{2}:\d{2})?)?$/;

/** `1h` → one hour before `now`; `2024-05-01T12:00:00Z` → that instant; a bare date is UTC midnight. */
export function parseSince(text: string, now: Date): Date {
  const help = `invalid --since '${text}': write how far back (30m, 1h, 2d) or an RFC 3339 time (2024-05-01T12:00:00Z, 2024-05-01)`;
  const m = RFC3339.exec(text);
  if (m) {
    const [, y, mo, d, h = '00', mi = '00', s = '00'] = m.map((part) => part ?? undefined);
    if (m[4] !== undefined && m.groups?.zone === undefined) {
      throw invalidRequest(`${help}: add Z or an offset such as +02:00 so the time is not ambiguous`);
    }
    const day = new Date(Date.UTC(Number(y), Number(mo) - 1, Number(d)));
    const valid =
      day.getUTCMonth() === Number(mo) - 1 &&
      day.getUTCDate() === Number(d) &&
      Number(h) < 24 &&
      Number(mi) < 60 &&
      Number(s) < 60;
    const at = Date.parse(m[4] === undefined ? `${text}T00:00:00Z` : text.replace(' ', 'T'));
    if (!valid || Number.isNaN(at)) throw invalidRequest(`${help}: no such date or time`);
    return new Date(at);
  }
  let seconds: number;
  try {
    seconds = parseDuration(text);
  } catch {
    throw invalidRequest(help);
  }
  return new Date(now.getTime() - seconds * 1000);
}

function parseLimit(value: string | number): number {
  const n = typeof value === 'number' ? value : /^\d+$/.test(value.trim()) ? Number(value) : Number.NaN;
  if (!Number.isSafeInteger(n) || n < 1 || n > MAX_AUDIT_LIMIT) {
    throw invalidRequest(`invalid --limit '${value}': write a whole number from 1 to ${MAX_AUDIT_LIMIT}`);
  }
  return n;
}
