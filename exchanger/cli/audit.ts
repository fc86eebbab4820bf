/** `jitkey audit`: reads the audit trail, newest first; `--json` prints one object per line. */
import { formatAuditJson, formatAuditTable } from '../audit/format.js';
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
  const filter = parseAuditFilter(values, new Date());
  const store = await openStore(values.store!, { log: silentLogger });
  try {
    const entries = await store.queryAudit(filter);
    process.stdout.write(values.json ? formatAuditJson(entries) : formatAuditTable(entries));
    return 0;
  } finally {
    await store.close();
  }
}
