/**
 * The audit download's CSV: RFC 4180 quoting, formula injection defused in every cell, and the
 * streamed writer stopping (not hanging) when the browser goes away mid-download.
 */
import { PassThrough, Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { writeAudit } from '../../exchanger/audit/export.js';
import { AUDIT_CSV_HEADER, auditCsvLine, csvCell } from '../../exchanger/audit/format.js';
import type { AuditEntry } from '../../exchanger/store/audit-types.js';

const entry = (overrides: Partial<AuditEntry> = {}): AuditEntry => ({
  at: new Date('2026-12-06T10:00:00.000Z'),
  requestId: 'req_1',
  event: 'exchange',
  outcome: 'denied',
  role: 'deploy',
  reason: 'no allow rule held',
  claims: { repository: 'acme/web', ref: 'refs/heads/main' },
  ...overrides,
});

describe('CSV cells', () => {
  it('defuses what a spreadsheet would run as a formula', () => {
    for (const v of ['=HYPERLINK("http://evil")', '+1+1', '-2+3', '@SUM(A1)', '\t=1', '\r=1']) {
      const cell = csvCell(v);
      expect(cell.startsWith(`"'`), v).toBe(true);
      expect(cell).toBe(`"'${v.replace(/"/g, '""')}"`);
    }
  });

  it('quotes commas, quotes and line breaks, and leaves plain text alone', () => {
    expect(csvCell('acme/web')).toBe('acme/web');
    expect(csvCell('a,b')).toBe('"a,b"');
    expect(csvCell('say "hi"')).toBe('"say ""hi"""');
    expect(csvCell('two\nlines')).toBe('"two\nlines"');
    // Where a spreadsheet splits on ';' or tabs, each part could start a formula: quoted whole.
    expect(csvCell("curl/8;=cmd|' /C calc'!A0")).toBe(`"curl/8;=cmd|' /C calc'!A0"`);
    expect(csvCell('a\t=1')).toBe('"a\t=1"');
    expect(csvCell(undefined)).toBe('');
  });

  it('writes a record per entry under the header, every cell escaped', () => {
    const line = auditCsvLine(entry({ role: '=cmd|calc', claims: { repository: 'acme/web', ref: '-x' } }));
    expect(AUDIT_CSV_HEADER.startsWith('at,request_id,event,outcome,role,')).toBe(true);
    expect(line).toContain(`,"'=cmd|calc",`);
    expect(line).toContain(`,"'-x",`);
    expect(line.endsWith('\r\n')).toBe(true);
  });

  it('puts the user id of who acted in a column of its own, the last', () => {
    expect(AUDIT_CSV_HEADER).toMatch(/,actor,.*,claims,actor_id\r\n$/);
    const line = auditCsvLine(entry({ event: 'approve', actor: 'alice', actorId: '1001' }));
    expect(line).toMatch(/,alice,.*,1001\r\n$/);
  });
});

describe('the streamed download', () => {
  it('writes CSV with its header, waiting for a slow reader', async () => {
    const out = new PassThrough({ highWaterMark: 16 });
    const chunks: Buffer[] = [];
    out.on('data', (c: Buffer) => chunks.push(c));
    async function* rows() {
      for (let i = 0; i < 3000; i++) yield entry({ requestId: `req_${i}` });
    }
    const written = await writeAudit({ entries: rows(), format: 'csv', out });
    const text = Buffer.concat(chunks).toString('utf8');
    expect(written.shown).toBe(3000);
    expect(text.startsWith(AUDIT_CSV_HEADER)).toBe(true);
    expect(text.trimEnd().split('\r\n')).toHaveLength(3001);
  });

  it('stops with an error, rather than waiting forever, when the reader goes away', async () => {
    let produced = 0;
    const out = new Writable({ highWaterMark: 1, write: () => {} }); // never drains
    async function* rows() {
      for (;;) {
        produced++;
        yield entry();
      }
    }
    const writing = writeAudit({ entries: rows(), format: 'csv', out });
    setImmediate(() => out.destroy());
    await expect(writing).rejects.toThrow('the reader closed the stream');
    expect(produced).toBeLessThan(100_000);
  });
});
