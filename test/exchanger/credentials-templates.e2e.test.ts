/**
 * The shipped CI glue, run as each CI runs it, against `jitkey serve` and the STS stand-in, with
 * tokens of GitLab's and Buildkite's own shapes (`ci-claims.ts`) from issuers of those kinds:
 * - templates/gitlab/template.yml: its inputs interpolated as GitLab does (`$[[ inputs.x ]]`), the
 *   `.jitkey` job's id_tokens as variables, before_script and the job's script in one shell,
 *   after_script in a shell of its own;
 * - templates/buildkite/: hooks/environment sourced in bash, then the command with what it
 *   exported, then hooks/pre-exit; `buildkite-agent oidc request-token` is a stand-in on PATH.
 * The job's script uses the credentials with the AWS SDK; the end revokes the lease.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { CI_URLS, fourCiPolicy } from '../support/ci-policy.js';
import { runCli } from '../support/exchanger-process.js';
import { BUNDLE, ciJob, fakeBuildkiteAgent } from '../support/jitkey-credentials.js';
import { type OidcIssuer, startOidcIssuer } from '../support/oidc-issuer.js';
import { REPO_ROOT } from '../support/paths.js';
import { type Stack, startStack } from '../support/stack.js';

let stack: Stack;
let gitlab: OidcIssuer;
let buildkite: OidcIssuer;
/**
 * The four-CI policy (`ci-policy.ts`): roles `gitlab-deploy` and `buildkite-deploy` pin the claims
 * `ci-claims.ts` mints. Its second GitLab and CircleCI issuers stay unused (never contacted).
 */
const policy = (github: string) =>
  fourCiPolicy({ ...CI_URLS, github, gitlab: gitlab.url, buildkite: buildkite.url });
beforeAll(async () => {
  gitlab = await startOidcIssuer({ shape: 'gitlab' });
  buildkite = await startOidcIssuer({ shape: 'buildkite' });
  stack = await startStack({ policy });
}, 60_000);
afterAll(async () => {
  await stack?.stop();
  await Promise.all([gitlab?.stop(), buildkite?.stop()]);
});

/** The job's own step: the SDK's default chain, from the environment, asks STS who it is. */
const WHO_AM_I = `
import { STSClient, GetCallerIdentityCommand } from ${JSON.stringify(join(REPO_ROOT, 'node_modules/@aws-sdk/client-sts/dist-cjs/index.js'))};
const sts = new STSClient({});
console.log((await sts.send(new GetCallerIdentityCommand({}))).Arn);
sts.destroy();
`;
const CLIENT = `node ${BUNDLE}`;

/** The audit rows of the lease an `issued …` line names: event, outcome, and the job's own claims. */
async function auditOf(issued: string) {
  const leaseId = /\(lease (lease_\S+)\)/.exec(issued)?.[1];
  expect(leaseId).toBeDefined();
  const out = await runCli(['audit', '--store', stack.exchanger.store, '--json']);
  return out.stdout
    .split('\n')
    .filter(Boolean)
    .map(
      (l) =>
        JSON.parse(l) as {
          event: string;
          outcome: string;
          lease_id?: string;
          claims: Record<string, unknown>;
        },
    )
    .filter((r) => r.lease_id === leaseId);
}

/** A GitLab include: the spec's defaults and the given inputs replace `$[[ inputs.x ]]`, as GitLab does. */
function gitlabJob(inputs: Record<string, string>) {
  const text = readFileSync(join(REPO_ROOT, 'templates/gitlab/template.yml'), 'utf8');
  const [spec, body] = text.split(/^---$/m) as [string, string];
  const declared = (
    parseAllDocuments(spec)[0]!.toJS() as { spec: { inputs: Record<string, { default?: string }> } }
  ).spec.inputs;
  const values = Object.fromEntries(Object.entries(declared).map(([k, v]) => [k, inputs[k] ?? v.default]));
  for (const [k, v] of Object.entries(values)) expect(v, `input ${k} is required`).toBeDefined();
  const interpolated = body.replace(/\$\[\[ inputs\.([\w-]+) \]\]/g, (_, k: string) => values[k] as string);
  return parseAllDocuments(interpolated)[0]!.toJS()['.jitkey'] as {
    id_tokens: Record<string, { aud: string }>;
    variables: Record<string, string>;
    before_script: string[];
    after_script: string[];
  };
}

