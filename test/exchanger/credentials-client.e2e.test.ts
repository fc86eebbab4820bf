/**
 * `jitkey credentials`, the client for any CI, run as a GitLab job runs it: bin/jitkey.js with the
 * job's OIDC token in `JITKEY_ID_TOKEN` (the `id_tokens:` variable), against `jitkey serve`, the
 * STS stand-in and the Kubernetes API stand-in. The job's own shell then sources what it wrote and
 * uses the credentials; `jitkey credentials revoke` ends the lease. The token is never in an
 * output, a file, or the command line.
 */
import { chmodSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../support/exchanger-process.js';
import { BIN, type CiJob, type ClientRun, ciJob, modeOf } from '../support/jitkey-credentials.js';
import { clientNodeProbe } from '../support/kube-clients.js';
import { type KubernetesJob, kubernetesRole, startKubernetesJob } from '../support/kubernetes-job.js';
import { REPO_ROOT } from '../support/paths.js';

let env: KubernetesJob;
let url: string;
beforeAll(async () => {
  env = await startKubernetesJob((server, ca) => kubernetesRole('deploy-k8s', server, ca));
  url = env.stack.exchanger.url;
}, 60_000);
afterAll(async () => {
  await env?.stop();
});

const mint = (claims: Record<string, unknown> = {}) => env.stack.idp.mint(claims);
/** The client as the GitLab component calls it: the token only in JITKEY_ID_TOKEN. */
const asGitlab = (job: CiJob, token: string, args: string[]) =>
  job.client(['--url', url, '--token-env', 'JITKEY_ID_TOKEN', ...args], {
    JITKEY_ID_TOKEN: token,
    GITLAB_CI: 'true',
  });

/** A job script: the AWS SDK's default chain, from the environment the shell set, asks STS who it is. */
const WHO_AM_I = `
import { STSClient, GetCallerIdentityCommand } from ${JSON.stringify(join(REPO_ROOT, 'node_modules/@aws-sdk/client-sts/dist-cjs/index.js'))};
const sts = new STSClient({});
const who = await sts.send(new GetCallerIdentityCommand({}));
console.log(who.Arn);
sts.destroy();
`;

async function auditRows(leaseId: string) {
  const out = await runCli(['audit', '--store', env.stack.exchanger.store, '--json']);
  return out.stdout
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Record<string, string>)
    .filter((r) => r.lease_id === leaseId);
}

/** A loopback port nothing listens on (it was bound, then closed). */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  await new Promise((r) => server.close(r));
  return port;
}

const leaseIdOf = (run: ClientRun) => /\(lease (lease_\S+)\)/.exec(run.stderr)?.[1] ?? '';

