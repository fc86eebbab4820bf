/**
 * A policy directory's file names (issue 24, item 5): the team of a file is said once and one
 * way, and an entry that cannot be read is an error naming it, never a file silently left out.
 */
import {
  cpSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  renameSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadPolicyFile } from '../../exchanger/policy/load/load-policy.js';
import { PolicyError, type PolicyIssue } from '../../exchanger/policy/model/errors.js';
import { REPO_ROOT, runCli } from '../support/exchanger-process.js';

/** A copy of examples/org (it loads) to add entries to. */
function example(): string {
  const dir = mkdtempSync(join(tmpdir(), 'jitkey-names-'));
  cpSync(join(REPO_ROOT, 'examples/org'), dir, { recursive: true });
  return dir;
}

async function loadErrors(dir: string): Promise<readonly PolicyIssue[]> {
  const e = await loadPolicyFile(dir).then(
    () => undefined,
    (x: unknown) => x,
  );
  expect(e).toBeInstanceOf(PolicyError);
  return (e as PolicyError).issues;
}

describe('policy directory names', () => {
  it('loads the example as it is (the cases below only add one entry)', async () => {
    expect((await loadPolicyFile(example())).roles.size).toBeGreaterThan(0);
  });

  it.each([
    { name: 'org.yml beside org.yaml', add: 'org.yml', from: 'org.yaml', what: /both name the org file/ },
    {
      name: 'payments.yml beside payments.yaml',
      add: 'payments.yml',
      from: 'payments.yaml',
      what: /'payments\.yml' and 'payments\.yaml' both name one team, 'payments'/,
    },
    {
      name: 'Payments.yaml beside payments.yaml (case-insensitively one team)',
      add: 'Payments.yaml',
      from: 'payments.yaml',
      what: /both name one team, 'payments'/,
    },
    { name: 'WEB.yml beside web.yaml', add: 'WEB.yml', from: 'web.yaml', what: /both name one team, 'web'/ },
  ])('$name is a load error at file:1:1', async ({ add, from, what }) => {
    const dir = example();
    writeFileSync(join(dir, add), readFileSync(join(dir, from)));
    const issues = await loadErrors(dir);
    const mine = issues.filter((i) => what.test(i.message));
    expect(mine).toHaveLength(1);
    expect([join(dir, add), join(dir, from)]).toContain(mine[0]!.file);
    expect(mine[0]).toMatchObject({ line: 1, col: 1 });
  });

  it('an org file named in another case is not taken for org.yaml', async () => {
    const dir = example();
    renameSync(join(dir, 'org.yaml'), join(dir, 'Org.yaml'));
    const issues = await loadErrors(dir);
    expect(issues).toContainEqual({
      file: join(dir, 'Org.yaml'),
      line: 1,
      col: 1,
      message: "'Org.yaml' is not read as the org file: name it org.yaml",
    });
  });

  it.each([
    {
      name: 'a dangling symbolic link',
      make: (p: string) => symlinkSync('..data/gone.yaml', p),
      why: 'a symbolic link to nothing',
    },
    {
      name: 'a symbolic link loop',
      make: (p: string) => symlinkSync(p, p),
      why: 'cannot follow the link: ELOOP',
    },
    { name: 'a directory named *.yaml', make: (p: string) => mkdirSync(p), why: 'not a regular file' },
    {
      name: 'a file that is not UTF-8',
      make: (p: string) => writeFileSync(p, Buffer.from([0x76, 0x3a, 0x20, 0xff, 0xfe, 0x0a])),
      why: 'not UTF-8 text',
    },
  ])('$name is an error naming that entry at file:1:1', async ({ make, why }) => {
    const dir = example();
    make(join(dir, 'ghost.yaml'));
    const issues = await loadErrors(dir);
    expect(issues).toContainEqual({
      file: join(dir, 'ghost.yaml'),
      line: 1,
      col: 1,
      message: `cannot read 'ghost.yaml': ${why}`,
    });
  });

  it('jitkey test exits 2 (not 1) when the policy does not load, naming the entry', async () => {
    const dir = example();
    symlinkSync('..data/gone.yaml', join(dir, 'ghost.yaml'));
    const out = await runCli(['test', '--policy', dir]);
    expect(out.stderr).toContain(`${join(dir, 'ghost.yaml')}:1:1: error: cannot read 'ghost.yaml'`);
    expect(out.code).toBe(2);
    writeFileSync(join(dir, 'payments.yml'), readFileSync(join(dir, 'payments.yaml')));
    const check = await runCli(['check', '--policy', dir]);
    expect(check.code).toBe(1);
    expect(check.stdout).toContain('both name one team');
  });
});
