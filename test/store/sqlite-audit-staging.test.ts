/**
 * Audit rows on SQLite are staged in a table without indexes and moved into `audit` in bulk
 * (`audit-staging-sqlite.ts`). What must hold: every read sees every row, a staged row survives its
 * process, ids follow the order of the writes across processes, and the tables keep one shape.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { openStore } from '../../exchanger/store/open.js';
import type { Store, StoreOptions } from '../../exchanger/store/types.js';
import { eventually } from '../support/eventually.js';
import { REPO_ROOT } from '../support/paths.js';
import { entry } from './contract.js';

const dir = mkdtempSync(join(tmpdir(), 'jitkey-staging-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
const freshPath = () => join(dir, `store-${++n}.db`);

/** Rows of each table, read by a connection of its own, as another process would. */
function counts(path: string): { audit: number; staged: number } {
  const db = new Database(path, { readonly: true });
  try {
    const count = (table: string) =>
      (db.prepare(`SELECT count(*) AS n FROM ${table}`).get() as { n: number }).n;
    return { audit: count('audit'), staged: count('audit_staging') };
  } finally {
    db.close();
  }
}

/** Opens a store on `path` (a fresh file by default), runs `body` with it, and closes it. */
async function withStore(
  body: (store: Store, path: string) => Promise<void>,
  options: StoreOptions = {},
  path = freshPath(),
): Promise<void> {
  const store = await openStore(`sqlite:${path}`, { purgeIntervalMs: 0, ...options });
  try {
    await body(store, path);
  } finally {
    await store.close();
  }
}

/** The audit trail's request ids, newest first, as a read through the store sees them. */
const requestIds = async (store: Store) => (await store.queryAudit({})).map((r) => r.requestId);

