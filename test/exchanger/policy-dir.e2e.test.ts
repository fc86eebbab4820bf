/**
 * A policy directory through the real `jitkey` processes: `jitkey test` with TAP and JUnit
 * reports and its exit codes, `check` and `explain` on a directory, and `serve` reloading the
 * whole directory on SIGHUP (one bad file refuses the reload).
 */
import { cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { REPO_ROOT, runCli, startExchanger } from '../support/exchanger-process.js';
import { type OidcIssuer, startOidcIssuer } from '../support/oidc-issuer.js';
import { ROLE_ARN, STS_KEY, stsEnv } from '../support/stack.js';
import { type StsStandin, startStsStandin } from '../support/sts-standin.js';

const EXAMPLE = join(REPO_ROOT, 'examples/org');

/** A copy of examples/org to change. */
function exampleCopy(): string {
  const dir = mkdtempSync(join(tmpdir(), 'jitkey-org-'));
  cpSync(EXAMPLE, dir, { recursive: true });
  return dir;
}

const FAILING = `claims:
  repository: acme/payments-api
  repository_id: "700001"
  repository_owner: acme
  repository_owner_id: "1001"
  ref: refs/heads/main
  environment: production
  event_name: push
  runner_environment: github-hosted
tests:
  - name: passes
    role: prod-payments-deploy
    expect: allow
  - name: "expects <allow> & gets the guardrail"
    role: prod-payments-deploy
    claims: { event_name: workflow_run }
    expect: allow
  - name: expects the wrong reason
    role: prod-payments-deploy
    claims: { ref: refs/heads/dev }
    expect: deny
    reason: deny_rule
`;

describe('jitkey test', () => {
  it('runs the shipped examples: exit 0 and a TAP report', async () => {
    const out = await runCli(['test', '--policy', EXAMPLE]);
    expect(out.code).toBe(0);
    const lines = out.stdout.split('\n');
    expect(lines.slice(0, 2)).toEqual(['TAP version 14', '1..8']);
    expect(lines.filter((l) => l.startsWith('ok '))).toHaveLength(8);
    expect(out.stdout).toContain('ok 3 - ');
    expect(out.stdout).toContain('pull_request_target is stopped by the org guardrail');
    expect(out.stderr).toContain('8 passed, 0 failed');
  });

  it('exits 1 on a failed expectation, with where and why in TAP', async () => {
    const dir = exampleCopy();
    writeFileSync(join(dir, 'failing.test.yaml'), FAILING);
    const out = await runCli(['test', '--policy', dir, join(dir, 'failing.test.yaml')]);
    expect(out.code).toBe(1);
    expect(out.stdout).toContain('ok 1 - ');
    expect(out.stdout).toContain(
      `not ok 2 - ${join(dir, 'failing.test.yaml')}: expects <allow> & gets the guardrail`,
    );
    expect(out.stdout).toContain(
      `message: "expected allow, got deny (guardrail 'no-untrusted-events-on-write')"`,
    );
    expect(out.stdout).toContain(`at: "${join(dir, 'failing.test.yaml')}:14:5"`);
    expect(out.stdout).toContain('message: "expected deny (deny_rule), got deny (no_allow_rule)"');
    expect(out.stdout).toMatch(/# pass 1\n# fail 2\n$/);
  });

  it('writes a JUnit report with --output', async () => {
    const dir = exampleCopy();
    writeFileSync(join(dir, 'failing.test.yaml'), FAILING);
    const report = join(dir, 'report.xml');
    const out = await runCli(['test', '--policy', dir, '--reporter', 'junit', '--output', report]);
    expect(out.code).toBe(1);
    expect(out.stdout).toBe('');
    const xml = readFileSync(report, 'utf8');
    expect(xml).toContain('<testsuites name="jitkey policy tests" tests="11" failures="2">');
    expect(xml).toContain(`<testsuite name="${join(dir, 'failing.test.yaml')}" tests="3" failures="2">`);
    expect(xml).toContain('<testcase name="expects &lt;allow&gt; &amp; gets the guardrail"');
    expect(xml).toContain(
      `<failure message="expected allow, got deny (guardrail &apos;no-untrusted-events-on-write&apos;)">`,
    );
    expect(xml).toContain(`<testsuite name="${join(dir, 'web.test.yaml')}" tests="3" failures="0">`);
  });

  it('exits 2 on a fixture or policy that does not load, naming file:line:col', async () => {
    const dir = exampleCopy();
    writeFileSync(
      join(dir, 'typo.test.yaml'),
      'tests:\n  - name: x\n    role: prod-payment-deploy\n    expect: allow\n',
    );
    const fixture = await runCli(['test', '--policy', dir]);
    expect(fixture.code).toBe(2);
    expect(fixture.stderr).toContain(
      `${join(dir, 'typo.test.yaml')}:3:11: error: tests[0].role: no role 'prod-payment-deploy' in the policy; did you mean 'prod-payments-deploy'?`,
    );
    writeFileSync(
      join(dir, 'web.yaml'),
      readFileSync(join(dir, 'web.yaml'), 'utf8').replace('acme/web-*', '"*/web"'),
    );
    const policy = await runCli(['test', '--policy', dir]);
    expect(policy.code).toBe(2);
    expect(policy.stderr).toMatch(/web\.yaml:6:5: error: owners: '\*\/web' has a wildcard owner/);
  });

  it('takes a single-file policy and the fixtures beside it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'jitkey-single-'));
    cpSync(join(REPO_ROOT, 'examples/policy.yaml'), join(dir, 'policy.yaml'));
    writeFileSync(
      join(dir, 'policy.test.yaml'),
      'claims: { repository: acme/web, repository_id: "123456", repository_owner_id: "7890", ref: refs/heads/main, environment: production, event_name: push }\n' +
        'tests:\n' +
        '  - { name: main deploys, role: deploy-web-prod, expect: allow, reason: granted }\n' +
        '  - { name: a fork does not, role: deploy-web-prod, claims: { repository_id: "1" }, expect: deny, reason: no_allow_rule }\n',
    );
    const out = await runCli(['test', '--policy', join(dir, 'policy.yaml')]);
    expect(out.stderr).toBe('jitkey test: 2 passed, 0 failed\n');
    expect(out.code).toBe(0);
  });

  it('exits 2 when there is nothing to run or the reporter is unknown', async () => {
    const empty = mkdtempSync(join(tmpdir(), 'jitkey-org-'));
    cpSync(join(EXAMPLE, 'org.yaml'), join(empty, 'org.yaml'));
    cpSync(join(EXAMPLE, 'web.yaml'), join(empty, 'web.yaml'));
    cpSync(join(EXAMPLE, 'payments.yaml'), join(empty, 'payments.yaml')); // org.yaml names the team
    const none = await runCli(['test', '--policy', empty]);
    expect(none.code).toBe(2);
    expect(none.stderr).toMatch(/no \*\.test\.yaml fixtures/);
    const bad = await runCli(['test', '--policy', EXAMPLE, '--reporter', 'xunit']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--reporter must be tap or junit/);
  });
});

describe('check and explain on a directory', () => {
  it('check: the example is clean; an ownership escape is an error at file:line:col', async () => {
    const ok = await runCli(['check', '--policy', EXAMPLE]);
    expect(ok.code).toBe(0);
    expect(ok.stdout).toContain('0 error(s), 0 warning(s) — valid');
    const dir = exampleCopy();
    const web = readFileSync(join(dir, 'web.yaml'), 'utf8');
    writeFileSync(
      join(dir, 'web.yaml'),
      web.replace('repositories: [acme/web]', 'repositories: [acme/payments-api]'),
    );
    const bad = await runCli(['check', '--policy', dir]);
    expect(bad.code).toBe(1);
    expect(bad.stdout).toContain(
      `${join(dir, 'web.yaml')}:17:3: error: roles.web-label-prs.github.repositories: 'acme/payments-api' is outside team 'web' owners (acme/web, acme/web-*)`,
    );
  });

  it('explain names the file and the guardrail that decided', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'jitkey-claims-'));
    const claims = join(dir, 'claims.json');
    writeFileSync(
      claims,
      JSON.stringify({
        repository: 'acme/web',
        repository_id: '700100',
        ref: 'refs/heads/main',
        event_name: 'workflow_run',
      }),
    );
    const out = await runCli(['explain', '--policy', EXAMPLE, '--role', 'web-label-prs', '--claims', claims]);
    expect(out.code).toBe(1);
    expect(out.stdout).toContain(`role 'web-label-prs' (github) at ${join(EXAMPLE, 'web.yaml')}:`);
    expect(out.stdout).toMatch(/guardrail 'no-untrusted-events-on-write' at .*org\.yaml:\d+:\d+: held/);
    expect(out.stdout).toMatch(
      /decided by: org guardrail 'no-untrusted-events-on-write' in .*org\.yaml:\d+:\d+/,
    );
  });
});

