/**
 * `jitkey audit` output: a fixed-width table for people (cleaned of control characters, see
 * `text/clean.ts`), JSON lines for tools.
 */
import { type JobName, jobName } from '../ci-job.js';
import type { AuditEntry } from '../store/audit-types.js';
import { type Column, formatTable, timeColumn } from '../text/table.js';

const COLUMNS: readonly Column<AuditEntry>[] = [
  timeColumn<AuditEntry>(),
  { title: 'EVENT', max: 16, value: (e) => e.event },
  { title: 'OUTCOME', max: 7, value: (e) => e.outcome },
  { title: 'ROLE', max: 24, value: (e) => e.role },
  // GitHub's claims, or another CI system's job in its own terms (`ci-job.ts`).
  { title: 'REPOSITORY', max: 32, value: (e) => e.claims.repository ?? other(e)?.project },
  { title: 'REF', max: 28, value: (e) => e.claims.ref ?? other(e)?.ref },
  {
    title: 'TRIGGER',
    max: 19,
    value: (e) => e.claims.event_name ?? e.claims.pipeline_source ?? e.claims.build_source,
  },
  {
    title: 'RUN',
    max: 16,
    value: (e) =>
      e.claims.run_id
        ? `${e.claims.run_id}${e.claims.run_attempt ? `/${e.claims.run_attempt}` : ''}`
        : other(e)?.run,
  },
  { title: 'LEASE', max: 16, value: (e) => e.leaseId },
  { title: 'CLIENT', max: 39, value: (e) => e.clientAddress },
  {
    title: 'REASON',
    max: 100,
    value: (e) =>
      (e.errorCode ? `${e.errorCode}: ${e.reason}` : e.reason) + (e.actor ? ` (by ${e.actor})` : ''),
  },
];

/** The row's job when another CI system ran it (GitLab, Buildkite, CircleCI). */
function other(e: AuditEntry): JobName | undefined {
  const j = jobName(e.claims);
  return j.kind === 'github' ? undefined : j;
}

export function formatAuditTable(entries: readonly AuditEntry[]): string {
  if (entries.length === 0) return 'no audit entries match\n';
  return formatTable(COLUMNS, entries);
}

/** One JSON object per line, snake_case like the HTTP API, times in RFC 3339. */
export function formatAuditJson(entries: readonly AuditEntry[]): string {
  return entries.map(auditJsonLine).join('');
}

/** One entry as a JSON line (with its newline). */
export function auditJsonLine(e: AuditEntry): string {
  return `${JSON.stringify({
    at: e.at.toISOString(),
    request_id: e.requestId,
    event: e.event,
    outcome: e.outcome,
    role: e.role,
    provider: e.provider,
    error_code: e.errorCode,
    reason: e.reason,
    claims: e.claims,
    lease_id: e.leaseId,
    expires_at: e.expiresAt?.toISOString(),
    actor: e.actor,
    actor_id: e.actorId,
    client_address: e.clientAddress,
    user_agent: e.userAgent,
  })}\n`;
}

/**
 * The CSV columns, in order: the JSON line's fields, the usual claims on their own, the rest as
 * JSON; a column added later goes at the end.
 */
const CSV_COLUMNS: ReadonlyArray<readonly [string, (e: AuditEntry) => string | undefined]> = [
  ['at', (e) => e.at.toISOString()],
  ['request_id', (e) => e.requestId],
  ['event', (e) => e.event],
  ['outcome', (e) => e.outcome],
  ['role', (e) => e.role],
  ['provider', (e) => e.provider],
  ['error_code', (e) => e.errorCode],
  ['repository', (e) => e.claims.repository],
  ['ref', (e) => e.claims.ref],
  ['event_name', (e) => e.claims.event_name],
  ['run_id', (e) => e.claims.run_id],
  ['run_attempt', (e) => e.claims.run_attempt],
  ['actor', (e) => e.actor],
  ['lease_id', (e) => e.leaseId],
  ['expires_at', (e) => e.expiresAt?.toISOString()],
  ['reason', (e) => e.reason],
  ['client_address', (e) => e.clientAddress],
  ['user_agent', (e) => e.userAgent],
  ['claims', (e) => JSON.stringify(e.claims)],
  // Last: added after the others, so a reader of the columns by position is not thrown off.
  ['actor_id', (e) => e.actorId],
];

export const AUDIT_CSV_HEADER = `${CSV_COLUMNS.map(([name]) => name).join(',')}\r\n`;

/**
 * One CSV cell (RFC 4180). A value a spreadsheet would run as a formula (starting with `=`, `+`,
 * `-`, `@`, a tab or a carriage return: a branch named `=HYPERLINK(…)`) is prefixed with `'`, so
 * it is shown as the text it is. A value holding `;` or a tab is quoted too: a spreadsheet in a
 * locale whose separator is `;` (or that splits on tabs) would cut it into cells there, each of
 * which could start a formula.
 */
export function csvCell(value: string | undefined): string {
  if (value === undefined || value === '') return '';
  const text = /^[=+\-@\t\r]/.test(value) ? `'${value}` : value;
  return /[",;\t\r\n]/.test(text) || text !== value ? `"${text.replace(/"/g, '""')}"` : text;
}

/** One entry as a CSV record (with its CRLF). */
export function auditCsvLine(e: AuditEntry): string {
  return `${CSV_COLUMNS.map(([, value]) => csvCell(value(e))).join(',')}\r\n`;
}
