/**
 * The WAL checkpoint thread starts a while after the store opens, so a store that is only read or
 * soon closed never pays for it; once it runs, the writer's own checkpoint is only a backstop.
 * Whether it runs is read from the writer's `wal_autocheckpoint`, which starting it raises.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../exchanger/log.js';
import { startCheckpointer } from '../../exchanger/store/sqlite-checkpoint.js';
import { eventually } from '../support/eventually.js';

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function walDatabase(): Database.Database {
  const dir = mkdtempSync(join(tmpdir(), 'jitkey-checkpoint-'));
  dirs.push(dir);
  const db = new Database(join(dir, 'store.db'));
  db.pragma('journal_mode = WAL');
  db.exec('CREATE TABLE t (x INTEGER)');
  return db;
}

const autocheckpoint = (db: Database.Database) => db.pragma('wal_autocheckpoint', { simple: true }) as number;

describe('the WAL checkpoint thread', () => {
  it('starts after the delay, and the writer keeps only a backstop checkpoint', async () => {
    const db = walDatabase();
    const checkpointer = startCheckpointer(db, silentLogger, { startAfterMs: 20, backstopPages: 5000 });
    expect(autocheckpoint(db)).toBe(1000);
    await eventually(() => (autocheckpoint(db) === 5000 ? true : undefined), 'the thread to start');
    await checkpointer.stop();
    expect(autocheckpoint(db)).toBe(1000);
    db.close();
  });

  it('never starts for a store stopped before the delay', async () => {
    const db = walDatabase();
    // A delay the wait below outlasts: only `stop` keeps the thread from starting.
    const checkpointer = startCheckpointer(db, silentLogger, { startAfterMs: 10 });
    db.prepare('INSERT INTO t VALUES (1)').run();
    await checkpointer.stop();
    await new Promise((r) => setTimeout(r, 50));
    expect(autocheckpoint(db)).toBe(1000);
    db.close();
  });

  it('never starts for an in-memory database', async () => {
    const db = new Database(':memory:');
    const checkpointer = startCheckpointer(db, silentLogger, { startAfterMs: 0 });
    await new Promise((r) => setTimeout(r, 50));
    expect(autocheckpoint(db)).toBe(1000);
    await checkpointer.stop();
    db.close();
  });
});
