/** PostgreSQL for the store tests: a schema per database, dropped afterwards. */
import { randomBytes } from 'node:crypto';
import pg from 'pg';

/**
 * The run's server: the embedded one `test/global-postgres.ts` starts, or the one the variable
 * named before the run.
 */
export const PG_URL = testDatabaseUrl();

function testDatabaseUrl(): string {
  const url = process.env.JITKEY_TEST_DATABASE_URL;
  if (!url) {
    throw new Error(
      'JITKEY_TEST_DATABASE_URL is not set: run the tests with `npm test` (it starts an embedded PostgreSQL), or set it to postgres://USER@HOST:PORT/DB',
    );
  }
  return url;
}

export const newSchema = () => `jitkey_test_${randomBytes(6).toString('hex')}`;

export async function admin<T>(fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: PG_URL });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

export const dropSchema = (schema: string) =>
  admin((c) => c.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`));
