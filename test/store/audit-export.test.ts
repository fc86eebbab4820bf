/** `writeAudit`: JSON lines stream with the pipe's backpressure; rows past the cap are counted. */
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { leftOutNote, writeAudit } from '../../exchanger/audit/export.js';
import type { AuditEntry } from '../../exchanger/store/audit-types.js';
import { entry } from './contract.js';

async function* entries(count: number): AsyncIterable<AuditEntry> {
  for (let i = 0; i < count; i++)
    yield entry({ requestId: `r${i}`, at: new Date(Date.UTC(2025, 0, 1, 0, 0, i)) });
}

/** A slow reader: takes each chunk on a later turn, and remembers the most it ever had queued. */
function slowSink() {
  let text = '';
  let mostQueued = 0;
  const out = new Writable({
    highWaterMark: 16 * 1024,
    write(chunk: Buffer, _encoding, done) {
      text += chunk.toString();
      setImmediate(done);
    },
  });
  const write = out.write.bind(out);
  out.write = ((chunk: string) => {
    const ok = write(chunk);
    mostQueued = Math.max(mostQueued, out.writableLength);
    return ok;
  }) as typeof out.write;
  return { out, text: () => text, mostQueued: () => mostQueued };
}

describe('writeAudit', () => {
  it('writes every row as JSON, never queueing more than one chunk for a slow reader', async () => {
    const sink = slowSink();
    const written = await writeAudit({ entries: entries(20_000), format: 'json', out: sink.out });
    expect(written).toEqual({ shown: 20_000, leftOut: 0 });
    const ids = sink
      .text()
      .trimEnd()
      .split('\n')
      .map((line) => JSON.parse(line).request_id);
    expect(ids).toEqual(Array.from({ length: 20_000 }, (_, i) => `r${i}`));
    // Without waiting for 'drain', all ~8 MB would sit in the stream's buffer.
    expect(sink.mostQueued()).toBeLessThan(2 * 64 * 1024);
  });

  it('counts the rows past the cap without printing them', async () => {
    const sink = slowSink();
    expect(await writeAudit({ entries: entries(25), format: 'json', cap: 10, out: sink.out })).toEqual({
      shown: 10,
      leftOut: 15,
    });
    expect(sink.text().trimEnd().split('\n')).toHaveLength(10);
  });

  it('renders the table from the rows it keeps', async () => {
    const sink = slowSink();
    expect(await writeAudit({ entries: entries(3), format: 'table', cap: 2, out: sink.out })).toEqual({
      shown: 2,
      leftOut: 1,
    });
    expect(sink.text().trimEnd().split('\n')).toHaveLength(3); // header + 2 rows
  });

  it.each([
    {
      leftOut: 1,
      format: 'table' as const,
      says: '1 older matching row was not shown: raise --limit (now 5), use --json',
    },
    {
      leftOut: 7,
      format: 'json' as const,
      says: '7 older matching rows were not shown: raise --limit (now 5) or leave it out',
    },
  ])('says how many rows it left out and how to see them ($format)', ({ leftOut, format, says }) => {
    expect(leftOutNote(leftOut, format, 5)).toContain(says);
  });
});