describe('templates/gitlab/template.yml', () => {
  it("gives the job's script credentials, and its after_script revokes them", async () => {
    const job = ciJob();
    writeFileSync(job.path('who.mjs'), WHO_AM_I);
    const jitkey = gitlabJob({ url: stack.exchanger.url, role: 'gitlab-deploy', client: CLIENT });
    expect(jitkey.id_tokens).toEqual({
      JITKEY_ID_TOKEN: { aud: 'jitkey' },
      JITKEY_REDEEM_ID_TOKEN: { aud: 'jitkey' },
    });
    // The runner: id_tokens and variables in the environment, before_script + script in one shell.
    const tokens = {
      JITKEY_ID_TOKEN: gitlab.mint(),
      JITKEY_REDEEM_ID_TOKEN: gitlab.mint(),
    };
    const env = {
      ...jitkey.variables,
      ...tokens,
      GITLAB_CI: 'true',
      CI_JOB_ID: '424242',
      CI_PROJECT_DIR: job.path('project'),
      TMPDIR: job.dir,
      AWS_ENDPOINT_URL_STS: stack.sts.url,
      NODE_NO_WARNINGS: '1',
    };
    // The script sees neither id token: an unspent one would get it a second lease.
    const unsetCheck =
      // biome-ignore lint/suspicious/noTemplateCurlyInString: a shell's parameter expansion, not a template
      'test -z "${JITKEY_ID_TOKEN:-}${JITKEY_REDEEM_ID_TOKEN:-}" || { echo "id tokens still set" >&2; exit 3; }';
    const script = [...jitkey.before_script, unsetCheck, `node ${job.path('who.mjs')}`].join('\n');
    const main = await job.sh(`set -e\n${script}`, env);
    expect(main.code, main.err).toBe(0);
    expect(main.out.trim()).toMatch(/^arn:aws:sts::111122223333:assumed-role\/ci-deploy\/jitkey-/);
    expect(main.err).toMatch(
      /^jitkey: issued aws credentials for role 'gitlab-deploy' until \S+ \(lease lease_\S+\): AWS_ACCESS_KEY_ID, /,
    );
    const dir = join(job.dir, 'jitkey-424242');
    expect(readFileSync(join(dir, 'env'), 'utf8')).toContain("export AWS_ACCESS_KEY_ID='");

    // after_script is a shell of its own, given the id tokens again: it unsets them first.
    const [unset, ...rest] = jitkey.after_script;
    const after = await job.sh([unset, unsetCheck, ...rest].join('\n'), env);
    expect(after.code, after.err).toBe(0);
    expect(after.err).toMatch(
      /^jitkey: revoked lease lease_\S+ \(role gitlab-deploy\); deleted \S+\/env\.\n$/,
    );
    expect(existsSync(dir)).toBe(false);
    const rows = await auditOf(main.err);
    expect(rows.map((r) => [r.event, r.outcome])).toEqual([
      ['revoke', 'revoked'],
      ['exchange', 'allowed'],
    ]);
    expect(rows[1]!.claims).toMatchObject({ project_path: 'my-group/my-project', pipeline_id: '574' });
    for (const token of Object.values(tokens)) {
      expect(main.out + main.err + after.out + after.err).not.toContain(token);
    }
  });
});

describe('templates/buildkite (plugin sketch)', () => {
  it('the environment hook exports credentials to the command; pre-exit revokes them', async () => {
    const job = ciJob();
    writeFileSync(job.path('who.mjs'), WHO_AM_I);
    const token = buildkite.mint();
    const agent = fakeBuildkiteAgent(job.dir, [token]);
    const hooks = join(REPO_ROOT, 'templates/buildkite/hooks');
    const env = {
      PATH: `${agent.bin}:${process.env.PATH ?? ''}`,
      BUILDKITE: 'true',
      BUILDKITE_JOB_ID: '0184990a-477b-4fa8-9968-496074483cee',
      BUILDKITE_PLUGIN_JITKEY_URL: stack.exchanger.url,
      BUILDKITE_PLUGIN_JITKEY_ROLE: 'buildkite-deploy',
      BUILDKITE_PLUGIN_JITKEY_CLIENT: CLIENT,
      TMPDIR: job.dir,
      AWS_ENDPOINT_URL_STS: stack.sts.url,
      NODE_NO_WARNINGS: '1',
    };
    // The agent runs the hook and hands the environment it leaves to the command.
    const command = await job.sh(`bash -c '. ${hooks}/environment && node ${job.path('who.mjs')}'`, env);
    expect(command.code, command.err).toBe(0);
    expect(command.out).toContain('--- :key: jitkey: credentials for role buildkite-deploy\n');
    expect(command.out.trim().split('\n').at(-1)).toMatch(
      /^arn:aws:sts::111122223333:assumed-role\/ci-deploy\/jitkey-/,
    );
    expect(readFileSync(agent.log, 'utf8')).toBe(
      'oidc request-token --audience jitkey --claim organization_id,pipeline_id\n',
    );

    const exit = await job.sh(`bash ${hooks}/pre-exit`, env);
    expect(exit.code, exit.err).toBe(0);
    expect(exit.err).toMatch(/^jitkey: revoked lease lease_\S+ \(role buildkite-deploy\); deleted /);
    expect(existsSync(join(job.dir, `jitkey-${env.BUILDKITE_JOB_ID}`))).toBe(false);
    const rows = await auditOf(command.err);
    expect(rows.map((r) => [r.event, r.outcome])).toEqual([
      ['revoke', 'revoked'],
      ['exchange', 'allowed'],
    ]);
    expect(rows[1]!.claims).toMatchObject({ pipeline_slug: 'super-duper-app', build_number: '12' });
    expect(command.out + command.err + exit.out + exit.err).not.toContain(token);
  });
});
