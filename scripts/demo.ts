/**
 * `npm run demo`: the whole flow on one machine, with nothing to configure.
 *
 * Starts a GitHub-like OIDC issuer, stand-ins for AWS STS, GCP IAM Credentials and the GitHub
 * API, and `jitkey serve` (SQLite store) on the example policy, then runs the bundled Action
 * (`dist/main/index.js`, `dist/post/index.js`) exactly as the GitHub runner would, for a few
 * jobs, and prints what a workflow author and a platform team would see.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseDocument } from 'yaml';
import { startWebhook } from '../test/approvals/support.js';
import { type ExchangerProcess, runCli, startExchanger } from '../test/support/exchanger-process.js';
import { startGcpStandin } from '../test/support/gcp-standin.js';
import { PROTECTED_ENVIRONMENT, startGithubStandin } from '../test/support/github-standin.js';
import { type ClaimOverrides, startOidcIssuer } from '../test/support/oidc-issuer.js';
import { REPO_ROOT } from '../test/support/paths.js';
import { runMain, runPost, type StepResult } from '../test/support/runner.js';
import { startStsStandin } from '../test/support/sts-standin.js';
import { startTokenEndpoint } from '../test/support/token-endpoint.js';
import { DEMO_WEBHOOK_SECRET, refreshRound } from './demo-refresh.js';

const bold = (s: string) => (process.stdout.isTTY ? `\x1b[1m${s}\x1b[0m` : s);
const dim = (s: string) => (process.stdout.isTTY ? `\x1b[2m${s}\x1b[0m` : s);
const say = (s = '') => process.stdout.write(`${s}\n`);
const heading = (s: string) => say(`\n${bold(`━━ ${s} ${'━'.repeat(Math.max(0, 88 - s.length))}`)}`);
const indent = (s: string, pad = '  │ ') =>
  s
    .trimEnd()
    .split('\n')
    .map((l) => `${pad}${l}`)
    .join('\n');

/** The step log as the runner shows it: masked values as ***, workflow commands rendered. */
function renderLog(result: StepResult): string {
  const masks = result.commands.filter((c) => c.command === 'add-mask').map((c) => c.message);
  const mask = (line: string) => masks.reduce((l, m) => (m ? l.split(m).join('***') : l), line);
  const lines: string[] = [];
  for (const line of result.stdoutLines) {
    const m = /^::([a-z-]+)(?: [^:]*)?::(.*)$/.exec(line);
    if (!m) {
      if (line.trim()) lines.push(mask(line));
      continue;
    }
    const [, command, message] = m;
    const text = mask(message!.replace(/%0A/g, '\n').replace(/%0D/g, '').replace(/%25/g, '%'));
    if (command === 'add-mask' || command === 'debug' || command === 'save-state') continue;
    if (command === 'error') lines.push(`Error: ${text}`);
    else if (command === 'warning') lines.push(`Warning: ${text}`);
    else if (command === 'notice') lines.push(`Notice: ${text}`);
    else if (command === 'group') lines.push(`▸ ${text}`);
    else if (command !== 'endgroup') lines.push(text);
  }
  if (result.stderr.trim()) lines.push(...result.stderr.trim().split('\n').map(mask));
  return lines.join('\n');
}

function showStep(title: string, result: StepResult): void {
  say(`\n  ${bold(title)} ${dim(`(exit code ${result.exitCode})`)}`);
  say(indent(renderLog(result) || '(no output)'));
  const exported = Object.entries(result.env);
  const set = exported.filter(([, v]) => v !== '').map(([k]) => k);
  const cleared = exported.filter(([, v]) => v === '').map(([k]) => k);
  if (set.length) say(`  exported variables (values masked in logs): ${set.join(', ')}`);
  if (cleared.length) say(`  cleared variables: ${cleared.join(', ')}`);
  const outputs = Object.entries(result.outputs);
  if (outputs.length) say(`  outputs: ${outputs.map(([k, v]) => `${k}=${v}`).join('  ')}`);
  if (result.summary.trim()) say(`  job summary:\n${indent(result.summary, '  ┆ ')}`);
}

interface Job {
  title: string;
  role: string;
  claims: ClaimOverrides;
}

