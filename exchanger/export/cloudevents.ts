/**
 * Audit rows and lease activity events as CloudEvents 1.0, JSON event format, structured mode
 * (https://github.com/cloudevents/spec/blob/v1.0.2/cloudevents/formats/json-format.md): the
 * required `specversion`, `id`, `source`, `type`, plus `time`, `datacontenttype` and `subject`
 * (the lease, else the request). `data` is the row as `jitkey audit --json` prints it, or the
 * event as `jitkey audit lease --json` lists it. The id is stable: `source` + `id` is unique.
 */
import { activityEventJson } from '../audit/activity.js';
import { auditJsonLine } from '../audit/format.js';
import type { ExportRecord } from '../store/export-cursor-types.js';

export interface CloudEventOptions {
  /** The CloudEvents `source`, a URI-reference naming this jitkey (default `urn:jitkey`). */
  source: string;
}

export function cloudEvent(record: ExportRecord, { source }: CloudEventOptions): string {
  if (record.stream === 'audit') {
    const e = record.entry;
    const head = {
      specversion: '1.0',
      id: record.id,
      source,
      type: `jitkey.audit.${e.event}`,
      time: e.at.toISOString(),
      subject: e.leaseId ?? e.requestId,
      datacontenttype: 'application/json',
    };
    // The data is the `jitkey audit --json` line itself, spliced in rather than parsed again.
    return `${JSON.stringify(head).slice(0, -1)},"data":${auditJsonLine(e).trimEnd()}}`;
  }
  const e = record.event;
  return JSON.stringify({
    specversion: '1.0',
    id: record.id,
    source,
    type: 'jitkey.lease.activity',
    time: e.at.toISOString(),
    subject: e.leaseId,
    datacontenttype: 'application/json',
    data: {
      lease_id: e.leaseId,
      ...activityEventJson(e),
      provider: record.source?.provider,
      account: record.source?.account,
    },
  });
}
