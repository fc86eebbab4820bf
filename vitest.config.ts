import { availableParallelism } from 'node:os';
import { configDefaults, defineConfig } from 'vitest/config';

/**
 * Left out by `npm run test:quick` (`--mode quick`), the edit loop's suite of unit and contract
 * tests: the end-to-end files (`jitkey serve` and the Action as processes against the
 * stand-ins), the load and restart tests (with the 1,000-exchange bursts of the client limits),
 * the browser, the built agent's lifetime (it waits for agent processes to end, under two Nodes)
 * and the test of the test database itself (it starts servers of its own). `npm test` runs
 * everything. These files also run each in a fresh process of its own (the `isolated` project).
 */
const SLOW_FILES = [
  'test/**/*e2e*.test.ts',
  'test/scale/**/*.test.ts',
  'test/exchanger/client-limits.test.ts',
  'test/console/browser.test.ts',
  'test/action/agent-lifetime.test.ts',
  'test/support/embedded-postgres.test.ts',
];

/**
 * Also left out by `npm run test:quick`: the files that need PostgreSQL (named `postgres*`, and
 * the export cursor, which runs against both stores), so the quick run starts no database server.
 * The same store contract runs against SQLite in the quick run.
 */
const POSTGRES_FILES = ['test/**/postgres*.test.ts', 'test/export/export-cursor.test.ts'];

/**
 * Quick files that run in a process of their own (the `isolated` project). The core test replaces
 * `process.env` itself, which later files of a shared worker would see. The OIDC stand-in's own
 * test and the JWKS cache's ask the stand-in again after rotating its keys; in a shared worker
 * that second request was reset (ECONNRESET) on the kept-alive connection, so the verifier kept
 * the old keys; in a process of their own they pass.
 */
const OWN_PROCESS = ['test/action/core.test.ts', 'test/token/oidc-issuer.test.ts', 'test/token/jwks.test.ts'];

export default defineConfig(({ mode }) => {
  const quick = mode === 'quick';
  const common = {
    // Bounds for a hang, not targets: on a shared 2-CPU machine an e2e test of 10 s idle takes
    // three times that, and `eventually`'s default (600 tries 50 ms apart, about 30 s) should
    // give up, naming what it waited for, before the runner's timeout does.
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // `expect.poll` gives up after 1 s by default: a background write or a webhook's delivery can
    // take longer than that on a loaded machine. 20 s, as the tests that set it say.
    expect: { poll: { timeout: 20_000 } },
    pool: 'forks' as const,
    // A deprecation (an invalid Date sent to pg, say) fails the test that caused it.
    execArgv: ['--throw-deprecation'],
  };
  return {
    test: {
      // Once for the run, whichever projects run (in the projects' own configs they would run once
      // per project): one PostgreSQL server (embedded unless JITKEY_TEST_DATABASE_URL names one),
      // none for the quick run; then the temporary files in memory where the machine allows
      // (test/global-tmpdir.ts).
      globalSetup: [...(quick ? [] : ['test/global-postgres.ts']), 'test/global-tmpdir.ts'],
      // Vitest's default is one worker per CPU but one, so a 2-CPU machine ran the files one after
      // another; most of a file's time is spent waiting on processes and sockets, not computing.
      maxWorkers: Math.max(2, availableParallelism()),
      projects: [
        {
          test: {
            ...common,
            name: 'shared',
            include: ['test/**/*.test.ts'],
            exclude: [
              ...configDefaults.exclude,
              ...SLOW_FILES,
              ...OWN_PROCESS,
              ...(quick ? POSTGRES_FILES : []),
            ],
            // A worker runs its files one after another and loads each module once for all of
            // them: in a fresh process per file, most of a unit file's time went to loading and
            // transforming the modules it imports. These files start no process that outlives
            // them and leave no global state behind; a file that does goes in OWN_PROCESS.
            isolate: false,
            // A file cannot leave a stubbed variable to the next file of its worker.
            unstubEnvs: true,
          },
        },
        {
          test: {
            ...common,
            name: 'isolated',
            include: quick ? OWN_PROCESS : [...SLOW_FILES, ...OWN_PROCESS],
          },
        },
      ],
    },
  };
});