async function main(): Promise<void> {
  const started = performance.now();
  const dir = mkdtempSync(join(tmpdir(), 'jitkey-demo-'));
  heading('1. A GitHub-like OIDC issuer, and stand-ins for AWS STS, GCP IAM Credentials and the GitHub API');
  const idp = await startOidcIssuer();
  const sts = await startStsStandin({
    accessKeyId: 'AKIAJITKEYDEMO',
    secretAccessKey: 'demo-exchanger-secret',
  });
  const gcp = await startGcpStandin();
  const gcpKey = await gcp.writeServiceAccountKey({
    email: 'jitkey-exchanger@acme-ci.iam.gserviceaccount.com',
    dir,
  });
  const github = await startGithubStandin({
    installations: [
      {
        owner: 'acme',
        permissions: { contents: 'write', pull_requests: 'write', actions: 'read', members: 'read' },
        repositories: ['web', 'infra', 'db-ops'],
      },
    ],
    environments: { 'acme/web': { production: PROTECTED_ENVIRONMENT } },
    users: { [ALICE_TOKEN]: { login: 'alice', id: 1001 } }, // an approver's own GitHub token
    teams: { 'acme/dba-oncall': ['carol'] },
  });
  const webhook = await startWebhook(); // the db-admin role's approval.notify
  const keyFile = join(dir, 'github-app.pem');
  writeFileSync(keyFile, github.privateKeyPem, { mode: 0o600 });
  say(`  OIDC issuer       ${idp.url}`);
  say(`  STS               ${sts.url}`);
  say(`  IAM Credentials   ${gcp.url}`);
  say(`  GitHub API        ${github.url}`);

  heading('2. The exchanger: jitkey serve on examples/policy.yaml (issuer pointed at the local one)');
  const policy = parseDocument(readFileSync(join(REPO_ROOT, 'examples/policy.yaml'), 'utf8'));
  policy.setIn(['issuers', 0, 'url'], idp.url);
  policy.setIn(['roles', 'db-admin', 'approval', 'notify'], webhook.url);
  const policyPath = join(dir, 'policy.yaml');
  writeFileSync(policyPath, policy.toString());
  const check = await runCli(['check', '--policy', policyPath]);
  say(indent(check.stdout));
  const exchanger: ExchangerProcess = await startExchanger({
    policyPath,
    store: `sqlite:${join(dir, 'jitkey.db')}`,
    env: {
      AWS_ENDPOINT_URL_STS: sts.url,
      AWS_ACCESS_KEY_ID: 'AKIAJITKEYDEMO',
      AWS_SECRET_ACCESS_KEY: 'demo-exchanger-secret',
      AWS_REGION: 'us-east-1',
      GOOGLE_APPLICATION_CREDENTIALS: gcpKey.path,
      JITKEY_GCP_IAM_ENDPOINT: gcp.url,
      JITKEY_GITHUB_APP_ID: github.appId,
      JITKEY_GITHUB_APP_PRIVATE_KEY_FILE: keyFile,
      JITKEY_GITHUB_API_URL: github.url,
      JITKEY_PUBLIC_URL: 'https://jitkey.acme.internal',
      JITKEY_GITHUB_WEBHOOK_SECRET: DEMO_WEBHOOK_SECRET,
    },
  });
  say(`  listening on ${exchanger.url}, store sqlite:${join(dir, 'jitkey.db')}`);

  let claims: ClaimOverrides = {};
  const tokens = await startTokenEndpoint({ token: (audience) => idp.mint({ ...claims, aud: audience }) });
  const jobs: Job[] = [
    {
      title: 'acme/web deploys main to production (push)',
      role: 'deploy-web-prod',
      claims: {},
    },
    {
      title: 'a pull request on acme/web tries the production role',
      role: 'deploy-web-prod',
      claims: {
        ref: 'refs/pull/42/merge',
        event_name: 'pull_request',
        environment: undefined,
        sub: 'repo:acme/web:pull_request',
      },
    },
    {
      title: 'acme/web builds tag v1.4.0 and reads release artifacts from GCP',
      role: 'read-artifacts',
      claims: { ref: 'refs/tags/v1.4.0', ref_type: 'tag', environment: undefined },
    },
    {
      title: 'the shared bump workflow opens pull requests on acme/infra',
      role: 'bump-deps',
      claims: {
        event_name: 'schedule',
        environment: undefined,
        job_workflow_ref: 'acme/workflows/.github/workflows/bump.yml@refs/heads/main',
      },
    },
  ];

  for (const [i, job] of jobs.entries()) {
    heading(`3.${i + 1} Job: ${job.title} — role ${job.role}`);
    claims = job.claims;
    const env = {
      ...tokens.env,
      GITHUB_REPOSITORY: 'acme/web',
      GITHUB_RUN_ID: '9876543210',
      GITHUB_RUN_ATTEMPT: '1',
      GITHUB_WORKFLOW: 'deploy',
      GITHUB_JOB: 'deploy',
    };
    const mainStep = await runMain({ inputs: { 'exchanger-url': exchanger.url, role: job.role }, env });
    showStep('main step', mainStep);
    if (mainStep.exitCode === 0) showStep('post step', await runPost(mainStep, { env }));
  }

  await approvalRound(
    exchanger,
    tokens.env,
    (next) => {
      claims = next;
    },
    webhook,
  );

  await refreshRound({
    exchanger,
    sts,
    github,
    tokenEnv: tokens.env,
    setClaims: (next) => {
      claims = next;
    },
    say,
    showStep,
    heading,
  });

  heading('4. The audit trail: jitkey audit');
  const audit = await runCli(['audit', '--store', exchanger.store]);
  say(indent(audit.stdout || audit.stderr));
  say(
    `\n  upstream: ${sts.issued.length} STS credential(s), ${gcp.issued.length} GCP token(s), ` +
      `${github.issued.length} GitHub token(s) issued; ${github.revocations.length} GitHub token(s) revoked`,
  );

  await exchanger.stop();
  await Promise.all([idp.stop(), sts.stop(), gcp.stop(), github.stop(), tokens.stop(), webhook.stop()]);
  say(`\ndemo finished in ${((performance.now() - started) / 1000).toFixed(1)} s`);
}

