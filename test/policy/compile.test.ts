import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadPolicy, loadPolicyFile } from '../../exchanger/policy/load/load-policy.js';
import { PolicyError } from '../../exchanger/policy/model/errors.js';

const spec = readFileSync(new URL('../fixtures/policies/spec-example.yaml', import.meta.url), 'utf8');
const example = readFileSync(new URL('../../examples/policy.yaml', import.meta.url), 'utf8');

describe('compile', () => {
  const policy = loadPolicy(spec, 'spec.yaml');
  const roleOf = (name: string) => {
    const r = policy.roles.get(name);
    if (!r) throw new Error(`no role ${name}`);
    return r;
  };

  it('keeps issuers, defaults in seconds and the source', () => {
    expect(policy.version).toBe(1);
    expect(policy.issuers).toEqual([
      { url: 'https://token.actions.githubusercontent.com', audience: 'jitkey' },
    ]);
    expect(policy.defaults).toEqual({ durationSeconds: 900, maxDurationSeconds: 3600 });
    expect(policy.source).toBe('spec.yaml');
    expect([...policy.roles.keys()]).toEqual(['deploy-web-prod', 'read-artifacts', 'bump-deps']);
  });

  it.each([
    {
      name: 'aws role with its own max_duration',
      role: 'deploy-web-prod',
      want: {
        name: 'deploy-web-prod',
        description: 'Deploy acme/web to production',
        provider: 'aws',
        durationSeconds: 900,
        maxDurationSeconds: 1800,
        requireProtectedEnvironment: false,
        aws: {
          roleArn: 'arn:aws:iam::111122223333:role/web-deploy',
          region: 'us-east-1',
          sessionPolicy: { Version: '2012-10-17', Statement: ['…'] },
          // biome-ignore lint/suspicious/noTemplateCurlyInString: claim templates are literal ${…} text
          sessionTags: { repository: '${repository}', run: '${run_id}' },
        },
        position: { line: 8, col: 3 },
      },
    },
    {
      name: 'gcp role gets the defaults',
      role: 'read-artifacts',
      want: {
        name: 'read-artifacts',
        provider: 'gcp',
        durationSeconds: 900,
        maxDurationSeconds: 3600,
        requireProtectedEnvironment: false,
        gcp: {
          serviceAccount: 'ci-reader@proj.iam.gserviceaccount.com',
          scopes: ['https://www.googleapis.com/auth/cloud-platform'],
          delegates: [],
          allowExtendedLifetime: false,
        },
        position: { line: 26, col: 3 },
      },
    },
    {
      name: 'github role split into owner and names',
      role: 'bump-deps',
      want: {
        name: 'bump-deps',
        provider: 'github',
        durationSeconds: 900,
        maxDurationSeconds: 3600,
        requireProtectedEnvironment: false,
        github: {
          owner: 'acme',
          repositories: ['infra'],
          permissions: { contents: 'write', pull_requests: 'write' },
        },
        position: { line: 32, col: 3 },
      },
    },
  ])('$name', ({ role, want }) => {
    const { allow, deny, ...rest } = roleOf(role);
    expect(rest).toEqual(want);
    expect(allow.every((r) => r.kind === 'allow')).toBe(true);
    expect(deny.every((r) => r.kind === 'deny')).toBe(true);
  });

  it('compiles conditions in file order with positions', () => {
    const [rule] = roleOf('deploy-web-prod').allow;
    expect(rule?.position).toEqual({ line: 18, col: 9 });
    expect(rule?.conditions.map((c) => [c.claim, c.position])).toEqual([
      ['repository', { line: 18, col: 9 }],
      ['repository_id', { line: 19, col: 9 }],
      ['repository_owner_id', { line: 20, col: 9 }],
      ['ref', { line: 21, col: 9 }],
      ['environment', { line: 22, col: 9 }],
      ['event_name', { line: 23, col: 9 }],
    ]);
    expect(rule?.conditions.map((c) => typeof c.matches)).toEqual(Array(6).fill('function'));
  });

  it('reads approval with its defaults, and role durations', () => {
    const p = loadPolicy(example, 'example.yaml');
    expect(p.roles.get('db-admin')?.approval).toEqual({
      approvers: ['alice', 'acme/dba-oncall'],
      required: 1,
      timeoutSeconds: 1800,
      notify: 'https://hooks.acme.example/jitkey',
    });
    expect(p.roles.get('deploy-web-prod')?.requireProtectedEnvironment).toBe(true);
    expect(p.roles.get('read-artifacts')?.durationSeconds).toBe(600);
  });

  it('lowers the default duration to a smaller role max', () => {
    const p = loadPolicy(
      [
        'version: 1',
        'issuers: [ { url: https://token.actions.githubusercontent.com, audience: jitkey } ]',
        'defaults: { duration: 20m, max_duration: 2h }',
        'roles:',
        '  r: { provider: aws, aws: { role_arn: "arn:aws:iam::111122223333:role/r" }, max_duration: 10m, allow: [ { repository_id: "1" } ] }',
        '  s: { provider: aws, aws: { role_arn: "arn:aws:iam::111122223333:role/s" }, allow: [ { repository_id: "1" } ] }',
        '  g:',
        '    provider: gcp',
        '    gcp: { service_account: sa@proj.iam.gserviceaccount.com, allow_extended_lifetime: true }',
        '    max_duration: 8h',
        '    allow: [ { repository_id: "1" } ]',
      ].join('\n'),
      'p.yaml',
    );
    const d = (n: string) => [p.roles.get(n)?.durationSeconds, p.roles.get(n)?.maxDurationSeconds];
    expect([d('r'), d('s'), d('g')]).toEqual([
      [600, 600],
      [1200, 7200],
      [1200, 28800],
    ]);
  });
  it('reads session policies through aliases and keeps odd tag names as own keys', () => {
    const p = loadPolicy(
      [
        'version: 1',
        'issuers: [ { url: https://token.actions.githubusercontent.com, audience: jitkey } ]',
        'roles:',
        '  r:',
        '    provider: aws',
        '    aws:',
        '      role_arn: "arn:aws:iam::111122223333:role/r"',
        '      session_policy:',
        '        Version: "2012-10-17"',
        '        Statement: [ &s { Effect: Allow, Action: "s3:GetObject", Resource: "*" }, *s ]',
        // biome-ignore lint/suspicious/noTemplateCurlyInString: a claim template, literally
        "      session_tags: { __proto__: '${repository}' }",
        '    allow: [ { repository_id: "1" } ]',
      ].join('\n'),
      'p.yaml',
    );
    const aws = p.roles.get('r')?.aws;
    const statement = { Effect: 'Allow', Action: 's3:GetObject', Resource: '*' };
    expect(aws?.sessionPolicy).toEqual({ Version: '2012-10-17', Statement: [statement, statement] });
    expect(Object.hasOwn(aws?.sessionTags ?? {}, '__proto__')).toBe(true);
    expect(Object.getPrototypeOf(aws?.sessionTags)).toBe(Object.prototype);
  });
});

