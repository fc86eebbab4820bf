/** PostgreSQL for the store tests: a schema per database, dropped afterwards. */
import { randomBytes } from 'node:crypto';
import pg from 'pg';

export const PG_URL = process.env.JITKEY_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

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
