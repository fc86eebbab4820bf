/** `jitkey check`, `explain` and `audit` as a user runs them: real processes, exit codes, output. */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT, runCli } from '../support/exchanger-process.js';
import { policyFor } from '../support/stack.js';

const dir = mkdtempSync(join(tmpdir(), 'jitkey-cli-'));
const file = (name: string, text: string) => {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
};
const policy = file('policy.yaml', policyFor('https://token.actions.githubusercontent.com'));
const claims = {
  repository: 'acme/web',
  repository_id: '123456',
  ref: 'refs/heads/main',
  environment: 'production',
  event_name: 'push',
};

describe('jitkey check', () => {
  it('exits 0 for the shipped example policy', async () => {
    const out = await runCli(['check', '--policy', join(REPO_ROOT, 'examples/policy.yaml')]);
    expect(out.stdout).toMatch(/0 error\(s\)/);
    expect(out.code).toBe(0);
  });

  it('exits 1 with file:line:col and the nearest known key for a typo', async () => {
    const bad = file(
      'bad.yaml',
      policyFor('https://token.actions.githubusercontent.com').replace(
        'ref: refs/heads/main',
        'reff: refs/heads/main',
      ),
    );
    const out = await runCli(['check', '--policy', bad]);
    expect(out.code).toBe(1);
    expect(out.stdout).toMatch(/bad\.yaml:\d+:\d+: .*reff.*\bref\b/);
  });

  it('exits 2 with the usage when --policy is missing', async () => {
    const out = await runCli(['check']);
    expect(out.code).toBe(2);
    expect(out.stderr).toMatch(/--policy is required/);
  });
});

describe('jitkey explain', () => {
  let n = 0;
  const explain = (role: string, tokenClaims: object, ...extra: string[]) =>
    runCli([
      'explain',
      '--policy',
      policy,
      '--role',
      role,
      '--claims',
      file(`claims-${n++}.json`, JSON.stringify(tokenClaims)),
      ...extra,
    ]);

  it('explains a grant per rule and condition, exit 0', async () => {
    const out = await explain('deploy', claims);
    expect(out.code).toBe(0);
    expect(out.stdout).toMatch(/allow\[0\]/);
    expect(out.stdout).toMatch(/granted/i);
  });

  it('explains a denial with the failing claim and its value, exit 1', async () => {
    const out = await explain('deploy', { ...claims, ref: 'refs/heads/dev' });
    expect(out.code).toBe(1);
    expect(out.stdout).toContain('refs/heads/dev');
    expect(out.stdout).toMatch(/denied/i);
  });

  it('prints the structured decision with --json', async () => {
    const out = await explain('deploy', claims, '--json');
    expect(JSON.parse(out.stdout)).toMatchObject({ role: 'deploy', granted: true });
  });

  it('names the roles there are when the role is unknown', async () => {
    const out = await explain('nope', {});
    expect(out.code).toBe(2);
    expect(out.stderr).toMatch(/deploy/);
  });
});

describe('jitkey', () => {
  it('prints help and refuses unknown commands', async () => {
    expect((await runCli(['--help'])).stdout).toMatch(/jitkey serve/);
    const out = await runCli(['serv']);
    expect(out.code).toBe(2);
    expect(out.stderr).toMatch(/unknown command 'serv'/);
  });
});
