/** Issue 16, item 12: the SQLite store and its -wal / -shm files are owner-only (0600). */
import { chmodSync, mkdtempSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Logger } from '../../exchanger/log.js';
import { openStore } from '../../exchanger/store/open.js';

const mode = (path: string) => (statSync(path).mode & 0o777).toString(8);

describe('SQLite file modes', () => {
  it('creates the store, its WAL and its shared-memory file 0600, whatever the umask allows', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'jitkey-modes-'));
    const path = join(dir, 'jitkey.db');
    const previous = process.umask(0o022);
    try {
      const store = await openStore(`sqlite:${path}`, { purgeIntervalMs: 0 });
      expect(await store.consumeJti('j', new Date(Date.now() + 60_000))).toBe(true);
      const files = readdirSync(dir).sort();
      expect(files).toEqual(['jitkey.db', 'jitkey.db-shm', 'jitkey.db-wal']);
      expect(files.map((f) => mode(join(dir, f)))).toEqual(['600', '600', '600']);
      await store.close();
    } finally {
      process.umask(previous);
    }
  });

  it('warns about an existing store others can read, and leaves its mode to the operator', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'jitkey-modes-'));
    const path = join(dir, 'jitkey.db');
    writeFileSync(path, '');
    chmodSync(path, 0o644);
    const warnings: Array<[string, Record<string, unknown> | undefined]> = [];
    const log = {
      warn: (msg: string, fields?: Record<string, unknown>) => warnings.push([msg, fields]),
      info: () => {},
      debug: () => {},
      error: () => {},
    } as unknown as Logger;
    const store = await openStore(`sqlite:${path}`, { purgeIntervalMs: 0, log });
    await store.close();
    expect(warnings).toEqual([
      [expect.stringMatching(/readable by other users; chmod 600 it/), { path, mode: '644' }],
    ]);
    expect(mode(path)).toBe('644');
  });
});
