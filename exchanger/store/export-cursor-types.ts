/**
 * What the SIEM export (`export/`) needs of the store: the audit rows and lease activity events
 * in an order that never lets a row appear behind the point already exported, and a named
 * cursor that moves only once a sink has acknowledged a batch (docs/siem-export.md).
 *
 * Positions are opaque strings the store makes and reads back (`''`: the start). SQLite orders
 * by the audit row id and by a sequence number given to each activity event as it is inserted
 * (one writer at a time: commit order). PostgreSQL orders by the inserting transaction's id,
 * then the row, and hands out only rows whose transaction is older than every transaction
 * still running, so a slow commit cannot land behind the cursor.
 */
import type { ActivityEvent } from './activity-types.js';
import type { AuditEntry } from './audit-types.js';

/** Where an export stands in each of its two streams. */
export interface ExportPosition {
  audit: string;
  activity: string;
  /**
   * What the sink needs to resume without repeating itself, saved with the position (a file
   * sink: the file and its size once the batch was written).
   */
  sink?: string;
}

export const EXPORT_START: ExportPosition = { audit: '', activity: '' };

/** One audit row or activity event, with its place in its stream and its stable id. */
export type ExportRecord =
  | { stream: 'audit'; position: string; id: string; entry: AuditEntry }
  | {
      stream: 'activity';
      position: string;
      id: string;
      event: ActivityEvent;
      /** The credential's provider, account and region, while its key is still stored. */
      source?: ActivitySource;
    };

export interface ActivitySource {
  provider: string;
  account: string;
  region: string;
}

export interface ExportCursorStore {
  /**
   * Takes the cursor `name` for `holder` until `until`, when it is free, its holder's time has
   * passed, `holder` already has it, or `gone` says its holder has ended (created at the start
   * when new). Returns its position, or undefined when another holder has it.
   */
  claimExportCursor(
    name: string,
    holder: string,
    now: Date,
    until: Date,
    gone?: (holder: string) => boolean,
  ): Promise<ExportPosition | undefined>;
  /**
   * Moves the cursor to `position` and its hold to `until`, if `holder` still holds it; returns
   * false, writing nothing, when it does not.
   */
  advanceExportCursor(name: string, holder: string, position: ExportPosition, until: Date): Promise<boolean>;
  /** Lets the cursor go (a stopping exporter), so another can take it at once. */
  releaseExportCursor(name: string, holder: string): Promise<void>;
  /**
   * Up to `limit` audit rows and up to `limit` activity events after `after`, each stream in
   * its order, leaving out rows a transaction still running could yet precede.
   */
  readExport(after: ExportPosition, limit: number): Promise<ExportRecord[]>;
}

/** The stable id of an exported event: the same row always gets the same id. */
export const auditEventId = (rowId: string | number) => `audit-${rowId}`;
export const activityEventId = (event: Pick<ActivityEvent, 'leaseId' | 'eventId'>) =>
  `activity-${event.leaseId}-${event.eventId}`;

/** The key's columns an activity read joins in (null once the key is purged). */
export interface SourceColumns {
  key_provider: string | null;
  key_account: string | null;
  key_region: string | null;
}

export function activitySource(row: SourceColumns): { source?: ActivitySource } {
  if (row.key_provider === null) return {};
  return {
    source: { provider: row.key_provider, account: row.key_account ?? '', region: row.key_region ?? '' },
  };
}