describe('SQLite audit staging', () => {
  it('stages a row, and a read of the audit trail moves it in first', async () => {
    await withStore(async (store, path) => {
      await store.record(entry({ requestId: 'staged' }));
      expect(counts(path)).toEqual({ audit: 0, staged: 1 });
      expect(await requestIds(store)).toEqual(['staged']);
      expect(counts(path)).toEqual({ audit: 1, staged: 0 });
    });
  });

  it('moves staged rows in the background when nothing reads them', async () => {
    await withStore(async (store, path) => {
      await Promise.all([1, 2, 3].map((i) => store.record(entry({ requestId: `r-${i}` }))));
      expect(counts(path).staged).toBe(3);
      await eventually(() => (counts(path).audit === 3 ? true : undefined), 'the staged rows to move in');
      expect(counts(path).staged).toBe(0);
    });
  });

  it('keeps a row staged by a process killed before it moved it; the next store moves it in', async () => {
    const path = freshPath();
    // The row is committed before `record` resolves; the process is killed right after.
    const script = `
      const { openStore } = await import(${JSON.stringify(join(REPO_ROOT, 'lib/exchanger/store/open.js'))});
      const store = await openStore(${JSON.stringify(`sqlite:${path}`)}, { purgeIntervalMs: 0 });
      await store.record({ at: new Date(), requestId: 'killed', event: 'exchange', outcome: 'allowed', reason: 'r', claims: {} });
      process.stdout.write('recorded\\n');
      setInterval(() => {}, 1000);`;
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    await new Promise<void>((resolve, reject) => {
      child.stdout.on('data', (chunk: Buffer) => {
        if (chunk.toString().includes('recorded')) resolve();
      });
      child.once('exit', (code) => reject(new Error(`the writer exited (${code}) before recording`)));
    });
    child.kill('SIGKILL');
    await new Promise((resolve) => child.once('close', resolve));
    expect(counts(path)).toEqual({ audit: 0, staged: 1 });

    await withStore(async (store) => expect(await requestIds(store)).toEqual(['killed']), {}, path);
  });

  it('gives ids in the order of the writes, across stores on one file', async () => {
    const path = freshPath();
    const a = await openStore(`sqlite:${path}`, { purgeIntervalMs: 0 });
    const b = await openStore(`sqlite:${path}`, { purgeIntervalMs: 0 });
    try {
      const at = new Date('2025-03-01T12:00:00Z'); // one time: ties are ordered by id
      await a.record(entry({ requestId: 'first', at }));
      await b.record(entry({ requestId: 'second', at }));
      await a.record(entry({ requestId: 'third', at }));
      // Newest first.
      expect(await requestIds(b)).toEqual(['third', 'second', 'first']);
      await a.record(entry({ requestId: 'fourth', at }));
      expect(await requestIds(a)).toEqual(['fourth', 'third', 'second', 'first']);
    } finally {
      await a.close();
      await b.close();
    }
  });

  it('moves what is staged when the store closes', async () => {
    const path = freshPath();
    const store = await openStore(`sqlite:${path}`, { purgeIntervalMs: 0 });
    await store.record(entry({ requestId: 'before-close' }));
    await store.close();
    expect(counts(path)).toEqual({ audit: 1, staged: 0 });
  });

  it('has the columns of the audit table, with their types, NOT NULLs and defaults', async () => {
    const path = freshPath();
    await (await openStore(`sqlite:${path}`, { purgeIntervalMs: 0 })).close();
    const db = new Database(path, { readonly: true });
    try {
      const columns = (table: string) =>
        (
          db.prepare(`PRAGMA table_info(${table})`).all() as {
            name: string;
            type: string;
            notnull: number;
            dflt_value: string | null;
          }[]
        ).map((c) => [c.name, c.type, c.notnull, c.dflt_value]);
      expect(columns('audit_staging')).toEqual(columns('audit'));
      expect(columns('audit').map(([name]) => name)).toContain('client_key');
    } finally {
      db.close();
    }
  });

  it('reads while another connection holds the write lock, without its staged rows; they show after', async () => {
    const path = freshPath();
    const store = await openStore(`sqlite:${path}`, { purgeIntervalMs: 0 });
    const other = new Database(path);
    try {
      await store.record(entry({ requestId: 'moved' }));
      expect(await requestIds(store)).toEqual(['moved']);
      await store.record(entry({ requestId: 'staged', at: new Date('2025-03-01T13:00:00Z') }));
      other.exec('BEGIN IMMEDIATE');
      // The move is not waited for (busy_timeout 0 for it): the read goes ahead without it.
      expect(await requestIds(store)).toEqual(['moved']);
      expect(await store.listActiveLeases({ activeAt: new Date() })).toEqual([]);
      other.exec('COMMIT');
      expect(await requestIds(store)).toEqual(['staged', 'moved']);
    } finally {
      if (other.inTransaction) other.exec('ROLLBACK');
      other.close();
      await store.close();
    }
  });

  it('a background move that fails keeps its rows staged and fails none of the writes beside it', async () => {
    const path = freshPath();
    const warnings: string[] = [];
    const infos: string[] = [];
    const log = {
      debug() {},
      info: (msg: string) => void infos.push(msg),
      warn: (msg: string) => void warnings.push(msg),
      error() {},
    };
    const store = await openStore(`sqlite:${path}`, { purgeIntervalMs: 0, log, auditMoveIntervalMs: 1 });
    const admin = new Database(path);
    try {
      // A move fails at its second step while this trigger exists: the rows were copied into
      // audit, and clearing them from staging is refused. The copy must be undone with it.
      admin.exec(
        "CREATE TRIGGER refuse_clear BEFORE DELETE ON audit_staging BEGIN SELECT RAISE(ABORT, 'refused'); END",
      );
      // Writes in every turn for a while, so that moves share group commits with them.
      const writes: Promise<void>[] = [];
      for (let i = 0; i < 40; i++) {
        writes.push(store.record(entry({ requestId: `w-${i}` })));
        await new Promise((resolve) => setTimeout(resolve, 2));
      }
      const settled = await Promise.allSettled(writes);
      expect(settled.filter((r) => r.status === 'rejected')).toEqual([]);
      expect(warnings).toEqual(['audit rows stay staged until a move works: moving them failed']);
      expect(counts(path)).toEqual({ audit: 0, staged: 40 });

      admin.exec('DROP TRIGGER refuse_clear');
      await store.record(entry({ requestId: 'after' }));
      await eventually(() => (counts(path).audit === 41 ? true : undefined), 'the staged rows to move in');
      expect(infos).toContain('staged audit rows move into the audit table again');
    } finally {
      admin.close();
      await store.close();
    }
  });

  it('refuses a row audit would refuse when it is written, and the next moves still work', async () => {
    await withStore(async (store) => {
      const bad = entry({ requestId: null as unknown as string });
      const [refused, kept] = await Promise.allSettled([
        store.record(bad),
        new Promise((resolve) => setImmediate(resolve)).then(() =>
          store.record(entry({ requestId: 'kept' })),
        ),
      ]);
      expect(refused.status).toBe('rejected');
      expect(kept.status).toBe('fulfilled');
      expect(await requestIds(store)).toEqual(['kept']);
    });
  });

  it('with auditStaging: false, writes straight into the audit table', async () => {
    await withStore(
      async (store, path) => {
        await store.record(entry({ requestId: 'direct' }));
        expect(counts(path)).toEqual({ audit: 1, staged: 0 });
      },
      { auditStaging: false },
    );
  });
});
