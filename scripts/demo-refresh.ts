/**
 * The demo's "credentials that end with the job" part: a job with `refresh: true` whose agent
 * renews a 60 s AWS lease (renewal moved to 10 % of the lease so the demo need not wait 40 s), and
 * a `workflow_run completed` webhook that ends the run attempt without any post step: its GitHub
 * token is deleted upstream and the agent's next renewal is refused.
 */
import { signBody } from '../exchanger/github/webhook-signature.js';
import type { ExchangerProcess } from '../test/support/exchanger-process.js';
import type { GithubStandin } from '../test/support/github-standin.js';
import type { ClaimOverrides } from '../test/support/oidc-issuer.js';
import { runMain, runPost, type StepResult } from '../test/support/runner.js';
import type { StsStandin } from '../test/support/sts-standin.js';

export const DEMO_WEBHOOK_SECRET = 'demo-webhook-secret';

export interface RefreshDemo {
  exchanger: ExchangerProcess;
  sts: StsStandin;
  github: GithubStandin;
  tokenEnv: Record<string, string>;
  setClaims: (claims: ClaimOverrides) => void;
  say: (line?: string) => void;
  showStep: (title: string, result: StepResult) => void;
  heading: (title: string) => void;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function refreshRound(demo: RefreshDemo): Promise<void> {
  const { say } = demo;
  demo.heading('3.6 Job: refresh: true — a 60 s AWS lease renewed in the job; then job end by webhook');
  demo.setClaims({
    event_name: 'workflow_dispatch',
    job_workflow_ref: 'acme/workflows/.github/workflows/bump.yml@refs/heads/main',
    run_attempt: '2',
  });
  const env = {
    ...demo.tokenEnv,
    GITHUB_REPOSITORY: 'acme/web',
    GITHUB_RUN_ID: '9876543210',
    GITHUB_RUN_ATTEMPT: '2',
    JITKEY_AGENT_RENEW_AT: '0.1',
  };
  const aws = await runMain({
    inputs: { 'exchanger-url': demo.exchanger.url, role: 'deploy-web-prod', duration: '60', refresh: 'true' },
    env,
  });
  demo.showStep('main step (deploy-web-prod, duration 60, refresh: true)', aws);
  if (aws.exitCode !== 0) return;
  const gh = await runMain({ inputs: { 'exchanger-url': demo.exchanger.url, role: 'bump-deps' }, env });
  demo.showStep('main step (bump-deps, same run attempt)', gh);

  const origin = aws.state.agent_origin!;
  const bearer = aws.env.AWS_CONTAINER_AUTHORIZATION_TOKEN!;
  const status = async () =>
    (await (
      await fetch(`${origin}/v1/agent/status`, { headers: { authorization: `Bearer ${bearer}` } })
    ).json()) as {
      leaseId: string;
      expiresAt: string;
      renewals: number;
      stopped?: string;
    };
  say(`\n  later steps read ${aws.env.AWS_CONTAINER_CREDENTIALS_FULL_URI} (token masked)`);
  say(`  agent: ${JSON.stringify(await status())}`);
  const issued = demo.sts.issued.length;
  for (let i = 0; i < 200 && demo.sts.issued.length === issued; i++) await sleep(50);
  const renewed = await status();
  say(`  at 10 % of the lease (JITKEY_AGENT_RENEW_AT=0.1) the agent renewed: ${JSON.stringify(renewed)}`);
  say(
    `  STS was asked for ${demo.sts.issued.at(-1)!.durationSeconds} s; the session policy denies every action after ${renewed.expiresAt}`,
  );

  say('\n  The job is cancelled: no post step. GitHub sends workflow_run completed to the exchanger:');
  const body = JSON.stringify({
    action: 'completed',
    repository: { id: 123456, full_name: 'acme/web' },
    workflow_run: { id: 9876543210, run_attempt: 2, conclusion: 'cancelled' },
  });
  const hook = await fetch(`${demo.exchanger.url}/v1/github/webhook`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      'x-github-event': 'workflow_run',
      'x-hub-signature-256': signBody(DEMO_WEBHOOK_SECRET, body),
    },
    body,
  });
  say(`  POST /v1/github/webhook → ${hook.status} ${await hook.text()}`);
  const ghToken = gh.env.GH_TOKEN;
  say(
    `  GitHub token of bump-deps deleted upstream: ${ghToken ? demo.github.revocations.includes(ghToken) : 'n/a'}`,
  );
  let after = await status();
  for (let i = 0; i < 200 && !after.stopped; i++) {
    await sleep(50);
    after = await status();
  }
  say(`  the agent's next renewal: ${after.stopped ?? '(not yet)'}`);
  const post = await runPost(aws, { env });
  demo.showStep('post step (had it run)', post);
}
