/** The row mappers (`rows.ts`) and the queries (`audit-queries.ts`) of one dialect, bound to its times. */

import { type AuditKey, auditPage, leaseQuery, type RowDialect } from './audit-queries.js';
import type { AuditEntry, AuditFilter } from './audit-types.js';
import { auditLimit } from './common.js';
import type { LeaseFilter, LeaseRecord } from './leases-types.js';
import {
  type AuditRowOf,
  auditEntry,
  auditRow,
  type LeaseRowOf,
  leaseRecord,
  leaseRow,
  type TimeCodec,
} from './rows.js';

/** The row mappers and the audit queries of one dialect. */
export interface DialectRows<Time> {
  times: TimeCodec<Time>;
  auditRow(entry: AuditEntry): AuditRowOf<Time>;
  auditEntry(row: AuditRowOf<Time, unknown>): AuditEntry;
  leaseRow(lease: LeaseRecord): LeaseRowOf<Time>;
  leaseRecord(row: LeaseRowOf<Time>): LeaseRecord;
  /** Newest first, up to `filter.limit` (default 1000). */
  auditQuery(table: string, filter: AuditFilter): { sql: string; params: unknown[] };
  /**
   * Newest first, every matching row unless `page.limit` caps it, older than `page.after` when
   * given; each row also carries its `id` (the keyset).
   */
  auditPage(
    table: string,
    filter: AuditFilter,
    page: { limit?: number; after?: AuditKey<Time> },
  ): { sql: string; params: unknown[] };
  /** Leases in force at `filter.activeAt`, newest first. */
  leaseQuery(table: string, filter: LeaseFilter): { sql: string; params: unknown[] };
}

export function rowsFor<Time>(dialect: RowDialect<Time>): DialectRows<Time> {
  const { times } = dialect;
  return {
    times,
    auditRow: (entry) => auditRow(entry, times),
    auditEntry: (row) => auditEntry(row, times),
    leaseRow: (lease) => leaseRow(lease, times),
    leaseRecord: (row) => leaseRecord(row, times),
    auditQuery: (table, filter) => auditPage(table, filter, { limit: auditLimit(filter.limit) }, dialect),
    auditPage: (table, filter, page) => auditPage(table, filter, page, dialect),
    leaseQuery: (table, filter) => leaseQuery(table, filter, dialect),
  };
}
