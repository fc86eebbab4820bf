/**
 * `jitkey audit` output: a fixed-width table for people, JSON lines for tools.
 * Values come from tokens and may hold anything: control characters are replaced so a crafted
 * claim cannot drive the operator's terminal.
 */
import type { AuditEntry } from '../store/types.js';

interface Column {
  title: string;
  max: number;
  value(entry: AuditEntry): string | undefined;
}

const COLUMNS: readonly Column[] = [
  {
    title: 'TIME',
    max: 20,
    value: (e) =>
      e.at
        .toISOString()
        .replace('T', ' ')
        .replace(/\.\d+Z$/, 'Z'),
  },
  { title: 'EVENT', max: 16, value: (e) => e.event },
  { title: 'OUTCOME', max: 7, value: (e) => e.outcome },
  { title: 'ROLE', max: 24, value: (e) => e.role },
  { title: 'REPOSITORY', max: 32, value: (e) => e.claims.repository },
  { title: 'REF', max: 28, value: (e) => e.claims.ref },
  { title: 'TRIGGER', max: 19, value: (e) => e.claims.event_name },
  {
    title: 'RUN',
    max: 16,
    value: (e) =>
      e.claims.run_id && `${e.claims.run_id}${e.claims.run_attempt ? `/${e.claims.run_attempt}` : ''}`,
  },
  { title: 'LEASE', max: 16, value: (e) => e.leaseId },
  {
    title: 'REASON',
    max: 100,
    value: (e) =>
      (e.errorCode ? `${e.errorCode}: ${e.reason}` : e.reason) + (e.actor ? ` (by ${e.actor})` : ''),
  },
];

export function formatAuditTable(entries: readonly AuditEntry[]): string {
  if (entries.length === 0) return 'no audit entries match\n';
  const rows = entries.map((entry) => COLUMNS.map((c) => truncate(clean(c.value(entry) || '-'), c.max)));
  const widths = COLUMNS.map((c, i) => Math.max(c.title.length, ...rows.map((row) => row[i]!.length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((cell, i) => cell.padEnd(widths[i]!))
      .join('  ')
      .trimEnd();
  return `${[line(COLUMNS.map((c) => c.title)), ...rows.map(line)].join('\n')}\n`;
}

/** One JSON object per line, snake_case like the HTTP API, times in RFC 3339. */
export function formatAuditJson(entries: readonly AuditEntry[]): string {
  return entries
    .map((e) =>
      JSON.stringify({
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
      }),
    )
    .map((line) => `${line}\n`)
    .join('');
}

function truncate(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

// biome-ignore lint/suspicious/noControlCharactersInRegex: replacing control characters is the point
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g;

function clean(text: string): string {
  return text.replace(CONTROL, ' ');
}
