/**
 * The export loop: take the named cursor, read the rows after it, turn them into events, hand
 * them to the sink, and move the cursor only once the sink has taken them. A crash at any point
 * leaves the cursor at the last batch a sink acknowledged, so a restart sends what follows:
 * nothing is lost. A file sink also cuts a batch written but not yet recorded (`sink-file.ts`),
 * so nothing is written twice; an HTTPS endpoint that acknowledged a batch in the instant before
 * the crash gets it again (every event keeps its id, so the SIEM can drop the repeat).
 *
 * The cursor is held for `holdMs` and renewed with every move: a second exporter with the same
 * name (another `jitkey serve` on the same PostgreSQL) waits for it rather than sending twice.
 */
import type { Logger } from '../log.js';
import type { ExportCursorStore, ExportPosition, ExportRecord } from '../store/export-cursor-types.js';
import { type Sink, SinkError } from './sink.js';

export interface ExporterDeps {
  store: ExportCursorStore;
  sink: Sink;
  /** One record as one line of JSON (OCSF or CloudEvents). */
  toLine: (record: ExportRecord) => string;
  /** The cursor's name: exporters to different sinks keep different cursors. */
  name: string;
  /** Who holds the cursor (this process: `holder.ts`). */
  holder: string;
  /** Whether another holder has ended (`holderGone`): its cursor is taken without waiting. */
  gone?: (holder: string) => boolean;
  log: Logger;
  /** Rows of each stream per batch. */
  batchSize?: number;
  /** Keep going after catching up, reading again every `pollMs`. */
  follow?: boolean;
  pollMs?: number;
  holdMs?: number;
  /** Attempts of one batch before a one-shot export gives up (following: never). */
  maxAttempts?: number;
  now?: () => Date;
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  signal?: AbortSignal;
}

export interface ExportResult {
  exported: number;
}

export const DEFAULT_BATCH = 500;
export const DEFAULT_POLL_MS = 5_000;
export const DEFAULT_HOLD_MS = 120_000;
const FIRST_BACKOFF_MS = 1_000;
const MAX_BACKOFF_MS = 60_000;

export class CursorHeldError extends Error {
  override name = 'CursorHeldError';
}

/** Waits `ms`, or less when `signal` aborts meanwhile. */
export function abortableSleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}

/** The position after a batch: each stream's last record, the sink's state. */
export function positionAfter(
  from: ExportPosition,
  records: readonly ExportRecord[],
  sink: string | undefined,
): ExportPosition {
  const last = (stream: ExportRecord['stream']) => records.findLast((r) => r.stream === stream)?.position;
  return {
    audit: last('audit') ?? from.audit,
    activity: last('activity') ?? from.activity,
    ...(sink !== undefined ? { sink } : from.sink !== undefined ? { sink: from.sink } : {}),
  };
}

export async function runExporter(deps: ExporterDeps): Promise<ExportResult> {
  const { store, sink, log, name, holder, signal } = deps;
  const now = deps.now ?? (() => new Date());
  const sleep = deps.sleep ?? abortableSleep;
  const batchSize = deps.batchSize ?? DEFAULT_BATCH;
  const pollMs = deps.pollMs ?? DEFAULT_POLL_MS;
  const holdMs = deps.holdMs ?? DEFAULT_HOLD_MS;
  const until = () => new Date(now().getTime() + holdMs);
  let exported = 0;

  /** Takes the cursor (following: waits for it); undefined once stopped. */
  const claim = async (): Promise<ExportPosition | undefined> => {
    for (let waited = false; ; waited = true) {
      if (signal?.aborted) return undefined;
      const position = await store.claimExportCursor(name, holder, now(), until(), deps.gone);
      if (position) {
        await sink.resume(position.sink);
        return position;
      }
      if (!deps.follow) {
        throw new CursorHeldError(
          `the export cursor '${name}' is held by another exporter; stop it, or give this one its own --name`,
        );
      }
      if (!waited) log.info('export: the cursor is held by another exporter; waiting', { cursor: name });
      await sleep(pollMs, signal);
    }
  };

  /** Sends one batch until the sink takes it; false when stopped or the cursor was lost meanwhile. */
  const deliver = async (
    position: ExportPosition,
    records: ExportRecord[],
  ): Promise<string | false | undefined> => {
    const events = records.map((r) => ({ line: deps.toLine(r), time: recordTime(r) }));
    let backoff = FIRST_BACKOFF_MS;
    for (let attempt = 1; ; attempt++) {
      try {
        return await sink.send(events, signal);
      } catch (err) {
        if (!(err instanceof SinkError)) throw err;
        const giveUp = err.permanent || (!deps.follow && attempt >= (deps.maxAttempts ?? 10));
        if (giveUp && !deps.follow) throw err;
        const wait = err.retryAfterMs ?? (giveUp ? MAX_BACKOFF_MS : backoff);
        log.warn('export: the sink did not take the batch; trying again', {
          sink: sink.name,
          problem: err.message,
          attempt,
          retry_in_ms: wait,
        });
        backoff = Math.min(backoff * 2, MAX_BACKOFF_MS);
        // Keep the cursor while waiting, so nobody else sends this batch meanwhile.
        if (!(await store.advanceExportCursor(name, holder, position, until()))) return false;
        await sleep(wait, signal);
        if (signal?.aborted) return false;
        // A wait longer than the hold (a Retry-After of minutes) lets another exporter take the
        // cursor and send this batch: renew before sending it again, or leave it to them.
        if (!(await store.advanceExportCursor(name, holder, position, until()))) return false;
      }
    }
  };

  let position = await claim();
  try {
    while (position && !signal?.aborted) {
      const records = await store.readExport(position, batchSize);
      if (records.length === 0) {
        if (!deps.follow) break;
        await sleep(pollMs, signal);
        // Renews the hold; lost (it ran out while this process stalled): take it again.
        if (!signal?.aborted && !(await store.advanceExportCursor(name, holder, position, until())))
          position = await claim();
        continue;
      }
      const state = await deliver(position, records);
      if (state === false) {
        if (signal?.aborted) break;
        log.warn('export: the cursor was taken by another exporter while this batch waited', {
          cursor: name,
        });
        position = await claim();
        continue;
      }
      const next = positionAfter(position, records, state);
      if (!(await store.advanceExportCursor(name, holder, next, until()))) {
        log.warn('export: the cursor was taken by another exporter; the last batch may be sent twice', {
          cursor: name,
        });
        position = await claim();
        continue;
      }
      position = next;
      exported += records.length;
      log.debug('export: batch taken', { sink: sink.name, events: records.length });
    }
  } finally {
    await store.releaseExportCursor(name, holder).catch(() => {});
  }
  return { exported };
}

function recordTime(r: ExportRecord): Date {
  return r.stream === 'audit' ? r.entry.at : r.event.at;
}
