/**
 * `jitkey audit --json` on a large audit trail: fills a store with N rows, exports them all
 * through the real CLI (stdout counted, not kept) and reports the CLI's peak RSS, against a
 * baseline from the same run: the same CLI on the same store with a filter that matches nothing
 * (the process's fixed cost: Node, the drivers, the store opened).
 *
 *   npm run build:exchanger
 *   node lib/bench/audit-export.js                         # SQLite, 1,200,000 rows
 *   node lib/bench/audit-export.js --postgres              # an embedded PostgreSQL, started here
 *   node lib/bench/audit-export.js --store postgres://…    # your own (the rows are added to it!)
 *   node lib/bench/audit-export.js --rows 100000
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import Database from 'better-sqlite3';
import pg from 'pg';
import { silentLogger } from '../exchanger/log.js';
import { openStore, parseStoreUrl } from '../exchanger/store/open.js';
import { startEmbeddedPostgres } from '../test/support/embedded-postgres.js';
import { CLI } from '../test/support/paths.js';

const log = (line: string) => process.stderr.write(`audit-export: ${line}\n`);

/** Rows written per INSERT … SELECT / transaction while filling. */
const FILL_BATCH = 50_000;
const T0 = Date.parse('2025-01-01T00:00:00Z');
const CLAIMS = JSON.stringify({
  repository_id: '123456',
  ref: 'refs/heads/main',
  event_name: 'push',
  run_id: '9876543210',
  run_attempt: '1',
});
// Peak RSS as the kernel counted it, printed by the CLI process itself as it exits.
const REPORT_MAX_RSS = `data:text/javascript,process.on('exit',()=>process.stderr.write('maxrss_kb='+process.resourceUsage().maxRSS+'\\n'))`;

async function fillSqlite(path: string, rows: number): Promise<void> {
  (await openStore(`sqlite:${path}`, { log: silentLogger, purgeIntervalMs: 0 })).close(); // the schema
  const db = new Database(path);
  const insert = db.prepare(
    `INSERT INTO audit (at, request_id, event, outcome, role, provider, reason, repository, claims, lease_id, expires_at)
     VALUES (?, ?, 'exchange', ?, 'deploy-web-prod', 'aws', 'granted for 15m', 'acme/web', ?, ?, ?)`,
  );
  const batch = db.transaction((from: number, to: number) => {
    for (let i = from; i < to; i++) {
      const at = T0 + i * 100;
      insert.run(at, `req_${i}`, i % 5 ? 'allowed' : 'denied', CLAIMS, `lease_${i}`, at + 900_000);
    }
  });
  for (let from = 0; from < rows; from += FILL_BATCH) batch(from, Math.min(rows, from + FILL_BATCH));
  db.close();
}

async function fillPostgres(url: string, rows: number): Promise<void> {
  const location = parseStoreUrl(url);
  const schema = location.kind === 'postgres' ? location.schema : undefined;
  await (await openStore(url, { log: silentLogger, purgeIntervalMs: 0 })).close(); // the schema
  const table = schema ? `"${schema}".audit` : 'audit';
  const client = new pg.Client({ connectionString: url.replace(/[?&]schema=[^&]*/, '') });
  await client.connect();
  try {
    for (let from = 0; from < rows; from += FILL_BATCH) {
      await client.query(
        `INSERT INTO ${table} (at, request_id, event, outcome, role, provider, reason, repository, claims, lease_id, expires_at)
         SELECT to_timestamp(($3::bigint + i * 100) / 1000.0), 'req_' || i, 'exchange',
                CASE WHEN i % 5 = 0 THEN 'denied' ELSE 'allowed' END, 'deploy-web-prod', 'aws',
                'granted for 15m', 'acme/web', $4::jsonb, 'lease_' || i,
                to_timestamp(($3::bigint + i * 100 + 900000) / 1000.0)
         FROM generate_series($1::bigint, $2::bigint - 1) AS i`,
        [from, Math.min(rows, from + FILL_BATCH), T0, CLAIMS],
      );
    }
  } finally {
    await client.end();
  }
}

interface Export {
  lines: number;
  seconds: number;
  maxRssMb: number;
}

/** Runs `jitkey audit --store URL --json …`, counting stdout lines, and reads its peak RSS. */
function exportAll(store: string, extra: string[] = []): Promise<Export> {
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
    const child = spawn(
      process.execPath,
      [`--import=${REPORT_MAX_RSS}`, CLI, 'audit', '--store', store, '--json', ...extra],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let lines = 0;
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => {
      for (let i = chunk.indexOf(10); i !== -1; i = chunk.indexOf(10, i + 1)) lines++;
    });
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk));
    child.on('error', reject);
    child.on('close', (code) => {
      const kb = /maxrss_kb=(\d+)/.exec(stderr);
      if (code !== 0 || !kb) return reject(new Error(`jitkey audit exited ${code}: ${stderr.trim()}`));
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      resolve({ lines, seconds, maxRssMb: Number(kb[1]) / 1024 });
    });
  });
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      rows: { type: 'string', default: '1200000' },
      store: { type: 'string' },
      postgres: { type: 'boolean', default: false },
    },
  });
  const rows = Number(values.rows);
  if (!Number.isSafeInteger(rows) || rows < 1)
    throw new Error(`--rows: a positive whole number, not ${values.rows}`);
  const dir = mkdtempSync(join(tmpdir(), 'jitkey-audit-export-'));
  const server = values.postgres ? await startEmbeddedPostgres() : undefined;
  try {
    const store =
      values.store ?? (server ? `${server.url}?schema=audit_export` : `sqlite:${join(dir, 'audit.db')}`);
    const kind = parseStoreUrl(store).kind;
    log(`filling ${kind} with ${rows} rows`);
    const filling = Date.now();
    if (kind === 'sqlite') await fillSqlite(store.slice('sqlite:'.length), rows);
    else await fillPostgres(store, rows);
    log(`filled in ${((Date.now() - filling) / 1000).toFixed(1)} s; exporting`);
    const baseline = await exportAll(store, ['--repository', 'nobody/nothing']);
    const all = await exportAll(store);
    const result = {
      store: kind,
      rows,
      printed: all.lines,
      seconds: Number(all.seconds.toFixed(1)),
      rowsPerSecond: Math.round(all.lines / all.seconds),
      maxRssMb: Number(all.maxRssMb.toFixed(1)),
      baselineMaxRssMb: Number(baseline.maxRssMb.toFixed(1)),
      ratio: Number((all.maxRssMb / baseline.maxRssMb).toFixed(2)),
    };
    process.stdout.write(`${JSON.stringify(result)}\n`);
    if (all.lines !== rows) throw new Error(`printed ${all.lines} of ${rows} rows`);
  } finally {
    await server?.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`audit-export: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
});
