/**
 * `jitkey audit` output from a stream of entries, with bounded memory: JSON lines are written
 * as they arrive (respecting the pipe's backpressure), the table keeps only the rows it shows.
 * Rows past the cap are counted, never dropped silently: the caller reports `leftOut`.
 */
import type { Writable } from 'node:stream';
import type { AuditEntry } from '../store/audit-types.js';
import { AUDIT_CSV_HEADER, auditCsvLine, auditJsonLine, formatAuditTable } from './format.js';

/** What the table shows when no `--limit` is given: a screenful or a few, not a million rows. */
export const DEFAULT_TABLE_ROWS = 1000;
/** JSON lines are gathered up to this many characters per write (fewer syscalls, bounded memory). */
const CHUNK_CHARS = 64 * 1024;

export interface AuditOutput {
  entries: AsyncIterable<AuditEntry>;
  format: 'json' | 'csv' | 'table';
  /** Rows to print at most; the rest are counted. Undefined: all of them. */
  cap?: number;
  out: Writable;
  /**
   * Gives up when the reader takes nothing for this long (a download left paused): what is read
   * from holds a database connection meanwhile. Undefined: waits (a terminal's pager).
   */
  stallMs?: number;
}

export interface AuditWritten {
  shown: number;
  leftOut: number;
}

export async function writeAudit({ entries, format, cap, out, stallMs }: AuditOutput): Promise<AuditWritten> {
  const limit = cap ?? Number.POSITIVE_INFINITY;
  let shown = 0;
  let leftOut = 0;
  const table: AuditEntry[] = [];
  let chunk = format === 'csv' ? AUDIT_CSV_HEADER : '';
  for await (const entry of entries) {
    if (shown >= limit) {
      leftOut++;
      continue;
    }
    shown++;
    if (format === 'table') {
      table.push(entry);
      continue;
    }
    chunk += format === 'csv' ? auditCsvLine(entry) : auditJsonLine(entry);
    if (chunk.length >= CHUNK_CHARS) {
      await write(out, chunk, stallMs);
      chunk = '';
    }
  }
  if (format === 'table') chunk = formatAuditTable(table);
  if (chunk) await write(out, chunk, stallMs);
  return { shown, leftOut };
}

/** Resolves once the stream has taken `text` or, when its buffer is full, has drained. */
function write(out: Writable, text: string, stallMs: number | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    let timer: NodeJS.Timeout | undefined;
    // A reader that goes away (a browser's download cancelled) closes the stream without an error.
    const onClose = () => fail(new Error('the reader closed the stream'));
    const onError = (err: Error) => fail(err);
    const off = () => {
      clearTimeout(timer);
      out.off('error', onError);
      out.off('close', onClose);
      out.off('drain', done);
    };
    const fail = (err: Error) => {
      off();
      reject(err);
    };
    const done = () => {
      off();
      resolve();
    };
    if (out.destroyed) return fail(new Error('the reader closed the stream'));
    out.once('error', onError);
    out.once('close', onClose);
    if (out.write(text)) return done();
    out.once('drain', done);
    if (stallMs !== undefined)
      timer = setTimeout(() => fail(new Error(`the reader took nothing for ${stallMs / 1000} s`)), stallMs);
  });
}

/** The stderr note when rows were left out: how many, and which flag shows them. */
export function leftOutNote(leftOut: number, format: 'json' | 'table', cap: number): string {
  const rows = leftOut === 1 ? '1 older matching row was' : `${leftOut} older matching rows were`;
  const show =
    format === 'table'
      ? `raise --limit (now ${cap}), use --json for every row, or narrow with --since/--repository/--outcome/--role`
      : `raise --limit (now ${cap}) or leave it out for every row`;
  return `jitkey audit: ${rows} not shown: ${show}\n`;
}
