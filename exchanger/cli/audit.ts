/**
 * `jitkey audit`: reads the audit trail, newest first. `--json` streams every matching row as
 * one object per line (constant memory, however many); the table shows the newest 1000 unless
 * `--limit` says otherwise. Whenever rows are left out, stderr says how many and how to see them.
 */
import { DEFAULT_TABLE_ROWS, leftOutNote, writeAudit } from '../audit/export.js';
import { parseAuditFilter } from '../audit/query.js';
import { silentLogger } from '../log.js';
import { openStore } from '../store/open.js';
import { parse } from './args.js';

const USAGE =
  'jitkey audit [--store URL] [--since 1h] [--repository R] [--outcome allowed|denied] [--role NAME] [--limit N] [--json]';

export async function audit(argv: string[]): Promise<number> {
  const { values } = parse(
    argv,
    {
      store: { type: 'string', default: process.env.JITKEY_STORE ?? 'sqlite:./jitkey.db' },
      since: { type: 'string' },
      repository: { type: 'string' },
      outcome: { type: 'string' },
      role: { type: 'string' },
      limit: { type: 'string' },
      json: { type: 'boolean', default: false },
    },
    USAGE,
  );
  const { limit, ...filter } = parseAuditFilter(values, new Date());
  const format = values.json ? 'json' : 'table';
  const cap = limit ?? (format === 'table' ? DEFAULT_TABLE_ROWS : undefined);
  // A reader: purging expired rows is the server's job, not an export's.
  const store = await openStore(values.store!, { log: silentLogger, purgeIntervalMs: 0 });
  try {
    // The stream is not capped: rows past the cap are counted, so the note can say how many.
    const { leftOut } = await writeAudit({
      entries: store.streamAudit(filter),
      format,
      cap,
      out: process.stdout,
    });
    if (leftOut > 0 && cap !== undefined) process.stderr.write(leftOutNote(leftOut, format, cap));
    return 0;
  } catch (err) {
    // The reader went away (`jitkey audit --json | head`): it has what it wanted.
    if ((err as NodeJS.ErrnoException).code === 'EPIPE') return 0;
    throw err;
  } finally {
    await store.close();
  }
}
