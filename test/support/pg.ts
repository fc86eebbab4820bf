/**
 * PostgreSQL for process-level tests: each test gets its own schema (parallel test files share
 * one server), named in the store URL with jitkey's `?schema=` parameter, and dropped afterwards.
 *
 *   const db = await testDatabase();
 *   await startExchanger({ store: db.storeUrl, … });
 *   await db.query('SELECT count(*) FROM leases');   // unqualified names: the test's schema
 *   await db.drop();
 */
import pg from 'pg';
import { dropSchema, newSchema, PG_URL } from '../store/pg-support.js';

export { PG_URL };

export interface TestDatabase {
  schema: string;
  /** `postgres://…?schema=…` for `jitkey serve --store`. */
  storeUrl: string;
  /** The same through another server address (a proxy in front of PostgreSQL). */
  storeUrlVia(host: string, port: number): string;
  query<R extends pg.QueryResultRow = pg.QueryResultRow>(text: string, values?: unknown[]): Promise<R[]>;
  /** Closes the checking connection and drops the schema. */
  drop(): Promise<void>;
}

export function withSchema(url: string, schema: string): string {
  return `${url}${url.includes('?') ? '&' : '?'}schema=${schema}`;
}

export async function testDatabase(): Promise<TestDatabase> {
  const schema = newSchema();
  // A direct connection (never through a test proxy) for checking what was written.
  const client = new pg.Client({ connectionString: PG_URL });
  await client.connect();
  await client.query(`CREATE SCHEMA IF NOT EXISTS "${schema}"`);
  await client.query(`SET search_path TO "${schema}"`);
  return {
    schema,
    storeUrl: withSchema(PG_URL, schema),
    storeUrlVia(host, port) {
      const u = new URL(PG_URL);
      u.hostname = host;
      u.port = String(port);
      return withSchema(u.toString(), schema);
    },
    async query<R extends pg.QueryResultRow>(text: string, values?: unknown[]) {
      return (await client.query<R>(text, values)).rows;
    },
    async drop() {
      await client.end().catch(() => {});
      await dropSchema(schema);
    },
  };
}
