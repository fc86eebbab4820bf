/**
 * The built credentials agent (dist/agent, under Node 20 and Node 24) does not outlive its job
 * when the post step never runs: it carries the job's RUNNER_TRACKING_ID (the runner's orphan
 * clean-up ends every process that does), it exits when the runner process that ran the main step
 * is gone, and it exits at its last lease's end once the exchanger has refused renewal because the
 * run's max_duration is used up. No timing is asserted: each waits for the agent to be gone.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { AgentConfig } from '../../src/agent/config.js';
import { type AgentHandle, launchAgent } from '../../src/agent/launch.js';
import { startTime, watchRunner } from '../../src/agent/lifetime.js';
import type { Lease } from '../../src/shared/api.js';
import { eventually } from '../support/eventually.js';
import { actionNodes, REPO_ROOT } from '../support/runner.js';

const AGENT = join(REPO_ROOT, 'dist/agent/index.js');
const HAS_PROC = existsSync('/proc/self/environ');

const lease = (endsInMs: number): Lease => ({
  leaseId: 'lease_first',
  revokeToken: 'rt',
  role: 'deploy',
  expiresAt: new Date(Date.now() + endsInMs).toISOString(),
  provider: 'aws',
  credentials: { access_key_id: 'AKIA1', secret_access_key: 's', session_token: 't', expiration: '' },
});

function config(exchanger: string, first: Lease, extra: Partial<AgentConfig> = {}): AgentConfig {
  return {
    exchangerUrl: exchanger,
    role: 'deploy',
    audience: 'jitkey',
    retries: 0,
    tokenRequestUrl: new URL('/token', exchanger).href,
    tokenRequestToken: 'runner-token',
    bearer: 'agent-bearer-0123456789abcdefghijklmnopqrstuv',
    lease: first,
    ...extra,
  };
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};
const gone = (pid: number) => eventually(() => (alive(pid) ? undefined : true), `pid ${pid} to exit`, 400);

/** An exchanger that refuses every renewal as the real one does once max_duration is used up. */
let exchanger: Server;
let exchangerUrl = '';
const exchanges: string[] = [];
const children: ChildProcess[] = [];
const agents: AgentHandle[] = [];

afterAll(async () => {
  for (const pid of [...agents.map((a) => a.pid), ...children.map((c) => c.pid)]) {
    try {
      if (pid) process.kill(pid, 'SIGKILL');
    } catch {
      // Already gone.
    }
  }
  await new Promise((r) => exchanger?.close(r));
});

exchanger = createServer((req, res) => {
  req.resume();
  res.setHeader('content-type', 'application/json');
  if (req.url?.startsWith('/token')) {
    res.end(JSON.stringify({ value: 'oidc-token' }));
    return;
  }
  exchanges.push(`${req.method} ${req.url}`);
  res.statusCode = 403;
  res.end(
    JSON.stringify({
      error: 'access_denied',
      message: "role 'deploy': this run attempt has had its max_duration (1m) since its first lease",
    }),
  );
});
const listening = new Promise<void>((resolve) =>
  exchanger.listen(0, '127.0.0.1', () => {
    exchangerUrl = `http://127.0.0.1:${(exchanger.address() as AddressInfo).port}/`;
    resolve();
  }),
);

async function start(
  node: string,
  first: Lease,
  env: Record<string, string> = {},
  extra: Partial<AgentConfig> = {},
) {
  await listening;
  const agent = await launchAgent({ env }, config(exchangerUrl, first, extra), AGENT, node);
  agents.push(agent);
  return agent;
}

describe.each(actionNodes())('the credentials agent under $name ends with its job', ({ path: node }) => {
  it.skipIf(!HAS_PROC)(
    "carries the job's RUNNER_TRACKING_ID and private CA file, and nothing else, in its environment",
    async () => {
      const agent = await start(node, lease(3_600_000), {
        RUNNER_TRACKING_ID: 'github_0f4d1c9e',
        // Relative to the step's directory; the agent runs in another.
        NODE_EXTRA_CA_CERTS: 'ci/acme-ca.pem',
        PATH: '/usr/bin',
        AWS_SECRET_ACCESS_KEY: 'not-for-the-agent',
      });
      expect(readFileSync(`/proc/${agent.pid}/environ`, 'utf8')).toBe(
        `RUNNER_TRACKING_ID=github_0f4d1c9e\0NODE_EXTRA_CA_CERTS=${resolve('ci/acme-ca.pem')}\0`,
      );
    },
  );

  it('exits when the runner process that ran the main step is gone', async () => {
    const runner = spawn('sleep', ['600'], { stdio: 'ignore' });
    children.push(runner);
    const agent = await start(node, lease(3_600_000), {}, { runnerPid: runner.pid! });
    expect(alive(agent.pid)).toBe(true);
    runner.kill('SIGKILL');
    await gone(agent.pid);
  });

  it("exits at its lease's end once the exchanger refuses renewal for max_duration", async () => {
    const before = exchanges.length;
    // Renewal at 2 % of a 5 s lease: refused; nothing is left to serve after the lease's end.
    const agent = await start(node, lease(5_000), {}, { renewAt: 0.02 });
    await gone(agent.pid);
    expect(exchanges.slice(before)).toEqual(['POST /v1/exchange']);
  });
});

describe('watching the runner process', () => {
  // /proc/PID/stat of a process whose command name holds spaces and a parenthesis.
  const stat = (state: string, started: string) =>
    `4242 (Runner.Worker (x) y) ${state} 1 4242 4242 0 -1 4194560 1 0 0 0 0 0 0 0 20 0 12 0 ${started} 1000 10 0`;
  const probe = (live: { kill: boolean; stat?: string }) => ({
    kill: () => {
      if (!live.kill) throw Object.assign(new Error('no such process'), { code: 'ESRCH' });
    },
    stat: () => live.stat,
  });

  it('reads the start time after the command name', () => {
    expect(startTime(stat('S', '98765'))).toBe('98765');
    expect(startTime(undefined)).toBeUndefined();
  });

  it('calls onGone once when the pid is gone, reused by another process, or a zombie', async () => {
    for (const after of [
      { kill: false },
      { kill: true, stat: stat('S', '11111') },
      { kill: true, stat: stat('Z', '98765') },
    ]) {
      const live: { kill: boolean; stat?: string } = { kill: true, stat: stat('S', '98765') };
      const ticks: Array<() => void> = [];
      let cleared = 0;
      let gone = 0;
      watchRunner(4242, () => gone++, {
        intervalMs: 1,
        probe: probe(live),
        setInterval: (fn) => ticks.push(fn),
        clearInterval: () => cleared++,
      });
      ticks[0]!();
      expect(gone).toBe(0);
      Object.assign(live, after);
      ticks[0]!();
      expect([after, gone, cleared]).toEqual([after, 1, 1]);
    }
  });

  it('watches nothing for pid 0 or 1 (a parent outside the PID namespace, or already reparented)', async () => {
    const ticks: unknown[] = [];
    for (const pid of [0, 1, undefined])
      watchRunner(pid, () => {}, { intervalMs: 1, setInterval: (fn) => ticks.push(fn) });
    expect(ticks).toEqual([]);
  });
});
