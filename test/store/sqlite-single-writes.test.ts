/**
 * The store contract against a SQLite file with group commit off: every write its own
 * transaction. A file of its own, beside sqlite.test.ts (group commit on), so the two halves of
 * the contract run in parallel workers.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll } from 'vitest';
import { openStore } from '../../exchanger/store/open.js';
import { storeContract } from './contract.js';

const dir = mkdtempSync(join(tmpdir(), 'jitkey-store-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;

storeContract({
  name: 'sqlite (file, one transaction per write)',
  groupCommit: false,
  async fresh() {
    const path = join(dir, `store-${++n}.db`);
    return {
      open: (options) => openStore(`sqlite:${path}`, { ...options, groupCommit: false }),
      cleanup: async () => {},
    };
  },
});