describe('PolicyError', () => {
  it('lists every issue, one per line, file:line:col: message', () => {
    const text = 'version: 1\nissuers: []\nroles: { r: { provider: azure } }\n';
    let error: unknown;
    try {
      loadPolicy(text, 'p.yaml');
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(PolicyError);
    const pe = error as PolicyError;
    expect(pe.issues).toEqual([
      { file: 'p.yaml', line: 2, col: 10, message: 'issuers must not be empty' },
      {
        file: 'p.yaml',
        line: 3,
        col: 25,
        message: "roles.r.provider: 'azure' must be aws, gcp, github or kubernetes",
      },
    ]);
    expect(pe.toString()).toBe(
      "p.yaml:2:10: issuers must not be empty\np.yaml:3:25: roles.r.provider: 'azure' must be aws, gcp, github or kubernetes",
    );
    expect(pe.message).toBe(`invalid policy (2 errors):\n${pe.toString()}`);
    expect(String(pe)).toBe(pe.toString());
  });
});

describe('loadPolicyFile', () => {
  const dir = mkdtempSync(join(tmpdir(), 'jitkey-policy-'));

  it('loads a file', async () => {
    const path = join(dir, 'policy.yaml');
    writeFileSync(path, example);
    const p = await loadPolicyFile(path);
    expect(p.source).toBe(path);
    expect([...p.roles.keys()]).toEqual([
      'deploy-web-prod',
      'read-artifacts',
      'bump-deps',
      'db-admin',
      'deploy-web-k8s',
    ]);
  });

  it('names the file in its errors', async () => {
    const path = join(dir, 'bad.yaml');
    writeFileSync(path, 'version: 2\n');
    await expect(loadPolicyFile(path)).rejects.toThrow(
      `${path}:1:1: the policy: missing required key 'issuers'\n${path}:1:1: the policy: missing required key 'roles'\n${path}:1:10: version must be the number 1, not 2`,
    );
  });

  it('reports an unreadable file as a PolicyError', async () => {
    const path = join(dir, 'missing.yaml');
    const e = await loadPolicyFile(path).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(PolicyError);
    expect(String(e)).toBe(`${path}:1:1: cannot read the policy file (ENOENT)`);
  });
});