const ALICE_TOKEN = 'gho_demo_alice_0000000000000000000000';

/**
 * One approval round: a break-glass job asks for `db-admin` (approval required), the Action waits;
 * alice lists what she may approve and approves it with her own GitHub token; the Action redeems.
 */
async function approvalRound(
  exchanger: ExchangerProcess,
  tokenEnv: Record<string, string>,
  setClaims: (claims: ClaimOverrides) => void,
  webhook: Awaited<ReturnType<typeof startWebhook>>,
): Promise<void> {
  heading('3.5 Job: bob runs the break-glass workflow on acme/db-ops — role db-admin, approval required');
  setClaims({
    repository: 'acme/db-ops',
    repository_id: '223344',
    sub: 'repo:acme/db-ops:ref:refs/heads/main',
    event_name: 'workflow_dispatch',
    environment: undefined,
    actor: 'bob',
    actor_id: '1002',
    run_id: '9876543299',
    workflow: 'break-glass',
    workflow_ref: 'acme/db-ops/.github/workflows/break-glass.yml@refs/heads/main',
    job_workflow_ref: 'acme/db-ops/.github/workflows/break-glass.yml@refs/heads/main',
  });
  const env = {
    ...tokenEnv,
    GITHUB_REPOSITORY: 'acme/db-ops',
    GITHUB_RUN_ID: '9876543299',
    GITHUB_RUN_ATTEMPT: '1',
    GITHUB_WORKFLOW: 'break-glass',
    GITHUB_JOB: 'migrate',
  };
  const waiting = runMain({
    inputs: { 'exchanger-url': exchanger.url, role: 'db-admin', 'approval-timeout': '2m' },
    env,
  });

  const asAlice = { GH_TOKEN: ALICE_TOKEN };
  let listed = await runCli(['requests', '--url', exchanger.url], asAlice);
  while (!/^req_\S+\s+db-admin/m.test(listed.stdout)) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    listed = await runCli(['requests', '--url', exchanger.url], asAlice);
  }
  const id = /^(req_\S+)\s+db-admin/m.exec(listed.stdout)![1]!;
  if (webhook.received.length) {
    say(`
  ${bold('the notify webhook received')} ${dim('(no secrets: no token, no poll token)')}`);
    say(indent(JSON.stringify(webhook.received[0]!.body, null, 2)));
  }
  say(`
  ${bold('alice (an approver): jitkey requests --url …')} ${dim('(GH_TOKEN = her own GitHub token)')}`);
  say(indent(listed.stdout));
  const approve = await runCli(
    ['approve', id, '--url', exchanger.url, '--reason', 'replica failover, ticket OPS-12'],
    asAlice,
  );
  say(`
  ${bold(`alice: jitkey approve ${id} --url … --reason 'replica failover, ticket OPS-12'`)}`);
  say(indent(approve.stdout || approve.stderr));

  const mainStep = await waiting;
  showStep('main step (waited for the approval, then redeemed with a fresh OIDC token)', mainStep);
  if (mainStep.exitCode === 0) showStep('post step', await runPost(mainStep, { env }));
}

main().catch((err: unknown) => {
  process.stderr.write(`demo failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
