/**
 * The audit screen's filter, from its query string: what the store filters on, what the form
 * shows again, and the cursor of the page asked for. Every bad value is refused with what to write.
 */
import { AUDIT_OUTCOMES, parseSince } from '../audit/query.js';
import { invalidRequest } from '../errors.js';
import type { AuditCursor, AuditFilter } from '../store/audit-types.js';
import { PROVIDERS } from './view-leases.js';

/** The form's fields, in its order; the values the form shows again. */
export const AUDIT_FIELDS = [
  'since',
  'until',
  'repository',
  'role',
  'provider',
  'outcome',
  'actor',
  'request_id',
] as const;
export type AuditFields = Partial<Record<(typeof AUDIT_FIELDS)[number], string>>;

const REPOSITORY = /^[A-Za-z0-9_.-]+\/[A-Za-z0-9_.-]+$/;
const LOGIN = /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})$/;
const REQUEST_ID = /^[A-Za-z0-9_-]{1,64}$/;

export interface ParsedAudit {
  filter: AuditFilter;
  fields: AuditFields;
  after?: AuditCursor;
}

export function parseAuditQuery(params: URLSearchParams, now: Date): ParsedAudit {
  const fields: AuditFields = {};
  for (const name of AUDIT_FIELDS) {
    const value = params.get(name)?.trim();
    if (value) fields[name] = value.slice(0, 300);
  }
  const filter: AuditFilter = {};
  const time = (name: 'since' | 'until', text: string) => {
    try {
      return parseSince(text, now);
    } catch {
      throw invalidRequest(
        `${name === 'since' ? 'From' : 'Until'} '${text}': write how far back (30m, 24h, 7d) or a time such as 2026-12-01 or 2026-12-01T12:00:00Z`,
      );
    }
  };
  if (fields.since) filter.since = time('since', fields.since);
  if (fields.until) filter.until = time('until', fields.until);
  if (fields.repository) {
    if (!REPOSITORY.test(fields.repository))
      throw invalidRequest('Repository: write owner/name, e.g. acme/web');
    filter.repository = fields.repository;
  }
  if (fields.role) filter.role = fields.role;
  if (fields.provider) {
    if (!PROVIDERS.includes(fields.provider as (typeof PROVIDERS)[number])) {
      throw invalidRequest(`Provider: one of ${PROVIDERS.join(', ')}`);
    }
    filter.provider = fields.provider;
  }
  if (fields.outcome) {
    const outcome = AUDIT_OUTCOMES.find((o) => o === fields.outcome);
    if (!outcome) throw invalidRequest(`Outcome: one of ${AUDIT_OUTCOMES.join(', ')}`);
    filter.outcome = outcome;
  }
  if (fields.actor) {
    if (!LOGIN.test(fields.actor)) throw invalidRequest('Actor: a GitHub login, e.g. octocat');
    filter.actor = fields.actor;
  }
  if (fields.request_id) {
    if (!REQUEST_ID.test(fields.request_id))
      throw invalidRequest('Request id: as the audit shows it, e.g. req_…');
    filter.requestId = fields.request_id;
  }
  const out: ParsedAudit = { filter, fields };
  const after = params.get('after');
  if (after) {
    const m = /^(\d{1,15})-(\d{1,18})$/.exec(after);
    if (!m) throw invalidRequest('this page link is damaged: go back to the first page');
    out.after = { at: new Date(Number(m[1])), id: Number(m[2]) };
  }
  return out;
}

/** The query string of these fields (and a cursor), for links to other pages and the downloads. */
export function auditQuery(fields: AuditFields, extra: Record<string, string> = {}): string {
  const q = new URLSearchParams();
  for (const name of AUDIT_FIELDS) if (fields[name]) q.set(name, fields[name]!);
  for (const [k, v] of Object.entries(extra)) q.set(k, v);
  const text = q.toString();
  return text ? `?${text}` : '';
}

export const cursorParam = (c: AuditCursor): string => `${c.at.getTime()}-${c.id}`;
