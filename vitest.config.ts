import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // One PostgreSQL server for the run (embedded unless JITKEY_TEST_DATABASE_URL names one).
    globalSetup: ['test/global-postgres.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // A deprecation (an invalid Date sent to pg, say) fails the test that caused it.
    execArgv: ['--throw-deprecation'],
  },
});