describe('jitkey credentials in a GitLab-style job (AWS role)', () => {
  it.each([
    { name: 'bin/jitkey.js credentials', bundle: false },
    { name: 'the single-file bundle', bundle: true },
  ])(
    '$name writes export lines the job sources; the SDK in the job uses them; revoke ends the lease',
    async ({ bundle }) => {
      const job = ciJob({ bundle });
      const token = mint();
      const run = await asGitlab(job, token, [
        '--role',
        'deploy',
        '--out',
        job.path('env'),
        '--lease-file',
        job.path('lease'),
      ]);
      expect(run.code, run.stderr).toBe(0);
      expect(run.stdout).toBe('');
      const issued = env.stack.sts.issued.at(-1)!;
      const leaseId = leaseIdOf(run);
      expect(run.stderr).toBe(
        `jitkey: issued aws credentials for role 'deploy' until ${/until (\S+)/.exec(run.stderr)?.[1]} (lease ${leaseId}): ` +
          `AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN, AWS_REGION, AWS_DEFAULT_REGION in ${job.path('env')}.\n`,
      );
      expect(modeOf(job.path('env'))).toBe(0o600);
      expect(modeOf(job.path('lease'))).toBe(0o600);
      expect(readFileSync(job.path('env'), 'utf8')).toBe(
        `export AWS_ACCESS_KEY_ID='${issued.accessKeyId}'\nexport AWS_SECRET_ACCESS_KEY='${issued.secretAccessKey}'\n` +
          `export AWS_SESSION_TOKEN='${issued.sessionToken}'\nexport AWS_REGION='us-east-1'\nexport AWS_DEFAULT_REGION='us-east-1'\n`,
      );

      writeFileSync(job.path('who.mjs'), WHO_AM_I);
      const used = await job.sh('set -e; . "$JITKEY_DIR/env"; node "$JITKEY_DIR/who.mjs"', {
        AWS_ENDPOINT_URL_STS: env.stack.sts.url,
        NODE_NO_WARNINGS: '1', // the SDK warns about Node 20 on stderr
      });
      expect(used.err).toBe('');
      expect(used.out.trim()).toMatch(/^arn:aws:sts::111122223333:assumed-role\/web-deploy\/jitkey-/);
      job.assertNoSecret(token, [run]);

      // The job's after_script, in a shell of its own.
      const revoked = await job.client(['revoke', '--lease-file', job.path('lease')], { GITLAB_CI: 'true' });
      expect(revoked.code, revoked.stderr).toBe(0);
      expect(revoked.stderr).toBe(
        `jitkey: revoked lease ${leaseId} (role deploy); deleted ${job.path('env')}.\n`,
      );
      expect(() => modeOf(job.path('env'))).toThrow(/ENOENT/);
      expect(() => modeOf(job.path('lease'))).toThrow(/ENOENT/);
      const rows = await auditRows(leaseId);
      expect(rows.map((r) => [r.event, r.outcome, r.user_agent])).toEqual([
        ['revoke', 'revoked', 'jitkey-credentials (gitlab)'],
        ['exchange', 'allowed', 'jitkey-credentials (gitlab)'],
      ]);

      // The after_script of a job whose lease file is gone (revoked already) says so and fails.
      const again = await job.client(['revoke', '--lease-file', job.path('lease')]);
      expect(again.code).toBe(2);
      expect(again.stderr).toContain(
        'does not exist: no lease was issued in this job (or it was revoked already)',
      );
    },
  );

  it('writes a dotenv file (0600) that `set -a; . FILE` reads back exactly', async () => {
    const job = ciJob();
    const token = mint();
    const run = await asGitlab(job, token, [
      '--role',
      'deploy',
      '--format',
      'dotenv',
      '--out',
      job.path('creds.env'),
    ]);
    expect(run.code, run.stderr).toBe(0);
    const issued = env.stack.sts.issued.at(-1)!;
    expect(modeOf(job.path('creds.env'))).toBe(0o600);
    expect(readFileSync(job.path('creds.env'), 'utf8')).toBe(
      `AWS_ACCESS_KEY_ID=${issued.accessKeyId}\nAWS_SECRET_ACCESS_KEY=${issued.secretAccessKey}\n` +
        `AWS_SESSION_TOKEN=${issued.sessionToken}\nAWS_REGION=us-east-1\nAWS_DEFAULT_REGION=us-east-1\n`,
    );
    const read = await job.sh(
      'set -a; . "$JITKEY_DIR/creds.env"; set +a; sh -c \'printf "%s\\n" "$AWS_ACCESS_KEY_ID" "$AWS_SECRET_ACCESS_KEY" "$AWS_SESSION_TOKEN"\'',
    );
    expect(read.out.split('\n').slice(0, 3)).toEqual([
      issued.accessKeyId,
      issued.secretAccessKey,
      issued.sessionToken,
    ]);
    job.assertNoSecret(token, [run]);
  });

  it("answers AWS's credential_process exactly, and the SDK's fromProcess takes it", async () => {
    const job = ciJob();
    const token = mint();
    const run = await asGitlab(job, token, ['--role', 'deploy', '--format', 'credential-process']);
    expect(run.code, run.stderr).toBe(0);
    const issued = env.stack.sts.issued.at(-1)!;
    const answer = JSON.parse(run.stdout) as Record<string, unknown>;
    expect(Object.keys(answer)).toEqual([
      'Version',
      'AccessKeyId',
      'SecretAccessKey',
      'SessionToken',
      'Expiration',
    ]);
    expect(answer).toMatchObject({
      Version: 1,
      AccessKeyId: issued.accessKeyId,
      SecretAccessKey: issued.secretAccessKey,
      SessionToken: issued.sessionToken,
    });
    expect(new Date(answer.Expiration as string).toISOString()).toBe(answer.Expiration);

    // As an AWS profile's credential_process, the token in a file (never on the command line).
    writeFileSync(job.path('token'), mint(), { mode: 0o600 });
    const config = job.path('aws-config');
    writeFileSync(
      config,
      `[profile jitkey]\ncredential_process = ${process.execPath} ${BIN} credentials --url ${url} --role deploy --token-file ${job.path('token')} --format credential-process\n`,
    );
    const { fromProcess } = await import('@aws-sdk/credential-providers');
    const creds = await fromProcess({
      profile: 'jitkey',
      configFilepath: config,
      filepath: job.path('none'),
    })();
    const second = env.stack.sts.issued.at(-1)!;
    expect(second.accessKeyId).not.toBe(issued.accessKeyId);
    expect(creds).toMatchObject({
      accessKeyId: second.accessKeyId,
      secretAccessKey: second.secretAccessKey,
      sessionToken: second.sessionToken,
    });
    expect(creds.expiration).toBeInstanceOf(Date);
    job.assertNoSecret(token, [run]);
  });
});

