/**
 * The embedded PostgreSQL the suite runs on starts wherever the checkout is. As root the server
 * runs as the `postgres` user, which cannot enter a private folder (`/root/…`, a `mktemp -d`
 * folder): binaries there once made every run die at once with `spawn …/initdb EACCES`. When it
 * still cannot start, the error is a paragraph saying what to change, not a stack trace.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { startEmbeddedPostgres } from './embedded-postgres.js';
import { copyPostgres, packagedPostgresDir } from './postgres-binaries.js';

const asRoot = process.getuid?.() === 0;
const made: string[] = [];

/** A fresh folder only its owner can enter, as `mktemp -d` makes. */
async function privateFolder(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'jitkey-private-'));
  made.push(dir);
  expect((await stat(dir)).mode & 0o777).toBe(0o700);
  return dir;
}

afterEach(async () => {
  for (const dir of made.splice(0)) await rm(dir, { recursive: true, force: true });
});

describe('the embedded PostgreSQL', () => {
  it('starts from binaries inside a folder only its owner can enter, and stop() removes its data', async () => {
    const checkout = join(await privateFolder(), 'node_modules-native');
    await copyPostgres(packagedPostgresDir(), checkout);
    const server = await startEmbeddedPostgres({ binaries: checkout });
    try {
      const client = new pg.Client({ connectionString: server.url });
      await client.connect();
      try {
        const { rows } = await client.query<{ db: string }>('SELECT current_database() AS db');
        expect(rows).toEqual([{ db: 'test' }]);
      } finally {
        await client.end();
      }
    } finally {
      await server.stop();
    }
    expect(existsSync(server.dataDir)).toBe(false);
  });

  it('says in one paragraph, without a stack trace, what to do when there is nothing to run', async () => {
    const empty = await privateFolder();
    const err = await startEmbeddedPostgres({ binaries: empty }).then(
      () => new Error('started without binaries'),
      (e: Error) => e,
    );
    expect(err.message).toMatch(
      /^The embedded PostgreSQL for the tests did not start: spawn .*initdb ENOENT\./,
    );
    expect(err.message).toContain('set JITKEY_TEST_DATABASE_URL=postgres://');
    expect(err.stack).toBe(err.message);
  });

  // Only root hands the server to another user; any other user can always enter its own folders.
  it.runIf(asRoot)(
    'as root, names TMPDIR when the postgres user cannot enter the temporary directory',
    async () => {
      const before = process.env.TMPDIR;
      process.env.TMPDIR = await privateFolder();
      try {
        const err = await startEmbeddedPostgres().then(
          () => new Error('started in a folder the postgres user cannot enter'),
          (e: Error) => e,
        );
        expect(err.message).toMatch(/^The embedded PostgreSQL for the tests did not start: .*EACCES/);
        expect(err.message).toContain('set TMPDIR to a directory every user can enter');
        expect(err.stack).toBe(err.message);
      } finally {
        if (before === undefined) delete process.env.TMPDIR;
        else process.env.TMPDIR = before;
      }
    },
  );
});
