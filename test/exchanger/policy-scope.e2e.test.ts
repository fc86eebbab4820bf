/**
 * Who may hand out what, through the real `jitkey` processes: the web team's file naming the
 * payments team's AWS role is refused (check exits 1; serve keeps the previous policy on
 * SIGHUP, and STS is never asked for that role), and with two trusted issuers a token of issuer
 * B is refused a role bound to issuer A even with identical claims.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { eventually } from '../support/eventually.js';
import { type ExchangerProcess, runCli, startExchanger } from '../support/exchanger-process.js';
import { type OidcIssuer, startOidcIssuer } from '../support/oidc-issuer.js';
import { STS_KEY, stsEnv } from '../support/stack.js';
import { type StsStandin, startStsStandin } from '../support/sts-standin.js';

const PAYMENTS_ARN = 'arn:aws:iam::111122223333:role/payments-deploy';
const WEB_ARN = 'arn:aws:iam::111122223333:role/web-deploy';
/** The claims the stand-in issuer mints by default pin acme/web (repository_id 123456). */
const WEB_ALLOW = '    allow: [{ repository: acme/web, repository_id: "123456", ref: refs/heads/main }]\n';

let idps: OidcIssuer[] = [];
let sts: StsStandin | undefined;
let ex: ExchangerProcess | undefined;
afterEach(async () => {
  await ex?.stop();
  await Promise.all([...idps.map((i) => i.stop()), sts?.stop()]);
  idps = [];
  ex = undefined;
});

async function exchange(
  token: string,
  role: string,
): Promise<{ status: number; body: Record<string, string> }> {
  const res = await fetch(`${ex!.url}/v1/exchange`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({ role }),
  });
  return { status: res.status, body: (await res.json()) as Record<string, string> };
}

describe('teams own resources', () => {
  it("the web team's file cannot grant payments' AWS role: check refuses it, serve never serves it", async () => {
    const idp = await startOidcIssuer();
    idps.push(idp);
    sts = await startStsStandin(STS_KEY);
    const dir = mkdtempSync(join(tmpdir(), 'jitkey-scope-'));
    writeFileSync(
      join(dir, 'org.yaml'),
      `version: 1
issuers: [{ url: "${idp.url}", audience: jitkey }]
teams:
  web: { resources: { aws: { role_arns: ["arn:aws:iam::111122223333:role/web-*"] } } }
  payments: { resources: { aws: { role_arns: ["arn:aws:iam::111122223333:role/payments-*"] } } }
`,
    );
    writeFileSync(
      join(dir, 'payments.yaml'),
      `version: 1\nowners: ["acme/payments-*"]\nroles:\n  prod-payments-deploy:\n    provider: aws\n    aws: { role_arn: "${PAYMENTS_ARN}" }\n` +
        '    allow: [{ repository: acme/payments-api, repository_id: "700001", ref: refs/heads/main }]\n',
    );
    const web = (arn: string) =>
      `version: 1\nowners: [acme/web]\nroles:\n  web-deploy:\n    provider: aws\n    aws: { role_arn: "${arn}" }\n${WEB_ALLOW}`;
    writeFileSync(join(dir, 'web.yaml'), web(WEB_ARN));
    ex = await startExchanger({ policyPath: dir, env: stsEnv(sts) });
    expect((await exchange(idp.mint(), 'web-deploy')).status).toBe(200);

    // web.yaml now names payments' role (as the review's attacker did) under its own role name.
    writeFileSync(join(dir, 'web.yaml'), web(PAYMENTS_ARN));
    const check = await runCli(['check', '--policy', dir]);
    expect(check.code).toBe(1);
    expect(check.stdout).toContain(
      `${join(dir, 'web.yaml')}:6:22: error: roles.web-deploy.aws.role_arn: '${PAYMENTS_ARN}' is outside team 'web' resources in ${join(dir, 'org.yaml')}: teams.web.resources.aws (role_arns arn:aws:iam::111122223333:role/web-*)`,
    );
    ex.signal('SIGHUP');
    await eventually(
      () => (ex!.output().includes('policy reload refused') ? true : undefined),
      'the reload to be refused',
    );
    expect(ex.output()).toMatch(/policy reload refused[^\n]*outside team 'web' resources/);
    const after = await exchange(idp.mint(), 'web-deploy');
    expect(after.status).toBe(200);
    expect(sts.issued.map((c) => c.roleArn)).toEqual([WEB_ARN, WEB_ARN]);
  });
});

describe('roles bound to issuers', () => {
  it('a token of issuer B is refused a role bound to issuer A, with the same claims', async () => {
    const a = await startOidcIssuer();
    const b = await startOidcIssuer({ path: '/_services/token' });
    idps.push(a, b);
    sts = await startStsStandin(STS_KEY);
    const policy = `version: 1
issuers:
  - { url: "${a.url}", audience: jitkey }
  - { url: "${b.url}", audience: jitkey }
roles:
  deploy:
    provider: aws
    aws: { role_arn: "${WEB_ARN}" }
    issuers: ["${a.url}"]
${WEB_ALLOW}`;
    ex = await startExchanger({ policy, env: stsEnv(sts) });
    expect((await exchange(a.mint(), 'deploy')).status).toBe(200);
    const fromB = await exchange(b.mint(), 'deploy');
    expect(fromB.status).toBe(403);
    expect(fromB.body.error).toBe('access_denied');
    expect(fromB.body.message).toBe(
      `role 'deploy' denied: it is not bound to this token's issuer (iss was '${b.url}'); use a role bound to that issuer`,
    );
    expect(sts.issued).toHaveLength(1);

    // An unbound role with two issuers does not load at all.
    const dir = mkdtempSync(join(tmpdir(), 'jitkey-iss-'));
    writeFileSync(join(dir, 'p.yaml'), policy.replace(`    issuers: ["${a.url}"]\n`, ''));
    const check = await runCli(['check', '--policy', join(dir, 'p.yaml')]);
    expect(check.code).toBe(1);
    expect(check.stdout).toContain('roles.deploy: the policy trusts 2 issuers; say which this role trusts');
  });
});