describe('jitkey credentials for a Kubernetes role', () => {
  it('writes a kubeconfig (0600) that a real client uses; revoke deletes the Secret behind it', async () => {
    const job = ciJob();
    const token = mint();
    const kubeconfig = job.path('kubeconfig');
    const run = await asGitlab(job, token, [
      '--role',
      'deploy-k8s',
      '--format',
      'export',
      '--out',
      job.path('env'),
      '--kubeconfig',
      kubeconfig,
      '--lease-file',
      job.path('lease'),
    ]);
    expect(run.code, run.stderr).toBe(0);
    expect(readFileSync(job.path('env'), 'utf8')).toBe(`export KUBECONFIG='${kubeconfig}'\n`);
    expect(modeOf(kubeconfig)).toBe(0o600);
    const doc = JSON.parse(readFileSync(kubeconfig, 'utf8'));
    expect(doc).toMatchObject({
      apiVersion: 'v1',
      kind: 'Config',
      'current-context': 'jitkey-deploy-k8s',
      clusters: [
        {
          name: 'jitkey-deploy-k8s',
          cluster: { server: env.kube.url, 'certificate-authority-data': env.kube.caData },
        },
      ],
      contexts: [{ name: 'jitkey-deploy-k8s', context: { namespace: 'web', user: 'jitkey-deploy-k8s' } }],
    });
    expect(doc.users[0].user.token).toBe(env.kube.issued.at(-1)!.token);
    const probe = await clientNodeProbe(kubeconfig);
    expect(probe.ok, probe.out).toBe(true);
    expect(JSON.parse(probe.out).user).toBe('system:serviceaccount:web:deployer');

    const copy = job.path('kubeconfig-copy.json');
    writeFileSync(copy, readFileSync(kubeconfig));
    const revoked = await job.client(['revoke', '--lease-file', job.path('lease')]);
    expect(revoked.code, revoked.stderr).toBe(0);
    expect(() => modeOf(kubeconfig)).toThrow(/ENOENT/);
    expect(await clientNodeProbe(copy)).toEqual({ ok: false, out: JSON.stringify({ error: 401 }) });
    job.assertNoSecret(token, [run]);
  });

  it('a format the lease cannot take is refused and the lease revoked at once', async () => {
    const job = ciJob();
    const secretsBefore = env.kube.secrets.size;
    const run = await asGitlab(job, mint(), ['--role', 'deploy-k8s', '--format', 'credential-process']);
    expect(run.code).toBe(2);
    expect(run.stdout).toBe('');
    expect(run.stderr).toMatch(
      /^jitkey credentials: role 'deploy-k8s' issues kubernetes credentials; credential-process is AWS's format: use --format export\nLease lease_\S+ was issued for role 'deploy-k8s'; it was revoked at once\.\n$/,
    );
    expect(env.kube.secrets.size).toBe(secretsBefore);
  });
});