describe('serve --policy DIR', () => {
  let idp: OidcIssuer | undefined;
  let sts: StsStandin | undefined;
  let stop: (() => Promise<unknown>) | undefined;
  afterEach(async () => {
    await stop?.();
    await Promise.all([idp?.stop(), sts?.stop()]);
  });

  it('reloads the whole directory on SIGHUP; one bad file refuses the reload', async () => {
    idp = await startOidcIssuer();
    sts = await startStsStandin(STS_KEY);
    const dir = mkdtempSync(join(tmpdir(), 'jitkey-serve-org-'));
    const org = (teams: string) =>
      `version: 1\nissuers: [{ url: "${idp!.url}", audience: jitkey }]\n${teams}guardrails:\n` +
      '  - { name: no-workflow-run, deny: [{ event_name: workflow_run }] }\n';
    writeFileSync(
      join(dir, 'org.yaml'),
      org(`teams:\n  web: { resources: { aws: { role_arns: ["${ROLE_ARN}"] } } }\n`),
    );
    const team = (role: string) =>
      `version: 1\nowners: [acme/web]\nroles:\n  ${role}:\n    provider: aws\n    aws: { role_arn: "${ROLE_ARN}" }\n` +
      '    allow: [{ repository: acme/web, repository_id: "123456", ref: refs/heads/main }]\n';
    writeFileSync(join(dir, 'web.yaml'), team('deploy'));
    const ex = await startExchanger({ policyPath: dir, env: stsEnv(sts) });
    stop = () => ex.stop();
    const exchange = async (role: string, claims = {}) =>
      (
        await fetch(`${ex.url}/v1/exchange`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: `Bearer ${idp!.mint(claims)}` },
          body: JSON.stringify({ role }),
        })
      ).status;
    const until = async (text: string, count: number) => {
      for (let i = 0; i < 400 && ex.output().split(text).length - 1 < count; i++)
        await new Promise((r) => setTimeout(r, 25));
      expect(ex.output().split(text).length - 1).toBe(count);
    };

    expect(await exchange('deploy')).toBe(200);
    const denied = await fetch(`${ex.url}/v1/exchange`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        authorization: `Bearer ${idp.mint({ event_name: 'workflow_run' })}`,
      },
      body: JSON.stringify({ role: 'deploy' }),
    });
    expect(denied.status).toBe(403);
    expect(JSON.stringify(await denied.json())).toContain("org guardrail 'no-workflow-run'");

    // A second team file and a renamed role arrive together, with org.yaml sharing the AWS role.
    writeFileSync(
      join(dir, 'org.yaml'),
      org(`shared:\n  - { teams: [web, docs], resources: { aws: { role_arns: ["${ROLE_ARN}"] } } }\n`),
    );
    writeFileSync(join(dir, 'web.yaml'), team('deploy-web'));
    writeFileSync(join(dir, 'docs.yaml'), team('deploy-docs'));
    ex.signal('SIGHUP');
    await until('policy reloaded', 1);
    expect(await exchange('deploy-web')).toBe(200);
    expect(await exchange('deploy-docs')).toBe(200);
    expect(await exchange('deploy')).toBe(400); // no such role any more

    // One bad file among good ones: the whole reload is refused, the previous policy stays.
    writeFileSync(join(dir, 'web.yaml'), team('deploy-web2'));
    writeFileSync(join(dir, 'docs.yaml'), team('deploy-docs').replace('acme/web,', 'acme/payments,'));
    ex.signal('SIGHUP');
    await until('policy reload refused', 1);
    expect(ex.output()).toMatch(/policy reload refused[^\n]*docs\.yaml:\d+:\d+/);
    expect(await exchange('deploy-web')).toBe(200);
    expect(await exchange('deploy-web2')).toBe(400); // the refused files' role never arrived
  });
});
