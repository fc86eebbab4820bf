/**
 * `jitkey test --policy PATH`: the `*.test.yaml` fixtures next to the policy, run as unit tests.
 * Exit 0 when every expectation holds, 1 when one fails, 2 when the policy or a fixture does not
 * load (or there is nothing to run).
 */
import { readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { dirname, join, relative, sep } from 'node:path';
import { readFixture, type TestCase } from '../policy/fixtures/fixtures.js';
import { junitReport, runCases, tapReport } from '../policy/fixtures/run-fixtures.js';
import { FIXTURE_SUFFIX } from '../policy/load/directory.js';
import { loadPolicyFile } from '../policy/load/load-policy.js';
import { formatIssue, isPolicyError, type PolicyIssue, sortIssues } from '../policy/model/errors.js';
import type { Policy } from '../policy/model/types.js';
import { clusterNamesForTools } from '../providers/kubernetes-config.js';
import { parse, required, UsageError } from './args.js';

const USAGE = 'jitkey test --policy FILE|DIR [--reporter tap|junit] [--output FILE] [FIXTURE.test.yaml…]';

export async function testCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parse(
    argv,
    { policy: { type: 'string' }, reporter: { type: 'string', default: 'tap' }, output: { type: 'string' } },
    USAGE,
  );
  const path = required(values.policy, '--policy', USAGE);
  const reporter =
    values.reporter === 'junit' ? junitReport : values.reporter === 'tap' ? tapReport : undefined;
  if (!reporter)
    throw new UsageError(`--reporter must be tap or junit, not '${values.reporter}'\n\nusage: ${USAGE}`);
  let policy: Policy;
  try {
    policy = await loadPolicyFile(path, { clusters: clusterNamesForTools(process.env) });
  } catch (err) {
    // Any policy that does not load is 2, never the 1 of a failed case: a CI step that treats 1
    // as "tests failed, see report" must not read a broken policy as a test result.
    if (isPolicyError(err)) return loadFailed(err.issues);
    process.stderr.write(
      `jitkey test: the policy at ${path} does not load: ${(err as Error).message ?? err}\n`,
    );
    return 2;
  }
  const files = positionals.length > 0 ? positionals : await fixturesFor(path);
  if (files.length === 0) {
    process.stderr.write(`jitkey test: no *.test.yaml fixtures next to ${path}: nothing to run\n`);
    return 2;
  }
  const cases: TestCase[] = [];
  const issues: PolicyIssue[] = [];
  for (const file of files) {
    const text = await readFile(file, 'utf8').catch((e: NodeJS.ErrnoException) => {
      issues.push({
        file,
        line: 1,
        col: 1,
        message: `cannot read the fixture file (${e.code ?? e.message})`,
      });
      return undefined;
    });
    if (text === undefined) continue;
    const read = readFixture(text, file, policy);
    cases.push(...read.cases);
    issues.push(...read.issues);
  }
  if (issues.length > 0) return loadFailed(issues);
  const results = runCases(policy, cases);
  const report = reporter(results);
  if (values.output) await writeFile(values.output, report);
  else process.stdout.write(report);
  const failed = results.filter((r) => !r.passed).length;
  process.stderr.write(`jitkey test: ${results.length - failed} passed, ${failed} failed\n`);
  return failed > 0 ? 1 : 0;
}

function loadFailed(issues: readonly PolicyIssue[]): number {
  for (const i of sortIssues(issues)) process.stderr.write(`${formatIssue(i, 'error')}\n`);
  return 2;
}

/** For a directory every `*.test.yaml` under it; for a file the ones beside it. */
async function fixturesFor(path: string): Promise<string[]> {
  const isDir = (await stat(path)).isDirectory();
  const root = isDir ? path : dirname(path);
  const entries = await readdir(root, { recursive: isDir, withFileTypes: true });
  // Hidden folders are skipped: a ConfigMap volume's `..data/` would list every fixture twice.
  const hidden = (p: string) =>
    relative(root, p)
      .split(sep)
      .some((part) => part.startsWith('.'));
  return entries
    .filter((e) => (e.isFile() || e.isSymbolicLink()) && FIXTURE_SUFFIX.test(e.name))
    .map((e) => join(e.parentPath, e.name))
    .filter((p) => !hidden(p))
    .sort();
}