describe('what a job is told when it fails', () => {
  it.each([
    {
      name: 'a denial names the failed condition and what to change (exit 1)',
      token: () => mint({ ref: 'refs/heads/dev' }),
      args: ['--role', 'deploy'],
      code: 1,
      want: [
        /^Exchange for role 'deploy' failed \(403 access_denied, request_id req_\S+\):\n {2}role 'deploy' denied: /,
        /ref was 'refs\/heads\/dev'/,
        /Compare the token's claims with the role's allow rules/,
      ],
    },
    {
      name: 'a token for another audience says which issuer and audience it named (exit 1)',
      token: () => mint({ aud: 'not-jitkey' }),
      args: ['--role', 'deploy'],
      code: 1,
      want: [
        /failed \(401 invalid_token/,
        /The token has iss "http:\/\/127\.0\.0\.1:\d+", aud "not-jitkey"\./,
      ],
    },
    {
      name: 'an unknown role (exit 1)',
      token: () => mint(),
      args: ['--role', 'nope'],
      code: 1,
      want: [/failed \(400 invalid_request/, /Check --role against the roles/],
    },
  ])('$name', async ({ token, args, code, want }) => {
    const job = ciJob();
    const t = token();
    const run = await asGitlab(job, t, args);
    expect(run.code).toBe(code);
    expect(run.stdout).toBe('');
    for (const pattern of want) expect(run.stderr).toMatch(pattern);
    job.assertNoSecret(t, [run]);
  });

  it.each([
    { name: 'bin/jitkey.js credentials', bundle: false },
    { name: 'the single-file bundle', bundle: true },
  ])(
    '$name revoke refuses a lease file another user could have left, deleting nothing it names',
    async ({ bundle }) => {
      const job = ciJob({ bundle });
      const victim = job.path('keep-me');
      writeFileSync(victim, 'x');
      const planted = job.path('lease');
      const lease = { url: 'http://127.0.0.1:9', lease_id: 'lease_x', revoke_token: 'r', files: [victim] };
      writeFileSync(planted, JSON.stringify(lease), { mode: 0o644 });
      const run = await job.client(['revoke', '--lease-file', planted]);
      expect([run.code, run.stderr]).toEqual([
        2,
        `jitkey credentials: --lease-file ${planted} is not a lease file jitkey credentials wrote for this user (it writes them 0600, its own, in a directory of its own); nothing was revoked or deleted\n`,
      ]);
      expect(readFileSync(victim, 'utf8')).toBe('x');
      expect(readFileSync(planted, 'utf8')).toContain('lease_x');
      // This user's own lease file of another job, reached through a link someone left, or in a
      // directory others may write: refused too.
      const other = ciJob({ bundle });
      writeFileSync(other.path('lease'), JSON.stringify(lease), { mode: 0o600 });
      const link = job.path('link');
      symlinkSync(other.path('lease'), link);
      chmodSync(other.dir, 0o777);
      for (const path of [link, other.path('lease')]) {
        const refused = await job.client(['revoke', '--lease-file', path]);
        expect([refused.code, refused.stderr]).toEqual([
          2,
          `jitkey credentials: --lease-file ${path} is not a lease file jitkey credentials wrote for this user (it writes them 0600, its own, in a directory of its own); nothing was revoked or deleted\n`,
        ]);
      }
      expect(readFileSync(victim, 'utf8')).toBe('x');
    },
  );

  it('a token used twice is refused the second time, saying each exchange needs its own', async () => {
    const job = ciJob();
    const token = mint();
    expect((await asGitlab(job, token, ['--role', 'deploy'])).code).toBe(0);
    const again = await asGitlab(job, token, ['--role', 'deploy']);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(
      /failed \(401 token_replayed.*\n.*\nEach exchange, and each redemption of an approval, needs an unused token/,
    );
  });

  it('an unreachable exchanger is exit 4 (worth retrying)', async () => {
    const job = ciJob();
    const closed = await closedPort();
    const run = await job.client(
      ['--url', `http://127.0.0.1:${closed}`, '--role', 'deploy', '--token-env', 'T'],
      {
        T: mint(),
      },
    );
    expect(run.code).toBe(4);
    expect(run.stderr).toMatch(
      /^Exchange for role 'deploy' failed \(unreachable\):\n {2}cannot reach the exchanger at http:\/\/127\.0\.0\.1:\d+: .*ECONNREFUSED/,
    );
  });

  it('refuses an output inside the checkout before the token is spent (it still works after)', async () => {
    const job = ciJob();
    const checkout = job.path('project');
    mkdirSync(checkout);
    const token = mint();
    const inside = await job.client(
      [
        '--url',
        url,
        '--role',
        'deploy',
        '--token-env',
        'JITKEY_ID_TOKEN',
        '--format',
        'dotenv',
        '--out',
        join(checkout, 'deploy.env'),
      ],
      { JITKEY_ID_TOKEN: token, CI_PROJECT_DIR: checkout },
    );
    expect(inside.code).toBe(2);
    expect(inside.stderr).toContain(
      `--out ${join(checkout, 'deploy.env')} is inside the job's checkout (CI_PROJECT_DIR=${checkout}), from which artifacts and caches are taken`,
    );
    expect((await asGitlab(job, token, ['--role', 'deploy'])).code).toBe(0);
  });

  it('refuses the token itself given as --token-env, without printing it', async () => {
    const job = ciJob();
    const token = mint();
    const run = await job.client(['--url', url, '--role', 'deploy', '--token-env', token]);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('--token-env takes the NAME of the variable that holds the token');
    expect(run.stderr).not.toContain(token);
  });

  it('names an unset token variable and where CIs set it', async () => {
    const run = await ciJob().client(['--url', url, '--role', 'deploy', '--token-env', 'JITKEY_ID_TOKEN']);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain(
      "the variable JITKEY_ID_TOKEN is empty or unset (--token-env JITKEY_ID_TOKEN): GitLab sets it from the job's `id_tokens:`",
    );
  });
});
