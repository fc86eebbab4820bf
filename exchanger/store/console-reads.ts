/**
 * The console's reads, the same for both stores: one keyset page of the audit trail (the
 * console's audit screen; no OFFSET, so page 1000 costs what page 1 does) and the leases in force
 * (the leases screen). Each store passes how it runs a query.
 */
import type { AuditFilter, AuditPage } from './audit-types.js';
import type { DialectRows } from './dialect-rows.js';
import type { LeaseFilter } from './leases-types.js';
import type { AuditRowOf, LeaseRowOf } from './rows.js';
import type { Store } from './types.js';

/** Rows one audit page holds at most. */
export const MAX_AUDIT_PAGE = 500;

export type RunQuery = <R>(what: string, sql: string, params: unknown[]) => Promise<R[]>;

export function consoleReads<Time>(
  rows: DialectRows<Time>,
  tables: { audit: string; leases: string },
  all: RunQuery,
  /** How the leases are read, if not as the audit trail is (SQLite moves staged audit rows first). */
  allLeases: RunQuery = all,
): Pick<Store, 'auditPage' | 'listActiveLeases'> {
  return {
    async auditPage(filter: AuditFilter, page) {
      const limit = Math.max(1, Math.min(Math.floor(page.limit), MAX_AUDIT_PAGE));
      const after = page.after && { at: rows.times.encode(page.after.at, 'after'), id: page.after.id };
      // One more than shown: whether a next page exists is known without a count.
      const { sql, params } = rows.auditPage(tables.audit, filter, {
        limit: limit + 1,
        ...(after ? { after } : {}),
      });
      const found = await all<AuditRowOf<Time, unknown> & { id: number | string }>(
        'read the audit trail',
        sql,
        params,
      );
      const shown = found.slice(0, limit);
      const last = shown.at(-1);
      const out: AuditPage = { entries: shown.map(rows.auditEntry) };
      if (found.length > limit && last) out.next = { at: rows.times.decode(last.at), id: Number(last.id) };
      return out;
    },
    async listActiveLeases(filter: LeaseFilter) {
      const { sql, params } = rows.leaseQuery(tables.leases, filter);
      return (await allLeases<LeaseRowOf<Time>>('read the leases', sql, params)).map(rows.leaseRecord);
    },
  };
}
