/**
 * Section 8: what `refresh: true` costs. The exchanges a job-hour takes (one renewal per ⅔ of a
 * lease, by design, for the policy's default duration and a short one), the renewals the real agent
 * made in a measured window against `jitkey serve` (renewal moved to 5 % of a 60 s lease), and the
 * agent's resident memory after them against an idle `node` process started the same way. On each
 * Node the steps run under: the bench's, and Node 24, which `action.yml` names and which starts
 * the agent on a runner.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { startExchanger } from '../test/support/exchanger-process.js';
import type { OidcIssuer, SigningKey } from '../test/support/oidc-issuer.js';
import { type ActionNode, actionNodes, actionRunner } from '../test/support/runner.js';
import { startTokenEndpoint, type TokenEndpoint } from '../test/support/token-endpoint.js';
import { type Row, row } from './report.js';

const WINDOW_MS = 12_000;
const RENEW_AT = 0.05;
const RSS_GOAL_MB = 40;

function rssMb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!m) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(m[1]) / 1024;
}

/** The RSS of a `node -e SCRIPT` that stays alive: by default one that does nothing. */
async function idleNodeRssMb(node: string, script = 'setTimeout(() => {}, 60000)'): Promise<number> {
  const child = spawn(node, ['-e', script], { stdio: 'ignore' });
  await new Promise((r) => setTimeout(r, 500));
  try {
    return rssMb(child.pid!);
  } finally {
    child.kill();
  }
}

export async function benchRefresh(ctx: {
  idp: OidcIssuer;
  /** The key the issuer publishes (the bench's own). */
  key: SigningKey;
  policyPath: string;
  env: Record<string, string>;
  log: (line: string) => void;
}): Promise<Row[]> {
  const perHour = (durationSeconds: number) => 3600 / ((durationSeconds * 2) / 3);
  const rows: Row[] = [
    row(8, 'refresh: exchanges per job-hour at duration 15m (default)', perHour(900), '/h', {
      note: 'one renewal when ⅔ of each lease has passed',
    }),
    row(8, 'refresh: exchanges per job-hour at duration 1m (shortest AWS lease)', perHour(60), '/h'),
  ];
  const exchanger = await startExchanger({ policyPath: ctx.policyPath, env: ctx.env });
  const tokens = await startTokenEndpoint({
    token: (aud) =>
      ctx.idp.mint(
        { aud, run_id: `bench-${Date.now()}` },
        { key: ctx.key.privateKey, header: { kid: ctx.key.kid } },
      ),
  });
  try {
    for (const node of actionNodes()) rows.push(...(await agentOn(node, exchanger.url, tokens, ctx.log)));
    return rows;
  } finally {
    await tokens.stop();
    await exchanger.stop();
  }
}

/** The agent started by a main step under `node`: its renewals in the window, then its RSS. */
async function agentOn(
  node: ActionNode,
  exchangerUrl: string,
  tokens: TokenEndpoint,
  log: (line: string) => void,
): Promise<Row[]> {
  const { runMain, runPost } = actionRunner(node.path);
  const main = await runMain({
    inputs: { 'exchanger-url': exchangerUrl, role: 'deploy', duration: '60', refresh: 'true' },
    env: { ...tokens.env, JITKEY_AGENT_RENEW_AT: String(RENEW_AT) },
  });
  if (main.exitCode !== 0) throw new Error(`main step failed under ${node.name} (exit ${main.exitCode})`);
  const pid = Number(main.state.agent_pid);
  const before = tokens.issued.length;
  log(`8 refresh: ${node.name}, agent pid ${pid}, watching ${WINDOW_MS / 1000} s of renewals`);
  await new Promise((r) => setTimeout(r, WINDOW_MS));
  const renewals = tokens.issued.length - before;
  const agent = rssMb(pid);
  const idle = await idleNodeRssMb(node.path);
  // The agent must serve HTTP: node:http alone (net, streams, the parser) is Node's floor for it.
  const httpFloor = await idleNodeRssMb(
    node.path,
    "require('node:http').createServer().listen(0, '127.0.0.1')",
  );
  const post = await runPost(main);
  if (post.exitCode !== 0) throw new Error(`post step failed under ${node.name} (exit ${post.exitCode})`);
  const expected = WINDOW_MS / 1000 / (60 * RENEW_AT);
  return [
    row(
      8,
      `${node.name}: agent renewals in ${WINDOW_MS / 1000} s (every ${60 * RENEW_AT} s by the clock)`,
      renewals,
      '',
      {
        note: `≈${expected.toFixed(1)} expected: each is a full exchange (OIDC token from the runner, STS, audit)`,
      },
    ),
    row(8, `${node.name}: agent resident memory after its renewals`, agent, 'MB', {
      baseline: { label: 'idle node -e', value: idle },
      goal: { text: `≤ ${RSS_GOAL_MB} MB`, met: agent <= RSS_GOAL_MB },
      note: `a node -e that only listens with node:http: ${httpFloor.toFixed(1)} MB (${(agent / httpFloor).toFixed(2)}× of it)`,
    }),
  ];
}
