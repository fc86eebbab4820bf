/**
 * Vitest global setup: one PostgreSQL server for the whole run. With `JITKEY_TEST_DATABASE_URL`
 * set, that server is used and nothing starts; otherwise an embedded one starts on a free port
 * and its URL goes to every test worker (and the processes they spawn) through that variable.
 * Teardown stops it and removes its folder; on Ctrl-C an exit hook does. When it cannot start,
 * the run ends with one paragraph saying what to change (support/embedded-postgres.ts).
 */
import { startEmbeddedPostgres } from './support/embedded-postgres.js';

export default async function setup(): Promise<(() => Promise<void>) | undefined> {
  if (process.env.JITKEY_TEST_DATABASE_URL) return undefined;
  const server = await startEmbeddedPostgres();
  process.env.JITKEY_TEST_DATABASE_URL = server.url;
  return async () => {
    delete process.env.JITKEY_TEST_DATABASE_URL;
    await server.stop();
  };
}
