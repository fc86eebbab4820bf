import { availableParallelism } from 'node:os';
import { configDefaults, defineConfig } from 'vitest/config';

/**
 * Left out by `npm run test:quick` (`--mode quick`), the edit loop's suite of unit and contract
 * tests: the end-to-end files (`jitkey serve` and the Action as processes against the
 * stand-ins), the load and restart tests (with the 1,000-exchange bursts of the client limits),
 * the browser, the built agent's lifetime (it waits for agent processes to end, under two Nodes)
 * and the test of the test database itself (it starts servers of its own). `npm test` runs
 * everything.
 */
const SLOW_FILES = [
  'test/**/*e2e*.test.ts',
  'test/scale/**',
  'test/exchanger/client-limits.test.ts',
  'test/console/browser.test.ts',
  'test/action/agent-lifetime.test.ts',
  'test/support/embedded-postgres.test.ts',
];

export default defineConfig(({ mode }) => ({
  test: {
    include: ['test/**/*.test.ts'],
    exclude: [...configDefaults.exclude, ...(mode === 'quick' ? SLOW_FILES : [])],
    // One PostgreSQL server for the run (embedded unless JITKEY_TEST_DATABASE_URL names one); then
    // the temporary files in memory where the machine allows (test/global-tmpdir.ts).
    globalSetup: ['test/global-postgres.ts', 'test/global-tmpdir.ts'],
    // Bounds for a hang, not targets: on a shared 2-CPU machine an e2e test of 10 s idle takes
    // three times that, and `eventually`'s default (600 tries 50 ms apart, about 30 s) should
    // give up, naming what it waited for, before the runner's timeout does.
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // `expect.poll` gives up after 1 s by default: a background write or a webhook's delivery can
    // take longer than that on a loaded machine. 20 s, as the tests that set it say.
    expect: { poll: { timeout: 20_000 } },
    pool: 'forks',
    // Vitest's default is one worker per CPU but one, so a 2-CPU machine ran the files one after
    // another; most of a file's time is spent waiting on processes and sockets, not computing.
    maxWorkers: Math.max(2, availableParallelism()),
    // A deprecation (an invalid Date sent to pg, say) fails the test that caused it.
    execArgv: ['--throw-deprecation'],
  },
}));
