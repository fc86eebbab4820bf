/**
 * `jitkey audit`: reads the audit trail, newest first. `--json` streams every matching row as
 * one object per line (constant memory, however many); the table shows the newest 1000 unless
 * `--limit` says otherwise. Whenever rows are left out, stderr says how many and how to see them.
 */

import { openReviews } from '../approvals/break-glass.js';
import { activityJson, formatActivity } from '../audit/activity.js';
import { DEFAULT_TABLE_ROWS, leftOutNote, writeAudit } from '../audit/export.js';
import { parseAuditFilter } from '../audit/query.js';
import { silentLogger } from '../log.js';
import { openStore } from '../store/open.js';
import { parse, UsageError } from './args.js';

const USAGE =
  'jitkey audit [--store URL] [--since 1h] [--repository R] [--outcome allowed|denied] [--role NAME] [--client ADDRESS|CIDR] [--limit N] [--json] | jitkey audit --break-glass [--store URL] [--json]';

const LEASE_USAGE = 'jitkey audit lease LEASE_ID [--store URL] [--json]';

export async function audit(argv: string[]): Promise<number> {
  if (argv[0] === 'lease') return leaseActivity(argv.slice(1));
  const { values } = parse(
    argv,
    {
      store: { type: 'string', default: process.env.JITKEY_STORE ?? 'sqlite:./jitkey.db' },
      since: { type: 'string' },
      repository: { type: 'string' },
      outcome: { type: 'string' },
      role: { type: 'string' },
      client: { type: 'string' },
      limit: { type: 'string' },
      json: { type: 'boolean', default: false },
      'break-glass': { type: 'boolean', default: false },
    },
    USAGE,
  );
  if (values['break-glass']) return unreviewed(values.store!, values.json === true);
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

/** `--break-glass`: the break-glass uses whose retro review is still open, oldest first. */
async function unreviewed(url: string, json: boolean): Promise<number> {
  const store = await openStore(url, { log: silentLogger, purgeIntervalMs: 0 });
  try {
    const open = await openReviews(store);
    for (const r of open) {
      const acknowledged = [...new Map(r.approvals.map((v) => [v.id, v.login])).values()];
      const row = {
        request_id: r.id,
        role: r.role,
        used_at: r.createdAt.toISOString(),
        actor: r.claims.actor ?? '',
        repository: r.claims.repository ?? '',
        run_id: r.claims.run_id ?? '',
        lease_id: r.leaseId ?? '',
        acknowledged,
        required: r.required,
      };
      process.stdout.write(
        json
          ? `${JSON.stringify(row)}\n`
          : `${row.used_at}  ${row.request_id}  ${row.role}  ${row.actor}  ${row.repository}  run ${row.run_id}  unreviewed: ${acknowledged.length} of ${row.required} acknowledged\n`,
      );
    }
    if (!json) process.stderr.write(`${open.length} break-glass use(s) with an open review\n`);
    return 0;
  } finally {
    await store.close();
  }
}

/** `jitkey audit lease ID`: the lease, its credentials' collection state and what they did upstream. */
async function leaseActivity(argv: string[]): Promise<number> {
  const { values, positionals } = parse(
    argv,
    {
      store: { type: 'string', default: process.env.JITKEY_STORE ?? 'sqlite:./jitkey.db' },
      json: { type: 'boolean', default: false },
    },
    LEASE_USAGE,
  );
  const [leaseId, extra] = positionals;
  if (!leaseId || extra !== undefined) throw new UsageError(`give one lease id\n\nusage: ${LEASE_USAGE}`);
  const store = await openStore(values.store!, { log: silentLogger, purgeIntervalMs: 0 });
  try {
    const [lease, activity] = await Promise.all([store.getLease(leaseId), store.leaseActivity(leaseId)]);
    if (!lease && activity.keys.length === 0) {
      process.stderr.write(`jitkey audit lease: no lease ${leaseId} (it may have expired and been purged)\n`);
      return 1;
    }
    const shown = { lease, ...activity };
    process.stdout.write(
      values.json ? `${JSON.stringify(activityJson(shown, leaseId))}\n` : formatActivity(shown, leaseId),
    );
    return 0;
  } finally {
    await store.close();
  }
}
