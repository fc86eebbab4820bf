/**
 * Section 3, the floor: `jitkey serve --workers 1` with every feature on (the GitHub App, so the
 * environment guard and approvals; a role with `approval` in the policy; the console; the
 * webhook secret, so every lease is sealed for the run's end; metrics; renewals, since every
 * bench token names one run attempt and so reads its first lease) against a minimal exchanger
 * doing only the unavoidable work (`floor.ts`), each driven the same way, alternated twice.
 * The figure is the CPU per exchange of one ÷ the other's.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { githubAppEnv, startGithubStandin } from '../test/support/github-standin.js';
import { policyFor } from '../test/support/stack.js';
import type { HttpContext } from './exchange.js';
import { closedCount } from './jobs.js';
import { type CpuShare, describe, describeCpu, measuredRun, startExchanger, warmUp } from './measure.js';
import { type ServerProcess, startFloor } from './processes.js';
import { type Row, row } from './report.js';
import { tokenRecipe } from './tokens.js';

const WARM = 1000;
const COUNT = 3000;
const CONNECTIONS = 64;
const ROUNDS = 2;

/** A role that needs an approval: approvals are configured, though the bench exchanges `deploy`. */
const APPROVAL_ROLE = `  deploy-approved:
    provider: aws
    aws: { role_arn: "arn:aws:iam::111122223333:role/web-deploy" }
    approval: { approvers: [octocat], required: 1 }
    allow:
      - repository_id: "123456"
`;

export async function benchFloor(ctx: HttpContext): Promise<Row[]> {
  const recipe = tokenRecipe(ctx.idp, ctx.key);
  const job = (url: string, count: number, connections: number) =>
    closedCount(url, recipe, count, connections);
  const measure = async (server: ServerProcess, what: string): Promise<CpuShare> => {
    await warmUp(server, recipe, WARM, `${what} warm-up`);
    return measuredRun(server, what, job(server.url, COUNT, CONNECTIONS));
  };

  const gh = await startGithubStandin({});
  const policyPath = join(ctx.dir, 'policy-every-feature.yaml');
  writeFileSync(policyPath, policyFor(ctx.idp.url, APPROVAL_ROLE));
  const everything = {
    ...githubAppEnv(gh),
    JITKEY_GITHUB_APP_CLIENT_ID: 'Iv23libench',
    JITKEY_GITHUB_APP_CLIENT_SECRET: 'bench-secret',
    JITKEY_PUBLIC_URL: 'http://127.0.0.1:1',
    JITKEY_GITHUB_WEBHOOK_SECRET: 'bench-webhook-secret',
  };
  const floors: CpuShare[] = [];
  const serves: CpuShare[] = [];
  try {
    for (let n = 0; n < ROUNDS; n++) {
      ctx.log(
        `3 the floor: a minimal exchanger, then jitkey serve with every feature on (${n + 1} of ${ROUNDS})`,
      );
      const dir = join(ctx.dir, `floor-${n}`);
      mkdirSync(dir, { recursive: true });
      const floor = await startFloor(dir, ctx.idp.url, ctx.env);
      try {
        floors.push(await measure(floor, 'the floor'));
      } finally {
        await floor.stop();
      }
      const { ex } = await startExchanger(ctx, `every-feature-${n}`, everything, 1, policyPath);
      try {
        serves.push(await measure(ex, 'jitkey serve, every feature on'));
      } finally {
        await ex.stop();
      }
    }
  } finally {
    await gh.stop();
  }
  // The least CPU of each: a neighbour's burst only ever adds (cache misses, migrations).
  const least = (xs: CpuShare[]) => xs.reduce((a, b) => (b.serverMs < a.serverMs ? b : a));
  const floor = least(floors);
  const serve = least(serves);
  const ratio = serve.serverMs / floor.serverMs;
  const ms = (xs: CpuShare[]) => xs.map((x) => x.serverMs.toFixed(3)).join(', ');
  return [
    row(3, 'CPU of jitkey serve per exchange, --workers 1, every feature on', serve.serverMs, 'ms', {
      baseline: { label: 'the floor: a minimal exchanger', value: floor.serverMs },
      goal: { text: '≤ 1.0× the floor', met: ratio <= 1.0 },
      note: `least of ${ROUNDS} alternated runs of ${COUNT} exchanges on ${CONNECTIONS} connections each: jitkey serve ${ms(serves)} ms, the floor ${ms(floors)} ms. The floor (bench/floor.ts): RS256 verify with node:crypto, one claim match, AssumeRole through @aws-sdk/client-sts with a keep-alive agent, the jti, lease and audit row in one group-committed SQLite transaction. jitkey serve: ${describe(serve.result)}; ${describeCpu(serve, 'jitkey serve')}. Floor: ${describe(floor.result)}; ${describeCpu(floor, 'the floor')}`,
    }),
    row(3, 'exchanges/s, --workers 1, every feature on', serve.result.rate, '/s', {
      baseline: { label: 'the floor', value: floor.result.rate },
    }),
  ];
}
